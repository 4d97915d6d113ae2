"""Raster I/O on top of rasterio: opening with clear errors, windows and strips, tiled profiles,
block and class-map writers, COGs.

Label rasters (class maps, colour/palette/index labels) are decoded in :mod:`landseg.io.labels`, which
also owns the class-table tags.
"""

from __future__ import annotations

import contextlib
import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.shutil import copy as rio_copy
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from landseg.classes import ClassTable
from landseg.errors import InputError, OutputError
from landseg.io.files import atomic_output, free_space
from landseg.io.styles import write_raster_style

warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)

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


def create_raster(path: str | Path, profile: dict[str, Any]) -> Any:
    """Open a new raster for writing with ``profile`` (e.g. :func:`tiled_profile`); a context manager."""
    try:
        return rasterio.open(path, "w", **profile)
    except (RasterioIOError, CPLE_BaseError) as exc:
        raise OutputError(f"{path}: cannot create the raster ({exc}; {free_space(Path(path).parent)})") from None


def update_raster(path: str | Path) -> Any:
    """Open an existing raster to update its tags or pixels in place; a context manager."""
    try:
        return rasterio.open(path, "r+")
    except (RasterioIOError, CPLE_BaseError) as exc:
        raise OutputError(f"{path}: cannot update the raster ({exc})") from None


def warped(ds: Any, **kw: Any) -> WarpedVRT:
    """A virtual reprojected/resampled view of ``ds`` (rasterio's WarpedVRT); read windows from it as from ``ds``."""
    return WarpedVRT(ds, **kw)


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


def valid_mask(ds: rasterio.DatasetReader, window: Window | None = None,
               out_shape: tuple[int, int] | None = None, indexes: list[int] | None = None) -> np.ndarray:
    """Boolean mask of the pixels that hold data: GDAL's dataset mask (nodata value, alpha, mask band) and, for
    float rasters, finite values in every band (``indexes``, default all).

    GDAL ignores NaN unless the raster declares ``nodata=nan``, and never masks ±inf, so float inputs are
    checked here explicitly: a NaN/inf pixel is nodata however the file was written.
    """
    with reading(ds.name):
        mask = ds.dataset_mask(window=window, out_shape=out_shape) > 0
        if np.dtype(ds.dtypes[0]).kind == "f":
            kw: dict[str, Any] = {"window": window}
            if out_shape is not None:
                kw.update(out_shape=(len(indexes or ds.indexes), *out_shape), resampling=Resampling.nearest)
            data = ds.read(indexes or list(ds.indexes), **kw)
            mask &= np.isfinite(data).all(axis=0)
    return mask


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
    """A GeoTIFF profile with internal tiles (fast windowed reads), optionally compressed.

    Without georeferencing (no ``transform``, or an identity one and no ``crs``) the file gets no
    geotransform at all: GIS software (QGIS) then shows row 0 at the top; a written identity
    transform would put it at the bottom (y grows upward in map space) and show the raster upside
    down. Reading such a file gives the identity transform, as before."""
    prof: dict[str, Any] = dict(
        driver="GTiff", width=width, height=height, count=count, dtype=dtype, crs=crs,
        tiled=True, blockxsize=block, blockysize=block, interleave="pixel", BIGTIFF="IF_SAFER",
    )
    if transform is not None and not (crs is None and rasterio.Affine(*transform[:6]).is_identity):
        prof["transform"] = transform
    if nodata is not None:
        prof["nodata"] = nodata
    if compress:
        prof["compress"] = compress
        if compress.lower() in ("deflate", "zstd", "lzw"):
            prof["predictor"] = 2 if np.dtype(dtype).kind in "ui" else 3
    return prof


def verify_raster(path: str | Path, *, like: dict[str, Any], name: str | Path | None = None) -> None:
    """Reopen a just-written raster and check it before it replaces its destination.

    ``like`` holds the expected ``width``, ``height``, ``count`` and ``dtype``. The last row of blocks
    (written last, so lost first on a full disk) and the smallest overview are read in full, which
    decodes every byte range a truncated file would lack there. Raises :class:`OutputError`.
    """
    name = name or path
    try:
        with rasterio.open(path) as ds:
            got = {"width": ds.width, "height": ds.height, "count": ds.count, "dtype": ds.dtypes[0]}
            want = {k: like[k] for k in got if k in like}
            if {k: got[k] for k in want} != want:
                raise OutputError(f"{name}: the written raster is {got}, expected {want}; "
                                  f"the write was incomplete ({free_space(Path(path).parent)})")
            bh = ds.block_shapes[0][0]
            row = ((ds.height - 1) // bh) * bh
            ds.read(window=Window(0, row, ds.width, ds.height - row))
            ovr = ds.overviews(1)
            if ovr:
                f = ovr[-1]
                ds.read(out_shape=(ds.count, max(1, ds.height // f), max(1, ds.width // f)))
    except (RasterioIOError, CPLE_BaseError) as exc:
        raise OutputError(f"{name}: the written raster cannot be read back ({exc}; "
                          f"{free_space(Path(path).parent)}); it was not kept. Free space or choose "
                          "another output folder, then run again.") from None


def finalize_cog(src_tmp: Path, dst: str | Path, *, overview_resampling: str = "nearest") -> None:
    """Turn a tiled GeoTIFF into a Cloud-Optimized GeoTIFF at ``dst`` (atomically, verified).

    GDAL's COG driver copies block by block and builds the overviews itself, so memory stays bounded.
    Tags, colour table and nodata of the source are kept. GDAL does not always raise when a write
    fails (full disk), so the copy is reopened and checked against the source before the rename.
    """

    with rasterio.open(src_tmp) as src:
        like = {"width": src.width, "height": src.height, "count": src.count, "dtype": src.dtypes[0]}
    with atomic_output(dst, verify=lambda p: verify_raster(p, like=like, name=dst)) as tmp:
        try:
            rio_copy(
                src_tmp, tmp, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512,
                OVERVIEW_RESAMPLING=overview_resampling.upper(), BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
            )
        except (RasterioIOError, CPLE_BaseError, SystemError) as exc:  # SystemError: GDAL failed, no message set
            raise OutputError(f"{dst}: writing the GeoTIFF failed ({exc}; {free_space(Path(dst).parent)}); "
                              "no file was left. Free space or choose another output folder.") from None


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


def class_map_profile(width: int, height: int, *, crs: Any = None, transform: Any = None,
                      compress: str | None = None) -> dict[str, Any]:
    """The named output profile of every class map: one tiled uint8 band, nodata :data:`CLASS_MAP_NODATA`."""
    return tiled_profile(width, height, 1, "uint8", crs=crs, transform=transform, nodata=CLASS_MAP_NODATA,
                         compress=compress)


class BlockWriter:
    """A GeoTIFF written window by window (``profile`` from :func:`tiled_profile`), then optionally made a COG."""

    def __init__(self, path: str | Path, profile: dict[str, Any], tags: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        with self.writing():
            self.ds = rasterio.open(self.path, "w", **profile)
        if tags:
            self.ds.update_tags(**tags)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """GDAL/OS write failures (full disk, read-only folder) as :class:`OutputError` naming the file and the
        free space."""
        try:
            yield
        except (RasterioIOError, CPLE_BaseError, OSError) as exc:
            raise OutputError(f"{self.path}: writing failed ({exc}; {free_space(self.path.parent)}); free some space "
                              "or choose another output folder, then run again") from None

    def write(self, data: np.ndarray, row: int, col: int) -> None:
        """Write ``data`` ((h, w) or (bands, h, w)) with its top-left pixel at (``row``, ``col``)."""
        if data.ndim == 2:
            data = data[None]
        with self.writing():
            self.ds.write(data, window=Window(col, row, data.shape[2], data.shape[1]))

    def write_window(self, data: np.ndarray, window: Window) -> None:
        with self.writing():
            self.ds.write(data, window=window)

    def windows(self) -> Iterator[Window]:
        """The file's internal blocks, in order (to fill it block by block)."""
        return (win for _, win in self.ds.block_windows(1))

    def close(self) -> None:
        if getattr(self, "ds", None) is not None and not self.ds.closed:
            with self.writing():
                self.ds.close()

    def finish(self, dst: str | Path, *, overview_resampling: str = "nearest") -> None:
        """Close the file and copy it to a Cloud-Optimized GeoTIFF at ``dst`` (:func:`finalize_cog`)."""
        self.close()
        finalize_cog(self.path, dst, overview_resampling=overview_resampling)

    def __enter__(self) -> BlockWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ClassMapWriter(BlockWriter):
    """A class map (:func:`class_map_profile`) with its class table embedded: colour table, band description
    ``class``, the class-name tags (:func:`class_map_tags`) and nodata 255; finished as a COG with mode overviews.

    With a table, :meth:`finish` also writes the QGIS style beside the COG (``NAME.qml``, which QGIS
    loads by itself: a legend of the class names in their colours, :func:`class_style_entries`).
    ``table=None`` writes a bare class grid (no colour table), e.g. one re-gridded later.
    """

    def __init__(self, path: str | Path, profile: dict[str, Any], table: ClassTable | None = None,
                 tags: dict[str, str] | None = None) -> None:
        super().__init__(path, profile)
        self.table = table
        if table is not None:
            self.ds.write_colormap(1, table.colormap())
            self.ds.set_band_description(1, "class")
        if tags:
            self.ds.update_tags(**tags)

    def finish(self, dst: str | Path, *, overview_resampling: str = "mode",
               classes: list[int] | None = None) -> None:
        """The COG at ``dst`` and, with a table, its QGIS style listing ``classes`` (default: all)."""
        super().finish(dst, overview_resampling=overview_resampling)
        if self.table is not None:
            write_raster_style(dst, class_style_entries(self.table, classes))


def class_style_entries(table: ClassTable, classes: list[int] | None = None) -> list[tuple[int, str, Any]]:
    """(value, name, RGB) of the table's classes (``classes``: these indices only) for a raster style."""
    return [(i, table.names[i], table.colors[i]) for i in (range(table.num_classes) if classes is None else classes)]


# ---------------------------------------------------------------------------------------------- mosaics (VRT)
@dataclass
class RasterInfo:
    """What a mosaic needs to know of one tile: its grid, bands and nodata (read without pixels)."""

    path: Path
    width: int
    height: int
    crs: Any
    transform: Any
    count: int
    dtype: str
    colorinterp: list[str]
    nodata: float | None
    block: tuple[int, int]  # (rows, cols) of the first band's blocks


def raster_info(path: str | Path) -> RasterInfo:
    """The grid and band layout of the raster at ``path`` (:class:`InputError` if it cannot be opened)."""
    with open_raster(path) as ds:
        return RasterInfo(Path(path), ds.width, ds.height, ds.crs, ds.transform, ds.count, ds.dtypes[0],
                          [c.name for c in ds.colorinterp], ds.nodata, tuple(ds.block_shapes[0]))


_VRT_TYPES = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32", "int32": "Int32",
              "float32": "Float32", "float64": "Float64", "int8": "Int8"}


def write_vrt(dst: str | Path, tiles: list[tuple[RasterInfo, int, int]], width: int, height: int, crs: Any,
              transform: Any, *, nodata: float | None = None, colormap: dict[int, tuple] | None = None,
              tags: dict[str, str] | None = None, description: str | None = None) -> Path:
    """Write a GDAL VRT mosaic of ``tiles`` ((info, column offset, row offset) on a ``width`` x ``height``
    grid with ``crs`` and ``transform``), the equivalent of ``gdalbuildvrt`` for tiles of one CRS and pixel
    size. Paths are stored relative to the VRT; areas no tile covers read as ``nodata`` (0 without one)."""
    dst = Path(dst)
    first = tiles[0][0]
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    if crs is not None:
        ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = crs.to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(repr(float(v)) for v in transform.to_gdal())
    if tags:
        md = ET.SubElement(root, "Metadata")
        for k, v in tags.items():
            ET.SubElement(md, "MDI", key=k).text = str(v)
    vtype = _VRT_TYPES[first.dtype]
    for b in range(1, first.count + 1):
        band = ET.SubElement(root, "VRTRasterBand", dataType=vtype, band=str(b))
        if nodata is not None:
            ET.SubElement(band, "NoDataValue").text = repr(float(nodata))
        if description:
            ET.SubElement(band, "Description").text = description
        ET.SubElement(band, "ColorInterp").text = "Palette" if colormap else first.colorinterp[b - 1].capitalize()
        if colormap:
            table = ET.SubElement(band, "ColorTable")
            for i in range(max(colormap) + 1):
                c = tuple(colormap.get(i, (0, 0, 0, 0))) + (255,)
                ET.SubElement(table, "Entry", c1=str(c[0]), c2=str(c[1]), c3=str(c[2]), c4=str(c[3]))
        for info, col, row in tiles:
            src = ET.SubElement(band, "SimpleSource")
            rel = os.path.relpath(Path(info.path).resolve(), dst.resolve().parent)
            ET.SubElement(src, "SourceFilename", relativeToVRT="1").text = rel
            ET.SubElement(src, "SourceBand").text = str(b)
            ET.SubElement(src, "SourceProperties", RasterXSize=str(info.width), RasterYSize=str(info.height),
                          DataType=vtype, BlockXSize=str(info.block[1]), BlockYSize=str(info.block[0]))
            ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=str(info.width), ySize=str(info.height))
            ET.SubElement(src, "DstRect", xOff=str(col), yOff=str(row), xSize=str(info.width), ySize=str(info.height))
    ET.indent(root)
    with atomic_output(dst, suffix=".vrt") as tmp:
        tmp.write_bytes(ET.tostring(root, encoding="utf-8"))
    return dst


def vrt_source_files(path: str | Path) -> list[Path]:
    """The distinct source files of a VRT's first band, in order (paths resolved against the VRT)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise InputError(f"{path}: not a readable VRT ({exc})") from None
    band = root.find("VRTRasterBand")
    files: list[Path] = []
    for el in band.iter("SourceFilename") if band is not None else []:
        p = Path(el.text or "")
        if el.get("relativeToVRT") == "1" or not p.is_absolute():
            p = path.parent / p
        if p not in files:
            files.append(p)
    if not files:
        raise InputError(f"{path}: the VRT lists no source files")
    return files


def colormap_and_tags(path: str | Path) -> tuple[dict[int, tuple] | None, dict[str, str]]:
    """The first band's colour table (None without one) and the dataset tags of the raster at ``path``."""
    with open_raster(path) as ds:
        try:
            cmap = ds.colormap(1)
        except ValueError:
            cmap = None
        return cmap, dict(ds.tags())
