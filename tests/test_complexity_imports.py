"""Counts against the paper and FlopCounterMode; the model stays free of plotting imports."""

import subprocess
import sys

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from vswin_edu.complexity import model_flops, model_macs, model_params, msa_macs, stage_table, wmsa_macs
from vswin_edu.model import build


@pytest.mark.parametrize(
    "variant, params_m, gmacs", [("t", 28.2, 88), ("s", 49.8, 166), ("b", 88.1, 282), ("l", 197, 604)]
)
def test_params_and_macs_match_the_paper(variant, params_m, gmacs):
    assert abs(model_params(variant) / 1e6 - params_m) / params_m < 0.005
    assert abs(model_macs(variant, (32, 224, 224)) / 1e9 - gmacs) / gmacs < 0.01


def test_swin_t_stage_table():
    rows = stage_table("t", (32, 224, 224))
    assert [r.grid for r in rows] == [(16, 56, 56), (16, 28, 28), (16, 14, 14), (16, 7, 7)]
    assert [r.num_windows for r in rows] == [128, 32, 8, 2]
    assert rows[3].window == (8, 7, 7) and rows[3].shift == (4, 0, 0)
    assert [r.channels for r in rows] == [96, 192, 384, 768]


def test_global_vs_window_attention_formulas():
    L, C, N = 16 * 56 * 56, 96, 8 * 7 * 7
    assert msa_macs(L, C) == 4 * L * C * C + 2 * L * L * C
    assert wmsa_macs(L, C, N) == 4 * L * C * C + 2 * L * N * C
    assert msa_macs(L, C) / wmsa_macs(L, C, N) > 40  # global attention is ~48x the cost here


@pytest.mark.parametrize(
    "thw, ablation",
    [
        ((16, 32, 32), {}),
        ((6, 40, 52), {}),
        ((16, 32, 32), {"attention": "factorised"}),
        ((6, 40, 52), {"attention": "factorised", "shift_size": (0, 2, 2)}),
    ],
)
def test_analytic_flops_equal_flop_counter(thw, ablation):
    model = build("micro", **ablation).eval()
    # the math backend writes attention as matmuls, which the counter sees (fused kernels it skips)
    with FlopCounterMode(display=False) as counter, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        model(torch.randn(1, 3, *thw))
    assert counter.get_total_flops() == model_flops(model, thw)


def test_importing_the_model_does_not_import_plotting_or_widgets():
    code = (
        "import sys, vswin_edu.model, vswin_edu.convert, vswin_edu.complexity; "
        "bad = [m for m in ('matplotlib', 'ipywidgets') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
