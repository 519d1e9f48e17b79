"""Chapter 1 exercises: 3D patch partition and the token grid (paper Sec. 3.1).

1.1  patch partition by hand with ``view``/``permute`` (checked against
     :func:`vswin_edu.patch.patch_partition`)
1.2  the token grid ``(D, H, W)`` of a ``T x H x W`` video, padding included
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from einops import rearrange

from ..patch import PatchEmbed3D, patch_partition
from ._core import Mismatch, exercise

PATCH = (2, 4, 4)


def _pixel(value: float, shape: Sequence[int]) -> str:
    """Which pixel ``(c, t, h, w)`` of an ``arange``-valued video a value came from."""
    if value != int(value) or not 0 <= value < torch.Size(shape).numel():
        return f"the value {value:g}, which is no pixel of the input"
    _, c, t, h, w = (int(i) for i in torch.unravel_index(torch.tensor(int(value)), tuple(shape)))
    return f"pixel (c, t, h, w) = {(c, t, h, w)}"


@exercise(
    "1.1",
    "3D patch partition by hand: (B, 3, T, H, W) -> (B, T/2, H/4, W/4, 96)",
    hints=[
        "Split each of T, H, W into (number of patches, size inside the patch) with one view: "
        "(B, 3, D, 2, Hp, 4, Wp, 4). Then permute so that the three patch-grid axes come first and "
        "the four within-patch axes (c, t, h, w) last, and flatten those four.",
        "video.view(B, C, T // 2, 2, H // 4, 4, W // 4, 4).permute(0, 2, 4, 6, 1, 3, 5, 7)"
        ".reshape(B, T // 2, H // 4, W // 4, C * 2 * 4 * 4). The order (c, t, h, w) inside the 96 "
        "numbers is the order of a Conv3d weight (C_out, 3, 2, 4, 4).",
    ],
    solution=(
        "def my_patch_partition(video):\n"
        "    B, C, T, H, W = video.shape\n"
        "    x = video.view(B, C, T // 2, 2, H // 4, 4, W // 4, 4)  # (B, C, D, 2, Hp, 4, Wp, 4)\n"
        "    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)                 # (B, D, Hp, Wp, C, 2, 4, 4)\n"
        "    return x.reshape(B, T // 2, H // 4, W // 4, C * 2 * 4 * 4)"
    ),
)
def check_patch_partition(my_patch_partition: Callable[[torch.Tensor], torch.Tensor]) -> str:
    shape = (1, 3, 4, 8, 12)  # 2 x 2 x 3 patches; every pixel holds its own flat index
    video = torch.arange(torch.Size(shape).numel(), dtype=torch.float32).view(shape)  # (B, 3, T, H, W)
    expected = patch_partition(video, PATCH)  # (1, 2, 2, 3, 96)
    got = my_patch_partition(video.clone())
    tested = f"tested on a video of shape {shape} whose pixels hold their own index (0, 1, 2, ...)"
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"{tested}.\nExpected a torch.Tensor, got {type(got).__name__}.")
    if tuple(got.shape) != tuple(expected.shape):
        raise Mismatch(
            f"{tested}.\nExpected shape (B, D, H, W, 96) = {tuple(expected.shape)}, got {tuple(got.shape)}."
        )
    wrong = got != expected
    if not wrong.any():
        return f"matches vswin_edu.patch.patch_partition: shape {tuple(got.shape)}."
    d, h, w, k = (int(i) for i in wrong.nonzero()[0][1:])
    lines = [
        tested + ".",
        f"First wrong entry: token (d, h, w) = {(d, h, w)}, feature {k}: expected "
        f"{_pixel(expected[0, d, h, w, k].item(), shape)}, got {_pixel(got[0, d, h, w, k].item(), shape)}.",
    ]
    channels_last = rearrange(video, "b c (d pt) (h ph) (w pw) -> b d h w (pt ph pw c)", pt=2, ph=4, pw=4)
    if torch.equal(got, channels_last):
        lines.append(
            "Likely cause: each patch is flattened as (t, h, w, c). The library — and the Conv3d weight "
            "(C_out, 3, 2, 4, 4) it must match — flattens (c, t, h, w): put the channel axis first "
            "among the four within-patch axes."
        )
    elif torch.equal(got, video.reshape(got.shape)):
        lines.append(
            "Likely cause: a plain view/reshape of the video. It keeps the memory order, so the "
            "96 numbers are 96 consecutive pixels of one row, not a 2x4x4 space-time cube: "
            "split the axes with view, then permute, then flatten."
        )
    elif torch.equal(torch.sort(got.flatten()).values, torch.sort(expected.flatten()).values):
        lines.append(
            "Every pixel is there once, so the split is right but the permute order is not: "
            "the patch-grid axes (D, H, W) must come first, then (c, t, h, w) inside the patch."
        )
    raise Mismatch("\n".join(lines))


@exercise(
    "1.2",
    "token grid (D, H, W) of a T x H x W video with 2 x 4 x 4 patches, padding included",
    hints=[
        "Each axis is cut into patches of (2, 4, 4). When T, H or W is not a multiple, the library "
        "(like torchvision) zero-pads the end of the axis up to the next multiple first.",
        "So the count is a division rounded *up*: ceil(T / 2) = (T + 1) // 2 = -(-T // 2), "
        "and -(-H // 4), -(-W // 4).",
    ],
    solution=(
        "def token_grid(T, H, W):\n"
        "    return (-(-T // 2), -(-H // 4), -(-W // 4))  # ceil division: partial patches are padded"
    ),
)
def check_token_grid(token_grid: Callable[[int, int, int], Sequence[int]]) -> str:
    embed = PatchEmbed3D(PATCH, in_chans=1, embed_dim=1)
    cases = [(4, 8, 8), (3, 8, 8), (4, 9, 8), (5, 30, 17), (32, 224, 224), (16, 112, 160)]  # small first
    for T, H, W in cases:
        with torch.no_grad():  # the library is the oracle: the shape PatchEmbed3D produces
            expected = tuple(embed(torch.zeros(1, 1, T, H, W)).shape[1:4])
        raw = token_grid(T, H, W)
        try:
            got = tuple(int(v) for v in raw)
        except TypeError as err:
            raise Mismatch(f"token_grid({T}, {H}, {W}): expected a tuple (D, H, W), got {raw!r}.") from err
        if got == expected:
            continue
        lines = [f"token_grid(T={T}, H={H}, W={W}): expected {expected}, got {got}."]
        if got == (T // 2, H // 4, W // 4):
            lines.append(
                "Likely cause: floor division. A partial patch at the end of an axis is zero-padded "
                "into a full one, not dropped, so round up: -(-T // 2)."
            )
        elif got == (-(-T // 4), -(-H // 4), -(-W // 2)) or got == (-(-T // 4), -(-H // 2), -(-W // 4)):
            lines.append(
                "Likely cause: the patch sizes are on the wrong axes; the patch is (t, h, w) = (2, 4, 4)."
            )
        raise Mismatch("\n".join(lines))
    return "e.g. 32 x 224 x 224 -> (16, 56, 56) tokens and 5 x 30 x 17 -> (3, 8, 5) after padding."
