"""The one preamble of every measure: open a class map, resolve its class table, find its pixel area,
and build the strip reader (:func:`open_classmap`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import rasterio

from landseg.area.pixel_area import PixelArea, pixel_area_source
from landseg.classes import ClassTable
from landseg.errors import InputError
from landseg.io.labels import LabelReader, resolve_table
from landseg.io.raster import open_raster

PIXELS_ONLY = "no georeferencing and no --gsd: pixel counts only, areas unknown"


@dataclass
class ClassMap:
    """An open class map or label raster, ready to be measured strip by strip."""

    path: Path
    ds: rasterio.DatasetReader
    table: ClassTable
    selected: list[int]  # class indices asked for (all by default)
    pixel_area: PixelArea
    reader: LabelReader
    areas_known: bool = True  # False: no pixel size known, pixel_area counts pixels (1 each)


def measured_pixel_area(ds: rasterio.DatasetReader, gsd: float | None = None, *,
                        allow_pixels_only: bool = False) -> tuple[PixelArea, bool]:
    """(pixel areas of ``ds``, whether they are known). With ``allow_pixels_only`` a raster without
    georeferencing and without ``gsd`` counts pixels (1 each, known False) instead of raising."""
    try:
        return pixel_area_source(ds, gsd), True
    except InputError:
        if not allow_pixels_only or not (ds.crs is None or ds.transform.is_identity):
            raise
        return PixelArea("pixels", PIXELS_ONLY, ds.transform, ds.width, ds.height, constant=1.0,
                         planar_factor=1.0), False


@contextlib.contextmanager
def open_classmap(
    raster: str | Path, table: str | Path | ClassTable | None = None, *, gsd: float | None = None,
    classes: str | Sequence[str] | None = None, allow_pixels_only: bool = False, unknown_to_ignore: bool = False,
) -> Iterator[ClassMap]:
    """Open ``raster`` and yield a :class:`ClassMap`; the raster is closed on leaving.

    ``table`` overrides the class table embedded in the raster; ``classes`` selects classes by name;
    ``gsd`` is the pixel size in metres of a raster without georeferencing. With
    ``allow_pixels_only`` such a raster without ``gsd`` is measured in pixels (``areas_known`` False)
    instead of raising :class:`InputError`. ``unknown_to_ignore``: values/colours outside the table are
    left out like ignore pixels instead of raising.
    """
    path = Path(raster)
    with open_raster(path) as ds:
        tbl = resolve_table(ds, table)
        selected = tbl.indices_of(classes)
        pa, known = measured_pixel_area(ds, gsd, allow_pixels_only=allow_pixels_only)
        yield ClassMap(path, ds, tbl, selected, pa, LabelReader(ds, tbl, str(path), unknown_to_ignore=unknown_to_ignore), known)
