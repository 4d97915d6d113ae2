"""Class areas per zone with exact fractional pixel coverage (:func:`zonal_areas`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from rasterio.windows import Window

from landseg.area.classmap import ClassMap, open_classmap
from landseg.area.coverage import pixel_coverage, polygonal_part, to_pixel_coords
from landseg.area.tables import UNITS, Col, Report, areas_in, find_by, unit_info, unit_key
from landseg.classes import IGNORE_INDEX, ClassTable
from landseg.errors import InputError
from landseg.io.raster import strip_windows
from landseg.io.styles import LayerStyle, graduated_breaks, graduated_qml, graduated_sld, share_expression
from landseg.io.vector import read_zones, reproject_geometries, write_features

ZONE_SHARE_BREAKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)

COVERAGE_RULE = (
    "exact fractional coverage: each pixel counts with the share of its area inside the zone "
    "(polygon ∩ pixel square, computed exactly), so a zone's class areas plus its nodata area add up "
    "to the zone's area inside the raster; covered share = zone area inside the raster / zone area; "
    "overlapping zones each count the pixels they share"
)


@dataclass
class ZoneArea:
    """One zone's area, the share the raster covers, and its class areas."""
    zone_id: Any
    zone_area_m2: float
    covered_share: float  # zone area inside the raster / zone area
    covered_m2: float  # area of the zone inside the raster (classes + nodata)
    nodata_m2: float
    class_pixels: np.ndarray  # fractional pixel count per class index (table order)
    class_m2: np.ndarray  # area per class index (table order)
    geometry: Any = None  # repaired polygon in the raster's CRS
    notes: list[str] = field(default_factory=list)

    @property
    def valid_m2(self) -> float:
        """The zone's area of valid (classified) pixels, in m²."""
        return float(self.class_m2.sum())


@dataclass
class ZonalResult(Report):
    """Class areas per zone; ``selected`` are the class indices shown."""

    raster: str
    zones_path: str
    id_field: str
    table: ClassTable
    pixel_area: str
    selected: list[int]
    zones: list[ZoneArea]
    crs_wkt: str | None = None
    coverage_rule: str = COVERAGE_RULE
    notes: list[str] = field(default_factory=list)

    def zone(self, zone_id: Any) -> ZoneArea:
        """The zone ``zone_id``."""
        return find_by(self.zones, "zone_id", zone_id)

    def _table(self, units: str) -> tuple[str, list[Col], list[list[Any]], list[str]]:
        u = unit_key(units)
        lab = UNITS[u][1]
        cols = [Col(self.id_field, "str"), Col(f"zone ({lab})", f"area:{u}"), Col("inside", "pct"),
                *[Col(f"{self.table.names[i]} ({lab})", f"area:{u}") for i in self.selected],
                Col(f"nodata ({lab})", f"area:{u}")]
        rows = [[z.zone_id, z.zone_area_m2, z.covered_share, *[z.class_m2[i] for i in self.selected], z.nodata_m2]
                for z in self.zones]
        footer = [f"pixel area: {self.pixel_area}", f"coverage rule: {self.coverage_rule}"]
        title = f"Class areas per zone of {Path(self.zones_path).name} in {Path(self.raster).name}"
        return title, cols, rows, footer

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        """The areas per zone as JSON-ready data (areas in ``units``)."""
        names = self.table.names
        zones = []
        for z in self.zones:
            valid = z.valid_m2
            zones.append({
                "id": z.zone_id, "zone_area_m2": z.zone_area_m2, "covered_share": z.covered_share,
                "covered_m2": z.covered_m2, "valid_m2": valid, "nodata_m2": z.nodata_m2,
                "classes": {names[i]: {"pixels": float(z.class_pixels[i]), **areas_in(z.class_m2[i], units),
                                       "share": float(z.class_m2[i] / valid) if valid else 0.0}
                            for i in self.selected},
                "notes": list(z.notes),
            })
        return {"raster": str(self.raster), "zones_file": str(self.zones_path), "zone_id": self.id_field,
                "class_table": self.table.name, "pixel_area": self.pixel_area, "coverage_rule": self.coverage_rule,
                "units": units, "zones": zones, "notes": list(self.notes)}

    def write(self, path: str | Path, fmt: str | None = None, units: str = "m2") -> Path:
        """Write CSV/JSON/Markdown/text, or with a .gpkg/.geojson suffix the zones (in the raster's
        CRS) with their per-class areas as attributes."""
        path = Path(path)
        if path.suffix.lower() in (".gpkg", ".geojson"):
            self.write_vector(path, units)
            return path
        return super().write(path, fmt, units)

    def zone_fields(self) -> dict[str, np.ndarray]:
        """The attributes every zone output starts with: the id (``zone_fid`` for FIDs), the zone's
        area, covered share, valid and nodata area."""
        ids = [z.zone_id for z in self.zones]
        id_arr = (np.array(ids, dtype=np.int64) if all(isinstance(v, (int, np.integer)) for v in ids)
                  else np.array([str(v) for v in ids], dtype=object))
        return {
            self.id_field if self.id_field.lower() != "fid" else "zone_fid": id_arr,
            "zone_area_m2": np.array([z.zone_area_m2 for z in self.zones]),
            "covered_share": np.array([z.covered_share for z in self.zones]),
            "valid_m2": np.array([z.valid_m2 for z in self.zones]),
            "nodata_m2": np.array([z.nodata_m2 for z in self.zones]),
        }

    def write_vector(self, path: str | Path, units: str = "m2") -> Path:
        """The zones with their class areas as columns, in a GeoPackage/GeoJSON layer (with QGIS styles)."""
        path = Path(path)
        names = self.table.names
        fields = self.zone_fields()
        u = (units or "m2").lower()
        for i in self.selected:
            fields[f"{names[i]}_m2"] = np.array([float(z.class_m2[i]) for z in self.zones])
            if u != "m2":
                fields[f"{names[i]}_{u}"] = fields[f"{names[i]}_m2"] / unit_info(u)[0]
        fields["notes"] = np.array(["; ".join(z.notes) for z in self.zones], dtype=object)
        geoms = [z.geometry for z in self.zones]
        write_features(path, np.array(geoms, dtype=object), fields, self.crs_wkt, layer="zones",
                       styles=self.styles("zones"))
        return path

    def styles(self, layer: str) -> list[LayerStyle]:
        """QGIS styles of the zone layer: one per listed class, the zones graduated by the class's share
        of their valid area (``CLASS_m2 / valid_m2``); the first building-role class (else the first
        listed) is the default."""
        names = self.table.names
        buildings = [i for i in self.table.role("building") if i in self.selected]
        default = (buildings or list(self.selected) or [None])[0]
        ranges = graduated_breaks(ZONE_SHARE_BREAKS, [f"{lo * 100:.0f}-{hi * 100:.0f} %"
                                                      for lo, hi in zip(ZONE_SHARE_BREAKS, ZONE_SHARE_BREAKS[1:])])
        return [LayerStyle(f"{names[i]}_share", graduated_qml(share_expression(f"{names[i]}_m2", "valid_m2"), ranges),
                           graduated_sld(layer, f"{names[i]}_m2", ranges, "valid_m2"), i == default,
                           f"{names[i]} share of the zone's valid area (landseg area --zones)")
                for i in self.selected]


@dataclass
class ZonePlan:
    """Zones read, repaired and placed on a class map, ready to be measured region by region."""

    raster: Path
    zones_path: str
    id_field: str
    table: ClassTable
    pixel_area: str
    selected: list[int]
    shape: tuple[int, int]  # (height, width) of the class map
    results: list[ZoneArea]
    jobs: list[Any]  # (r0, c0, r1, c1, zone number, polygon in pixel coordinates), in raster order
    crs_wkt: str | None
    notes: list[str]


def zonal_areas(
    raster: str | Path, zones: str | Path, zone_id: str | None = None,
    table: str | Path | ClassTable | None = None, *, gsd: float | None = None,
    classes: str | Sequence[str] | None = None, strip_rows: int | None = None, unknown_to_ignore: bool = False,
) -> ZonalResult:
    """Class areas per zone (parcels, districts) with exact fractional pixel coverage.

    Zones come from a GeoPackage, GeoJSON or Shapefile in any CRS and are reprojected to the
    raster's. Coverage rule (also stated in every output): each pixel counts with the exact share of
    its area inside the zone (polygon ∩ pixel square), so small parcels are not misstated as with
    pixel-centre rasterisation; a zone partly outside the raster reports ``covered_share`` = its
    area inside the raster / its area; nodata pixels inside a zone are reported as nodata area.
    Invalid geometries are repaired with ``make_valid`` and reported by id; zones outside the raster
    are noted, and if none overlaps it an :class:`InputError` is raised.

    The work splits into :func:`plan_zones`, :func:`measure_zones` (any region of the raster: partial
    tables that add up, see :mod:`landseg.area.partial`) and :func:`finish_zones`.
    """
    plan = plan_zones(raster, zones, zone_id, table, gsd=gsd, classes=classes, unknown_to_ignore=unknown_to_ignore)
    with open_classmap(raster, table, gsd=gsd, classes=classes, unknown_to_ignore=unknown_to_ignore) as cm:
        pixels, m2 = measure_zones(cm, plan.jobs, len(plan.results), None, strip_rows)
    return finish_zones(plan, pixels, m2)


def plan_zones(
    raster: str | Path, zones: str | Path, zone_id: str | None = None,
    table: str | Path | ClassTable | None = None, *, gsd: float | None = None,
    classes: str | Sequence[str] | None = None, unknown_to_ignore: bool = False,
) -> ZonePlan:
    """Read the zones, reproject and repair them, measure their areas and cut them to the raster."""
    ids, geoms, zcrs, id_field = read_zones(zones, zone_id)
    notes: list[str] = []
    seen: dict[Any, int] = {}
    for zid in ids:
        seen[zid] = seen.get(zid, 0) + 1
    dups = [f"{z} ({n}x)" for z, n in seen.items() if n > 1]
    if dups:
        notes.append(f"zone ids that occur more than once in {Path(zones).name} (field {id_field}): "
                     f"{', '.join(dups[:10])}{' …' if len(dups) > 10 else ''}; each feature is measured and listed "
                     "on its own row; give --zone-id a field that is unique per zone to tell them apart")
    with open_classmap(raster, table, gsd=gsd, classes=classes, unknown_to_ignore=unknown_to_ignore) as cm:
        path, ds, tbl = cm.path, cm.ds, cm.table
        notes += cm.pixel_area.notes
        crs_wkt = ds.crs.to_wkt() if ds.crs else None
        if ds.crs is not None and zcrs is not None:
            geoms = reproject_geometries(geoms, zcrs, ds.crs)
        elif ds.crs is None and zcrs is not None:
            raise InputError(f"{path.name} has no CRS, so zones in {zcrs} cannot be placed on it; georeference the raster")
        elif zcrs is None:
            notes.append(f"{Path(zones).name} has no CRS; its coordinates are taken to be in the raster's")
        results, jobs, kinds = _prepare_zones(cm, ids, geoms)
        if not jobs:
            raise InputError(
                f"none of the {len(ids)} zones in {Path(zones).name} overlaps {path.name} (raster bounds "
                f"{tuple(round(v, 3) for v in ds.bounds)}, zone bounds in the raster's CRS "
                f"{tuple(round(float(v), 3) for v in shapely.total_bounds(geoms))}); check the CRS of both files"
            )
        jobs.sort(key=lambda j: (j[0], j[1]))  # read in raster order
        notes += _zone_notes(kinds, id_field)
        return ZonePlan(path, str(zones), id_field, tbl, cm.pixel_area.description, cm.selected,
                        (ds.height, ds.width), results, jobs, crs_wkt, notes)


def measure_zones(cm: ClassMap, jobs: list[Any], n_zones: int, region: tuple[int, int, int, int] | None = None,
                  strip_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(fractional pixels, m²) per zone and raw class bin, (n_zones, bins), of the pixels of ``region``
    (row0, col0, row1, col1; the whole raster without one). The tables of regions that partition the
    raster add up to the whole raster's."""
    nb = 256  # raw class bins, as the zones' arrays
    pixels, m2 = np.zeros((n_zones, nb)), np.zeros((n_zones, nb))
    y0, x0, y1, x1 = region or (0, 0, cm.ds.height, cm.ds.width)
    for r0, c0, r1, c1, k, inside in jobs:
        r0, c0, r1, c1 = max(r0, y0), max(c0, x0), min(r1, y1), min(c1, x1)
        if r1 > r0 and c1 > c0:
            _measure_zone(cm, pixels[k], m2[k], inside, r0, c0, r1, c1, strip_rows)
    return pixels, m2


def finish_zones(plan: ZonePlan, pixels: np.ndarray, m2: np.ndarray) -> ZonalResult:
    """The result from the summed tables of :func:`measure_zones`."""
    nc = plan.table.num_classes
    for k, z in enumerate(plan.results):
        z.class_pixels, z.class_m2 = pixels[k].copy(), m2[k].copy()
        z.nodata_m2 = float(z.class_m2[IGNORE_INDEX])
        z.covered_m2 = float(z.class_m2.sum())
        z.class_m2 = z.class_m2[:nc].copy()
        z.class_pixels = z.class_pixels[:nc].copy()
    return ZonalResult(str(plan.raster), plan.zones_path, plan.id_field, plan.table, plan.pixel_area, plan.selected,
                       plan.results, crs_wkt=plan.crs_wkt, notes=list(plan.notes))


def _prepare_zones(cm: ClassMap, ids: list[Any], geoms: np.ndarray) -> tuple[list[ZoneArea], list[Any], dict[str, list[Any]]]:
    """Repair the zones, measure their areas and cut them to the raster: (zones, jobs (r0, c0, r1,
    c1, zone number, polygon in pixel coordinates inside the raster), ids repaired/skipped/outside/partial)."""
    t, W, H, pa = cm.ds.transform, cm.ds.width, cm.ds.height, cm.pixel_area
    kinds: dict[str, list[Any]] = {"repaired": [], "skipped": [], "outside": [], "partial": []}
    repaired = kinds["repaired"]
    raster_box = shapely.box(0, 0, W, H)
    nb = 256
    results: list[ZoneArea] = []
    jobs = []
    for k, (zid, g) in enumerate(zip(ids, geoms)):
        if g is not None and not g.is_empty and not shapely.is_valid(g):
            g = shapely.make_valid(g)
            repaired.append(zid)
        g = polygonal_part(g)
        if g is None or g.area == 0:
            kinds["skipped"].append(zid)
            results.append(ZoneArea(zid, 0.0, 0.0, 0.0, 0.0, np.zeros(nb), np.zeros(nb), None,
                                    ["empty or not a polygon: skipped"]))
            continue
        zone_m2 = float(pa.geometry_areas([g])[0])
        gpx = to_pixel_coords(g, t)
        inside = polygonal_part(shapely.intersection(gpx, raster_box)) or shapely.Polygon()
        share = float(inside.area / gpx.area) if gpx.area > 0 else 0.0
        z = ZoneArea(zid, zone_m2, share, 0.0, 0.0, np.zeros(nb), np.zeros(nb), g,
                     ["geometry repaired (make_valid)"] if zid in repaired else [])
        results.append(z)
        if inside.is_empty or inside.area == 0:
            kinds["outside"].append(zid)
            z.notes.append("outside the raster")
            continue
        if share < 1.0 - 1e-9:
            kinds["partial"].append(zid)
            z.notes.append(f"partly outside the raster: {share:.2%} covered")
        minx, miny, maxx, maxy = inside.bounds
        c0, r0 = max(0, int(math.floor(minx))), max(0, int(math.floor(miny)))
        c1, r1 = min(W, int(math.ceil(maxx))), min(H, int(math.ceil(maxy)))
        jobs.append((r0, c0, r1, c1, k, inside))
    return results, jobs, kinds


def _measure_zone(cm: ClassMap, pixels: np.ndarray, m2: np.ndarray, inside: Any, r0: int, c0: int, r1: int,
                  c1: int, strip_rows: int | None) -> None:
    """Add the covered pixels and areas per class of one zone's window, strip by strip."""
    nb = len(m2)
    w = c1 - c0
    for win in strip_windows(r1 - r0, w, strip_rows):
        sr0, h = r0 + win.row_off, win.height
        frac = pixel_coverage(inside, sr0, c0, h, w)
        cls = cm.reader.index(Window(c0, sr0, w, h))
        weights = frac * cm.pixel_area.block(sr0, h, c0, w)
        pixels += np.bincount(cls.ravel(), weights=frac.ravel(), minlength=nb)
        m2 += np.bincount(cls.ravel(), weights=weights.ravel(), minlength=nb)


def _zone_notes(kinds: dict[str, list[Any]], id_field: str) -> list[str]:
    def listed(v: list[Any]) -> str:
        return ", ".join(map(str, v[:10])) + (f" and {len(v) - 10} more" if len(v) > 10 else "")

    notes = []
    repaired, skipped, outside, partial = kinds["repaired"], kinds["skipped"], kinds["outside"], kinds["partial"]
    if repaired:
        notes.append(f"{len(repaired)} invalid geometries repaired with make_valid: {id_field} {listed(repaired)}")
    if skipped:
        notes.append(f"{len(skipped)} zones empty or not polygons, skipped: {id_field} {listed(skipped)}")
    if outside:
        notes.append(f"{len(outside)} zones outside the raster (no area): {id_field} {listed(outside)}")
    if partial:
        notes.append(f"{len(partial)} zones partly outside the raster (see covered share): {id_field} {listed(partial)}")
    return notes
