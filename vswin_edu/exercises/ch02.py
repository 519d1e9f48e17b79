"""Chapter 2 exercises: the cost of global vs window attention (Swin Eq. 1-2, Video Swin Sec. 3.2).

2.1  MACs of window attention, ``Omega(W-MSA) = 4LC^2 + 2LNC``
2.2  the largest window (tokens per window) whose attention costs at most a given share of global MSA
"""

from __future__ import annotations

from collections.abc import Callable

from ..complexity import msa_macs, wmsa_macs
from ._core import Mismatch, exercise

# (L, C, N): a toy case first, then Swin-T's four stages at 32x224x224 with 8x7x7 windows.
_COST_CASES = [(8, 2, 4), (50_176, 96, 392), (12_544, 192, 392), (3_136, 384, 392), (784, 768, 392)]


@exercise(
    "2.1",
    "MACs of window attention: L tokens of C channels in windows of N tokens",
    hints=[
        "Count two parts. Projections: Q, K, V and the output projection are four C x C matrices "
        "applied to each of the L tokens. Attention: each query takes a dot product (C MACs) with "
        "every key of its window, then a weighted sum of as many values.",
        "Projections 4 L C^2; QK^T is L N C and (softmax)V another L N C, so "
        "Omega(W-MSA) = 4 L C^2 + 2 L N C. For global attention N is replaced by L.",
    ],
    solution="def my_wmsa_macs(L, C, N):\n    return 4 * L * C**2 + 2 * L * N * C",
)
def check_wmsa_macs(my_wmsa_macs: Callable[[int, int, int], int]) -> str:
    for L, C, N in _COST_CASES:
        expected = wmsa_macs(L, C, N)
        got = my_wmsa_macs(L, C, N)
        if got == expected:
            continue
        lines = [f"my_wmsa_macs(L={L}, C={C}, N={N}): expected 4LC^2 + 2LNC = {expected:,}, got {got!r}."]
        known = {
            2 * L * N * C: "only the attention products were counted; the Q, K, V and output "
            "projections add 4 L C^2 (they dominate when N is small).",
            msa_macs(L, C): "this is global attention, 4LC^2 + 2L^2C: with windows each query meets "
            "only the N keys of its window, not all L tokens.",
            4 * L * C * C + L * N * C: "only one of the two attention products was counted: QK^T costs "
            "L N C and multiplying the weights by V another L N C.",
            3 * L * C * C + 2 * L * N * C: "the output projection (one more C x C matrix per token) "
            "is missing: Q, K, V and out make 4 L C^2.",
            4 * L * C * C + 2 * L * N * N * C: "N^2 per token: one query meets N keys (N C MACs); "
            "the N^2 is per window, and there are L / N windows.",
        }
        if got in known:
            lines.append(f"Likely cause: {known[got]}")
        raise Mismatch("\n".join(lines))
    L, C, N = _COST_CASES[1]
    return (
        f"Swin-T stage 1 (L={L:,}, C={C}, N={N}): W-MSA {wmsa_macs(L, C, N) / 1e9:.2f} GMACs "
        f"vs MSA {msa_macs(L, C) / 1e9:.1f} GMACs per layer."
    )


def _largest_tokens(L: int, C: int, fraction: float) -> int:
    """Largest ``N`` in ``[0, L]`` with ``wmsa_macs(L, C, N) <= fraction * msa_macs(L, C)`` (bisection)."""
    budget = fraction * msa_macs(L, C)
    lo, hi = 0, L  # invariant: N = lo fits (or lo = 0), N = hi + 1 does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if wmsa_macs(L, C, mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


@exercise(
    "2.2",
    "largest window N such that W-MSA costs at most `fraction` of global MSA",
    hints=[
        "Write the condition 4LC^2 + 2LNC <= fraction * (4LC^2 + 2L^2C) and solve it for N. "
        "Keep the projection term: it is paid by both kinds of attention.",
        "Dividing by 2LC: N <= fraction * (2C + L) - 2C. Round down to an integer, and return 0 "
        "when even N = 1 is too expensive (then the projections alone exceed the budget).",
    ],
    solution=(
        "import math\n\n"
        "def largest_window_tokens(L, C, fraction):\n"
        "    n = math.floor(fraction * (2 * C + L) - 2 * C)\n"
        "    return max(0, min(L, n))"
    ),
)
def check_largest_window(largest_window_tokens: Callable[[int, int, float], int]) -> str:
    cases = [(1_000, 8, 0.5), (50_176, 96, 0.01), (50_176, 96, 0.05), (3_136, 96, 0.25), (64, 96, 0.5)]
    for L, C, fraction in cases:
        expected = _largest_tokens(L, C, fraction)
        got = largest_window_tokens(L, C, fraction)
        if got == expected:
            continue
        lines = [
            f"largest_window_tokens(L={L:,}, C={C}, fraction={fraction}): expected {expected}, got {got!r}."
        ]
        if got == int(fraction * L):
            lines.append(
                "Likely cause: the projection term 4LC^2 was dropped (N <= fraction * L). Both kinds of "
                "attention pay it, so the budget left for the attention products is smaller."
            )
        elif expected == 0:
            lines.append(
                f"Even N = 1 costs {wmsa_macs(L, C, 1) / msa_macs(L, C):.1%} of MSA here: with few tokens "
                "the projections dominate, no window fits the budget, and the answer is 0."
            )
        elif isinstance(got, int) and expected < got <= L:
            share = wmsa_macs(L, C, got) / msa_macs(L, C)
            lines.append(f"With N={got}, W-MSA costs {share:.4%} of MSA, above {fraction:.2%}: round down.")
        raise Mismatch("\n".join(lines))
    L, C = 50_176, 96
    return (
        f"Swin-T stage 1 (L={L:,}, C={C}): the paper's N = 8*7*7 = 392 costs "
        f"{wmsa_macs(L, C, 392) / msa_macs(L, C):.2%} of global attention."
    )
