"""``python -m vswin_edu.bench`` runs end to end on a tiny config and reports what it documents."""

import json
import math
import threading
from dataclasses import asdict

import pytest
import torch
from matplotlib.figure import Figure

from vswin_edu.bench import (
    BenchResult,
    Timing,
    _PeakRss,
    attention_traffic,
    format_table,
    main,
    model_pair,
    run,
    time_attention_core,
)
from vswin_edu.viz import plot_attention_core, plot_benchmark

TINY = ["--variant", "micro", "--frames", "4", "--size", "32", "--reps", "2", "--warmup", "1"]
TIMING_FIELDS = {"times_s", "median_s", "min_s", "max_s", "spread", "clips_per_s", "tflops", "peak_mem_mb"}


def test_json_has_the_documented_fields(capsys):
    main([*TINY, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert set(report) == set(BenchResult.__dataclass_fields__)
    assert (
        set(report["ours"]) == set(report["torchvision"]) == TIMING_FIELDS == set(Timing.__dataclass_fields__)
    )
    assert {"torch", "torchvision", "threads", "platform"} <= set(report["machine"])
    assert report["config"]["variant"] == "micro" and report["config"]["mode"] == "infer"
    assert len(report["ours"]["times_s"]) == 2 and report["ours"]["median_s"] > 0
    assert report["speedup"] > 0 and report["flops_per_step"] > 0
    assert report["max_abs_diff"] < 1e-5  # same weights, same logits


def test_train_mode_and_table():
    result = run(variant="micro", frames=4, size=32, reps=1, warmup=0, mode="train", batch=2)
    assert result.flops_per_step > 0 and result.ours.clips_per_s > 0
    table = format_table(result)
    assert "speed-up" in table and "torchvision" in table and "train" in table


def test_same_weights_in_both_models():
    ours, theirs = model_pair("micro")
    table = "stages.0.blocks.1.attn.relpos.relative_position_bias_table"
    assert (
        ours.state_dict()[table] == theirs.state_dict()["features.0.1.attn.relative_position_bias_table"]
    ).all()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="mode"):
        run(variant="micro", mode="fast")
    with pytest.raises(ValueError, match="variant"):
        model_pair("xl")


def test_cli_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--variant", "--batch", "--frames", "--size", "--device", "--dtype", "--mode",
                   "--reps", "--warmup", "--compile", "--threads", "--json"):  # fmt: skip
        assert option in out
    for name in set(BenchResult.__dataclass_fields__) | set(Timing.__dataclass_fields__):
        assert name in out, name  # every JSON field is documented


def test_attention_traffic_counts_the_logit_passes():
    t = attention_traffic(num_windows=128, num_heads=3, N=392, head_dim=32, masked=True)
    logits = 128 * 3 * 392 * 392 * 4
    vectors = 4 * 128 * 3 * 392 * 32 * 4
    assert t["logits"] == logits
    assert t["explicit"] == vectors + 8 * logits
    assert t["fused"] == vectors + 3 * 392 * 392 * 4
    assert attention_traffic(2, 1, 8, 4)["explicit"] == 4 * 2 * 8 * 4 * 4 + 6 * 2 * 8 * 8 * 4


def test_time_attention_core_and_its_plots():
    rows = time_attention_core([(1, 2, 2), (2, 2, 2)], total_tokens=64, num_heads=2, head_dim=4, reps=1)
    assert [r["N"] for r in rows] == [4, 8] and [r["num_windows"] for r in rows] == [16, 8]
    assert all(r["max_abs_diff"] < 1e-5 and r["explicit_s"] > 0 and r["fused_s"] > 0 for r in rows)
    assert isinstance(plot_attention_core(rows), Figure)
    result = asdict(run(variant="micro", frames=4, size=32, reps=1, warmup=0))
    fig = plot_benchmark([result, result])
    assert isinstance(fig, Figure) and len(fig.axes[0].patches) == 4  # two bars per run
    with pytest.raises(ValueError, match="rows"):
        plot_attention_core(rows[:1])
    with pytest.raises(ValueError, match="results"):
        plot_benchmark([{"ours": {}}])


def test_peak_rss_is_measured_by_the_kernel_without_a_sampling_thread():
    threads = threading.active_count()
    with _PeakRss() as rss:
        assert threading.active_count() == threads  # nothing runs beside the timed step
        block = torch.ones(50_000_000)  # 200 MB, touched
        del block
    assert rss.peak_mb is not None and 150 < rss.peak_mb < 400


def test_bf16_runs_add_a_torchvision_fp32_row_and_every_run_a_limit_row():
    result = run(variant="micro", frames=4, size=32, reps=1, warmup=0, dtype="bf16")
    assert result.torchvision_fp32 is not None and result.speedup_vs_fp32 > 0
    assert result.limit_tflops > 0 and result.fraction_of_limit == result.ours.tflops / result.limit_tflops
    table = format_table(result)
    assert "tv fp32" in table and "limit" in table and "against torchvision in fp32" in table
    fp32 = run(variant="micro", frames=4, size=32, reps=1, warmup=0, limit=False)
    assert fp32.torchvision_fp32 is None and fp32.speedup_vs_fp32 is None and fp32.limit_tflops is None


def test_the_limit_row_times_exactly_the_models_linear_layers():
    from vswin_edu.bench import linear_shapes
    from vswin_edu.complexity import model_macs, stage_table
    from vswin_edu.config import PRESETS

    cfg, thw = PRESETS["t"], (32, 224, 224)
    linear = sum(t * i * o * n for t, i, o, n in linear_shapes("t", *thw[:2]))
    rows = stage_table("t", thw)
    core = sum(r.depth * 2 * r.num_windows * math.prod(r.window) ** 2 * r.channels for r in rows)  # QK^T, PV
    embed = math.prod(rows[0].grid) * 3 * math.prod(cfg.patch_size) * cfg.embed_dim
    head = rows[-1].channels * cfg.num_classes
    assert linear == model_macs("t", thw) - core - embed - head
