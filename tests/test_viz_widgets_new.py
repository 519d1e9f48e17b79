"""The architecture figure (chapters 1, 7), the parity explorer (chapter 9), the training dashboard
(chapter 11), the receptive-field flood fill (chapter 12) and the mask-group explorer (appendix 14):
every new figure renders with no overlapping or cut-off text, and every widget follows its controls
kernel-side and raises in strict mode."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import warnings

import matplotlib.pyplot as plt
import pytest
import torch
from legibility import legibility_problems, text_boxes
from matplotlib.figure import Figure

from vswin_edu import style
from vswin_edu.complexity import stage_table
from vswin_edu.convert import from_torchvision, load_state_dict_strict
from vswin_edu.data import MovingShapes
from vswin_edu.fast import shifted_window_groups
from vswin_edu.geometry import window_ids
from vswin_edu.model import VideoSwinTransformer, video_swin_micro
from vswin_edu.shift import shifted_window_mask
from vswin_edu.viz import (
    ARCHITECTURE_KINDS,
    PARITY_TOL,
    collect_predictions,
    compare_layers,
    confusion_matrix,
    layer_pairs,
    mask_group_ids,
    plot_architecture,
    plot_confusion_matrix,
    plot_layer_parity,
    plot_mask_groups,
    plot_training_dashboard,
    receptive_field,
)
from vswin_edu.widgets import (
    LayerParityExplorer,
    MaskGroupExplorer,
    ReceptiveFieldExplorer,
    TrainingDashboard,
)
from vswin_edu.widgets import dashboard as dashboard_widget
from vswin_edu.widgets import mask_groups as mask_groups_widget
from vswin_edu.widgets import parity as parity_widget
from vswin_edu.widgets import receptive_field as receptive_widget

CLASSES = ["left", "right", "up", "down"]
ROWS = [
    {"step": 10, "train_loss": 1.3, "val_loss": 1.2, "val_acc": 0.4},
    {"step": 20, "train_loss": 0.8, "val_loss": 0.9, "val_acc": 0.6},
]


@pytest.fixture(autouse=True)
def no_warnings_no_leaks():
    open_before = plt.get_fignums()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    assert plt.get_fignums() == open_before, "a viz function left a pyplot figure open"


def break_drawing(monkeypatch, module, drawer: str, strict, lenient, control: str, value) -> None:
    """Make ``module.drawer`` (the viz function a widget calls) fail, then move ``control`` to
    ``value`` in both widgets: the strict one raises; the lenient one carries on (callers check
    that it shows the error)."""

    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(module, drawer, broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        strict.controls[control].value = value
    lenient.controls[control].value = value


def legible(fig: Figure) -> Figure:
    """``fig``, after checking that no drawn text overlaps another or falls off the figure."""
    assert isinstance(fig, Figure)
    problems = legibility_problems(fig)
    assert problems == [], "\n".join(problems)
    return fig


def all_text(fig: Figure) -> str:
    return "\n".join(text for text, _ in text_boxes(fig))


def test_the_overlap_check_catches_overlapping_text():
    fig, ax = plt.subplots()
    plt.close(fig)
    ax.text(0.5, 0.5, "first label")
    ax.text(0.5, 0.5, "second label")
    assert [p.split(" by ")[0] for p in legibility_problems(fig)] == ["'first label' overlaps 'second label'"]


# ----- architecture (chapters 1 and 7) ----------------------------------------------------------


@pytest.mark.parametrize(
    "config, thw", [("t", (32, 224, 224)), ("micro", (16, 32, 32)), ("b", (8, 112, 112))]
)
def test_architecture_figure_shows_live_shapes_without_overlaps(config, thw):
    fig = legible(plot_architecture(config, thw))
    text = all_text(fig)
    for row in stage_table(config, thw):
        D, H, W = row.grid
        assert f"{D}×{H}×{W} × {row.channels}" in text  # the stage's token grid and channels
        assert f"block ×{row.depth}" in text and f"{row.heads} heads" in text
        assert "win {}×{}×{}".format(*row.window) in text and "shift {}×{}×{}".format(*row.shift) in text
    assert "W-MSA" in text and "SW-MSA" in text and "MLP" in text and "LN" in text
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [label for _, label in ARCHITECTURE_KINDS.values()]


def test_architecture_figure_for_swin_t_at_the_papers_clip():
    fig = plot_architecture("t", (32, 224, 224))
    text = all_text(fig)
    # stage 4 of Swin-T on 32x224^2: 16x7x7 tokens, the spatial shift clamps to 0 (chapter 9)
    assert "16×7×7 × 768" in text and "shift 4×0×0" in text
    assert "16×56×56 × 96" in text and "28.2M parameters" in text
    assert len(fig.axes) == 2


def test_architecture_figure_takes_a_config_or_a_model_and_stays_legible_in_lecture_mode():
    small = plot_architecture(video_swin_micro(), (16, 32, 32))
    try:
        style.lecture()
        big = legible(plot_architecture("micro", (16, 32, 32)))
    finally:
        style.lecture(False)
    assert big.get_figwidth() > small.get_figwidth()


def test_architecture_figure_rejects_bad_arguments():
    with pytest.raises(ValueError, match="preset name"):
        plot_architecture("xl")
    with pytest.raises(TypeError, match="config must be"):
        plot_architecture(42)
    with pytest.raises(ValueError, match="video_thw"):
        plot_architecture("t", (32, 224))


# ----- parity explorer (chapter 9) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def twins():
    """A tiny torchvision SwinTransformer3d and our model with the same weights."""
    from torchvision.models.video.swin_transformer import SwinTransformer3d

    torch.manual_seed(0)
    tv = SwinTransformer3d(
        patch_size=[2, 4, 4], embed_dim=16, depths=[2, 2, 2], num_heads=[2, 2, 4], window_size=[4, 4, 4],
        stochastic_depth_prob=0.0, num_classes=5,
    ).eval()  # fmt: skip
    with torch.no_grad():  # trained-size biases (init std 0.02 would make the upstream bug tiny)
        for name, p in tv.named_parameters():
            if name.endswith("relative_position_bias_table"):
                p.normal_(std=0.5)
    ours = VideoSwinTransformer((2, 4, 4), 16, (2, 2, 2), (2, 2, 4), (4, 4, 4), 5, drop_path_rate=0.0)
    return load_state_dict_strict(ours, from_torchvision(tv)).eval(), tv


def clip(*thw: int) -> torch.Tensor:
    return torch.randn(1, 3, *thw, generator=torch.Generator().manual_seed(1))


def test_layer_pairs_name_both_models_in_forward_order(twins):
    ours, tv = twins
    pairs = layer_pairs(ours)
    assert [p[0] for p in pairs][:4] == [
        "patch_embed",
        "stages.0.blocks.0",
        "stages.0.blocks.1",
        "stages.0.downsample",
    ]
    assert [p[1] for p in pairs][:4] == ["patch_embed", "features.0.0", "features.0.1", "features.1"]
    assert pairs[-2:] == [("norm", "norm", "final norm", "norm"), ("head", "head", "head (logits)", "head")]
    tv_modules = dict(tv.named_modules())
    assert all(tv_name in tv_modules for _, tv_name, _, _ in pairs)
    with pytest.raises(TypeError, match="VideoSwinTransformer"):
        layer_pairs(tv)


def test_every_layer_agrees_when_no_window_shrinks_in_space(twins):
    records = compare_layers(*twins, clip(8, 64, 64))  # grids 4x16x16, 4x8x8, 4x4x4: windows fit
    assert all(r.exact for r in records), [(r.label, r.max_abs_diff) for r in records]
    block = records[2]
    assert block.name == "stages.0.blocks.1" and block.kind == "SW-MSA block"
    assert block.in_shape == block.out_shape == (1, 4, 16, 16, 16)
    assert block.window == (4, 4, 4) and block.shift == (0, 2, 2)  # D = P = 4: no temporal shift
    assert records[-1].out_shape == (1, 5)


def test_the_first_difference_is_where_the_window_shrinks_in_space(twins):
    records = compare_layers(*twins, clip(8, 32, 32))  # stage 3 grid 4x2x2 < window 4x4x4 in space
    first = next(r for r in records if not r.exact)
    assert first.name == "stages.2.blocks.0" and first.window == (4, 2, 2) and first.shift == (0, 0, 0)
    assert all(r.exact for r in records[: records.index(first)])
    assert first.max_abs_diff > 10 * PARITY_TOL
    assert first.diff.shape == first.out_shape and float(first.diff.max()) == first.max_abs_diff


def test_parity_figure_marks_the_selected_layer(twins):
    records = compare_layers(*twins, clip(8, 32, 32))
    bars_only = legible(plot_layer_parity(records))
    assert len(bars_only.axes) == 1
    fig = legible(plot_layer_parity(records, selected="stages.2.blocks.0"))
    assert len(fig.axes) == 3  # bars, difference map, colour bar
    bold = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_fontweight() == "bold"]
    assert bold == ["stage 3 block 1 W-MSA"]
    assert "first difference: stage 3 block 1 W" in fig._suptitle.get_text()
    head = legible(plot_layer_parity(records, selected=len(records) - 1))
    assert head.axes[1].get_xlabel() == "class"
    with pytest.raises(ValueError, match="layer names"):
        plot_layer_parity(records, selected="stages.9")
    with pytest.raises(ValueError, match="layer index"):
        plot_layer_parity(records, selected=len(records))
    with pytest.raises(TypeError, match="LayerParity"):
        plot_layer_parity([])


def test_parity_explorer_follows_its_controls(twins):
    w = LayerParityExplorer(*twins, {"8x64x64": clip(8, 64, 64), "8x32x32": clip(8, 32, 32)})
    assert w.state["layer"] == "stages.0.blocks.0" and w.state["tv_name"] == "features.0.0"
    assert w.state["first_difference"] is None and w.state["agree"] == len(layer_pairs(twins[0]))
    assert "every layer agrees" in w.readout.value
    before = bytes(w.image.value)
    w.controls["clip"].value = "8x32x32"
    assert w.state["first_difference"] == "stage 3 block 1 W-MSA" and bytes(w.image.value) != before
    w.controls["layer"].value = "stages.2.blocks.0"
    assert w.state["window"] == (4, 2, 2) and w.state["exact"] is False
    assert "DIFFER" in w.readout.value and "features.4.0" in w.readout.value
    w.set(clip="8x64x64", layer="stages.1.downsample")
    assert w.state["out_shape"] == (1, 4, 4, 4, 64) and w.state["window"] is None and w.state["exact"]
    assert set(w._cache) == {"8x64x64", "8x32x32"}  # each clip compared once


def test_parity_explorer_raises_in_strict_mode_and_shows_the_error(twins, monkeypatch):
    strict = LayerParityExplorer(*twins, clip(8, 64, 64))
    lenient = LayerParityExplorer(*twins, clip(8, 64, 64), strict=False)
    assert strict.state["clip"] == "8x64x64"

    break_drawing(monkeypatch, parity_widget, "plot_layer_parity", strict, lenient, "layer", "norm")
    assert "RuntimeError: drawing failed" in lenient.readout.value
    with pytest.raises(TypeError, match="videos must be"):
        LayerParityExplorer(*twins, {})
    with pytest.raises(ValueError, match="not in videos"):
        LayerParityExplorer(*twins, {"a": clip(8, 64, 64)}, precomputed={"b": []})


def test_parity_explorer_reuses_precomputed_comparisons(twins, monkeypatch):
    video = clip(8, 32, 32)
    records = compare_layers(*twins, video)

    def never(*args, **kwargs):
        raise AssertionError("compared again")

    monkeypatch.setattr(parity_widget, "compare_layers", never)
    w = LayerParityExplorer(*twins, {"small": video}, precomputed={"small": records})
    assert w.state["record"] is records[1] and w.state["first_difference"] == "stage 3 block 1 W-MSA"


# ----- training dashboard (chapter 11) ------------------------------------------------------------


def test_confusion_matrix_counts_true_against_predicted():
    matrix = confusion_matrix(torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 1, 2, 0]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]), 2)
    with pytest.raises(ValueError, match=r"predictions must be class indices in \[0, 2\)"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 2]), 2)
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix(torch.tensor([0]), torch.tensor([0]), 0)


@pytest.fixture(scope="module")
def run():
    torch.manual_seed(0)
    model = video_swin_micro(num_classes=len(CLASSES)).eval()
    val = MovingShapes(12, frames=8, size=16, classes=CLASSES, seed=1)
    return model, val


def test_predictions_are_the_models_argmax(run):
    model, val = run
    labels, predictions = collect_predictions(model, val, batch_size=5)
    assert labels.tolist() == [i % len(CLASSES) for i in range(12)]
    with torch.no_grad():
        expected = model(torch.stack([val[i][0] for i in range(12)])).argmax(-1)
    assert torch.equal(predictions, expected)
    with pytest.raises(ValueError, match="batch_size"):
        collect_predictions(model, val, batch_size=0)


def test_confusion_and_dashboard_figures_render_legibly(run):
    model, val = run
    matrix = confusion_matrix(*collect_predictions(model, val), len(CLASSES))
    fig = legible(plot_confusion_matrix(matrix, CLASSES, selected=1))
    cells = [t.get_text() for t in fig.axes[0].texts]
    assert len(cells) == 16 and sum(map(int, cells)) == 12
    clips = [val[i][0] for i in (1, 5)]
    dash = legible(plot_training_dashboard(ROWS, matrix, CLASSES, 1, clips, ["clip 1", "clip 5"]))
    assert len(dash.axes) == 3 + 1 + 2 * 8  # curves, confusion, colour bar, 8 frames per clip
    assert "final validation accuracy 60.0%" in dash._suptitle.get_text()
    legible(plot_training_dashboard(ROWS, matrix, CLASSES))  # no class, no clips
    with pytest.raises(ValueError, match="class_names must name the 4 classes"):
        plot_confusion_matrix(matrix, CLASSES[:3])
    with pytest.raises(ValueError, match="at most 4 clips"):
        plot_training_dashboard(ROWS, matrix, CLASSES, 0, [val[0][0]] * 5)
    with pytest.raises(ValueError, match="selected must be a class index"):
        plot_training_dashboard(ROWS, matrix, CLASSES, 7)
    with pytest.raises(TypeError, match="History.rows"):
        plot_training_dashboard({}, matrix, CLASSES)


def test_dashboard_follows_its_controls(run):
    model, val = run
    w = TrainingDashboard(ROWS, model, val)
    labels, predictions = collect_predictions(model, val)
    assert torch.equal(w.state["matrix"], confusion_matrix(labels, predictions, len(CLASSES)))
    assert w.state["cls"] == 0 and w.state["shown"] == [0, 4, 8] and w.state["class_total"] == 3
    assert w.state["final_val_acc"] == 0.6
    w.controls["cls"].value = 2
    assert w.state["shown"] == [2, 6, 10]
    assert w.state["shown_predictions"] == [CLASSES[int(predictions[i])] for i in (2, 6, 10)]
    right = int((predictions[labels == 2] == 2).sum())
    assert w.state["class_correct"] == right and f"{right} of 3 validation clips right" in w.readout.value
    w.controls["clips"].value = 1
    assert len(w.state["shown"]) == 1 and len(w.figure.axes) == 4 + 8
    w.controls["mistakes"].value = True
    wrong = [i for i in (2, 6, 10) if int(predictions[i]) != 2]
    assert w.state["shown"] == wrong[:1]
    if not wrong:
        assert "no mistakes" in w.readout.value
    with pytest.raises(ValueError, match="control 'cls' must be one of"):
        w.set(cls=9)


def test_dashboard_raises_in_strict_mode(run, monkeypatch):
    model, val = run
    strict, lenient = TrainingDashboard(ROWS, model, val), TrainingDashboard(ROWS, model, val, strict=False)

    break_drawing(monkeypatch, dashboard_widget, "plot_training_dashboard", strict, lenient, "cls", 1)
    assert "drawing failed" in lenient.state["error"]
    with pytest.raises(ValueError, match="class_names"):
        TrainingDashboard(ROWS, model, [(val[0][0], 0)])


# ----- receptive-field flood fill (chapter 12) ----------------------------------------------------


def test_receptive_field_explorer_matches_the_exact_flood_fill():
    w = ReceptiveFieldExplorer()  # 8x8x8 grid, window 4x4x4, token (3, 3, 3), 2 blocks, 3D shift
    expected = receptive_field((8, 8, 8), (4, 4, 4), (2, 2, 2), 2, (3, 3, 3))
    assert torch.equal(w.state["reached_at"], expected)
    assert w.state["reached"] == [1, 64, int((expected >= 0).sum())] and w.state["total"] == 512
    assert [kind for kind, _, _ in w.state["blocks"]] == ["W", "SW"]
    legible(w.figure)


SMALL_RF = dict(dhw=(4, 4, 4), window_size=(2, 2, 2), start=(1, 1, 1))  # 8 windows: fast to draw


def test_receptive_field_explorer_shift_switches():
    w = ReceptiveFieldExplorer(**SMALL_RF)
    both = w.state["reached"][-1]
    w.controls["temporal"].value = False
    assert w.state["shift"] == (0, 1, 1)
    assert torch.equal(w.state["reached_at"], receptive_field((4, 4, 4), (2, 2, 2), (0, 1, 1), 2, (1, 1, 1)))
    spatial_only = w.state["reached"][-1]
    w.controls["spatial"].value = False
    assert w.state["shift"] == (0, 0, 0) and w.state["reached"] == [1, 8, 8]  # never leaves its window
    assert 8 < spatial_only < both
    w.set(temporal=True, spatial=True, blocks=4)
    assert w.state["reached"][-1] == 64 and "every token of the grid is reached" in w.readout.value


def test_receptive_field_explorer_follows_the_grid_and_reports_clamping():
    w = ReceptiveFieldExplorer(dhw=(4, 4, 4), window_size=(4, 2, 2), start=(3, 1, 1))
    w.controls["T"].value = 2  # start t = 3 no longer fits: clamped to 1; window and shift clamp in time
    assert w.state["t"] == 1 and w.controls["t"].max == 1
    assert w.state["blocks"][1] == ("SW", (2, 2, 2), (0, 1, 1))
    assert "clamped" in w.readout.value
    w.controls["blocks"].value = 0
    assert w.state["reached"] == [1] and w.state["fraction"] == 1 / 32
    with pytest.raises(ValueError, match="num_blocks"):
        ReceptiveFieldExplorer(num_blocks=9)
    with pytest.raises(ValueError, match="start must be"):
        ReceptiveFieldExplorer(start=(8, 0, 0))


def test_receptive_field_explorer_raises_in_strict_mode(monkeypatch):
    strict, lenient = ReceptiveFieldExplorer(**SMALL_RF), ReceptiveFieldExplorer(**SMALL_RF, strict=False)

    break_drawing(monkeypatch, receptive_widget, "plot_receptive_field", strict, lenient, "blocks", 3)
    assert "RuntimeError: drawing failed" in lenient.readout.value


# ----- mask groups (appendix 14) ------------------------------------------------------------------


def test_mask_groups_are_the_windows_sharing_one_mask():
    dhw, window, shift = (4, 12, 12), (2, 4, 4), (1, 2, 2)
    group, sizes, all_zero = mask_group_ids(dhw, window, shift)
    assert sizes == shifted_window_groups(dhw, window, shift).sizes == (4, 2, 2, 1, 4, 2, 2, 1)
    assert all_zero == [True] + [False] * 7
    mask = shifted_window_mask(dhw, window, shift)  # (nW, N, N)
    ids = window_ids(dhw, window)
    for g in range(len(sizes)):  # every window of a group has the same mask, other groups another one
        windows = sorted({int(k) for k in ids[group == g]})
        assert len(windows) == sizes[g]
        assert all(torch.equal(mask[k], mask[windows[0]]) for k in windows)
    assert mask_group_ids(dhw, window, (0, 0, 0))[1] == (18,)  # no shift: one all-zero pattern


def test_mask_group_figure_renders_legibly():
    fig = legible(plot_mask_groups((4, 12, 12), (2, 4, 4), (1, 2, 2)))
    assert len(fig.axes) == 4
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "group 0: 4 windows (all-zero mask)" and labels[3] == "group 3: 1 window"
    with pytest.raises(ValueError):
        plot_mask_groups((4, 10, 12), (2, 4, 4), (1, 2, 2))  # not a multiple of the window


def test_mask_group_explorer_follows_its_controls(monkeypatch):
    w = MaskGroupExplorer()
    assert w.state["num_windows"] == 18 and w.state["sizes"] == (4, 2, 2, 1, 4, 2, 2, 1)
    assert w.state["all_zero_windows"] == 4 and w.state["mask_floats"] == (18 * 32 * 32, 8 * 32 * 32)
    w.controls["spatial"].value = False
    assert w.state["shift"] == (1, 0, 0) and w.state["sizes"] == (9, 9)
    w.set(temporal=False)
    assert w.state["sizes"] == (18,) and w.state["all_zero_windows"] == 18
    w.set(temporal=True, spatial=True, T=2, H=10)  # T = P: no temporal shift; H padded to 12
    assert w.state["shift"] == (0, 2, 2) and w.state["padded"] == (2, 12, 12)
    assert "4 window(s) with the all-zero mask" in w.readout.value
    lenient = MaskGroupExplorer(strict=False)
    break_drawing(monkeypatch, mask_groups_widget, "plot_mask_groups", w, lenient, "M", 3)
    assert "RuntimeError: drawing failed" in lenient.readout.value
