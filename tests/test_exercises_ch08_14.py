"""Checkers of chapters 8-13: the intended diagnosis for known-wrong answers.

(That every reference solution passes and every stub is "not attempted": test_exercises_core.py.)"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vswin_edu.data import average_scores, multi_view_indices
from vswin_edu.exercises import check
from vswin_edu.exercises.ch08 import reference_conv_weight, reference_stage_shapes
from vswin_edu.relpos import relative_position_index, window_coords
from vswin_edu.train import lr_factor
from vswin_edu.windows import effective_window

# ----- 8.1 patch merging by hand --------------------------------------------------------------


def _merge(x, order=((0, 0), (1, 0), (0, 1), (1, 1)), pad=True, interleave=False):
    H, W = x.shape[2], x.shape[3]
    if pad:
        x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
    parts = [x[:, :, dh::2, dw::2] for dh, dw in order]
    return torch.stack(parts, -1).flatten(-2) if interleave else torch.cat(parts, -1)


def test_8_1_raster_order_is_diagnosed(diagnosis):
    text = diagnosis("8.1", lambda x: _merge(x, order=((0, 0), (0, 1), (1, 0), (1, 1))))
    assert "(dh, dw) = [(0, 0), (0, 1), (1, 0), (1, 1)]" in text and "x1 is the odd *row*" in text


def test_8_1_interleaved_channels_are_diagnosed(diagnosis):
    assert "interleaved" in diagnosis("8.1", lambda x: _merge(x, interleave=True))


def test_8_1_missing_padding_is_diagnosed(diagnosis):
    assert "zero-pad the grid" in diagnosis("8.1", lambda x: _merge(x, pad=False))


def test_8_1_merging_time_is_diagnosed(diagnosis):
    assert "merged time as well" in diagnosis("8.1", lambda x: _merge(x)[:, ::2])


# ----- 8.2 the equivalent convolution ---------------------------------------------------------


def test_8_2_swapped_kernel_axes_are_diagnosed(diagnosis):
    text = diagnosis("8.2", lambda w: reference_conv_weight(w).transpose(-1, -2))
    assert "dh and dw are swapped" in text and "First wrong entry" in text


def test_8_2_blocks_and_channels_mixed_are_diagnosed(diagnosis):
    text = diagnosis("8.2", lambda w: w.reshape(w.shape[0], w.shape[1] // 4, 1, 2, 2))
    assert "view the weight as (2C, 4, C)" in text


def test_8_2_wrong_shape_is_diagnosed(diagnosis):
    assert "(2C, C, 1, 2, 2)" in diagnosis("8.2", lambda w: w.reshape(w.shape[0], -1, 2, 2))


# ----- 8.3 stage shapes -------------------------------------------------------------------------


def test_8_3_merging_time_is_diagnosed(diagnosis):
    def halves_time(T, H, W, C=96):
        return [(d // 2**i, h, w, c) for i, (d, h, w, c) in enumerate(reference_stage_shapes(T, H, W, C))]

    assert "time is never merged" in diagnosis("8.3", halves_time)


def test_8_3_rounding_down_is_diagnosed(diagnosis):
    def floors(T, H, W, C=96):
        D, h, w = T // 2, H // 4, W // 4
        shapes = [(D, h, w, C)]
        for _ in range(3):
            h, w, C = h // 2, w // 2, 2 * C
            shapes.append((D, h, w, C))
        return shapes

    assert "round up" in diagnosis("8.3", floors)


def test_8_3_rounding_down_after_merging_is_diagnosed(diagnosis):
    def floors_later(T, H, W, C=96):
        shapes = reference_stage_shapes(T, H, W, C)
        D, h, w, c = shapes[0]
        out = [shapes[0]]
        for _ in range(3):
            h, w, c = h // 2, w // 2, 2 * c
            out.append((D, h, w, c))
        return out

    assert "padded before merging" in diagnosis("8.3", floors_later)


# ----- 9.1 the forward pass -------------------------------------------------------------------


def _stages(model, video):
    x = model.patch_embed(video)
    for stage in model.stages:
        x = stage(x)
    return x


@pytest.mark.parametrize(
    "wrong, expected",
    [
        (lambda m, v: m.head(_stages(m, v).mean(dim=(1, 2, 3))), "forgot the final LayerNorm"),
        (lambda m, v: m.head(m.norm(_stages(m, v).mean(dim=(1, 2, 3)))), "pooled first and normalised after"),
        (lambda m, v: m.norm(_stages(m, v)).mean(dim=(1, 2, 3)), "without the classifier"),
        (lambda m, v: m.head(m.norm(_stages(m, v)).mean(dim=(2, 3))), "average over *all* tokens"),
    ],
)
def test_9_1_known_slips_are_diagnosed(wrong, expected, diagnosis):
    assert expected in diagnosis("9.1", wrong)


# ----- 9.2 effective window ---------------------------------------------------------------------


def test_9_2_strict_less_than_is_diagnosed(diagnosis):
    def strict(dhw, window, shift):
        win = tuple(min(n, w) for n, w in zip(dhw, window, strict=True))
        return win, tuple(0 if n < w else s for n, w, s in zip(dhw, window, shift, strict=True))

    text = diagnosis("9.2", strict)
    assert "compare with <=, not <" in text and "dhw=(16, 7, 7)" in text


def test_9_2_shift_not_dropped_is_diagnosed(diagnosis):
    assert "shift must drop to 0" in diagnosis("9.2", lambda d, w, s: (effective_window(d, w, s)[0], s))


def test_9_2_window_not_clamped_is_diagnosed(diagnosis):
    assert "window must shrink" in diagnosis("9.2", lambda d, w, s: (w, effective_window(d, w, s)[1]))


# ----- 9.3 shrunken-window index ----------------------------------------------------------------


def test_9_3_upstream_slice_is_diagnosed(diagnosis):
    def upstream(window, table_window):
        n = len(window_coords(window))
        return relative_position_index(table_window)[:n, :n]

    text = diagnosis("9.3", upstream)
    assert "upstream [:N, :N] slice" in text and "(8, 4, 4)" in text


def test_9_3_small_table_is_diagnosed(diagnosis):
    assert "full window's offsets and strides" in diagnosis("9.3", lambda w, t: relative_position_index(w))


# ----- 10.1 learning-rate schedule --------------------------------------------------------------


def _after_warmup(fn):
    return lambda s, w, t: lr_factor(s, w, t) if s < w else fn(s, w, t)


@pytest.mark.parametrize(
    "wrong, expected",
    [
        (lambda s, w, t: s / w if s < w else lr_factor(s, w, t), "warm-up starts at 0"),
        (
            _after_warmup(lambda s, w, t: 0.5 * (1 + math.cos(math.pi * min(1, s / t)))),
            "start after the warm-up",
        ),
        (_after_warmup(lambda s, w, t: math.cos(math.pi * min(1, (s - w) / max(1, t - w)))), "half cosine"),
        (_after_warmup(lambda s, w, t: 0.5 * (1 + math.cos(math.pi * (s - w) / max(1, t - w)))), "clamp"),
    ],
)
def test_10_1_known_slips_are_diagnosed(wrong, expected, diagnosis):
    assert expected in diagnosis("11.1", wrong)


# ----- 10.2 label smoothing ---------------------------------------------------------------------


def test_10_2_smoothing_over_other_classes_is_diagnosed(diagnosis):
    def other_classes(logits, labels, eps):
        K = logits.shape[-1]
        target = torch.full_like(logits, eps / (K - 1))
        target[torch.arange(len(labels)), labels] = 1 - eps
        return -(target * logits.log_softmax(-1)).sum(-1).mean()

    assert "K-1 *other* classes" in diagnosis("11.2", other_classes)


def test_10_2_sum_over_batch_is_diagnosed(diagnosis):
    wrong = lambda l, y, e: F.cross_entropy(l, y, label_smoothing=e, reduction="sum")  # noqa: E731
    assert "summed over the batch" in diagnosis("11.2", wrong)


def test_10_2_unreduced_loss_is_diagnosed(diagnosis):
    wrong = lambda l, y, e: F.cross_entropy(l, y, label_smoothing=e, reduction="none")  # noqa: E731
    assert "one scalar loss" in diagnosis("11.2", wrong)


# ----- 11.1 view averaging ----------------------------------------------------------------------


def test_11_1_reference_matches_data_module():
    assert check("12.1", lambda logits: average_scores(logits, "softmax"), verbose=False).ok


def test_11_1_logit_averaging_is_diagnosed(diagnosis):
    assert "you averaged logits" in diagnosis("12.1", lambda logits: logits.mean(0))


def test_11_1_softmax_over_views_is_diagnosed(diagnosis):
    assert "ran over the views" in diagnosis("12.1", lambda logits: logits.softmax(0).mean(0))


def test_11_1_wrong_axis_is_diagnosed(diagnosis):
    assert "average over the views" in diagnosis("12.1", lambda logits: logits.softmax(-1).mean(-1))


# ----- 11.2 clip starts -------------------------------------------------------------------------


def test_11_2_reference_matches_data_module():
    starts = lambda n, c, l, s: multi_view_indices(n, c, l, s)[:, 0].tolist()  # noqa: E731
    assert check("12.2", starts, verbose=False).ok


def test_11_2_spreading_over_the_whole_video_is_diagnosed(diagnosis):
    wrong = lambda n, c, l, s: [math.floor((k + 0.5) * n / c) for k in range(c)]  # noqa: E731
    assert "runs past the end" in diagnosis("12.2", wrong)


def test_11_2_clips_at_the_very_ends_are_diagnosed(diagnosis):
    def ends(n, c, l, s):
        slack = max(n - ((l - 1) * s + 1), 0)
        return [round(k * slack / (c - 1)) if c > 1 else 0 for k in range(c)]

    assert "very ends" in diagnosis("12.2", ends)


# ----- 12.1-12.3 inflating and renaming checkpoints -------------------------------------------


def test_inflate_patch_mistakes(diagnosis):
    assert "no division by pt" in diagnosis("13.1", lambda w, pt: w.unsqueeze(2).repeat(1, 1, pt, 1, 1))
    assert "time axis is last" in diagnosis("13.1", lambda w, pt: w.unsqueeze(-1).repeat(1, 1, 1, 1, pt) / pt)

    def centre(w, pt):
        out = torch.zeros(*w.shape[:2], pt, *w.shape[2:])
        out[:, :, pt // 2] = w
        return out

    assert "centre" in diagnosis("13.1", centre)
    assert "Expected shape (4, 3, 2, 4, 4)" in diagnosis("13.1", lambda w, pt: w)


def test_official_key_mistakes(diagnosis, solution):
    ref = solution("13.2")
    assert "return None" in diagnosis("13.2", lambda k: ref(k) or k)
    assert "prefix" in diagnosis("13.2", lambda k: ref(k) and "backbone." + ref(k))
    no_relpos = lambda k: ref(k) and ref(k).replace("relpos.", "")  # noqa: E731
    assert "attn.relpos" in diagnosis("13.2", no_relpos)
    assert "norm3" in diagnosis("13.2", lambda k: ref(k) and ref(k).replace("norm.bias", "norm3.bias"))

    def torchvision_numbering(key):
        out = ref(key)
        if out and out.startswith("stages."):
            i = int(out.split(".")[1])
            out = out.replace(f"stages.{i}.", f"stages.{2 * i}.", 1)
        return out

    assert "torchvision's numbering" in diagnosis("13.2", torchvision_numbering)


def test_inflate_table_mistakes(diagnosis):
    assert "repeat_interleave" in diagnosis("13.3", lambda t, P: t.repeat_interleave(2 * P - 1, 0))
    assert "2P-1 = 3" in diagnosis("13.3", lambda t, P: t.repeat(P, 1))
    assert "divided by 2P-1" in diagnosis("13.3", lambda t, P: t.repeat(2 * P - 1, 1) / (2 * P - 1))
    assert "First wrong pair" in diagnosis(
        "13.3", lambda t, P: torch.zeros((2 * P - 1) * t.shape[0], t.shape[1])
    )
