"""Helpers shared by the area tests (tests/test_area_*.py): class maps, pixel areas, zone files."""

from __future__ import annotations

import json

import numpy as np
import pyogrio.raw
import rasterio
import shapely
from pyproj import Geod

from landseg.area import pixel_area_source
from landseg.classes import ISPRS
from landseg.io.labels import CLASS_TABLE_TAG

UTM_ORIGIN = (367000.0, 5808000.0)
FT2_US = (1200 / 3937) ** 2  # m² in one US survey foot²
WGS84 = Geod(ellps="WGS84")


def classmap(make_geotiff, data, *, table=ISPRS, name="classes.tif", **kw):
    """A class GeoTIFF as predict writes it: index values, the class table in the metadata tag."""
    path = make_geotiff(np.asarray(data, dtype=np.uint8), name=name, **kw)
    if table is not None:
        with rasterio.open(path, "r+") as ds:
            ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(table.to_dict())})
    return path


def pixel_area(path, gsd=None):
    with rasterio.open(path) as ds:
        return pixel_area_source(ds, gsd)


def densified_geod_area(lons, lats, n=1001):
    """Geodesic area of a polygon whose edges are straight lines in lon/lat, densified."""
    xs, ys = [], []
    for i in range(len(lons)):
        j = (i + 1) % len(lons)
        xs.append(np.linspace(lons[i], lons[j], n, endpoint=False))
        ys.append(np.linspace(lats[i], lats[j], n, endpoint=False))
    return abs(WGS84.polygon_area_perimeter(np.concatenate(xs), np.concatenate(ys))[0])


def write_zones(path, geoms, ids, crs="EPSG:32633", field="pid"):
    pyogrio.raw.write(str(path), shapely.to_wkb(np.array(geoms, dtype=object)), [np.array(ids)], [field],
                      driver="GPKG" if str(path).endswith(".gpkg") else "GeoJSON", crs=crs, geometry_type="Unknown")
    return path
