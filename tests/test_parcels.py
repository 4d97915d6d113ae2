"""Sealed and green m² per parcel calibrated with a reference sample, with 95 % intervals; fee tiers."""

from __future__ import annotations

import csv
import io

import numpy as np
import pyogrio.raw
import pytest
import shapely
from areahelpers import UTM_ORIGIN, classmap
from rasterio.transform import from_origin

from landseg.cli import main
from landseg.parcels import FeeTier, tier_of

X0, TOP = UTM_ORIGIN[0], UTM_ORIGIN[1] + 40
IMP, BLD, LOW, TREE, CAR, CLU = range(6)


def scene() -> np.ndarray:
    """40x50 map of 1 m pixels: left half low vegetation, right half impervious, a building, a tree row."""
    a = np.full((40, 50), IMP, np.uint8)
    a[:, :25] = LOW
    a[5:15, 30:40] = BLD
    a[30:35, :] = TREE
    return a


def parcels(tmp_path):
    boxes = [shapely.box(X0, TOP - 20, X0 + 25, TOP), shapely.box(X0 + 25, TOP - 20, X0 + 50, TOP),
             shapely.box(X0, TOP - 40, X0 + 50, TOP - 20)]
    path = tmp_path / "parcels.gpkg"
    pyogrio.raw.write(str(path), shapely.to_wkb(np.array(boxes, dtype=object)), [np.array([1, 2, 3])], ["pid"],
                      driver="GPKG", crs="EPSG:32633", geometry_type="Polygon")
    return path


def run(tmp_path, make_geotiff, truth_arr, capsys, *extra, n="2000"):
    cmap = classmap(make_geotiff, scene(), transform=from_origin(X0, TOP, 1, 1), nodata=255)
    truth = classmap(make_geotiff, truth_arr, name="truth.tif", transform=from_origin(X0, TOP, 1, 1), nodata=255)
    pts = tmp_path / "pts.gpkg"
    assert main(["sample", str(cmap), "--n", n, "--truth", str(truth), "--out", str(pts)]) == 0
    capsys.readouterr()
    code = main(["area", str(cmap), "--zones", str(parcels(tmp_path)), "--zone-id", "pid", "--indicators",
                 "--reference", str(pts), "--format", "csv", *extra])
    out = capsys.readouterr()
    return code, out


def test_perfect_map_calibrated_equals_mapped(tmp_path, make_geotiff, capsys):
    code, out = run(tmp_path, make_geotiff, scene(), capsys, n="300")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out.out.split("\n\n")[0])))
    for r in rows:
        assert float(r["sealed_m2"]) == pytest.approx(float(r["sealed_mapped_m2"]))
        assert float(r["sealed_m2_low"]) == pytest.approx(float(r["sealed_m2_high"]))
        assert float(r["green_m2"]) == pytest.approx(float(r["green_mapped_m2"]))
    assert float(rows[1]["sealed_m2"]) == pytest.approx(500.0)  # parcel 2: all impervious or building


def test_known_error_mix(tmp_path, make_geotiff, capsys):
    """A quarter of the low vegetation is truly impervious: with every pixel in the sample, the calibrated
    sealed m² of a parcel is its sealed mapped area plus a quarter of its low vegetation."""
    truth = scene()
    low = np.argwhere(truth == LOW)
    truth[tuple(low[::4].T)] = IMP
    code, out = run(tmp_path, make_geotiff, truth, capsys)
    assert code == 0
    rows = {r["pid"]: r for r in csv.DictReader(io.StringIO(out.out.split("\n\n")[0]))}
    q = (truth[scene() == LOW] == IMP).mean()
    assert float(rows["1"]["sealed_m2"]) == pytest.approx(500 * q)  # parcel 1: 500 m² of low vegetation
    assert float(rows["1"]["sealed_mapped_m2"]) == 0
    assert float(rows["1"]["green_m2"]) == pytest.approx(500 * (1 - q))
    assert float(rows["1"]["sealed_m2_low"]) < 500 * q < float(rows["1"]["sealed_m2_high"])
    assert float(rows["2"]["sealed_m2"]) == pytest.approx(500.0)
    capsys.readouterr()
    assert main(["area", str(tmp_path / "classes.tif"), "--zones", str(tmp_path / "parcels.gpkg"), "--indicators",
                 "--reference", str(tmp_path / "pts.gpkg")]) == 0
    assert "errors are the same in every parcel" in capsys.readouterr().out


def test_fee_tiers(tmp_path, make_geotiff, capsys):
    tiers = tmp_path / "tiers.csv"
    tiers.write_text("tier,min_m2,max_m2\nA,0,100\nB,100,400\nC,400,\n")
    truth = scene()
    low = np.argwhere(truth == LOW)
    truth[tuple(low[::4].T)] = IMP
    code, out = run(tmp_path, make_geotiff, truth, capsys, "--fee-tiers", str(tiers))
    assert code == 0
    rows = {r["pid"]: r for r in csv.DictReader(io.StringIO(out.out.split("\n\n")[0]))}
    assert rows["1"]["fee_tier"] == "B" and rows["2"]["fee_tier"] == "C"
    assert rows["2"]["fee_tier_uncertain"] == "false"
    assert tier_of(99.9, [FeeTier("A", 0, 100), FeeTier("B", 100, np.inf)]) == "A"


@pytest.mark.parametrize("text, message", [
    ("tier,min_m2,max_m2\nA,0,200\nB,100,400\n", "overlap"),
    ("tier,min_m2,max_m2\nA,0,x\n", "must be numbers"),
    ("tier,lo,hi\nA,0,1\n", "expected a CSV with the columns tier,min_m2,max_m2"),
    ("tier,min_m2,max_m2\nA,5,5\n", "needs min_m2 < max_m2"),
])
def test_bad_fee_tiers(tmp_path, make_geotiff, capsys, text, message):
    tiers = tmp_path / "tiers.csv"
    tiers.write_text(text)
    code, out = run(tmp_path, make_geotiff, scene(), capsys, "--fee-tiers", str(tiers), n="100")
    assert code == 2 and message in out.err and len(out.err.strip().splitlines()) == 1
    assert out.out == ""
