"""``landseg green BEFORE AFTER --zones AREAS``: green space and tree canopy per area at two dates.

For the EU Nature Restoration Regulation (EU) 2024/1991, Art. 8 (no net loss of urban green space and
tree canopy per local urban ecosystem area), stormwater and greening plans. Per zone, from the per-zone
transition matrices of :func:`landseg.change.detect_change` (a pixel counts in a zone when its centre is in
it; pixels nodata in either map are left out of both dates):

* ``green_share_before/after``, ``canopy_share_before/after``: the area of the ``green`` / ``tree`` role
  classes over the zone's valid area at each date;
* ``green_change_m2``, ``canopy_change_m2`` (and ``_pct`` of the before area): after minus before;
* ``green_above_45_*``, ``canopy_above_10_*``: whether the zone is above the regulation's 45 % green-space
  and 10 % tree-canopy thresholds at each date;
* with a filled change sample (``reference``): ``green_change_m2`` and ``canopy_change_m2`` become the
  error-adjusted net changes (:mod:`landseg.change_reference`; the mapped ones stay in ``*_mapped_m2``) with
  95 % bounds ``*_low``/``*_high`` and a verdict: ``loss`` (the whole interval below 0), ``gain`` (above
  0), ``no significant change``, or ``too few points`` where the zone's sample does not allow an estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landseg.area.tables import Col, Report, finite
from landseg.change import ChangeResult, detect_change
from landseg.change_reference import ChangeSample, check_change_points, read_change_sample, role_change, too_few_note
from landseg.classes import ClassTable
from landseg.errors import InputError
from landseg.io.raster import is_georeferenced, open_raster
from landseg.io.styles import (
    LayerStyle,
    categorized_qml,
    categorized_sld,
    graduated_breaks,
    graduated_qml,
    graduated_sld,
    write_gpkg_styles,
)
from landseg.io.vector import vector_output, write_features
from landseg.layout import ChangePaths

GREEN_THRESHOLD, CANOPY_THRESHOLD = 0.45, 0.10
VERDICTS = (("loss", (215, 48, 39)), ("no significant change", (230, 230, 230)), ("gain", (26, 152, 80)),
            ("too few points", (150, 150, 150)))
MEASURES = (("green", "green"), ("canopy", "tree"))  # column prefix, role


def verdict(low: float, high: float) -> str:
    """``loss`` when the whole 95 % interval is below 0, ``gain`` when above, else no significant change."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "too few points"
    return "loss" if high < 0 else "gain" if low > 0 else "no significant change"


@dataclass
class GreenResult(Report):
    """Green space and tree canopy per zone at two dates; ``columns`` hold one value per zone."""

    change: ChangeResult
    columns: dict[str, list[Any]]
    adjusted: bool
    notes: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)

    @property
    def pixel_area(self) -> str:
        """How the pixel area was found (the change result's)."""
        return self.change.pixel_area

    def _cols(self) -> list[tuple[str, str]]:
        kinds = {"points": "int", "note": "str"}
        out = []
        for name in self.columns:
            if name == self.id_name:
                kind = "str"
            elif "share" in name:
                kind = "num"
            elif "above" in name:
                kind = "bool"
            elif "verdict" in name:
                kind = "str"
            elif name.endswith("_m2") or "_m2_" in name:
                kind = "area:m2"
            else:
                kind = kinds.get(name, "num")
            out.append((name, kind))
        return out

    @property
    def id_name(self) -> str:
        """The zone id column's name."""
        return next(iter(self.columns))

    def _table(self, units: str) -> tuple[str, list[Col], list[list[Any]], list[str]]:
        cols = [Col(n, k) for n, k in self._cols()]
        n = len(self.columns[self.id_name])
        rows = [[self.columns[c][i] for c in self.columns] for i in range(n)]
        footer = [f"green role: {', '.join(self.change.table.role_map().get('green', [])) or 'not declared'}; "
                  f"canopy (tree role): {', '.join(self.change.table.role_map().get('tree', [])) or 'not declared'}",
                  "zone area: pixels valid in both maps with their centre in the zone; thresholds 45 % green, 10 % canopy",
                  f"pixel area: {self.pixel_area}"]
        if self.adjusted:
            footer.append("green_change_m2 / canopy_change_m2: error-adjusted (change sample), 95 % bounds in _low/_high")
        footer += [f"note: {x}" for x in self.notes]
        return (f"Green space and tree canopy per zone: {Path(self.change.before).name} -> "
                f"{Path(self.change.after).name}", cols, rows, footer)

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        """The JSON object (``green.json``)."""
        n = len(self.columns[self.id_name])
        zones = [{c: (finite(v) if isinstance(v, float) else v) for c, v in ((c, self.columns[c][i]) for c in self.columns)}
                 for i in range(n)]
        return {"before": self.change.before, "after": self.change.after, "zone_id": self.id_name,
                "roles": self.change.table.role_map(), "thresholds": {"green": GREEN_THRESHOLD,
                                                                       "canopy": CANOPY_THRESHOLD},
                "adjusted": self.adjusted, "pixel_area": self.pixel_area, "zones": zones, "notes": self.notes}

    def write_vector(self, path: Path) -> Path:
        """The zones with every column, styled for QGIS (the verdict, else the green share after)."""
        geoms = np.array(self.change.zone_geometries, dtype=object)
        fields: dict[str, np.ndarray] = {}
        masks: list[np.ndarray | None] = []
        for name, kind in self._cols():
            vals = self.columns[name]
            if kind in ("str",) or name == self.id_name:
                fields[name] = np.array(["" if v is None else str(v) for v in vals], dtype=object)
                masks.append(None)
            elif kind in ("bool", "int"):
                fields[name] = np.array([-1 if v is None else int(v) for v in vals], dtype=np.int64)
                masks.append(np.array([v is None for v in vals]))
            else:
                arr = np.array([math.nan if v is None else float(v) for v in vals], dtype=np.float64)
                fields[name] = arr
                masks.append(~np.isfinite(arr))
        with open_raster(self.change.transition_map) as ds:
            crs = ds.crs.to_wkt() if is_georeferenced(ds) else None
        with vector_output(path, "green") as target:  # the verified, atomic path of every vector file
            write_features(path, geoms, fields, crs, layer="green", tmp=target.path, masks=masks)
            target.features = len(geoms)
            if path.suffix.lower() == ".gpkg":
                write_gpkg_styles(target.path, "green", self.styles("green"))
        return path

    def styles(self, layer: str) -> list[LayerStyle]:
        """The QGIS/SLD styles of the zones layer: shares after, and verdicts with a sample."""
        ranges = graduated_breaks((0.0, 0.1, 0.2, 0.3, 0.45, 0.6, 1.0))
        out = [LayerStyle(f"{m}_share_after", graduated_qml(f"{m}_share_after", ranges),
                          graduated_sld(layer, f"{m}_share_after", ranges), not self.adjusted and m == "green",
                          f"{m} share at the second date") for m, _ in MEASURES]
        if self.adjusted:
            out += [LayerStyle(f"{m}_verdict", categorized_qml(f"{m}_verdict", VERDICTS),
                               categorized_sld(layer, f"{m}_verdict", VERDICTS), m == "green",
                               f"{m}: loss / no significant change / gain (95 %)") for m, _ in MEASURES]
        return out


def _adjusted_columns(res: ChangeResult, sample: ChangeSample, prefix: str, role: str,
                      mapped: list[float | None]) -> dict[str, list[Any]]:
    """The error-adjusted change of one measure per zone from a filled change sample: estimate, 95 % bounds, the
    mapped change beside it and the verdict (for ``green``, also the points and the too-few-points note)."""
    assert res.zones is not None
    y = role_change(res.table, role, sample.before, sample.after, exclude_unknown=False)
    est = [sample.total(y, sample.strata.aggregate(z.m2), zone=i) for i, z in enumerate(res.zones)]
    cols: dict[str, list[Any]] = {
        f"{prefix}_change_m2": [t.value if math.isfinite(t.value) and m is not None else None for t, m in zip(est, mapped)],
        f"{prefix}_change_m2_low": [t.low if math.isfinite(t.low) else None for t in est],
        f"{prefix}_change_m2_high": [t.high if math.isfinite(t.high) else None for t in est],
        f"{prefix}_change_mapped_m2": mapped,
        f"{prefix}_verdict": [verdict(t.low, t.high) if m is not None else None for t, m in zip(est, mapped)],
    }
    if prefix == "green":
        cols["points"] = [int(np.sum(sample.zone == i)) for i in range(len(res.zones))]
        cols["note"] = [too_few_note(sample.strata, t.short) if t.short else "" for t in est]
    return cols


def green_monitoring(before: str | Path, after: str | Path, zones: str | Path, out_dir: str | Path, *,
                     zone_id: str | None = None, table: str | Path | ClassTable | None = None,
                     gsd: float | None = None, reference: str | Path | None = None,
                     roles: list[str] | None = None) -> GreenResult:
    """Green and canopy shares per zone at both dates, their net change, thresholds and (with a filled
    change sample) the error-adjusted change with 95 % bounds and a verdict; writes green.csv, green.json
    and green.gpkg (styled) beside the transition outputs in ``out_dir``."""
    if reference:
        check_change_points(reference)  # before anything is written
    res = detect_change(before, after, out_dir, table=table, zones=zones, zone_id=zone_id, gsd=gsd, roles=roles)
    tbl = res.table
    missing = [r for _, r in MEASURES if not tbl.role(r)]
    if missing:
        raise InputError(f"the class table {tbl.name!r} declares no {' or '.join(repr(m) for m in missing)} role; "
                         "give one with --roles (e.g. --roles tree=tree) or in the table's roles mapping")
    assert res.zones is not None
    known = bool(np.isfinite(res.m2).all())
    if not known:
        raise InputError(f"{Path(before).name}: no georeferencing and no --gsd; green areas need the pixel size")
    sample: ChangeSample | None = read_change_sample(res, reference) if reference else None
    if not any(float(z.m2.sum()) > 0 for z in res.zones):
        raise InputError(f"no zone of {Path(zones).name} holds a pixel valid in both maps")
    id_name = res.zone_field if res.zone_field.lower() != "fid" else "zone_fid"
    cols: dict[str, list[Any]] = {id_name: [z.zone_id for z in res.zones],
                                  "zone_m2": [float(z.m2.sum()) for z in res.zones]}
    notes: list[str] = []
    for prefix, role in MEASURES:
        members = tbl.role(role)
        b = [float(z.m2[members, :].sum()) for z in res.zones]
        a = [float(z.m2[:, members].sum()) for z in res.zones]
        area = cols["zone_m2"]
        cols[f"{prefix}_share_before"] = [x / t if t > 0 else None for x, t in zip(b, area)]
        cols[f"{prefix}_share_after"] = [x / t if t > 0 else None for x, t in zip(a, area)]
        mapped = [y - x if t > 0 else None for x, y, t in zip(b, a, cols["zone_m2"])]
        thr = GREEN_THRESHOLD if prefix == "green" else CANOPY_THRESHOLD
        if sample is None:
            cols[f"{prefix}_change_m2"] = mapped
        else:
            cols.update(_adjusted_columns(res, sample, prefix, role, mapped))
        cols[f"{prefix}_change_pct"] = [100 * d / x if x > 0 and d is not None else None
                                        for d, x in zip(cols[f"{prefix}_change_m2"], b)]
        cols[f"{prefix}_above_{round(thr * 100)}_before"] = [None if s is None else s > thr
                                                             for s in cols[f"{prefix}_share_before"]]
        cols[f"{prefix}_above_{round(thr * 100)}_after"] = [None if s is None else s > thr
                                                            for s in cols[f"{prefix}_share_after"]]
    empty = [str(z.zone_id) for z in res.zones if float(z.m2.sum()) == 0]
    if empty:
        notes.append(f"{len(empty)} zones hold no pixel valid in both maps (no shares): {', '.join(empty[:10])}")
    if sample is not None:
        notes += sample.notes
        short = sum(1 for v in cols["green_verdict"] if v == "too few points")
        if short:
            notes.append(f"{short} zones have too few labelled points for an error-adjusted change (see note column)")
    result = GreenResult(res, cols, sample is not None, notes)
    files = ChangePaths(Path(out_dir))
    result.outputs = [result.write(files.green("csv"), "csv"), result.write(files.green("json"), "json"),
                      result.write_vector(files.green("gpkg"))]
    return result


__all__ = ["CANOPY_THRESHOLD", "GREEN_THRESHOLD", "VERDICTS", "GreenResult", "green_monitoring", "verdict"]
