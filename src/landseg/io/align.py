"""Bring one raster onto another's grid (nearest neighbour, through a GDAL WarpedVRT, window by window)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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
