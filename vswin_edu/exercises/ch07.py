"""Chapter 7 exercises: window attention and the block's attention half (paper Sec. 3.2, Eq. 1, Fig. 3).

7.1  ``SoftMax(QK^T / sqrt(d) + B) V`` for the windows of one batch, by hand
7.2  the attention half of a block: pad -> shift -> partition -> attend -> reverse -> unshift -> unpad
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..block import VideoSwinBlock
from ..shift import cyclic_shift, reverse_cyclic_shift, shifted_window_mask
from ..windows import effective_window, pad_to_window, window_partition, window_reverse
from ._core import Mismatch, exercise

# ---------------------------------------------------------------------------------------------- 7.1


def attention_variants(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The right attention (key ``"correct"``) and the usual slips, for ``(.., nH, N, d)`` inputs."""
    d = q.shape[-1]
    logits = q @ k.transpose(-2, -1)  # (.., nH, N, N)
    scaled = logits / d**0.5
    return {
        "correct": (scaled + bias).softmax(-1) @ v,
        "no 1/sqrt(d) scaling: divide the logits by sqrt(d) (the head dim) before the softmax": (
            (logits + bias).softmax(-1) @ v
        ),
        "dividing by d instead of sqrt(d)": (logits / d + bias).softmax(-1) @ v,
        "softmax over the queries (dim=-2); each query's weights over the keys (dim=-1) sum to 1": (
            (scaled + bias).softmax(-2) @ v
        ),
        "the relative position bias B is missing": scaled.softmax(-1) @ v,
        "B added after the softmax; it belongs to the logits, inside the softmax": (
            (scaled.softmax(-1) + bias) @ v
        ),
        "B transposed: bias[h, i, j] belongs to query i and key j": (
            (scaled + bias.transpose(-2, -1)).softmax(-1) @ v
        ),
    }


def _short(row: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in row[:3].tolist()) + ", ...]"


@exercise(
    "7.1",
    "window attention by hand",
    hints=[
        "Per head: logits = Q K^T / sqrt(d) (N x N), add the bias B of that head, softmax over the keys "
        "(the last dim), multiply by V.",
        "(q @ k.transpose(-2, -1) / d**0.5 + bias).softmax(dim=-1) @ v — the bias (nH, N, N) "
        "broadcasts over the windows.",
    ],
    solution="def my_attention(q, k, v, bias):\n"
    "    d = q.shape[-1]\n"
    "    logits = q @ k.transpose(-2, -1) / d**0.5 + bias   # (B*nW, nH, N, N)\n"
    "    return logits.softmax(dim=-1) @ v                  # (B*nW, nH, N, d)",
)
def check_attention(fn) -> str:
    """``fn(q, k, v, bias)`` with q, k, v ``(B*nW, nH, N, d)`` and bias ``(nH, N, N)``."""
    gen = torch.Generator().manual_seed(7)
    Bw, nH, N, d = 3, 2, 8, 16
    q, k, v = (torch.randn(Bw, nH, N, d, generator=gen) for _ in range(3))
    bias = torch.randn(nH, N, N, generator=gen)
    variants = attention_variants(q, k, v, bias)
    want = variants.pop("correct")
    got = fn(q.clone(), k.clone(), v.clone(), bias.clone())
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        raise Mismatch(f"expected an output (B*nW, nH, N, d) = {tuple(want.shape)}, got {shape}.")
    if torch.allclose(got, want, atol=1e-5):
        return f"{Bw} windows x {nH} heads of N={N} tokens, head dim d={d}."
    w, h, i = (int(v) for v in torch.nonzero(~torch.isclose(got, want, atol=1e-5))[0, :3])
    lines = [
        f"tested {Bw} windows x {nH} heads, N={N}, d={d}: window {w}, head {h}, query {i} gets "
        f"{_short(got[w, h, i])}, expected {_short(want[w, h, i])}",
    ]
    for cause, wrong in variants.items():
        if torch.allclose(got, wrong, atol=1e-5):
            lines.append(f"likely cause: {cause}.")
            break
    raise Mismatch("\n".join(lines))


# ---------------------------------------------------------------------------------------------- 7.2


def _keep(x: torch.Tensor, shift: tuple[int, int, int]) -> torch.Tensor:
    return x


def attention_half(
    block: VideoSwinBlock,
    x: torch.Tensor,
    *,
    pad_first: bool = True,
    masked: bool = True,
    unshift: int = 1,
    clamp: bool = True,
) -> torch.Tensor:
    """The block's (S)W-MSA on a normalised grid ``(B, D, H, W, C)`` — right, or with one chosen slip.

    ``pad_first=False`` rolls before padding; ``masked=False`` drops the shifted-window mask;
    ``unshift`` is +1 (roll back), 0 (forgotten) or -1 (rolled the same way twice);
    ``clamp=False`` ignores :func:`effective_window`.
    """
    B, D, H, W, _ = x.shape
    window, shift = effective_window((D, H, W), block.window_size, block.shift_size)
    if not clamp:
        window, shift = block.window_size, block.shift_size
    if pad_first:
        x = cyclic_shift(pad_to_window(x, window), shift)  # (B, Dp, Hp, Wp, C)
    else:
        x = pad_to_window(cyclic_shift(x, shift), window)  # (B, Dp, Hp, Wp, C)
    Dp, Hp, Wp = x.shape[1:4]
    mask = shifted_window_mask((Dp, Hp, Wp), window, shift) if masked and any(shift) else None
    out = block.attn(window_partition(x, window), mask=mask, window_size=window)  # (B*nW, N, C)
    x = window_reverse(out, window, B, Dp, Hp, Wp)  # (B, Dp, Hp, Wp, C)
    undo = {1: reverse_cyclic_shift, 0: _keep, -1: cyclic_shift}[unshift]
    if pad_first:
        return undo(x, shift)[:, :D, :H, :W]  # (B, D, H, W, C)
    return undo(x[:, :D, :H, :W], shift)  # (B, D, H, W, C)


_SLIPS: dict[str, dict] = {
    "pad after roll — pad to window multiples first, then roll: the mask's regions are laid out for "
    "the padded grid rolled as a whole, and rolling before padding leaves the wrapped pieces in front of "
    "the padding, where the mask does not expect them": {"pad_first": False},
    "the shifted-window mask is missing — pieces wrapped round by the roll attend to each other": {
        "masked": False
    },
    "the reverse shift is missing: roll the windows back (reverse_cyclic_shift) before cropping": {
        "unshift": 0
    },
    "rolled the same way twice: undo the shift with +shift (reverse_cyclic_shift), not -shift": {
        "unshift": -1
    },
    "the full window and shift were used on a small grid: clamp them with effective_window first": {
        "clamp": False
    },
}


def _block_cases() -> list[tuple[VideoSwinBlock, torch.Tensor]]:
    with torch.random.fork_rng():  # seeded weights without touching the learner's global RNG
        torch.manual_seed(7)
        block = VideoSwinBlock(8, 2, window_size=(2, 4, 4), shift_size=(1, 2, 2)).eval()
    gen = torch.Generator().manual_seed(70)
    grids = [(3, 5, 6), (2, 3, 6)]  # padding on every axis; then a grid smaller than the window in D, H
    return [(block, torch.randn(1, *dhw, 8, generator=gen)) for dhw in grids]


@exercise(
    "7.2",
    "the attention half of the block",
    hints=[
        "Order: window, shift = effective_window(...); pad_to_window; cyclic_shift; "
        "shifted_window_mask on the padded grid; window_partition; block.attn(windows, mask=..., "
        "window_size=window); window_reverse; reverse_cyclic_shift; crop to (D, H, W).",
        "Pad before you roll: the mask's regions are defined on the padded grid, and the padding must stay "
        "at the end of every axis after rolling back. Skip the mask when the shift is (0, 0, 0).",
    ],
    solution="def my_attention_half(block, x):\n"
    "    B, D, H, W, C = x.shape\n"
    "    window, shift = effective_window((D, H, W), block.window_size, block.shift_size)\n"
    "    x = cyclic_shift(pad_to_window(x, window), shift)             # (B, Dp, Hp, Wp, C)\n"
    "    Dp, Hp, Wp = x.shape[1:4]\n"
    "    mask = shifted_window_mask((Dp, Hp, Wp), window, shift) if any(shift) else None\n"
    "    out = block.attn(window_partition(x, window), mask=mask, window_size=window)\n"
    "    x = reverse_cyclic_shift(window_reverse(out, window, B, Dp, Hp, Wp), shift)\n"
    "    return x[:, :D, :H, :W]",
)
def check_attention_half(fn: Callable) -> str:
    """``fn(block, x)`` on a normalised grid must equal ``block.attention(x)``."""
    for block, x in _block_cases():
        dhw = tuple(x.shape[1:4])
        case = f"a grid {dhw} with window {block.window_size} and shift {block.shift_size}"
        with torch.no_grad():
            want = block.attention(x)
            try:
                got = fn(block, x.clone())
            except (RuntimeError, ValueError) as err:
                raise Mismatch(f"on {case} your code raised: {err}") from None
            if not isinstance(got, torch.Tensor) or got.shape != want.shape:
                shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                raise Mismatch(
                    f"on {case} expected {tuple(want.shape)}, got {shape}."
                    + (
                        "\nlikely cause: crop the padding off at the end."
                        if isinstance(got, torch.Tensor)
                        else ""
                    )
                )
            if torch.allclose(got, want, atol=1e-5):
                continue
            t, h, w = (int(v) for v in torch.nonzero(~torch.isclose(got, want, atol=1e-5))[0, 1:4])
            lines = [f"on {case} the first wrong token is (t, h, w) = {(t, h, w)}."]
            for cause, slip in _SLIPS.items():
                if torch.allclose(got, attention_half(block, x, **slip), atol=1e-5):
                    lines.append(f"likely cause: {cause}.")
                    break
            raise Mismatch("\n".join(lines))
    return "equal to VideoSwinBlock.attention on a padded grid and on a grid smaller than the window."
