"""Chapter 9 exercises: the full forward pass, clamped windows, and the bias of a shrunken window.

9.1  ``my_forward(model, video)``: patch embed -> stages -> norm -> mean over tokens -> head.
9.2  ``my_effective_window(dhw, window, shift)``: the window and shift a block really uses.
9.3  ``shrunken_index(window, table_window)``: the relative-position index of a shrunken window
     into the full window's table (the upstream ``[:N, :N]`` bug, fixed).
"""

from __future__ import annotations

import torch

from ..model import video_swin_micro
from ..relpos import relative_position_index
from ..windows import effective_window
from ._core import TODO, Mismatch, exercise


def _variants(model, video: torch.Tensor) -> dict[str, torch.Tensor]:
    """The right logits and the logits of the usual slips when assembling the forward pass."""
    x = model.patch_embed(video)  # (B, D, H, W, C)
    for stage in model.stages:
        x = stage(x)  # (B, D, H', W', C')
    pooled_raw = x.mean(dim=(1, 2, 3))  # (B, C') without the final norm
    return {
        "right": model.head(model.norm(x).mean(dim=(1, 2, 3))),
        "forgot the final LayerNorm (model.norm) before pooling": model.head(pooled_raw),
        "pooled first and normalised after (norm the tokens, then average)": model.head(
            model.norm(pooled_raw)
        ),
        "returned the pooled features without the classifier (model.head)": model.norm(x).mean(dim=(1, 2, 3)),
    }


@exercise(
    "9.1",
    "Assemble the forward pass from the chapter pieces",
    hints=[
        "The pieces are attributes of the model: model.patch_embed, the list model.stages (each "
        "already ends with its patch merging), model.norm and model.head.",
        "Tokens are channels-last (B, D, H, W, C): normalise them with model.norm, then average "
        "over dims (1, 2, 3) — all tokens — and apply model.head to the (B, C) vector.",
    ],
    solution=(
        "def my_forward(model, video):\n"
        "    x = model.patch_embed(video)          # (B, D, H, W, C)\n"
        "    for stage in model.stages:\n"
        "        x = stage(x)                      # blocks, then patch merging (not after the last)\n"
        "    x = model.norm(x)                     # (B, D, H/8, W/8, 2C) for the micro model\n"
        "    x = x.mean(dim=(1, 2, 3))             # (B, 2C): average over all tokens\n"
        "    return model.head(x)                  # (B, num_classes)"
    ),
)
def _check_forward(my_forward) -> list[str]:
    torch.manual_seed(9)
    model = video_swin_micro(num_classes=5).eval()
    video = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        expected = model(video)
        variants = _variants(model, video)
        got = my_forward(model, video)
    case = f"video_swin_micro(num_classes=5) in eval mode on a video of shape {tuple(video.shape)}"
    if got is TODO:
        raise Mismatch("Your function still returns TODO — fill it in, or try hint('9.1').")
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"Tested {case}: expected a tensor of logits, got {type(got).__name__}.")
    for name, value in variants.items():
        if name != "right" and got.shape == value.shape and torch.allclose(got, value, atol=1e-5):
            raise Mismatch(f"Tested {case}: your output is what you get if you {name}.")
    if tuple(got.shape) != tuple(expected.shape):
        cause = ""
        if got.dim() > 2:
            cause = "\nLikely cause: average over *all* tokens, dims (1, 2, 3) of (B, D, H, W, C)."
        raise Mismatch(
            f"Tested {case}: expected logits of shape {tuple(expected.shape)}, got {tuple(got.shape)}.{cause}"
        )
    if not torch.allclose(got, expected, atol=1e-5):
        diff = (got - expected).abs().max().item()
        raise Mismatch(
            f"Tested {case}: shapes agree but the logits differ by up to {diff:.3g}; "
            f"expected {expected[0, :3].tolist()} ..., got {got[0, :3].tolist()} ...\n"
            "Likely cause: a stage skipped or applied twice, or an extra layer."
        )
    return ["Same logits as VideoSwinTransformer.forward (max diff < 1e-5)."]


_WINDOW_CASES = (
    ((16, 56, 56), (8, 7, 7), (4, 3, 3)),  # stage 1 of Swin-T: nothing clamps
    ((4, 3, 5), (8, 7, 7), (4, 3, 3)),  # everything smaller than the window
    ((16, 7, 7), (8, 7, 7), (4, 3, 3)),  # stage 4: H, W equal the window -> shift 0 there
    ((2, 14, 14), (8, 7, 7), (0, 0, 0)),  # a regular (unshifted) block with few frames
)


@exercise(
    "9.2",
    "The effective window and shift of a block (clamping to small inputs)",
    hints=[
        "Per axis: if the input is no larger than the window, the window becomes the input size.",
        "On such an axis the shift becomes 0 as well — a single window rolled onto itself would "
        "only wrap tokens round. Note 'no larger': input == window clamps too (use <=).",
    ],
    solution=(
        "def my_effective_window(dhw, window, shift):\n"
        "    win = tuple(min(n, w) for n, w in zip(dhw, window, strict=True))\n"
        "    sh = tuple(0 if n <= w else s for n, w, s in zip(dhw, window, shift, strict=True))\n"
        "    return win, sh"
    ),
)
def _check_effective_window(my_effective_window) -> list[str]:
    for dhw, window, shift in _WINDOW_CASES:
        expected = effective_window(dhw, window, shift)
        got = my_effective_window(dhw, window, shift)
        if got is TODO:
            raise Mismatch("Your function still returns TODO — fill it in, or try hint('9.2').")
        try:
            got = (tuple(int(v) for v in got[0]), tuple(int(v) for v in got[1]))
        except (TypeError, IndexError, ValueError):
            raise Mismatch(
                f"Tested dhw={dhw}, window={window}, shift={shift}: expected a pair "
                f"(window, shift) like {expected}, got {got!r}."
            ) from None
        if got == expected:
            continue
        (gw, gs), ew = got, expected[0]
        case = f"Tested grid dhw={dhw}, window={window}, shift={shift}"
        if gw != ew:
            cause = "the window must shrink to the input on every axis where input <= window (min)."
        elif any(n == w and g != 0 for n, w, g in zip(dhw, window, gs, strict=True)):
            cause = (
                "an axis whose input *equals* the window has a single window, so its shift must be 0: "
                "compare with <=, not <."
            )
        else:
            cause = "the shift must drop to 0 on every axis whose window was clamped."
        raise Mismatch(f"{case}: expected (window, shift) = {expected}, got {got}.\nLikely cause: {cause}")
    return ["Right on Swin-T's stage 1 and stage 4 grids, a tiny grid and an unshifted block."]


@exercise(
    "9.3",
    "Relative-position index of a shrunken window into the full table",
    hints=[
        "Take the coordinates (d, h, w) of the *small* window's N tokens, their pairwise offsets, "
        "shift the offsets by (P-1, M-1, M-1) of the *full* window and use the full window's strides "
        "((2M-1)^2, 2M-1, 1).",
        "relative_position_index(window_size, table_window) in vswin_edu.relpos does exactly that; "
        "slicing the full index [:N, :N] (what torchvision does) is wrong once H or W shrink.",
    ],
    solution=(
        "def shrunken_index(window, table_window):\n"
        "    coords = window_coords(window)                      # (N, 3) small window, raster order\n"
        "    rel = coords[:, None] - coords[None, :]             # (N, N, 3) offsets\n"
        "    rel = rel + torch.tensor([t - 1 for t in table_window])\n"
        "    _, th, tw = table_window\n"
        "    strides = torch.tensor([(2 * th - 1) * (2 * tw - 1), 2 * tw - 1, 1])\n"
        "    return (rel * strides).sum(-1)                      # (N, N)"
    ),
)
def _check_shrunken_index(shrunken_index) -> list[str]:
    table_window = (8, 7, 7)
    for window in ((4, 7, 7), (8, 4, 4), (2, 3, 5)):
        expected = relative_position_index(window, table_window)
        got = shrunken_index(window, table_window)
        if got is TODO:
            raise Mismatch("Your function still returns TODO — fill it in, or try hint('9.3').")
        case = f"Tested the shrunken window {window} of a table built for {table_window}"
        if not isinstance(got, torch.Tensor):
            raise Mismatch(f"{case}: expected a LongTensor (N, N), got {type(got).__name__}.")
        if tuple(got.shape) != tuple(expected.shape):
            raise Mismatch(
                f"{case}: expected shape (N, N) = {tuple(expected.shape)}, got {tuple(got.shape)}."
            )
        if torch.equal(got.long(), expected):
            continue
        N = expected.shape[0]
        if torch.equal(got.long(), relative_position_index(table_window)[:N, :N]):
            cause = (
                "this is the upstream [:N, :N] slice (torchvision, official code): the first N tokens of "
                "the full window are not the small window's tokens once H or W shrink."
            )
        elif torch.equal(got.long(), relative_position_index(window)):
            cause = (
                "you indexed a table of the *small* window's size; the table has the full window's "
                "(2P-1)(2M-1)(2M-1) rows, so use the full window's offsets and strides."
            )
        else:
            cause = "offsets are query minus key, shifted by (P-1, M-1, M-1) of the full table window."
        i, j = (got.long() != expected).nonzero()[0].tolist()
        raise Mismatch(
            f"{case}: first wrong pair (query {i}, key {j}): expected index {expected[i, j].item()}, "
            f"got {got[i, j].item()}.\nLikely cause: {cause}"
        )
    return ["Right when time shrinks (4x7x7), when space shrinks (8x4x4) and when all axes shrink."]
