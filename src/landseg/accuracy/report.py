"""The accuracy / error-adjusted area result of ``landseg area --reference``, in the area tables' style."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landseg.accuracy.estimate import StratifiedEstimate
from landseg.area.tables import (
    Col,
    Report,
    area_cols,
    areas_in,
    finite,
    render_table,
    unit_columns,
)
from landseg.classes import ClassTable

METHOD = ("stratified estimators of Olofsson et al. (2014): error matrix in area proportions "
          "p_ij = W_i n_ij / n_i; error-adjusted area = A_tot p_.j, 95 % CI = ± 1.96 S(p_.j) A_tot; accuracies: "
          "± 1.96 S clipped to 0-100 %, or Wilson score intervals of the sample counts where S is 0 (an estimate "
          "of 0 or 100 %)")


@dataclass
class AccuracyResult(Report):
    """Accuracy with standard errors and error-adjusted class areas from a labelled reference sample.

    Areas are m² (NaN when the map has no georeferencing; the ``*_pixels`` figures are then the
    areas in pixels).
    """

    raster: str
    points: str
    table: ClassTable
    pixel_area: str
    estimate: StratifiedEstimate
    stratum_pixels: np.ndarray
    total_pixels: int
    n_points: int
    n_unlabelled: int
    notes: list[str] = field(default_factory=list)
    area_known: bool = True  # False: no georeferencing, the estimate's areas are pixel counts

    def _px(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values) / (self.estimate.total_area or 1.0) * self.total_pixels if self.area_known \
            else np.asarray(values)

    def _table(self, units: str) -> tuple[str, list[Col], list[list[Any]], list[str]]:
        e = self.estimate
        shown = unit_columns(units) if self.area_known else []
        cols = [Col("class", "str"), Col("sample", "int"), Col("mapped pixels", "int")]
        for header in ("mapped", "adjusted", "± 95 %"):
            cols += area_cols(units, header) if self.area_known else [Col(f"{header} (px)", "px")]
        cols += [Col("user's", "pct"), Col("user's 95 % low", "pct"), Col("user's 95 % high", "pct"),
                 Col("producer's", "pct"), Col("producer's 95 % low", "pct"), Col("producer's 95 % high", "pct")]
        rows = []
        for i, name in enumerate(self.table.names):
            vals = [e.mapped_area[i], e.adjusted_area[i], e.ci_area[i]]
            areas = [v for v in vals for _ in shown] if self.area_known else list(self._px(np.array(vals)))
            rows.append([name, int(e.counts[i].sum()), int(self.stratum_pixels[i]), *areas,
                         e.users[i], *e.users_interval[i], e.producers[i], *e.producers_interval[i]])
        lo, hi = e.overall_interval
        oa = (f"{lo * 100:.2f}–{hi * 100:.2f} %" if math.isfinite(lo) else "n/a")
        footer = [f"overall accuracy: {e.overall * 100:.2f} % (95 % interval {oa}"
                  + (", Wilson" if e.overall_method == "wilson" else "") + ")",
                  f"reference sample: {self.points}: {self.n_points - self.n_unlabelled} labelled points"
                  + (f", {self.n_unlabelled} unlabelled skipped" if self.n_unlabelled else ""),
                  f"pixel area: {self.pixel_area}", f"method: {METHOD}"]
        title = f"Accuracy and error-adjusted areas of {Path(self.raster).name} (table {self.table.name!r})"
        return title, cols, rows, footer

    def error_matrix_text(self, fmt: str) -> str:
        """The error matrix in estimated area proportions (rows: map, columns: reference)."""
        names = self.table.names
        cols = [Col("map \\ reference", "str"), *[Col(n, "pct") for n in names], Col("total", "pct")]
        p = self.estimate.proportions
        rows = [[names[i], *p[i], p[i].sum()] for i in range(len(names))]
        rows.append(["total", *p.sum(axis=0), p.sum()])
        return render_table(fmt, cols, rows, title="Error matrix in estimated area proportions")  # type: ignore[arg-type]

    def all_notes(self) -> list[str]:
        """This result's notes and the estimator's."""
        return self.notes + self.estimate.notes

    def to_text(self, units: str = "m2", notes: bool = True) -> str:
        """The table as text, then the error matrix."""
        return super().to_text(units, notes) + "\n" + self.error_matrix_text("table")

    def to_markdown(self, units: str = "m2", notes: bool = True) -> str:
        """The table as Markdown, then the error matrix."""
        return super().to_markdown(units, notes) + "\n" + self.error_matrix_text("markdown")

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        """The JSON object (``NAME_accuracy.json``)."""
        e = self.estimate
        px = self._px
        classes = []
        for i, name in enumerate(self.table.names):
            classes.append({
                "index": i, "name": name, "sample_size": int(e.counts[i].sum()),
                "mapped_pixels": int(self.stratum_pixels[i]), "weight": float(e.weights[i]),
                **areas_in(e.mapped_area[i] if self.area_known else math.nan, units, "mapped"),
                **areas_in(e.adjusted_area[i] if self.area_known else math.nan, units, "adjusted"),
                **areas_in(e.se_area[i] if self.area_known else math.nan, units, "se"),
                **areas_in(e.ci_area[i] if self.area_known else math.nan, units, "ci95"),
                "adjusted_pixels": finite(px(e.adjusted_area)[i]), "ci95_pixels": finite(px(e.ci_area)[i]),
                "users_accuracy": finite(e.users[i]), "users_se": finite(e.se_users[i]),
                "users_ci95": finite(e.ci_users[i]) if e.users_method[i] == "normal" else None,
                "users_ci95_low": finite(e.users_interval[i, 0]), "users_ci95_high": finite(e.users_interval[i, 1]),
                "users_ci95_method": e.users_method[i],
                "producers_accuracy": finite(e.producers[i]), "producers_se": finite(e.se_producers[i]),
                "producers_ci95": finite(e.ci_producers[i]) if e.producers_method[i] == "normal" else None,
                "producers_ci95_low": finite(e.producers_interval[i, 0]),
                "producers_ci95_high": finite(e.producers_interval[i, 1]),
                "producers_ci95_method": e.producers_method[i],
            })
        return {
            "raster": self.raster, "reference": self.points, "class_table": self.table.name,
            "pixel_area": self.pixel_area, "units": units, "method": METHOD,
            "overall_accuracy": {"value": e.overall, "se": finite(e.se_overall),
                                 "ci95": finite(e.ci_overall) if e.overall_method == "normal" else None,
                                 "ci95_low": finite(e.overall_interval[0]), "ci95_high": finite(e.overall_interval[1]),
                                 "ci95_method": e.overall_method},
            "classes": classes,
            "total": {"pixels": self.total_pixels, **areas_in(e.total_area, units)},
            "error_matrix": {"rows": "map", "columns": "reference", "classes": list(self.table.names),
                             "counts": e.counts.astype(int).tolist(), "proportions": e.proportions.tolist()},
            "points": {"total": self.n_points, "labelled": self.n_points - self.n_unlabelled,
                       "unlabelled": self.n_unlabelled},
            "notes": self.notes + e.notes,
        }
