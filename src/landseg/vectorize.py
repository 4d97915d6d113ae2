"""Class maps to polygons: one polygon per connected object of a class, with its area in m².

The raster is polygonised strip by strip (``rasterio.features.shapes``, 4-connectivity, so every
polygon is valid). Pieces that touch the border between two strips are joined with the pieces of
the next strip that share an edge with them, so objects crossing strip borders come out whole, as
if the raster had been polygonised at once; only the pieces on the current border stay in memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from rasterio.features import shapes
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from landseg.area import ClassMap, PixelArea, open_classmap
from landseg.classes import ClassTable
from landseg.errors import InputError
from landseg.io.raster import strips
from landseg.io.styles import (
    LayerStyle,
    categorized_qml,
    categorized_sld,
    write_gpkg_styles,
)
from landseg.io.vector import VECTOR_FORMATS, FeatureWriter, vector_output


@dataclass
class VectorizeResult:
    """What :func:`vectorize` wrote: polygon counts and summed areas per class."""

    path: Path
    features: int
    counts: dict[str, int]
    area_m2: dict[str, float]
    pixel_area: str
    crs: str | None
    notes: list[str] = field(default_factory=list)
    polygon_area_m2: dict[str, float] | None = None  # with --simplify: the written polygons' areas per class

    def summary(self, notes: bool = True) -> str:
        """Polygons and areas per class; ``notes=False`` leaves the notes out (the CLI writes them to stderr)."""
        lines = [f"wrote {self.features:,} polygons to {self.path}"]
        width = max((len(n) for n in self.counts), default=0)
        for name, n in self.counts.items():
            poly = (f"  (simplified polygons {self.polygon_area_m2[name]:,.2f} m²)"
                    if self.polygon_area_m2 is not None else "")
            lines.append(f"  {name.ljust(width)}  {n:>9,} polygons  {self.area_m2[name]:>16,.2f} m²{poly}")
        lines.append(f"pixel area: {self.pixel_area}")
        lines += [f"note: {n}" for n in self.notes] if notes else []
        return "\n".join(lines)


def _polygonize(items: Any) -> tuple[np.ndarray, np.ndarray]:
    """(polygons, values) from ``rasterio.features.shapes`` output, built in bulk (GeoJSON-like dicts
    converted one by one through ``shapely.geometry.shape`` cost several times more)."""
    coords: list[Any] = []
    ring_len: list[int] = []
    poly_rings: list[int] = []
    values: list[int] = []
    for geom, value in items:
        rings = geom["coordinates"]
        values.append(int(value))
        poly_rings.append(len(rings))
        for ring in rings:
            coords.extend(ring)
            ring_len.append(len(ring))
    if not values:
        return np.array([], dtype=object), np.array([], dtype=np.int64)
    xy = np.array(coords, dtype=np.float64)
    rings_arr = shapely.linearrings(xy, indices=np.repeat(np.arange(len(ring_len)), ring_len))
    polys = shapely.polygons(rings_arr, indices=np.repeat(np.arange(len(poly_rings)), poly_rings))
    return polys, np.array(values, dtype=np.int64)


def _to_world(geoms: np.ndarray, t: rasterio.Affine) -> np.ndarray:
    def fn(c: np.ndarray) -> np.ndarray:
        return np.column_stack([t.a * c[:, 0] + t.b * c[:, 1] + t.c, t.d * c[:, 0] + t.e * c[:, 1] + t.f])

    out = shapely.transform(geoms, fn)
    if hasattr(shapely, "orient_polygons"):  # counter-clockwise shells, as GeoJSON (RFC 7946) asks
        out = shapely.orient_polygons(out)
    return out


def _merge_border(prev: list[Any], cur: np.ndarray) -> tuple[list[list[Any]], list[Any]]:
    """Group the pieces ``prev`` (ending on a strip border) with the pieces ``cur`` (starting on
    it) that share an edge with them. Returns the groups that hold at least one ``cur`` piece and
    the ``prev`` pieces that continue nowhere."""

    p_arr = np.array(prev, dtype=object)
    P, C = len(p_arr), len(cur)
    if C == 0:
        return [], list(p_arr)
    if P == 0:
        return [[g] for g in cur], []
    pi, ci = shapely.STRtree(cur).query(p_arr, predicate="intersects")
    if pi.size:
        shared = shapely.length(shapely.intersection(p_arr[pi], cur[ci])) > 0  # an edge, not a corner
        pi, ci = pi[shared], ci[shared]
    graph = coo_matrix((np.ones(pi.size, np.int8), (pi, ci + P)), shape=(P + C, P + C))
    _, comp = connected_components(graph, directed=False)
    nodes = np.concatenate([p_arr, cur])
    groups: dict[int, list[Any]] = defaultdict(list)
    with_cur: set[int] = set(comp[P:].tolist())
    ended = []
    for k in range(P + C):
        if k < P and comp[k] not in with_cur:
            ended.append(nodes[k])
        else:
            groups[int(comp[k])].append(nodes[k])
    return list(groups.values()), ended


def class_style(table: ClassTable, selected: Sequence[int], layer: str) -> LayerStyle:
    """The QGIS style of a vectorised class map: ``class_name`` categorized in the class colours."""
    cats = [(table.names[i], table.colors[i]) for i in selected]
    return LayerStyle("classes", categorized_qml("class_name", cats), categorized_sld(layer, "class_name", cats),
                      True, f"class colours of the {table.name!r} class table (landseg vectorize)")


def vectorize(
    classmap: str | Path, out_path: str | Path, table: str | Path | ClassTable | None = None, *,
    classes: str | Sequence[str] | None = None, simplify: float | None = None, min_area: float | None = None,
    gsd: float | None = None, strip_rows: int | None = None, unknown_to_ignore: bool = False,
) -> VectorizeResult:
    """Write one polygon per 4-connected object of each class to a GeoPackage or GeoJSON file.

    Args:
        classmap: a landseg class GeoTIFF (table embedded) or a label raster with ``table``.
        out_path: ``.gpkg`` or ``.geojson``; written atomically, in the raster's CRS (pixel
            coordinates for a raster without georeferencing).
        classes: restrict to these classes (comma-separated names or a list).
        simplify: Douglas-Peucker tolerance in CRS units (topology-preserving, per polygon; shared
            borders of neighbouring polygons may then no longer match exactly).
        min_area: drop polygons smaller than this many m².
        gsd: pixel size in metres for rasters without georeferencing.
        strip_rows: rows per strip (default: about 4 M pixels).

    Attributes: ``class`` (index), ``class_name``, ``area_m2``: the exact ground area of the object's
    raster region (pixel areas of a projected grid; geodesic area on the ellipsoid for geographic and
    Mercator CRSs), and ``polygon_area_m2``: the ground area of the polygon as written, measured the same
    way; the two differ only with ``simplify``.
    """
    path, out = Path(classmap), Path(out_path)
    driver = VECTOR_FORMATS.get(out.suffix.lower())
    if driver is None:
        raise InputError(f"{out}: unsupported output format {out.suffix!r}; use .gpkg or .geojson")
    if simplify is not None and simplify < 0:
        raise InputError(f"--simplify must be zero or positive, got {simplify}")
    with open_classmap(path, table, gsd=gsd, classes=classes, unknown_to_ignore=unknown_to_ignore) as cm, \
            vector_output(out, out.stem) as target:
        crs_wkt = cm.ds.crs.to_wkt() if cm.ds.crs else None
        writer = FeatureWriter(target.path, driver, crs_wkt, out.stem, target=target)
        counts, areas, polygon_areas = _polygonize_strips(cm, writer, simplify, min_area, strip_rows)
        writer.flush()
        if driver == "GPKG":
            write_gpkg_styles(target.path, out.stem, [class_style(cm.table, cm.selected, out.stem)])
    pa = cm.pixel_area
    notes = list(pa.notes)
    if min_area:
        notes.append(f"polygons under {min_area:g} m² left out")
    if simplify:
        notes.append(f"--simplify {simplify:g}: area_m2 is the area of each object's raster region (its pixels), "
                     "polygon_area_m2 that of the simplified polygon as written")
    return VectorizeResult(out, sum(counts.values()), counts, areas, pa.description, crs_wkt, notes,
                           polygon_areas if simplify else None)


def _polygonize_strips(cm: ClassMap, writer: FeatureWriter, simplify: float | None, min_area: float | None,
                       strip_rows: int | None) -> tuple[dict[str, int], dict[str, float], dict[str, float]]:
    """Polygonise the class map strip by strip into ``writer``; polygon counts and areas per class."""

    tbl, selected, pa = cm.table, cm.selected, cm.pixel_area
    H, t = cm.ds.height, cm.ds.transform
    keep = np.zeros(256, dtype=bool)
    keep[selected] = True
    counts = {tbl.names[c]: 0 for c in selected}
    areas = {tbl.names[c]: 0.0 for c in selected}
    polygon_areas = {tbl.names[c]: 0.0 for c in selected}
    open_pieces: dict[int, list[Any]] = {c: [] for c in selected}

    def emit(c: int, geoms: Sequence[Any]) -> None:
        if not len(geoms):
            return
        g, a = _finish(np.array(geoms, dtype=object), pa, t, simplify, min_area)
        if len(g):
            pg = pa.geometry_areas(g) if simplify else a  # the written polygon's own area
            writer.add(g, np.full(len(g), c), np.full(len(g), tbl.names[c], dtype=object), a, pg)
            counts[tbl.names[c]] += len(g)
            areas[tbl.names[c]] += float(a.sum())
            polygon_areas[tbl.names[c]] += float(np.sum(pg))

    for win in strips(cm.ds, strip_rows):
        r0, r1 = win.row_off, win.row_off + win.height
        cls = cm.reader.index(win)
        polys, values = _polygonize(shapes(cls, mask=keep[cls], connectivity=4,
                                           transform=rasterio.Affine.translation(0, r0)))
        for c in selected:
            cur = polys[values == c]
            b = shapely.bounds(cur) if len(cur) else np.zeros((0, 4))
            at_top = (b[:, 1] == r0) & (r0 > 0)
            whole: list[Any] = list(cur[~at_top])
            groups, ended = _merge_border(open_pieces[c], cur[at_top])
            whole += [g[0] if len(g) == 1 else shapely.union_all(g) for g in groups]
            emit(c, ended)
            if r1 < H:
                wb = shapely.bounds(np.array(whole, dtype=object)) if whole else np.zeros((0, 4))
                at_bottom = wb[:, 3] == r1
                open_pieces[c] = [g for g, ab in zip(whole, at_bottom) if ab]
                whole = [g for g, ab in zip(whole, at_bottom) if not ab]
            else:
                open_pieces[c] = []
            emit(c, whole)
    for c in selected:
        emit(c, open_pieces[c])
    return counts, areas, polygon_areas


def _finish(geoms: np.ndarray, pa: PixelArea, t: rasterio.Affine, simplify: float | None,
            min_area: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-space polygons -> valid single polygons in the raster's CRS with their areas (m²)."""
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    geoms = shapely.get_parts(geoms)
    geoms = geoms[shapely.get_type_id(geoms) == 3]
    world = _to_world(geoms, t)
    if pa.constant is not None:
        area = shapely.area(geoms) * pa.constant  # pixel units: exact pixel counts times the pixel area
    else:
        area = pa.geometry_areas(world)
    if min_area:
        sel = area >= min_area
        world, area = world[sel], area[sel]
    if simplify:
        world = shapely.simplify(world, simplify, preserve_topology=True)
        bad = ~shapely.is_valid(world)
        if bad.any():
            world[bad] = shapely.make_valid(world[bad])
        # a repair can split a polygon: keep the largest part so rows and areas stay one to one
        multi = shapely.get_type_id(world) != 3
        for i in np.nonzero(multi)[0]:
            parts = [p for p in shapely.get_parts(world[i]) if shapely.get_type_id(p) == 3]
            world[i] = max(parts, key=lambda p: p.area) if parts else shapely.Polygon()
        nonempty = ~shapely.is_empty(world)
        world, area = world[nonempty], area[nonempty]
    return world, area
