"""landseg green: green and canopy shares per zone at two dates, net change, thresholds, error-adjusted
change with verdicts, styled GeoPackage, bad zones."""

from __future__ import annotations

import csv
import json
import sqlite3

import numpy as np
import pytest
import shapely

from landseg.cli import main
from tests.areahelpers import write_zones
from tests.test_change_reference import BLD, IMP, LOW, PX, TREE, X0, Y0, fill, pair, write_map

CONTRACT = ["green_share_before", "green_share_after", "canopy_share_before", "canopy_share_after",
            "green_change_m2", "canopy_change_m2"]


def test_shares_change_and_thresholds_known_answer(tmp_path, capsys):
    before = np.full((100, 200), IMP, np.uint8)
    before[:, :100] = LOW  # zone 1 (left half): all green
    before[:50, :50] = TREE  # a quarter of zone 1 canopy
    after = before.copy()
    after[:50, :100] = BLD  # half of zone 1 built over, the canopy with it
    after[:20, 100:] = TREE  # zone 2 gains 20 % canopy
    bp, ap = write_map(tmp_path, before, "b.tif"), write_map(tmp_path, after, "a.tif")
    zones = write_zones(tmp_path / "z.gpkg", [shapely.box(X0, Y0 - 5, X0 + 5, Y0), shapely.box(X0 + 5, Y0 - 5, X0 + 10, Y0),
                                              shapely.box(X0 + 100, Y0 - 5, X0 + 105, Y0)], ["a", "b", "far"])
    out = tmp_path / "g"
    assert main(["green", str(bp), str(ap), "--zones", str(zones), "--zone-id", "pid", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "green.csv").open()))
    assert set(CONTRACT) <= set(rows[0])
    a, b, far = rows
    z = 100 * 100 * PX * PX
    assert float(a["green_share_before"]) == 1.0 and float(a["green_share_after"]) == 0.5
    assert float(a["canopy_share_before"]) == 0.25 and float(a["canopy_share_after"]) == 0.0
    assert float(a["green_change_m2"]) == pytest.approx(-0.5 * z) and float(a["canopy_change_m2"]) == pytest.approx(-0.25 * z)
    assert float(a["green_change_pct"]) == pytest.approx(-50)
    assert a["green_above_45_before"] == "true" and a["green_above_45_after"] == "true"
    assert a["canopy_above_10_before"] == "true" and a["canopy_above_10_after"] == "false"
    assert float(b["canopy_share_after"]) == pytest.approx(0.2) and b["canopy_above_10_after"] == "true"
    assert far["green_share_before"] == ""  # outside the maps: no shares
    with sqlite3.connect(out / "green.gpkg") as db:
        styles = [r[0] for r in db.execute("select styleName from layer_styles")]
        cols = [r[1] for r in db.execute("pragma table_info(green)")]
    assert "green_share_after" in styles and set(CONTRACT) <= set(cols)


def test_adjusted_change_perfect_maps_and_verdicts(tmp_path, capsys):
    before, after = pair()
    bp, ap = write_map(tmp_path, before, "b.tif"), write_map(tmp_path, after, "a.tif")
    out = tmp_path / "chg"
    assert main(["change", str(bp), str(ap), "--out", str(out)]) == 0
    pts = tmp_path / "pts.gpkg"
    assert main(["sample", str(out / "transitions.tif"), "--n", "600", "--min-per-class", "40", "--strata", "roles",
                 "--out", str(pts)]) == 0
    fill(pts, before, after)
    # zone 1 holds the green -> building rows, zone 2 the sealed -> green block, zone 3 nothing changes
    zones = write_zones(tmp_path / "z.gpkg", [shapely.box(X0, Y0 - 3, X0 + 5, Y0 - 1),
                                              shapely.box(X0 + 5, Y0 - 8, X0 + 10, Y0 - 6),
                                              shapely.box(X0 + 12, Y0 - 10, X0 + 15, Y0 - 8)], [1, 2, 3])
    assert main(["green", str(bp), str(ap), "--zones", str(zones), "--out", str(out), "--reference", str(pts)]) == 0
    d = json.loads((out / "green.json").read_text())
    z1, z2, z3 = d["zones"]
    for z in d["zones"]:
        if z["green_verdict"] == "too few points":
            continue
        assert z["green_change_m2"] == pytest.approx(z["green_change_mapped_m2"], abs=1e-9)
        assert z["green_change_m2_low"] == pytest.approx(z["green_change_m2_high"], abs=1e-9)
    assert z1["green_verdict"] == "loss" and z1["green_change_m2"] < 0
    assert z2["green_verdict"] == "gain" and z3["green_verdict"] == "no significant change"
    with sqlite3.connect(out / "green.gpkg") as db:
        styles = {r[0]: r[1] for r in db.execute("select styleName, useAsDefault from layer_styles")}
    assert styles["green_verdict"] == 1
    # landseg report of the folder: the transitions, the error-adjusted change and the green table
    assert main(["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "Green space and tree canopy per zone" in html and "Transition matrix" in html
    assert 'class="green-verdict" data-zone="1" style="color:#d73027' in html


def test_too_few_points_in_a_zone(tmp_path, capsys):
    before, after = pair()
    bp, ap = write_map(tmp_path, before, "b.tif"), write_map(tmp_path, after, "a.tif")
    out = tmp_path / "chg"
    assert main(["change", str(bp), str(ap), "--out", str(out)]) == 0
    pts = tmp_path / "pts.gpkg"
    assert main(["sample", str(out / "transitions.tif"), "--n", "40", "--min-per-class", "4", "--strata", "roles",
                 "--out", str(pts)]) == 0
    fill(pts, before, after)
    tiny = write_zones(tmp_path / "z.gpkg", [shapely.box(X0, Y0 - 3, X0 + 5, Y0 - 1)], [1])
    assert main(["green", str(bp), str(ap), "--zones", str(tiny), "--out", str(out), "--reference", str(pts)]) == 0
    z = json.loads((out / "green.json").read_text())["zones"][0]
    assert z["green_verdict"] == "too few points" and "too few points" in z["note"]
    assert z["green_change_m2_low"] is None


def test_zones_without_overlap(tmp_path, capsys):
    before, after = pair()
    bp, ap = write_map(tmp_path, before, "b.tif"), write_map(tmp_path, after, "a.tif")
    far = write_zones(tmp_path / "z.gpkg", [shapely.box(0, 0, 10, 10)], [1])
    out = tmp_path / "g"
    assert main(["green", str(bp), str(ap), "--zones", str(far), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "none of the 1 zones" in err and len(err.splitlines()) == 1
    assert not any(out.glob("*")) if out.exists() else True
