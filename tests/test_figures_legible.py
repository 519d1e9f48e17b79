"""Every public figure of vswin_edu.viz is fit for a projector: no text overlaps other text, none falls
off the figure, in the default style and in ``style.lecture()`` (18-22 pt fonts).

A figure is drawn with the Agg renderer while :meth:`matplotlib.text.Text.draw` is watched, so only
the texts that are really drawn count (visible, non-empty, inside their clip box): titles, axis
labels, tick labels, cell numbers, annotations and legend entries.  Two of them overlap when their
window extents share more than a pixel each way.  The figures' own layout (``viz._draw.finish``)
measures and grows them; these tests hold every function to it with small representative
arguments, and also check the colour choices that carry meaning (legends, masked vs region
colours, integer token ticks, visible crops, ablations on one honest scale).
"""

from __future__ import annotations

import inspect

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from legibility import legibility_problems
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from vswin_edu import convert, style, viz
from vswin_edu.complexity import stage_table
from vswin_edu.data import multi_view_indices
from vswin_edu.shift import shifted_window_mask

DHW, WINDOW, SHIFT = (4, 8, 8), (2, 4, 4), (1, 2, 2)  # the toy grid of chapters 4, 5 and 7


# --- one representative call per public figure ------------------------------------------------------


def _rows_t():
    if not hasattr(_rows_t, "rows"):
        _rows_t.rows = stage_table("t", (32, 224, 224))  # four stages, S4 tiny next to S1
    return _rows_t.rows


def _bench_rows():
    from vswin_edu import bench

    rows = []
    for n, explicit, fused in (
        (32, 0.0096, 0.0039),
        (64, 0.015, 0.006),
        (196, 0.039, 0.012),
        (392, 0.066, 0.022),
    ):
        traffic = bench.attention_traffic(6272 // n, 3, n, 32)
        rows.append(dict(N=n, explicit_s=explicit, fused_s=fused, explicit_bytes=traffic["explicit"],
                         fused_bytes=traffic["fused"]))  # fmt: skip
    return rows


def _bench_results():
    def timing(median):
        return dict(median_s=median, min_s=0.9 * median, max_s=1.1 * median)

    return [
        dict(
            ours=timing(2.86),
            torchvision=timing(6.56),
            speedup=2.44,
            config=dict(variant="t", mode=mode, frames=32, size=224),
        )  # fmt: skip
        for mode in ("infer", "train")
    ]


def _masked_softmax():
    logits = torch.tensor([2.0, 5.0, -1.0, 3.5, 0.5, 150.0])
    allowed = torch.tensor([True, True, False, True, False, True])
    weights = (logits + torch.where(allowed, 0.0, -100.0)).softmax(-1)
    return viz.plot_masked_softmax(logits, allowed, weights, exact=weights)


def _learning_rows():
    return [
        dict(step=s, train_loss=1.4 / s * 40, val_loss=1.1 / s * 40, train_acc=1 - 20 / s, val_acc=1 - 18 / s)
        for s in (40, 80, 120, 160, 200, 240)
    ]


def _attention_over_frames():
    attn = torch.rand(4, 4, 4)
    return viz.plot_attention_over_frames(torch.rand(1, 3, 8, 16, 16), attn / attn.sum(), (1, 2, 2))


TOY_ABLATION = {"3D shift": (0.906, 78.8), "no temporal shift": (0.734, 78.5), "factorised": (0.961, 78.5),
                "window = whole clip": (0.742, 79.1)}  # fmt: skip

CASES = {
    "plot_frame_strip": lambda: viz.plot_frame_strip(
        torch.rand(1, 3, 16, 32, 32), max_frames=8, title="96 frames of a shape moving right (8 shown)"
    ),
    "plot_temporal_timeline": lambda: viz.plot_temporal_timeline(
        clip_len=32, stride=2, patch_t=2, window_p=8
    ),
    "plot_token_grid": lambda: viz.plot_token_grid((2, 2, 2), patch_size=(2, 4, 4), video_thw=(3, 6, 7)),
    "plot_attention_cost": lambda: viz.plot_attention_cost(C=96, N=392, num_heads=3, mark=50_176),
    "plot_attention_time": lambda: viz.plot_attention_time(
        [256, 512, 1024, 2048, 4096], [5e-4, 1.3e-3, 9e-3, 2e-2, 0.14], [4.7e-4, 5e-4, 6.7e-4, 9.5e-4, 1.5e-3]
    ),
    "plot_windows": lambda: viz.plot_windows((4, 8, 8), (2, 4, 4)),
    "plot_windows voxels": lambda: viz.plot_windows((2, 6, 7), (2, 4, 4), (1, 2, 2), view="voxels"),
    "plot_padding_vs_cyclic": lambda: viz.plot_padding_vs_cyclic(DHW, WINDOW, SHIFT, frame=0),
    "plot_cyclic_shift": lambda: viz.plot_cyclic_shift(DHW, WINDOW, SHIFT, frame=0),
    "plot_region_ids": lambda: viz.plot_region_ids(DHW, WINDOW, SHIFT),
    "plot_attend_to": lambda: viz.plot_attend_to(DHW, WINDOW, SHIFT, query=(0, 0, 0)),
    "plot_attend_to user mask": lambda: viz.plot_attend_to(
        DHW, WINDOW, SHIFT, query=(0, 0, 0), mask=shifted_window_mask(DHW, WINDOW, (0, 0, 0))
    ),
    "plot_mask_matrix": lambda: viz.plot_mask_matrix(DHW, WINDOW, SHIFT, window_index=7, query_index=3),
    "plot_mask_matrix sorted": lambda: viz.plot_mask_matrix(
        DHW, WINDOW, SHIFT, window_index=7, sort_by_region=True
    ),
    "plot_mask_diff": lambda: viz.plot_mask_diff(
        DHW, WINDOW, SHIFT, lambda d, w, s: shifted_window_mask(d, w, (0, 0, 0))
    ),
    "plot_relative_index": lambda: viz.plot_relative_index((2, 3, 3), query=(1, 2, 0), key=(0, 0, 2)),
    "plot_bias": lambda: viz.plot_bias(torch.linspace(-1, 1, 75 * 2).reshape(75, 2), (2, 3, 3), head=0),
    "plot_attention_weights": lambda: viz.plot_attention_weights(
        torch.softmax(torch.randn(32, 32), -1), (2, 4, 4), query=(1, 1, 1)
    ),
    "plot_masked_softmax": _masked_softmax,
    "plot_merging": lambda: viz.plot_merging(4, 4),
    "plot_hierarchy": lambda: viz.plot_hierarchy(_rows_t(), title="Swin-T on a 32x224x224 clip"),
    "plot_learning_curves": lambda: viz.plot_learning_curves(_learning_rows()),
    "plot_multi_view": lambda: viz.plot_multi_view(
        multi_view_indices(300, num_clips=4, clip_len=32, stride=2),
        num_frames=300,
        frame_hw=(256, 340),
        crop=224,
        num_crops=3,
    ),
    "plot_ablation": lambda: viz.plot_ablation(
        TOY_ABLATION, metric="toy: validation accuracy", title="Trained toy ablations beside the paper"
    ),
    "plot_ablation long metric": lambda: viz.plot_ablation(
        {"3D shift": (0.25, 78.8), "no temporal shift": (0.125, 78.5), "no shift": (0.0078, 78.1)},
        metric="share of stage-1 tokens reached after 4 blocks (exact)",
        title="Shift ablation: exact reach vs paper top-1",
    ),
    "plot_receptive_field": lambda: viz.plot_receptive_field(
        viz.receptive_field((4, 6, 6), (2, 3, 3), (1, 1, 1), 2, (1, 2, 2)), title="3D shift: 2 blocks"
    ),
    "plot_attention_over_frames": _attention_over_frames,
    "plot_attention_core": lambda: viz.plot_attention_core(_bench_rows()),
    "plot_benchmark": lambda: viz.plot_benchmark(_bench_results()),
    "plot_parameter_counts": lambda: viz.plot_parameter_counts(
        {
            "patch_embed": 9504,
            "stage 0": 313386,
            "stage 1": 1216596,
            "stage 2": 12012024,
            "stage 3": 14297424,
            "norm + head": 309136,
        },
        highlight="stage 2",
    ),  # fmt: skip
    "plot_inflated_table": lambda: viz.plot_inflated_table(
        torch.linspace(-1, 1, 50).reshape(25, 2),
        convert.inflate_bias_table(torch.linspace(-1, 1, 50).reshape(25, 2), (2, 3, 3)),
        (2, 3, 3),
    ),
}


# Figures of the newer modules (architecture, parity, capstone, dashboard), with cheap stand-in inputs.
def _layer_parity_records():
    from vswin_edu.viz.parity import LayerParity

    block = (1, 2, 4, 4, 8)
    shapes = [
        ("patch_embed", "patch embedding", block),
        ("stages.0.blocks.0", "W-MSA block", block),
        ("stages.0.blocks.1", "SW-MSA block", block),
        ("norm", "norm", block),
        ("head", "head", (1, 5)),
    ]
    records = []
    for k, (name, kind, shape) in enumerate(shapes):
        diff = torch.full(shape, 10.0 ** (-7 + 2 * (k >= 2)))
        window = (2, 4, 4) if "block" in kind else None
        shift = (1, 2, 2) if "SW" in kind else None
        records.append(
            LayerParity(
                name, f"tv.{name}", f"layer {k}", kind, shape, shape, window, shift, float(diff.max()), diff
            )
        )
    return records


def _comparisons():
    from vswin_edu.capstone import Comparison, LayerDiff

    names = ["patch embedding", "stage 0 block 0 attention", "stage 0 block 1 attention", "head"]
    yours = Comparison([LayerDiff(n, True, True, 0.0) for n in names], None)
    wrong = Comparison(
        [LayerDiff(n, k < 2, k < 2, 0.0 if k < 2 else 0.3) for k, n in enumerate(names)], names[2]
    )
    return {"yours": yours, "inverted mask": wrong}


def _audit_report():
    if not hasattr(_audit_report, "report"):
        from official_swin import SwinTransformer3D

        from vswin_edu.audit import audit

        torch.manual_seed(0)
        model = SwinTransformer3D(bugs=("mask_before_padding",))
        _audit_report.report = audit(model, input_shape=(1, 3, 8, 40, 40))  # one wrong block, long finding
    return _audit_report.report


CONFUSION = torch.tensor([[14, 2, 0, 0], [1, 15, 0, 0], [0, 0, 12, 4], [0, 1, 3, 12]])
CLASSES = ["left", "right", "right_left", "left_right"]
NEWER = {
    "plot_architecture": lambda: viz.plot_architecture("micro", (16, 32, 32)),
    "plot_mask_groups": lambda: viz.plot_mask_groups((4, 12, 12), (2, 4, 4), (1, 2, 2)),
    "plot_layer_parity": lambda: viz.plot_layer_parity(_layer_parity_records(), selected=2),
    "plot_layer_diffs": lambda: viz.plot_layer_diffs(_comparisons()),
    "plot_audit": lambda: viz.plot_audit(_audit_report()),
    "plot_confusion_matrix": lambda: viz.plot_confusion_matrix(CONFUSION, CLASSES, selected=1),
    "plot_training_dashboard": lambda: viz.plot_training_dashboard(
        _learning_rows(), CONFUSION, CLASSES, 1, [torch.rand(3, 8, 16, 16)], ["clip 1: predicted right"]
    ),
}
CASES.update({name: make for name, make in NEWER.items() if name in viz.__all__})


def _public_figure_functions() -> list[str]:
    return sorted(
        name for name in viz.__all__ if name.startswith("plot_") and inspect.isfunction(getattr(viz, name))
    )


def test_every_public_figure_has_a_case():
    covered = {name.split()[0] for name in CASES}
    missing = [name for name in _public_figure_functions() if name not in covered]
    assert not missing, f"add a representative call for {missing} to CASES in {__file__}"


@pytest.fixture(params=[False, True], ids=["default", "lecture"])
def mode(request):
    style.lecture(request.param)
    yield request.param
    style.lecture(False)


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_text_overlaps_or_falls_off(case, mode):
    torch.manual_seed(0)
    fig = CASES[case]()
    assert isinstance(fig, Figure)
    problems = legibility_problems(fig)
    assert not problems, f"{case} ({'lecture' if mode else 'default'} style):\n" + "\n".join(problems)


# --- the checker itself finds what it is meant to find ---------------------------------------------


def test_the_checker_finds_overlapping_titles_crowded_ticks_and_cut_labels():
    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.set_title("a title that is long")
    ax.text(0.5, 1.02, "a text on the title", transform=ax.transAxes, ha="center")
    found = legibility_problems(fig)
    assert any("overlaps" in p and "title" in p for p in found)

    fig = Figure(figsize=(2, 2))
    ax = fig.add_subplot()
    ax.set_xticks(range(30), [f"label {k}" for k in range(30)])
    assert any("'label 0' overlaps 'label 1'" in p for p in legibility_problems(fig))

    fig = Figure(figsize=(2, 2))
    fig.add_subplot().set_xlabel("w")
    fig.subplots_adjust(bottom=0.0)
    assert any("'w' falls off" in p for p in legibility_problems(fig))

    fig = Figure(figsize=(3, 2), layout="constrained")
    ax = fig.add_subplot()
    ax.text(0.2, 0.5, "   ")  # empty and invisible texts do not count
    ax.text(0.2, 0.5, "hidden", visible=False)
    ax.text(0.2, 0.5, "shown")
    assert legibility_problems(fig) == []


# --- colours that carry meaning ---------------------------------------------------------------------


def _distance(a: str, b: str) -> float:
    return float(np.linalg.norm(np.subtract(to_rgb(a), to_rgb(b))))


def test_masked_colour_is_far_from_every_region_colour_and_from_may_attend():
    # chapter 5: a masked key must never look like a key of some region (it used to be indigo's twin)
    nearest = min(_distance(style.MASKED_COLOR, c) for c in style.REGION_COLORS)
    assert nearest > 0.3, f"MASKED_COLOR {style.MASKED_COLOR} is {nearest:.2f} from a region colour"
    assert _distance(style.MASKED_COLOR, style.ALLOWED_COLOR) > 1.0


def _legend_labels(fig: Figure) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def _legend_colour(fig: Figure, label: str) -> str:
    for legend in list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            if text.get_text() == label:
                return matplotlib.colors.to_hex(handle.get_facecolor())
    raise AssertionError(f"no legend entry {label!r} in {_legend_labels(fig)}")


def test_mask_figures_explain_their_colours_in_a_legend():
    attend = viz.plot_attend_to(DHW, WINDOW, SHIFT, query=(0, 0, 0))
    labels = _legend_labels(attend)
    masked = next(label for label in labels if label.startswith("masked"))
    region = next(label for label in labels if "region 26" in label)
    assert _legend_colour(attend, masked) == style.MASKED_COLOR.lower()
    assert _legend_colour(attend, region) == style.region_color(26).lower()
    assert _legend_colour(attend, region) != _legend_colour(attend, masked)

    matrix = viz.plot_mask_matrix(DHW, WINDOW, SHIFT, window_index=7, sort_by_region=True)
    labels = _legend_labels(matrix)
    assert {"may attend", "masked"} <= set(labels) and any(
        label.startswith("strip: region") for label in labels
    )

    regions = viz.plot_region_ids(DHW, WINDOW, SHIFT, frame=3)
    assert any("temporal slice" in label for label in _legend_labels(regions))
    assert any("block 1" in label for label in _legend_labels(CASES["plot_receptive_field"]()))
    assert {"allowed key", "masked key"} <= set(_legend_labels(_masked_softmax()))


def test_token_axes_have_integer_ticks():
    # chapter 6: token numbers are whole numbers; a tick at 2.5 names no token
    fig = viz.plot_bias(torch.linspace(-1, 1, 75 * 2).reshape(75, 2), (2, 3, 3))
    FigureCanvasAgg(fig).draw()
    ticks = np.concatenate([fig.axes[0].get_xticks(), fig.axes[0].get_yticks()])
    assert np.all(ticks == np.round(ticks)), ticks
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["-2", "-1", "0", "1", "2"]  # dh offsets


def test_every_crop_is_visible_on_its_own():
    # chapter 12: three 224² crops of a 224x298 frame overlap; each gets its own frame, filled
    fig = CASES["plot_multi_view"]()
    crops = [ax for ax in fig.axes if ax.get_title().startswith("crop")]
    assert [ax.get_title() for ax in crops] == ["crop 0", "crop 1", "crop 2"]
    starts = []
    for ax in crops:
        filled = [p for p in ax.patches if p.get_fill() and p.get_width() == 224]
        assert len(filled) == 1
        starts.append(filled[0].get_x())
    assert starts == [0, 37, 74]


def test_ablation_panels_share_one_honest_scale():
    # chapter 12: bars start at zero and the toy and paper panels use the same 0-100 % axis
    fig = CASES["plot_ablation"]()
    toy, paper = fig.axes[:2]
    assert toy.get_xlim() == paper.get_xlim() and toy.get_xlim()[0] == 0
    widths = [bar.get_width() for bar in paper.patches]
    assert widths == [78.8, 78.5, 78.5, 79.1]
    assert [round(bar.get_width(), 1) for bar in toy.patches] == [90.6, 73.4, 96.1, 74.2]
    with pytest.raises(ValueError, match="fraction in"):
        viz.plot_ablation({"a": (90.6, 78.8)})
