"""Checkers of chapters 4-7: the intended diagnosis for every known-wrong implementation, and
other correct ones accepted.

(That every reference solution passes and every stub is "not attempted": test_exercises_core.py.)"""

from __future__ import annotations

import math

import pytest
import torch

from vswin_edu.exercises import check
from vswin_edu.exercises.ch05 import allowed_with_roll
from vswin_edu.exercises.ch06 import index_with_strides
from vswin_edu.exercises.ch07 import attention_half
from vswin_edu.relpos import relative_position_index, window_coords
from vswin_edu.shift import region_ids, shifted_window_mask
from vswin_edu.windows import pad_to_window, window_partition


def passes(id: str, answer) -> None:
    report = check(id, answer, verbose=False)
    assert report.ok, str(report)


# ---------------------------------------------------------------------------------------------- 4.x


def roll(sign: int, dims=(1, 2, 3)):
    return lambda x, shift: torch.roll(x, tuple(sign * s for s in shift), dims=dims)


def test_4_1_roll(diagnosis):
    passes("4.1", roll(-1))
    text = diagnosis("4.1", roll(+1))
    assert "rolled by +shift" in text and "token (0, 0, 0) should land at (3, 4, 3)" in text
    assert "landed at (1, 2, 3)" in text
    assert "wrong axes" in diagnosis("4.1", roll(-1, dims=(0, 1, 2)))
    assert "unchanged" in diagnosis("4.1", lambda x, shift: x)


def count(naive_extra, swap=False):
    def fn(dhw, window, shift):
        naive = cyclic = 1
        for L, w, s in zip(dhw, window, shift, strict=True):
            naive *= math.ceil((L - s) / w) + naive_extra(s)
            cyclic *= math.ceil(L / w)
        return (cyclic, naive) if swap else (naive, cyclic)

    return fn


def test_4_2_counts(diagnosis):
    passes("4.2", count(lambda s: s > 0))
    assert "243" in check("4.2", count(lambda s: s > 0), verbose=False).lines[-1]
    assert "one more (partial) window" in diagnosis("4.2", count(lambda s: 0))
    assert "swapped" in diagnosis("4.2", count(lambda s: s > 0, swap=True))

    def every(dhw, window, shift):  # the extra window on every axis, shifted or not
        pairs = list(zip(dhw, window, strict=True))
        return math.prod(math.ceil(L / w) + 1 for L, w in pairs), math.prod(
            math.ceil(L / w) for L, w in pairs
        )

    assert "axis whose shift is 0" in diagnosis("4.2", every)


def shifts(rule):
    return lambda depth, window: [rule(j, window) for j in range(depth)]


def test_4_3_timeline(diagnosis):
    half = lambda w: tuple(x // 2 for x in w)  # noqa: E731
    passes("4.3", shifts(lambda j, w: half(w) if j % 2 else (0, 0, 0)))
    assert "block 0 is regular" in diagnosis("4.3", shifts(lambda j, w: (0, 0, 0) if j % 2 else half(w)))
    assert "same shift" in diagnosis("4.3", shifts(lambda j, w: half(w)))
    assert "not the whole window" in diagnosis("4.3", shifts(lambda j, w: tuple(w) if j % 2 else (0, 0, 0)))
    ceil_half = lambda w: tuple(-(-x // 2) for x in w)  # noqa: E731
    assert "rounding up" in diagnosis("4.3", shifts(lambda j, w: ceil_half(w) if j % 2 else (0, 0, 0)))


# ---------------------------------------------------------------------------------------------- 5.x


def from_allowed(builder, masked=-100.0):
    return lambda d, w, s: torch.where(builder(d, w, s), torch.tensor(0.0), torch.tensor(masked))


def region_allowed(d, w, s):
    ids = window_partition(region_ids(d, w, s)[None, ..., None], w)[..., 0]
    return ids[:, :, None] == ids[:, None, :]


def test_5_1_mask(diagnosis):
    passes("5.1", from_allowed(region_allowed))
    passes("5.1", shifted_window_mask)
    inverted = diagnosis("5.1", from_allowed(lambda d, w, s: ~region_allowed(d, w, s)))
    assert "inverted mask" in inverted and "query (1, 2, 2) (region 0)" in inverted
    assert "-inf instead of -100" in diagnosis("5.1", from_allowed(region_allowed, masked=-math.inf))
    assert "only 0.0 and -100.0" in diagnosis("5.1", from_allowed(region_allowed, masked=-1e4))
    assert "boolean mask" in diagnosis("5.1", region_allowed)
    flipped = diagnosis("5.1", from_allowed(lambda d, w, s: allowed_with_roll(d, w, s, +1)))
    assert "flipped roll sign" in flipped and "window 0: query" in flipped
    assert "un-rolled grid" in diagnosis("5.1", from_allowed(lambda d, w, s: allowed_with_roll(d, w, s, 0)))
    no_shift = diagnosis("5.1", lambda d, w, s: shifted_window_mask(d, w, (0, 0, 0)))
    assert "nothing is masked" in no_shift and "must NOT attend" in no_shift
    assert "region ids" in diagnosis("5.1", lambda d, w, s: region_ids(d, w, s).float())


def add_mask_right(logits, mask):
    Bw, nH, N, _ = logits.shape
    nW = mask.shape[0]
    return (logits.view(Bw // nW, nW, nH, N, N) + mask[None, :, None]).view(Bw, nH, N, N)


def test_5_2_broadcast(diagnosis):
    passes("5.2", add_mask_right)
    assert "does not broadcast" in diagnosis("5.2", lambda logits, mask: logits + mask[:, None])
    order = diagnosis("5.2", lambda logits, mask: logits + mask.repeat_interleave(2, 0)[:, None])
    assert "wrong window order" in order and "should get mask[1], got mask[0]" in order
    transposed = diagnosis("5.2", lambda logits, mask: add_mask_right(logits, mask.transpose(-1, -2)))
    assert "transposed mask" in transposed
    assert "(B*nW, nH, N, N) = (8, 3, 5, 5)" in diagnosis(
        "5.2", lambda logits, mask: add_mask_right(logits, mask).view(2, 4, 3, 5, 5)
    )


def test_5_3_masked_pairs(diagnosis):
    def right(d, w, s):
        return int((shifted_window_mask(d, w, s) < 0).sum())

    passes("5.3", right)
    assert "count both" in diagnosis("5.3", lambda d, w, s: right(d, w, s) // 2)
    assert "MAY attend" in diagnosis("5.3", lambda d, w, s: int((shifted_window_mask(d, w, s) == 0).sum()))


# ---------------------------------------------------------------------------------------------- 6.x


def strides_index(strides_of):
    return lambda window: index_with_strides(window, strides_of(*window))


def test_6_1_index(diagnosis):
    passes("6.1", relative_position_index)
    passes("6.1", strides_index(lambda P, M, _: ((2 * M - 1) ** 2, 2 * M - 1, 1)))
    collide = diagnosis("6.1", strides_index(lambda P, M, _: (M * M, M, 1)))
    assert "not one-to-one" in collide and "wrong multipliers" in collide and "both map to index" in collide
    assert "wrong multipliers" in diagnosis("6.1", strides_index(lambda P, M, _: (2 * M - 1, 2 * M - 1, 1)))
    assert "key - query" in diagnosis("6.1", lambda window: relative_position_index(window).T)
    assert "integer tensor" in diagnosis("6.1", lambda window: relative_position_index(window).float())

    def unshifted(window):
        c = window_coords(window)
        M = window[1]
        rel = c[:, None] - c[None]
        return rel[..., 0] * (2 * M - 1) ** 2 + rel[..., 1] * (2 * M - 1) + rel[..., 2]

    text = diagnosis("6.1", unshifted)
    assert "negative index" in text and "expected index 13, got 0" in text


def test_6_2_shrunken_index(diagnosis):
    passes("6.2", lambda window, full: relative_position_index(window, table_window=full))
    sliced = lambda window, full: relative_position_index(full)[: math.prod(window), : math.prod(window)]  # noqa: E731
    assert "upstream [:N, :N] bug" in diagnosis("6.2", sliced)
    assert "small window's own offsets" in diagnosis(
        "6.2", lambda window, full: relative_position_index(window)
    )


def test_6_3_bias(diagnosis):
    def right(table, index):
        N = index.shape[0]
        return table[index.reshape(-1)].reshape(N, N, -1).permute(2, 0, 1)

    passes("6.3", right)
    no_permute = lambda table, index: table[index.reshape(-1)].reshape(table.shape[1], *index.shape)  # noqa: E731
    assert "permute(2, 0, 1)" in diagnosis("6.3", no_permute)
    assert "expected (nH, N, N)" in diagnosis(
        "6.3", lambda table, index: right(table, index).permute(1, 2, 0)
    )


# ---------------------------------------------------------------------------------------------- 7.x


def test_7_1_attention(diagnosis):
    def right(q, k, v, bias):
        return (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5 + bias).softmax(-1) @ v

    passes("7.1", right)
    assert "sqrt(d)" in diagnosis("7.1", lambda q, k, v, b: (q @ k.transpose(-2, -1) + b).softmax(-1) @ v)
    d_not_sqrt = lambda q, k, v, b: (q @ k.transpose(-2, -1) / q.shape[-1] + b).softmax(-1) @ v  # noqa: E731
    assert "instead of sqrt(d)" in diagnosis("7.1", d_not_sqrt)
    wrong_dim = lambda q, k, v, b: (q @ k.transpose(-2, -1) / 4 + b).softmax(-2) @ v  # noqa: E731
    assert "dim=-2" in diagnosis("7.1", wrong_dim)
    assert "bias B is missing" in diagnosis("7.1", lambda q, k, v, b: right(q, k, v, 0 * b))
    assert "transposed" in diagnosis("7.1", lambda q, k, v, b: right(q, k, v, b.transpose(-1, -2)))


@pytest.mark.parametrize(
    ("slip", "text"),
    [
        ({"pad_first": False}, "pad after roll"),
        ({"masked": False}, "mask is missing"),
        ({"unshift": 0}, "reverse shift is missing"),
        ({"unshift": -1}, "same way twice"),
        ({"clamp": False}, "effective_window"),
    ],
)
def test_7_2_known_slips(slip, text, diagnosis):
    assert text in diagnosis("7.2", lambda block, x: attention_half(block, x, **slip))


def test_7_2_attention_half(diagnosis):
    passes("7.2", attention_half)
    passes("7.2", lambda block, x: block.attention(x))
    uncropped = diagnosis("7.2", lambda block, x: block.attention(pad_to_window(x, (2, 4, 4))))
    assert "crop the padding" in uncropped


def test_checkers_leave_the_global_rng_alone():
    """A learner's seeded notebook must not change behaviour because a checker ran."""
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    for id in ("5.2", "6.3", "7.1", "7.2"):
        check(id, lambda *args: None, verbose=False)
    assert torch.equal(torch.rand(3), expected)
