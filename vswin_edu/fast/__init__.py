"""The fast route: every optimisation of the model, in one place (appendix 14).

A model built with ``fast=True`` (:class:`vswin_edu.config.VideoSwinConfig`) runs these instead of
the readable functions the chapters build; the numbers are the same (``tests/test_fast.py``
holds them equal, forward and gradients, fp32 within 1e-5).  Each one names what it replaces:

* :func:`.attention.shifted_window_attention` replaces
  :func:`vswin_edu.block.shifted_window_attention`: the changes below, together.
* :func:`.gather.token_order` replaces pad -> ``cyclic_shift`` -> ``window_partition`` and their
  inverses: one gather of a cached permutation instead of rolls and partition copies (about ten
  times less layout time).
* :func:`.groups.cached_window_groups` replaces ``shifted_window_mask`` on every forward: built
  once per grid, and at most 8 small ``(nH, N, N)`` masks instead of a ``(nW, nH, N, N)`` sum.
* :func:`.kernels.fused_attention` replaces ``F.scaled_dot_product_attention`` with a mask that
  needs a gradient: the flash kernel in training too (the CPU math fallback writes out the
  ``(N, N)`` probabilities).
* :func:`.attention.relative_position_bias` replaces ``RelativePositionBias3D.forward``: the index
  of a shrunken window cached, and a head-major gather.
* :func:`.attention.project_heads` replaces ``WindowAttention3D.project`` only while
  ``torch.export`` traces (ONNX export): heads merged inside one einsum with the projection.
* :func:`.mlp.chunked_mlp` replaces ``Mlp.forward`` on all tokens: the hidden activations of a
  chunk stay in the CPU cache.

The caches are keyed by (grid, window, shift, device, dtype) and built outside inference mode, so a
mask first built by an inference call still serves training.  :func:`clear_caches` empties them.
"""

from __future__ import annotations

from .attention import (
    grouped_window_attention,
    project_heads,
    relative_position_bias,
    shifted_window_attention,
)
from .gather import token_order, window_plan
from .groups import (
    WindowGroups,
    cached_relative_position_index,
    cached_shifted_window_mask,
    cached_window_groups,
    shifted_window_groups,
)
from .kernels import BACKWARD_CHUNK_BYTES, FusedAttentionFunction, fused_attention
from .mlp import MLP_CHUNK_TOKENS, chunked_mlp


def clear_caches() -> None:
    """Empty every cache of the fast route (masks, window groups, bias indices, token orders)."""
    for cache in (
        cached_shifted_window_mask,
        cached_window_groups,
        cached_relative_position_index,
        token_order,
        window_plan,
    ):
        cache.cache_clear()


__all__ = [
    "BACKWARD_CHUNK_BYTES",
    "MLP_CHUNK_TOKENS",
    "FusedAttentionFunction",
    "WindowGroups",
    "cached_relative_position_index",
    "cached_shifted_window_mask",
    "cached_window_groups",
    "chunked_mlp",
    "clear_caches",
    "fused_attention",
    "grouped_window_attention",
    "project_heads",
    "relative_position_bias",
    "shifted_window_attention",
    "shifted_window_groups",
    "token_order",
    "window_plan",
]
