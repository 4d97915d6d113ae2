"""Raster I/O on top of rasterio: opening with clear errors, label reading, class-map writers, COGs."""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from landseg.classes import ClassTable
from landseg.errors import InputError
from landseg.io.files import atomic_output

warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)

CLASS_TABLE_TAG = "LANDSEG_CLASS_TABLE"  # the class table (JSON) embedded in every class map landseg writes
CLASS_NAMES_TAG = "CLASS_NAMES"  # the class names, comma-separated
CLASS_MAP_NODATA = 255


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


def label_kind(ds: rasterio.DatasetReader) -> str:
    """'rgb', 'palette' or 'index' for a label raster."""
    if ds.count >= 3:
        return "rgb"
    try:
        ds.colormap(1)
        return "palette"
    except ValueError:
        return "index"


def label_to_index(
    data: np.ndarray,
    kind: str,
    table: ClassTable,
    *,
    palette: np.ndarray | None = None,
    source: str = "label",
    unknown_to_ignore: bool = False,
    binarize: bool = False,
) -> np.ndarray:
    """Convert label pixels read with rasterio (bands first) into class indices.

    ``binarize`` snaps each channel to 0/255 before the lookup (for labels whose colours are
    all 0/255 combinations but carry compression noise, as some ISPRS tiles do).
    """
    if kind == "index":
        return table.check_indices(data[0], source=source, unknown_to_ignore=unknown_to_ignore)
    if kind == "palette":
        assert palette is not None
        idx = data[0]
        r, g, b = palette[idx, 0], palette[idx, 1], palette[idx, 2]
    else:
        if data.dtype != np.uint8:
            raise InputError(f"{source}: a colour label must be 8-bit, got {data.dtype}")
        r, g, b = data[0], data[1], data[2]
    return table.bands_to_index(r, g, b, source=source, unknown_to_ignore=unknown_to_ignore, binarize=binarize)


def palette_array(ds: rasterio.DatasetReader) -> np.ndarray:
    cmap = ds.colormap(1)
    pal = np.zeros((256, 3), dtype=np.uint8)
    for k, v in cmap.items():
        if 0 <= k < 256:
            pal[k] = v[:3]
    return pal


def read_label(path: str | Path, table: ClassTable, *, window: Window | None = None, **kw: Any) -> np.ndarray:
    """Read a label raster (colour, palette or index) as a uint8 index array."""
    with open_raster(path) as ds:
        kind = label_kind(ds)
        data = read_window(ds, window, indexes=list(range(1, 4)) if kind == "rgb" else [1])
        pal = palette_array(ds) if kind == "palette" else None
    return label_to_index(data, kind, table, palette=pal, source=str(path), **kw)


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


def data_bands(path: str | Path, limit: int | None = None) -> list[int]:
    """Indexes of the bands of ``path`` that are not alpha (at least band 1), the first ``limit`` of them."""
    with rasterio.open(path) as ds:
        bands = [i + 1 for i, ci in enumerate(ds.colorinterp) if ci != ColorInterp.alpha] or [1]
    return bands[:limit]


def raster_shape(path: str | Path) -> tuple[int, int]:
    """(height, width) of the raster at ``path``."""
    with rasterio.open(path) as ds:
        return ds.height, ds.width


def read_resampled(path: str | Path, shape: tuple[int, int], *, indexes: int | list[int] = 1,
                   resampling: Resampling = Resampling.nearest) -> np.ndarray:
    """Band(s) ``indexes`` of the raster at ``path`` read decimated to (height, width) ``shape``."""
    with rasterio.open(path) as ds:
        out_shape = shape if isinstance(indexes, int) else (len(indexes), *shape)
        return ds.read(indexes, out_shape=out_shape, resampling=resampling)


def class_map_tags(table: ClassTable, model_name: str = "", extra: dict[str, str] | None = None) -> dict[str, str]:
    """The tags of a class map: class table (JSON), model, class names (one tag, and ``CLASS_<i>`` each), extras."""
    tags = {CLASS_TABLE_TAG: json.dumps(table.to_dict()), "LANDSEG_MODEL": model_name,
            CLASS_NAMES_TAG: ",".join(table.names), **(extra or {})}
    tags.update({f"CLASS_{i}": n for i, n in enumerate(table.names)})
    return tags


def class_map_profile(width: int, height: int, *, crs: Any = None, transform: Any = None,
                      compress: str | None = None) -> dict[str, Any]:
    """The named output profile of every class map: one tiled uint8 band, nodata :data:`CLASS_MAP_NODATA`."""
    return tiled_profile(width, height, 1, "uint8", crs=crs, transform=transform, nodata=CLASS_MAP_NODATA,
                         compress=compress)


class BlockWriter:
    """A GeoTIFF written window by window (``profile`` from :func:`tiled_profile`), then optionally made a COG."""

    def __init__(self, path: str | Path, profile: dict[str, Any], tags: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.ds = rasterio.open(self.path, "w", **profile)
        if tags:
            self.ds.update_tags(**tags)

    def write(self, data: np.ndarray, row: int, col: int) -> None:
        """Write ``data`` ((h, w) or (bands, h, w)) with its top-left pixel at (``row``, ``col``)."""
        if data.ndim == 2:
            data = data[None]
        self.ds.write(data, window=Window(col, row, data.shape[2], data.shape[1]))

    def write_window(self, data: np.ndarray, window: Window) -> None:
        self.ds.write(data, window=window)

    def windows(self) -> Iterator[Window]:
        """The file's internal blocks, in order (to fill it block by block)."""
        return (win for _, win in self.ds.block_windows(1))

    def close(self) -> None:
        self.ds.close()

    def finish(self, dst: str | Path, *, overview_resampling: str = "nearest") -> None:
        """Close the file and copy it to a Cloud-Optimized GeoTIFF at ``dst`` (:func:`finalize_cog`)."""
        self.close()
        finalize_cog(self.path, dst, overview_resampling=overview_resampling)

    def __enter__(self) -> "BlockWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ClassMapWriter(BlockWriter):
    """A class map (:func:`class_map_profile`) with its class table embedded: colour table, band description
    ``class``, the class-name tags (:func:`class_map_tags`) and nodata 255; finished as a COG with mode overviews.

    ``table=None`` writes a bare class grid (no colour table), e.g. one re-gridded later.
    """

    def __init__(self, path: str | Path, profile: dict[str, Any], table: ClassTable | None = None,
                 tags: dict[str, str] | None = None) -> None:
        super().__init__(path, profile)
        if table is not None:
            self.ds.write_colormap(1, table.colormap())
            self.ds.set_band_description(1, "class")
        if tags:
            self.ds.update_tags(**tags)

    def finish(self, dst: str | Path, *, overview_resampling: str = "mode") -> None:
        super().finish(dst, overview_resampling=overview_resampling)
