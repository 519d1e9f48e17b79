"""Export (vswin_edu.export): torch.export and ONNX, checked against eager PyTorch.

ONNX files run in onnxruntime on the CPU; the logits must match eager within 1e-4 at two input
sizes (one with a shrunken window and padding), for batch sizes other than the example's.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from vswin_edu.export import export_onnx, export_program, main, parse_input_shape
from vswin_edu.model import video_swin_micro

pytestmark = pytest.mark.slow


def _micro() -> torch.nn.Module:
    torch.manual_seed(0)
    return video_swin_micro(num_classes=5).eval()


def _onnx_logits(path, video: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"video": video.numpy()})
    return logits


@pytest.mark.parametrize(
    "frames_hw",
    # token grids (4, 8, 8) and (3, 10, 6): the second shrinks the temporal window to 3 and pads H and W
    [(8, 32, 32), (6, 40, 24)],
    ids=["regular", "padded"],
)
def test_onnx_logits_match_eager_for_any_batch(tmp_path, frames_hw):
    model = _micro()
    path = export_onnx(model, torch.randn(1, 3, *frames_hw), tmp_path / "micro.onnx")
    for batch in (1, 3):
        video = torch.randn(batch, 3, *frames_hw)
        with torch.no_grad():
            eager = model(video).numpy()
        got = _onnx_logits(path, video)
        assert got.shape == (batch, 5)
        np.testing.assert_allclose(got, eager, atol=1e-4, rtol=0)


def test_exported_program_matches_eager_and_leaves_eager_caches_intact():
    model = _micro()
    video = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        before = model(video)
    model.train()
    program = export_program(model, torch.randn(1, 3, 8, 32, 32))
    assert model.training and not model.config.fast  # the caller's mode and route, as they were
    assert not any(block.fast for stage in model.stages for block in stage.blocks)
    model.eval()
    with torch.no_grad():
        after = model(video)  # the fast route's caches hold real tensors, not traced ones
        exported = program.module()(video)
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    torch.testing.assert_close(exported, before, rtol=0, atol=1e-5)


def test_cli_writes_an_onnx_file_onnxruntime_runs(tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    assert main([str(out), "--model", "micro", "--num-classes", "7", "--input", "1x3x8x32x32"]) == 0
    said = capsys.readouterr()
    assert "random weights" in said.err and "any batch size" in said.out
    assert _onnx_logits(out, torch.randn(4, 3, 8, 32, 32)).shape == (4, 7)


def test_cli_and_shapes_are_checked_before_any_work(tmp_path, capsys):
    assert main([str(tmp_path / "x.onnx"), "--input", "1x3x16x224"]) == 2
    assert "--input must be BxCxTxHxW" in capsys.readouterr().err
    assert parse_input_shape("2X3x16x224x224") == (2, 3, 16, 224, 224)
    with pytest.raises(ValueError, match="example must be a video"):
        export_program(_micro(), torch.randn(3, 8, 32, 32))


def test_the_export_head_merge_is_the_same_projection(monkeypatch):
    from vswin_edu.attention import WindowAttention3D
    from vswin_edu.fast import project_heads

    torch.manual_seed(1)
    attn = WindowAttention3D(dim=48, window_size=(2, 4, 4), num_heads=3).eval()
    heads = torch.randn(5, 3, 32, 16)  # (b, nH, N, d)
    eager = project_heads(attn, heads)
    torch.testing.assert_close(eager, attn.project(heads), rtol=0, atol=0)
    monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)
    torch.testing.assert_close(project_heads(attn, heads), eager, rtol=0, atol=1e-5)
