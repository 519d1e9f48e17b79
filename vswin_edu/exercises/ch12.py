"""Chapter 12 exercises: multi-view testing.

11.1  ``average_views(logits)``: average the class *probabilities* of all views of a video
      (:func:`vswin_edu.data.average_scores` with ``mode="softmax"``, the official test pipeline).
11.2  ``clip_starts(num_frames, num_clips, clip_len, stride)``: the first frame of each of the
      uniformly spread test clips (:func:`vswin_edu.data.multi_view_indices`).
"""

from __future__ import annotations

import math

import torch

from ..data import average_scores, multi_view_indices
from ._core import TODO, Mismatch, exercise


@exercise(
    "12.1",
    "Average the scores of all views (softmax, then mean)",
    hints=[
        "logits is (V, K): one row of class scores per view. Turn every row into probabilities first "
        "(softmax over the classes, dim=-1).",
        "Then average over the views (dim 0, or dim=-2 so a batch (B, V, K) works too): "
        "logits.softmax(-1).mean(-2).",
    ],
    solution=("def average_views(logits):\n    return logits.softmax(dim=-1).mean(dim=-2)  # (V, K) -> (K,)"),
)
def _check_average_views(average_views) -> list[str]:
    # view 0 is over-confident and wrong; the other views are mildly right: the two averages disagree
    logits = torch.tensor(
        [[12.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 2.0, 0.0], [0.0, 2.0, 0.5]], dtype=torch.float64
    )  # (V=4, K=3)
    expected = average_scores(logits, "softmax")
    got = average_views(logits.clone())
    if got is TODO:
        raise Mismatch("Your function still returns TODO — fill it in, or try hint('12.1').")
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"Expected a tensor of K=3 class scores, got {type(got).__name__}.")
    case = "Tested 4 views x 3 classes where view 0 is over-confident (logit 12) in class 0"
    if tuple(got.shape) != (3,):
        cause = "average over the views (dim -2), not the classes." if got.numel() == 4 else ""
        raise Mismatch(f"{case}: expected shape (3,), got {tuple(got.shape)}. {cause}".strip())
    if torch.allclose(got.double(), expected, atol=1e-6):
        return [
            f"Averaged probabilities {[round(v, 3) for v in expected.tolist()]}: class 1 wins, "
            "although averaging logits would pick the over-confident view's class 0."
        ]
    if torch.allclose(got.double(), logits.softmax(dim=0).mean(dim=0), atol=1e-6):
        cause = "the softmax ran over the views (dim 0); it must run over the classes (dim=-1) of each view."
    elif torch.allclose(got.double(), logits.mean(0), atol=1e-6) or got.argmax() == 0:
        cause = (
            "you averaged logits (or something logit-like): one over-confident view dominates. "
            "Take the softmax of every view first, then average the probabilities."
        )
    elif not math.isclose(float(got.double().sum()), 1.0, abs_tol=1e-6):
        cause = "the averaged probabilities must sum to 1: softmax over the classes (dim=-1) of each view."
    else:
        cause = "softmax over the classes (dim=-1) of each view, then mean over the views."
    raise Mismatch(
        f"{case}: expected {[round(v, 4) for v in expected.tolist()]}, got "
        f"{[round(v, 4) for v in got.double().tolist()]}.\nLikely cause: {cause}"
    )


@exercise(
    "12.2",
    "Start frames of uniformly spread test clips",
    hints=[
        "A clip of clip_len frames at stride s spans (clip_len - 1) * s + 1 frames; the slack is what is "
        "left of the video, max(num_frames - span, 0). Starts must lie in [0, slack] or the clip runs "
        "past the end.",
        "Spread the clips evenly: clip k starts at floor((k + 1/2) * slack / num_clips) — the centre of "
        "the k-th of num_clips equal pieces (so a single clip is the centre clip).",
    ],
    solution=(
        "def clip_starts(num_frames, num_clips, clip_len, stride):\n"
        "    slack = max(num_frames - ((clip_len - 1) * stride + 1), 0)\n"
        "    return [math.floor((k + 0.5) * slack / num_clips) for k in range(num_clips)]"
    ),
)
def _check_clip_starts(clip_starts) -> list[str]:
    for num_frames, num_clips, clip_len, stride in ((300, 4, 32, 2), (100, 1, 32, 2), (40, 3, 32, 2)):
        expected = multi_view_indices(num_frames, num_clips, clip_len, stride)[:, 0].tolist()
        got = clip_starts(num_frames, num_clips, clip_len, stride)
        if got is TODO:
            raise Mismatch("Your function still returns TODO — fill it in, or try hint('12.2').")
        try:
            got = [int(v) for v in got]
        except (TypeError, ValueError):
            raise Mismatch(f"Expected a list of {num_clips} ints, got {got!r}.") from None
        if got == expected:
            continue
        case = (
            f"Tested a {num_frames}-frame video, {num_clips} clip(s) of {clip_len} frames at stride {stride} "
            f"(span {(clip_len - 1) * stride + 1})"
        )
        slack = max(num_frames - ((clip_len - 1) * stride + 1), 0)
        if len(got) != num_clips:
            cause = f"return one start per clip ({num_clips})."
        elif max(got) > slack:
            cause = (
                f"a clip starting at {max(got)} runs past the end: spread the starts over the slack "
                f"({slack} frames), not over the whole video."
            )
        elif num_clips > 1 and got == [round(k * slack / (num_clips - 1)) for k in range(num_clips)]:
            cause = "you put the first and last clip at the very ends; use the centres (k + 1/2) * slack / n."
        else:
            cause = "clip k starts at floor((k + 1/2) * slack / num_clips)."
        raise Mismatch(f"{case}: expected starts {expected}, got {got}.\nLikely cause: {cause}")
    return ["Same starts as vswin_edu.data.multi_view_indices (4 clips, 1 centre clip, a short video)."]
