"""Previews and overlays, in one place: class colours, overlay blending, preview shapes, display RGB.

Everything here works on arrays (reading rasters is :mod:`landseg.io.raster`'s job); the PNG writers
save atomically, so a preview that exists is complete.

* :func:`preview_shape` -- the (height, width) of a raster shown within ``size`` pixels;
* :func:`colorize` / :func:`class_layer` -- class indices to RGB (nodata black) / RGBA (nodata transparent);
* :func:`blend` / :func:`unblend` -- the overlay ``image*(1-alpha) + classes*alpha`` and its inverse;
* :func:`display_rgb` -- (bands, H, W) to (H, W, 3) from the band names;
* :func:`fit` -- an RGB array shrunk to fit ``max_size`` pixels;
* :func:`write_previews`, :func:`write_png` -- the ``NAME_preview.png`` / ``NAME_overlay.png`` pair, one PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from landseg.classes import ClassTable
from landseg.io.images import write_png

OVERLAY_ALPHA = 0.45  # class colours' weight in NAME_overlay.png


def preview_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) of a ``height`` x ``width`` raster scaled down to fit ``size`` (never up)."""
    f = min(1.0, size / max(height, width))
    return max(1, int(round(height * f))), max(1, int(round(width * f)))


def colorize(index: np.ndarray, table: ClassTable) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 class colours; nodata/ignore black."""
    return table.index_to_rgb(index)


def class_layer(index: np.ndarray, table: ClassTable) -> np.ndarray:
    """RGBA colours of a class index array; nodata/ignore transparent."""
    rgba = np.zeros(index.shape + (4,), np.uint8)
    rgba[..., :3] = table.index_to_rgb(index)
    rgba[..., 3] = np.where(index < table.num_classes, 255, 0)
    return rgba


def blend(image: np.ndarray, classes_rgb: np.ndarray, nodata: np.ndarray | None = None,
          alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """``image*(1-alpha) + classes_rgb*alpha`` as uint8; pixels where ``nodata`` is True keep the image."""
    out = (image * (1 - alpha) + classes_rgb * alpha).astype(np.uint8)
    if nodata is not None:
        out[nodata] = image[nodata]
    return out


def unblend(overlay: np.ndarray, preview: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """The image under ``overlay`` = image*(1-alpha) + preview*alpha (exact up to rounding).

    Pixels whose preview is black (nodata in predict's previews) are the image itself.
    """
    ov = overlay.astype(np.float32)
    pv = preview.astype(np.float32)
    img = np.clip((ov - alpha * pv) / (1 - alpha) + 0.5, 0, 255)
    nodata = (preview == 0).all(axis=-1)
    img[nodata] = ov[nodata]
    return img.astype(np.uint8)


def display_rgb(img: np.ndarray, bands: Sequence[str]) -> np.ndarray:
    """(C,H,W) uint8 -> (H,W,3) for display: the red/green/blue bands if named, else the first three."""
    names = [b.lower() for b in bands]
    if all(b in names for b in ("red", "green", "blue")):
        idx = [names.index("red"), names.index("green"), names.index("blue")]
    elif img.shape[0] >= 3:
        idx = [0, 1, 2]
    else:
        idx = [0, 0, 0]
    return np.moveaxis(img[idx], 0, -1).astype(np.uint8)


def stretch_to_uint8(data: np.ndarray) -> np.ndarray:
    """(C,H,W) -> (H,W,C) uint8; values other than uint8 stretched linearly between the 2nd and 98th percentiles."""
    if data.dtype != np.uint8:
        lo, hi = np.percentile(data, (2, 98))
        data = np.clip((data.astype(np.float32) - lo) * (255 / max(hi - lo, 1e-6)), 0, 255)
    return np.moveaxis(data.astype(np.uint8), 0, -1)


def fit(arr: np.ndarray, max_size: int, nearest: bool) -> np.ndarray:
    """``arr`` shrunk (nearest or Lanczos) so that its longest side is at most ``max_size``."""
    h, w = arr.shape[:2]
    f = max_size / max(h, w)
    if f >= 1:
        return arr
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return resize(arr, size[::-1], nearest)


def resize(arr: np.ndarray, shape: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """``arr`` resized to (height, width) ``shape`` (nearest or Lanczos)."""
    return np.asarray(Image.fromarray(arr).resize(shape[::-1], Image.NEAREST if nearest else Image.LANCZOS))




def write_previews(classes: np.ndarray, image: np.ndarray, table: ClassTable, bands: Sequence[str],
                   preview: Path, overlay: Path, alpha: float = OVERLAY_ALPHA) -> None:
    """``preview`` (class colours, nodata black) and ``overlay`` (``image`` with the classes blended over it).

    ``classes``: (H, W) class indices (255 nodata); ``image``: (bands, H, W) uint8 of the same shape.
    """
    rgb_cls = colorize(classes, table)
    write_png(rgb_cls, preview)
    img = display_rgb(image, bands)
    write_png(blend(img, rgb_cls, classes == 255, alpha), overlay)
