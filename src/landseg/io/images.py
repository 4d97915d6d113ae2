"""Plain image files (PNG previews, overlays, patches): read as RGB arrays, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from landseg.io.files import atomic_output


def read_rgb(path: str | Path) -> np.ndarray:
    """A PNG (or any image PIL reads) as an (H, W, 3) RGB array."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def png_bytes(path: str | Path) -> bytes:
    """The bytes of a PNG file, to embed it as is (a data URI)."""
    return Path(path).read_bytes()


def write_png(arr: np.ndarray, path: str | Path, mode: str | None = None) -> None:
    """Save ``arr`` as a PNG at ``path``, atomically."""
    with atomic_output(path, suffix=".png") as tmp:
        Image.fromarray(arr, mode).save(tmp, format="PNG")
