"""Slow, obviously-correct oracles for the fast code (used by tests and chapters 2, 5, 6, 7).

Each oracle computes the same thing as a library function by a *different* route, so a test that
compares the two cannot pass by sharing a bug:

* :func:`brute_force_mask` — the shifted-window mask from token coordinates: un-roll every token
  to its place in the video and ask whether two tokens fall in the same displaced window
  (no region slices, no ``[0, -w), [-w, -s), [-s, None)`` bookkeeping).
* :func:`naive_shifted_window_attention` — shifted windows *without* the cyclic shift: pad the
  grid so the displaced windows fit, attend inside each (padding masked out), crop.
* :func:`global_attention` — one attention over all tokens (no windows).
* :func:`brute_force_relative_bias` — the bias of a (shrunken) window read off the full window:
  a small window's tokens are a sub-block of a full window, so each pair takes the bias the full
  window gives the pair with the same coordinates.
* :func:`mask_mismatches` — compare any mask with the correct one and name the wrong entries in
  video coordinates, with region ids (the engine of the visual mask debugger, chapter 5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange

from ._checks import check_tokens, shift_triple, triple
from .attention import WindowAttention3D
from .geometry import WindowGeometry, window_token_origins
from .relpos import relative_position_index
from .shift import MASKED_LOGIT, shifted_window_allowed, window_region_ids
from .windows import _check_divisible, num_windows, window_coords, window_partition, window_reverse

MaskLike = torch.Tensor | Callable[..., torch.Tensor]


def brute_force_allowed(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> torch.Tensor:
    """Boolean ``(nW, N, N)``: may query i attend to key j?  Decided from video coordinates only.

    Two tokens may attend iff, on every axis, they lie in the same *displaced* window, i.e.
    ``floor((origin - s) / w)`` agrees (windows of the shifted partition start at ``s + k*w``).
    """
    dhw, window, shift = (
        triple(tuple(dhw), "dhw"),
        triple(window_size, "window_size"),
        shift_triple(shift_size),
    )
    _check_divisible(dhw, window, "dhw")
    origin = window_token_origins(dhw, window, shift)  # (nW, N, 3)
    group = torch.div(origin - torch.tensor(shift), torch.tensor(window), rounding_mode="floor")
    return (group[:, :, None, :] == group[:, None, :, :]).all(dim=-1)  # (nW, N, N)


def brute_force_mask(
    dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> torch.Tensor:
    """Additive ``(nW, N, N)`` mask (0 / -100) from :func:`brute_force_allowed`."""
    allowed = brute_force_allowed(dhw, window_size, shift_size)
    return torch.zeros(allowed.shape).masked_fill(~allowed, MASKED_LOGIT)


def naive_shifted_window_attention(
    x: torch.Tensor, attn: WindowAttention3D, window_size: Sequence[int], shift_size: Sequence[int]
) -> torch.Tensor:
    """Shifted-window attention done the naive way: pad, partition, attend with padding masked, crop.

    Args:
        x: a normalised token grid ``(B, D, H, W, C)`` whose D, H, W are multiples of the window
            (the grid a block attends over after its own padding).
        attn: the :class:`WindowAttention3D` whose weights to use.

    Returns:
        ``(B, D, H, W, C)``; equals ``VideoSwinBlock.attention`` (cyclic shift + mask) on every token.
    """
    check_tokens(x, channels=attn.dim)
    window, shift = triple(window_size, "window_size"), shift_triple(shift_size)
    B, D, H, W, _ = x.shape
    _check_divisible((D, H, W), window, "the token grid (D, H, W)")
    # displaced windows start at s + k*w: pad (w - s) in front and s behind on every shifted axis
    front = [w - s if s else 0 for w, s in zip(window, shift, strict=True)]
    back = list(shift)
    xp = F.pad(x, (0, 0, front[2], back[2], front[1], back[1], front[0], back[0]))
    valid = F.pad(
        torch.ones(1, D, H, W, 1, device=x.device),
        (0, 0, front[2], back[2], front[1], back[1], front[0], back[0]),
    )  # (1, Dp, Hp, Wp, 1): 1 for real tokens, 0 for padding
    Dp, Hp, Wp = xp.shape[1:4]
    windows = window_partition(xp, window)  # (B*nW', N, C), nW' > nW: the naive way has more windows
    key_valid = window_partition(valid, window)[..., 0]  # (nW', N)
    mask = torch.where(key_valid[:, None, :] > 0, 0.0, MASKED_LOGIT).expand(-1, key_valid.shape[1], -1)
    out = attn(windows, mask=mask.to(x.dtype), window_size=window)  # (B*nW', N, C)
    out = window_reverse(out, window, B, Dp, Hp, Wp)  # (B, Dp, Hp, Wp, C)
    return out[:, front[0] : front[0] + D, front[1] : front[1] + H, front[2] : front[2] + W]


def global_attention(x: torch.Tensor, attn: WindowAttention3D) -> torch.Tensor:
    """Full self-attention over *all* tokens with ``attn``'s projections and no position bias.

    ``x`` is ``(B, L, C)`` or a grid ``(B, D, H, W, C)``; the output has the same shape.  Each
    token attends to all ``L`` tokens: ``O(L^2)`` cost, the baseline of chapter 2.
    """
    shape = x.shape
    tokens = x.reshape(shape[0], -1, shape[-1])  # (B, L, C)
    q, k, v = rearrange(attn.qkv(tokens), "b n (three h d) -> three b h n d", three=3, h=attn.num_heads)
    weights = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, nH, L, L)
    out = rearrange(weights @ v, "b h n d -> b n (h d)")  # (B, L, C)
    return attn.proj(out).reshape(shape)


def brute_force_relative_bias(
    table: torch.Tensor, window_size: Sequence[int], table_window: Sequence[int]
) -> torch.Tensor:
    """Bias ``(nH, N, N)`` of a (possibly shrunken) window, read off the full window by coordinates.

    ``table`` is ``((2P-1)(2M-1)(2M-1), nH)`` built for ``table_window``.  A token at ``(d, h, w)`` of
    the small window is the token at ``(d, h, w)`` of a full window, so pair (i, j) gets the full
    window's bias for the same two coordinates.
    """
    window, full = triple(window_size, "window_size"), triple(table_window, "table_window")
    full_index = relative_position_index(full)  # (Nf, Nf), the upstream layout
    _, Mh, Mw = full
    t, h, w = window_coords(window).unbind(-1)  # (N,) each
    in_full = (t * Mh + h) * Mw + w  # (N,): where each small-window token sits in the full window
    return table[full_index[in_full[:, None], in_full[None, :]]].permute(2, 0, 1)  # (nH, N, N)


@dataclass(frozen=True)
class MaskMismatch:
    """One wrong entry of a mask: query i and key j of window ``window``."""

    window: int
    i: int
    j: int
    query_thw: tuple[int, int, int]  # where the query token sits in the (padded) video grid
    key_thw: tuple[int, int, int]
    query_region: int  # region ids on the rolled grid (vswin_edu.shift.region_ids)
    key_region: int
    expected_allowed: bool
    got_allowed: bool

    def describe(self) -> str:
        verb = "may" if self.expected_allowed else "must NOT"
        got = "allowed" if self.got_allowed else "masked"
        return (
            f"window {self.window}: query {self.query_thw} (region {self.query_region}) {verb} attend to "
            f"key {self.key_thw} (region {self.key_region}), but your mask has it {got}"
        )


# fp16's largest finite value: an additive mask below -FP16_MAX becomes -inf in half precision
FP16_MAX = 65504.0


def mask_value_problem(mask: torch.Tensor) -> str | None:
    """What is wrong with the *values* of an additive mask, or ``None`` (also for bool masks).

    The model adds the mask to the logits, so it should hold exactly 0.0 (may attend) and
    ``MASKED_LOGIT`` (-100).  The words are the chapter-5 checker's (exercise 5.1), so the mask
    debugger flags a NaN, ``+-inf`` or ``-1e9`` mask the same way the checker does.
    """
    if mask.dtype == torch.bool:
        return None
    if not mask.is_floating_point():
        return f"the mask must be a float tensor (0.0 / {MASKED_LOGIT}), got dtype {mask.dtype}."
    if ((mask == 0.0) | (mask == MASKED_LOGIT)).all():
        return None  # the common case, without sorting a large mask's values
    nan = int(torch.isnan(mask).sum())
    if nan:
        return (
            f"your mask holds NaN ({nan} entries).\nlikely cause: 0 * inf or inf - inf while building it — a "
            f"NaN logit makes the softmax of its whole row NaN, so it is neither allowed nor masked. "
            f"Use 0.0 where tokens may attend and {MASKED_LOGIT} where not."
        )
    if torch.isposinf(mask).any():
        return (
            "your mask holds +inf.\nlikely cause: a flipped sign — +inf in a row makes its softmax "
            f"inf / inf = NaN. Masked pairs get {MASKED_LOGIT} (a large negative logit), allowed ones 0.0."
        )
    if torch.isneginf(mask).any():
        return (
            "your mask holds -inf.\nlikely cause: -inf instead of -100 — a query whose keys are "
            "all masked then gets softmax(-inf, ..., -inf) = NaN, and pretrained Swin weights were trained "
            f"with -100 (exp(-100) ~ 4e-44 is already zero for the softmax). Use {MASKED_LOGIT}."
        )
    values = sorted({float(v) for v in mask.unique()})
    if any(v not in (0.0, MASKED_LOGIT) for v in values):
        text = (
            f"the mask must hold only 0.0 and {MASKED_LOGIT} (vswin_edu.shift.MASKED_LOGIT), "
            f"got the values {values[:6]}."
        )
        if values[0] < -FP16_MAX:
            text += (
                f"\nlikely cause: {values[0]:g} instead of -100 — below -{FP16_MAX:g} it overflows to "
                "-inf in fp16 (then NaN for a fully masked row), and pretrained Swin weights were trained "
                "with -100."
            )
        return text
    return None


def as_allowed(mask: torch.Tensor) -> torch.Tensor:
    """Read a mask as booleans: bool masks as they are, additive masks as ``value > -1``.

    A NaN or +inf entry cannot be read either way (either makes the softmax NaN): ``ValueError``
    with :func:`mask_value_problem`'s words.  Other odd values (-inf, -1e9) are read, and flagged
    by :func:`mask_value_problem`.
    """
    if mask.dtype == torch.bool:
        return mask
    if mask.is_floating_point() and (torch.isnan(mask).any() or torch.isposinf(mask).any()):
        raise ValueError(mask_value_problem(mask))
    return mask > -1.0  # 0 = may attend; -100, -1e4 or -inf = masked


def resolve_mask(
    mask: MaskLike, dhw: Sequence[int], window_size: Sequence[int], shift_size: Sequence[int]
) -> torch.Tensor:
    """A user's mask for a padded grid as booleans ``(nW, N, N)`` (True = may attend), shape-checked.

    ``mask`` is a tensor (bool, or additive float read by :func:`as_allowed`) or a callable
    ``mask(dhw, window_size, shift_size)`` returning one.
    """
    if callable(mask):
        mask = mask(tuple(dhw), tuple(window_size), tuple(shift_size))
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor or a callable returning one, got {type(mask).__name__}")
    window = triple(window_size, "window_size")
    nW, N = num_windows(dhw, window), window[0] * window[1] * window[2]
    if tuple(mask.shape) != (nW, N, N):
        raise ValueError(f"mask must have shape (nW, N, N) = {(nW, N, N)}, got {tuple(mask.shape)}")
    return as_allowed(mask.detach().cpu())


def allowed_pairs(mask: MaskLike | None, geo: WindowGeometry) -> torch.Tensor:
    """The user's mask for ``geo``'s padded grid as booleans ``(nW, N, N)``, or the correct one."""
    if mask is None:
        return shifted_window_allowed(geo.padded, geo.window, geo.shift)
    return resolve_mask(mask, geo.padded, geo.window, geo.shift)


def mask_mismatches(
    mask: MaskLike,
    dhw: Sequence[int],
    window_size: Sequence[int],
    shift_size: Sequence[int],
    limit: int | None = None,
) -> list[MaskMismatch]:
    """Every entry where ``mask`` disagrees with the correct shifted-window mask, in raster order.

    Args:
        mask: ``(nW, N, N)`` bool (True = may attend) or additive float (0 / negative), or a
            callable ``mask(dhw, window_size, shift_size)`` returning one.
        dhw, window_size, shift_size: the padded grid, window and shift the mask is for.
        limit: stop after this many mismatches.
    """
    dhw, window, shift = (
        triple(tuple(dhw), "dhw"),
        triple(window_size, "window_size"),
        shift_triple(shift_size),
    )
    expected = brute_force_allowed(dhw, window, shift)  # (nW, N, N)
    got = resolve_mask(mask, dhw, window, shift)
    origins = window_token_origins(dhw, window, shift)  # (nW, N, 3)
    regions = window_region_ids(dhw, window, shift)  # (nW, N)
    out = []
    for w, i, j in torch.nonzero(got != expected).tolist():
        out.append(
            MaskMismatch(
                w, i, j, tuple(origins[w, i].tolist()), tuple(origins[w, j].tolist()),
                int(regions[w, i]), int(regions[w, j]), bool(expected[w, i, j]), bool(got[w, i, j]),
            )
        )  # fmt: skip
        if limit is not None and len(out) >= limit:
            break
    return out
