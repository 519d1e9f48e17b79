"""Chapter 8 exercises: patch merging by hand, the equivalent convolution, shapes through the stages.

8.1  ``my_merge(x)``: gather 2x2 spatial neighbours in the order x0, x1, x2, x3 (time untouched).
8.2  ``conv_weight(reduction_weight)``: the ``Conv3d`` weight equal to the merging's linear layer.
8.3  ``stage_shapes(T, H, W, C)``: the ``(D, H, W, C)`` token grid after each of the four stages.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..merging import merge_patches
from ._core import TODO, Mismatch, exercise

# The neighbour (dh, dw) that each of x0, x1, x2, x3 holds (torchvision / official order).
MERGE_ORDER = ((0, 0), (1, 0), (0, 1), (1, 1))


def _coded_grid(B: int, D: int, H: int, W: int, C: int) -> torch.Tensor:
    """Tokens whose values spell their position: ``d*1e4 + h*1e2 + w + c/1e3`` (float64)."""
    d, h, w, c = torch.meshgrid(
        torch.arange(D), torch.arange(H), torch.arange(W), torch.arange(C), indexing="ij"
    )
    code = d * 1e4 + h * 1e2 + w + c / 1e3
    return code.to(torch.float64).expand(B, D, H, W, C).clone()  # (B, D, H, W, C)


def _decode(value: float) -> tuple[int, int, int, int]:
    """Inverse of :func:`_coded_grid` for one entry: ``(d, h, w, c)``."""
    v = round(value * 1000)
    return v // 10_000_000, (v // 100_000) % 100, (v // 1000) % 100, v % 1000


@exercise(
    "8.1",
    "Patch merging by hand (concatenate x0, x1, x2, x3)",
    hints=[
        "Slice the token grid with steps of 2 on H (dim 2) and W (dim 3) only: x[:, :, 0::2, 0::2, :] is x0. "
        "Time (dim 1) is never merged.",
        "x1 is the *odd row* (h), even column: x[:, :, 1::2, 0::2]; x2 is even row, odd column. "
        "Pad an odd H or W with F.pad first, then torch.cat([x0, x1, x2, x3], dim=-1).",
    ],
    solution=(
        "def my_merge(x):\n"
        "    H, W = x.shape[2], x.shape[3]\n"
        "    x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))   # pad odd H/W at the end\n"
        "    x0 = x[:, :, 0::2, 0::2]  # even h, even w\n"
        "    x1 = x[:, :, 1::2, 0::2]  # odd h,  even w\n"
        "    x2 = x[:, :, 0::2, 1::2]  # even h, odd w\n"
        "    x3 = x[:, :, 1::2, 1::2]  # odd h,  odd w\n"
        "    return torch.cat([x0, x1, x2, x3], dim=-1)  # (B, D, H/2, W/2, 4C)"
    ),
)
def _check_merge(my_merge) -> list[str]:
    for B, D, H, W, C in ((1, 2, 4, 6, 3), (2, 3, 5, 3, 2)):
        x = _coded_grid(B, D, H, W, C)
        expected = merge_patches(x)
        case = f"a coded grid (B, D, H, W, C) = {(B, D, H, W, C)}"
        try:
            got = my_merge(x.clone())
        except RuntimeError as err:
            if H % 2 or W % 2:
                raise Mismatch(
                    f"Tested {case} (odd H or W): your code raised RuntimeError: {err}\n"
                    "Likely cause: x0..x3 have different sizes when H or W is odd — zero-pad the grid "
                    "to even H and W first (F.pad(x, (0, 0, 0, W % 2, 0, H % 2)))."
                ) from None
            raise
        if got is TODO:
            raise Mismatch("Your function still returns TODO — fill it in, or try hint('8.1').")
        if not isinstance(got, torch.Tensor):
            raise Mismatch(f"Tested {case}: expected a tensor, got {type(got).__name__}.")
        if tuple(got.shape) != tuple(expected.shape):
            cause = ""
            if got.dim() == 5 and got.shape[1] != D:
                cause = "\nLikely cause: you merged time as well — patch merging halves only H and W."
            elif got.dim() == 5 and got.shape[-1] != 4 * C:
                cause = "\nLikely cause: concatenate the four C-vectors on the last (channel) dim."
            elif H % 2 or W % 2:
                cause = "\nLikely cause: an odd H or W must be zero-padded to even before slicing."
            raise Mismatch(
                f"Tested {case}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}.{cause}"
            )
        if torch.equal(got.to(expected.dtype), expected):
            continue
        # Which neighbour did the learner put in each C-block of output token (0, 0, 0)?
        blocks = [_decode(got[0, 0, 0, 0, k * C].item()) for k in range(4)]
        order = tuple((h, w) for _, h, w, _ in blocks)
        first_channels = [_decode(got[0, 0, 0, 0, k].item())[3] for k in range(4)]
        if first_channels[:2] == [0, 0]:
            cause = (
                "channel 1 of the output holds channel 0 of another neighbour: the 4C channels are "
                "interleaved (stack + flatten). Concatenate whole C-vectors: torch.cat([...], dim=-1)."
            )
        elif sorted(order) == sorted(MERGE_ORDER) and order != MERGE_ORDER:
            cause = (
                f"your four C-blocks hold the neighbours (dh, dw) = {list(order)}, the library's order is "
                f"{list(MERGE_ORDER)}: x1 is the odd *row* (h), x2 the odd *column* (w). "
                "Pretrained weights depend on this order (a raster order (0,0),(0,1),(1,0),(1,1) is "
                "the usual slip)."
            )
        else:
            cause = "compare your slices with x0 = x[:, :, 0::2, 0::2] ... x3 = x[:, :, 1::2, 1::2]."
        idx = (got.to(expected.dtype) != expected).nonzero()[0].tolist()
        raise Mismatch(
            f"Tested {case}, each value spelling its token d*1e4 + h*1e2 + w + c/1e3.\n"
            f"First wrong entry at output index {tuple(idx)}: expected {expected[tuple(idx)].item():.3f}, "
            f"got {got[tuple(idx)].item():.3f}.\nLikely cause: {cause}"
        )
    return ["Shapes and values match merge_patches, including odd H/W (padded) and D untouched."]


def reference_conv_weight(reduction_weight: torch.Tensor) -> torch.Tensor:
    """The ``Conv3d`` weight ``(2C, C, 1, 2, 2)`` equal to ``Linear(4C, 2C)`` after :func:`merge_patches`.

    Input channel block ``k`` of the linear layer multiplies neighbour ``MERGE_ORDER[k]`` = ``(dh, dw)``,
    and ``k = dh + 2*dw``, so ``(2C, 4C)`` views as ``(2C, dw, dh, C)``.
    """
    out_ch, in4 = reduction_weight.shape
    C = in4 // 4
    w = reduction_weight.reshape(out_ch, 2, 2, C)  # (2C, dw, dh, C)
    return w.permute(0, 3, 2, 1).unsqueeze(2)  # (2C, C, 1, dh, dw)


@exercise(
    "8.2",
    "Patch merging's linear layer as a 1x2x2 convolution with stride (1, 2, 2)",
    hints=[
        "The weight of Linear(4C, 2C) is (2C, 4C): its columns come in four blocks of C, one per "
        "neighbour x0, x1, x2, x3. A Conv3d weight is (out, in, kt, kh, kw) = (2C, C, 1, 2, 2).",
        "View the weight as (2C, 4, C) (blocks first!) and put block k at kernel position "
        "(0, dh, dw) with (dh, dw) = (0,0), (1,0), (0,1), (1,1) for k = 0, 1, 2, 3.",
    ],
    solution=(
        "def conv_weight(reduction_weight):\n"
        "    out_ch, in4 = reduction_weight.shape\n"
        "    C = in4 // 4\n"
        "    w = reduction_weight.reshape(out_ch, 2, 2, C)   # (2C, dw, dh, C): block k = dh + 2*dw\n"
        "    return w.permute(0, 3, 2, 1).unsqueeze(2)       # (2C, C, 1, dh, dw)"
    ),
)
def _check_conv_weight(conv_weight) -> list[str]:
    C = 3
    g = torch.Generator().manual_seed(8)
    weight = torch.randn(2 * C, 4 * C, generator=g, dtype=torch.float64)
    expected = reference_conv_weight(weight)
    got = conv_weight(weight.clone())
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"Tested a (2C, 4C) = {tuple(weight.shape)} weight: expected a tensor, got {got!r}.")
    if tuple(got.shape) != tuple(expected.shape):
        raise Mismatch(
            f"Tested a Linear(4C, 2C) weight with C={C}: expected a Conv3d weight of shape "
            f"(2C, C, 1, 2, 2) = {tuple(expected.shape)}, got {tuple(got.shape)}."
        )
    got = got.to(expected.dtype)
    if torch.allclose(got, expected):
        # Prove it on data: conv over the channels-first grid == reduction(merge_patches(x)).
        x = torch.randn(1, 2, 4, 6, C, generator=g, dtype=torch.float64)  # (B, D, H, W, C)
        linear = merge_patches(x) @ weight.T  # (B, D, H/2, W/2, 2C)
        conv = F.conv3d(x.permute(0, 4, 1, 2, 3), got, stride=(1, 2, 2))  # (B, 2C, D, H/2, W/2)
        torch.testing.assert_close(conv.permute(0, 2, 3, 4, 1), linear)
        return ["F.conv3d(x, w, stride=(1, 2, 2)) equals reduction(merge_patches(x)) on a random grid."]
    if torch.allclose(got, expected.transpose(-1, -2)):
        cause = (
            "dh and dw are swapped: x1 is the odd *row* (kernel position (0, 1, 0)), x2 the odd "
            "*column* (kernel position (0, 0, 1))."
        )
    elif torch.allclose(got, weight.reshape(2 * C, C, 2, 2).unsqueeze(2)) or torch.allclose(
        got, weight.reshape(2 * C, C, 4).reshape(2 * C, C, 1, 2, 2)
    ):
        cause = (
            "channels and neighbours are mixed: the 4C inputs are four blocks [x0 | x1 | x2 | x3] "
            "of C channels each, so view the weight as (2C, 4, C), not (2C, C, 4)."
        )
    else:
        cause = "block k of the 4C columns belongs at kernel position (0, dh, dw) of MERGE_ORDER[k]."
    idx = (~torch.isclose(got, expected)).nonzero()[0].tolist()
    o, c, _, dh, dw = idx
    raise Mismatch(
        f"Tested a random Linear(4C, 2C) weight with C={C}.\n"
        f"First wrong entry at [out={o}, in={c}, 0, dh={dh}, dw={dw}]: expected "
        f"{expected[tuple(idx)].item():.4f} (= weight[{o}, {(dh + 2 * dw) * C + c}]), "
        f"got {got[tuple(idx)].item():.4f}.\nLikely cause: {cause}"
    )


def reference_stage_shapes(
    T: int, H: int, W: int, C: int = 96, num_stages: int = 4
) -> list[tuple[int, int, int, int]]:
    """``(D, H, W, C)`` after each stage for a ``2x4x4`` patch: padding rounds every size up."""
    D, h, w = -(-T // 2), -(-H // 4), -(-W // 4)
    shapes = [(D, h, w, C)]
    for _ in range(num_stages - 1):
        h, w, C = -(-h // 2), -(-w // 2), 2 * C
        shapes.append((D, h, w, C))
    return shapes


@exercise(
    "8.3",
    "Token-grid shapes through the four stages",
    hints=[
        "Stage 1 sees the patch-embedded grid (T/2, H/4, W/4, C). Each later stage starts with a "
        "patch merging: H and W halve, C doubles, D stays.",
        "Sizes that do not divide are zero-padded up, so use ceiling division -(-n // k). Return a "
        "list of four (D, H, W, C) tuples.",
    ],
    solution=(
        "def stage_shapes(T, H, W, C=96):\n"
        "    D, h, w = -(-T // 2), -(-H // 4), -(-W // 4)\n"
        "    shapes = [(D, h, w, C)]\n"
        "    for _ in range(3):\n"
        "        h, w, C = -(-h // 2), -(-w // 2), 2 * C   # merge 2x2 in space, never in time\n"
        "        shapes.append((D, h, w, C))\n"
        "    return shapes"
    ),
)
def _check_stage_shapes(stage_shapes) -> list[str]:
    for T, H, W, C in ((32, 224, 224, 96), (16, 192, 256, 128), (10, 100, 130, 96)):
        expected = reference_stage_shapes(T, H, W, C)
        got = stage_shapes(T, H, W, C)
        got = [tuple(int(v) for v in s) for s in got] if isinstance(got, list | tuple) else got
        if got == expected:
            continue
        case = f"a (T, H, W) = {(T, H, W)} clip with C={C}"
        if not isinstance(got, list) or len(got) != 4:
            raise Mismatch(f"Tested {case}: expected a list of 4 (D, H, W, C) tuples, got {got!r}.")
        stage = next(i for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e)
        cause = "compare with: H and W halve (rounded up), C doubles, D stays."
        if got[stage][0] != expected[stage][0]:
            cause = "D changed: time is never merged, every stage has T/2 temporal tokens."
        elif stage == 0:
            cause = (
                "stage 1 is the patch-embedded grid (T/2, H/4, W/4, C), before any merging; the "
                "embedding pads T, H, W up to multiples of the 2x4x4 patch, so round up."
            )
        elif got[stage][1:3] == tuple(n // 2 for n in expected[stage - 1][1:3]):
            cause = "an odd size is padded before merging: round up with -(-n // 2), not down."
        raise Mismatch(
            f"Tested {case}: stage {stage + 1} should be {expected[stage]}, got {got[stage]}.\n"
            f"Expected all stages: {expected}.\nLikely cause: {cause}"
        )
    return ["Right for 32x224x224 (16x56x56 -> 16x7x7), a Swin-B-width clip and odd sizes."]
