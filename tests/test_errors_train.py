"""Issue 15, training side: flags, output folder, checkpoints, resume and the CLI fail clearly and early.

Every flag's error names the flag, the allowed range and the value; nothing trains in the wrong
direction, nothing fails after a whole epoch that could have failed before the first step.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from dataclasses import fields, replace
from pathlib import Path

import pytest
import torch

import vswin_edu
from vswin_edu.data import MovingShapes
from vswin_edu.train import TrainConfig, evaluate, fit, load_checkpoint, resolve_device
from vswin_edu.train import checkpoint as checkpoint_module
from vswin_edu.train import loop as train_loop
from vswin_edu.train.__main__ import main
from vswin_edu.train.checkpoint import OutDirError, prepare_out_dir, remove_stale_temporaries
from vswin_edu.train.config import ResumeConfigError

TINY = TrainConfig(
    num_classes=2, batch_size=4, steps=2, lr=1e-3, warmup_steps=1, device="cpu", progress=False
)
CLI = ["--frames", "4", "--size", "16", "--device", "cpu", "--no-progress", "--batch-size", "4"]
CLI_RUN = [*CLI, "--steps", "1", "--train-samples", "4", "--val-samples", "4"]


def tiny_data(n: int = 8) -> MovingShapes:
    return MovingShapes(n, frames=4, size=16, classes=("left", "right"), seed=0)


def cli_error(capsys, *argv: str) -> str:
    """Run the CLI in this process and return its one-line error (argparse exits with status 2)."""
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


# --- silently wrong: every TrainConfig field is validated ---------------------------------------

BAD_FLAGS = [
    ("model", "swin-t", ValueError, r"model \(--model\) must be one of \['b', 'l', 'micro', 's', 't'\]"),
    ("num_classes", 1, ValueError, r"num_classes \(--num-classes\) must be an int >= 2 .*got 1"),
    ("window_size", (4, 0, 4), ValueError, r"window_size \(--window-size\) must be >= 1 on every axis"),
    ("shift_size", (0, 4, 2), ValueError, r"shift_size \(--shift-size\) must be smaller than the window"),
    ("attention", "full", ValueError, r"attention \(--attention\) must be one of"),
    ("drop_path", 1.0, ValueError, r"drop_path \(--drop-path\) must be a finite number in \[0, 1\), got 1.0"),
    ("finetune", "", TypeError, r"finetune \(--finetune\) must be a path"),
    (
        "backbone_lr_ratio",
        0.0,
        ValueError,
        r"backbone_lr_ratio \(--backbone-lr-ratio\) must be a finite number in \(0, inf\), got 0.0",
    ),
    (
        "freeze_stages",
        3,
        ValueError,
        r"freeze_stages \(--freeze-stages\) must be at most the 2 stages of --model micro, got 3",
    ),
    ("epochs", 0, ValueError, r"epochs \(--epochs\) must be an int >= 1, got 0"),
    ("steps", 0, ValueError, r"steps \(--steps\) must be an int >= 1 \(or leave it out\), got 0"),
    ("batch_size", 2.0, TypeError, r"batch_size \(--batch-size\) must be an int >= 1, got 2.0"),
    ("grad_accum", 0, ValueError, r"grad_accum \(--grad-accum\) must be an int >= 1"),
    ("lr", math.inf, ValueError, r"lr \(--lr\) must be a finite number in \(0, inf\), got inf"),
    ("lr", -1e-3, ValueError, r"lr \(--lr\) must be a finite number in \(0, inf\), got -0.001"),
    ("lr", math.nan, ValueError, r"lr \(--lr\) must be a finite number"),
    (
        "weight_decay",
        -0.05,
        ValueError,
        r"weight_decay \(--weight-decay\) must be a finite number in \[0, inf\)",
    ),
    ("warmup_steps", -1, ValueError, r"warmup_steps \(--warmup-steps\) must be an int >= 0, got -1"),
    (
        "min_lr_ratio",
        -0.1,
        ValueError,
        r"min_lr_ratio \(--min-lr-ratio\) must be a finite number in \[0, 1\]",
    ),
    ("min_lr_ratio", 1.5, ValueError, r"min_lr_ratio \(--min-lr-ratio\) must be a finite number in \[0, 1\]"),
    ("label_smoothing", 1.0, ValueError, r"label_smoothing \(--label-smoothing\) must be .* \[0, 1\)"),
    (
        "max_grad_norm",
        -1.0,
        ValueError,
        r"max_grad_norm \(--max-grad-norm\) must be a finite number in \(0, inf\)",
    ),
    ("max_grad_norm", 0.0, ValueError, r"max_grad_norm \(--max-grad-norm\) .*leave it out: no clipping"),
    ("amp", "fp8", ValueError, r"amp \(--amp\) must be None, 'bf16' or 'fp16'"),
    ("fast", "yes", TypeError, r"fast \(--fast\) must be True or False"),
    ("compile", 1, TypeError, r"compile \(--compile\) must be True or False"),
    ("checkpoint_activations", None, TypeError, r"checkpoint_activations \(--checkpoint-activations\)"),
    ("device", "gpu", ValueError, r"device \(--device\) must be auto, cpu, cuda or cuda:N"),
    ("device", 0, TypeError, r"device \(--device\) must be a str"),
    ("seed", -1, ValueError, r"seed \(--seed\) must be an int >= 0, got -1"),
    ("seed", 2**32, ValueError, r"seed \(--seed\) must be in \[0, 2\*\*32\)"),
    ("num_workers", -2, ValueError, r"num_workers \(--num-workers\) must be an int >= 0"),
    ("eval_every", 0, ValueError, r"eval_every \(--eval-every\) must be an int >= 1"),
    ("checkpoint_every", -5, ValueError, r"checkpoint_every \(--checkpoint-every\) must be an int >= 1"),
    ("out_dir", "", TypeError, r"out_dir \(--out-dir\) must be a path"),
    ("tensorboard", 7, TypeError, r"tensorboard \(--tensorboard\) must be a path"),
    ("resume", 3, TypeError, r"resume \(--resume\) must be a path"),
    ("stop_at", 0, ValueError, r"stop_at \(--stop-at\) must be an int >= 1"),
    ("progress", "no", TypeError, r"progress \(--progress\) must be True or False"),
]


@pytest.mark.parametrize(("name", "value", "error", "match"), BAD_FLAGS)
def test_every_flag_names_itself_its_range_and_the_value(name, value, error, match):
    with pytest.raises(error, match=match):
        TrainConfig(**{name: value})


def test_every_train_config_field_has_a_bad_value_above():
    assert {f.name for f in fields(TrainConfig)} == {name for name, *_ in BAD_FLAGS}


def test_paths_become_strings_and_sizes_tuples():
    config = TrainConfig(out_dir=Path("runs/x"), window_size=[2, 4, 4], shift_size=[0, 2, 2])
    assert config.out_dir == "runs/x" and config.window_size == (2, 4, 4) and config.shift_size == (0, 2, 2)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_a_cuda_device_this_machine_lacks_is_said_before_training():
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"this machine has \d+ CUDA device\(s\)"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(ValueError, match=r"device \(--device\) is 'cuda' but CUDA is not available"):
            resolve_device("cuda")


def test_empty_validation_sets_are_refused_not_scored_zero():
    with pytest.raises(ValueError, match=r"val_set is empty: it would report a validation loss of 0.0"):
        fit(TINY, tiny_data(), tiny_data(0))
    model = train_loop.build_model(TINY)
    with pytest.raises(ValueError, match="the loader yielded no samples"):
        evaluate(model, torch.utils.data.DataLoader(tiny_data(0), batch_size=2), "cpu")


# --- the CLI: one-line errors, --classes implies --num-classes ----------------------------------


def test_cli_flags_are_checked_before_any_work(capsys, tmp_path):
    assert "max_grad_norm (--max-grad-norm) must be" in cli_error(capsys, *CLI_RUN, "--max-grad-norm", "-1")
    assert "--val-samples must be >= 1, got 0" in cli_error(capsys, *CLI, "--val-samples", "0")
    assert "--train-samples must be >= 1, got -4" in cli_error(capsys, *CLI, "--train-samples", "-4")
    assert "--classes lists ['left'] more than once" in cli_error(
        capsys, *CLI, "--classes", "left,right,left"
    )
    assert "--classes has an empty name" in cli_error(capsys, *CLI, "--classes", "left,,right")
    assert "--num-classes is 3 but 2 classes" in cli_error(
        capsys, *CLI, "--classes", "left,right", "--num-classes", "3"
    )
    a_file = tmp_path / "taken"
    a_file.write_text("")
    assert f"--out-dir) {a_file} is a file" in cli_error(capsys, *CLI_RUN, "--out-dir", str(a_file))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01 not a checkpoint")
    assert "is not a PyTorch checkpoint" in cli_error(capsys, *CLI_RUN, "--resume", str(garbage))


def test_cli_classes_imply_num_classes(tmp_path):
    result = main([*CLI_RUN, "--classes", "left,right", "--out-dir", str(tmp_path)])
    assert result["step"] == 1
    assert load_checkpoint(tmp_path / "last.pt")["config"]["num_classes"] == 2


def test_resume_or_eval_with_other_model_flags_names_flag_and_saved_value(capsys, tmp_path):
    main([*CLI_RUN, "--num-classes", "2", "--shift-size", "0", "1", "1", "--out-dir", str(tmp_path)])
    ckpt = str(tmp_path / "last.pt")
    err = cli_error(capsys, *CLI_RUN, "--num-classes", "3", "--resume", ckpt, "--eval-only")
    assert (
        f"--num-classes 3 disagrees with the checkpoint {ckpt}, which was trained with num_classes=2" in err
    )
    assert "pass --num-classes 2" in err
    err = cli_error(capsys, *CLI_RUN, "--classes", "left,right", "--resume", ckpt, "--model", "t")
    assert "--model t disagrees with the checkpoint" in err and "model=micro" in err
    err = cli_error(capsys, *CLI_RUN, "--num-classes", "2", "--resume", ckpt, "--eval-only")
    assert (
        "--shift-size 2 2 2 (the default) disagrees" in err
        and "shift_size=0 1 1: pass --shift-size 0 1 1" in err
    )
    out = main(
        [*CLI_RUN, "--num-classes", "2", "--shift-size", "0", "1", "1", "--resume", ckpt, "--eval-only"]
    )
    assert out["count"] == 4
    with pytest.raises(
        ResumeConfigError, match=r"--window-size 2 4 4 disagrees .* window_size=4 4 4 \(the default\)"
    ):
        fit(replace(TINY, window_size=(2, 4, 4), resume=ckpt), tiny_data())


# --- faults: the output folder ------------------------------------------------------------------


def test_out_dir_problems_are_said_before_the_first_step(tmp_path, monkeypatch):
    steps = []
    monkeypatch.setattr(train_loop._Run, "train_step", lambda self, batches: steps.append(1))
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    with pytest.raises(OutDirError, match=rf"out_dir \(--out-dir\) {a_file} is a file, not a folder"):
        fit(replace(TINY, out_dir=str(a_file)), tiny_data())
    with pytest.raises(OutDirError, match=rf"{a_file / 'run'} cannot be created: {a_file} is a file"):
        fit(replace(TINY, out_dir=str(a_file / "run")), tiny_data())

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as m:  # a read-only folder, as a non-root user sees it
        m.setattr(checkpoint_module.tempfile, "mkstemp", read_only)
        with pytest.raises(OutDirError, match=r"is not writable \(Permission denied\)"):
            fit(replace(TINY, out_dir=str(tmp_path)), tiny_data())
    with monkeypatch.context() as m:  # a read-only parent
        m.setattr(Path, "mkdir", read_only)
        with pytest.raises(
            OutDirError, match=rf"cannot be created \(Permission denied\): is {tmp_path} writable"
        ):
            fit(replace(TINY, out_dir=str(tmp_path / "new")), tiny_data())
    assert steps == []  # nothing trained


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes into read-only folders; simulated in the test above"
)
def test_out_dir_read_only_for_real(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutDirError, match="is not writable"):
            prepare_out_dir(locked)
        with pytest.raises(OutDirError, match=rf"cannot be created .*is {locked} writable"):
            prepare_out_dir(locked / "run")
    finally:
        locked.chmod(0o755)


# --- faults: a save killed mid-write ------------------------------------------------------------

KILLED_SAVE = textwrap.dedent(
    """
    import sys, time, torch
    from vswin_edu.train import checkpoint

    path = sys.argv[1]
    checkpoint.save_checkpoint(path, {"step": 1, "weights": torch.arange(4.0)})

    def slow_save(obj, f, *args, **kwargs):  # half a file on disk, then the process is killed
        f.write(b"PK\\x03\\x04 half of step 2")
        f.flush()
        print("writing", flush=True)
        time.sleep(120)

    torch.save = slow_save
    checkpoint.save_checkpoint(path, {"step": 2})
    """
)


def test_a_save_killed_mid_write_keeps_the_old_checkpoint_and_the_next_run_cleans_up(tmp_path):
    path = tmp_path / "last.pt"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, str(path)], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        child.kill()  # SIGKILL: no except/finally of save_checkpoint runs
        child.wait(timeout=60)
    stale = list(tmp_path.glob(".last.pt.*.tmp"))
    assert len(stale) == 1 and b"half of step 2" in stale[0].read_bytes()
    old = torch.load(path, weights_only=True)
    assert old["step"] == 1 and torch.equal(old["weights"], torch.arange(4.0))  # intact
    (tmp_path / ".metrics.csv.tmp").write_text("step\n")  # the metrics' temporary, also stale
    (tmp_path / ".other.pt.123.tmp").write_text("")  # not this run's: left alone
    fit(replace(TINY, steps=1, out_dir=str(tmp_path)), tiny_data())
    assert sorted(p.name for p in tmp_path.glob(".*.tmp")) == [".other.pt.123.tmp"]
    assert remove_stale_temporaries(path) == []


# --- faults: resume loads on the CPU (CUDA RNG states) ------------------------------------------


def test_resume_loads_the_checkpoint_on_the_cpu(tmp_path, monkeypatch):
    fit(replace(TINY, out_dir=str(tmp_path)), tiny_data())
    locations = []

    def spy(path, map_location="cpu"):
        locations.append(str(map_location))
        return load_checkpoint(path, map_location)

    monkeypatch.setattr(train_loop, "load_checkpoint", spy)
    fit(replace(TINY, resume=str(tmp_path / "last.pt")), tiny_data())
    assert locations == ["cpu"]  # not map_location=device: RNG states must stay CPU tensors


@pytest.mark.filterwarnings("ignore:.*meta parameter")
def test_resume_onto_a_non_cpu_model_moves_weights_and_optimiser_keeps_rng_on_cpu(tmp_path):
    """The model on the ``meta`` device stands in for a GPU: the CPU-loaded checkpoint resumes."""
    fit(replace(TINY, out_dir=str(tmp_path)), tiny_data())
    state = load_checkpoint(tmp_path / "last.pt")
    run = train_loop._Run(TINY, tiny_data(), None, 4, 0, 1, torch.device("meta"))
    torch.manual_seed(123)  # something else than the saved state
    run.resume(state)
    assert {p.device.type for p in run.model.parameters()} == {"meta"}
    moments = [t for s in run.optimizer.state.values() for k, t in s.items() if k != "step"]
    assert moments and {t.device.type for t in moments} == {"meta"}  # moved to the model's device
    assert torch.equal(torch.get_rng_state(), state["rng"]["torch"]) and run.step == 2


# --- silently wrong: vswin_edu.load of a training checkpoint ------------------------------------


def test_load_of_a_training_checkpoint_rebuilds_its_model(tmp_path):
    """Trained with --window-size 2 4 4 --shift-size 0 2 2 (time not shifted): load gives the same logits."""
    data = MovingShapes(8, frames=8, size=16, classes=("left", "right"), seed=0)  # 4x4x4 tokens
    config = replace(TINY, window_size=(2, 4, 4), shift_size=(0, 2, 2), out_dir=str(tmp_path))
    trained = fit(config, data).model.eval()
    video = torch.stack([data[i][0] for i in range(4)])
    want = trained(video)
    loaded = vswin_edu.load(tmp_path / "last.pt").eval()
    assert loaded.config.shift_size == (0, 2, 2)
    torch.testing.assert_close(loaded(video), want, atol=0, rtol=0)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    del state["model_config"]  # a checkpoint of an older version: rebuilt from its training flags
    torch.testing.assert_close(vswin_edu.load(state).eval()(video), want, atol=0, rtol=0)
    # the shapes alone cannot tell the shift: what load() did before, and why it was wrong
    by_shapes = vswin_edu.load(state["model"]).eval()
    assert by_shapes.config.shift_size is None and not torch.allclose(by_shapes(video), want)
