"""Window grids over rasters (pure functions, no I/O)."""

from __future__ import annotations

import numpy as np


def axis_starts(length: int, size: int, stride: int) -> list[int]:
    """Start offsets of windows of ``size`` with ``stride`` covering ``[0, length)``.

    The last window is aligned to the end so that every pixel is covered; if ``length < size``
    there is one window at 0 (the caller pads).
    """
    if size <= 0 or stride <= 0:
        raise ValueError("window size and stride must be positive")
    if length <= size:
        return [0]
    starts = list(range(0, length - size, stride))
    starts.append(length - size)
    return starts


def grid_windows(height: int, width: int, size: int, overlap: int = 0) -> list[tuple[int, int]]:
    """(row, col) offsets of ``size``-square windows with ``overlap`` pixels, covering the raster."""
    stride = size - overlap
    if stride <= 0:
        raise ValueError(f"overlap {overlap} must be smaller than the window size {size}")
    return [(r, c) for r in axis_starts(height, size, stride) for c in axis_starts(width, size, stride)]


def random_window(height: int, width: int, size: int, rng: np.random.Generator) -> tuple[int, int]:
    """A uniformly random (row, col) offset of a ``size`` window inside the raster (0 if smaller)."""
    r = int(rng.integers(0, height - size + 1)) if height > size else 0
    c = int(rng.integers(0, width - size + 1)) if width > size else 0
    return r, c
