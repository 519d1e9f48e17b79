"""A small Video Swin in the *official / mmaction2 module layout*, written for the audit tests.

Written from the paper (Sec. 3.2: 3D shifted windows, cyclic shift with a mask, 3D relative position
bias) with the official repository's module structure — ``patch_embed``, ``layers.{i}.blocks.{j}``
(``norm1``, ``attn.qkv``, ``attn.relative_position_bias_table``, ``window_size``, ``shift_size``),
``layers.{i}.downsample`` — and its division of labour: a layer builds the mask once for its grid
and hands it to every block; a block pads, rolls, partitions and calls its attention on windows.

``bugs`` plants known mistakes, one name each:

* ``"shift_sign"`` — roll by ``+shift`` instead of ``-shift`` (the mask unchanged);
* ``"mask_inverted"`` — -100 where tokens share a region, 0 where they do not;
* ``"mask_before_padding"`` — the region slices laid on the unpadded grid, padded afterwards;
* ``"index_multipliers"`` — relative time offset multiplied by ``2M-1`` instead of ``(2M-1)^2``;
* ``"shift_in_even_blocks"`` — every block shifted, the even ones too;
* ``"upstream_slice"`` — the shrunken window's bias read with ``index[:N, :N]`` (what the official
  code and torchvision do);
* ``"mask_neg_inf"`` — ``-inf`` instead of -100 (same result in fp32, fragile).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

BUGS = {
    "shift_sign", "mask_inverted", "mask_before_padding", "index_multipliers", "shift_in_even_blocks",
    "upstream_slice", "mask_neg_inf",
}  # fmt: skip


def clamp(grid, window, shift):
    """Per axis: a grid no larger than the window is one window, and is not shifted."""
    return (
        tuple(min(g, w) for g, w in zip(grid, window, strict=True)),
        tuple(0 if g <= w else s for g, w, s in zip(grid, window, shift, strict=True)),
    )


def partition(x, window):
    """(B, D, H, W, C) -> (B*nW, P*M*M, C), windows in raster order."""
    p, m, n = window
    return rearrange(x, "b (d p) (h m) (w n) c -> (b d h w) (p m n) c", p=p, m=m, n=n)


def unpartition(windows, window, b, d, h, w):
    p, m, n = window
    return rearrange(windows, "(b d h w) (p m n) c -> b (d p) (h m) (w n) c",
                     b=b, d=d // p, h=h // m, w=w // n, p=p, m=m, n=n)  # fmt: skip


class WindowAttention3D(nn.Module):
    def __init__(self, dim, window_size, num_heads, bugs=frozenset()):
        super().__init__()
        self.window_size, self.num_heads, self.bugs = window_size, num_heads, bugs
        self.scale = (dim // num_heads) ** -0.5
        P, M, _ = window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.randn((2 * P - 1) * (2 * M - 1) ** 2, num_heads) * 0.02
        )
        self.register_buffer("relative_position_index", self.offsets_to_rows(window_size))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)

    def offsets_to_rows(self, window):
        """Table row of every pair of a ``window`` inside this module's (full) table."""
        P, M, _ = self.window_size
        grid = torch.stack(torch.meshgrid(*(torch.arange(n) for n in window), indexing="ij")).flatten(1)
        rel = (grid[:, :, None] - grid[:, None, :]).permute(1, 2, 0) + torch.tensor([P - 1, M - 1, M - 1])
        t_stride = (2 * M - 1) if "index_multipliers" in self.bugs else (2 * M - 1) ** 2
        return rel[..., 0] * t_stride + rel[..., 1] * (2 * M - 1) + rel[..., 2]

    def forward(self, x, mask=None, window=None):
        Bw, N, C = x.shape
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.num_heads)
        attn = (q * self.scale) @ k.transpose(-2, -1)  # (B*nW, nH, N, N)
        if "upstream_slice" in self.bugs or window == self.window_size:
            index = self.relative_position_index[:N, :N]
        else:
            index = self.offsets_to_rows(window)
        attn = attn + self.relative_position_bias_table[index].permute(2, 0, 1)[None]
        if mask is not None:
            nW = mask.shape[0]
            attn = (attn.view(Bw // nW, nW, self.num_heads, N, N) + mask[:, None][None]).view(Bw, -1, N, N)
        out = rearrange(self.softmax(attn) @ v, "b h n d -> b n (h d)")
        return self.proj(out)


class SwinTransformerBlock3D(nn.Module):
    def __init__(self, dim, num_heads, window_size, shift_size, bugs=frozenset()):
        super().__init__()
        self.window_size, self.shift_size, self.bugs = window_size, shift_size, bugs
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, window_size, num_heads, bugs)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x, mask_matrix):
        B, D, H, W, C = x.shape
        window, shift = clamp((D, H, W), self.window_size, self.shift_size)
        shortcut, x = x, self.norm1(x)
        pad = [(-n) % w for n, w in zip((D, H, W), window, strict=True)]
        x = F.pad(x, (0, 0, 0, pad[2], 0, pad[1], 0, pad[0]))
        Dp, Hp, Wp = x.shape[1:4]
        sign = 1 if "shift_sign" in self.bugs else -1
        if any(shift):
            x = torch.roll(x, shifts=tuple(sign * s for s in shift), dims=(1, 2, 3))
        out = self.attn(partition(x, window), mask=mask_matrix if any(shift) else None, window=window)
        x = unpartition(out, window, B, Dp, Hp, Wp)
        if any(shift):
            x = torch.roll(x, shifts=tuple(-sign * s for s in shift), dims=(1, 2, 3))
        x = shortcut + x[:, :D, :H, :W]
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x):  # (B, D, H, W, C), H and W padded to even
        x = F.pad(x, (0, 0, 0, x.shape[3] % 2, 0, x.shape[2] % 2))
        x = torch.cat(
            [x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], -1
        )
        return self.reduction(self.norm(x))


class BasicLayer(nn.Module):
    def __init__(self, dim, depth, num_heads, window_size, downsample, bugs=frozenset()):
        super().__init__()
        self.window_size, self.bugs = window_size, bugs
        self.shift_size = tuple(w // 2 for w in window_size)
        self.blocks = nn.ModuleList(
            SwinTransformerBlock3D(
                dim, num_heads, window_size,
                self.shift_size if i % 2 or "shift_in_even_blocks" in bugs else (0, 0, 0), bugs,
            )
            for i in range(depth)
        )  # fmt: skip
        self.downsample = PatchMerging(dim) if downsample else None

    def compute_mask(self, dhw, window, shift):
        """(nW, N, N) additive mask: tokens of a window from different rolled regions may not attend."""
        padded = tuple(n + (-n) % w for n, w in zip(dhw, window, strict=True))
        laid_on = dhw if "mask_before_padding" in self.bugs else padded
        labels = torch.zeros(laid_on)
        count = 0
        slices = [(slice(0, -w), slice(-w, -s), slice(-s, None)) if s else (slice(None),)
                  for w, s in zip(window, shift, strict=True)]  # fmt: skip
        for d in slices[0]:
            for h in slices[1]:
                for w in slices[2]:
                    labels[d, h, w] = count
                    count += 1
        extra = [p - n for p, n in zip(padded, laid_on, strict=True)]
        labels = F.pad(labels, (0, extra[2], 0, extra[1], 0, extra[0]))
        ids = partition(labels[None, ..., None], window)[..., 0]  # (nW, N)
        same = ids[:, :, None] == ids[:, None, :]
        if "mask_inverted" in self.bugs:
            same = ~same
        masked = float("-inf") if "mask_neg_inf" in self.bugs else -100.0
        return torch.zeros(same.shape).masked_fill(~same, masked)

    def forward(self, x):  # (B, C, D, H, W)
        x = rearrange(x, "b c d h w -> b d h w c")
        window, shift = clamp(x.shape[1:4], self.window_size, self.shift_size)
        mask = self.compute_mask(tuple(x.shape[1:4]), window, shift)
        for block in self.blocks:
            x = block(x, mask)
        if self.downsample is not None:
            x = self.downsample(x)
        return rearrange(x, "b d h w c -> b c d h w")


class SwinTransformer3D(nn.Module):
    """Backbone: (B, 3, T, H, W) -> features (B, C_last, T/2, H/32..., W/...)."""

    def __init__(self, embed_dim=16, depths=(2, 2, 2), num_heads=(1, 2, 4), window_size=(2, 4, 4),
                 patch_size=(2, 4, 4), bugs=()):  # fmt: skip
        super().__init__()
        bugs = frozenset(bugs)
        unknown = bugs - BUGS
        if unknown:
            raise ValueError(f"unknown bugs {sorted(unknown)}; known: {sorted(BUGS)}")
        self.patch_embed = nn.Conv3d(3, embed_dim, patch_size, stride=patch_size)
        self.layers = nn.ModuleList(
            BasicLayer(embed_dim * 2**i, depth, heads, window_size, i < len(depths) - 1, bugs)
            for i, (depth, heads) in enumerate(zip(depths, num_heads, strict=True))
        )

    def forward(self, x):
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        return x
