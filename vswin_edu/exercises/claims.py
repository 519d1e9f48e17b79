"""Numbers the chapters' prose states, recomputed: ``claim("485 GMACs", value)`` (honest prose).

A sentence such as "one global attention layer costs about **485 GMACs**" is only true while the
code agrees.  The cell below such a sentence states the same text again and the value it stands
for::

    # NBVAL_CHECK_OUTPUT
    claim("485 GMACs", msa_macs(50_176, 96) / 1e9)     # ✔ "485 GMACs" = 485.2

:func:`claim` reads the number(s) out of the text and checks the value against them, to the
precision the text gives (``485`` means 484.5 ... 485.5), or within ``tol`` / ``rel``.  A mismatch
raises :class:`ClaimError`, so the chapter stops there when it is re-executed.  Cells of claims
carry the tag ``claims`` and import what they use: ``tests/test_claims.py`` runs each one on its
own against the current library, checks that its printout is the stored (nbval-checked) output,
and that every claimed text stands word for word in the chapter's markdown.  Text and numbers
cannot drift apart silently.

Text forms understood: ``485``, ``5.63``, ``50,176`` and LaTeX ``50{,}176`` (thousands), ``-0.5``;
units and words around the numbers are ignored.  A text with several numbers
(``"49 of the 128 windows"``) takes a tuple of values, one per number, in order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = ["PAPER", "ClaimError", "claim", "stated_numbers"]

# a number as prose writes it: optional sign, digits with thousands separators (',' or LaTeX '{,}'),
# optional decimals.  Not a number: part of a word or name (x3, top-1, 10^5) or of a unit-like word
# (3D, 2C, 4C), but a magnitude suffix stays allowed (28.2M, 9.5k, 88G).
_START = r"(?<![\w.^\-−])(?:(?<![\w.^])[-−])?"
_END = r"(?![\d^]|[A-FH-JLN-Za-jl-z])"
_NUMBER = re.compile(_START + r"(?:\d{1,3}(?:(?:,|\{,\})\d{3})+|\d+)(?:\.\d+)?" + _END)


# The paper's numbers the chapters quote, in one place (Liu et al., CVPR 2022; Tables 1, 4-7, Sec. 4.1),
# so a chapter claims e.g. claim("78.8", PAPER["t.top1"]) instead of retyping them.
PAPER: dict[str, float] = {
    # Table 1/7: parameters (M), GMACs at 32x224^2, Kinetics-400 top-1 (%)
    "t.params_m": 28.2, "t.gmacs": 88, "t.top1": 78.8,
    "s.params_m": 49.8, "s.gmacs": 166, "s.top1": 80.6,
    "b.params_m": 88.1, "b.gmacs": 282, "b.top1": 80.6,  # ImageNet-1K pre-training (82.7 from IN-21K)
    "l.params_m": 197, "l.gmacs": 604,
    # Sec. 4.3 ablations on Swin-T, K400 top-1 (%) and GMACs
    "attention.joint": 78.8, "attention.split": 76.4, "attention.factorised": 78.5,
    "window16.top1": 79.1, "window16.gmacs": 106, "window8.top1": 78.8, "window8.gmacs": 88,
    "window4.top1": 78.6, "window4.gmacs": 79,
    "shift.3d": 78.8, "shift.no_temporal": 78.5, "shift.none": 78.1,
    # torchvision's swin3d_t Kinetics-400 weights (its own evaluation), top-1 (%)
    "torchvision.swin3d_t.top1": 77.715,
}  # fmt: skip


class ClaimError(Exception):
    """The chapter's text states a number that its cell does not compute."""


def stated_numbers(text: str) -> list[tuple[float, int]]:
    """The numbers in ``text`` as ``(value, decimals)``.

    ``"39.9 of 87.3 GMACs"`` -> ``[(39.9, 1), (87.3, 1)]``; ``"top-1 with 3D windows"`` -> ``[]``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    found = []
    for match in _NUMBER.finditer(text):
        raw = match.group().replace("{,}", "").replace(",", "").replace("−", "-")
        decimals = len(raw.partition(".")[2])
        found.append((float(raw), decimals))
    return found


def _format(value: float, decimals: int) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.{decimals + 1}f}"


def claim(
    stated: str,
    value: float | Sequence[float],
    *,
    tol: float | None = None,
    rel: float | None = None,
    verbose: bool = True,
) -> None:
    """Check that ``value`` is the number the prose ``stated``; print ``✔`` or raise :class:`ClaimError`.

    Args:
        stated: the claim exactly as the markdown writes it, e.g. ``"485 GMACs"`` or
            ``"39.9 of 87.3 GMACs"`` (units and words are ignored, the numbers are read off).
        value: the computed number, in the text's unit (divide by ``1e9`` for GMACs yourself);
            a tuple with one value per number when the text holds several.
        tol: allowed absolute difference; default half a unit of the text's last digit
            (``"5.6"`` allows 5.55 ... 5.65), so the text is the value correctly rounded.
        rel: allowed relative difference instead (``rel=0.05`` for "about").
        verbose: print the ``✔`` line (what nbval checks).
    """
    numbers = stated_numbers(stated)
    if not numbers:
        raise ValueError(f"stated must contain a number, got {stated!r}")
    values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    if len(values) != len(numbers):
        raise ValueError(
            f"stated {stated!r} holds {len(numbers)} number(s) {[n for n, _ in numbers]}, "
            f"so value needs as many, got {len(values)}: {values!r}"
        )
    for name, bound in (("tol", tol), ("rel", rel)):
        if bound is not None and not (isinstance(bound, int | float) and bound >= 0 and math.isfinite(bound)):
            raise ValueError(f"{name} must be a finite number >= 0 or None, got {bound!r}")
    if tol is not None and rel is not None:
        raise ValueError("give tol or rel, not both")
    shown = []
    for got, (expected, decimals) in zip(values, numbers, strict=True):
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise TypeError(f"value must be a number (or a tuple of numbers), got {got!r}") from None
        if rel is not None:
            allowed = rel * abs(expected)
        elif tol is not None:
            allowed = tol
        else:
            allowed = 0.5 * 10.0**-decimals
        if not abs(got - expected) <= allowed * (1 + 1e-9):
            raise ClaimError(
                f"the text says {stated!r}, but the cell computes {_format(got, decimals)} "
                f"(allowed: {expected:g} ± {allowed:g}) — fix the markdown or the computation"
            )
        shown.append(_format(got, decimals))
    if verbose:
        print(f"✔ {stated!r} = {', '.join(shown)}")
