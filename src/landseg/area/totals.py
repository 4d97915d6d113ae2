"""Area of each class of a class map or label raster (:func:`class_areas`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landseg.area.classmap import ClassMap, open_classmap
from landseg.area.pixel_area import weighted_count
from landseg.area.tables import Col, Report, area_cols, area_text, areas_in, unit_columns
from landseg.classes import IGNORE_INDEX, ClassTable
from landseg.io.labels import NBINS
from landseg.io.raster import strips


@dataclass
class ClassArea:
    """One class's pixel count, area and share of the valid area."""
    index: int
    name: str
    pixels: int
    area_m2: float
    share: float  # of the valid (non-nodata) area, 0-1


@dataclass
class AreaResult(Report):
    """Per-class areas of one raster. ``classes`` holds the selected classes only; ``valid_m2`` is
    the area of all classes (nodata and ignore excluded)."""

    raster: str
    table: ClassTable
    pixel_area: str
    classes: list[ClassArea]
    valid_pixels: int
    valid_m2: float
    nodata_pixels: int
    nodata_m2: float
    restricted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def total_m2(self) -> float:
        """The area of the classes shown, in m²."""
        return float(sum(c.area_m2 for c in self.classes))

    @property
    def total_pixels(self) -> int:
        """The pixel count of the classes shown."""
        return int(sum(c.pixels for c in self.classes))

    def area_of(self, name: str) -> float:
        """The area of class ``name`` in m²; KeyError if it is not shown."""
        for c in self.classes:
            if c.name == name:
                return c.area_m2
        raise KeyError(name)

    def _table(self, units: str) -> tuple[str, list[Col], list[list[Any]], list[str]]:
        ucols = unit_columns(units)
        cols = [Col("class", "str"), Col("pixels", "int"), *area_cols(units), Col("share", "pct")]
        rows: list[list[Any]] = [[c.name, c.pixels, *[c.area_m2] * len(ucols), c.share] for c in self.classes]
        share = float(sum(c.share for c in self.classes))
        rows.append(["total (selected)" if self.restricted else "total", self.total_pixels,
                     *[self.total_m2] * len(ucols), share])
        if self.restricted:
            rows.append(["all classes", self.valid_pixels, *[self.valid_m2] * len(ucols), 1.0 if self.valid_m2 else 0.0])
        footer = [f"pixel area: {self.pixel_area}"]
        if self.nodata_pixels:
            m2 = f" ({area_text(self.nodata_m2, units)})" if math.isfinite(self.nodata_m2) else ""
            footer.append(f"nodata/ignore: {self.nodata_pixels:,} pixels{m2}, not in the shares")
        return f"Class areas of {Path(self.raster).name} (table {self.table.name!r})", cols, rows, footer

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        """The areas as JSON-ready data (areas in ``units``)."""
        return {
            "raster": str(self.raster),
            "class_table": self.table.name,
            "pixel_area": self.pixel_area,
            "units": units,
            "classes": [{"index": c.index, "name": c.name, "pixels": c.pixels, **areas_in(c.area_m2, units),
                         "share": c.share} for c in self.classes],
            "total": {"pixels": self.total_pixels, **areas_in(self.total_m2, units),
                      "share": float(sum(c.share for c in self.classes))},
            "valid": {"pixels": self.valid_pixels, **areas_in(self.valid_m2, units)},
            "nodata": {"pixels": self.nodata_pixels, **areas_in(self.nodata_m2, units)},
            "notes": list(self.notes),
        }


def class_areas(
    raster: str | Path, table: str | Path | ClassTable | None = None, *, gsd: float | None = None,
    classes: str | Sequence[str] | None = None, strip_rows: int | None = None, allow_pixels_only: bool = False,
    unknown_to_ignore: bool = False,
) -> AreaResult:
    """Area of each class of a class map or label raster, read strip by strip.

    Args:
        raster: a landseg class GeoTIFF (its table is embedded) or any index/palette/colour label raster.
        table: class table (preset name, file or :class:`ClassTable`); overrides the embedded one.
        gsd: pixel size in metres, for rasters without georeferencing.
        classes: restrict the listed classes (comma-separated names or a list); shares stay
            relative to the whole valid area.
        strip_rows: rows per read (default: about 4 M pixels per strip).
        allow_pixels_only: for a raster without georeferencing and no ``gsd``, return pixel counts
            and shares with unknown (NaN; empty/null in the outputs) areas instead of raising.

    Nodata pixels (the raster's nodata value or mask) and the ignore index 255 are left out of the
    valid area. Float rasters and values outside the table raise :class:`ClassTableError`.
    """
    with open_classmap(raster, table, gsd=gsd, classes=classes, allow_pixels_only=allow_pixels_only,
                       unknown_to_ignore=unknown_to_ignore) as cm:
        counts = np.zeros(NBINS, dtype=np.int64)
        areas = np.zeros(NBINS, dtype=np.float64)
        for win in strips(cm.ds, strip_rows):
            c, a = weighted_count(cm.reader.codes(win), NBINS, cm.pixel_area.block(win.row_off, win.height))
            counts += c
            areas += a
        cm.reader.check_counts(counts)
    return _tally(cm, counts, areas)


def _tally(cm: ClassMap, counts: np.ndarray, areas: np.ndarray) -> AreaResult:
    """The result from the pixel counts and areas per raw code."""
    tbl, selected, pa, reader = cm.table, cm.selected, cm.pixel_area, cm.reader
    lut = reader.lut.astype(np.intp)
    class_px = np.zeros(256, dtype=np.int64)
    np.add.at(class_px, lut, counts)
    class_m2 = np.bincount(lut, weights=areas, minlength=256)
    nc = tbl.num_classes
    valid_px, valid_m2 = int(class_px[:nc].sum()), float(class_m2[:nc].sum())
    rows = [ClassArea(i, tbl.names[i], int(class_px[i]), float(class_m2[i]),
                      float(class_m2[i] / valid_m2) if valid_m2 else 0.0) for i in selected]
    notes = list(pa.notes)
    if valid_px == 0:
        notes.append("the raster holds no valid pixels (all nodata/ignore)")
    if not cm.areas_known:  # shares are pixel shares (exact for a uniform grid); areas unknown
        for r in rows:
            r.area_m2 = math.nan
        class_m2[:] = math.nan
        valid_m2 = math.nan
    return AreaResult(str(cm.path), tbl, pa.description, rows, valid_px, valid_m2, int(class_px[IGNORE_INDEX]),
                      float(class_m2[IGNORE_INDEX]), restricted=len(selected) < nc, notes=notes)
