"""Bring one raster onto another's grid (nearest neighbour, through a GDAL WarpedVRT, window by window)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from landseg.errors import InputError
from landseg.io.names import distinct_names
from landseg.io.raster import is_georeferenced


def same_grid(a: rasterio.DatasetReader, b: rasterio.DatasetReader) -> bool:
    """Same size, CRS and geotransform (to 1e-9 of a pixel)."""
    if (a.width, a.height) != (b.width, b.height):
        return False
    if is_georeferenced(a) != is_georeferenced(b):
        return False
    return (a.crs == b.crs) and a.transform.almost_equals(b.transform, precision=1e-9 * abs(a.transform.a or 1))


@contextlib.contextmanager
def on_grid(src: rasterio.DatasetReader, like: rasterio.DatasetReader) -> Iterator[tuple[Any, str | None]]:
    """``src`` as seen on ``like``'s grid: (dataset, note). The note says how it was aligned (None: as is).

    A different CRS, pixel size or origin is resampled by nearest neighbour (class values are never
    mixed); pixels of ``like``'s grid outside ``src`` are masked (an alpha band), so they read as nodata.
    Rasters without georeferencing must have the same size and are compared pixel by pixel.
    """
    name, ref = distinct_names(src.name, like.name)
    if same_grid(src, like):
        yield src, None
        return
    if not (is_georeferenced(src) and is_georeferenced(like)):
        if (src.width, src.height) == (like.width, like.height):
            yield src, f"{name} and {ref} are not both georeferenced; compared pixel by pixel"
            return
        raise InputError(f"{name} ({src.width}x{src.height}) and {ref} ({like.width}x{like.height}) differ in size "
                         "and are not both georeferenced, so they cannot be aligned")
    with WarpedVRT(src, crs=like.crs, transform=like.transform, width=like.width, height=like.height,
                   resampling=Resampling.nearest, add_alpha=True) as vrt:
        how = "reprojected" if src.crs != like.crs else "resampled"
        yield vrt, (f"{name} was {how} onto the grid of {ref} by nearest neighbour (GDAL WarpedVRT); "
                    f"pixels of {ref} outside {name} count as nodata")


def check_same_grid(src: rasterio.DatasetReader, like: rasterio.DatasetReader, what: str = "") -> None:
    """Raise :class:`InputError` unless ``src`` lies on ``like``'s grid (same size, CRS and geotransform), naming
    what differs; rasters without georeferencing on either side must both lack it (and match in size)."""
    name, ref = distinct_names(Path(src.name), Path(like.name))
    if same_grid(src, like):
        return
    diffs = []
    if (src.width, src.height) != (like.width, like.height):
        diffs.append(f"size {src.width}x{src.height} vs {like.width}x{like.height}")
    gs, gl = is_georeferenced(src), is_georeferenced(like)
    if gs != gl:
        diffs.append(f"{name if gs else ref} is georeferenced, {ref if gs else name} is not")
    elif gs:
        if src.crs != like.crs:
            diffs.append(f"CRS {src.crs.to_string()} vs {like.crs.to_string()}")
        if not src.transform.almost_equals(like.transform, precision=1e-9 * abs(like.transform.a or 1)):
            t, u = src.transform, like.transform
            diffs.append(f"origin ({t.c:.6g}, {t.f:.6g}) vs ({u.c:.6g}, {u.f:.6g}), pixel {t.a:.6g} vs {u.a:.6g}")
    label = f"{what} " if what else ""
    raise InputError(f"{label}{name} is not on the grid of {ref} ({'; '.join(diffs)}); it must have the same CRS, "
                     f"transform and size (warp it onto the map first, e.g. gdalwarp -r near with {ref}'s -t_srs, "
                     "-te and -ts)")
