"""vswin_edu.capstone (chapter 10): the learner's parts routed through the model, compared layer by layer
with torchvision; each known mistake is caught at the layer where it first acts; the heat strip, the
mistake explorer and the capstone exercises (14.x)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch.testing import assert_close

from vswin_edu import style
from vswin_edu.capstone import (
    KNOWN_WRONG,
    LIBRARY,
    NOT_ATTEMPTED,
    NOT_CALLED,
    PART_NAMES,
    YOURS,
    PartError,
    Parts,
    build_model,
    compare,
    layer_modules,
    torchvision_twin,
)
from vswin_edu.exercises import TODO, check, registry
from vswin_edu.exercises.ch07 import attention_half
from vswin_edu.exercises.ch10 import PARTS as CAPSTONE_EXERCISES
from vswin_edu.merging import merge_patches
from vswin_edu.model import build
from vswin_edu.patch import patch_partition
from vswin_edu.relpos import relative_position_index
from vswin_edu.shift import cyclic_shift, reverse_cyclic_shift, shifted_window_mask
from vswin_edu.viz import plot_layer_diffs
from vswin_edu.widgets import MistakeExplorer
from vswin_edu.windows import window_partition, window_reverse

# micro (window 4x4x4, shift 2) on 12x36x36: tokens 6x9x9 pad to 8x12x12 (H pads by 3, not by the
# shift 2, so padding after the roll shows), stage 1 is 6x5x5 -> 8x8x8; no spatial window shrinks,
# so torchvision (whose [:N, :N] bias slice is wrong only then) computes the same function
CLIP = (1, 3, 12, 36, 36)
# the library's functions with the signatures of the exercises (1.1 takes only the video)
REFERENCE_PARTS = Parts(
    patch_partition=lambda video: patch_partition(video),
    window_partition=window_partition,
    window_reverse=window_reverse,
    cyclic_shift=cyclic_shift,
    reverse_cyclic_shift=reverse_cyclic_shift,
    shifted_window_mask=shifted_window_mask,
    relative_position_index=relative_position_index,
    merge_patches=merge_patches,
)
FIRST_DIVERGENCE = {
    "flipped shift sign": "stage 0 block 1 attention",  # block 0 does not shift
    "inverted mask": "stage 0 block 1 attention",  # nor does it use a mask
    "wrong index multipliers": "stage 0 block 0 attention",  # every block adds the bias
    "pad after roll": "stage 0 block 1 attention",
    "wrong merge order": "stage 0 merging",
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Models this small run several times faster on one thread (no hand-offs between busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pair():
    """The micro model's random init and torchvision's SwinTransformer3d with the same weights."""
    torch.manual_seed(0)
    plain = build("micro", drop_path_rate=0.1).eval()
    return plain, torchvision_twin(plain)


@pytest.fixture(scope="module")
def clip():
    return torch.randn(CLIP, generator=torch.Generator().manual_seed(1))


def mine(pair, parts) -> torch.nn.Module:
    plain, _ = pair
    return build_model(parts, preset="micro", weights=plain.state_dict(), drop_path_rate=0.1).eval()


def test_the_library_model_and_torchvision_twin_agree(pair, clip):
    plain, tv = pair
    with torch.no_grad():
        assert_close(plain(clip), tv(clip), rtol=0, atol=1e-5)


@pytest.mark.parametrize("which", ["seven steps", "attention half"])
def test_reference_parts_reproduce_torchvision(pair, clip, which):
    parts = REFERENCE_PARTS if which == "seven steps" else {"attention_half": attention_half}
    model = mine(pair, parts)
    table = compare(model, pair[1], clip)
    assert table.ok and table.first_divergence is None and table.errors == [], str(table)
    with torch.no_grad():
        assert_close(model(clip), pair[1](clip), rtol=0, atol=1e-5)
    used = {name for name, status in model.parts.status.items() if status == YOURS}
    if which == "seven steps":
        assert used == set(PART_NAMES) - {"attention_half"}
    else:  # attention_half replaces the seven steps, so their parts are the library's
        assert used == {"attention_half"} and model.parts.status["cyclic_shift"] == LIBRARY
    assert [row.name for row in table.rows] == [name for name, _, _ in layer_modules(model)]
    assert len(table.rows) == 1 + 2 * 4 + 1 + 2  # patch_embed, 4 blocks x 2, merging, norm, head


def test_the_reference_solutions_of_the_capstone_exercises_are_parts(pair, clip, solution):
    parts = {part: solution(id) for id, (_, part) in CAPSTONE_EXERCISES.items() if part != "attention_half"}
    model = mine(pair, parts)
    assert compare(model, pair[1], clip).ok
    assert all(model.parts.status[p] == YOURS for p in parts)


@pytest.mark.parametrize("mistake", list(KNOWN_WRONG))
def test_each_known_mistake_is_caught_at_the_layer_where_it_first_acts(pair, clip, mistake):
    table = compare(mine(pair, KNOWN_WRONG[mistake]), pair[1], clip)
    assert table.first_divergence == FIRST_DIVERGENCE[mistake], str(table)
    names = [row.name for row in table.rows]
    before = names[: names.index(table.first_divergence)]
    assert all(table[name].close for name in before)
    assert table["head"].max_abs > 1e-4 and not table["head"].close  # the logits are wrong too
    assert f"first divergence: {FIRST_DIVERGENCE[mistake]}" in str(table)


def test_pad_after_roll_is_invisible_when_the_padding_equals_the_shift(pair):
    # 12x40x40: tokens 6x10x10 pad by 2 = the shift on every axis, so the wrapped pieces and the padding
    # swap places exactly: the first shifted block agrees, stage 1 (6x5x5 -> 8x8x8, pad 3) does not
    video = torch.randn(1, 3, 12, 40, 40, generator=torch.Generator().manual_seed(2))
    table = compare(mine(pair, KNOWN_WRONG["pad after roll"]), pair[1], video)
    assert table["stage 0 block 1 attention"].close
    assert table.first_divergence == "stage 1 block 1 attention"


def test_a_stub_returning_todo_falls_back_to_the_library(pair, clip):
    def my_cyclic_shift(x, shift):
        return TODO

    model = mine(pair, {"cyclic_shift": my_cyclic_shift, "shifted_window_mask": None, "merge_patches": TODO})
    assert model.parts.status["cyclic_shift"] == NOT_CALLED  # nothing ran yet
    table = compare(model, pair[1], clip)
    assert table.ok
    assert model.parts.status["cyclic_shift"] == NOT_ATTEMPTED
    assert model.parts.status["shifted_window_mask"] == model.parts.status["merge_patches"] == LIBRARY
    assert any("cyclic_shift" in line and "not attempted" in line for line in table.parts)
    assert "not attempted (returned TODO)" in str(table)


def test_a_part_that_raises_or_returns_the_wrong_shape_is_named(pair, clip):
    def broken(x, window_size):
        raise IndexError("oops")

    table = compare(mine(pair, {"window_partition": broken}), pair[1], clip)
    assert table.errors == ["model_a raised PartError: your window_partition raised IndexError: oops"]
    assert table.first_divergence == "stage 0 block 0 attention"
    assert table["patch_embed"].close and math.isnan(table["head"].max_abs)
    assert table["head"].note == "not reached"
    with pytest.raises(PartError, match=r"your merge_patches returned shape \(1, 6, 3, 3, 96\), expected"):
        with torch.no_grad():
            mine(pair, {"merge_patches": lambda x: merge_patches(x)[:, :, :3, :3, :96]})(clip)
    with pytest.raises(PartError, match="relative_position_index must return an integer tensor"):
        with torch.no_grad():
            mine(pair, {"relative_position_index": lambda w: relative_position_index(w).float()})(clip)
    with pytest.raises(PartError, match=r"outside the table's rows \[0, 343\)"):
        with torch.no_grad():
            mine(pair, {"relative_position_index": lambda w: relative_position_index(w) + 1})(clip)
    with pytest.raises(PartError, match="must be additive floats"):
        with torch.no_grad():
            mine(pair, {"shifted_window_mask": lambda *a: shifted_window_mask(*a) == 0})(clip)


def test_the_index_of_a_shrunken_window_is_read_off_the_full_one(pair):
    relpos = mine(pair, {"relative_position_index": relative_position_index}).stages[0].blocks[0].attn.relpos
    for window in [(4, 4, 4), (2, 4, 4), (4, 3, 2), (1, 1, 1), (3, 4, 1)]:
        assert torch.equal(relpos.index(window), relative_position_index(window, table_window=(4, 4, 4)))


def test_build_model_checks_its_arguments():
    with pytest.raises(ValueError, match=r"unknown name\(s\) \['mask'\]; the replaceable parts are"):
        build_model({"mask": shifted_window_mask}, preset="micro")
    with pytest.raises(TypeError, match=r"parts\['cyclic_shift'\] must be a function, got int"):
        build_model({"cyclic_shift": 3}, preset="micro")
    with pytest.raises(TypeError, match="parts must be a Parts, a mapping"):
        build_model([cyclic_shift], preset="micro")
    with pytest.raises(ValueError, match="fast: the capstone routes the readable path"):
        build_model(preset="micro", fast=True)
    with pytest.raises(ValueError, match="attention: the capstone builds joint"):
        build_model(preset="micro", attention="factorised")


def test_the_routed_model_keeps_its_state_dict(pair):
    plain, _ = pair
    model = mine(pair, REFERENCE_PARTS)
    assert list(model.state_dict()) == list(plain.state_dict())
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), plain.state_dict().values(), strict=True)
    )
    with pytest.raises(TypeError, match="must be a VideoSwinTransformer or torchvision"):
        layer_modules(torch.nn.Linear(2, 2))


def test_compare_restores_modes_and_refuses_different_architectures(pair, clip):
    plain, tv = pair
    model = mine(pair, None).train()
    compare(model, tv, clip)
    assert model.training and not tv.training
    with pytest.raises(ValueError, match="different layers"):
        compare(build("micro", depths=(2, 4), num_heads=(3, 6)), tv, clip)


def test_torchvision_twin_refuses_what_torchvision_cannot_build():
    with pytest.raises(ValueError, match="shift_size"):
        torchvision_twin(build("micro", shift_size=(2, 0, 0)))


# --- the capstone exercises ------------------------------------------------------------------------


def test_capstone_exercises_reuse_the_earlier_ones():
    exercises = registry()
    for id, (source, _) in CAPSTONE_EXERCISES.items():
        assert exercises[id].solution == exercises[source].solution
        assert (
            exercises[id].stub_named("f").splitlines()[0] == exercises[source].stub_named("f").splitlines()[0]
        )


@pytest.mark.parametrize("mistake", list(KNOWN_WRONG))
def test_capstone_exercises_give_the_earlier_diagnosis(mistake):
    ((part, wrong),) = KNOWN_WRONG[mistake].items()
    id = next(id for id, (_, p) in CAPSTONE_EXERCISES.items() if p == part)
    source = CAPSTONE_EXERCISES[id][0]
    mine_report, earlier = check(id, wrong, verbose=False), check(source, wrong, verbose=False)
    assert not mine_report.ok and mine_report.attempted
    assert str(earlier).splitlines()[2:] == str(mine_report).splitlines()[2:]  # the same diagnosis


def test_a_part_that_only_works_on_one_channel_fails_inside_the_model():
    def one_channel_shift(x, shift):  # passes 4.1 (its grids have C = 1), breaks on real tokens
        B, D, H, W, _ = x.shape
        rolled = torch.roll(x.reshape(B, D, H, W), tuple(-s for s in shift), dims=(1, 2, 3))
        return rolled.reshape(B, D, H, W, 1)

    assert check("4.1", one_channel_shift, verbose=False).ok
    report = check("10.3", one_channel_shift, verbose=False)
    assert not report.ok and "inside the model: your cyclic_shift raised RuntimeError" in str(report)


# --- the heat strip and the mistake explorer ---------------------------------------------------------


@pytest.fixture
def no_leaks():
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before, "a figure was left open in pyplot"


def _outlines(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_linewidth() == 3]


def test_plot_layer_diffs_one_and_many_columns(pair, clip, no_leaks):
    tables = {
        m: compare(mine(pair, KNOWN_WRONG[m]), pair[1], clip) for m in ("inverted mask", "wrong merge order")
    }
    tables = {"yours": compare(mine(pair, REFERENCE_PARTS), pair[1], clip), **tables}
    fig = plot_layer_diffs(tables["inverted mask"])
    fig.canvas.draw()
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and len(fig.axes) == 2  # the strip and its colour bar
    assert [t.get_text() for t in ax.get_yticklabels()] == [row.name for row in tables["yours"].rows]
    assert len(ax.texts) == len(tables["yours"].rows)
    hatched = [p for p in ax.patches if p.get_hatch() == "//"]
    assert len(hatched) == sum(not row.close for row in tables["inverted mask"].rows)
    (outline,) = _outlines(ax)
    names = [row.name for row in tables["yours"].rows]
    assert outline.get_y() == pytest.approx(names.index("stage 0 block 1 attention") - 0.48)
    assert "first divergence: stage 0 block 1 attention" in fig.get_suptitle()

    fig = plot_layer_diffs(tables)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(tables)
    assert len(_outlines(ax)) == 2  # "yours" has no divergence
    assert len(ax.texts) == 3 * len(names)
    try:
        style.lecture()
        assert plot_layer_diffs(tables).get_size_inches()[1] > fig.get_size_inches()[1]
    finally:
        style.lecture(False)


def test_plot_layer_diffs_marks_layers_not_reached_and_rejects_mixed_tables(pair, clip, no_leaks):
    table = compare(mine(pair, {"merge_patches": lambda x: x[..., :1]}), pair[1], clip)
    assert table.errors and table.first_divergence == "stage 0 merging"
    ax = plot_layer_diffs(table).axes[0]
    assert [t.get_text() for t in ax.texts].count("—") == 7  # the merging, stage 1's 4 rows, norm, head
    other = compare(build("micro", depths=(2, 2), num_heads=(3, 6)).eval(), pair[1], clip)
    short = type(other)(other.rows[:-1], None)
    with pytest.raises(ValueError, match="other layers"):
        plot_layer_diffs({"a": other, "b": short})
    with pytest.raises(TypeError, match="must be a Comparison"):
        plot_layer_diffs([other])


def test_mistake_explorer_follows_the_dropdown(pair, clip, no_leaks):
    explorer = MistakeExplorer(pair[1], clip, parts={"cyclic_shift": cyclic_shift}, drop_path_rate=0.1)
    assert explorer.state["first_divergence"] is None and explorer.state["replaced"] == []
    explorer.controls["mistake"].value = "wrong merge order"
    assert explorer.state["first_divergence"] == "stage 0 merging"
    assert explorer.state["replaced"] == ["merge_patches"] and explorer.state["logits_max_abs"] > 1e-4
    assert "first divergence: stage 0 merging" in explorer.readout.value and explorer.image.value
    explorer.controls["mistake"].value = "your parts"
    assert explorer.state["first_divergence"] is None
    with pytest.raises(ValueError, match="control 'mistake' must be one of"):
        explorer.controls["mistake"].value = "typo"
