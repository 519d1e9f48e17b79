"""Checkpoint converters: torchvision, official / mmaction2 and 2D Swin weights <-> vswin_edu
(paper Sec. 3.3 and 4.1 "initialised from ImageNet"; chapter 9, appendix chapter 13).

Every converter is an explicit key map (no guessing by position) and checks what it is given:
keys it cannot map are reported, and :func:`load_state_dict_strict` names missing, unexpected and
shape-mismatched keys before anything is loaded.  Buffers that the model recomputes
(``relative_position_index``, ``attn_mask``) are dropped on the way in.

Key layouts (``i`` stage, ``j`` block; ``X`` is a block suffix such as ``norm1.weight``)::

    ours                                     torchvision swin3d_*            official / mmaction2
    patch_embed.proj / .norm                 patch_embed.proj / .norm        backbone.patch_embed.proj / .norm
    stages.i.blocks.j.X                      features.{2i}.j.X               backbone.layers.i.blocks.j.X
      ... attn.relpos.relative_position_bias_table   (attn.relative_position_bias_table elsewhere)
      ... mlp.fc1 / mlp.fc2                  mlp.0 / mlp.3                   mlp.fc1 / mlp.fc2
    stages.i.downsample.norm / .reduction    features.{2i+1}.norm / ...      backbone.layers.i.downsample...
    norm                                     norm                            backbone.norm (mmaction2: norm3)
    head                                     head                            cls_head.fc_cls

2D Swin image checkpoints (torchvision ``swin_t/s/b``: ``features.0.0`` conv, ``features.0.2`` norm,
blocks ``features.{2i+1}.j``, merging ``features.{2i+2}``; official: ``layers.i.blocks.j``, wrapped
in ``['model']``) are renamed the same way and then *inflated* (:func:`inflate_2d`).

The package reads in four parts: :mod:`.keymaps` (the key maps and layout detection),
:mod:`.inflate` (2D -> 3D), :mod:`.checkpoint` (files, variants, loading into a model) and
:mod:`.browse` (what each key means).  Everything public is importable from ``vswin_edu.convert``.
"""

from __future__ import annotations

from .browse import KEY_MEANINGS, browse, describe_key, key_part, parameter_groups
from .checkpoint import (
    build_with_weights,
    check_state_dict,
    infer_config,
    infer_window,
    load,
    load_into,
    load_state_dict_strict,
    read_checkpoint,
    to_vswin,
    variant_name,
)
from .inflate import InflationReport, inflate_2d, inflate_bias_table, inflate_patch_weight
from .keymaps import (
    LAYOUTS,
    Rules,
    StateDict,
    detect_layout,
    from_official,
    from_torchvision,
    rename_key,
    to_official,
    to_torchvision,
    unwrap_checkpoint,
)
from .twin import torchvision_architecture

__all__ = [
    "torchvision_architecture",
    "StateDict",
    "Rules",
    "LAYOUTS",
    "rename_key",
    "from_torchvision",
    "to_torchvision",
    "from_official",
    "to_official",
    "unwrap_checkpoint",
    "detect_layout",
    "InflationReport",
    "inflate_patch_weight",
    "inflate_bias_table",
    "inflate_2d",
    "read_checkpoint",
    "to_vswin",
    "infer_window",
    "infer_config",
    "variant_name",
    "check_state_dict",
    "load_state_dict_strict",
    "load_into",
    "build_with_weights",
    "load",
    "KEY_MEANINGS",
    "describe_key",
    "key_part",
    "browse",
    "parameter_groups",
]
