"""The audit of other implementations (vswin_edu.audit): torchvision's real upstream bug, planted bugs
in an official-layout model (tests/official_swin.py), this library's own model, the CLI, the figure
and the mask debugger opened on a captured mask."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from official_swin import SwinTransformer3D

from vswin_edu.audit import AuditError, Layout, audit
from vswin_edu.audit.__main__ import main
from vswin_edu.model import build

OFFICIAL_INPUT = (1, 3, 8, 40, 40)  # stage grids (4, 10, 10) padded to 12, (4, 5, 5) -> 8, (4, 3, 3) shrunk


@pytest.fixture(scope="module")
def swin3d_t():
    torch.manual_seed(0)
    return torchvision.models.video.swin3d_t()


def official(*bugs: str) -> SwinTransformer3D:
    torch.manual_seed(0)
    return SwinTransformer3D(bugs=bugs)


def test_torchvision_at_112_has_the_upstream_bias_bug_in_stage_4(swin3d_t):
    report = audit(swin3d_t, input_shape=(1, 3, 16, 112, 112))
    assert report.implementation == "torchvision"
    assert [b.label for b in report.wrong] == ["stage 4, block 0", "stage 4, block 1"]
    block, finding = report.first_wrong()
    assert (block.stage, block.index, block.grid, block.geometry.window) == (4, 0, (8, 4, 4), (8, 4, 4))
    assert finding.check == "bias" and "[:N, :N]" in finding.diagnosis
    # window (8, 4, 4): key 4 is (0, 1, 0), but index[:N, :N] reads the full window's key 4, (0, 0, 4)
    assert (finding.query, finding.key) == ((0, 0, 0), (0, 1, 0))
    assert "offset (0, -1, 0)" in finding.expected and "offset (0, 0, -4)" in finding.got
    assert all(b.status("mask") == b.status("shift") == "ok" for b in report.blocks)


def test_torchvision_at_224_is_correct_everywhere(swin3d_t):
    report = audit(swin3d_t, input_shape=(1, 3, 8, 224, 224))
    assert report.ok, str(report)
    assert [b.kind for b in report.blocks[:2]] == ["W-MSA", "SW-MSA"]
    assert report.block("features.0.1").geometry.shift == (0, 3, 3)  # 4 token frames <= P: no time shift


def test_a_correct_official_layout_model_passes():
    report = audit(official(), input_shape=OFFICIAL_INPUT)
    assert report.implementation == "official"
    assert report.ok and not any(b.findings for b in report.blocks), str(report)
    assert report.block((1, 1)).geometry.padded == (4, 12, 12)  # the padded, shifted case is covered
    assert report.block((3, 0)).geometry.window == (2, 3, 3)  # and a shrunken window


@pytest.mark.parametrize(
    "bug, where, check, words",
    [
        ("shift_sign", (1, 1), "shift", "wrong way"),
        ("mask_inverted", (1, 1), "mask", "inverted"),
        ("mask_before_padding", (1, 1), "mask", "unpadded grid (4, 10, 10)"),
        ("index_multipliers", (1, 0), "bias", "strides (7, 7, 1)"),
        ("shift_in_even_blocks", (1, 0), "shift", "regular windows"),
        ("upstream_slice", (3, 0), "bias", "[:N, :N]"),
    ],
)
def test_each_planted_bug_is_named_at_its_first_block(bug, where, check, words):
    report = audit(official(bug), input_shape=OFFICIAL_INPUT)
    block, finding = report.first_wrong()
    assert (block.stage, block.index) == where, str(report)
    assert finding.check == check and words in finding.diagnosis, finding.describe()
    assert finding.query is not None  # the first wrong entry, in video coordinates


def test_wrong_mask_entries_name_tokens_and_regions():
    _, finding = audit(official("mask_before_padding"), input_shape=OFFICIAL_INPUT).first_wrong()
    assert (finding.query, finding.key) == ((1, 2, 6), (1, 2, 8))
    assert finding.expected == "may attend (0)" and finding.got == "masked (-100)"
    assert "regions 0 -> 0" in finding.describe()


def test_a_neg_inf_mask_is_a_warning_not_an_error():
    report = audit(official("mask_neg_inf"), input_shape=OFFICIAL_INPUT)
    assert report.ok
    assert report.block((1, 1)).status() == "warning" and report.block((1, 0)).status() == "ok"
    assert "-inf" in report.block((1, 1)).findings[0].diagnosis


def test_a_home_made_model_is_audited_through_a_layout():
    layout = Layout("mine", block="SwinTransformerBlock3D")  # the protocol's defaults, a class name
    report = audit(official("shift_sign"), input_shape=OFFICIAL_INPUT, implementation=layout)
    assert report.implementation == "mine" and report.first_wrong()[0].label == "stage 1, block 1"
    with pytest.raises(AttributeError, match=r"no attribute 'attn.to_qkv' \(the qkv, Layout.qkv\)"):
        audit(official(), input_shape=OFFICIAL_INPUT, implementation=Layout("x", "SwinTransformerBlock3D",
                                                                            qkv="attn.to_qkv"))  # fmt: skip


def test_this_library_passes_and_is_left_as_it_was():
    model = build("micro", fast=True).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = audit(model, input_shape=(1, 3, 16, 24, 24))  # stage 2: (8, 3, 3), a shrunken window
    assert report.implementation == "vswin_edu" and report.ok, str(report)
    assert report.block((2, 1)).geometry.window == (4, 3, 3)
    assert model.training and all(b.fast for b in model.modules() if hasattr(b, "norm1"))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bad_input_gets_clear_errors():
    with pytest.raises(AuditError, match="random video"):
        audit(official(), torch.zeros(OFFICIAL_INPUT))
    with pytest.raises(ValueError, match=r"video must be a tensor \(B, C, T, H, W\), got \(3, 8, 40, 40\)"):
        audit(official(), torch.randn(OFFICIAL_INPUT[1:]))
    with pytest.raises(ValueError, match="no Video Swin blocks found in Linear.*Layout"):
        audit(torch.nn.Linear(3, 3))
    with pytest.raises(ValueError, match="implementation must be 'auto', one of"):
        audit(official(), implementation="mmaction")


def test_report_serialises_and_the_debugger_opens_on_the_captured_mask():
    report = audit(official("mask_inverted"), input_shape=OFFICIAL_INPUT)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["blocks"][1]["checks"]["mask"] == "wrong"
    assert data["blocks"][1]["findings"][0]["query"] == [1, 2, 2]
    from vswin_edu.widgets import MaskDebugger

    debugger = MaskDebugger.from_audit(report, block="layers.0.blocks.1")
    state = debugger.state
    assert state["diff"] and state["mismatches"] > 0 and state["error"] is None
    assert state["query"] == report.first_wrong()[1].query  # opened at the first wrong entry
    assert state["first_mismatch"] is not None


def test_cli_prints_the_report_and_writes_the_figure(tmp_path, capsys):
    png = tmp_path / "audit.png"
    rc = main(["vswin_edu:micro", "--input", "1x3x16x24x24", "--png", str(png), "--json", "--benchmark"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert rc == 0 and out["ok"] and "every block matches the oracles" in out["summary"]
    assert "plain forward" in captured.err and "x (best of 2)" in captured.err
    assert len(out["blocks"]) == 4 and png.stat().st_size > 10_000
    with pytest.raises(SystemExit):
        main(["torchvision:swin3d_x"])
    assert "MODEL must be torchvision:{swin3d_t" in capsys.readouterr().err


@pytest.mark.parametrize(
    "mistake, where, words",
    [
        ("flipped shift sign", (1, 1), "wrong way"),
        ("inverted mask", (1, 1), "inverted"),
        ("wrong index multipliers", (1, 0), "strides"),
        ("pad after roll", (1, 1), "padded after the cyclic shift"),
        ("wrong merge order", None, ""),  # patch merging is not an attention step: outside the audit
    ],
)
def test_the_capstones_known_mistakes_are_named_too(mistake, where, words):
    from vswin_edu.capstone import KNOWN_WRONG, build_model

    torch.manual_seed(0)
    report = audit(build_model(KNOWN_WRONG[mistake], preset="micro"), input_shape=(1, 3, 16, 40, 40))
    first = report.first_wrong()
    if where is None:
        assert first is None, str(report)
        return
    assert (first[0].stage, first[0].index) == where and words in first[1].diagnosis, str(report)
