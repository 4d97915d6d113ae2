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
from rasterio.enums import ColorInterp, MaskFlags, Resampling
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


def open_raster(path: str | Path, remedy: str = "copy or write it again") -> rasterio.DatasetReader:
    """Open a raster for reading; a missing, unreadable or corrupt file raises :class:`InputError` (a file cut
    short ends with ``remedy``, what the user should do, e.g. prepare a dataset's tile again)."""
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
    cut = tiff_truncation(ds, path.stat().st_size)
    if cut:
        ds.close()
        raise InputError(f"{path}: the file is truncated or corrupt ({cut}); {remedy}")
    return ds


def tiff_truncation(ds: rasterio.DatasetReader, size: int) -> str | None:
    """Why a (Geo)TIFF of ``size`` bytes is cut short, or None. A cut file can still open (its header is
    read) while its tags and pixels are gone, so what it lacks must not be taken for what it never had
    (a class map "without a class table"). The first and last blocks of the first and last band (the full
    resolution of a COG and the last strips of a plain TIFF lie at the end of the file) must lie within it."""
    if ds.driver != "GTiff" or not ds.block_shapes:
        return None
    bh, bw = ds.block_shapes[0]
    last = ((ds.width - 1) // bw, (ds.height - 1) // bh)
    for bidx in sorted({1, ds.count}):
        for x, y in ((0, 0), last):
            off = ds.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=bidx)
            n = ds.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=bidx)
            if off and n and int(off) + int(n) > size:
                return f"{size:,} bytes, but its pixel data reach byte {int(off) + int(n):,}"
    return None


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


MASK_MODES = ("auto", "alpha", "nodata", "none")
ALPHA_SAMPLE = 512  # an alpha band is sampled on up to 512 x 512 pixels to see whether it looks like a mask


@dataclass(frozen=True)
class MaskSource:
    """What marks a raster's nodata pixels, decided once per raster (:func:`choose_mask`).

    ``kind`` is ``alpha`` (band ``band`` = 0 is nodata), ``nodata`` (the nodata value, or GDAL's mask band, never
    an alpha band) or ``none`` (every pixel holds data); ``text`` says which, for the console and ``predict.json``.
    NaN/inf in float rasters are nodata in every kind.
    """

    kind: str
    band: int | None = None
    text: str = ""


def choose_mask(ds: rasterio.DatasetReader, bands: list[int], mode: str = "auto") -> MaskSource:
    """Decide what masks ``ds`` whose ``bands`` feed a model; ``mode`` is the user's choice (:data:`MASK_MODES`).

    An alpha band is the mask only when the file tags it alpha, it is not one of the model's ``bands``, and the
    user did not say otherwise (``mode`` nodata/none). In ``auto`` a tagged alpha band must also look like a mask
    (only 0 and opaque, 255 or the integer type's maximum, on a sample): a band that holds other values (e.g. a
    near-infrared band that GDAL tagged alpha because a 4-band 8-bit GeoTIFF defaults to RGBA) is refused with
    :class:`InputError` asking for ``--mask``, instead of silently turning its dark pixels into nodata.
    """
    if mode not in MASK_MODES:
        raise InputError(f"mask mode must be one of {', '.join(MASK_MODES)}, got {mode!r}")
    alphas = [i + 1 for i, c in enumerate(ds.colorinterp) if c == ColorInterp.alpha and i + 1 not in bands]
    if mode == "none":
        return MaskSource("none", None, "none (--mask none: every pixel holds data)")
    if mode == "alpha":
        if not alphas:
            raise InputError(f"{ds.name}: --mask alpha, but no band outside the model's bands "
                             f"{', '.join(map(str, bands))} is tagged alpha; use --mask nodata or none")
        return MaskSource("alpha", alphas[0], f"alpha band {alphas[0]} (--mask alpha)")
    if mode == "auto" and alphas:
        a = alphas[0]
        with reading(ds.name):
            sample = ds.read(a, out_shape=(min(ds.height, ALPHA_SAMPLE), min(ds.width, ALPHA_SAMPLE)),
                             resampling=Resampling.nearest)
        dt = np.dtype(ds.dtypes[a - 1])
        opaque = [255, np.iinfo(dt).max] if dt.kind in "iu" else [1, 255]  # GDAL: 2**bits - 1 is opaque
        odd = np.setdiff1d(np.unique(sample), [0, *opaque])
        if odd.size:
            eg = ", ".join(f"{v:g}" for v in odd[:: max(1, odd.size // 4)][:4])
            raise InputError(
                f"{ds.name}: band {a} is tagged alpha (the mask), but it holds values other than 0 and "
                f"{opaque[-1]:g} "
                f"(e.g. {eg}), like image data (GDAL tags band 4 of an 8-bit 4-band GeoTIFF alpha by default). "
                "Say what it is: --mask alpha (it is the mask: 0 = nodata) or --mask nodata (it is not; use "
                "the nodata value only)")
        return MaskSource("alpha", a, f"alpha band {a} (tagged alpha in the file, values 0/{opaque[-1]:g} only)")
    ignored = f"; band {alphas[0]} is tagged alpha but not used (--mask nodata)" if alphas else ""
    fed_alpha = [b for b in bands if ds.colorinterp[b - 1] == ColorInterp.alpha]
    if fed_alpha:
        ignored += f"; band {fed_alpha[0]} is tagged alpha but feeds the model, so it is not a mask"
    if ds.nodata is not None:
        return MaskSource("nodata", None, f"nodata value {ds.nodata:g}{ignored}")
    flags = ds.mask_flag_enums[bands[0] - 1]
    if MaskFlags.per_dataset in flags and MaskFlags.alpha not in flags:
        return MaskSource("nodata", None, f"the file's mask band{ignored}")
    return MaskSource("none", None, f"none (no nodata value, mask band or alpha){ignored}")


def valid_mask(ds: rasterio.DatasetReader, window: Window | None = None,
               out_shape: tuple[int, int] | None = None, indexes: list[int] | None = None,
               source: MaskSource | None = None) -> np.ndarray:
    """Boolean mask of the pixels that hold data and, for float rasters, finite values in every band (``indexes``,
    default all).

    ``source`` (:func:`choose_mask`) says what marks nodata; without it, GDAL's dataset mask (nodata value,
    alpha, mask band). GDAL ignores NaN unless the raster declares ``nodata=nan``, and never masks ±inf, so float
    inputs are checked here explicitly: a NaN/inf pixel is nodata however the file was written.
    """
    idx = indexes or list(ds.indexes)
    kw: dict[str, Any] = {"window": window}
    shape = (ds.height, ds.width) if window is None else (int(window.height), int(window.width))
    if out_shape is not None:
        kw.update(out_shape=out_shape, resampling=Resampling.nearest)
        shape = out_shape
    with reading(ds.name):
        if source is None:
            mask = ds.dataset_mask(**kw) > 0
        elif source.kind == "alpha":
            mask = ds.read(source.band, **kw) > 0
        elif source.kind == "nodata" and ds.nodata is not None:
            data = ds.read(idx, **({**kw, "out_shape": (len(idx), *shape)} if out_shape else kw))
            nd = ds.nodata
            mask = ~(np.isnan(data) if np.isnan(nd) else data == nd).all(axis=0)
        elif source.kind == "nodata":
            mask = ds.read_masks(idx[0], **kw) > 0
        else:
            mask = np.ones(shape, bool)
        if np.dtype(ds.dtypes[0]).kind == "f":
            fkw = {**kw, "out_shape": (len(idx), *out_shape)} if out_shape is not None else kw
            data = ds.read(idx, **fkw)
            mask &= np.isfinite(data).all(axis=0)
    return mask


def is_georeferenced(ds: rasterio.DatasetReader) -> bool:
    """Whether the raster has a CRS and a transform other than the identity."""
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
    """Indexes of the bands of ``path`` that are not alpha (at least band 1), the first ``limit`` of them; when fewer
    than ``limit`` bands are untagged, bands 1..limit (as predict feeds a model: an alpha-tagged 4th band of an
    RGBI image is data for a 4-band model)."""
    with rasterio.open(path) as ds:
        bands = [i + 1 for i, ci in enumerate(ds.colorinterp) if ci != ColorInterp.alpha] or [1]
        if limit is not None and len(bands) < limit <= ds.count:
            return list(range(1, limit + 1))
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
        """Write ``data`` into ``window``."""
        with self.writing():
            self.ds.write(data, window=window)

    def windows(self) -> Iterator[Window]:
        """The file's internal blocks, in order (to fill it block by block)."""
        return (win for _, win in self.ds.block_windows(1))

    def close(self) -> None:
        """Close the file (write failures as :class:`OutputError`)."""
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


def check_readable(path: str | Path) -> None:
    """Open ``path`` and decode its first and last rows of blocks (the last blocks are the first a truncated file
    loses); :class:`InputError` naming the file if it cannot be read. Costs two block rows, whatever the size."""
    with open_raster(path) as ds, reading(str(path)):
        bh = ds.block_shapes[0][0]
        last = ((ds.height - 1) // bh) * bh
        for row in dict.fromkeys((0, last)):
            ds.read(window=Window(0, row, ds.width, min(bh, ds.height - row)))


def vrt_sources_in(vrt: str | Path, window: Window) -> list[tuple[Path, Window]]:
    """The source files of a VRT written by :func:`write_vrt` that ``window`` (of the VRT) touches, each with the
    window of the source it reads there."""
    vrt = Path(vrt)
    band = ET.parse(vrt).getroot().find("VRTRasterBand")
    found: list[tuple[Path, Window]] = []
    for src in band.iter("SimpleSource") if band is not None else []:
        name, dst = src.find("SourceFilename"), src.find("DstRect")
        if name is None or dst is None:
            continue
        x, y, w, h = (int(float(dst.get(k, "0"))) for k in ("xOff", "yOff", "xSize", "ySize"))
        c0, r0 = max(x, int(window.col_off)), max(y, int(window.row_off))
        c1, r1 = min(x + w, int(window.col_off + window.width)), min(y + h, int(window.row_off + window.height))
        if c1 > c0 and r1 > r0:
            p = Path(name.text or "")
            found.append(((p if p.is_absolute() else vrt.parent / p).resolve(), Window(c0 - x, r0 - y, c1 - c0, r1 - r0)))
    return found


def unreadable_source(vrt: str | Path, window: Window) -> Path | None:
    """The first source file of ``vrt`` that fails to decode its part of ``window`` (None if they all read)."""
    for path, win in vrt_sources_in(vrt, window):
        try:
            with rasterio.open(path) as ds:
                ds.read(window=win)
        except (RasterioIOError, CPLE_BaseError):
            return path
    return None


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
