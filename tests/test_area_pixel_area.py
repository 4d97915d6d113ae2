"""Ground area of pixels: projected, rotated, feet, geographic, Mercator, gsd."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from areahelpers import FT2_US, UTM_ORIGIN, classmap, densified_geod_area, pixel_area
from pyproj import Transformer
from rasterio.transform import Affine, from_origin

from landseg.area import class_areas
from landseg.errors import InputError


# ------------------------------------------------------------------------------ pixel areas
def test_five_cm_pixels_exact(two_class):
    path, a = two_class
    r = class_areas(path)
    assert pixel_area(path).constant == pytest.approx(0.0025, rel=1e-12)
    assert r.area_of("building") == pytest.approx(9999 * 0.0025, rel=1e-12)
    assert r.area_of("impervious_surface") == pytest.approx(10000 * 0.0025, rel=1e-12)
    assert r.classes[1].pixels == 9999 and r.nodata_pixels == 1
    assert r.valid_m2 == pytest.approx(19999 * 0.0025)
    assert r.classes[0].share == pytest.approx(10000 / 19999)
    assert "EPSG:32633" in r.pixel_area and "0.0025 m²" in r.pixel_area


def test_nodata_value_is_excluded(make_geotiff):
    a = np.full((10, 10), 3, np.uint8)
    a[:, :4] = 9  # nodata, outside the table: must not be read as a class
    r = class_areas(classmap(make_geotiff, a, nodata=9))
    assert r.area_of("tree") == pytest.approx(60 * 0.0025)
    assert r.nodata_pixels == 40 and r.classes[3].share == pytest.approx(1.0)


@pytest.mark.parametrize("transform", [
    Affine.translation(*UTM_ORIGIN) @ Affine.rotation(30) @ Affine.scale(0.5, -0.5),
    Affine(0.5, 0.2, UTM_ORIGIN[0], 0.1, -0.5, UTM_ORIGIN[1]),  # skewed: |det| = 0.27
])
def test_rotated_and_skewed_transforms(make_geotiff, transform):
    path = classmap(make_geotiff, np.ones((20, 30)), transform=transform)
    det = abs(transform.a * transform.e - transform.b * transform.d)
    pa = pixel_area(path)
    assert pa.constant == pytest.approx(det, rel=1e-12)
    assert "rotated" in pa.description
    assert class_areas(path).area_of("building") == pytest.approx(600 * det, rel=1e-12)


def test_us_survey_feet(make_geotiff):
    path = classmap(make_geotiff, np.ones((10, 10)), crs="EPSG:2263", transform=from_origin(980000, 200000, 2, 2))
    pa = pixel_area(path)
    assert pa.constant == pytest.approx(4 * FT2_US, rel=1e-12)
    assert "US ft" in pa.description
    r = class_areas(path)
    assert r.area_of("building") == pytest.approx(400 * FT2_US, rel=1e-12)
    assert "ft2" in r.to_csv("ft2").splitlines()[0]
    # 400 US ft² are 400.0016 international ft²
    assert json.loads(r.to_json("ft2"))["classes"][1]["area_ft2"] == pytest.approx(400 * FT2_US / 0.09290304)


def test_geographic_grid_geodesic_area(make_geotiff):
    a = np.ones((100, 200), np.uint8)
    path = classmap(make_geotiff, a, crs="EPSG:4326", transform=from_origin(10.0, 50.0, 0.001, 0.001))
    r = class_areas(path)
    truth = densified_geod_area([10.0, 10.2, 10.2, 10.0], [50.0, 50.0, 49.9, 49.9])
    assert r.area_of("building") == pytest.approx(truth, rel=1e-9)
    pa = pixel_area(path)
    rows = pa.block(0, 100)
    assert rows.shape == (100, 1) and np.all(np.diff(rows[:, 0]) > 0)  # pixels grow towards the equator
    assert "geographic" in pa.description and "°" in pa.description


def test_rotated_geographic_grid(make_geotiff):
    t = Affine.translation(10.0, 50.0) @ Affine.rotation(20) @ Affine.scale(0.001, -0.001)
    path = classmap(make_geotiff, np.ones((40, 60)), crs="EPSG:4326", transform=t)
    corners = [t @ (0, 0), t @ (60, 0), t @ (60, 40), t @ (0, 40)]
    truth = densified_geod_area([c[0] for c in corners], [c[1] for c in corners])
    assert pixel_area(path).block(0, 40).shape == (40, 60)
    assert class_areas(path).area_of("building") == pytest.approx(truth, rel=1e-7)


def test_web_mercator_true_ground_area(make_geotiff):
    lat = 60.0
    y = 6378137.0 * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    t = from_origin(1113194.9, y, 1.0, 1.0)  # 1 m nominal pixels at 60° N
    path = classmap(make_geotiff, np.ones((100, 100)), crs="EPSG:3857", transform=t)
    area = class_areas(path).area_of("building")
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    (lon0, lon1), (lat0, lat1) = to_ll.transform([t.c, t.c + 100], [y, y - 100])
    truth = densified_geod_area([lon0, lon1, lon1, lon0], [lat0, lat0, lat1, lat1])
    assert area == pytest.approx(truth, rel=1e-7)
    # about nominal * cos²(lat): 2,500 of the 10,000 nominal m² (the ellipsoid adds ~0.3 %)
    assert area == pytest.approx(10000 * math.cos(math.radians(lat)) ** 2, rel=5e-3)
    assert "not the raw Mercator" in pixel_area(path).description


def test_no_georeferencing_needs_gsd(make_geotiff):
    path = classmap(make_geotiff, np.ones((10, 10)), crs=None)
    with pytest.raises(InputError, match="--gsd"):
        class_areas(path)
    r = class_areas(path, gsd=0.05)
    assert r.area_of("building") == pytest.approx(100 * 0.0025)
    assert "--gsd 0.05" in r.pixel_area
    counts = class_areas(path, allow_pixels_only=True)  # predict's fallback: counts and shares only
    assert counts.classes[1].pixels == 100 and counts.classes[1].share == 1.0
    assert math.isnan(counts.area_of("building")) and "pixel counts only" in counts.pixel_area
    assert json.loads(counts.to_json())["classes"][1]["area_m2"] is None
    assert "n/a" in counts.to_text() and ",100,,," in counts.to_csv()
    # a georeferenced raster keeps its own pixel size
    geo = classmap(make_geotiff, np.ones((10, 10)), name="geo.tif")
    rg = class_areas(geo, gsd=1.0)
    assert rg.area_of("building") == pytest.approx(0.25) and any("ignored" in n for n in rg.notes)
