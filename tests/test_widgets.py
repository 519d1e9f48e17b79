"""vswin_edu.widgets, kernel-side: setting a control updates state, figure and PNG synchronously;
errors propagate in strict mode and show in the readout; the mask debugger flags wrong masks at
exactly the wrong tokens; the cost explorer (chapter 2) and the state-dict browser (chapter 13)
follow their controls.

(The widgets of chapters 8-12, ShapeTracer and AttentionMapViewer, are tested in test_viz_part2.py;
the real-browser tests are in test_browser.py.)"""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from matplotlib.figure import Figure

from vswin_edu import style, viz
from vswin_edu.reference import mask_mismatches
from vswin_edu.shift import shifted_window_allowed, shifted_window_mask
from vswin_edu.widgets import (
    AttentionCostExplorer,
    AttentionExplorer,
    MaskDebugger,
    MaskedSoftmaxLab,
    RelPosExplorer,
    ShiftExplorer,
    StateDictBrowser,
    WindowExplorer,
)
from vswin_edu.widgets._base import READOUT_CLASS

pytestmark = pytest.mark.filterwarnings("error")  # a widget update must not warn either

GRID = dict(dhw=(4, 4, 4), window_size=(2, 2, 2), shift_size=(1, 1, 1))  # 8 windows of N=8


def snapshot(w):
    return dict(w.state), w.image.value, w.readout.value


def changed_by(w, name, value):
    before = snapshot(w)
    w.controls[name].value = value
    after = snapshot(w)
    assert w.state[name] == value and w.state["error"] is None
    assert after[1] != before[1], "the PNG did not change"
    assert bytes(w.image.value).startswith(b"\x89PNG")
    return before[0], after[0]


def test_every_widget_has_described_controls_a_readout_and_a_view():
    for w in (WindowExplorer(dhw=(2, 4, 4), window_size=(1, 2, 2)), RelPosExplorer()):
        assert w.controls and all(c.description for c in w.controls.values())
        assert READOUT_CLASS in w.readout._dom_classes
        assert w.figure is not None and w.image in w.widget.children and w.readout in w.widget.children
        bundle = w._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle


def test_lecture_mode_builds_bigger_widgets():
    from vswin_edu.widgets._base import LECTURE_CLASS

    normal = RelPosExplorer()
    try:
        style.lecture()
        big = RelPosExplorer()
    finally:
        style.lecture(False)
    assert LECTURE_CLASS in big.widget._dom_classes and LECTURE_CLASS not in normal.widget._dom_classes
    assert int(big.image.layout.width[:-2]) > int(normal.image.layout.width[:-2])
    assert "20px" in big.readout.value


def test_window_explorer_counts_windows():
    w = WindowExplorer(dhw=(2, 4, 4), window_size=(1, 2, 2))
    assert w.state["num_windows"] == 8 and w.state["tokens_per_window"] == 4
    _, after = changed_by(w, "M", 4)
    assert after["num_windows"] == 2 and after["window"] == (1, 4, 4)
    w.controls["frame"].value = 1
    assert len(w.figure.axes) == 1
    w.controls["T"].value = 1  # frame 1 no longer exists: back to "all"
    assert w.controls["frame"].value is None and w.state["num_windows"] == 1


def test_explorers_validate_their_starting_point():
    with pytest.raises(ValueError, match="equal H and W sides"):
        WindowExplorer(window_size=(2, 4, 3))
    with pytest.raises(ValueError, match="fit the sliders"):
        ShiftExplorer(dhw=(16, 56, 56))


def test_shift_explorer_compares_cyclic_and_padding():
    w = ShiftExplorer(dhw=(4, 4, 4), window_size=(2, 2, 2))
    assert (w.state["windows_cyclic"], w.state["windows_padding"]) == (8, 27)
    assert w.state["origin_lands_at"] == (3, 3, 3) and w.state["regions"] == 27
    assert "27 windows" in w.readout.value
    _, after = changed_by(w, "shift_t", False)
    assert after["shift"] == (0, 1, 1) and after["windows_padding"] == 18 and after["regions"] == 9
    for view in ("padding vs cyclic", "regions"):
        changed_by(w, "view", view)
    w.controls["T"].value = 2  # frame slider follows the grid
    assert w.controls["frame"].max == 1


def test_strict_widgets_raise_callback_errors_and_show_them(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    strict = WindowExplorer(dhw=(2, 4, 4), window_size=(1, 2, 2))
    lenient = WindowExplorer(dhw=(2, 4, 4), window_size=(1, 2, 2), strict=False)
    monkeypatch.setattr(viz, "plot_windows", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        strict.controls["M"].value = 4
    assert "drawing failed" in strict.readout.value and "drawing failed" in strict.state["error"]
    lenient.controls["M"].value = 4  # no raise ...
    assert "RuntimeError: drawing failed" in lenient.readout.value  # ... but the learner sees it
    assert "drawing failed" in lenient.state["error"]


def test_mask_debugger_locates_the_query():
    w = MaskDebugger(**GRID)
    s = w.state
    assert s["query"] == (0, 0, 0) and s["query_rolled"] == (3, 3, 3)
    assert (s["window_index"], s["token_index"], s["query_region"]) == (7, 7, 26)
    assert s["allowed_count"] == 1 and s["allowed_keys"] == [(0, 0, 0)]
    assert s["mismatches"] is None and s["first_mismatch"] is None
    assert w.mask_figure is not None and bytes(w.mask_image.value).startswith(b"\x89PNG")
    _, after = changed_by(w, "h", 2)  # an interior token: its window has no wrapped piece in h
    assert after["window"] == after["window_index"] == 5
    assert after["allowed_count"] == 2  # window 5 is split in t and w only: its region is 1x2x1
    # windows split on 0/1/2/3 axes have 1/2/4/8 regions: 64/32/16/8 allowed pairs of 64
    assert after["masked_pairs_window"] == 64 - 16
    assert after["masked_pairs_total"] == 8 * 64 - (64 + 3 * 32 + 3 * 16 + 8)
    w.controls["window"].value = 0  # picking a window moves the query into it
    assert w.state["window_index"] == 0 and w.state["query_rolled"] == (0, 0, 0)
    assert w.state["query"] == (1, 1, 1) and w.state["allowed_count"] == 8


def test_mask_debugger_mask_off_shows_the_pairs_the_mask_removes():
    w = MaskDebugger(**GRID)
    _, after = changed_by(w, "mask_on", False)
    assert after["allowed_count"] == 1  # the state keeps the correct answer ...
    title = w.figure._suptitle.get_text().replace("\n", " ")
    assert "may attend to 8 of 8" in title and "7 wrong keys" in title  # ... the picture shows the leak
    assert "wrong entries" in w.mask_figure._suptitle.get_text()
    assert "removes 56 of 64 pairs" in w.readout.value


def test_mask_debugger_flags_an_all_zeros_mask_at_exactly_the_forbidden_pairs():
    correct = shifted_window_allowed(*GRID.values())  # (nW, N, N)
    w = MaskDebugger(torch.zeros(8, 8, 8), **GRID)
    assert w.state["diff"] and w.state["mismatches"] == int((~correct).sum())
    first = w.state["first_mismatch"]
    assert not first.expected_allowed and first.got_allowed
    assert first.query_region != first.key_region
    assert "must NOT attend" in w.readout.value
    # for several queries, the wrong keys are exactly the keys of its window the correct mask forbids
    for query in [(0, 0, 0), (3, 3, 3), (1, 2, 0), (2, 1, 1)]:
        w.set(t=query[0], h=query[1], w=query[2])
        s = w.state
        window_keys = set(s["allowed_keys"]) | set(s["query_mismatches"])
        assert len(window_keys) == 8
        assert len(s["query_mismatches"]) == 8 - s["allowed_count"]
        assert not set(s["allowed_keys"]) & set(s["query_mismatches"])
    # and the diff figure draws the same number of wrong cells for the window shown
    hatched = sum(
        len(c.get_paths())
        for c in w.mask_figure.axes[0].collections
        if c.get_hatch() == style.WRONG_ALLOWED_HATCH
    )
    assert hatched == int((~correct[s["window_index"]]).sum())


def test_mask_debugger_accepts_callables_and_reports_foreign_tensors():
    w = MaskDebugger(shifted_window_mask, **GRID)
    assert w.state["mismatches"] == 0 and "correct" in w.readout.value
    w.controls["W"].value = 2  # the callable is re-run for the new grid
    assert w.state["mismatches"] == 0 and w.state["padded"] == (4, 4, 2)
    fixed = MaskDebugger(shifted_window_mask(*GRID.values()), **GRID)
    fixed.controls["W"].value = 2  # a tensor made for another grid: explained, not raised
    assert fixed.state["mismatches"] is None and "must have shape" in fixed.state["diff_error"]
    assert "cannot be compared" in fixed.readout.value
    with pytest.raises(TypeError, match="user_mask must be"):
        MaskDebugger([[0]])


def test_mask_debugger_propagates_errors_of_a_learners_mask_function():
    def learner(dhw, window_size, shift_size):
        if dhw[2] == 2:
            raise IndexError("my bug")
        return shifted_window_mask(dhw, window_size, shift_size)

    w = MaskDebugger(learner, **GRID)
    with pytest.raises(IndexError, match="my bug"):
        w.controls["W"].value = 2
    assert "my bug" in w.readout.value
    lenient = MaskDebugger(learner, **GRID, strict=False)
    lenient.controls["W"].value = 2
    assert "IndexError: my bug" in lenient.state["error"]


def test_mask_debugger_agrees_with_the_reference_on_a_one_slice_mask():
    # "4 regions are enough"? A mask that only separates the last slice per axis is wrong somewhere
    def two_slices(dhw, window_size, shift_size):
        mask = shifted_window_allowed(dhw, window_size, shift_size).clone()
        mask[:] = True
        return mask

    w = MaskDebugger(two_slices, **GRID)
    assert w.state["mismatches"] == len(mask_mismatches(two_slices, *GRID.values()))


def test_set_renders_once_and_rejects_unknown_controls():
    w = RelPosExplorer()
    renders = []
    w.render = lambda values, render=w.render: renders.append(1) or render(values)
    w.set(qt=0, qh=0, qw=0)
    assert len(renders) == 1 and w.state["offset"] == (0, 0, 0) and w.state["index"] == 25 + 2 * 5 + 2
    with pytest.raises(KeyError, match="unknown control"):
        w.set(depth=3)


def test_relpos_explorer_spells_out_the_index():
    w = RelPosExplorer()
    assert w.state["offset"] == (1, 1, 1) and w.state["shifted"] == (2, 3, 3)
    assert w.state["index"] == 2 * 25 + 3 * 5 + 3 and w.state["table_rows"] == 75
    _, after = changed_by(w, "kw", 2)
    assert after["offset"] == (1, 1, -1) and after["index"] == 2 * 25 + 3 * 5 + 1
    w.controls["M"].value = 2  # key/query sliders shrink with the window
    assert w.controls["kw"].max == 1 and w.state["table_rows"] == 27


def test_masked_softmax_lab_shows_leaks_and_nans():
    w = MaskedSoftmaxLab()
    assert w.state["masked_mass"] < 1e-30 and not w.state["has_nan"]
    _, after = changed_by(w, "scale", 1000.0)
    assert after["masked_mass"] > 0.5  # -100 no longer masks logits of size 1000
    w.controls["mask_value"].value = float("-inf")
    assert w.state["masked_mass"] == 0.0
    w.controls["fully_masked"].value = True
    assert w.state["has_nan"] and "NaN" in w.readout.value
    w.set(fully_masked=False, dtype="float16", scale=1e5)
    assert w.state["overflow"] and "overflow" in w.readout.value


def test_attention_explorer_weights_respect_the_mask():
    w = AttentionExplorer()
    assert w.state["allowed_keys"] == 4 and w.state["masked_mass"] < 1e-30
    assert abs(sum(w.figure.axes[0].images[0].get_array().sum() for _ in [0])) > 0
    _, after = changed_by(w, "shift", False)
    assert after["allowed_keys"] == 32 and after["masked_mass"] == 0.0
    changed_by(w, "head", 1)


# --- chapter 2: the attention-cost explorer ----------------------------------------------------


def test_attention_cost_explorer_updates_state_and_image():
    w = AttentionCostExplorer()
    assert w.state["grid"] == (16, 56, 56) and w.state["L"] == 50_176 and w.state["num_windows"] == 128
    assert w.state["msa_macs"] == 485_234_835_456 and w.state["wmsa_macs"] == 5_626_134_528
    image = w.image.value
    w.controls["frames"].value = 8  # 4 token frames: the 8-frame temporal window shrinks to 4
    assert w.state["grid"] == (4, 56, 56) and w.state["window"] == (4, 7, 7) and w.state["N"] == 196
    assert "4 x 56 x 56 = 12,544" in w.readout.value and w.image.value != image
    w.controls["width"].value = 48  # 12 columns: padded to 14 for M = 7
    assert w.state["L"] == 4 * 56 * 12 and w.state["L_padded"] == 4 * 56 * 14


def test_attention_cost_explorer_surfaces_callback_errors(monkeypatch):
    import vswin_edu.widgets.complexity as module

    w = module.AttentionCostExplorer()

    def broken(**kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(module, "plot_attention_cost", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        w.controls["height"].value = 112
    assert "drawing failed" in w.readout.value and "drawing failed" in w.state["error"]


# --- chapter 13: the state-dict browser ---------------------------------------------------------


def test_browser_follows_its_controls(micro_sd):
    browser = StateDictBrowser(micro_sd)
    assert browser.state["tensors"] == len(micro_sd) and browser.state["share"] == 1.0
    browser.controls["part"].value = "stage 1"
    assert browser.controls["block"].options == ("all", "block 0", "block 1")
    browser.controls["block"].value = "block 1"
    assert browser.state["tensors"] == 13 and "stage 1 / block 1: 13 tensors" in browser.readout.value
    browser.controls["names"].value = "torchvision"
    assert browser.state["rows"][0]["key"] == "features.2.1.norm1.weight"
    assert "features.2.1.mlp.0.weight" in browser.table.value
    browser.controls["part"].value = "patch_embed"  # block resets: patch_embed has no blocks
    assert browser.controls["block"].value == "all" and browser.state["tensors"] == 4
    assert browser.state["error"] is None and isinstance(browser.figure, Figure)


def test_browser_reads_other_layouts_and_long_tables():
    from torchvision.models.video.swin_transformer import SwinTransformer3d

    tv = SwinTransformer3d(
        patch_size=[2, 4, 4], embed_dim=16, depths=[2, 6], num_heads=[1, 2], window_size=[2, 2, 2]
    )
    browser = StateDictBrowser(tv.state_dict())  # torchvision layout, converted on the way in
    assert browser.controls["part"].options == ("all", "patch_embed", "stage 0", "stage 1", "norm + head")
    assert "more rows" in browser.table.value  # 119 tensors, 40 shown
