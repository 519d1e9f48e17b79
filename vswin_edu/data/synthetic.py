"""Synthetic videos whose labels need temporal order: :class:`MovingShapes` (chapters 0, 11, 12).

The paper's hardest benchmark, Something-Something v2 (Sec. 4.1), is about *how* things move, not
what is seen, so a model must use the order of frames.  ``MovingShapes`` is a CPU-sized stand-in:
every class comes with a partner holding the *same* frames in another order — time-reversed
(left/right, up/down, grow/shrink, clockwise/counter-clockwise) or with the two halves swapped
(right-then-left / left-then-right, the "bounce" pair of chapter 12's shift ablation).  A per-frame
model cannot tell a pair apart; ``paired=True`` renders both members from the same sample, a test
set on which such a model scores exactly chance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from .sampling import seeded_generator

__all__ = ["SHAPE_CLASSES", "MovingShapes"]

# name -> (motion, flipped). The second class of every pair holds the first one's frames in another
# order: played backwards (for the one-way motions, up to float rounding ~1e-6), or with its two
# halves swapped (for the bounce, exactly) — so both have the same frames for the same sample.
SHAPE_CLASSES: dict[str, tuple[str, bool]] = {
    "left": ("horizontal", True),
    "right": ("horizontal", False),  # x grows over time
    "up": ("vertical", True),
    "down": ("vertical", False),  # y grows over time (image rows point down)
    "grow": ("scale", False),
    "shrink": ("scale", True),
    "rotate_cw": ("rotate", False),  # clockwise on screen (y axis points down)
    "rotate_ccw": ("rotate", True),
    "right_left": ("bounce", False),  # right during the first half of the clip, back left in the second
    "left_right": ("bounce", True),  # the same clip with its two halves swapped
}


class MovingShapes(Dataset):
    """Synthetic clips of one soft-edged rectangle that moves, scales or rotates.

    ``dataset[i] -> (video (3, T, H, W) float32, label int)``.  Sample ``i`` is a
    pure function of ``(seed, i)`` (its own generator), so it is the same in every epoch, process
    and DataLoader worker.  Labels cycle through the classes, ``label = i % len(classes)``, so
    every class is equally frequent.

    Args:
        num_samples: length of the dataset.
        frames: ``T``, frames per clip.
        size: ``H = W`` in pixels.
        classes: names from :data:`SHAPE_CLASSES`; the default uses all of them.
        seed: different seeds give disjoint-looking datasets (use one for train, another for val).
        noise: std of the Gaussian pixel noise added to every frame.
        standardize: scale each channel of a clip to mean 0, std 1 over ``(T, H, W)``.  The shape
            covers a few percent of the pixels, so without this the random background colour
            dominates every token and a small model barely learns (the pair averages stay equal:
            time-reversed clips have the same statistics).
        paired: draw sample ``i // K`` as class ``i % K`` (``K`` classes), so that every class is
            rendered from the same shapes, colours, paths and noise — a paired test set, on which
            a model that cannot tell a pair apart scores exactly chance on it.
    """

    def __init__(
        self,
        num_samples: int,
        frames: int = 16,
        size: int = 32,
        classes: Sequence[str] | None = None,
        seed: int = 0,
        noise: float = 0.05,
        standardize: bool = True,
        paired: bool = False,
    ) -> None:
        classes = tuple(SHAPE_CLASSES) if classes is None else tuple(classes)
        unknown = [c for c in classes if c not in SHAPE_CLASSES]
        if unknown or not classes:
            raise ValueError(f"classes must be a non-empty subset of {list(SHAPE_CLASSES)}, got {classes}")
        if num_samples < 0 or frames < 2 or size < 8:
            raise ValueError(
                f"need num_samples >= 0, frames >= 2 and size >= 8, got {num_samples}, {frames}, {size}"
            )
        self.num_samples, self.frames, self.size = num_samples, frames, size
        self.class_names: tuple[str, ...] = classes
        self.seed, self.noise, self.standardize, self.paired = seed, noise, standardize, paired

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        index %= self.num_samples
        label = index % len(self.class_names)
        sample = index // len(self.class_names) if self.paired else index
        return self.render(sample, self.class_names[label]), label

    def render(self, index: int, class_name: str, noise: bool = True) -> torch.Tensor:
        """Sample ``index``'s shape, colours and path drawn as ``class_name`` -> ``(3, T, H, W)``.

        Rendering one index as both classes of a pair gives two clips with equal frame averages
        (exactly without noise): the test of "a per-frame model cannot solve this".
        """
        if class_name not in SHAPE_CLASSES:
            raise ValueError(f"class_name must be one of {list(SHAPE_CLASSES)}, got {class_name!r}")
        gen = seeded_generator(self.seed, index)
        u = torch.rand(12, generator=gen)  # all the sample's parameters, drawn in a fixed order
        T, S = self.frames, float(self.size)
        motion, flipped = SHAPE_CLASSES[class_name]
        half = T // 2
        if motion == "bounce":  # 0 -> 1 over the first half, 1 -> 0 over the second
            s = torch.cat([torch.linspace(0.0, 1.0, half), torch.linspace(1.0, 0.0, T - half)])
        else:
            s = torch.linspace(0.0, 1.0, T)  # time runs 0 -> 1 ...
            s = 1.0 - s if flipped else s  # ... or 1 -> 0 for the reversed class of the pair

        side = S * (0.15 + 0.1 * u[0])  # the shape's short side
        travel = S * (0.3 + 0.2 * u[1])  # how far it moves
        margin = side + travel / 2  # keep the whole path inside the frame
        cy = margin + (S - 2 * margin) * u[2] + torch.zeros(T)  # (T,) centre row
        cx = margin + (S - 2 * margin) * u[3] + torch.zeros(T)  # (T,) centre column
        half_h, half_w = side / 2 + torch.zeros(T), side / 2 + torch.zeros(T)  # (T,) half sizes
        angle = torch.zeros(T)
        if motion in ("horizontal", "bounce"):
            cx = cx + travel * (s - 0.5)
        elif motion == "vertical":
            cy = cy + travel * (s - 0.5)
        elif motion == "scale":
            half_h = half_w = side * (0.25 + 0.75 * s)  # a square whose side grows from 0.5x to 2x
        else:  # rotate a 3:1 bar by a quarter turn; the bar's 180° symmetry keeps it unambiguous
            half_w = 1.5 * side + torch.zeros(T)
            angle = math.pi * u[4] + (math.pi / 2) * s

        ys = torch.arange(self.size, dtype=torch.float32) + 0.5  # pixel centres
        dy = ys[None, :, None] - cy[:, None, None]  # (T, H, 1)
        dx = ys[None, None, :] - cx[:, None, None]  # (T, 1, W)
        cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
        along, across = dx * cos + dy * sin, -dx * sin + dy * cos  # (T, H, W) shape's own axes
        # soft edges (one pixel wide) so sub-pixel motion changes the pixels smoothly
        inside_w = (half_w[:, None, None] + 0.5 - along.abs()).clamp(0, 1)
        inside_h = (half_h[:, None, None] + 0.5 - across.abs()).clamp(0, 1)
        alpha = (inside_w * inside_h)[None]  # (1, T, H, W)

        background = 0.4 * u[5:8]  # dark colour
        colour = 0.6 + 0.4 * u[8:11]  # bright colour
        video = background[:, None, None, None] * (1 - alpha) + colour[:, None, None, None] * alpha
        if noise and self.noise > 0:  # drawn after the parameters: same noise for both pair members
            video = video + self.noise * torch.randn(video.shape, generator=gen)
        if self.standardize:
            mean, std = video.mean(dim=(1, 2, 3), keepdim=True), video.std(dim=(1, 2, 3), keepdim=True)
            video = (video - mean) / std.clamp_min(1e-6)
        if motion == "bounce" and flipped:  # left, then right: the first half and the second swapped
            video = video.roll(half, dims=1)
        return video.float()  # (3, T, H, W)
