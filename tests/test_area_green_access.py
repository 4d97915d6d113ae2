"""3-30-300 per zone and per building on a hand-made map: park distances, trees within 30 m, shares,
parks layer, minimum building area, strip independence, bad input."""

from __future__ import annotations

import csv
import math
import sqlite3

import numpy as np
import pyogrio.raw
import pytest
import shapely
from areahelpers import UTM_ORIGIN, classmap
from rasterio.transform import from_origin

from landseg.area.green_access import green_access
from landseg.cli import main

X0, TOP = UTM_ORIGIN[0], UTM_ORIGIN[1] + 400
IMP, BLD, LOW, TREE = 0, 1, 2, 3
R10 = math.sqrt(100 / math.pi)  # radius of a 10 x 10 m building's disc


def scene() -> np.ndarray:
    a = np.full((400, 400), IMP, np.uint8)
    a[0:80, 0:80] = LOW  # a 0.64 ha park
    a[300:350, 0:50] = LOW  # 0.25 ha: too small to be a park
    a[30:40, 100:110] = BLD  # building A, centroid (105, 35)
    a[380:390, 380:390] = BLD  # building B, centroid (385, 385)
    a[200:202, 150:152] = BLD  # 4 m² of speckle: no building
    for r, c in ((10, 120), (50, 120), (20, 90), (45, 95)):  # four trees within 30 m of A's disc
        a[r:r + 3, c:c + 3] = TREE
    for r, c in ((370, 360), (395, 396)):  # two near B
        a[r:r + 3, c:c + 3] = TREE
    return a


def zones(tmp_path):
    boxes = [shapely.box(X0, TOP - 400, X0 + 200, TOP), shapely.box(X0 + 200, TOP - 400, X0 + 400, TOP)]
    path = tmp_path / "zones.gpkg"
    pyogrio.raw.write(str(path), shapely.to_wkb(np.array(boxes, dtype=object)), [np.array(["west", "east"])],
                      ["name"], driver="GPKG", crs="EPSG:32633", geometry_type="Polygon")
    return path


@pytest.fixture
def case(make_geotiff, tmp_path):
    return classmap(make_geotiff, scene(), transform=from_origin(X0, TOP, 1, 1), nodata=255), zones(tmp_path)


def test_per_building_and_per_zone(case, tmp_path, capsys):
    cmap, z = case
    out, bout = tmp_path / "z.gpkg", tmp_path / "b.csv"
    assert main(["3-30-300", str(cmap), "--zones", str(z), "--zone-id", "name", "--out", str(out),
                 "--buildings-out", str(bout)]) == 0
    rows = list(csv.DictReader(bout.open()))
    assert len(rows) == 2  # the 4 m² speckle is left out by the default minimum area
    a, b = sorted(rows, key=lambda r: float(r["x"]))
    assert float(a["park_distance_m"]) == pytest.approx(math.hypot(105 - 79.5, 0.5) - R10)  # to a pixel centre
    assert float(b["park_distance_m"]) == pytest.approx(math.hypot(385 - 79.5, 385 - 79.5) - R10)
    assert (a["park_within_300m"], b["park_within_300m"]) == ("1", "0")
    assert (a["trees_within_30m"], b["trees_within_30m"]) == ("4", "2")
    assert (a["zone"], b["zone"]) == ("west", "east") and float(a["area_m2"]) == 100.0
    with sqlite3.connect(out) as db:
        got = {r[0]: r[1:] for r in db.execute(
            "select name, canopy_share, share_park_within_300m, share_3_trees, buildings from indicators")}
        styles = {r[0] for r in db.execute("select styleName from layer_styles")}
    assert got["west"][1:] == (1.0, 1.0, 1) and got["east"][1:] == (0.0, 0.0, 1)
    assert got["west"][0] == pytest.approx(36 / 80000)
    assert {"canopy_share", "share_park_within_300m", "share_3_trees"} <= styles
    assert main(["3-30-300", str(cmap), "--zones", str(z), "--min-area", "0", "--buildings-out", str(bout)]) == 0
    assert len(list(csv.DictReader(bout.open()))) == 3


def test_parks_layer_and_strips(case, tmp_path):
    cmap, z = case
    parks = tmp_path / "parks.gpkg"
    pyogrio.raw.write(str(parks), shapely.to_wkb(np.array([shapely.box(X0, TOP - 80, X0 + 80, TOP),
                                                            shapely.box(X0 + 300, TOP - 10, X0 + 310, TOP)],
                                                           dtype=object)), [np.array([1, 2])], ["id"],
                      driver="GPKG", crs="EPSG:32633", geometry_type="Polygon")
    _, acc = green_access(cmap, z, parks=parks)
    order = np.argsort(acc.x)
    assert acc.park_distance_m[order][0] == pytest.approx(105 - 80 - R10)  # the 0.01 ha park does not count
    ind, strip = green_access(cmap, z, strip_rows=7)
    _, whole = green_access(cmap, z)
    assert np.allclose(np.sort(strip.park_distance_m), np.sort(whole.park_distance_m))
    assert sorted(strip.trees_within_30m) == sorted(whole.trees_within_30m)


def test_bad_roles_and_outputs(case, tmp_path, capsys):
    cmap, z = case
    assert main(["3-30-300", str(cmap), "--zones", str(z), "--roles", "tree="]) == 2
    err = capsys.readouterr().err.strip()
    assert "declares no 'tree' role" in err and len(err.splitlines()) == 1
    assert main(["3-30-300", str(cmap), "--zones", str(z), "--roles", "canopy=tree"]) == 2
    assert "unknown role 'canopy'" in capsys.readouterr().err
    assert main(["3-30-300", str(cmap), "--zones", str(z), "--buildings-out", str(tmp_path / "b.shp")]) == 2
    assert not (tmp_path / "b.shp").exists()


def test_buildings_geopackage_is_styled_for_qgis(case, tmp_path):
    """Every GeoPackage landseg writes carries a QGIS style (issue 21): the per-building points of 3-30-300 open
    coloured by 'green space within 300 m' (yes/no), with '3 trees within 30 m' as a second style."""
    cmap, z = case
    bout = tmp_path / "b.gpkg"
    assert main(["3-30-300", str(cmap), "--zones", str(z), "--buildings-out", str(bout)]) == 0
    with sqlite3.connect(bout) as db:
        styles = {r[0]: (r[1], r[2]) for r in db.execute("select styleName, useAsDefault, styleQML from layer_styles")}
    assert set(styles) == {"park_within_300m", "three_trees"} and styles["park_within_300m"][0] == 1
    assert 'label="yes"' in styles["park_within_300m"][1] and 'attr="park_within_300m"' in styles["park_within_300m"][1]
    meta, _, _, cols = pyogrio.raw.read(bout)
    assert sorted(dict(zip(meta["fields"], cols))["park_within_300m"].tolist()) == [0, 1]
