"""Change with error bars: change samples (transition strata), error-adjusted transitions and headline
changes overall and per zone, known answers, bad input."""

from __future__ import annotations

import json

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from landseg.accuracy import stratified_total
from landseg.accuracy.strata import ChangeStrata
from landseg.area import CLASS_TABLE_TAG
from landseg.classes import ISPRS
from landseg.cli import main
from landseg.errors import ClassTableError
from tests.areahelpers import write_zones

X0, Y0, PX = 367000.0, 5808000.0, 0.05
K = ISPRS.num_classes
IMP, BLD, LOW, TREE, CAR, CLU = range(6)


def write_map(tmp_path, arr, name):
    path = tmp_path / name
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(X0, Y0, PX, PX), nodata=255) as ds:
        ds.write(arr.astype(np.uint8), 1)
        ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(ISPRS.to_dict())})
    return path


def pair(shape=(200, 300), seed=0):
    """A before map of blocks and an after map where some green became sealed and some sealed green."""
    rng = np.random.default_rng(seed)
    blocks = rng.choice([IMP, BLD, LOW, TREE, CAR, CLU], size=(shape[0] // 20, shape[1] // 20),
                        p=[0.3, 0.2, 0.25, 0.15, 0.05, 0.05])
    before = np.kron(blocks, np.ones((20, 20), np.int64)).astype(np.uint8)
    after = before.copy()
    after[20:60, 0:100][np.isin(before[20:60, 0:100], [LOW, TREE])] = BLD  # green -> building
    after[120:160, 100:200][np.isin(before[120:160, 100:200], [IMP])] = LOW  # sealed -> green
    return before, after


def fill(points, before, after, flip=None):
    """Fill reference_before/_after from label arrays at the points' pixels (``flip`` edits them first)."""
    meta, _, wkb, data = pyogrio.raw.read(points)
    fields = dict(zip(meta["fields"], data))
    r, c = fields["row"].astype(int), fields["col"].astype(int)
    fields["reference_before"] = np.array([ISPRS.names[v] for v in before[r, c]], dtype=object)
    fields["reference_after"] = np.array([ISPRS.names[v] for v in after[r, c]], dtype=object)
    if flip:
        flip(fields)
    pyogrio.raw.write(str(points), wkb, list(fields.values()), list(fields.keys()), driver="GPKG",
                      crs=meta["crs"], geometry_type="Point", layer="reference_sample")


def run_change(tmp_path, before, after, *extra):
    bp, ap = write_map(tmp_path, before, "before.tif"), write_map(tmp_path, after, "after.tif")
    out = tmp_path / "chg"
    assert main(["change", str(bp), str(ap), "--out", str(out), *extra]) == 0
    return bp, ap, out


def test_stratified_total_known_answer():
    # two strata of area 100 and 300; stratum 0 points y = 1, 0, 1, 0 (mean .5, s² 1/3), stratum 1: 0, 0, 0
    t = stratified_total(np.array([1, 0, 1, 0, 0, 0, 0.0]), np.array([0, 0, 0, 0, 1, 1, 1]), np.array([100.0, 300]))
    assert t.value == pytest.approx(50.0)
    assert t.se == pytest.approx(np.sqrt(100**2 * (1 / 3) / 4))
    # a stratum with area and one point: value defined, SE not; with none: neither
    one = stratified_total(np.array([1.0, 0, 1]), np.array([0, 0, 1]), np.array([10.0, 5]))
    assert one.value == pytest.approx(10.0) and np.isnan(one.se) and one.short == [1]
    assert np.isnan(stratified_total(np.array([1.0]), np.array([0]), np.array([1.0, 1])).value)


def test_strata_roles_group_transitions():
    cs = ChangeStrata(ISPRS, "roles")
    groups, of = cs.groups
    assert groups == ["unknown", "sealed", "tree", "green"] and of.tolist() == [1, 1, 3, 2, 1, 0]
    assert "stable green" in cs.names and "green->sealed" in cs.names and len(cs.names) == 16
    lut = cs.code_lut()
    assert cs.names[lut[LOW * K + BLD]] == "green->sealed" and cs.names[lut[TREE * K + LOW]] == "tree->green"
    assert cs.names[lut[CAR * K + IMP]] == "stable sealed"  # ISPRS car is sealed: a car leaving is no change
    assert lut[255] == 255


@pytest.mark.parametrize("strata", ["roles", "transitions"])
def test_perfect_maps_adjusted_equals_mapped_interval_zero(tmp_path, capsys, strata):
    before, after = pair()
    bp, ap, out = run_change(tmp_path, before, after)
    pts = tmp_path / "pts.gpkg"
    assert main(["sample", str(out / "transitions.tif"), "--n", "400", "--min-per-class", "10",
                 "--strata", strata, "--out", str(pts)]) == 0
    meta, _, _, data = pyogrio.raw.read(pts)
    fields = dict(zip(meta["fields"], data))
    assert {"reference_before", "reference_after", "map_before", "map_after"} <= set(fields)
    assert set(fields["reference_before"].tolist()) == {""}
    import sqlite3  # the QGIS style: points by stratum, both reference fields picked from the class names

    with sqlite3.connect(pts) as db:
        qml = db.execute("select styleQML from layer_styles").fetchone()[0]
    assert 'name="reference_before"' in qml and 'name="reference_after"' in qml and qml.count('"ValueMap"') == 2
    from xml.sax.saxutils import quoteattr

    assert all(f"value={quoteattr(n)}" in qml for n in set(fields["map_class"].tolist()))  # e.g. "green-&gt;sealed"
    fill(pts, before, after)
    zones = write_zones(tmp_path / "zones.gpkg", [shapely.box(X0, Y0 - 5, X0 + 7.5, Y0), shapely.box(X0 + 7.5, Y0 - 10,
                                                  X0 + 15, Y0)], [1, 2])
    capsys.readouterr()
    assert main(["change", str(bp), str(ap), "--out", str(out), "--reference", str(pts), "--zones", str(zones)]) == 0
    text = capsys.readouterr().out
    assert "Error-adjusted change" in text
    d = json.loads((out / "transitions_adjusted.json").read_text())
    for t in d["transitions"]:
        assert t["adjusted"] == pytest.approx(t["mapped"], abs=1e-9) and t["ci95"] == pytest.approx(0, abs=1e-9)
    # role strata are exact for what is constant within them (green, tree, sealed, green->sealed); a building
    # change varies inside "stable sealed" (impervious -> building), so there the estimate only has no bias
    exact = ["green", "tree", "sealed", "green->sealed"] if strata == "roles" else list(d["headlines"])
    for h, v in d["headlines"].items():
        if h not in exact:
            continue
        assert v["adjusted"] == pytest.approx(v["mapped"], abs=1e-9), h
        assert v["low"] == pytest.approx(v["high"], abs=1e-9)
    g2s = d["headlines"]["green->sealed"]["mapped"]
    assert g2s == pytest.approx(np.isin(before, [LOW, TREE]).__and__(np.isin(after, [IMP, BLD, CAR])).sum() * PX * PX)
    for z in d["zones"]:
        if z["note"]:
            assert "too few points" in z["note"]
            continue
        for h, v in z["headlines"].items():
            if h not in exact:
                continue
            assert v["adjusted"] == pytest.approx(v["mapped"], abs=1e-9) and v["high"] == pytest.approx(v["low"])
    assert (out / "transitions_adjusted_zones.csv").exists()
    assert main(["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "Error-adjusted change (reference sample)" in html and 'data-headline="green-&gt;sealed"' in html


def test_map_errors_known_answer(tmp_path, capsys):
    """Every green->sealed or tree->sealed point is truly unchanged: the adjusted green->sealed area is 0 ± 0, and the
    adjusted green net change moves by exactly the mapped green->sealed area."""
    before, after = pair()
    bp, ap, out = run_change(tmp_path, before, after)
    pts = tmp_path / "pts.gpkg"
    assert main(["sample", str(out / "transitions.tif"), "--n", "300", "--min-per-class", "20",
                 "--strata", "roles", "--out", str(pts)]) == 0

    def undo(fields):
        g2s = np.isin(fields["map_class"], ["green->sealed", "tree->sealed"])  # the green role to sealed
        fields["reference_after"][g2s] = fields["reference_before"][g2s]

    fill(pts, before, after, undo)
    assert main(["change", str(bp), str(ap), "--out", str(out), "--reference", str(pts)]) == 0
    d = json.loads((out / "transitions_adjusted.json").read_text())
    h = d["headlines"]
    assert h["green->sealed"]["adjusted"] == pytest.approx(0, abs=1e-9) and h["green->sealed"]["mapped"] > 0
    assert h["green"]["adjusted"] - h["green"]["mapped"] == pytest.approx(h["green->sealed"]["mapped"])
    assert h["green"]["se"] == pytest.approx(0, abs=1e-9)  # every stratum's points agree within it


@pytest.mark.parametrize("case, message", [
    ("one_date", "only one of reference_before / reference_after"),
    ("off_map", "lie outside the maps"),
    ("one_date_sample", "no reference_before or reference_after field"),
    ("bad_class", "not in the 'isprs' class table"),
])
def test_bad_change_samples(tmp_path, capsys, case, message):
    before, after = pair()
    bp, ap, out = run_change(tmp_path, before, after)
    pts = tmp_path / "pts.gpkg"
    src = out / "transitions.tif" if case != "one_date_sample" else bp
    assert main(["sample", str(src), "--n", "100", "--out", str(pts)]) == 0
    if case != "one_date_sample":
        def edit(fields):
            if case == "one_date":
                fields["reference_after"][3] = ""
            elif case == "bad_class":
                fields["reference_before"][0] = "forest"

        fill(pts, before, after, edit)
        if case == "off_map":
            meta, _, wkb, data = pyogrio.raw.read(pts)
            moved = shapely.to_wkb(shapely.transform(shapely.from_wkb(wkb), lambda xy: xy + 1000.0))
            pyogrio.raw.write(str(pts), moved, list(data), meta["fields"], driver="GPKG", crs=meta["crs"],
                              geometry_type="Point", layer="reference_sample")
    capsys.readouterr()
    assert main(["change", str(bp), str(ap), "--out", str(out), "--reference", str(pts)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (out / "transitions_adjusted.json").exists()
    if case in ("one_date", "one_date_sample"):  # found before anything is written
        fresh = tmp_path / "fresh"
        assert main(["green", str(bp), str(ap), "--zones", str(write_zones(tmp_path / "z.gpkg", [shapely.box(
            X0, Y0 - 5, X0 + 5, Y0)], [1])), "--out", str(fresh), "--reference", str(pts)]) == 2
        assert not fresh.exists() or not any(fresh.iterdir())


def test_roles_option_and_bad_roles(tmp_path, capsys):
    before, after = pair()
    bp, ap, out = run_change(tmp_path, before, after, "--roles", "sealed=impervious_surface,building")
    d = json.loads((out / "transitions.json").read_text())
    assert d["roles"]["sealed"] == ["impervious_surface", "building"] and d["roles"]["unknown"] == ["clutter"]
    capsys.readouterr()
    assert main(["change", str(bp), str(ap), "--out", str(out), "--roles", "paved=impervious_surface"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown role 'paved'" in err and len(err.splitlines()) == 1
    assert main(["change", str(bp), str(ap), "--out", str(out), "--roles", "sealed=asphalt"]) == 2
    assert "asphalt not in the 'isprs' class table" in capsys.readouterr().err
    with pytest.raises(ClassTableError, match="'unknown' role and another"):
        ISPRS.with_roles(["unknown=clutter,car"])
    assert ISPRS.with_roles(["water="]).role("water") == []


def test_strata_need_a_transition_map(tmp_path, capsys):
    before, _ = pair()
    bp = write_map(tmp_path, before, "before.tif")
    assert main(["sample", str(bp), "--n", "50", "--strata", "roles", "--out", str(tmp_path / "p.gpkg")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a transition map of landseg change" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "p.gpkg").exists()


def test_area_roles_change_the_indicators(tmp_path, capsys):
    a = np.full((100, 100), IMP, np.uint8)
    a[:50] = CAR
    path = write_map(tmp_path, a, "cars.tif")
    zones = write_zones(tmp_path / "z.gpkg", [shapely.box(X0, Y0 - 5, X0 + 5, Y0)], [1])
    capsys.readouterr()
    assert main(["area", str(path), "--zones", str(zones), "--indicators", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["zones"][0]["sealed_share"] == pytest.approx(1.0)  # cars are sealed
    assert main(["area", str(path), "--zones", str(zones), "--indicators", "--format", "json",
                 "--roles", "sealed=impervious_surface,building"]) == 0
    assert json.loads(capsys.readouterr().out)["zones"][0]["sealed_share"] == pytest.approx(0.5)


def test_repeated_change_points_count_once_and_conflicts_are_refused(tmp_path, capsys):
    """Issue 23.16 for change samples: a labelled point repeated on the same pixel (a copied feature) is one sample
    unit, counted once with a note, so the estimate equals the one without the copy; copies labelled with
    different classes are refused in one line."""
    before, after = pair()
    bp, ap, out = run_change(tmp_path, before, after)
    pts = tmp_path / "pts.gpkg"
    assert main(["sample", str(out / "transitions.tif"), "--n", "300", "--min-per-class", "10", "--strata", "roles",
                 "--out", str(pts)]) == 0
    fill(pts, before, after)
    assert main(["change", str(bp), str(ap), "--out", str(out), "--reference", str(pts)]) == 0
    once = json.loads((out / "transitions_adjusted.json").read_text())["transitions"]
    meta, _, wkb, data = pyogrio.raw.read(pts)

    def write_with_copies(path, edit=None):
        fields = {k: np.concatenate([v, v[:3]]) for k, v in zip(meta["fields"], data)}
        if edit:
            edit(fields)
        pyogrio.raw.write(str(path), np.concatenate([wkb, wkb[:3]]), list(fields.values()), list(fields.keys()),
                          driver="GPKG", crs=meta["crs"], geometry_type="Point", layer="reference_sample")

    dup = tmp_path / "dup.gpkg"
    write_with_copies(dup)
    capsys.readouterr()
    assert main(["change", str(bp), str(ap), "--out", str(out), "--reference", str(dup)]) == 0
    assert "3 points repeat the map pixel of another point" in capsys.readouterr().err
    twice = json.loads((out / "transitions_adjusted.json").read_text())["transitions"]
    assert [t["adjusted"] for t in twice] == pytest.approx([t["adjusted"] for t in once])
    assert [t["ci95"] for t in twice] == pytest.approx([t["ci95"] for t in once], nan_ok=True)

    def relabel(fields):  # the copies get another 'after' class than their originals
        n = len(fields["reference_after"]) - 3
        fields["reference_after"][n:] = ["car" if v != "car" else "tree" for v in fields["reference_after"][:3]]

    bad = tmp_path / "bad.gpkg"
    write_with_copies(bad, relabel)
    assert main(["change", str(bp), str(ap), "--out", str(tmp_path / "o2"), "--reference", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "points on the same map pixel are labelled with different classes" in err, err
