"""What the web app's map draws: zones and sample points in the class map's pixel coordinates.

The page shows the image and the class layer in pixel space (Leaflet's simple CRS), so images without
georeferencing display like georeferenced ones and the browser needs no projection library. Here the
zones (any CRS, reprojected onto the class map's CRS like :func:`landseg.area.zonal_areas` does) and
the points of a drawn sample are brought onto that pixel grid: ``[column, row]`` with the origin at
the top-left corner of the class map, y down. Zone features keep the zones file's order, which is the
order of the per-zone results (areas, indicators, change), so the page joins them by index ``k``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from landseg.io.points import read_points
from landseg.io.raster import is_georeferenced, open_raster
from landseg.io.vector import read_zones, reproject_geometries

MAX_VERTICES = 200_000  # zones drawn on the page; beyond this they are simplified harder


def _grid(classes: Path) -> tuple[Any, int, int, Any]:
    with open_raster(classes) as ds:
        return ds.transform, ds.width, ds.height, (ds.crs if is_georeferenced(ds) else None)


def zone_features(zones: str | Path, zone_id: str | None, classes: str | Path, view_size: int) -> list[dict[str, Any]]:
    """GeoJSON features of the zones in pixel coordinates of ``classes``, simplified to about half a
    pixel of the page's view (``view_size``: its longest side); properties ``k`` (order) and ``id``."""
    ids, geoms, zcrs, _ = read_zones(zones, zone_id)
    transform, width, height, crs = _grid(Path(classes))
    if crs is not None and zcrs is not None:
        geoms = reproject_geometries(geoms, zcrs, crs)
    inv = ~transform

    def to_pixels(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack([inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f])

    geoms = shapely.transform(shapely.make_valid(np.asarray(geoms, dtype=object)), to_pixels)
    tolerance = max(width, height) / max(view_size, 1) / 2
    while True:
        simple = shapely.simplify(geoms, tolerance, preserve_topology=True)
        if int(shapely.get_num_coordinates(simple).sum()) <= MAX_VERTICES or tolerance > max(width, height):
            break
        tolerance *= 2
    simple = shapely.set_precision(simple, 0.01)
    features = []
    for k, (zid, geom) in enumerate(zip(ids, simple)):
        if geom is None or geom.is_empty:
            continue
        features.append({"type": "Feature", "properties": {"k": k, "id": _plain(zid)},
                         "geometry": json.loads(shapely.to_geojson(geom))})
    return features


def point_features(points: str | Path) -> list[dict[str, Any]]:
    """GeoJSON features of a sample drawn by :func:`landseg.accuracy.draw_sample` at its pixel centres
    (``col + 0.5, row + 0.5``), with the mapped class and the (empty until labelled) reference."""
    _, _, fields, _ = read_points(points)
    cols, rows = fields["col"].astype(np.float64) + 0.5, fields["row"].astype(np.float64) + 0.5
    return [{"type": "Feature", "properties": {"map_class": str(fields["map_class"][i]),
                                               "reference": str(fields["reference"][i] or "")},
             "geometry": {"type": "Point", "coordinates": [float(cols[i]), float(rows[i])]}}
            for i in range(len(cols))]


def map_data(classes: str | Path, view_size: int, *, zones: str | Path | None = None, zone_id: str | None = None,
             points: str | Path | None = None) -> dict[str, Any]:
    """The page's map: the class map's size in pixels, its zones and sample points (see the module doc)."""
    _, width, height, crs = _grid(Path(classes))
    return {"width": width, "height": height, "georeferenced": crs is not None, "coordinates": "pixel [column, row], y down",
            "zones": {"type": "FeatureCollection",
                      "features": zone_features(zones, zone_id, classes, view_size) if zones else []},
            "points": {"type": "FeatureCollection", "features": point_features(points) if points else []}}


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


__all__ = ["map_data", "point_features", "zone_features"]
