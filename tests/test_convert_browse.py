"""Chapter 13's state-dict browser, without the widget: every key of a state dict gets a meaning
and a part (convert.browse), spelled in any of the three layouts; parameter groups and their figures.

(The StateDictBrowser widget is tested in test_widgets.py, the converters in test_convert.py.)"""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from vswin_edu import convert, viz

# --- browse / meanings ------------------------------------------------------------------------


def test_every_key_has_a_meaning_and_a_part(micro_sd):
    rows = convert.browse(micro_sd)
    assert len(rows) == len(micro_sd) and sum(r["params"] for r in rows) == 310_934
    assert all(r["meaning"] for r in rows)
    assert convert.key_part("stages.1.blocks.0.norm1.weight") == ("stage 1", "block 0")
    assert convert.key_part("stages.0.downsample.reduction.weight") == ("stage 0", "downsample")
    assert convert.describe_key("norm.weight").startswith("final LayerNorm")
    with pytest.raises(KeyError, match="not a key"):
        convert.describe_key("pos_embed")


def test_browse_spells_keys_in_other_layouts(micro_sd):
    rows = convert.browse(micro_sd, "stage 1", "block 0", names="official")
    assert rows[0]["key"] == "backbone.layers.1.blocks.0.norm1.weight"
    tv = convert.browse(micro_sd, "stage 0", "downsample", names="torchvision")
    assert [r["key"] for r in tv] == [
        "features.1.norm.weight",
        "features.1.norm.bias",
        "features.1.reduction.weight",
    ]
    with pytest.raises(ValueError, match="names must be one of"):
        convert.browse(micro_sd, names="timm")


def test_parameter_groups_sum_to_the_model(micro_sd):
    groups = convert.parameter_groups(micro_sd)
    assert list(groups) == [
        "patch_embed",
        "stage 0 blocks",
        "stage 0 downsample",
        "stage 1 blocks",
        "norm + head",
    ]
    assert sum(groups.values()) == sum(v.numel() for v in micro_sd.values())
    assert groups["stage 0 downsample"] == 4 * 48 + 4 * 48 + 4 * 48 * 2 * 48  # LN(4C) + Linear(4C, 2C)


# --- viz --------------------------------------------------------------------------------------


def test_plots_return_figures(micro_sd):
    fig = viz.plot_parameter_counts(convert.parameter_groups(micro_sd), highlight="stage 1")
    assert isinstance(fig, Figure)
    bars = fig.axes[0].patches
    assert sum(bar.get_hatch() == "//" for bar in bars) == 1  # only "stage 1 blocks"
    with pytest.raises(ValueError, match="empty"):
        viz.plot_parameter_counts({})
    table_2d = torch.randn(25, 2)
    fig = viz.plot_inflated_table(table_2d, convert.inflate_bias_table(table_2d, (2, 3, 3)), (2, 3, 3))
    assert len(fig.axes) == 1 + 3  # the 2D table and dt = -1, 0, 1
