"""Raster I/O on top of rasterio: opening with clear errors, windows and strips, tiled profiles, COGs.

Label rasters (class maps, colour/palette/index labels) are decoded in :mod:`landseg.io.labels`.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from landseg.errors import InputError
from landseg.io.files import atomic_output

warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)


def open_raster(path: str | Path) -> rasterio.DatasetReader:
    """Open a raster for reading; a missing, unreadable or corrupt file raises :class:`InputError`."""
    if str(path).startswith("/vsi"):  # GDAL virtual file (e.g. inside a zip): let GDAL check it
        try:
            return rasterio.open(str(path))
        except RasterioIOError as exc:
            raise InputError(f"{path}: not a readable raster: {exc}") from None
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a raster file")
    try:
        ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"{path}: not a readable raster (GeoTIFF, PNG or JPG expected): {exc}") from None
    return ds


@contextlib.contextmanager
def reading(name: str) -> Iterator[None]:
    """Turn GDAL read failures (truncated/corrupt data) inside the block into :class:`InputError`."""
    try:
        yield
    except (RasterioIOError, CPLE_BaseError) as exc:
        raise InputError(f"{name}: cannot read pixel data, the file is corrupt or truncated ({exc})") from None


def read_window(ds: rasterio.DatasetReader, window: Window | None = None, **kw: Any) -> np.ndarray:
    """``ds.read`` with corrupt/truncated data reported as :class:`InputError`."""
    with reading(ds.name):
        return ds.read(window=window, **kw)


def is_georeferenced(ds: rasterio.DatasetReader) -> bool:
    return ds.crs is not None and not ds.transform.is_identity


def pixel_size(ds: rasterio.DatasetReader) -> tuple[float, float] | None:
    """Pixel size (x, y) in CRS units, or None without georeferencing."""
    if not is_georeferenced(ds):
        return None
    t = ds.transform
    return (float(np.hypot(t.a, t.d)), float(np.hypot(t.b, t.e)))


DEFAULT_STRIP_PIXELS = 1 << 22  # ~4 M pixels per strip: a few tens of MB of temporaries at most


def strip_windows(height: int, width: int, strip_rows: int | None = None, block_rows: int = 1) -> Iterator[Window]:
    """Full-width windows of ``strip_rows`` rows (default: about 4 M pixels, whole blocks of ``block_rows``)."""
    if strip_rows is None:
        strip_rows = max(1, DEFAULT_STRIP_PIXELS // max(width, 1))
        if 1 < block_rows < height and strip_rows > block_rows:
            strip_rows -= strip_rows % block_rows
    strip_rows = max(1, int(strip_rows))
    for r in range(0, height, strip_rows):
        yield Window(0, r, width, min(strip_rows, height - r))


def strips(ds: rasterio.DatasetReader, strip_rows: int | None = None) -> Iterator[Window]:
    """The strips of a dataset, aligned on its internal blocks."""
    return strip_windows(ds.height, ds.width, strip_rows, ds.block_shapes[0][0])


def tiled_profile(
    width: int, height: int, count: int, dtype: str, *, crs: Any = None, transform: Any = None,
    nodata: float | None = None, compress: str | None = None, block: int = 256,
) -> dict[str, Any]:
    """A GeoTIFF profile with internal tiles (fast windowed reads), optionally compressed."""
    prof: dict[str, Any] = dict(
        driver="GTiff", width=width, height=height, count=count, dtype=dtype, crs=crs,
        transform=transform if transform is not None else rasterio.Affine.identity(),
        tiled=True, blockxsize=block, blockysize=block, interleave="pixel", BIGTIFF="IF_SAFER",
    )
    if nodata is not None:
        prof["nodata"] = nodata
    if compress:
        prof["compress"] = compress
        if compress.lower() in ("deflate", "zstd", "lzw"):
            prof["predictor"] = 2 if np.dtype(dtype).kind in "ui" else 3
    return prof


def finalize_cog(src_tmp: Path, dst: str | Path, *, overview_resampling: str = "nearest") -> None:
    """Turn a tiled GeoTIFF into a Cloud-Optimized GeoTIFF at ``dst`` (atomically).

    GDAL's COG driver copies block by block and builds the overviews itself, so memory stays bounded.
    Tags, colour table and nodata of the source are kept.
    """
    from rasterio.shutil import copy as rio_copy

    with atomic_output(dst) as tmp:
        rio_copy(
            src_tmp, tmp, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512,
            OVERVIEW_RESAMPLING=overview_resampling.upper(), BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
        )
