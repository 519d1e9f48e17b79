"""Issue 17: ``--finetune CKPT`` on a folder of real videos, and ``--tensorboard DIR``.

A micro model pre-trained for one step on three synthetic classes is fine-tuned on two classes of
small mpeg4 files: new head, backbone at 0.1x the head's learning rate, frozen stages unchanged,
exact resume; every checkpoint layout ``vswin_edu.convert`` reads; errors that name the flag.
"""

from __future__ import annotations

import sys

import pytest
import torch

from vswin_edu.convert import to_official, to_torchvision
from vswin_edu.data import MovingShapes, write_video_folder
from vswin_edu.train import TrainConfig, build_model, evaluate, fit, load_checkpoint
from vswin_edu.train import loop as train_loop
from vswin_edu.train.__main__ import main
from vswin_edu.train.config import ResumeConfigError, check_resume_config
from vswin_edu.train.finetune import load_pretrained, read_pretrained
from vswin_edu.train.metrics import TENSORBOARD_TAGS

# Clips of 8 frames of 32x32 -> 4x8x8 tokens for the micro model (two stages, window 4x4x4).
SIZES = ["--frames", "8", "--stride", "1", "--device", "cpu", "--no-progress"]
PRETRAIN = [*SIZES, "--size", "32", "--classes", "left,right,up", "--steps", "1", "--batch-size", "3"]
PRETRAIN += ["--train-samples", "3", "--val-samples", "3"]
FROZEN = ("patch_embed.", "stages.0.")  # --freeze-stages 1


@pytest.fixture(scope="module")
def video_root(tmp_path_factory):
    """``train/`` with two classes of two videos each, ``val/`` with one each: 8 frames of 32x32."""
    root = tmp_path_factory.mktemp("videos")
    shapes = MovingShapes(6, frames=8, size=32, classes=("down", "grow"), noise=0.0, standardize=False)
    write_video_folder(shapes, root / "train", range(4))
    write_video_folder(shapes, root / "val", range(4, 6))
    return root


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """``last.pt`` of a micro model trained one step on three synthetic classes."""
    out = tmp_path_factory.mktemp("pretrained")
    main([*PRETRAIN, "--out-dir", str(out)])
    return out / "last.pt"


def finetune_flags(video_root, pretrained, *more: str) -> list[str]:
    folder = ["--dataset", "folder", "--data-root", str(video_root), "--batch-size", "2", "--steps", "2"]
    return [*SIZES, *folder, "--finetune", str(pretrained), "--freeze-stages", "1", *more]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, video_root, pretrained):
    """``last.pt`` after two fine-tuning steps on the two video classes (one stage frozen)."""
    out = tmp_path_factory.mktemp("finetuned")
    with pytest.warns(UserWarning, match="its head has 3 classes, --num-classes is 2: the checkpoint's head"):
        main(finetune_flags(video_root, pretrained, "--out-dir", str(out)))
    return out / "last.pt"


def test_finetune_replaces_the_head_and_freezes_the_first_stage(pretrained, finetuned):
    before, after = load_checkpoint(pretrained)["model"], load_checkpoint(finetuned)
    assert before["head.weight"].shape[0] == 3 and after["model"]["head.weight"].shape[0] == 2
    assert after["config"]["num_classes"] == 2  # the number of class folders
    for key, value in after["model"].items():
        if key.startswith(FROZEN):  # frozen: exactly the pre-trained weights after two steps
            assert torch.equal(value, before[key]), key
    moved = [
        k
        for k in after["model"]
        if k.startswith("stages.1.") and not torch.equal(after["model"][k], before[k])
    ]
    assert moved  # the stage after the frozen one did train


def test_the_backbone_learns_at_a_tenth_of_the_heads_rate(finetuned):
    state = load_checkpoint(finetuned)
    groups = {(g["name"], g["weight_decay"]): g for g in state["optimizer"]["param_groups"]}
    assert set(groups) == {("backbone", 0.05), ("backbone", 0.0), ("head", 0.05), ("head", 0.0)}
    head, backbone = groups["head", 0.05], groups["backbone", 0.05]
    assert head["lr_ratio"] == 1.0 and backbone["lr_ratio"] == 0.1
    assert backbone["initial_lr"] == pytest.approx(0.1 * head["initial_lr"]) and head["initial_lr"] == 2e-3
    assert backbone["lr"] == pytest.approx(0.1 * head["lr"])  # the schedule keeps the ratio
    model = build_model(TrainConfig.from_dict(state["config"]))
    trainable = [n for n, _ in model.named_parameters() if not n.startswith(FROZEN)]
    assert sum(len(g["params"]) for g in groups.values()) == len(trainable)  # frozen: in no group


def test_a_finetuning_run_resumes_exactly(tmp_path, video_root, pretrained, finetuned):
    flags = finetune_flags(video_root, pretrained, "--out-dir", str(tmp_path))
    with pytest.warns(UserWarning, match="head is dropped"):
        main([*flags, "--stop-at", "1"])
    main([*flags, "--resume", str(tmp_path / "last.pt")])  # the pre-trained file is not read again
    resumed, straight = load_checkpoint(tmp_path / "last.pt")["model"], load_checkpoint(finetuned)["model"]
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)
    saved = load_checkpoint(tmp_path / "last.pt")["config"]
    with pytest.raises(ResumeConfigError, match="--freeze-stages 0 disagrees .* pass --freeze-stages 1"):
        check_resume_config(saved, TrainConfig(num_classes=2), "last.pt")
    with pytest.raises(ResumeConfigError, match=rf"backbone at 0.1x .*: pass --finetune {pretrained} to"):
        check_resume_config({**saved, "freeze_stages": 0}, TrainConfig(num_classes=2), "last.pt")


def test_frozen_stages_stay_in_eval_mode_while_the_rest_trains(pretrained):
    config = TrainConfig(num_classes=2, batch_size=2, steps=1, device="cpu", progress=False)
    config = TrainConfig.from_dict({**config.to_dict(), "finetune": str(pretrained), "freeze_stages": 1})
    data = MovingShapes(2, frames=8, size=32, classes=("left", "right"))
    with pytest.warns(UserWarning, match="head is dropped"):
        run = train_loop._Run(config, data, None, 2, 0, 1, torch.device("cpu"), read_pretrained(pretrained))
    evaluate(run.model, torch.utils.data.DataLoader(data, batch_size=2))  # switches every module back
    run.train_step(run.epoch_batches(0, 0))
    model = run.model
    assert not model.patch_embed.training and not model.stages[0].training  # no drop-path in them
    assert model.stages[1].training and model.head.training
    assert not any(p.requires_grad for p in model.stages[0].parameters())
    assert all(p.requires_grad for p in model.stages[1].parameters())


@pytest.mark.parametrize("layout", ["vswin_edu", "torchvision", "official"])
def test_finetune_reads_every_checkpoint_layout(tmp_path, pretrained, layout):
    weights = load_checkpoint(pretrained)["model"]
    convert = {"vswin_edu": dict, "torchvision": to_torchvision, "official": to_official}[layout]
    window = {} if layout == "vswin_edu" else {"window_size": (4, 4, 4)}  # the micro preset's
    torch.save(convert(weights, **window), tmp_path / "weights.pt")
    model = build_model(TrainConfig(num_classes=3))  # the same classes: the head is kept
    load_pretrained(model, read_pretrained(tmp_path / "weights.pt"), "weights.pt")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())


def cli_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    assert info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_finetune_flags_fail_clearly_before_training(capsys, tmp_path, video_root, pretrained):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00 not a checkpoint")
    err = cli_error(capsys, *finetune_flags(video_root, garbage))
    assert "finetune (--finetune)" in err and "not a PyTorch checkpoint" in err
    err = cli_error(capsys, *finetune_flags(video_root, pretrained, "--window-size", "2", "4", "4"))
    assert f"finetune (--finetune) {pretrained} does not fit --model" in err and "relative_position" in err
    err = cli_error(capsys, *SIZES, "--freeze-stages", "1")
    assert "freeze_stages (--freeze-stages) freezes pre-trained stages: it needs --finetune CKPT" in err
    err = cli_error(capsys, *finetune_flags(video_root, pretrained, "--num-classes", "3"))
    assert f"--num-classes is 3 but --data-root {video_root}/train has 2 class folders" in err


def test_tensorboard_event_files_hold_the_logged_rows(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = TrainConfig(num_classes=2, batch_size=4, steps=2, eval_every=1, device="cpu", progress=False)
    config = TrainConfig.from_dict({**config.to_dict(), "tensorboard": str(tmp_path / "tb")})
    data = MovingShapes(8, frames=4, size=16, classes=("left", "right"))
    history = fit(config, data, MovingShapes(4, frames=4, size=16, classes=("left", "right"), seed=1))
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == set(TENSORBOARD_TAGS.values())
    for key, tag in TENSORBOARD_TAGS.items():
        logged = [(e.step, e.value) for e in events.Scalars(tag)]
        assert logged == [(r["step"], pytest.approx(r[key])) for r in history.rows], tag
    assert all(r["clips_per_s"] > 0 for r in history.rows)


def test_tensorboard_without_the_package_says_how_to_install_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if it were not installed
    flags = [*SIZES, "--size", "16", "--frames", "4", "--steps", "1", "--batch-size", "2"]
    flags += ["--train-samples", "2", "--val-samples", "2", "--tensorboard", str(tmp_path)]
    err = cli_error(capsys, *flags)
    assert "tensorboard (--tensorboard) needs the tensorboard package: pip install tensorboard" in err
