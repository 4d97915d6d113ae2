"""Predicted against true areas per class, synthetic and real."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from areahelpers import classmap
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_xy

from landseg.area import compare_with_truth
from landseg.errors import InputError


# ------------------------------------------------------------------------------ truth
def test_compare_with_truth(make_geotiff):
    truth = np.zeros((10, 10), np.uint8)
    truth[:4] = 1
    truth[9, 9] = 255  # unlabelled in the truth: not compared
    pred = truth.copy()
    pred[4, :5] = 1  # 5 pixels of impervious predicted as building
    pred[9, 9] = 1
    cmp = compare_with_truth(classmap(make_geotiff, pred, name="pred.tif"),
                             classmap(make_geotiff, truth, name="truth.tif"))
    b = cmp.row("building")
    assert b.true_m2 == pytest.approx(40 * 0.0025) and b.predicted_m2 == pytest.approx(45 * 0.0025)
    assert b.error_m2 == pytest.approx(5 * 0.0025) and b.error_pct == pytest.approx(12.5)
    assert cmp.row("impervious_surface").error_pct == pytest.approx(-5 / 59 * 100)
    assert cmp.row("tree").error_pct is None
    assert cmp.compared_m2 == pytest.approx(99 * 0.0025)
    # a truth covering the top half only is brought onto the map's grid and compared where both have data
    small = classmap(make_geotiff, truth[:5], name="small.tif")
    part = compare_with_truth(classmap(make_geotiff, pred, name="p2.tif"), small)
    assert part.compared_m2 == pytest.approx(50 * 0.0025) and any("resampled onto the grid" in n for n in part.notes)
    # without georeferencing, only the same size can be compared (pixel by pixel)
    with pytest.raises(InputError, match="differ in size"):
        compare_with_truth(classmap(make_geotiff, pred, name="p3.tif", crs=None),
                           classmap(make_geotiff, truth[:5], name="s3.tif", crs=None))


def test_truth_in_another_crs_is_reprojected_not_compared_pixel_by_pixel(make_geotiff):
    """Issue 23 item 17: a truth in another CRS (or another place) was compared row by row with the map."""
    pred = np.zeros((40, 40), np.uint8)
    pred[:, 20:] = 1  # right half building
    pmap = classmap(make_geotiff, pred, name="pred.tif", transform=from_origin(367000, 5808000, 1, 1))
    # the same scene in EPSG:4326, on a grid finer than the map's and flipped in content if read row by row
    (lon0, lon1), (lat1, lat0) = warp_xy("EPSG:32633", "EPSG:4326", [367000, 367040], [5808000, 5807960])
    n = 200
    lons = np.linspace(lon0, lon1, n)
    truth = np.where(lons[None, :] >= (lon0 + lon1) / 2, 1, 0).repeat(n, 0).astype(np.uint8)
    tmap = classmap(make_geotiff, truth, name="truth.tif", crs="EPSG:4326",
                    transform=from_origin(lon0, lat0, (lon1 - lon0) / n, (lat0 - lat1) / n))
    cmp = compare_with_truth(pmap, tmap)
    assert any("reprojected onto the grid of pred.tif" in x for x in cmp.notes)
    b = cmp.row("building")
    assert b.true_m2 == pytest.approx(b.predicted_m2, rel=0.06)  # the halves agree once aligned
    # a truth of another place shares no pixel with the map: refused, not compared as all-zero
    far = classmap(make_geotiff, truth, name="far.tif", crs="EPSG:4326",
                   transform=from_origin(lon0 + 1, lat0, (lon1 - lon0) / n, (lat0 - lat1) / n))
    with pytest.raises(InputError, match="share no pixel"):
        compare_with_truth(pmap, far)


def test_real_derived_truth_comparison(potsdam_4_13, realdata, tmp_path):
    path, tile = potsdam_4_13
    crop = tmp_path / "pred_4_13_y00_x00.tif"
    with rasterio.open(path) as src:
        prof = src.profile | dict(width=1000, height=1000, blockxsize=256, blockysize=256)
        with rasterio.open(crop, "w", **prof) as dst:
            dst.write(src.read(1, window=((0, 1000), (0, 1000))), 1)
            dst.update_tags(**src.tags())
    truth = realdata / "derived/potsdam_4_13_y00_x00/top_potsdam_4_13_label_y00_x00.png"
    cmp = compare_with_truth(crop, truth)  # the colour label is read with the prediction's table
    assert [c.true_m2 for c in cmp.classes] == pytest.approx([1444.5, 514.0, 163.4, 156.8, 134.1, 87.3], abs=0.06)
    assert all(c.error_m2 == 0 for c in cmp.classes) and cmp.compared_m2 == pytest.approx(2500.0)
