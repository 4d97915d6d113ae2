"""Predicted against true area per class (:func:`compare_with_truth`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from landseg.area.pixel_area import pixel_area_source, weighted_count
from landseg.area.tables import UNITS, Col, Report, find_by, unit_key
from landseg.classes import IGNORE_INDEX, ClassTable
from landseg.errors import ClassTableError, InputError
from landseg.io.labels import LabelReader, resolve_table, table_from_raster
from landseg.io.raster import open_raster, strips


@dataclass
class ClassComparison:
    index: int
    name: str
    true_m2: float
    predicted_m2: float

    @property
    def error_m2(self) -> float:
        return self.predicted_m2 - self.true_m2

    @property
    def error_pct(self) -> float | None:
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
        return find_by(self.classes, "name", name)

    def _table(self, units: str) -> tuple[str, list[Col], list[list[Any]], list[str]]:
        u = unit_key(units)
        lab = UNITS[u][1]
        cols = [Col("class", "str"), Col(f"true ({lab})", f"area:{u}"), Col(f"predicted ({lab})", f"area:{u}"),
                Col(f"error ({lab})", f"area:{u}"), Col("error", "pct")]
        rows = [[c.name, c.true_m2, c.predicted_m2, c.error_m2,
                 None if c.error_pct is None else c.error_pct / 100] for c in self.classes]
        footer = [f"pixel area: {self.pixel_area}",
                  f"compared over {self.compared_m2:,.2f} m² valid in both rasters; error = predicted - true"]
        footer += [f"note: {n}" for n in self.notes]
        return f"Predicted {Path(self.predicted).name} against truth {Path(self.truth).name}", cols, rows, footer

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
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

    Both rasters must have the same size; only pixels valid (not nodata/ignore) in both are counted.
    The truth is read with ``truth_table``, else the prediction's table (so an ISPRS colour label
    can be compared with a class GeoTIFF). The pixel area comes from the prediction's
    georeferencing, else the truth's, else ``gsd``.
    """
    pred_path, truth_path = Path(pred_raster), Path(truth_raster)
    with open_raster(pred_path) as pds, open_raster(truth_path) as tds:
        ptable = resolve_table(pds, table)
        ttable = resolve_table(tds, truth_table) if truth_table is not None else (table_from_raster(tds) or ptable)
        _check_pair(pds, tds, ptable, ttable, pred_path, truth_path)
        notes = []
        if pds.crs is not None and tds.crs is not None and not pds.transform.almost_equals(tds.transform):
            notes.append("the two rasters have different geotransforms; compared pixel by pixel")
        src = pds if (pds.crs is not None and not pds.transform.is_identity) else tds
        pa = pixel_area_source(src, gsd)
        notes += pa.notes
        selected = ptable.indices_of(classes)
        pr, tr = LabelReader(pds, ptable, str(pred_path)), LabelReader(tds, ttable, str(truth_path))
        nb = 256
        pred_m2, true_m2 = np.zeros(nb), np.zeros(nb)
        for win in strips(pds, strip_rows):
            p, t = pr.index(win), tr.index(win)
            both = (p != IGNORE_INDEX) & (t != IGNORE_INDEX)
            p = np.where(both, p, IGNORE_INDEX).astype(np.uint8)
            t = np.where(both, t, IGNORE_INDEX).astype(np.uint8)
            pix = pa.block(win.row_off, win.height)
            pred_m2 += weighted_count(p, nb, pix)[1]
            true_m2 += weighted_count(t, nb, pix)[1]
    rows = [ClassComparison(i, ptable.names[i], float(true_m2[i]), float(pred_m2[i])) for i in selected]
    return TruthComparison(str(pred_path), str(truth_path), pa.description, rows,
                           float(true_m2[: ptable.num_classes].sum()), notes)


def _check_pair(pds: rasterio.DatasetReader, tds: rasterio.DatasetReader, ptable: ClassTable, ttable: ClassTable,
                pred_path: Path, truth_path: Path) -> None:
    """The truth must have the prediction's classes and size."""
    if ttable.names != ptable.names:
        raise ClassTableError(
            f"{truth_path.name}: its class table ({', '.join(ttable.names)}) differs from the prediction's "
            f"({', '.join(ptable.names)}); pass a truth label in the same classes"
        )
    if (pds.width, pds.height) != (tds.width, tds.height):
        raise InputError(
            f"{truth_path.name} is {tds.width}x{tds.height} pixels but {pred_path.name} is "
            f"{pds.width}x{pds.height}; the truth must be on the prediction's grid"
        )
