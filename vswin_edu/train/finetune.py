"""Fine-tuning from a pre-trained checkpoint (paper Sec. 4.1; chapter 11): ``--finetune CKPT``.

The paper's recipe: the backbone starts from pre-trained weights, the classifier head starts
afresh, and the backbone learns at 0.1x the head's rate (``backbone_lr_ratio``, applied by
:func:`~vswin_edu.train.optim.adamw`).  Optionally the patch embedding and the first stages stay
frozen: a fixed feature extractor, cheaper to train and harder to overfit on a small dataset.

    read_pretrained     the --finetune file, read safely before any output is written
    load_pretrained     its weights into the model: any layout vswin_edu.convert reads; the head
                        is kept if its classes fit, re-initialised otherwise
    frozen_modules      patch embedding + the first N stages
    freeze              requires_grad False on them (the loop keeps them in eval mode)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

from torch import nn

from ..convert import load_into, read_checkpoint, to_vswin
from ..model import VideoSwinTransformer
from .checkpoint import CheckpointError
from .optim import HEAD_PREFIX

FLAG = "finetune (--finetune)"


def read_pretrained(path: str | os.PathLike) -> Mapping:
    """The checkpoint at ``path`` (``weights_only``): a ``vswin_edu.train`` checkpoint or a model
    state dict.  Raises :class:`CheckpointError` naming the flag and the file."""
    try:
        return read_checkpoint(path)
    except (FileNotFoundError, ValueError) as err:
        raise CheckpointError(f"{FLAG}: {err}") from None


def load_pretrained(model: VideoSwinTransformer, checkpoint: Mapping, path: str) -> VideoSwinTransformer:
    """Load the pre-trained weights of ``checkpoint`` (read from ``path``) into ``model``, strictly.

    Any layout :func:`vswin_edu.convert.to_vswin` reads: ours (a training checkpoint's ``model``
    too), torchvision's or the official one.  A head for another number of classes is dropped with
    a warning: the model's freshly initialised head takes its place.  Weights that do not fit the
    model (another variant or window) raise :class:`CheckpointError` naming the first mismatch.
    """
    cfg = model.config
    try:
        state = to_vswin(checkpoint, window_size=cfg.window_size, temporal_patch=cfg.patch_size[0])
        classes = state["head.weight"].shape[0] if "head.weight" in state else cfg.num_classes
        if classes != cfg.num_classes:
            state = {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIX)}
        load_into(model, state)  # no head in the state: the model keeps its own
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"{FLAG} {path} does not fit --model and its flags: {err}") from None
    if classes != cfg.num_classes:
        warnings.warn(
            f"{FLAG} {path}: its head has {classes} classes, --num-classes is {cfg.num_classes}: "
            "the checkpoint's head is dropped and a new one is initialised",
            stacklevel=2,
        )
    return model


def frozen_modules(model: VideoSwinTransformer, stages: int) -> list[nn.Module]:
    """The patch embedding (with its dropout) and the first ``stages`` stages, each with its patch
    merging; none for ``stages=0``.  With every stage frozen only the final norm and the head train."""
    if not 0 <= stages <= len(model.stages):
        raise ValueError(
            f"freeze_stages (--freeze-stages) must be in [0, {len(model.stages)}] (this model's stages), "
            f"got {stages}"
        )
    return [model.patch_embed, model.pos_drop, *model.stages[:stages]] if stages else []


def freeze(modules: list[nn.Module]) -> None:
    """No gradients for ``modules``: the optimiser leaves them out (:func:`~.optim.param_groups`)."""
    for module in modules:
        module.requires_grad_(False)
