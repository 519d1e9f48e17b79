"""The fast route (vswin_edu.fast) equals the readable one, and its caches, groups and kernels are
exact (tiny sizes only; speed itself is measured by ``vswin_edu.bench``)."""

import inspect
import warnings

import pytest
import torch

import vswin_edu.fast.kernels as kernels
import vswin_edu.fast.mlp as fast_mlp
import vswin_edu.shift as shift_mod
from vswin_edu import fast
from vswin_edu.attention import WindowAttention3D
from vswin_edu.block import Mlp, VideoSwinBlock, shifted_window_attention
from vswin_edu.fast import (
    FusedAttentionFunction,
    cached_relative_position_index,
    cached_shifted_window_mask,
    cached_window_groups,
    shifted_window_groups,
    token_order,
)
from vswin_edu.model import build, video_swin_micro
from vswin_edu.relpos import relative_position_index
from vswin_edu.shift import cyclic_shift, shifted_window_mask
from vswin_edu.windows import window_partition

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _forward_and_grads(module, x, call):
    """Output and the gradients of every parameter and of the input under a fixed random loss."""
    module.zero_grad()
    x = x.clone().requires_grad_()
    out = call(module, x)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * weight).sum().backward()
    grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    return out.detach(), x.grad, grads


def _assert_fast_equals_readable(module, x, call=lambda m, x: m(x)):
    module.use_fast_path(False) if hasattr(module, "use_fast_path") else setattr(module, "fast", False)
    out_r, gx_r, grads_r = _forward_and_grads(module, x, call)
    module.use_fast_path(True) if hasattr(module, "use_fast_path") else setattr(module, "fast", True)
    out_f, gx_f, grads_f = _forward_and_grads(module, x, call)
    torch.testing.assert_close(out_f, out_r, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx_f, gx_r, rtol=1e-5, atol=1e-5)
    assert grads_f.keys() == grads_r.keys() and grads_r
    for name in grads_r:
        torch.testing.assert_close(grads_f[name], grads_r[name], rtol=1e-5, atol=1e-5, msg=name)


# --- fast == readable ------------------------------------------------------------------------------

BLOCK_CASES = {
    "regular": ((2, 4, 8, 8), (2, 4, 4), (0, 0, 0)),
    "shifted": ((2, 4, 8, 8), (2, 4, 4), (1, 2, 2)),
    "padding, odd grid": ((2, 5, 7, 9), (2, 3, 3), (1, 1, 1)),
    "shift 0 on D and W": ((1, 4, 8, 8), (2, 4, 4), (0, 2, 0)),
    "shrunken D and H (window > grid)": ((3, 2, 3, 8), (4, 4, 4), (2, 2, 2)),
    "shrunken W only, padded D": ((2, 3, 8, 3), (2, 4, 4), (1, 2, 2)),
}


@pytest.mark.parametrize("case", list(BLOCK_CASES), ids=list(BLOCK_CASES))
def test_fast_block_equals_readable_block_forward_and_gradients(case):
    (B, D, H, W), window, shift = BLOCK_CASES[case]
    block = VideoSwinBlock(16, 2, window_size=window, shift_size=shift).train()
    _assert_fast_equals_readable(block, torch.randn(B, D, H, W, 16))


def test_fast_attention_is_the_twin_of_the_readable_function():
    attn = WindowAttention3D(16, (2, 4, 4), 2).train()
    x = torch.randn(2, 5, 9, 7, 16)
    readable = shifted_window_attention(x, attn, (2, 4, 4), (1, 2, 2))
    torch.testing.assert_close(fast.shifted_window_attention(x, attn, (2, 4, 4), (1, 2, 2)), readable)
    assert "vswin_edu.block.shifted_window_attention" in inspect.getdoc(fast.shifted_window_attention)


@pytest.mark.parametrize(
    "overrides, video_shape",
    [
        ({}, (2, 3, 8, 32, 32)),  # batch 2, both stages shifted
        ({}, (1, 3, 6, 24, 36)),  # 3 x 6 x 9 tokens: D shrinks the window, H, W pad; stage 2: H shrinks
        ({"shift_size": (0, 2, 2)}, (2, 3, 16, 32, 32)),  # no temporal shift (an ablation)
        ({"attention": "factorised"}, (1, 3, 8, 32, 32)),
    ],
)
def test_fast_model_equals_readable_model_forward_and_gradients(overrides, video_shape):
    model = build("micro", **overrides).train()
    _assert_fast_equals_readable(model, torch.randn(video_shape))


def test_fast_model_equals_readable_model_with_dropout_off_and_eval_on_swin_t_shapes():
    """The paper's window (8, 7, 7) with a clamped temporal window and a shrunken spatial one."""
    model = build("t", depths=(2, 2), num_heads=(3, 6), drop_path_rate=0.0).eval()
    video = torch.randn(1, 3, 4, 64, 64)  # 2 x 16 x 16 tokens, then 2 x 8 x 8 (window 8 x 7 x 7)
    with torch.no_grad():
        readable = model(video)
        fast_out = model.use_fast_path()(video)
    torch.testing.assert_close(fast_out, readable, rtol=1e-5, atol=1e-5)
    assert model.config.fast and all(b.fast for s in model.stages for b in s.blocks)


def test_readable_is_the_default_and_fast_is_one_switch():
    assert not video_swin_micro().config.fast
    model = video_swin_micro(fast=True)
    assert all(block.fast for stage in model.stages for block in stage.blocks)
    assert not model.use_fast_path(False).config.fast


# --- the caches -----------------------------------------------------------------------------------


def test_cached_mask_is_reused_and_keyed_by_grid_device_dtype(fresh_caches):
    key = ((4, 8, 12), (2, 4, 4), (1, 2, 2))
    first = cached_shifted_window_mask(*key, CPU, torch.float32)
    assert cached_shifted_window_mask(*key, CPU, torch.float32) is first  # same object, not rebuilt
    torch.testing.assert_close(first, shifted_window_mask(*key), rtol=0, atol=0)
    other_grid = cached_shifted_window_mask((4, 8, 8), (2, 4, 4), (1, 2, 2), CPU, torch.float32)
    other_dtype = cached_shifted_window_mask(*key, CPU, torch.float64)
    other_device = cached_shifted_window_mask(*key, torch.device("meta"), torch.float32)
    assert other_grid.shape == (8, 32, 32) and other_grid is not first
    assert other_dtype.dtype == torch.float64 and torch.equal(other_dtype.float(), first)
    assert other_device.device.type == "meta" and other_device.shape == first.shape
    groups = cached_window_groups(*key, CPU, torch.float32)
    assert cached_window_groups(*key, CPU, torch.float32) is groups
    assert cached_window_groups(*key, CPU, torch.float64).masks.dtype == torch.float64


def test_fast_block_builds_its_mask_once_and_the_readable_block_every_forward(monkeypatch, fresh_caches):
    calls = []
    original = shift_mod.shifted_window_mask

    def counting(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(fast.groups, "shifted_window_mask", counting)
    block = VideoSwinBlock(8, 2, window_size=(2, 3, 3), shift_size=(1, 1, 1), fast=True).eval()
    x = torch.randn(1, 4, 9, 6, 8)
    first = block(x)
    built = len(calls)
    assert built >= 1
    assert torch.equal(block(x), first) and len(calls) == built  # second forward: cache hits only
    block(torch.randn(1, 4, 9, 9, 8))
    assert len(calls) > built  # a new grid builds a new mask


def test_caches_filled_under_inference_mode_serve_training(fresh_caches):
    block = VideoSwinBlock(8, 2, window_size=(2, 2, 4), shift_size=(1, 1, 2), fast=True)
    x = torch.randn(1, 2, 6, 3, 8)  # W = 3 < 4: a shrunken window, so a cached relative index too
    with torch.inference_mode():
        block.eval()(x)  # every cache of this grid is first filled here
    block.train()(x).sum().backward()  # would fail if a cached tensor were an inference tensor
    assert block.attn.relpos.relative_position_bias_table.grad.abs().sum() > 0


def test_cached_relative_index_of_a_shrunken_window_is_the_readable_one(fresh_caches):
    index = cached_relative_position_index((1, 2, 2), (2, 3, 3), CPU)
    assert cached_relative_position_index((1, 2, 2), (2, 3, 3), CPU) is index
    assert torch.equal(index, relative_position_index((1, 2, 2), (2, 3, 3)))


# --- window groups and the gather -----------------------------------------------------------------


@pytest.mark.parametrize(
    "dhw, window, shift",
    [
        ((4, 8, 8), (2, 4, 4), (1, 2, 2)),
        ((4, 12, 12), (2, 4, 4), (0, 2, 1)),
        ((6, 6, 9), (3, 3, 3), (1, 1, 1)),
    ],
)
def test_window_groups_share_their_mask_and_cover_every_window_once(dhw, window, shift):
    mask = shifted_window_mask(dhw, window, shift)
    groups = shifted_window_groups(dhw, window, shift)
    assert len(groups.sizes) <= 8 and sum(groups.sizes) == mask.shape[0]
    assert sorted(groups.order.tolist()) == list(range(mask.shape[0]))
    for members, pattern in zip(groups.order.split(groups.sizes), groups.masks, strict=True):
        assert torch.equal(mask[members], pattern.expand(len(members), -1, -1))


def test_swin_t_first_shifted_block_has_eight_groups():
    groups = shifted_window_groups((16, 56, 56), (8, 7, 7), (4, 3, 3))
    assert sorted(groups.sizes) == [1, 1, 7, 7, 7, 7, 49, 49]


@pytest.mark.parametrize("shift", [(1, 2, 2), (0, 0, 0)])
def test_token_order_is_shift_plus_partition_with_windows_sorted_by_pattern(shift):
    dhw, window = (4, 12, 12), (2, 4, 4)
    x = torch.randn(2, *dhw, 3)
    order, inverse = token_order(dhw, window, shift, CPU)
    readable = window_partition(cyclic_shift(x, shift), window).view(2, -1, 32, 3)  # (B, nW, N, C)
    if any(shift):
        readable = readable[:, shifted_window_groups(dhw, window, shift).order]
    assert torch.equal(x.flatten(1, 3)[:, order].view(2, -1, 32, 3), readable)
    assert torch.equal(order[inverse], torch.arange(4 * 12 * 12))


# --- the fused kernel and the chunked MLP ---------------------------------------------------------


def _assert_fused_equals_explicit(q, k, v, mask, scale, rtol, atol):
    """FusedAttentionFunction output and gradients (q, k, v, mask) vs autograd of the written-out path."""
    out = FusedAttentionFunction.apply(q, k, v, mask, scale)
    explicit = ((q @ k.transpose(-2, -1)) * scale + mask).softmax(-1) @ v
    torch.testing.assert_close(out, explicit)
    g = torch.randn_like(out)
    ours = torch.autograd.grad(out, (q, k, v, mask), g)
    want = torch.autograd.grad(explicit, (q, k, v, mask), g)
    for a, e, name in zip(ours, want, "qkvm", strict=True):
        assert a.shape == e.shape, name
        torch.testing.assert_close(a, e, rtol=rtol, atol=atol, msg=name)


def test_fused_function_gradients_are_exact_in_float64():
    b, nH, N, d = 2, 2, 5, 3
    q, k, v = (torch.randn(b, nH, N, d, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.randn(1, nH, N, N, dtype=torch.float64, requires_grad=True)  # broadcast over b
    scale = d**-0.5
    assert torch.autograd.gradcheck(lambda *t: FusedAttentionFunction.apply(*t, scale), (q, k, v, mask))
    _assert_fused_equals_explicit(q, k, v, mask, scale, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mask_shape", ["shared", "per_window", "2d"])
def test_fused_backward_in_chunks_equals_autograd(monkeypatch, mask_shape):
    """Several chunks in the backward (tiny chunk budget), masked -100 logits (the floored exp), and
    masks broadcast over windows, given per window, or one (N, N) mask for all windows and heads."""
    monkeypatch.setattr(kernels, "BACKWARD_CHUNK_BYTES", 1)  # one window per chunk
    b, nH, N, d = 5, 2, 8, 4
    q, k, v = (torch.randn(b, nH, N, d, requires_grad=True) for _ in range(3))
    shape = {"shared": (1, nH, N, N), "per_window": (b, nH, N, N), "2d": (N, N)}[mask_shape]
    mask = torch.randn(shape) + torch.where(torch.rand(shape) < 0.3, -100.0, 0.0)
    mask.diagonal(dim1=-2, dim2=-1).zero_()  # every query may attend to itself
    mask.requires_grad_()
    _assert_fused_equals_explicit(q, k, v, mask, d**-0.5, rtol=1e-4, atol=1e-6)


def test_the_bias_learns_through_the_fused_kernel():
    block = VideoSwinBlock(16, 2, window_size=(2, 4, 4), shift_size=(1, 2, 2), fast=True).train()
    block(torch.randn(2, 4, 8, 8, 16)).square().mean().backward()
    assert block.attn.relpos.relative_position_bias_table.grad.abs().sum() > 0


def test_changed_bias_table_changes_the_fast_output():
    block = VideoSwinBlock(16, 2, window_size=(2, 4, 4), shift_size=(1, 2, 2), fast=True).eval()
    x = torch.randn(1, 4, 8, 8, 16)
    before = block(x)
    with torch.no_grad():
        table = block.attn.relpos.relative_position_bias_table
        table.add_(1.0 + torch.randn_like(table))
    after = block(x)
    assert (after - before).abs().max() > 1e-3  # no stale bias anywhere
    torch.testing.assert_close(after, block(x, return_attn=True)[0], rtol=1e-5, atol=1e-5)  # explicit path


def test_mlp_in_token_chunks_equals_all_tokens(monkeypatch):
    mlp = Mlp(8, 32)
    x = torch.randn(2, 3, 5, 7, 8, requires_grad=True)  # 210 tokens
    whole = mlp(x)
    grads_whole = torch.autograd.grad(whole.square().sum(), (x, mlp.fc1.weight))
    monkeypatch.setattr(fast_mlp, "MLP_CHUNK_TOKENS", 16)  # 14 chunks, the last one short
    chunked = fast_mlp.chunked_mlp(mlp, x)
    grads_chunked = torch.autograd.grad(chunked.square().sum(), (x, mlp.fc1.weight))
    torch.testing.assert_close(chunked, whole)
    for a, e in zip(grads_chunked, grads_whole, strict=True):
        torch.testing.assert_close(a, e)


# --- compile and autocast -------------------------------------------------------------------------


@pytest.mark.parametrize("fast_route", [True, False], ids=["fast", "readable"])
def test_compiled_block_equals_eager_without_graph_breaks(fast_route):
    block = VideoSwinBlock(16, 2, window_size=(2, 4, 4), shift_size=(1, 2, 2), fast=fast_route).train()
    x = torch.randn(2, 4, 8, 8, 16)
    torch._dynamo.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dynamo notes that it traces through lru_cache
        # fullgraph=True raises on any graph break; aot_eager traces forward and backward exactly
        # like inductor would, without spending a minute in the C++ compiler
        compiled = torch.compile(block, backend="aot_eager", fullgraph=True)
        xc, xe = x.clone().requires_grad_(), x.clone().requires_grad_()
        out = compiled(xc)
    eager = block(xe)
    torch.testing.assert_close(out, eager, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    eager.sum().backward()
    torch.testing.assert_close(xc.grad, xe.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fast_route", [True, False], ids=["fast", "readable"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_forward_is_finite_and_close_to_fp32(dtype, fast_route):
    model = video_swin_micro(fast=fast_route).eval()
    video = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        ref = model(video)
        with torch.autocast("cpu", dtype=dtype):
            low = model(video)
            _, weights = model.stages[0].blocks[1](torch.randn(1, 4, 8, 8, 48), return_attn=True)
    assert torch.isfinite(low).all() and torch.isfinite(weights).all()
    torch.testing.assert_close(low.float(), ref, rtol=0.05, atol=0.05)


def test_swin_t_under_bf16_autocast_stays_within_2e_2_of_fp32():
    """Issue #18's accuracy bar for bf16 inference: Swin-T, random weights, fast route, every stage
    (a 20x96x96 clip: a 10x24x24 grid shifted on all three axes and padded in stage 1, a 10x3x3 grid
    and shrunken window in stage 4)."""
    torch.manual_seed(0)
    model = build("t", fast=True).eval()
    video = torch.randn(1, 3, 20, 96, 96)
    with torch.no_grad():
        ref = model(video)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(video)
    assert low.dtype == torch.bfloat16
    assert (low.float() - ref).abs().max() < 2e-2


# --- the accelerator branch, exercised on CPU --------------------------------------------------------


def _counting_fused_kernel(monkeypatch) -> list:
    calls: list = []
    original = FusedAttentionFunction.apply

    def apply(*args):
        calls.append(args[0].device.type)
        return original(*args)

    monkeypatch.setattr(FusedAttentionFunction, "apply", apply)
    return calls


def test_a_cpu_training_step_uses_the_fused_cpu_kernel_and_inference_does_not(monkeypatch):
    calls = _counting_fused_kernel(monkeypatch)
    model = video_swin_micro(fast=True)
    video = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        model.eval()(video)
    assert calls == []  # no gradient: PyTorch's own fused kernel
    model.train()(video).sum().backward()
    assert calls and set(calls) == {"cpu"}


def test_the_accelerator_branch_runs_in_bf16_without_cpu_only_kernels(monkeypatch):
    """What a CUDA training step runs, on the meta device (shapes and dtypes, no data): bf16 weights,
    masks and bias in the queries' dtype for SDPA, forward and backward — and never the CPU kernel."""
    calls = _counting_fused_kernel(monkeypatch)
    model = video_swin_micro(fast=True).to(device="meta", dtype=torch.bfloat16).train()
    video = torch.randn(2, 3, 16, 32, 32, device="meta", dtype=torch.bfloat16)
    logits = model(video)
    logits.float().logsumexp(-1).mean().backward()
    assert logits.shape == (2, 8) and logits.dtype == torch.bfloat16 and logits.device.type == "meta"
    table = model.stages[0].blocks[1].attn.relpos.relative_position_bias_table
    assert table.grad is not None and table.grad.dtype == torch.bfloat16
    assert calls == []
