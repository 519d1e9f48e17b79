"""Tests of vswin_edu.train: schedule, config, fit to high accuracy, exact resume, checkpoints, DDP, CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from vswin_edu.data import MovingShapes
from vswin_edu.train import (
    CheckpointError,
    TrainConfig,
    build_model,
    evaluate_multi_view,
    fit,
    load_checkpoint,
    lr_factor,
    save_checkpoint,
)
from vswin_edu.train.optim import param_groups
from vswin_edu.viz.training import plot_learning_curves

# Tiny clips: 4 frames of 16x16 -> 2x4x4 tokens, one window per stage; a step takes milliseconds.
TINY = TrainConfig(
    num_classes=2, batch_size=4, steps=6, lr=1e-3, warmup_steps=2, device="cpu", progress=False
)


def tiny_data(n: int = 16, seed: int = 0) -> MovingShapes:
    return MovingShapes(n, frames=4, size=16, classes=("left", "right"), seed=seed)


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if atol == 0.0:
            assert torch.equal(a[key], b[key]), f"{key} differs"
        else:
            torch.testing.assert_close(a[key], b[key], atol=atol, rtol=0, msg=f"{key} differs")


def test_lr_schedule_warms_up_linearly_then_decays_as_a_cosine():
    warmup, total = 4, 14
    factors = [lr_factor(s, warmup, total) for s in range(total + 1)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0 and factors[9] == pytest.approx(0.5) and factors[14] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(factors[4:], factors[5:], strict=False))  # monotone decay
    assert lr_factor(14, warmup, total, min_ratio=0.1) == pytest.approx(0.1)
    assert lr_factor(0, 0, 10) == 1.0  # no warm-up: start at the peak


def test_weight_decay_skips_norms_biases_and_bias_tables():
    model = build_model(TINY)
    decay, no_decay = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    skipped = {names[id(p)] for p in no_decay["params"]}
    assert any(n.endswith("relative_position_bias_table") for n in skipped)
    assert all(
        not n.endswith("relative_position_bias_table") for n in map(names.get, map(id, decay["params"]))
    )
    assert all(p.dim() >= 2 for p in decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_config_validates_and_round_trips():
    assert TrainConfig.from_dict(TINY.to_dict()) == TINY
    assert TrainConfig.from_dict({**TINY.to_dict(), "window_size": [2, 4, 4]}).window_size == (2, 4, 4)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp="fp8")
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"learning_rate": 1.0})
    with pytest.raises(ValueError, match="multiple of processes x grad_accum"):
        fit(replace(TINY, batch_size=5, grad_accum=2), tiny_data())
    with pytest.raises(ValueError, match="fewer than one global batch"):
        fit(replace(TINY, batch_size=32), tiny_data())


@pytest.mark.slow
def test_micro_model_learns_left_versus_right():
    """The temporal-order pair: equal frame averages, so only a video model can reach 95%."""
    classes = ("left", "right")
    train = MovingShapes(320, frames=8, size=16, classes=classes, seed=0)
    val = MovingShapes(64, frames=8, size=16, classes=classes, seed=1)
    config = TrainConfig(
        num_classes=2, epochs=8, batch_size=16, lr=1e-3, warmup_steps=5, device="cpu", progress=False
    )
    history = fit(config, train, val)
    assert history.final["step"] == 160
    assert history.final["val_acc"] >= 0.95, history.rows
    assert history.rows[0]["val_acc"] < 0.9  # it did have to learn
    assert not history.model.training


def test_fit_logs_metrics_whose_rows_plot_as_curves(tmp_path):
    config = replace(TINY, steps=4, eval_every=2, out_dir=str(tmp_path))
    history = fit(config, tiny_data(), tiny_data(8, seed=1))
    assert [r["step"] for r in history.rows] == [2, 4]
    assert set(history.rows[0]) >= {"step", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc"}
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("step,epoch,lr,train_loss,train_acc,val_loss,val_acc") and len(lines) == 3
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["rows"] == history.rows and saved["config"]["steps"] == 4
    assert not (tmp_path / "curves.png").exists()  # the loop never draws; the CLI saves curves.png
    assert history.checkpoint == tmp_path / "last.pt" and load_checkpoint(history.checkpoint)["step"] == 4
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind
    fig = plot_learning_curves(history.rows)
    assert len(fig.axes) == 2


def test_exact_resume_gives_bit_identical_weights(tmp_path):
    """Stop at step 3 (mid-epoch: 4 steps per epoch), resume, reach step 6: same weights, bit for bit."""
    config = replace(TINY, drop_path=0.3)  # drop-path exercises the RNG state
    data = tiny_data()
    straight = fit(config, data).model.state_dict()

    stopped = fit(replace(config, stop_at=3, out_dir=str(tmp_path)), data)
    assert stopped.final["step"] == 3 and load_checkpoint(tmp_path / "last.pt")["step"] == 3
    resumed = fit(replace(config, resume=str(tmp_path / "last.pt"), out_dir=str(tmp_path)), data)
    assert [r["step"] for r in resumed.rows] == [3, 4, 6]
    assert_same_weights(resumed.model.state_dict(), straight)
    # ...and the resumption really continued: a fresh 3-step run would differ
    assert not torch.equal(stopped.model.state_dict()["head.weight"], straight["head.weight"])


# Different summation orders give gradients equal up to float rounding.  Adam divides by sqrt(v),
# so parameters whose true gradient is zero (the key bias: softmax ignores a constant per query)
# move by up to lr per step in the direction of that rounding noise; hence not 1e-6.
SAME_MATH_ATOL = 5e-4


def test_resuming_with_a_changed_config_warns(tmp_path):
    fit(replace(TINY, steps=2, out_dir=str(tmp_path)), tiny_data())
    with pytest.warns(UserWarning, match=r"changed config.*'lr': \(0.001, 0.002\)"):
        fit(replace(TINY, steps=2, lr=2e-3, resume=str(tmp_path / "last.pt")), tiny_data())


def test_gradient_accumulation_matches_one_big_batch():
    data = tiny_data()
    one = fit(TINY, data).model
    accumulated = fit(replace(TINY, grad_accum=2), data).model
    assert_same_weights(one.state_dict(), accumulated.state_dict(), atol=SAME_MATH_ATOL)
    video = torch.stack([data[i][0] for i in range(4)])
    torch.testing.assert_close(one(video), accumulated(video), atol=1e-4, rtol=0)


def test_activation_checkpointing_changes_memory_not_results():
    data = tiny_data()
    plain = fit(TINY, data).model.state_dict()
    recomputed = fit(replace(TINY, checkpoint_activations=True), data).model.state_dict()
    assert_same_weights(plain, recomputed, atol=1e-6)


def test_corrupted_checkpoint_is_named_and_nothing_is_overwritten(tmp_path):
    fit(replace(TINY, steps=2, out_dir=str(tmp_path)), tiny_data())
    good = tmp_path / "last.pt"
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(CheckpointError, match="truncated.pt.*truncated or corrupted"):
        fit(replace(TINY, resume=str(truncated), out_dir=str(tmp_path)), tiny_data())
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage)
    with pytest.raises(CheckpointError, match="missing.pt does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"model": {}}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match=r"missing \['optimizer'"):
        load_checkpoint(tmp_path / "partial.pt")


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1})
    original = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2})
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # the temp file was removed


def test_checkpoint_loads_with_weights_only_and_holds_rng_states(tmp_path):
    fit(replace(TINY, steps=1, out_dir=str(tmp_path)), tiny_data())
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(state) >= {"model", "optimizer", "scheduler", "scaler", "rng", "step", "epoch", "config"}
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert state["config"] == TrainConfig.from_dict(state["config"]).to_dict()


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_autocast_step_runs(amp):
    """Mixed precision is for GPUs (slow on CPU); here only check that a tiny step runs and learns."""
    history = fit(replace(TINY, steps=2, amp=amp), tiny_data(8))
    assert math.isfinite(history.final["train_loss"])


def test_amp_auto_picks_bf16_only_where_the_device_has_bf16_matrix_units(monkeypatch):
    from vswin_edu.train.device import resolve_amp

    cpu = torch.device("cpu")
    for amx, avx512_bf16, expected in ((True, False, "bf16"), (False, True, "bf16"), (False, False, None)):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        assert resolve_amp("auto", cpu) == expected
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_amp("auto", torch.device("cuda")) == "bf16"
    assert resolve_amp("fp16", cpu) == "fp16" and resolve_amp(None, cpu) is None


def test_evaluate_multi_view_averages_every_view():
    class Recorder(nn.Module):
        """Predicts class 1 for views whose first frame is bright, and records the views' shapes."""

        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(1))
            self.shapes: list[tuple[int, ...]] = []

        def forward(self, video: torch.Tensor) -> torch.Tensor:
            self.shapes.append(tuple(video.shape))
            bright = video[:, :, 0].mean(dim=(1, 2, 3))  # (V,)
            return torch.stack([-bright, bright], dim=-1) * 10  # (V, 2)

    # video 0: every frame bright (label 1); video 1: only the last of 12 frames bright (label 0)
    videos = [torch.ones(3, 12, 8, 12), torch.cat([-torch.ones(3, 11, 8, 12), torch.ones(3, 1, 8, 12)], 1)]
    dataset = list(zip(videos, [1, 0], strict=True))
    model = Recorder()
    result = evaluate_multi_view(model, dataset, num_clips=4, num_crops=3, clip_len=2, stride=1, crop=8)
    assert model.shapes == [(12, 3, 2, 8, 8)] * 2
    assert result == {"acc": 1.0, "view_acc": 1.0, "count": 2}


def test_plot_learning_curves_checks_its_input():
    fig = plot_learning_curves(
        [{"step": 1, "train_loss": 1.0, "val_acc": None}, {"step": 2, "train_loss": 0.5}]
    )
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="empty"):
        plot_learning_curves([])
    with pytest.raises(TypeError, match="step"):
        plot_learning_curves({"step": [1, 2]})


def test_importing_train_pulls_in_no_plotting_or_widgets():
    unwanted = "('matplotlib', 'ipywidgets', 'vswin_edu.viz', 'vswin_edu.widgets')"
    code = f"import sys, vswin_edu.train; print([m for m in {unwanted} if m in sys.modules])"
    out = run_module("-c", code, cwd=Path.cwd())
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_cli_help_documents_every_config_field():
    out = run_module("-m", "vswin_edu.train", "--help", cwd=Path.cwd())
    assert out.returncode == 0
    for name in TrainConfig.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in out.stdout
    for flag in ("--dataset", "--resume", "--steps", "--eval-only"):
        assert flag in out.stdout


def test_cli_has_one_flag_per_config_field_with_its_default():
    """The flags are written out one by one; this holds them to TrainConfig (the one source of defaults)."""
    from vswin_edu.train.__main__ import make_parser

    actions = {a.dest: a for a in make_parser()._actions}
    for name, value in TrainConfig().to_dict().items():
        assert name in actions, f"no flag for TrainConfig.{name}"
        assert actions[name].option_strings[0] == "--" + name.replace("_", "-")
        default = actions[name].default
        assert default == value or (name == "num_classes" and default is None), name  # None: not typed


CLI_DATA = ["--frames", "4", "--size", "16", "--num-classes", "2", "--device", "cpu", "--no-progress"]


@pytest.mark.slow
def test_cli_smoke_run_then_eval_only(tmp_path):
    args = ["-m", "vswin_edu.train", *CLI_DATA, "--steps", "2", "--batch-size", "4", "--train-samples", "8"]
    out = run_module(*args, "--val-samples", "4", "--out-dir", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["step"] == 2
    assert {"last.pt", "metrics.csv", "metrics.json", "curves.png"} <= {p.name for p in tmp_path.iterdir()}
    assert (tmp_path / "curves.png").stat().st_size > 1000  # drawn by the CLI from the run's rows
    args = ["-m", "vswin_edu.train", *CLI_DATA, "--val-samples", "4", "--eval-only"]
    out = run_module(*args, "--resume", str(tmp_path / "last.pt"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["count"] == 4


@pytest.mark.slow
def test_ddp_two_gloo_processes_match_one_process(tmp_path):
    """Same global batch (8 = 2 processes x 4): the weights after 3 steps agree with one process."""
    from vswin_edu.train.__main__ import make_datasets, make_parser

    flags = [*CLI_DATA, "--steps", "3", "--batch-size", "8", "--train-samples", "32", "--val-samples", "8"]
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    out = run_module(*torchrun, "-m", "vswin_edu.train", *flags, "--out-dir", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    two = load_checkpoint(tmp_path / "last.pt")

    args = make_parser().parse_args(flags)
    config = TrainConfig.from_dict({k: getattr(args, k) for k in TrainConfig.__dataclass_fields__})
    one = fit(config, *make_datasets(args))
    assert_same_weights(two["model"], one.model.state_dict(), atol=SAME_MATH_ATOL)
    assert two["history"][-1]["val_acc"] == pytest.approx(one.final["val_acc"])
