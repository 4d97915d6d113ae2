"""Confusion-matrix accumulation over prepared tiles with the sliding-window engine (shared by
training validation and ``landseg evaluate``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import rasterio
from rasterio.windows import Window

from landseg.classes import ClassTable
from landseg.metrics import confusion_matrix
from landseg.models.sliding import sliding_window


def evaluate_tiles(
    model: Callable[[np.ndarray], np.ndarray],
    root: str | Path,
    tiles: Sequence[dict[str, Any]],
    table: ClassTable,
    *,
    label_key: str = "label",
    window: int = 512,
    overlap: int = 64,
    batch_size: int = 4,
) -> tuple[np.ndarray, float, int]:
    """Returns (confusion matrix, summed NLL of the reference class, pixels counted)."""
    nc = table.num_classes
    cm = np.zeros((nc, nc), np.int64)
    nll, npx = 0.0, 0
    for t in tiles:
        with rasterio.open(Path(root) / t["files"]["image"]) as img, rasterio.open(Path(root) / t["files"][label_key]) as lbl:
            def read(r: int, c: int, h: int, w: int) -> np.ndarray:
                return img.read(window=Window(c, r, w, h))

            for b in sliding_window(read, img.height, img.width, model, nc, window=window, overlap=overlap,
                                    batch_size=batch_size, want_probs=True):
                h, w = b.classes.shape
                ref = lbl.read(1, window=Window(b.col, b.row, w, h))
                cm += confusion_matrix(ref, b.classes, nc, table.ignore_index)
                valid = ref < nc
                p = np.take_along_axis(b.probs, np.minimum(ref, nc - 1)[None].astype(np.int64), 0)[0]
                nll += float(-np.log(np.clip(p[valid], 1e-7, 1)).sum())
                npx += int(valid.sum())
    return cm, nll, npx
