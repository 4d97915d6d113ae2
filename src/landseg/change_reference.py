"""``landseg change BEFORE AFTER --reference POINTS``: error-adjusted change from a filled change sample.

The sample is drawn from the transition map by ``landseg sample OUT/transitions.tif`` (strata: the mapped
transitions, or their role-level groups; :mod:`landseg.accuracy.strata`) and filled with the class seen on
the ground at each date (``reference_before``, ``reference_after``). Each point's stratum is re-read from
the transition map, so the estimate matches the maps it describes. Then (Olofsson et al. 2014 applied to
change strata):

* the error-adjusted area of each reference transition category with its 95 % interval
  (:func:`landseg.accuracy.stratified_estimate`);
* headline changes (net change of each role, green -> sealed) as stratified totals of a per-point value
  (:func:`landseg.accuracy.stratified_total`), overall and per zone. In a zone the points of a stratum that
  fall in it are a random sample of the stratum's part in it, so the same estimator runs on the zone's own
  stratum areas. A zone gets no estimate ("too few points") when a stratum that has area in it holds fewer
  than two labelled points there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from landseg.accuracy import StratifiedEstimate, StratifiedTotal, parse_reference, stratified_estimate
from landseg.accuracy import stratified_total as _total
from landseg.accuracy.assess import one_point_per_pixel
from landseg.accuracy.sample import classes_at, points_on_grid
from landseg.accuracy.strata import ChangeStrata
from landseg.area.tables import Col, Report, finite
from landseg.change import ChangeResult, transition_table, write_csv
from landseg.classes import IGNORE_INDEX, ROLES, ClassTable
from landseg.errors import InputError
from landseg.io.files import atomic_output, read_json, write_json_atomic
from landseg.io.labels import LabelReader, table_from_raster
from landseg.io.points import read_points
from landseg.io.raster import open_raster
from landseg.layout import ChangePaths, design_path

METHOD = ("Olofsson et al. (2014) stratified estimators on change strata: adjusted area of a reference category "
          "= sum_h A_h n_hj / n_h, 95 % CI = ± 1.96 sqrt(sum_h A_h² s_h² / n_h); the same per zone with the "
          "zone's own stratum areas A_h")


def role_change(table: ClassTable, role: str, before: np.ndarray, after: np.ndarray, *,
                exclude_unknown: bool = True) -> np.ndarray:
    """Per class pair: +1 if it gains ``role`` (``green->sealed``: +1 if it goes from green to sealed), -1 if
    it loses it, else 0. With ``exclude_unknown`` a pair from or to an ``unknown``-role class counts 0 (as
    :func:`landseg.change.role_figures`); without it the value is the plain change of role membership."""
    b, a = np.asarray(before, dtype=np.int64), np.asarray(after, dtype=np.int64)
    if role == "green->sealed":
        green, sealed = set(table.role("green")), set(table.role("sealed"))
        g = np.array([i in green and i not in sealed for i in range(table.num_classes)])
        s = np.array([i in sealed and i not in green for i in range(table.num_classes)])
        return (g[b] & s[a]).astype(np.float64)
    inside = np.zeros(table.num_classes, dtype=bool)
    inside[table.role(role)] = True
    y = inside[a].astype(np.float64) - inside[b].astype(np.float64)
    if exclude_unknown:
        unknown = np.zeros(table.num_classes, dtype=bool)
        unknown[table.role("unknown")] = True
        y[unknown[a] | unknown[b]] = 0.0
    return y


def headline_names(table: ClassTable) -> list[str]:
    """The headline changes a table's roles allow: each role's net change, and green->sealed."""
    out = [r for r in ROLES if r != "unknown" and table.role(r)]
    if table.role("green") and table.role("sealed"):
        out.append("green->sealed")
    return out


@dataclass
class ChangeSample:
    """A filled change sample placed on a transition map: per labelled point its stratum, reference classes
    (before, after) and zone (-1: none)."""

    points: str
    strata: ChangeStrata
    stratum: np.ndarray
    before: np.ndarray
    after: np.ndarray
    zone: np.ndarray
    n_points: int
    n_unlabelled: int
    notes: list[str] = field(default_factory=list)

    def total(self, y: np.ndarray, stratum_area: np.ndarray, zone: int | None = None) -> StratifiedTotal:
        """Stratified total of the per-point values ``y`` over ``stratum_area`` (of the map, or of ``zone``)."""
        sel = slice(None) if zone is None else self.zone == zone
        return _total(np.asarray(y)[sel], self.stratum[sel], stratum_area)

    def zone_counts(self, n_zones: int) -> np.ndarray:
        """Labelled points per zone."""
        z = self.zone[self.zone >= 0]
        return np.bincount(z, minlength=n_zones)[:n_zones]


def _strata_of(points: Path, fields: dict[str, np.ndarray], table: ClassTable) -> ChangeStrata:
    """The sample's strata: from its design sidecar, else guessed from the ``map_class`` names."""
    design = design_path(points)
    if design.exists():
        d = read_json(design)
        if not isinstance(d, dict) or "change" not in d:
            raise InputError(f"{points}: {design.name} is the design of a one-date sample; change --reference needs "
                             "a sample of the transition map (landseg sample OUT/transitions.tif)")
        return ChangeStrata.from_dict(d["change"], str(design))
    names = set(np.asarray(fields.get("map_class", []), dtype=str).tolist())
    for kind in ("roles", "transitions"):
        cs = ChangeStrata(table, kind)
        if names and names <= set(cs.names):
            return cs
    raise InputError(f"{points}: no design file ({design.name}) and its map_class values are not strata of a "
                     "change sample; draw it with landseg sample OUT/transitions.tif")


def check_change_points(points: str | Path) -> None:
    """The checks that need no map, run before any output is written: a readable point layer with both
    reference fields, no point with only one of them filled, at least one labelled point."""
    pts = Path(points)
    _, _, fields, _ = read_points(pts)
    _check_reference_fields(pts, fields)

    def filled(v: np.ndarray) -> np.ndarray:
        return np.array([x is not None and not (isinstance(x, float) and math.isnan(x)) and str(x).strip() != ""
                         for x in v.tolist()], dtype=bool)

    _check_both_dates(pts, filled(fields["reference_before"]), filled(fields["reference_after"]))


def _check_reference_fields(pts: Path, fields: dict[str, np.ndarray]) -> None:
    missing = [f for f in ("reference_before", "reference_after") if f not in fields]
    if missing:
        raise InputError(f"{pts}: no {' or '.join(missing)} field (fields: {', '.join(fields) or 'none'}); a change "
                         "sample comes from landseg sample OUT/transitions.tif and needs both dates' reference")


def _check_both_dates(pts: Path, before: np.ndarray, after: np.ndarray) -> None:
    """Every labelled point has both dates filled, and at least one point is labelled (boolean arrays)."""
    if (before != after).any():
        raise InputError(f"{pts}: {int((before != after).sum())} points have only one of reference_before / "
                         "reference_after filled; a change point needs the class at both dates (or neither, to skip it)")
    if not before.any():
        raise InputError(f"{pts}: no point has reference_before and reference_after filled; label the points first")


def read_change_sample(result: ChangeResult, points: str | Path) -> ChangeSample:
    """Read a filled change sample and place it on ``result``'s transition map and zones (bad input:
    :class:`InputError` naming the file, what is wrong and what to do)."""
    pts = Path(points)
    x, y, fields, pcrs = read_points(pts)
    _check_reference_fields(pts, fields)
    cs = _strata_of(pts, fields, result.table)
    if cs.table.names != result.table.names:
        raise InputError(f"{pts}: drawn for the classes {', '.join(cs.table.names)}, but the maps have "
                         f"{', '.join(result.table.names)}")
    rb = parse_reference(fields["reference_before"], cs.table, f"{pts} (reference_before)")
    ra = parse_reference(fields["reference_after"], cs.table, f"{pts} (reference_after)")
    labelled = rb >= 0
    _check_both_dates(pts, labelled, ra >= 0)
    tmap = result.transition_map
    with open_raster(tmap) as ds:
        row, col = points_on_grid(ds, x, y, pcrs, pts, "the maps", "is this the sample of these maps?")
        ttable = table_from_raster(ds)
        if ttable is None:
            raise InputError(f"{tmap}: the transition map lost its class table; run landseg change again")
        code = classes_at(LabelReader(ds, ttable, str(tmap)), row, col)
        t = ds.transform
    nodata = code == IGNORE_INDEX
    if nodata.any():
        raise InputError(f"{pts}: {int(nodata.sum())} points lie where the before or the after map is nodata; a "
                         "sample of these maps never holds such points (was it drawn from other maps?)")
    stratum = cs.code_lut()[code].astype(np.int64)
    zone = np.full(len(x), -1, dtype=np.int64)
    if result.zone_geometries is not None:
        centres = shapely.points(t.a * (col + 0.5) + t.b * (row + 0.5) + t.c, t.d * (col + 0.5) + t.e * (row + 0.5) + t.f)
        geoms = [g if g is not None else shapely.Polygon() for g in result.zone_geometries]
        pi, zi = shapely.STRtree(geoms).query(centres, predicate="intersects")
        np.maximum.at(zone, pi, zi)  # overlapping zones: the later feature wins, as in the rasterised matrices
    notes = []
    if "map_index" in fields:
        moved = int(np.sum(np.asarray(fields["map_index"], dtype=np.int64) != stratum))
        if moved:
            notes.append(f"{moved} points have a map_index that differs from the transition map at their location; "
                         "the strata are taken from the map (were the maps changed after sampling?)")
    # one point per map pixel, as for a map's sample: repeats counted once (noted), conflicting labels refused
    k = cs.table.num_classes
    unique, dup_notes = one_point_per_pixel(row, col, np.where(labelled, rb * k + ra, -1), transition_table(cs.table),
                                            Path(pts))
    notes += dup_notes
    keep = labelled & unique
    return ChangeSample(str(pts), cs, stratum[keep], rb[keep], ra[keep], zone[keep], len(x),
                        int((~labelled).sum()), notes)


@dataclass
class ZoneHeadlines:
    zone_id: Any
    n_points: int
    values: dict[str, tuple[float, StratifiedTotal]]  # headline: (mapped, adjusted)
    note: str = ""


@dataclass
class ChangeAccuracy(Report):
    """Error-adjusted transition areas and headline changes with 95 % intervals (m², or pixels)."""

    change: ChangeResult
    sample: ChangeSample
    estimate: StratifiedEstimate
    mapped: np.ndarray  # per stratum
    headlines: dict[str, tuple[float, StratifiedTotal]]
    zones: list[ZoneHeadlines] | None
    unit: str = "m²"
    notes: list[str] = field(default_factory=list)

    @property
    def pixel_area(self) -> str:
        """How the pixel area was found (the change result's)."""
        return self.change.pixel_area

    def _table(self, units: str) -> tuple[str, list[Col], list[list[Any]], list[str]]:
        e, names = self.estimate, self.sample.strata.names
        u = self.unit
        cols = [Col("transition", "str"), Col("points", "int"), Col(f"mapped ({u})", "num"),
                Col(f"adjusted ({u})", "num"), Col(f"± 95 % ({u})", "num")]
        rows = [[n, int(e.counts[i].sum()), self.mapped[i], e.adjusted_area[i], e.ci_area[i]]
                for i, n in enumerate(names) if self.mapped[i] > 0 or e.adjusted_area[i] > 0]
        footer = [f"{h}: mapped {m:,.2f} {u}, adjusted {t.value:,.2f} {u} (95 % {t.low:,.2f} to {t.high:,.2f})"
                  for h, (m, t) in self.headlines.items()]
        footer += [f"reference sample: {self.sample.points}: {len(self.sample.stratum)} labelled points"
                   + (f", {self.sample.n_unlabelled} unlabelled skipped" if self.sample.n_unlabelled else ""),
                   f"strata: {self.sample.strata.kind}", f"method: {METHOD}"]
        if self.zones is not None:
            short = sum(1 for z in self.zones if z.note)
            footer.append(f"per zone: {len(self.zones) - short} of {len(self.zones)} zones estimated"
                          + (f", {short} with too few points (see transitions_adjusted_zones.csv)" if short else ""))
        return "Error-adjusted change (reference sample)", cols, rows, footer

    def all_notes(self) -> list[str]:
        """The notes of the estimate, its sample and its strata (the CLI writes them to stderr)."""
        return self.notes + self.sample.notes + self.estimate.notes

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        """The JSON object (``transitions_adjusted.json``)."""
        e, names = self.estimate, self.sample.strata.names
        d: dict[str, Any] = {
            "unit": self.unit, "method": METHOD, "strata": self.sample.strata.to_dict(),
            "points": {"total": self.sample.n_points, "labelled": len(self.sample.stratum),
                       "unlabelled": self.sample.n_unlabelled},
            "transitions": [{"name": n, "points": int(e.counts[i].sum()), "mapped": finite(self.mapped[i]),
                             "adjusted": finite(e.adjusted_area[i]), "ci95": finite(e.ci_area[i]),
                             "users_accuracy": finite(e.users[i]), "producers_accuracy": finite(e.producers[i])}
                            for i, n in enumerate(names)],
            "overall_accuracy": {"value": finite(e.overall), "ci95": finite(e.ci_overall)},
            "headlines": {h: _head(m, t) for h, (m, t) in self.headlines.items()},
            "notes": self.notes + self.sample.notes + e.notes,
        }
        if self.zones is not None:
            d["zone_id"] = self.change.zone_field
            d["zones"] = [{"id": z.zone_id, "points": z.n_points, "note": z.note or None,
                           "headlines": {h: _head(m, t) for h, (m, t) in z.values.items()}} for z in self.zones]
        return d

    def zone_rows(self) -> tuple[list[str], list[list[Any]]]:
        """transitions_adjusted_zones.csv: one row per zone and headline."""
        header = [self.change.zone_field or "zone", "headline", "points", "mapped", "adjusted", "low", "high", "note"]
        rows = []
        for z in self.zones or []:
            for h, (m, t) in z.values.items():
                rows.append([z.zone_id, h, z.n_points, _num(m), _num(t.value), _num(t.low), _num(t.high), z.note])
        return header, rows


def _num(v: float) -> str:
    return repr(float(v)) if math.isfinite(v) else ""


def _head(mapped: float, t: StratifiedTotal) -> dict[str, Any]:
    return {"mapped": finite(mapped), "adjusted": finite(t.value), "se": finite(t.se), "low": finite(t.low),
            "high": finite(t.high)}


def too_few_note(cs: ChangeStrata, short: list[int]) -> str:
    """The note for a zone whose strata have too few labelled points."""
    names = cs.names
    return (f"too few points: {', '.join(names[i] for i in short[:5])}{' …' if len(short) > 5 else ''} "
            "have area in the zone but fewer than 2 labelled points in it")


def assess_change(result: ChangeResult, points: str | Path) -> ChangeAccuracy:
    """Error-adjusted transition areas and headline changes of ``result`` from a filled change sample."""
    sample = read_change_sample(result, points)
    cs, table = sample.strata, result.table
    known = bool(np.isfinite(result.m2).all())
    areas = cs.aggregate(result.m2 if known else result.pixels)
    s = len(cs.names)
    ref = cs.of_pair(sample.before, sample.after)
    counts = np.zeros((s, s), dtype=np.int64)
    np.add.at(counts, (sample.stratum, ref), 1)
    n_h = counts.sum(axis=1)
    empty = [cs.names[i] for i in range(s) if areas[i] > 0 and n_h[i] == 0]
    if empty:
        raise InputError(f"{sample.points}: no labelled points in the mapped stratum {', '.join(empty[:8])}: its "
                         "reference composition, and so every adjusted area, cannot be estimated; label points "
                         "there (landseg sample draws at least --min-per-class per stratum)")
    est = stratified_estimate(counts, areas, float(areas.sum()))
    heads: dict[str, tuple[float, StratifiedTotal]] = {}
    k = table.num_classes
    codes = np.arange(k * k)
    matrix = np.asarray(result.m2 if known else result.pixels, dtype=np.float64)
    per_pair = {h: role_change(table, h, codes // k, codes % k) for h in headline_names(table)}
    y = {h: role_change(table, h, sample.before, sample.after) for h in per_pair}
    for h in per_pair:
        heads[h] = (float(np.sum(per_pair[h] * matrix.ravel())), sample.total(y[h], areas))
    zones = None
    if result.zones is not None:
        zones = []
        for zi, zc in enumerate(result.zones):
            zmat = np.asarray(zc.m2 if known else zc.pixels, dtype=np.float64)
            zareas = cs.aggregate(zmat)
            vals: dict[str, tuple[float, StratifiedTotal]] = {}
            short: list[int] = []
            for h in heads:
                t = sample.total(y[h], zareas, zone=zi)
                short = short or t.short
                vals[h] = (float(np.sum(per_pair[h] * zmat.ravel())), t)
            zones.append(ZoneHeadlines(zc.zone_id, int(np.sum(sample.zone == zi)), vals,
                                       too_few_note(cs, short) if short else ""))
    notes = [] if known else ["the maps have no georeferencing and no --gsd: areas are in pixels"]
    return ChangeAccuracy(result, sample, est, areas, heads, zones, "m²" if known else "px", notes)


def write_change_accuracy(acc: ChangeAccuracy, out: Path) -> list[Path]:
    """transitions_adjusted.json and .csv, and with zones transitions_adjusted_zones.csv, into ``out``."""
    files = ChangePaths(out)
    paths = [files.adjusted("json"), files.adjusted("csv")]
    write_json_atomic(paths[0], acc.to_dict())
    with atomic_output(paths[1]) as tmp:
        tmp.write_text(acc.format("csv", "m2"), encoding="utf-8")
    if acc.zones is not None:
        paths.append(files.adjusted_zones_csv)
        header, rows = acc.zone_rows()
        write_csv(paths[2], header, iter(rows))
    return paths


__all__ = ["METHOD", "ChangeAccuracy", "ChangeSample", "assess_change", "check_change_points", "headline_names",
           "read_change_sample", "role_change", "too_few_note", "write_change_accuracy"]
