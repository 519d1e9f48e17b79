"""Benchmark: our Video Swin against torchvision's ``swin3d_*`` on the same weights (appendix 14).

    python -m vswin_edu.bench --variant t --frames 32 --size 224          # CPU inference, Swin-T
    python -m vswin_edu.bench --variant t --mode train --frames 16 --size 112
    python -m vswin_edu.bench --variant micro --frames 8 --size 32 --reps 3 --json

Both models live in one process and hold the *same* weights (torchvision's random init converted
with :func:`vswin_edu.convert.from_torchvision`; nothing is downloaded).  Their steps are
interleaved — ours, theirs, theirs, ours, ... — after warm-up, so that a machine whose load changes
during the run slows both alike; the speed-up is the median of the per-repetition ratios.  Each
step is timed by itself (with its peak memory); the attention-core micro-benchmark, many short
calls, goes through ``torch.utils.benchmark.Timer`` (warm-up, threads pinned, CUDA synchronised).

Two rows put the speed-up in context.  The **limit** row times the model's own linear layers alone —
every ``(tokens, in, out)`` GEMM of one forward pass, in the run's dtype — so ``TFLOP/s`` of the model
can be read as a fraction of what the matrix units reach at those shapes (with AMX, bf16 GEMMs run
several times faster than fp32 ones; everything else in the model does not).  With ``--dtype bf16``
or ``fp16`` a **torchvision fp32** row times torchvision without autocast, for the ratio a user who
switches both precision and implementation sees.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models import video as tv_video

from .complexity import model_flops, stage_table
from .config import PRESETS
from .convert import from_torchvision, load_state_dict_strict, torchvision_architecture
from .model import build

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Timing:
    """Measurements of one model: seconds per step over the timed repetitions, and what follows."""

    times_s: list[float]
    median_s: float
    min_s: float
    max_s: float
    spread: float  # (max - min) / median over the timed repetitions
    clips_per_s: float
    tflops: float  # achieved TFLOP/s: analytic FLOPs of the step / median time
    peak_mem_mb: float | None  # CUDA: max_memory_allocated; CPU (Linux): peak RSS increase in a step


@dataclass
class BenchResult:
    """Everything one run reports; ``--json`` prints this as a dict."""

    config: dict
    machine: dict
    flops_per_step: int  # forward: 2 x MACs x batch; train: 3 x that (backward ~ 2 x forward)
    ours: Timing
    torchvision: Timing
    speedup: float  # median over repetitions of torchvision time / our time (same repetition)
    max_abs_diff: float  # logits of the two models on the same clip, eval mode
    compile_s: dict = field(default_factory=dict)  # first-call time of each compiled model
    torchvision_fp32: Timing | None = None  # with --dtype bf16/fp16: torchvision without autocast
    speedup_vs_fp32: float | None = None  # median of torchvision-fp32 time / our time
    limit_tflops: float | None = None  # the model's linear layers alone, in the run's dtype
    fraction_of_limit: float | None = None  # ours.tflops / limit_tflops


def attention_traffic(
    num_windows: int, num_heads: int, N: int, head_dim: int, masked: bool = False, bytes_per_element: int = 4
) -> dict[str, int]:
    """Bytes one window-attention core moves through main memory, explicit vs fused (a simple model).

    The explicit path materialises the logits ``(nW, nH, N, N)`` and passes over them again and
    again: write ``QK^T``; read and write to add the bias; (read and write to add the mask); read and
    write the softmax; read the weights for ``@ V`` — ``6`` (``8`` with a mask) full passes.  The
    fused kernel keeps each block of logits in the cache and reads only the ``(nH, N, N)`` bias
    (+mask) of a group, which also stays cached.  Both read Q, K, V and write the output.
    """
    vectors = 4 * num_windows * num_heads * N * head_dim * bytes_per_element  # Q, K, V, out
    matrix = num_windows * num_heads * N * N * bytes_per_element  # one pass over the logits
    return {
        "explicit": vectors + (8 if masked else 6) * matrix,
        "fused": vectors + num_heads * N * N * bytes_per_element,
        "logits": matrix,
    }


def time_attention_core(
    windows: Sequence[Sequence[int]],
    total_tokens: int = 12_544,
    num_heads: int = 3,
    head_dim: int = 32,
    reps: int = 3,
    seed: int = 0,
) -> list[dict]:
    """Seconds of ``SoftMax(QK^T/sqrt(d) + B) V`` written out vs fused, for several windows.

    Every window size attends over the same ``total_tokens`` (``total_tokens // N`` windows), so the
    explicit path's extra cost is the growth of its ``N x N`` logits.  Returns one dict per window:
    ``window, N, num_windows, explicit_s, fused_s`` (mean of ``reps`` calls, :func:`_seconds_per_call`),
    ``max_abs_diff`` and the :func:`attention_traffic`.
    """
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for window in windows:
        N = int(torch.tensor(window).prod())
        nW = max(1, total_tokens // N)
        q, k, v = (torch.randn(nW, num_heads, N, head_dim, generator=gen) for _ in range(3))
        bias = torch.randn(1, num_heads, N, N, generator=gen)  # (1, nH, N, N)
        scale = head_dim**-0.5

        def explicit(q=q, k=k, v=v, bias=bias, scale=scale):
            return ((q * scale) @ k.transpose(-2, -1) + bias).softmax(-1) @ v  # (nW, nH, N, d)

        def fused(q=q, k=k, v=v, bias=bias):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)

        with torch.inference_mode():
            diff = (explicit() - fused()).abs().max().item()
            explicit_s, fused_s = _seconds_per_call(explicit, reps), _seconds_per_call(fused, reps)
        traffic = attention_traffic(nW, num_heads, N, head_dim)
        rows.append(
            dict(
                window=tuple(window),
                N=N,
                num_windows=nW,
                explicit_s=explicit_s,
                fused_s=fused_s,
                max_abs_diff=diff,
                explicit_bytes=traffic["explicit"],
                fused_bytes=traffic["fused"],
            )  # fmt: skip
        )
    return rows


def _benchmark_module():
    """``torch.utils.benchmark``, imported without the "No CUDA runtime is found" warning its import
    logs on a CPU-only machine (it looks for a CUDA toolkit to build C++ extensions, unused here)."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils import benchmark
    finally:
        logger.setLevel(level)
    return benchmark


def _seconds_per_call(fn: Callable[[], torch.Tensor], calls: int) -> float:
    """Mean seconds of one ``fn()`` over ``calls`` calls, by ``torch.utils.benchmark.Timer``: after
    its warm-up, with torch's current thread count (the Timer's default would be one thread) and
    the accelerator synchronised around the calls."""
    timer = _benchmark_module().Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.timeit(number=calls).mean


def linear_shapes(variant: str, frames: int, size: int, batch: int = 1) -> list[tuple[int, int, int, int]]:
    """``(tokens, in, out, count)`` of every linear layer of one forward pass: the model's GEMMs.

    Per stage: QKV ``C -> 3C`` and the projection ``C -> C`` on the padded grid's windows, the MLP
    ``C -> 4C -> C`` on the grid, ``depth`` times each; then the merging ``4C -> 2C`` on the next grid.
    """
    shapes = []
    rows = stage_table(variant, (frames, size, size))
    for row, nxt in zip(rows, [*rows[1:], None], strict=True):
        C, windowed, tokens = (
            row.channels,
            batch * row.num_windows * math.prod(row.window),
            batch * math.prod(row.grid),
        )
        shapes += [(windowed, C, 3 * C, row.depth), (windowed, C, C, row.depth),
                   (tokens, C, 4 * C, row.depth), (tokens, 4 * C, C, row.depth)]  # fmt: skip
        if nxt is not None:
            shapes.append((batch * math.prod(nxt.grid), 4 * C, 2 * C, 1))
    return shapes


def gemm_limit(shapes: list[tuple[int, int, int, int]], dtype: torch.dtype, device: torch.device,
               calls: int = 3) -> float:  # fmt: skip
    """TFLOP/s of ``F.linear`` over the model's own GEMM shapes (:func:`linear_shapes`) in ``dtype``:
    what the matrix units reach on this machine for exactly the work the model's linears do."""
    gen = torch.Generator(device=device).manual_seed(0)
    flops = seconds = 0.0
    for tokens, fan_in, fan_out, count in shapes:
        x = torch.randn(tokens, fan_in, generator=gen, device=device).to(dtype)
        w = torch.randn(fan_out, fan_in, generator=gen, device=device).to(dtype)
        with torch.inference_mode():
            seconds += count * _seconds_per_call(lambda x=x, w=w: F.linear(x, w), calls)
        flops += count * 2 * tokens * fan_in * fan_out
    return flops / seconds / 1e12


def torchvision_model(variant: str) -> nn.Module:
    """torchvision's ``swin3d_{variant}`` (random init), or ``SwinTransformer3d`` built from our preset."""
    cfg = PRESETS[variant]
    builder = getattr(tv_video, f"swin3d_{variant}", None)
    if builder is not None and cfg.num_classes == 400:
        return builder(weights=None)
    return torchvision_architecture(cfg)


def model_pair(variant: str, fast: bool = True) -> tuple[nn.Module, nn.Module]:
    """``(ours, torchvision)`` with identical weights; ours by the fast route unless ``fast=False``."""
    if variant not in PRESETS:
        raise ValueError(f"variant must be one of {sorted(PRESETS)}, got {variant!r}")
    theirs = torchvision_model(variant)
    ours = load_state_dict_strict(build(variant, fast=fast), from_torchvision(theirs))
    return ours, theirs


def _status_mb(field: str) -> float:
    """A memory figure of this process from ``/proc/self/status`` (Linux), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # the kernel reports kB
    raise KeyError(field)


class _PeakRss:
    """Peak resident memory of this process during a ``with`` block, above the level at its start.

    Linux tracks the peak itself (``VmHWM``) and lets a process reset it to the current level (write
    ``5`` to ``/proc/self/clear_refs``), so the figure is exact and nothing runs beside the timed step
    (a thread polling the RSS would take CPU time from it).  Elsewhere ``peak_mb`` stays None.
    """

    peak_mb: float | None = None

    def __enter__(self) -> _PeakRss:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self._start = _status_mb("VmRSS")
        except (OSError, KeyError):
            self._start = None
        return self

    def __exit__(self, *exc) -> None:
        if self._start is not None:
            self.peak_mb = _status_mb("VmHWM") - self._start


def make_step(model: nn.Module, mode: str, video: torch.Tensor, dtype: torch.dtype) -> Callable[[], None]:
    """One inference forward, or one training step (forward + backward + AdamW step)."""
    autocast = torch.autocast(video.device.type, dtype=dtype, enabled=dtype != torch.float32)
    if mode == "infer":
        model.eval()

        def step() -> None:
            with torch.inference_mode(), autocast:
                model(video)

        return step
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    labels = torch.zeros(video.shape[0], dtype=torch.long, device=video.device)

    def step() -> None:
        with autocast:
            loss = F.cross_entropy(model(video), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def _measure(step: Callable[[], None], device: torch.device) -> tuple[float, float | None]:
    """Seconds and peak memory (MB; None where it cannot be measured) of one step.

    Timed by hand, not by ``torch.utils.benchmark.Timer``: its ``timeit`` runs two warm-up calls
    before each measurement and ``blocked_autorange`` picks its own count, while these steps
    (seconds each) alternate between the two models in a fixed order after ``warmup`` steps."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        step()
        torch.cuda.synchronize(device)
        return time.perf_counter() - start, torch.cuda.max_memory_allocated(device) / 2**20
    with _PeakRss() as rss:
        start = time.perf_counter()
        step()
        seconds = time.perf_counter() - start
    return seconds, rss.peak_mb


def _timing(times: list[float], mems: list[float | None], batch: int, flops: int) -> Timing:
    med = statistics.median(times)
    return Timing(
        times_s=[round(t, 5) for t in times],
        median_s=med,
        min_s=min(times),
        max_s=max(times),
        spread=(max(times) - min(times)) / med,
        clips_per_s=batch / med,
        tflops=flops / med / 1e12,
        peak_mem_mb=None if None in mems else max(mems),
    )


def machine_info(device: torch.device) -> dict:
    """Where the numbers come from."""
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "load_avg_1min": os.getloadavg()[0],
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def run(
    variant: str = "t",
    batch: int = 1,
    frames: int = 32,
    size: int = 224,
    device: str = "cpu",
    dtype: str = "fp32",
    mode: str = "infer",
    reps: int = 5,
    warmup: int = 1,
    compile: bool = False,
    seed: int = 0,
    readable: bool = False,
    limit: bool = True,
) -> BenchResult:
    """Time both models, interleaved, and return a :class:`BenchResult` (see the module docstring).

    With ``dtype`` other than fp32 a copy of torchvision runs in fp32 too (the ``torchvision_fp32``
    row); ``limit`` adds the GEMM-throughput row (:func:`gemm_limit`).
    """
    if mode not in ("infer", "train"):
        raise ValueError(f"mode must be 'infer' or 'train', got {mode!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if reps < 1 or warmup < 0:
        raise ValueError(f"need reps >= 1 and warmup >= 0, got reps={reps}, warmup={warmup}")
    dev = torch.device(device)
    torch.manual_seed(seed)
    ours, theirs = (m.to(dev) for m in model_pair(variant, fast=not readable))
    video = torch.randn(batch, 3, frames, size, size, device=dev)  # (B, 3, T, H, W)
    with torch.no_grad():  # not inference_mode: tensors cached here may serve a training step next
        diff = (ours.eval()(video) - theirs.eval()(video)).abs().max().item()
    models = {"ours": ours, "torchvision": theirs}
    if dtype != "fp32":
        models["torchvision_fp32"] = copy.deepcopy(theirs)
    compile_s = {}
    if compile:
        models = {name: torch.compile(m) for name, m in models.items()}
    steps = {
        name: make_step(m, mode, video, torch.float32 if name == "torchvision_fp32" else DTYPES[dtype])
        for name, m in models.items()
    }
    if compile:  # the first call compiles; report it apart from the timings
        for name, step in steps.items():
            compile_s[name] = _measure(step, dev)[0]
    times: dict[str, list[float]] = {name: [] for name in steps}
    mems: dict[str, list[float | None]] = {name: [] for name in steps}
    for r in range(warmup + reps):
        order = list(steps) if r % 2 == 0 else list(reversed(steps))  # ABBA
        for name in order:
            seconds, mem = _measure(steps[name], dev)
            if r >= warmup:
                times[name].append(seconds)
                mems[name].append(mem)
    flops = model_flops(PRESETS[variant], (frames, size, size)) * batch * (3 if mode == "train" else 1)
    ratios = [t / o for t, o in zip(times["torchvision"], times["ours"], strict=True)]
    fp32 = None
    if "torchvision_fp32" in times:
        fp32 = _timing(times["torchvision_fp32"], mems["torchvision_fp32"], batch, flops)
        fp32_ratio = statistics.median(
            t / o for t, o in zip(times["torchvision_fp32"], times["ours"], strict=True)
        )
    ours_timing = _timing(times["ours"], mems["ours"], batch, flops)
    limit_tflops = (
        gemm_limit(linear_shapes(variant, frames, size, batch), DTYPES[dtype], dev) if limit else None
    )
    config = dict(variant=variant, batch=batch, frames=frames, size=size, device=device, dtype=dtype,
                  mode=mode, reps=reps, warmup=warmup, compile=compile, seed=seed,
                  readable=readable, limit=limit)  # fmt: skip
    return BenchResult(
        config=config,
        machine=machine_info(dev),
        flops_per_step=flops,
        ours=ours_timing,
        torchvision=_timing(times["torchvision"], mems["torchvision"], batch, flops),
        speedup=statistics.median(ratios),
        max_abs_diff=diff,
        compile_s=compile_s,
        torchvision_fp32=fp32,
        speedup_vs_fp32=None if fp32 is None else fp32_ratio,
        limit_tflops=limit_tflops,
        fraction_of_limit=None if limit_tflops is None else ours_timing.tflops / limit_tflops,
    )


def format_table(result: BenchResult) -> str:
    """A readable report of one run."""
    c, m = result.config, result.machine
    mem = "peak CUDA MB" if c["device"] == "cuda" else "peak RSS +MB"
    lines = [
        f"Video Swin-{c['variant'].upper()} {c['mode']} | batch {c['batch']} x 3 x {c['frames']} x "
        f"{c['size']} x {c['size']} | {c['device']} {c['dtype']} | compile={c['compile']} | "
        f"{c['reps']} reps after {c['warmup']} warm-up",
        f"torch {m['torch']}, torchvision {m['torchvision']}, {m['threads']} threads, "
        f"{m.get('gpu', m['cpu_capability'])}, load {m['load_avg_1min']:.1f}",
        "",
        f"{'model':<12} {'median s':>9} {'min s':>8} {'max s':>8} {'spread':>7} {'clips/s':>8} "
        f"{'TFLOP/s':>8} {mem:>13}",
    ]
    for name in ("ours", "torchvision", "torchvision_fp32"):
        t: Timing | None = getattr(result, name)
        if t is None:
            continue
        peak = "n/a" if t.peak_mem_mb is None else f"{t.peak_mem_mb:.0f}"
        label = "tv fp32" if name == "torchvision_fp32" else name
        lines.append(
            f"{label:<12} {t.median_s:9.3f} {t.min_s:8.3f} {t.max_s:8.3f} {t.spread:7.0%} "
            f"{t.clips_per_s:8.2f} {t.tflops:8.3f} {peak:>13}"
        )
    if result.limit_tflops is not None:
        lines.append(f"{'limit':<12} {'':>9} {'':>8} {'':>8} {'':>7} {'':>8} {result.limit_tflops:8.3f}   "
                     f"(the model's linear layers alone, {c['dtype']})")  # fmt: skip
    lines += [
        "",
        f"speed-up (median of per-repetition torchvision/ours): {result.speedup:.2f}x",
        f"max |logits ours - torchvision| (eval, same clip): {result.max_abs_diff:.2e}",
    ]
    if result.speedup_vs_fp32 is not None:
        lines.append(f"speed-up against torchvision in fp32 (no autocast): {result.speedup_vs_fp32:.2f}x")
    if result.fraction_of_limit is not None:
        lines.append(f"ours reaches {result.fraction_of_limit:.0%} of the limit row's TFLOP/s")
    if result.compile_s:
        lines.append(
            "first call incl. compile: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.compile_s.items())
        )
    return "\n".join(lines)


JSON_FIELDS = """--json fields:
  config          the arguments of this run
  machine         platform, processor, cpu_capability, threads, torch, torchvision, python,
                  load_avg_1min (and gpu on CUDA)
  flops_per_step  analytic FLOPs of one step (forward: 2 x MACs x batch; train: 3 x that)
  ours, torchvision
                  times_s (every timed repetition), median_s, min_s, max_s, spread ((max-min)/median),
                  clips_per_s, tflops (achieved), peak_mem_mb (CUDA max_memory_allocated; CPU peak RSS
                  increase during a step, from Linux's VmHWM; null elsewhere)
  speedup         median over repetitions of torchvision time / our time
  max_abs_diff    max |logits ours - logits torchvision| on the same clip, eval mode
  compile_s       with --compile: the first (compiling) call of each model, in seconds
  torchvision_fp32, speedup_vs_fp32
                  with --dtype bf16/fp16: torchvision without autocast, and torchvision-fp32 / ours
  limit_tflops, fraction_of_limit
                  TFLOP/s of the model's linear layers alone (F.linear at its shapes, run's dtype),
                  and ours.tflops / limit_tflops (null with --no-limit)"""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults, and keep the line breaks of the --json field list."""


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(
        prog="python -m vswin_edu.bench",
        description=__doc__.split("\n\n")[0]
        + " Prints a table (or JSON) with the median and spread of the step time of both models, "
        "clips/s, achieved TFLOP/s (analytic FLOPs from vswin_edu.complexity), peak memory, the "
        "speed-up and the max-abs-diff of their logits.",
        formatter_class=_HelpFormatter,
        epilog=JSON_FIELDS,
    )
    parser.add_argument("--variant", default="t", choices=sorted(PRESETS), help="model preset")
    parser.add_argument("--batch", type=int, default=1, help="clips per step")
    parser.add_argument("--frames", type=int, default=32, help="frames T of each clip")
    parser.add_argument("--size", type=int, default=224, help="height = width of each frame")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to run")
    parser.add_argument("--dtype", default="fp32", choices=sorted(DTYPES),
                        help="fp32, or autocast to bf16/fp16 (slow on CPUs without AMX)")  # fmt: skip
    parser.add_argument("--mode", default="infer", choices=["infer", "train"],
                        help="infer: eval forward under inference_mode; "
                        "train: forward + backward + AdamW step")  # fmt: skip
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed repetitions per model first")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile both models first (minutes on a CPU for Swin-T)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (unset: torch's)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the weights and the input clip")
    parser.add_argument("--readable", action="store_true",
                        help="time our readable route (the chapters' steps), not vswin_edu.fast")  # fmt: skip
    parser.add_argument("--no-limit", dest="limit", action="store_false",
                        help="skip the limit row (the model's linear layers timed alone)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    kwargs = {k: v for k, v in vars(args).items() if k not in ("json", "threads")}
    result = run(**kwargs)
    print(json.dumps(asdict(result), indent=2) if args.json else format_table(result))
    return result


if __name__ == "__main__":
    main()
