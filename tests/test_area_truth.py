"""Predicted against true areas per class, synthetic and real."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from areahelpers import classmap

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
    small = classmap(make_geotiff, truth[:5], name="small.tif")
    with pytest.raises(InputError, match="same|grid"):
        compare_with_truth(classmap(make_geotiff, pred, name="p2.tif"), small)


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
