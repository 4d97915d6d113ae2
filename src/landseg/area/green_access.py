"""The 3-30-300 rule per zone and per building (:func:`green_access`): 3 trees visible from each home,
30 % canopy in each neighbourhood, a park within 300 m.

Definitions (also stated in every output):

* buildings: 8-connected objects of ``building``-role pixels of at least ``min_area`` m² (default
  :data:`~landseg.area.indicators.DEFAULT_MIN_BUILDING_M2`, so speckle is no building), as
  :func:`landseg.area.zone_indicators` counts them; each is placed at its centroid and approximated by a
  disc of its own area (radius ``r = sqrt(area / pi)``) for distances "from the building";
* green spaces: connected objects of ``green``-role pixels of at least 0.5 ha on the class map, or the
  polygons of ``parks`` (at least 0.5 ha each); ``park_distance_m`` = distance from the building's centroid
  to the nearest green-space pixel centre (or polygon), minus ``r``, at least 0;
* trees: connected objects of ``tree``-role pixels of at least ``min_tree_area`` m² (one canopy patch
  counts as one tree: a documented proxy, it undercounts trees in closed canopy);
  ``trees_within_30m`` = tree objects whose centroid lies within ``30 m + r`` of the building's centroid;
* per zone: ``canopy_share`` (the tree role's share of the zone's valid area, as the indicators'
  ``tree_share``), ``share_park_within_300m`` and ``share_3_trees``: the share of the zone's buildings (by
  centroid) with a green space within 300 m and with at least 3 trees within 30 m.

Only what the map (or parks layer) shows counts: near the map's edge parks and trees beyond it are
missed. Everything is read strip by strip; memory grows with the objects, not the raster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree

from landseg.area.classmap import open_classmap
from landseg.area.indicators import DEFAULT_MIN_BUILDING_M2, ExtraColumn, IndicatorResult, zone_indicators
from landseg.area.objects import large_object_edges, object_centroids
from landseg.classes import ClassTable
from landseg.errors import InputError
from landseg.io.csvfile import csv_text
from landseg.io.files import write_text_atomic
from landseg.io.labels import table_with_roles
from landseg.io.points import write_points
from landseg.io.styles import (
    LayerStyle,
    categorized_qml,
    categorized_sld,
    graduated_breaks,
    graduated_qml,
    graduated_sld,
)
from landseg.io.vector import read_zones, reproject_geometries

PARK_MIN_M2 = 5000.0  # 0.5 ha
PARK_DISTANCE_M = 300.0
TREE_RADIUS_M = 30.0
TREES_NEEDED = 3
CANOPY_TARGET = 0.30
DEFAULT_MIN_TREE_M2 = 2.0
RULE = ("3-30-300: buildings = building-role objects >= {min_area:g} m² at their centroid, as a disc of equal area; "
        "park_distance_m = centroid to the nearest green space >= 0.5 ha ({parks}) minus the disc radius; "
        "trees_within_30m = tree-role objects >= {min_tree:g} m² (one patch = one tree, a proxy) with their centroid "
        "within 30 m of the disc; per zone: canopy_share = tree-role share of the valid area, share_park_within_300m "
        "and share_3_trees = shares of the zone's buildings (by centroid) meeting each rule")


@dataclass
class BuildingAccess:
    """Per building: area (m²), centroid, distance to the nearest green space (m; inf: none), trees near it."""

    area_m2: np.ndarray
    x: np.ndarray
    y: np.ndarray
    park_distance_m: np.ndarray
    trees_within_30m: np.ndarray
    zone: list[Any]  # the id of the zone holding the centroid (the later one where zones overlap), or None

    @property
    def park_within_300m(self) -> np.ndarray:
        """Whether each building's nearest park is at most 300 m away (the '300')."""
        return self.park_distance_m <= PARK_DISTANCE_M

    @property
    def three_trees(self) -> np.ndarray:
        """Whether each building has at least three trees within 30 m (the '3')."""
        return self.trees_within_30m >= TREES_NEEDED


def green_access(
    raster: str | Path, zones: str | Path, zone_id: str | None = None,
    table: str | Path | ClassTable | None = None, *, parks: str | Path | None = None, gsd: float | None = None,
    min_area: float | None = None, min_tree_area: float = DEFAULT_MIN_TREE_M2, roles: list[str] | None = None,
    strip_rows: int | None = None,
) -> tuple[IndicatorResult, BuildingAccess]:
    """3-30-300 per zone (the indicators plus ``canopy_share``, ``canopy_above_30``, ``share_park_within_300m``,
    ``share_3_trees``) and per building (see the module docstring)."""
    min_area = DEFAULT_MIN_BUILDING_M2 if min_area is None else float(min_area)
    tbl = table_with_roles(raster, table, roles)
    ind = zone_indicators(raster, zones, zone_id, tbl, gsd=gsd, min_building_area=min_area, strip_rows=strip_rows)
    table_ = ind.table
    missing = [r for r in ("building", "tree") + (() if parks else ("green",)) if not table_.role(r)]
    if missing:
        raise InputError(f"the class table {table_.name!r} declares no {', '.join(repr(m) for m in missing)} role; "
                         "3-30-300 needs them: give them with --roles (e.g. --roles tree=tree)")
    with open_classmap(raster, table_, gsd=gsd) as cm:
        unit = cm.pixel_area.metres_per_unit
        if unit is None:
            raise InputError(f"{Path(raster).name}: its CRS ({cm.pixel_area.description}) does not measure distances "
                             "in metres; reproject the map to a projected CRS (e.g. UTM) for 3-30-300")
        areas, bx, by = object_centroids(cm, table_.role("building"), strip_rows=strip_rows)
        keep = areas >= min_area
        areas, bx, by = areas[keep], bx[keep], by[keep]
        tareas, tx, ty = object_centroids(cm, table_.role("tree"), strip_rows=strip_rows)
        tkeep = tareas >= min_tree_area
        tx, ty = tx[tkeep], ty[tkeep]
        radius = np.sqrt(areas / math.pi) / unit  # in CRS units
        if parks:
            dist = _park_polygon_distance(parks, cm.ds.crs, cm.pixel_area, bx, by)
            source = f"polygons of {Path(parks).name}"
        else:
            px, py = large_object_edges(cm, table_.role("green"), PARK_MIN_M2, strip_rows=strip_rows)
            dist = cKDTree(np.column_stack([px, py])).query(np.column_stack([bx, by]))[0] if px.size and bx.size \
                else np.full(bx.size, np.inf)
            source = "green-role objects of the map"
    park_m = np.maximum(dist - radius, 0.0) * unit
    if tx.size and bx.size:
        near = cKDTree(np.column_stack([tx, ty])).query_ball_point(np.column_stack([bx, by]),
                                                                    r=TREE_RADIUS_M / unit + radius, return_length=True)
        trees = np.asarray(near, dtype=np.int64)
    else:
        trees = np.zeros(bx.size, dtype=np.int64)
    zone_of, members = _zones_of(ind, bx, by)
    access = BuildingAccess(areas, bx, by, park_m, trees, zone_of)
    n = len(ind.zonal.zones)
    share_park: list[Any] = [None] * n
    share_trees: list[Any] = [None] * n
    for k, hit in enumerate(members):
        if hit.size:
            share_park[k] = float(access.park_within_300m[hit].mean())
            share_trees[k] = float(access.three_trees[hit].mean())
    canopy = [None if math.isnan(v) else float(v) for v in ind.values["tree_share"]]
    ind.extra.update({
        "canopy_share": ExtraColumn("num", canopy),
        "canopy_above_30": ExtraColumn("bool", [None if v is None else v >= CANOPY_TARGET for v in canopy]),
        "share_park_within_300m": ExtraColumn("num", share_park),
        "share_3_trees": ExtraColumn("num", share_trees),
    })
    ranges = graduated_breaks((0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    ind.extra_styles += [LayerStyle(c, graduated_qml(c, ranges), graduated_sld("indicators", c, ranges), False,
                                    f"3-30-300: {c}") for c in ("canopy_share", "share_park_within_300m",
                                                                "share_3_trees")]
    ind.rules.append(RULE.format(min_area=min_area, parks=source, min_tree=min_tree_area))
    if not np.isfinite(park_m).any() and bx.size:
        ind.notes.append(f"no green space of at least 0.5 ha found ({source}): park_distance_m is n/a")
    ind.notes.append("parks and trees beyond the map's edge are not seen: buildings near the edge may be "
                     "understated")
    return ind, access


def write_buildings(access: BuildingAccess, path: str | Path, crs_wkt: str | None) -> Path:
    """The per-building rows as points (.gpkg/.geojson, at the centroids) or a CSV (with x, y)."""
    path = Path(path)
    fields: dict[str, np.ndarray] = {
        "building": np.arange(1, access.x.size + 1, dtype=np.int64),
        "zone": np.array(["" if z is None else str(z) for z in access.zone], dtype=object),
        "area_m2": access.area_m2.astype(np.float64),
        "park_distance_m": np.where(np.isfinite(access.park_distance_m), access.park_distance_m, -1.0),
        "park_within_300m": access.park_within_300m.astype(np.int32),
        "trees_within_30m": access.trees_within_30m.astype(np.int32),
        "three_trees": access.three_trees.astype(np.int32),
    }
    if path.suffix.lower() == ".csv":
        rows = ([float(access.x[k]), float(access.y[k]), *[_csv_value(name, v[k]) for name, v in fields.items()]]
                for k in range(access.x.size))
        return write_text_atomic(path, csv_text(["x", "y", *fields], rows), ".csv")  # the one CSV number rule
    if path.suffix.lower() not in (".gpkg", ".geojson"):
        raise InputError(f"--buildings-out {path}: use .gpkg, .geojson or .csv")
    return write_points(path, access.x, access.y, fields, crs_wkt, layer="buildings", styles=building_styles())


def building_styles(layer: str = "buildings") -> list[LayerStyle]:
    """QGIS styles of the per-building points: park within 300 m (the default) and 3 trees within 30 m."""
    yes_no = (("1", (26, 152, 80), "yes"), ("0", (215, 48, 39), "no"))
    return [LayerStyle("park_within_300m", categorized_qml("park_within_300m", yes_no, kind="marker"),
                       categorized_sld(layer, "park_within_300m", yes_no, kind="marker"), True,
                       "a green space of at least 0.5 ha within 300 m"),
            LayerStyle("three_trees", categorized_qml("three_trees", yes_no, kind="marker"),
                       categorized_sld(layer, "three_trees", yes_no, kind="marker"), False,
                       "at least 3 trees within 30 m")]


def _csv_value(name: str, v: Any) -> Any:
    if name == "park_distance_m":
        return None if v < 0 else float(v)
    return float(v) if isinstance(v, (float, np.floating)) else v


def _park_polygon_distance(parks: str | Path, crs: Any, pa: Any, bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    _, geoms, pcrs, _ = read_zones(parks, None)
    if crs is not None and pcrs is not None:
        geoms = reproject_geometries(geoms, pcrs, crs)
    geoms = np.array([g for g in geoms if g is not None and not g.is_empty], dtype=object)
    if geoms.size:
        geoms = geoms[pa.geometry_areas(geoms) >= PARK_MIN_M2]
    if geoms.size == 0 or bx.size == 0:
        return np.full(bx.size, np.inf)
    idx, dist = shapely.STRtree(geoms).query_nearest(shapely.points(bx, by), return_distance=True, all_matches=False)
    out = np.full(bx.size, np.inf)
    out[idx[0]] = dist
    return out


def _zones_of(ind: IndicatorResult, x: np.ndarray, y: np.ndarray) -> tuple[list[Any], list[np.ndarray]]:
    """Per building the id of the (last) zone holding its centroid; per zone its buildings."""
    zones = ind.zonal.zones
    placed = [k for k, z in enumerate(zones) if z.geometry is not None]
    zone_of: list[Any] = [None] * x.size
    members = [np.zeros(0, dtype=np.int64) for _ in zones]
    if placed and x.size:
        tree = shapely.STRtree([zones[k].geometry for k in placed])
        pi, zi = tree.query(shapely.points(x, y), predicate="intersects")
        for k in range(len(placed)):
            members[placed[k]] = pi[zi == k]
        for p, z in zip(pi.tolist(), zi.tolist()):
            zone_of[p] = zones[placed[z]].zone_id
    return zone_of, members


__all__ = ["CANOPY_TARGET", "PARK_DISTANCE_M", "PARK_MIN_M2", "RULE", "BuildingAccess", "green_access", "write_buildings"]
