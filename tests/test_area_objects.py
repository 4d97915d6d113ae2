"""Connected objects per class: strip borders, whole-raster labelling, a real Potsdam tile."""

from __future__ import annotations

import numpy as np
import pytest
from areahelpers import classmap
from scipy import ndimage

from landseg.area import class_areas, object_stats


# ------------------------------------------------------------------------------ objects
def test_objects_crossing_strip_borders(make_geotiff):
    a = np.zeros((12, 12), np.uint8)
    a[1:11, 2] = a[1:11, 8] = a[10, 2:9] = 1  # a U crossing every strip border
    a[5, 5] = 1  # a single pixel
    a[6, 6] = 1  # touches it diagonally, across the border of 1-row strips
    path = classmap(make_geotiff, a)
    for rows in (None, 1, 2, 5):
        s = object_stats(path, "building", strip_rows=rows).stats("building")
        assert s.count == 2 and s.total_m2 == pytest.approx(a.sum() * 0.0025)
        assert s.max_m2 == pytest.approx(25 * 0.0025) and s.median_m2 == pytest.approx((25 + 2) / 2 * 0.0025)
    four = object_stats(path, "building", connectivity=4, strip_rows=1).stats("building")
    assert four.count == 3
    big = object_stats(path, "building", min_area=0.01).stats("building")
    assert big.count == 1 and big.total_m2 == pytest.approx(25 * 0.0025)


def test_objects_equal_whole_raster_labelling(make_geotiff):
    rng = np.random.default_rng(3)
    a = (rng.random((60, 50)) < 0.4).astype(np.uint8) * 4  # cars on impervious
    path = classmap(make_geotiff, a)
    lab, n = ndimage.label(a == 4, structure=np.ones((3, 3)))
    sizes = np.bincount(lab.ravel())[1:] * 0.0025
    for rows in (1, 3, 7, None):
        s = object_stats(path, "car", strip_rows=rows).stats("car")
        assert s.count == n
        assert (s.total_m2, s.max_m2, s.median_m2) == pytest.approx((sizes.sum(), sizes.max(), np.median(sizes)))
    text = object_stats(path, "car,tree").to_text()
    assert "8-connected" in text and "tree" in text


# SOURCES.md section 4, tile 4_13 (impervious, building, low veg, tree, car, clutter), m²
GDGNET_4_13 = [27309, 30007, 13076, 11541, 1965, 6102]


def test_real_gdgnet_tile_areas_and_objects(potsdam_4_13):
    path, tile = potsdam_4_13
    r = class_areas(path)
    assert [c.area_m2 for c in r.classes] == pytest.approx(GDGNET_4_13, abs=0.5)
    assert r.valid_m2 == pytest.approx(90000.0)
    lab, n = ndimage.label(tile == 4, structure=np.ones((3, 3)))
    sizes = np.bincount(lab.ravel())[1:] * 0.0025
    s = object_stats(path, "car", strip_rows=700).stats("car")  # strip borders cut through cars
    assert s.count == n and s.total_m2 == pytest.approx(GDGNET_4_13[4], abs=0.5)
    assert (s.max_m2, s.median_m2) == pytest.approx((sizes.max(), np.median(sizes)))
