"""Chapter 12: the state-dict browser (convert.browse, viz, widget kernel-side) and the checkers of
exercises 12.1-12.3 (reference solutions pass, stubs are "not attempted", known mistakes diagnosed)."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from vswin_edu import convert, viz
from vswin_edu.exercises import TODO, check, registry
from vswin_edu.model import build
from vswin_edu.widgets import StateDictBrowser


@pytest.fixture(scope="module")
def micro_sd():
    torch.manual_seed(0)
    return build("micro").state_dict()


# --- browse / meanings ------------------------------------------------------------------------


def test_every_key_has_a_meaning_and_a_part(micro_sd):
    rows = convert.browse(micro_sd)
    assert len(rows) == len(micro_sd) and sum(r["params"] for r in rows) == 310_934
    assert all(r["meaning"] for r in rows)
    assert convert.key_part("stages.1.blocks.0.norm1.weight") == ("stage 1", "block 0")
    assert convert.key_part("stages.0.downsample.reduction.weight") == ("stage 0", "downsample")
    assert convert.describe_key("norm.weight").startswith("final LayerNorm")
    with pytest.raises(KeyError, match="not a key"):
        convert.describe_key("pos_embed")


def test_browse_spells_keys_in_other_layouts(micro_sd):
    rows = convert.browse(micro_sd, "stage 1", "block 0", names="official")
    assert rows[0]["key"] == "backbone.layers.1.blocks.0.norm1.weight"
    tv = convert.browse(micro_sd, "stage 0", "downsample", names="torchvision")
    assert [r["key"] for r in tv] == [
        "features.1.norm.weight",
        "features.1.norm.bias",
        "features.1.reduction.weight",
    ]
    with pytest.raises(ValueError, match="names must be one of"):
        convert.browse(micro_sd, names="timm")


def test_parameter_groups_sum_to_the_model(micro_sd):
    groups = convert.parameter_groups(micro_sd)
    assert list(groups) == [
        "patch_embed",
        "stage 0 blocks",
        "stage 0 downsample",
        "stage 1 blocks",
        "norm + head",
    ]
    assert sum(groups.values()) == sum(v.numel() for v in micro_sd.values())
    assert groups["stage 0 downsample"] == 4 * 48 + 4 * 48 + 4 * 48 * 2 * 48  # LN(4C) + Linear(4C, 2C)


# --- viz --------------------------------------------------------------------------------------


def test_plots_return_figures(micro_sd):
    fig = viz.plot_parameter_counts(convert.parameter_groups(micro_sd), highlight="stage 1")
    assert isinstance(fig, Figure)
    bars = fig.axes[0].patches
    assert sum(bar.get_hatch() == "//" for bar in bars) == 1  # only "stage 1 blocks"
    with pytest.raises(ValueError, match="empty"):
        viz.plot_parameter_counts({})
    table_2d = torch.randn(25, 2)
    fig = viz.plot_inflated_table(table_2d, convert.inflate_bias_table(table_2d, (2, 3, 3)), (2, 3, 3))
    assert len(fig.axes) == 1 + 3  # the 2D table and dt = -1, 0, 1


# --- widget -----------------------------------------------------------------------------------


def test_browser_follows_its_controls(micro_sd):
    browser = StateDictBrowser(micro_sd)
    assert browser.state["tensors"] == len(micro_sd) and browser.state["share"] == 1.0
    browser.controls["part"].value = "stage 1"
    assert browser.controls["block"].options == ("all", "block 0", "block 1")
    browser.controls["block"].value = "block 1"
    assert browser.state["tensors"] == 13 and "stage 1 / block 1: 13 tensors" in browser.readout.value
    browser.controls["names"].value = "torchvision"
    assert browser.state["rows"][0]["key"] == "features.2.1.norm1.weight"
    assert "features.2.1.mlp.0.weight" in browser.table.value
    browser.controls["part"].value = "patch_embed"  # block resets: patch_embed has no blocks
    assert browser.controls["block"].value == "all" and browser.state["tensors"] == 4
    assert browser.state["error"] is None and isinstance(browser.figure, Figure)


def test_browser_reads_other_layouts_and_long_tables():
    from torchvision.models.video.swin_transformer import SwinTransformer3d

    tv = SwinTransformer3d(
        patch_size=[2, 4, 4], embed_dim=16, depths=[2, 6], num_heads=[1, 2], window_size=[2, 2, 2]
    )
    browser = StateDictBrowser(tv.state_dict())  # torchvision layout, converted on the way in
    assert browser.controls["part"].options == ("all", "patch_embed", "stage 0", "stage 1", "norm + head")
    assert "more rows" in browser.table.value  # 119 tensors, 40 shown


# --- exercises 12.1-12.3 ----------------------------------------------------------------------


def solution(id: str):
    namespace: dict = {}
    exec(registry()[id].solution, namespace)
    return next(v for k, v in namespace.items() if k.startswith("my_"))


def diagnosis(id: str, answer) -> str:
    report = check(id, answer, verbose=False)
    assert not report.ok
    return str(report)


@pytest.mark.parametrize("id", ["12.1", "12.2", "12.3"])
def test_reference_solution_passes_and_stub_is_not_attempted(id):
    assert check(id, solution(id), verbose=False).ok
    assert not check(id, TODO, verbose=False).attempted

    def stub(*args):
        return TODO

    assert "not attempted" in str(check(id, stub, verbose=False))


def test_inflate_patch_mistakes():
    assert "no division by pt" in diagnosis("12.1", lambda w, pt: w.unsqueeze(2).repeat(1, 1, pt, 1, 1))
    assert "time axis is last" in diagnosis("12.1", lambda w, pt: w.unsqueeze(-1).repeat(1, 1, 1, 1, pt) / pt)

    def centre(w, pt):
        out = torch.zeros(*w.shape[:2], pt, *w.shape[2:])
        out[:, :, pt // 2] = w
        return out

    assert "centre" in diagnosis("12.1", centre)
    assert "Expected shape (4, 3, 2, 4, 4)" in diagnosis("12.1", lambda w, pt: w)


def test_official_key_mistakes():
    ref = solution("12.2")
    assert "return None" in diagnosis("12.2", lambda k: ref(k) or k)
    assert "prefix" in diagnosis("12.2", lambda k: ref(k) and "backbone." + ref(k))
    no_relpos = lambda k: ref(k) and ref(k).replace("relpos.", "")  # noqa: E731
    assert "attn.relpos" in diagnosis("12.2", no_relpos)
    assert "norm3" in diagnosis("12.2", lambda k: ref(k) and ref(k).replace("norm.bias", "norm3.bias"))

    def torchvision_numbering(key):
        out = ref(key)
        if out and out.startswith("stages."):
            i = int(out.split(".")[1])
            out = out.replace(f"stages.{i}.", f"stages.{2 * i}.", 1)
        return out

    assert "torchvision's numbering" in diagnosis("12.2", torchvision_numbering)


def test_inflate_table_mistakes():
    assert "repeat_interleave" in diagnosis("12.3", lambda t, P: t.repeat_interleave(2 * P - 1, 0))
    assert "2P-1 = 3" in diagnosis("12.3", lambda t, P: t.repeat(P, 1))
    assert "divided by 2P-1" in diagnosis("12.3", lambda t, P: t.repeat(2 * P - 1, 1) / (2 * P - 1))
    assert "First wrong pair" in diagnosis(
        "12.3", lambda t, P: torch.zeros((2 * P - 1) * t.shape[0], t.shape[1])
    )
