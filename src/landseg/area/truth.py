"""Predicted against true area per class (:func:`compare_with_truth`)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landseg.area.pixel_area import pixel_area_source, weighted_count
from landseg.area.tables import UNITS, Col, Report, area_text, find_by, unit_key
from landseg.classes import IGNORE_INDEX, ClassTable
from landseg.errors import ClassTableError, InputError
from landseg.io.align import on_grid
from landseg.io.labels import LabelReader, resolve_table, table_from_raster
from landseg.io.names import distinct_names
from landseg.io.raster import is_georeferenced, open_raster, strips


@dataclass
class ClassComparison:
    """One class's true and predicted area."""
    index: int
    name: str
    true_m2: float
    predicted_m2: float

    @property
    def error_m2(self) -> float:
        """Predicted minus true area, in m²."""
        return self.predicted_m2 - self.true_m2

    @property
    def error_pct(self) -> float | None:
        """The error as a percentage of the true area (None where the true area is 0)."""
        return 100.0 * self.error_m2 / self.true_m2 if self.true_m2 else None


@dataclass
class TruthComparison(Report):
    """Predicted against true area per class, over the pixels valid in both rasters."""

    predicted: str
    truth: str
    pixel_area: str
    classes: list[ClassComparison]
    compared_m2: float
    notes: list[str] = field(default_factory=list)

    def row(self, name: str) -> ClassComparison:
        """The comparison of class ``name``."""
        return find_by(self.classes, "name", name)

    def _table(self, units: str) -> tuple[str, list[Col], list[list[Any]], list[str]]:
        u = unit_key(units)
        lab = UNITS[u][1]
        cols = [Col("class", "str"), Col(f"true ({lab})", f"area:{u}"), Col(f"predicted ({lab})", f"area:{u}"),
                Col(f"error ({lab})", f"area:{u}"), Col("error", "pct")]
        rows = [[c.name, c.true_m2, c.predicted_m2, c.error_m2,
                 None if c.error_pct is None else c.error_pct / 100] for c in self.classes]
        footer = [f"pixel area: {self.pixel_area}",
                  f"compared over {area_text(self.compared_m2, units)} valid in both rasters; error = predicted - true"]
        return f"Predicted {Path(self.predicted).name} against truth {Path(self.truth).name}", cols, rows, footer

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        """The comparison as JSON-ready data."""
        return {"predicted": self.predicted, "truth": self.truth, "pixel_area": self.pixel_area,
                "compared_m2": self.compared_m2,
                "classes": [{"index": c.index, "name": c.name, "true_m2": c.true_m2, "predicted_m2": c.predicted_m2,
                             "error_m2": c.error_m2, "error_pct": c.error_pct} for c in self.classes],
                "notes": list(self.notes)}


def compare_with_truth(
    pred_raster: str | Path, truth_raster: str | Path, table: str | Path | ClassTable | None = None, *,
    truth_table: str | Path | ClassTable | None = None, gsd: float | None = None,
    classes: str | Sequence[str] | None = None, strip_rows: int | None = None,
) -> TruthComparison:
    """Per class the true area, the predicted area and the error (m² and %).

    The truth is brought onto the prediction's grid: a truth in another CRS, pixel size or extent is
    resampled by nearest neighbour (:func:`landseg.io.align.on_grid`, said in the notes); rasters without
    georeferencing must have the same size. Only pixels valid (not nodata/ignore) in both are counted; no
    such pixel at all raises :class:`InputError`. The truth is read with ``truth_table``, else the
    prediction's table (so an ISPRS colour label can be compared with a class GeoTIFF). The pixel area
    comes from the prediction's georeferencing, else the truth's, else ``gsd``.
    """
    pred_path, truth_path = Path(pred_raster), Path(truth_raster)
    pname, tname = distinct_names(pred_path, truth_path)
    with open_raster(pred_path) as pds, open_raster(truth_path) as tds, contextlib.ExitStack() as stack:
        ptable = resolve_table(pds, table)
        ttable = resolve_table(tds, truth_table) if truth_table is not None else (table_from_raster(tds) or ptable)
        if ttable.names != ptable.names:
            raise ClassTableError(
                f"{tname}: its class table ({', '.join(ttable.names)}) differs from the prediction's "
                f"({', '.join(ptable.names)}); pass a truth label in the same classes")
        grid, how = stack.enter_context(on_grid(tds, pds))
        notes = [how] if how else []
        src = pds if is_georeferenced(pds) else tds
        pa = pixel_area_source(src, gsd)
        notes += pa.notes
        selected = ptable.indices_of(classes)
        pr, tr = LabelReader(pds, ptable, str(pred_path)), LabelReader(grid, ttable, str(truth_path))
        nb = 256
        pred_m2, true_m2, compared = np.zeros(nb), np.zeros(nb), 0
        for win in strips(pds, strip_rows):
            p, t = pr.index(win), tr.index(win)
            both = (p != IGNORE_INDEX) & (t != IGNORE_INDEX)
            compared += int(both.sum())
            p = np.where(both, p, IGNORE_INDEX).astype(np.uint8)
            t = np.where(both, t, IGNORE_INDEX).astype(np.uint8)
            pix = pa.block(win.row_off, win.height)
            pred_m2 += weighted_count(p, nb, pix)[1]
            true_m2 += weighted_count(t, nb, pix)[1]
    if compared == 0:
        raise InputError(f"{tname} and {pname} share no pixel that is valid in both (do they cover the same "
                         "place?); nothing to compare")
    rows = [ClassComparison(i, ptable.names[i], float(true_m2[i]), float(pred_m2[i])) for i in selected]
    return TruthComparison(str(pred_path), str(truth_path), pa.description, rows,
                           float(true_m2[: ptable.num_classes].sum()), notes)
