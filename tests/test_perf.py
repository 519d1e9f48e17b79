"""The fast paths are exact: cached masks, grouped windows, the CPU fused-attention backward,
torch.compile and autocast (tiny sizes only; speed itself is measured by ``vswin_edu.bench``)."""

import warnings

import pytest
import torch

import vswin_edu.shift as shift_mod
from vswin_edu.attention import FusedAttentionFunction, WindowAttention3D
from vswin_edu.block import Mlp, VideoSwinBlock, token_order
from vswin_edu.model import video_swin_micro
from vswin_edu.shift import (
    cached_shifted_window_mask,
    cached_window_groups,
    group_windows_by_mask,
    shifted_window_groups,
    shifted_window_mask,
    sorted_by_pattern,
)
from vswin_edu.windows import window_partition

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_cached_mask_is_reused_and_keyed_by_grid_device_dtype():
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


def test_block_builds_its_mask_once(monkeypatch):
    calls = []
    original = shift_mod.shifted_window_mask
    monkeypatch.setattr(shift_mod, "shifted_window_mask", lambda *a: calls.append(a) or original(*a))
    block = VideoSwinBlock(8, 2, window_size=(2, 3, 3), shift_size=(1, 1, 1)).eval()
    x = torch.randn(1, 4, 9, 6, 8)  # a grid no other test uses, so the caches start empty
    first = block(x)
    built = len(calls)
    assert built >= 1
    assert torch.equal(block(x), first) and len(calls) == built  # second forward: cache hits only
    block(torch.randn(1, 4, 9, 9, 8))
    assert len(calls) > built  # a new grid builds a new mask


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
    for groups in (shifted_window_groups(dhw, window, shift), group_windows_by_mask(mask)):
        assert len(groups.windows) <= 8 and groups.num_windows == mask.shape[0]
        assert sorted(torch.cat(groups.windows).tolist()) == list(range(mask.shape[0]))
        for windows, pattern in zip(groups.windows, groups.masks, strict=True):
            assert torch.equal(mask[windows], pattern.expand(len(windows), -1, -1))


def test_swin_t_first_shifted_block_has_eight_groups():
    groups = shifted_window_groups((16, 56, 56), (8, 7, 7), (4, 3, 3))
    assert sorted(len(w) for w in groups.windows) == [1, 1, 7, 7, 7, 7, 49, 49]


def test_fused_function_gradients_are_exact_in_float64():
    b, nH, N, d = 2, 2, 5, 3
    q, k, v = (torch.randn(b, nH, N, d, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.randn(1, nH, N, N, dtype=torch.float64, requires_grad=True)  # broadcast over b
    scale = d**-0.5
    assert torch.autograd.gradcheck(lambda *t: FusedAttentionFunction.apply(*t, scale), (q, k, v, mask))
    _assert_fused_equals_explicit(q, k, v, mask, scale, rtol=1e-10, atol=1e-12)


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


def test_training_gradients_of_fused_block_equal_explicit_block():
    block = VideoSwinBlock(16, 2, window_size=(2, 4, 4), shift_size=(1, 2, 2)).train()
    x = torch.randn(2, 4, 8, 8, 16)
    grads = []
    for return_attn in (False, True):  # fused path (autograd.Function on CPU), then explicit path
        block.zero_grad()
        out = block(x, return_attn=return_attn)
        out = out[0] if return_attn else out
        out.square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in block.named_parameters()})
    table = "attn.relpos.relative_position_bias_table"
    assert grads[0][table].abs().sum() > 0  # the bias learns through the fused kernel
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6, msg=name)


def test_changed_bias_table_changes_the_output():
    attn = WindowAttention3D(16, (2, 4, 4), 2).eval()
    x = window_partition(torch.randn(1, 4, 8, 8, 16), (2, 4, 4))
    mask = shifted_window_mask((4, 8, 8), (2, 4, 4), (1, 2, 2))
    before = attn(x, mask=mask)
    with torch.no_grad():
        attn.relpos.relative_position_bias_table.add_(
            1.0 + torch.randn_like(attn.relpos.relative_position_bias_table)
        )
    after = attn(x, mask=mask)
    assert (after - before).abs().max() > 1e-3  # no stale bias anywhere
    torch.testing.assert_close(after, attn(x, mask=mask, return_attn=True)[0], rtol=1e-5, atol=1e-5)


def test_compiled_block_equals_eager_without_graph_breaks():
    block = VideoSwinBlock(16, 2, window_size=(2, 4, 4), shift_size=(1, 2, 2)).train()
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


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_forward_is_finite_and_close_to_fp32(dtype):
    model = video_swin_micro().eval()
    video = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        ref = model(video)
        with torch.autocast("cpu", dtype=dtype):
            low = model(video)
            _, weights = model.stages[0].blocks[1](torch.randn(1, 4, 8, 8, 48), return_attn=True)
    assert torch.isfinite(low).all() and torch.isfinite(weights).all()
    torch.testing.assert_close(low.float(), ref, rtol=0.05, atol=0.05)


def test_masks_cached_under_inference_mode_serve_training():
    block = VideoSwinBlock(8, 2, window_size=(2, 2, 2), shift_size=(1, 1, 1))
    x = torch.randn(1, 2, 6, 4, 8)  # a grid no other test uses: its mask is first built right here
    with torch.inference_mode():
        block.eval()(x)
    block.train()(x).sum().backward()  # would fail if the cached mask were an inference tensor
    assert block.attn.relpos.relative_position_bias_table.grad is not None


@pytest.mark.parametrize("mask_shape", ["shared", "per_window", "2d"])
def test_fused_backward_in_chunks_equals_autograd(monkeypatch, mask_shape):
    """Several chunks in the backward (tiny chunk budget), masked -100 logits (the floored exp), and
    masks broadcast over windows, given per window, or one (N, N) mask for all windows and heads."""
    import vswin_edu.attention as attention_mod

    monkeypatch.setattr(attention_mod, "BACKWARD_CHUNK_BYTES", 1)  # one window per chunk
    b, nH, N, d = 5, 2, 8, 4
    q, k, v = (torch.randn(b, nH, N, d, requires_grad=True) for _ in range(3))
    shape = {"shared": (1, nH, N, N), "per_window": (b, nH, N, N), "2d": (N, N)}[mask_shape]
    mask = torch.randn(shape) + torch.where(torch.rand(shape) < 0.3, -100.0, 0.0)
    mask.diagonal(dim1=-2, dim2=-1).zero_()  # every query may attend to itself
    mask.requires_grad_()
    _assert_fused_equals_explicit(q, k, v, mask, d**-0.5, rtol=1e-4, atol=1e-6)


def test_windows_sorted_by_pattern_are_slices():
    raster = shifted_window_groups((16, 56, 56), (8, 7, 7), (4, 3, 3))
    assert not raster.in_order and raster.sizes == tuple(len(w) for w in raster.windows)
    assert torch.equal(raster.order[raster.inverse], torch.arange(raster.num_windows))
    in_order = sorted_by_pattern(raster)
    assert in_order.in_order and in_order.sizes == raster.sizes
    assert torch.equal(torch.cat(in_order.windows), torch.arange(raster.num_windows))
    assert torch.equal(in_order.masks, raster.masks)


def test_block_gathers_windows_sorted_by_pattern():
    """token_order(by_mask_pattern=True) puts the windows of every mask pattern next to each other."""
    dhw, window, shift = (4, 12, 12), (2, 4, 4), (1, 2, 2)
    N = 2 * 4 * 4
    plain, _ = token_order(dhw, window, shift, CPU)
    grouped, inverse = token_order(dhw, window, shift, CPU, by_mask_pattern=True)
    groups = shifted_window_groups(dhw, window, shift)
    assert torch.equal(grouped.view(-1, N), plain.view(-1, N)[groups.order])
    assert torch.equal(grouped[inverse], torch.arange(4 * 12 * 12))


def test_mlp_in_token_chunks_equals_all_tokens(monkeypatch):
    import vswin_edu.block as block_mod

    mlp = Mlp(8, 32)
    x = torch.randn(2, 3, 5, 7, 8, requires_grad=True)  # 210 tokens
    whole = mlp(x)
    grads_whole = torch.autograd.grad(whole.square().sum(), (x, mlp.fc1.weight))
    monkeypatch.setattr(block_mod, "MLP_CHUNK_TOKENS", 16)  # 14 chunks, the last one short
    chunked = mlp(x)
    grads_chunked = torch.autograd.grad(chunked.square().sum(), (x, mlp.fc1.weight))
    torch.testing.assert_close(chunked, whole)
    for a, e in zip(grads_chunked, grads_whole, strict=True):
        torch.testing.assert_close(a, e)
