"""A video clip as a strip of frames (chapter 0: what ``(B, 3, T, H, W)`` holds)."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from ._draw import finish, new_figure, suptitle

__all__ = ["plot_frame_strip"]


def plot_frame_strip(video: torch.Tensor, max_frames: int = 8, title: str | None = None) -> Figure:
    """Show a clip as frames side by side, evenly spaced over its ``T`` frames.

    Args:
        video: ``(3, T, H, W)`` or a batch ``(B, 3, T, H, W)`` (the first clip is shown),
            channels first like torchvision.  Values in ``[0, 1]`` are shown as they are; any other
            range is min-max scaled over the whole clip (so normalised clips stay comparable frame
            to frame).
        max_frames: at most this many frames are drawn.
        title: figure title (default: the clip's shape).

    Returns:
        A figure with one axes per drawn frame, each titled with its frame index ``t``.
    """
    if not isinstance(video, torch.Tensor):
        raise TypeError(f"video must be a torch.Tensor, got {type(video).__name__}")
    if video.dim() == 5:
        video = video[0]  # (3, T, H, W)
    if video.dim() != 4 or video.shape[0] != 3:
        raise ValueError(f"video must have shape (3, T, H, W) or (B, 3, T, H, W), got {tuple(video.shape)}")
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise ValueError(f"max_frames must be a positive int, got {max_frames!r}")
    _, T, H, W = video.shape
    clip = video.detach().float().cpu()
    low, high = clip.min(), clip.max()
    if low < 0 or high > 1:
        clip = (clip - low) / (high - low).clamp_min(1e-12)
    count = min(T, max_frames)
    frames = torch.linspace(0, T - 1, count).round().long().tolist()
    aspect = H / W
    fig, axes = new_figure(1, count, (2.0, 2.0 * aspect + 0.6))
    for ax, t in zip(axes[0], frames, strict=True):
        ax.imshow(clip[:, t].permute(1, 2, 0).numpy(), interpolation="nearest")  # (H, W, 3)
        ax.set_title(f"t={t}")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel(f"H={H}")
    axes[0, 0].set_xlabel(f"W={W}")
    suptitle(fig, title if title is not None else f"clip (3, T={T}, H={H}, W={W}): {count} of {T} frames")
    finish(fig)
    return fig
