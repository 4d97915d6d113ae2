"""Planning indicators per zone (:func:`zone_indicators`): building coverage, sealed, green and
tree-canopy shares, the number of buildings, and per-zone limits from the zones file.

Which classes count comes from the class table's roles (:data:`landseg.classes.ROLES`): building
coverage uses the ``building`` role, the sealed share ``sealed``, the green share ``green``, the
tree-canopy share ``tree``. A table that does not declare a role gives n/a for its indicators (with
a note), never a wrong number.

Definitions (also stated in every output):

* zone area: the zone polygon's area on the map's valid (non-nodata, non-ignore) pixels, measured
  with the exact fractional coverage of :func:`landseg.area.zonal_areas`; a share is the area of
  the role's classes in the zone divided by it. Parts of a zone outside the map or on nodata are
  thus left out of both sides of the ratio (the covered share is reported beside it).
* number of buildings: 8-connected objects of building-role pixels over the whole map (strip by
  strip, joined across strips, as :func:`landseg.area.object_stats`), each counted in every zone
  that contains or touches its centroid (the area-weighted mean of its pixel centres). An object
  whose centroid lies in no zone counts nowhere; one centroid, so each building counts once
  unless zones overlap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from landseg.area.classmap import open_classmap
from landseg.area.objects import object_centroids
from landseg.area.tables import UNITS, Col, Report, areas_in, finite, unit_key
from landseg.area.zones import ZonalResult, zonal_areas
from landseg.classes import ClassTable
from landseg.errors import InputError
from landseg.io.styles import (
    LayerStyle,
    categorized_qml,
    categorized_sld,
    graduated_breaks,
    graduated_qml,
    graduated_sld,
    write_gpkg_styles,
)
from landseg.io.vector import read_attributes, vector_output, write_features

SHARES: dict[str, tuple[str, str]] = {
    # indicator: (role, header)
    "building_coverage": ("building", "building coverage"),
    "sealed_share": ("sealed", "sealed"),
    "green_share": ("green", "green"),
    "tree_share": ("tree", "tree canopy"),
}
INDICATORS: tuple[str, ...] = (*SHARES, "buildings")
ZONE_AREA_RULE = ("the zone's area on valid (non-nodata) pixels of the map, exact fractional coverage; "
                  "every share is a role's area in the zone / that zone area")
BUILDING_RULE = ("buildings = 8-connected objects of building-role pixels, each counted in every zone that "
                 "contains or touches its centroid (area-weighted mean of its pixel centres)")
SHARE_BREAKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
DEFAULT_MIN_BUILDING_M2 = 10.0
"""Smallest building object counted by default (``landseg area --indicators``, ``landseg 3-30-300``): 10 m²
(a garage is ~15 m²) keeps a class map's speckle of a few pixels from counting as buildings."""
EXCEEDS_COLOURS = (("1", (215, 48, 39), "over the limit"), ("0", (230, 230, 230), "within"))


@dataclass(frozen=True)
class Limit:
    """``--limit COLUMN:INDICATOR``: the zones file's ``column`` holds each zone's maximum of ``indicator``."""

    column: str
    indicator: str

    @classmethod
    def parse(cls, spec: str | tuple[str, str] | Limit) -> Limit:
        """A limit from ``COLUMN:INDICATOR`` (or a (column, indicator) pair); :class:`InputError` if malformed."""
        if isinstance(spec, Limit):
            return spec
        column, indicator = spec if isinstance(spec, tuple) else (spec.rpartition(":")[0], spec.rpartition(":")[2])
        if not column or indicator not in INDICATORS:
            raise InputError(f"--limit {spec!r}: use COLUMN:INDICATOR, e.g. max_coverage:building_coverage; "
                             f"the indicators are {', '.join(INDICATORS)}")
        return cls(column, indicator)

    @property
    def flag(self) -> str:
        """The name of the per-zone column that flags an exceedance: ``exceeds_<column>``."""
        return f"exceeds_{self.column}"


@dataclass
class LimitCheck:
    """One limit checked in every zone: the limit's values and whether the indicator exceeds them."""
    limit: Limit
    values: np.ndarray  # per zone, NaN where the zones file has no value
    exceeds: list[bool | None]  # per zone: indicator > limit; None where either is unknown

    @property
    def count(self) -> int:
        """The number of zones over the limit."""
        return sum(1 for e in self.exceeds if e)


@dataclass
class ExtraColumn:
    """A per-zone column added by a later step: ``kind`` as :class:`landseg.area.tables.Col` (num, int, str,
    bool, pct), one value per zone (None: n/a)."""

    kind: str
    values: list[Any]


@dataclass
class IndicatorResult(Report):
    """Planning indicators per zone; ``values[indicator]`` per zone (NaN: n/a), in the zones' order."""

    zonal: ZonalResult
    values: dict[str, np.ndarray]
    limits: list[LimitCheck] = field(default_factory=list)
    min_building_m2: float = 0.0
    notes: list[str] = field(default_factory=list)
    extra: dict[str, ExtraColumn] = field(default_factory=dict)  # further per-zone columns (calibrated areas, ...)
    extra_styles: list[LayerStyle] = field(default_factory=list)  # and their QGIS styles
    rules: list[str] = field(default_factory=list)  # how the extra columns are defined, for every output

    @property
    def table(self) -> ClassTable:
        """The class table of the measured raster."""
        return self.zonal.table

    @property
    def pixel_area(self) -> str:
        """The pixel area, as text (from the zonal measure)."""
        return self.zonal.pixel_area

    def zone_index(self, zone_id: Any) -> int:
        """The position of ``zone_id`` among the zones; KeyError if there is none."""
        for k, z in enumerate(self.zonal.zones):
            if z.zone_id == zone_id:
                return k
        raise KeyError(zone_id)

    def value(self, zone_id: Any, indicator: str) -> float:
        """The value of ``indicator`` in zone ``zone_id`` (NaN: n/a)."""
        return float(self.values[indicator][self.zone_index(zone_id)])

    def _limit_kind(self, check: LimitCheck) -> str:
        return "pct" if check.limit.indicator in SHARES else "num"

    def _table(self, units: str) -> tuple[str, list[Col], list[list[Any]], list[str]]:
        u = unit_key(units)
        z = self.zonal
        cols = [Col(z.id_field, "str"), Col(f"valid area ({UNITS[u][1]})", f"area:{u}")]
        cols += [Col(head, "pct", key=f"{name}_pct") for name, (_, head) in SHARES.items()]
        cols += [Col("buildings", "int")]
        for c in self.limits:
            cols += [Col(c.limit.column, self._limit_kind(c)),
                     Col(f"exceeds {c.limit.column}", "bool", key=c.limit.flag)]
        cols += [Col(name, e.kind) for name, e in self.extra.items()]
        rows = []
        for k, zone in enumerate(z.zones):
            row: list[Any] = [zone.zone_id, zone.valid_m2, *[self.values[n][k] for n in SHARES]]
            b = self.values["buildings"][k]
            row.append(None if math.isnan(b) else int(b))
            for c in self.limits:
                row += [c.values[k], c.exceeds[k]]
            row += [e.values[k] for e in self.extra.values()]
            rows.append(row)
        footer = [f"limit {c.limit.column} on {c.limit.indicator}: {c.count} of {len(z.zones)} zones exceed it"
                  for c in self.limits]
        footer += [f"zone area: {ZONE_AREA_RULE}", f"{BUILDING_RULE}"
                   + (f", at least {self.min_building_m2:g} m²" if self.min_building_m2 > 0 else ""),
                   f"roles: {self._roles_text()}", f"pixel area: {z.pixel_area}", *self.rules]
        title = f"Planning indicators per zone of {Path(z.zones_path).name} in {Path(z.raster).name}"
        return title, cols, rows, footer

    def all_notes(self) -> list[str]:
        """The notes of the indicators, then those of the zonal measure."""
        return self.notes + self.zonal.notes

    def _roles_text(self) -> str:
        roles = self.table.role_map()
        return "; ".join(f"{r}: {', '.join(roles[r]) if r in roles else 'not declared'}"
                         for r in ("building", "sealed", "green", "tree", "unknown"))

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        """The indicators per zone with their rules and limits, as JSON-ready data (areas in ``units``)."""
        z = self.zonal
        zones = []
        for k, zone in enumerate(z.zones):
            b = self.values["buildings"][k]
            zones.append({
                "id": zone.zone_id, "zone_area_m2": zone.zone_area_m2, "covered_share": zone.covered_share,
                **areas_in(zone.valid_m2, units, "valid"), "nodata_m2": zone.nodata_m2,
                **{n: finite(self.values[n][k]) for n in SHARES},
                "buildings": None if math.isnan(b) else int(b),
                "limits": {c.limit.column: {"indicator": c.limit.indicator, "limit": finite(c.values[k]),
                                            "exceeds": c.exceeds[k]} for c in self.limits},
                **{name: finite(e.values[k]) if isinstance(e.values[k], float) else e.values[k]
                   for name, e in self.extra.items()},
                "notes": list(zone.notes),
            })
        return {"raster": str(z.raster), "zones_file": str(z.zones_path), "zone_id": z.id_field,
                "class_table": self.table.name, "roles": self.table.role_map(), "pixel_area": z.pixel_area,
                "zone_area_rule": ZONE_AREA_RULE, "coverage_rule": z.coverage_rule, "building_rule": BUILDING_RULE,
                "min_building_m2": self.min_building_m2, "units": units, "rules": list(self.rules),
                "limits": [{"column": c.limit.column, "indicator": c.limit.indicator, "exceedances": c.count}
                           for c in self.limits],
                "zones": zones, "notes": self.notes + z.notes}

    def write(self, path: str | Path, fmt: str | None = None, units: str = "m2") -> Path:
        """CSV/JSON/Markdown/text, or with .gpkg/.geojson the zones with every indicator column
        (a GeoPackage also carries QGIS styles: graduated per share, the exceedances categorized)."""
        path = Path(path)
        if path.suffix.lower() in (".gpkg", ".geojson"):
            return self.write_vector(path, units)
        return super().write(path, fmt, units)

    def write_vector(self, path: str | Path, units: str = "m2", layer: str = "indicators") -> Path:
        """The zones with every indicator as a column, in a GeoPackage/GeoJSON layer (with QGIS styles)."""
        path = Path(path)
        z = self.zonal
        fields: dict[str, np.ndarray] = {
            **z.zone_fields(),
            **{n: self.values[n].astype(np.float64) for n in SHARES},
            "buildings": np.nan_to_num(self.values["buildings"], nan=-1).astype(np.int64),
        }
        masks: dict[str, np.ndarray] = {n: np.isnan(self.values[n]) for n in (*SHARES, "buildings")}
        for c in self.limits:
            fields[c.limit.column] = c.values.astype(np.float64)
            masks[c.limit.column] = np.isnan(c.values)
            fields[c.limit.flag] = np.array([1 if e else 0 for e in c.exceeds], dtype=np.int32)
            masks[c.limit.flag] = np.array([e is None for e in c.exceeds])
        for name, e in self.extra.items():
            if e.kind == "str":
                fields[name] = np.array(["" if v is None else str(v) for v in e.values], dtype=object)
            elif e.kind in ("int", "bool"):
                fields[name] = np.array([-1 if v is None else int(v) for v in e.values], dtype=np.int64)
            else:
                fields[name] = np.array([math.nan if v is None else float(v) for v in e.values], dtype=np.float64)
            masks[name] = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in e.values])
        fields["notes"] = np.array(["; ".join(zone.notes) for zone in z.zones], dtype=object)
        geoms = np.array([zone.geometry for zone in z.zones], dtype=object)
        mask_list = [masks.get(name) for name in fields]
        with vector_output(path, layer) as target:
            write_features(path, geoms, fields, z.crs_wkt, layer=layer, tmp=target.path, masks=mask_list)
            target.features = len(geoms)
            if path.suffix.lower() == ".gpkg":
                write_gpkg_styles(target.path, layer, self.styles(layer))
        return path

    def styles(self, layer: str) -> list[LayerStyle]:
        """QGIS styles of the indicator layer: one graduated style per available share (the first
        limit's indicator, else building coverage, is the default) and one per limit's exceedances."""
        available = [n for n in SHARES if not np.isnan(self.values[n]).all()]
        first = self.limits[0].limit.indicator if self.limits else "building_coverage"
        default = first if first in available else (available[0] if available else None)
        ranges = graduated_breaks(SHARE_BREAKS, [f"{lo * 100:.0f}-{hi * 100:.0f} %"
                                                 for lo, hi in pairwise(SHARE_BREAKS)])
        out = [LayerStyle(n, graduated_qml(n, ranges), graduated_sld(layer, n, ranges), n == default,
                          f"{SHARES[n][1]} share of the zone area (landseg area --indicators)") for n in available]
        out += self.extra_styles
        for c in self.limits:
            out.append(LayerStyle(c.limit.flag, categorized_qml(c.limit.flag, EXCEEDS_COLOURS),
                                  categorized_sld(layer, c.limit.flag, EXCEEDS_COLOURS), False,
                                  f"zones where {c.limit.indicator} exceeds {c.limit.column} (1) or not (0)"))
        return out


def zone_indicators(
    raster: str | Path, zones: str | Path, zone_id: str | None = None,
    table: str | Path | ClassTable | None = None, *, limits: Sequence[str | tuple[str, str] | Limit] = (),
    gsd: float | None = None, min_building_area: float = 0.0, strip_rows: int | None = None,
) -> IndicatorResult:
    """Planning indicators per zone (see the module docstring for the exact definitions).

    ``limits`` are ``COLUMN:INDICATOR`` specs: the zones file's numeric ``COLUMN`` holds each zone's
    limit, and a zone whose indicator is greater flags ``exceeds_COLUMN``. A zones file without the
    column raises :class:`InputError` naming it and the columns it has.
    """
    checks = [Limit.parse(s) for s in limits]
    limit_values = _limit_values(zones, checks, zone_id)
    zr = zonal_areas(raster, zones, zone_id, table, gsd=gsd, strip_rows=strip_rows)
    tbl, notes = zr.table, []
    valid = np.array([z.valid_m2 for z in zr.zones])
    values: dict[str, np.ndarray] = {}
    for name, (role, head) in SHARES.items():
        members = tbl.role(role)
        if not members:
            values[name] = np.full(len(zr.zones), np.nan)
            notes.append(f"the class table {tbl.name!r} declares no {role!r} role: {head} share is n/a "
                         "(declare roles in the table's 'roles' mapping)")
            continue
        role_m2 = np.array([float(z.class_m2[members].sum()) for z in zr.zones])
        with np.errstate(invalid="ignore", divide="ignore"):
            values[name] = np.where(valid > 0, role_m2 / np.where(valid > 0, valid, 1), np.nan)
    values["buildings"] = _building_counts(raster, zr, gsd, min_building_area, strip_rows, notes)
    result = IndicatorResult(zr, values, [], float(min_building_area), notes)
    for lim, vals in zip(checks, limit_values):
        ind = values[lim.indicator]
        exceeds = [None if math.isnan(v) or math.isnan(i) else bool(i > v) for v, i in zip(vals, ind)]
        result.limits.append(LimitCheck(lim, vals, exceeds))
        if np.isnan(ind).all():
            notes.append(f"--limit {lim.column}:{lim.indicator}: the indicator is n/a, so nothing is compared")
    return result


def _limit_values(zones: str | Path, checks: list[Limit], zone_id: str | None = None) -> list[np.ndarray]:
    """Each limit's column as numbers, checked before any work: a share indicator's limit must lie in [0, 1]
    (``0.4``; ``"40%"`` is read as 0.4), a count's limit must be >= 0; anything else is one :class:`InputError`
    naming the file, the column, the zones and the values (a ``40`` meant as 40 % would compare as 4000 %)."""
    columns = list(dict.fromkeys(c.column for c in checks))
    data = read_attributes(zones, columns + ([zone_id] if zone_id and zone_id not in columns else []), "--limit")
    out = []
    for c in checks:
        raw = data[c.column].tolist()
        try:
            vals = np.array([_limit_number(v) for v in raw], dtype=np.float64)
        except (TypeError, ValueError):
            bad = next(v for v in raw if not _is_number(v))
            raise InputError(f"{zones}: column {c.column!r} for --limit holds {bad!r}, not a number") from None
        share = c.indicator in SHARES
        lo, hi = (0.0, 1.0) if share else (0.0, math.inf)
        wrong = np.flatnonzero(~np.isnan(vals) & ((vals < lo) | (vals > hi)))
        if wrong.size:
            ids = data[zone_id].tolist() if zone_id else None
            where = ", ".join(f"{raw[i]!r} ({zone_id} {ids[i]!r})" if ids else f"{raw[i]!r} (feature {i + 1})"
                              for i in wrong[:5]) + (f" and {wrong.size - 5} more" if wrong.size > 5 else "")
            what = ("a share between 0 and 1 (0.4 = 40 %; '40%' is read as 0.4)" if share
                    else "a count of 0 or more")
            raise InputError(f"{zones}: column {c.column!r} for --limit {c.column}:{c.indicator} must hold {what}; "
                             f"it holds {where}. Fix the column (e.g. divide percentages by 100)")
        out.append(vals)
    return out


def _limit_number(v: Any) -> float:
    """A limit value: a number, an empty value (NaN) or a percentage string such as '40%' or '40 %'."""
    if v is None or v == "":
        return math.nan
    if isinstance(v, str) and v.strip().endswith("%"):
        return float(v.strip()[:-1]) / 100
    return float(v)


def _is_number(v: Any) -> bool:
    try:
        _limit_number(v)
        return True
    except (TypeError, ValueError):
        return v is None or v == ""


def _building_counts(raster: str | Path, zr: ZonalResult, gsd: float | None, min_area: float,
                     strip_rows: int | None, notes: list[str]) -> np.ndarray:
    n = len(zr.zones)
    members = zr.table.role("building")
    if not members:
        notes.append(f"the class table {zr.table.name!r} declares no 'building' role: building coverage and the "
                     "number of buildings are n/a")
        return np.full(n, np.nan)
    with open_classmap(raster, zr.table, gsd=gsd) as cm:
        areas, x, y = object_centroids(cm, members, strip_rows=strip_rows)
    keep = areas >= min_area if min_area > 0 else np.ones(areas.size, dtype=bool)
    counts = np.zeros(n)
    placed = [k for k, z in enumerate(zr.zones) if z.geometry is not None]
    if placed and keep.any():
        tree = shapely.STRtree([zr.zones[k].geometry for k in placed])
        _, hit = tree.query(shapely.points(x[keep], y[keep]), predicate="intersects")
        counts[placed] = np.bincount(hit, minlength=len(placed))
    return counts


__all__ = [
    "BUILDING_RULE",
    "INDICATORS",
    "SHARES",
    "ZONE_AREA_RULE",
    "DEFAULT_MIN_BUILDING_M2",
    "ExtraColumn",
    "IndicatorResult",
    "Limit",
    "LimitCheck",
    "zone_indicators",
]
