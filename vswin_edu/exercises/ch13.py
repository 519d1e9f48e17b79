"""Chapter 13 exercises: checkpoints — key maps and 2D -> 3D inflation (paper Sec. 4.1).

12.1  inflate a 2D patch-embedding weight ``(C, 3, 4, 4)`` to 3D ``(C, 3, pt, 4, 4)``
12.2  map an official / mmaction2 key to ours (or ``None`` for a buffer we recompute)
12.3  inflate a 2D relative-position bias table over the ``2P-1`` temporal offsets
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..convert import from_official, inflate_bias_table, inflate_patch_weight
from ..relpos import relative_position_index
from ._core import Mismatch, exercise

OFFICIAL_KEYS = (
    "backbone.patch_embed.proj.weight",
    "backbone.layers.0.blocks.1.attn.qkv.weight",
    "backbone.layers.2.blocks.5.mlp.fc1.weight",
    "backbone.layers.1.downsample.reduction.weight",
    "backbone.layers.3.blocks.0.attn.relative_position_bias_table",
    "backbone.layers.3.blocks.0.attn.relative_position_index",
    "backbone.norm.weight",
    "backbone.norm3.bias",
    "cls_head.fc_cls.weight",
)


def _fmt(values: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in values.flatten().tolist()) + "]"


def _tensor(got, expected_shape: tuple[int, ...], tested: str) -> torch.Tensor:
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"{tested}.\nExpected a torch.Tensor, got {type(got).__name__}.")
    if tuple(got.shape) != expected_shape:
        raise Mismatch(f"{tested}.\nExpected shape {expected_shape}, got {tuple(got.shape)}.")
    return got


@exercise(
    "13.1",
    "Inflate a 2D patch-embedding weight (C, 3, 4, 4) to 3D (C, 3, pt, 4, 4)",
    hints=[
        "A Conv3d weight is (C_out, C_in, T, H, W): the new time axis goes at position 2. Every one "
        "of the pt frames gets a copy of the 2D kernel.",
        "On a static clip the pt frames of a patch are equal, so the 3D conv adds up pt copies of the "
        "2D response. Divide by pt so that the sum is the 2D response: "
        "w2d.unsqueeze(2).repeat(1, 1, pt, 1, 1) / pt.",
    ],
    solution=(
        "def my_inflate_patch(w2d, pt):\n"
        "    return w2d.unsqueeze(2).repeat(1, 1, pt, 1, 1) / pt  # (C, 3, pt, 4, 4)"
    ),
)
def check_inflate_patch(my_inflate_patch: Callable[[torch.Tensor, int], torch.Tensor]) -> str:
    torch.manual_seed(12)
    w2d = torch.randn(4, 3, 4, 4)  # (C, 3, ph, pw)
    for pt in (2, 3):
        tested = f"tested with a random 2D weight of shape {tuple(w2d.shape)} and pt={pt}"
        expected = inflate_patch_weight(w2d, pt)
        got = my_inflate_patch(w2d.clone(), pt)
        if isinstance(got, torch.Tensor) and tuple(got.shape) == (4, 3, 4, 4, pt):
            raise Mismatch(
                f"{tested}.\nExpected shape {tuple(expected.shape)}, got {tuple(got.shape)}.\n"
                "Likely cause: the time axis is last. A Conv3d weight is (C_out, C_in, T, H, W): "
                "use w2d.unsqueeze(2)."
            )
        got = _tensor(got, tuple(expected.shape), tested)
        if torch.allclose(got, expected, atol=1e-6):
            continue
        lines = [
            f"{tested}.",
            f"Expected {_fmt(expected[0, 0, :, 0, 0])} at [0, 0, :, 0, 0], got {_fmt(got[0, 0, :, 0, 0])}.",
        ]
        if torch.allclose(got, expected * pt, atol=1e-6):
            lines.append(
                f"Likely cause: no division by pt. On a static clip the 3D conv then sums {pt} copies "
                f"of the 2D response: every embedding is {pt}x too large and the pretrained network sees "
                "inputs it never saw."
            )
        elif torch.allclose(got.sum(2), w2d, atol=1e-6):
            lines.append(
                "The sum over time is right (so a static clip still gives the 2D embedding), but the "
                "frames differ — e.g. the whole kernel in one frame (I3D's 'centre' init). The "
                "official recipe spreads it equally: every frame gets w2d / pt."
            )
        raise Mismatch("\n".join(lines))
    return "on a static clip your 3D patch embedding equals the 2D one."


@exercise(
    "13.2",
    "Map an official / mmaction2 key to ours (None for a recomputed buffer)",
    hints=[
        "Strip 'backbone.'; 'layers.i' is our 'stages.i' (same i: the official code keeps patch "
        "merging inside layer i, like our stages); cls_head.fc_cls is our head; mmaction2 1.x calls "
        "the final norm 'norm3'.",
        "Our attention keeps the bias table in a submodule: attn.relative_position_bias_table -> "
        "attn.relpos.relative_position_bias_table. relative_position_index is a buffer we rebuild: "
        "return None for it.",
    ],
    solution=(
        "import re\n\n"
        "def my_official_to_ours(key):\n"
        "    if key.endswith('relative_position_index'):\n"
        "        return None  # recomputed by the model\n"
        "    key = key.removeprefix('backbone.').replace('cls_head.fc_cls.', 'head.')\n"
        "    key = re.sub(r'^layers\\.', 'stages.', key)\n"
        "    key = re.sub(r'^norm\\d+\\.', 'norm.', key)\n"
        "    return key.replace('attn.relative_position_bias_table', "
        "'attn.relpos.relative_position_bias_table')"
    ),
)
def check_official_key(my_official_to_ours: Callable[[str], str | None]) -> str:
    for key in OFFICIAL_KEYS:
        expected = next(iter(from_official({key: torch.zeros(1)})), None)
        got = my_official_to_ours(key)
        if got == expected:
            continue
        lines = [
            f"tested {len(OFFICIAL_KEYS)} official keys; first wrong: {key!r}",
            f"expected {expected!r}, got {got!r}.",
        ]
        if expected is None:
            lines.append(
                "Likely cause: relative_position_index is a buffer the model recomputes; return None."
            )
        elif isinstance(got, str) and got.startswith(("backbone.", "cls_head.")):
            lines.append("Likely cause: the 'backbone.' / 'cls_head.fc_cls.' prefix is still there.")
        elif isinstance(got, str) and "relative_position_bias_table" in key and ".relpos." not in got:
            lines.append("Likely cause: our table lives in attn.relpos (a RelativePositionBias3D submodule).")
        elif isinstance(got, str) and "norm3" in key:
            lines.append("Likely cause: mmaction2 1.x's 'norm3' is the final norm, our 'norm'.")
        elif isinstance(got, str) and got.startswith("stages.") and got.split(".")[1] != key.split(".")[2]:
            lines.append(
                "Likely cause: torchvision's numbering (features.{2i}). The official layers.i is our "
                "stages.i with the same i."
            )
        raise Mismatch("\n".join(lines))
    return f"all {len(OFFICIAL_KEYS)} keys map as vswin_edu.convert.from_official maps them."


@exercise(
    "13.3",
    "Inflate a 2D bias table ((2M-1)^2, nH) to 3D ((2P-1)(2M-1)^2, nH)",
    hints=[
        "The 3D index is rd * (2M-1)^2 + (2D index): rows come in 2P-1 consecutive blocks of (2M-1)^2, "
        "one block per temporal offset dt = -(P-1) ... P-1.",
        "Every block is the whole 2D table: table_2d.repeat(2 * P - 1, 1) (not repeat_interleave, "
        "which repeats each row in place).",
    ],
    solution=(
        "def my_inflate_table(table_2d, P):\n    return table_2d.repeat(2 * P - 1, 1)  # ((2P-1)(2M-1)^2, nH)"
    ),
)
def check_inflate_table(my_inflate_table: Callable[[torch.Tensor, int], torch.Tensor]) -> str:
    torch.manual_seed(12)
    M, P, heads = 3, 2, 2
    table_2d = torch.randn((2 * M - 1) ** 2, heads)  # (25, nH)
    expected = inflate_bias_table(table_2d, (P, M, M))  # (75, nH)
    tested = f"tested with a random 2D table for M={M} ({tuple(table_2d.shape)}) and P={P}"
    got = my_inflate_table(table_2d.clone(), P)
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (P * (2 * M - 1) ** 2, heads):
        raise Mismatch(
            f"{tested}.\nExpected shape {tuple(expected.shape)}, got {tuple(got.shape)}.\n"
            f"Likely cause: P copies. Temporal offsets run from -(P-1) to P-1: that is 2P-1 = {2 * P - 1}."
        )
    got = _tensor(got, tuple(expected.shape), tested)
    if torch.allclose(got, expected, atol=1e-6):
        return "every temporal offset reads the 2D bias of the same spatial offset."
    index = relative_position_index((P, M, M))  # (N, N)
    wrong = (got[index] != expected[index]).any(-1).nonzero()[0].tolist()
    lines = [
        f"{tested}.",
        f"First wrong pair (query, key) = {tuple(wrong)}: bias row {index[tuple(wrong)].item()} "
        f"should be {_fmt(expected[index[tuple(wrong)]])}, got {_fmt(got[index[tuple(wrong)]])}.",
    ]
    if torch.allclose(got, table_2d.repeat_interleave(2 * P - 1, 0), atol=1e-6):
        lines.append(
            "Likely cause: repeat_interleave repeats each row in place; the index needs the whole 2D "
            "table once per temporal offset: repeat(2P-1, 1)."
        )
    elif torch.allclose(got * (2 * P - 1), expected, atol=1e-6):
        lines.append(
            "Likely cause: divided by 2P-1. The bias is added to the logits, not summed: no division."
        )
    raise Mismatch("\n".join(lines))
