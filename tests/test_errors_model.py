"""Issue 15, model side: every bad config, video, geometry, mask or control value gets a clear error.

Each error names the argument, the allowed range and the value; nothing is silently accepted.
The training side (flags, checkpoints, the CLI) is tests/test_errors_train.py.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vswin_edu.config import PRESETS, VideoSwinConfig
from vswin_edu.convert import read_checkpoint
from vswin_edu.geometry import (
    locate_in_windows,
    original_to_rolled,
    rolled_to_original,
    shifted_window_ids,
    window_token_origins,
)
from vswin_edu.model import VideoSwinTransformer, build, video_swin_micro, video_swin_t
from vswin_edu.patch import PatchEmbed3D
from vswin_edu.reference import as_allowed, mask_mismatches, mask_value_problem, resolve_mask
from vswin_edu.shift import cyclic_shift, region_ids, reverse_cyclic_shift, shifted_window_mask
from vswin_edu.windows import effective_window

GRID = ((4, 8, 8), (2, 4, 4), (1, 2, 2))  # padded grid, window, shift of the mask tests


# --- silently wrong: configs and builders ------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "error", "match"),
    [
        ({"depths": (2, 0)}, ValueError, r"depths must be >= 1 on every stage .*got \(2, 0\)"),
        ({"depths": ()}, TypeError, r"depths must be a non-empty sequence"),
        ({"num_classes": 0}, ValueError, r"num_classes must be an int >= 1, got 0"),
        ({"num_classes": -3}, ValueError, r"num_classes must be an int >= 1, got -3"),
        ({"num_classes": 2.5}, TypeError, r"num_classes must be an int, got 2.5"),
        ({"drop_path_rate": 1.0}, ValueError, r"drop_path_rate must be in \[0, 1\), got 1.0"),
        ({"drop_path_rate": -0.1}, ValueError, r"drop_path_rate must be in \[0, 1\), got -0.1"),
        ({"drop_rate": math.nan}, ValueError, r"drop_rate must be in \[0, 1\), got nan"),
        ({"attn_drop_rate": 1.5}, ValueError, r"attn_drop_rate must be in \[0, 1\)"),
        ({"head_dropout": 1.0}, ValueError, r"head_dropout must be in \[0, 1\)"),
        ({"mlp_ratio": 0}, ValueError, r"mlp_ratio must be > 0 .*got 0"),
        ({"mlp_ratio": -4.0}, ValueError, r"mlp_ratio must be > 0 .*got -4.0"),
        ({"mlp_ratio": math.inf}, ValueError, r"mlp_ratio must be > 0 .*got inf"),
        ({"mlp_ratio": "4"}, TypeError, r"mlp_ratio must be a number"),
        ({"embed_dim": 0}, ValueError, r"embed_dim must be an int >= 1, got 0"),
        ({"in_chans": True}, TypeError, r"in_chans must be an int, got True"),
        ({"num_heads": (3, 5)}, ValueError, r"num_heads\[1\] \(5\) must divide stage 2's channels .* = 96"),
        ({"num_heads": (3,)}, ValueError, r"depths and num_heads must have one entry per stage"),
        ({"window_size": (4, 0, 4)}, ValueError, r"window_size must be positive on every axis"),
        ({"window_size": (4, 4)}, ValueError, r"window_size must have 3 entries"),
        ({"patch_size": (2, 4, 4.0)}, TypeError, r"patch_size must hold ints"),
        ({"shift_size": (2, 4, 2)}, ValueError, r"shift_size must be smaller than window_size.*axis H"),
        ({"shift_size": (-1, 2, 2)}, ValueError, r"shift_size must be non-negative on every axis"),
        ({"attention": "global"}, ValueError, r"attention must be one of \('joint', 'factorised'\)"),
        ({"checkpoint_stages": (True,)}, ValueError, r"checkpoint_stages must have one bool per stage \(2\)"),
        ({"checkpoint_stages": (1, 0)}, TypeError, r"checkpoint_stages must hold bools"),
        ({"qkv_bias": "yes"}, TypeError, r"qkv_bias must be True or False"),
        ({"fast": 1}, TypeError, r"fast must be True or False"),
    ],
)
def test_every_config_field_is_validated_on_every_path(override, error, match):
    """The same error from the dataclass, ``build``, the builders and the class itself."""
    with pytest.raises(error, match=match):
        VideoSwinConfig(**{**asdict(PRESETS["micro"]), **override})
    with pytest.raises(error, match=match):
        build("micro", **override)
    with pytest.raises(error, match=match):
        VideoSwinTransformer(**{**asdict(PRESETS["micro"]), **override})
    if "num_classes" not in override:
        with pytest.raises(error, match=match):
            video_swin_micro(**override)


def test_unknown_fields_are_named_with_the_known_ones():
    with pytest.raises(TypeError, match=r"unknown VideoSwinConfig field\(s\) \['window'\]; the fields are"):
        build("micro", window=4)
    with pytest.raises(TypeError, match=r"unknown VideoSwinConfig field\(s\) \['shift'\]"):
        VideoSwinTransformer(shift=(0, 2, 2))


def test_builders_accept_window_size_as_an_int_like_the_class():
    with torch.device("meta"):
        assert video_swin_micro(window_size=2).config.window_size == (2, 2, 2)
        assert video_swin_t(window_size=7).config.window_size == (7, 7, 7)
        assert build("micro", window_size=2).config.window_size == (2, 2, 2)
        assert VideoSwinTransformer(window_size=7).config.window_size == (7, 7, 7)
        assert VideoSwinConfig(window_size=[8, 7, 7], depths=[2, 2, 6, 2]).depths == (2, 2, 6, 2)


# --- property test: random valid configs build, random invalid ones name their field -----------

_VALID = st.fixed_dictionaries(
    {
        "embed_dim": st.sampled_from([8, 12, 16]),
        "depths": st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple),
        "window_size": st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
        "patch_size": st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 4)),
        "mlp_ratio": st.floats(0.25, 8.0),
        "drop_path_rate": st.floats(0.0, 0.99),
        "drop_rate": st.floats(0.0, 0.99),
        "num_classes": st.integers(1, 50),
        "attention": st.sampled_from(["joint", "factorised"]),
        "fast": st.booleans(),
        "shift_frac": st.tuples(*[st.floats(0.0, 0.99)] * 3),
    }
)


def _valid_kwargs(draw: dict) -> dict:
    kw = dict(draw)
    frac = kw.pop("shift_frac")
    kw["num_heads"] = tuple(2 for _ in kw["depths"])  # 2 heads divide 8 * 2^i, 12 * 2^i, 16 * 2^i
    kw["shift_size"] = tuple(int(f * w) for f, w in zip(frac, kw["window_size"], strict=True))
    return kw


# (field, a bad value); every one must be refused with an error that names the field
_INVALID = [
    ("depths", (1, 0)),
    ("depths", (-1,)),
    ("num_classes", 0),
    ("num_classes", -1),
    ("drop_path_rate", 1.0),
    ("drop_path_rate", -0.5),
    ("drop_path_rate", math.inf),
    ("drop_rate", 2.0),
    ("mlp_ratio", 0.0),
    ("mlp_ratio", -1.0),
    ("mlp_ratio", math.nan),
    ("embed_dim", 0),
    ("embed_dim", 8.0),
    ("window_size", (0, 2, 2)),
    ("window_size", (2, 2)),
    ("patch_size", (1, -1, 1)),
    ("shift_size", (9, 0, 0)),
    ("attention", "local"),
    ("num_heads", (0,)),
    ("in_chans", 0),
    ("qkv_bias", None),
]


@settings(max_examples=40, deadline=None)
@given(_VALID)
def test_random_valid_configs_never_raise(draw):
    kw = _valid_kwargs(draw)
    with torch.device("meta"):  # no memory, no init cost: only the validation and the wiring run
        model = VideoSwinTransformer(**kw)
    assert model.config.window_size == kw["window_size"] and model.head.out_features == kw["num_classes"]


@settings(max_examples=60, deadline=None)
@given(_VALID, st.sampled_from(_INVALID))
def test_random_invalid_configs_always_raise_naming_the_field(draw, bad):
    kw = _valid_kwargs(draw)
    name, value = bad
    kw[name] = value
    if name == "depths":
        kw["num_heads"] = tuple(2 for _ in value)
    with pytest.raises((ValueError, TypeError)) as info, torch.device("meta"):
        VideoSwinTransformer(**kw)
    assert name in str(info.value)


# --- cryptic errors: the video -----------------------------------------------------------------


@pytest.fixture(scope="module")
def micro():
    return video_swin_micro().eval()


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool])
def test_non_float_videos_say_call_float(micro, dtype):
    video = torch.zeros(1, 3, 16, 32, 32, dtype=dtype)
    with pytest.raises(
        TypeError, match=rf"video must be floating point, got dtype {dtype}: call video.float"
    ):
        micro(video)
    with pytest.raises(TypeError, match="video must be floating point"):
        PatchEmbed3D()(video)


def test_a_float64_video_names_both_dtypes(micro):
    with pytest.raises(
        TypeError, match=r"video has dtype torch.float64 but the model's weights are torch.float32"
    ):
        micro(torch.zeros(1, 3, 16, 32, 32, dtype=torch.float64))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts by itself: no error
        assert micro(torch.zeros(1, 3, 16, 32, 32, dtype=torch.bfloat16)).shape == (1, 8)


@pytest.mark.parametrize("shape", [(1, 3, 0, 32, 32), (1, 3, 16, 0, 32), (2, 3, 16, 32, 0)])
def test_empty_frames_or_pixels_are_refused(micro, shape):
    with pytest.raises(
        ValueError, match=r"at least one frame and one pixel: T, H, W >= 1.*" + str(shape[2:])[1:-1]
    ):
        micro(torch.zeros(shape))


@pytest.mark.parametrize("fast", [False, True])
def test_a_batch_of_zero_clips_gives_empty_logits_like_torchvision(fast):
    model = video_swin_micro(fast=fast).eval()
    assert model(torch.zeros(0, 3, 16, 32, 32)).shape == (0, 8)
    assert model.forward_features(torch.zeros(0, 3, 15, 33, 29)).shape == (0, 8, 5, 4, 96)
    assert model.forward_features(torch.zeros(1, 3, 15, 33, 29)).shape == (1, 8, 5, 4, 96)  # same grid


def test_device_mismatch_names_both_devices(micro):
    with pytest.raises(ValueError, match=r"video is on device meta but the model is on device cpu"):
        micro(torch.zeros(1, 3, 16, 32, 32, device="meta"))


# --- silently wrong: impossible geometry in the concept functions ------------------------------


def test_impossible_geometry_raises():
    with pytest.raises(ValueError, match=r"shift_size must be smaller than window_size"):
        effective_window((8, 8, 8), (4, 4, 4), (4, 2, 2))
    with pytest.raises(
        ValueError, match=r"the padded grid dhw \(4, 6, 8\) must be a multiple of window_size"
    ):
        region_ids((4, 6, 8), (2, 4, 4), (1, 2, 2))  # an unpadded grid
    x = torch.zeros(1, 2, 8, 8, 1)
    with pytest.raises(ValueError, match=r"shift on axis D \(3\) must be smaller than the grid \(2\)"):
        cyclic_shift(x, (3, 0, 0))
    with pytest.raises(ValueError, match=r"shift on axis W \(8\) must be smaller than the grid \(8\)"):
        reverse_cyclic_shift(x, (0, 0, 8))
    assert cyclic_shift(x, (1, 7, 7)).shape == x.shape  # the largest shift that fits
    with pytest.raises(ValueError, match=r"shift must be smaller than the grid \(4, 8, 8\)"):
        rolled_to_original((0, 0, 0), (5, 0, 0), (4, 8, 8))
    with pytest.raises(ValueError, match=r"position \(t, h, w\) must lie in the grid \(4, 8, 8\)"):
        original_to_rolled((4, 0, 0), (1, 2, 2), (4, 8, 8))
    with pytest.raises(ValueError, match=r"position \(t, h, w\) must lie in the grid"):
        rolled_to_original((0, 0), (1, 2, 2), (4, 8, 8))
    with pytest.raises(ValueError, match=r"must be a multiple of window_size"):
        locate_in_windows((0, 0, 0), (2, 4, 4), (4, 6, 8))
    with pytest.raises(ValueError, match=r"shift_size must be smaller than window_size"):
        window_token_origins((4, 8, 8), (2, 4, 4), (2, 2, 2))
    with pytest.raises(ValueError, match=r"shift_size must be smaller than window_size"):
        shifted_window_ids((4, 8, 8), (2, 4, 4), (1, 4, 2))
    with pytest.raises(ValueError, match=r"must be a multiple of window_size"):
        window_token_origins((4, 6, 8), (2, 4, 4), (1, 2, 2))


# --- silently wrong: NaN / inf / -1e9 masks in the mask debugger -------------------------------


def _user_mask(masked: float, extra: float | None = None) -> torch.Tensor:
    mask = shifted_window_mask(*GRID).clone()  # (nW, N, N) 0 / -100
    mask[mask < 0] = masked
    if extra is not None:
        mask[0, 0, 0] = extra
    return mask


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_and_plus_inf_masks_cannot_be_read(bad):
    word = "NaN" if math.isnan(bad) else r"\+inf"
    with pytest.raises(ValueError, match=rf"your mask holds {word}"):
        as_allowed(_user_mask(-100.0, extra=bad))
    with pytest.raises(ValueError, match=rf"your mask holds {word}"):
        resolve_mask(_user_mask(-100.0, extra=bad), *GRID)
    with pytest.raises(ValueError, match=rf"your mask holds {word}"):
        mask_mismatches(_user_mask(-100.0, extra=bad), *GRID)


def test_mask_values_are_flagged_like_the_exercise_checker_flags_them():
    from vswin_edu.exercises import ch05
    from vswin_edu.exercises._core import Mismatch

    for masked, words in [
        (-math.inf, "-inf instead of -100"),
        (-1e9, "-1e+09 instead of -100 — below -65504 it overflows to -inf in fp16"),
        (-1e4, "only 0.0 and -100.0"),
    ]:
        mask = _user_mask(masked)
        assert words in mask_value_problem(mask)
        with pytest.raises(Mismatch) as info:
            ch05._check_mask_values(mask, "grid (4, 8, 8)")
        assert mask_value_problem(mask) in str(info.value)  # the checker says the same words
        assert not mask_mismatches(mask, *GRID)  # the pattern itself is right: only the values are not
    assert mask_value_problem(_user_mask(-100.0)) is None
    assert mask_value_problem(shifted_window_mask(*GRID) == 0) is None  # bool masks are fine here


def test_mask_debugger_flags_odd_values_and_refuses_nan():
    from vswin_edu.widgets import MaskDebugger

    grid = dict(zip(("dhw", "window_size", "shift_size"), GRID, strict=True))
    w = MaskDebugger(_user_mask(-1e9), **grid)
    assert w.state["mismatches"] == 0 and "overflows to -inf in fp16" in w.state["mask_values"]
    assert "your mask&#x27;s values" in w.readout.value or "your mask's values" in w.readout.value
    nan = MaskDebugger(_user_mask(-100.0, extra=math.nan), **grid)  # a fixed tensor: shown, not raised
    assert "your mask holds NaN" in nan.state["diff_error"] and nan.state["mismatches"] is None
    with pytest.raises(ValueError, match="your mask holds NaN"):  # a learner's function: raised
        MaskDebugger(lambda dhw, w, s: _user_mask(-100.0, extra=math.nan), **grid)


# --- cryptic errors: a random file as a checkpoint ---------------------------------------------


def test_random_bytes_are_not_a_pytorch_checkpoint(tmp_path):
    garbage = tmp_path / "weights.pth"
    garbage.write_bytes(bytes(range(7, 250)) * 4)
    with pytest.raises(
        ValueError, match=r"weights.pth' .* not a PyTorch checkpoint at all \(it starts with bytes"
    ):
        read_checkpoint(garbage)
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.pth' .*the file is empty, not a PyTorch checkpoint"):
        read_checkpoint(tmp_path / "empty.pth")
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint") as info:
        read_checkpoint(text)
    assert "weights_only" not in str(info.value)


# --- cryptic errors: widget controls set to values that are not options ------------------------


def test_widget_controls_name_themselves_and_their_allowed_values():
    from vswin_edu.widgets import MaskedSoftmaxLab
    from vswin_edu.widgets._base import ControlValueError

    w = MaskedSoftmaxLab()
    allowed = r"\['float32', 'float16', 'bfloat16'\]"
    with pytest.raises(ControlValueError, match=rf"control 'dtype' must be one of {allowed}, got 'float8'"):
        w.controls["dtype"].value = "float8"  # what a notebook cell or the browser does
    with pytest.raises(ValueError, match=rf"control 'dtype' must be one of {allowed}, got 'fp16'"):
        w.set(dtype="fp16")
    with pytest.raises(ControlValueError, match=r"control 'fully_masked' must be True or False, got 'yes'"):
        w.set(fully_masked="yes")
    with pytest.raises(ControlValueError, match=r"control 'scale' must be a number in \[0.1, 100000\]"):
        w.set(scale="big")
    before = w.values()
    with pytest.raises(ControlValueError):
        w.set(dtype="float16", mask_value=-7.0)  # checked before any control moves
    assert w.values() == before
    w.set(dtype="float16")
    assert w.state["dtype"] == "float16" and w.state["error"] is None


def test_every_field_has_a_check():
    """A new VideoSwinConfig field must get a validation (and a row in the table above)."""
    checked = {
        "patch_size", "embed_dim", "depths", "num_heads", "window_size", "mlp_ratio", "qkv_bias", "drop_rate",
        "attn_drop_rate", "drop_path_rate", "head_dropout", "num_classes", "in_chans", "patch_norm",
        "checkpoint_stages", "shift_size", "attention", "fast",
    }  # fmt: skip
    assert {f.name for f in fields(VideoSwinConfig)} == checked
    with pytest.raises(TypeError, match="patch_norm must be True or False"):
        VideoSwinConfig(patch_norm=None)
