"""landseg change: transition matrices with known differences, other grids, zones, mismatched tables."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from landseg.area import CLASS_TABLE_TAG, class_areas, write_features
from landseg.change import detect_change, transition_table
from landseg.classes import DUBAI, ISPRS
from landseg.cli import main
from landseg.errors import InputError

X0, Y0, PX = 367000.0, 5808000.0, 0.05
K = ISPRS.num_classes


def _classmap(make_geotiff, arr, name, table=ISPRS, transform=None, crs="EPSG:32633"):
    return make_geotiff(arr.astype(np.uint8), name=name, nodata=255, crs=crs,
                        transform=transform or from_origin(X0, Y0, PX, PX))


def _tag(path, table=ISPRS):
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(table.to_dict())})
    return path


def _pair(seed=0, shape=(120, 150)):
    rng = np.random.default_rng(seed)
    before = rng.integers(0, K, shape)
    after = before.copy()
    change = rng.random(shape) < 0.2
    after[change] = rng.integers(0, K, int(change.sum()))
    before[:5, :5] = 255
    after[-4:, -6:] = 255
    return before, after


def _expected(before, after):
    ok = (before < K) & (after < K)
    return np.bincount(before[ok] * K + after[ok], minlength=K * K).reshape(K, K)


def test_same_grid_matrix_map_and_tables(make_geotiff, tmp_path, capsys):
    b, a = _pair()
    bp, ap = _tag(_classmap(make_geotiff, b, "before.tif")), _tag(_classmap(make_geotiff, a, "after.tif"))
    out = tmp_path / "chg"
    assert main(["change", str(bp), str(ap), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "green->sealed" in text and "transitions.tif" in text
    exp = _expected(b, a)
    data = json.loads((out / "transitions.json").read_text())
    assert data["matrix_pixels"] == exp.tolist()
    assert np.allclose(data["matrix_m2"], exp * PX * PX)
    assert data["alignment"] is None and data["nodata_pixels"] == int(((b == 255) | (a == 255)).sum())
    green, sealed = [2, 3], [0, 1, 4]  # ISPRS roles: car is sealed, clutter (5) unknown
    assert data["headline_m2"]["green->sealed"]["area"] == pytest.approx(exp[np.ix_(green, sealed)].sum() * PX * PX)
    bld = data["headline_m2"]["building"]
    known = [0, 2, 3, 4]  # neither building nor clutter: a change from/to clutter is no known gain or loss
    assert bld["gain"] == pytest.approx(exp[known, 1].sum() * PX * PX)
    assert bld["net"] == pytest.approx((exp[known, 1].sum() - exp[1, known].sum()) * PX * PX)
    unk = data["headline_m2"]["unknown"]
    assert unk["from"] == pytest.approx(exp[5, :5].sum() * PX * PX) and unk["to"] == pytest.approx(exp[:5, 5].sum() * PX * PX)
    with rasterio.open(out / "transitions.tif") as ds:
        code = ds.read(1)
        assert ds.dtypes[0] == "uint8" and ds.nodata == 255 and ds.crs.to_epsg() == 32633
        assert ds.tags()["CLASS_7"] == "building->building" and "LANDSEG_CHANGE" in ds.tags()
        assert ds.colormap(1)[8][:3] == transition_table(ISPRS).colors[8]
    ok = (b < K) & (a < K)
    assert (code[ok] == (b * K + a)[ok]).all() and (code[~ok] == 255).all()
    csv_lines = (out / "transitions.csv").read_text().splitlines()
    assert csv_lines[0] == "from,to,pixels,area_m2,area_ha" and len(csv_lines) == 1 + K * K
    # the transition map is itself a class map: landseg area measures it
    areas = class_areas(out / "transitions.tif")
    assert areas.classes[1].name == "impervious_surface->building" and areas.classes[1].pixels == exp[0, 1]


def test_after_shifted_by_whole_pixels(make_geotiff, tmp_path):
    b, truth_after = _pair(1)
    dy, dx = 2, 3
    shifted = np.full_like(truth_after, 4)  # after map starts 3 px east, 2 px south of the before map
    shifted[:-dy, :-dx] = truth_after[dy:, dx:]
    bp = _classmap(make_geotiff, b, "before.tif")
    ap = _classmap(make_geotiff, shifted, "after.tif", transform=from_origin(X0 + dx * PX, Y0 - dy * PX, PX, PX))
    res = detect_change(bp, ap, tmp_path / "out", table="isprs")
    expected_after = np.full_like(truth_after, 255)
    expected_after[dy:, dx:] = truth_after[dy:, dx:]
    assert res.pixels.tolist() == _expected(b, expected_after).tolist()
    assert "resampled" in res.alignment and "nearest" in res.alignment


def test_after_in_another_crs(make_geotiff, tmp_path):
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    b = np.kron(np.random.default_rng(2).integers(0, K, (12, 15)), np.ones((10, 10), int))
    bp = _classmap(make_geotiff, b, "before.tif")
    src_t = from_origin(X0, Y0, PX, PX)
    dst_t, w, h = calculate_default_transform("EPSG:32633", "EPSG:4326", 150, 120,
                                              *rasterio.transform.array_bounds(120, 150, src_t), resolution=PX / 200_000)
    a = np.full((h, w), 255, np.uint8)
    reproject(b.astype(np.uint8), a, src_transform=src_t, src_crs="EPSG:32633", dst_transform=dst_t,
              dst_crs="EPSG:4326", resampling=Resampling.nearest, dst_nodata=255)
    ap = _classmap(make_geotiff, a, "after_4326.tif", transform=dst_t, crs="EPSG:4326")
    res = detect_change(bp, ap, tmp_path / "out", table="isprs")
    assert "reprojected" in res.alignment
    assert np.trace(res.pixels) / res.pixels.sum() > 0.97  # unchanged, up to resampling at block edges
    assert res.pixels.sum() > 0.97 * b.size


def test_zones_matrices(make_geotiff, tmp_path):
    b, a = _pair(3)
    bp, ap = _classmap(make_geotiff, b, "before.tif"), _classmap(make_geotiff, a, "after.tif")
    boxes = [(10, 20, 40, 60), (50, 0, 120, 30)]  # (row0, col0, row1, col1), pixel-aligned rectangles
    geoms = np.array([shapely.box(X0 + c0 * PX, Y0 - r1 * PX, X0 + c1 * PX, Y0 - r0 * PX) for r0, c0, r1, c1 in boxes])
    zones = tmp_path / "zones.gpkg"
    write_features(zones, geoms, {"name": np.array(["north", "south"], dtype=object)}, "EPSG:32633")
    res = detect_change(bp, ap, tmp_path / "out", table="isprs", zones=zones, zone_id="name")
    for z, (r0, c0, r1, c1) in zip(res.zones, boxes):
        assert z.pixels.tolist() == _expected(b[r0:r1, c0:c1], a[r0:r1, c0:c1]).tolist()
    assert [z.zone_id for z in res.zones] == ["north", "south"]
    lines = (tmp_path / "out" / "transitions_zones.csv").read_text().splitlines()
    assert lines[0].startswith("name,from,to") and len(lines) == 1 + 2 * K * K
    # the zones as a GeoPackage styled for QGIS (issue 21: change per zone): the same figures as the matrices
    import sqlite3

    import pyogrio.raw

    gpkg = tmp_path / "out" / "transitions_zones.gpkg"
    assert gpkg in res.outputs
    meta, _, wkb, cols = pyogrio.raw.read(gpkg)
    got = dict(zip(meta["fields"], cols))
    assert list(got["name"]) == ["north", "south"] and wkb is not None and len(wkb) == 2
    for i, (z, (r0, c0, r1, c1)) in enumerate(zip(res.zones, boxes)):
        bb, aa = b[r0:r1, c0:c1], a[r0:r1, c0:c1]
        assert got["compared_px"][i] == bb.size and got["changed_px"][i] == int((bb != aa).sum())
        assert got["changed_m2"][i] == pytest.approx((bb != aa).sum() * PX * PX)
        assert got["changed_share"][i] == pytest.approx((bb != aa).mean())
        off = np.where(~np.eye(K, dtype=bool), z.pixels, 0)
        top = np.unravel_index(int(np.argmax(off)), off.shape)
        assert got["main_change"][i] == f"{ISPRS.names[top[0]]}->{ISPRS.names[top[1]]}"
    with sqlite3.connect(gpkg) as db:
        styles = {r[0]: r[1] for r in db.execute("select styleName, useAsDefault from layer_styles")}
    assert styles == {"changed_share": 1}


def test_different_class_tables_refused(make_geotiff, tmp_path, capsys):
    b, a = _pair()
    bp = _tag(_classmap(make_geotiff, b, "before.tif"))
    ap = _tag(_classmap(make_geotiff, np.minimum(a, 4), "after.tif"), DUBAI)
    assert main(["change", str(bp), str(ap), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "different class tables" in err and "'dubai'" in err


def test_temp_folder_of_a_killed_run_is_removed(make_geotiff, tmp_path):
    import subprocess
    import sys

    b, a = _pair(3)
    bp = _tag(_classmap(make_geotiff, b, "before.tif"))
    ap = _tag(_classmap(make_geotiff, a, "after.tif"))
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out / f".landseg-{dead.pid}-abcd1234"  # what a kill -9 during `landseg change` leaves
    stale.mkdir()
    (stale / "transitions.tif").write_bytes(b"half a raster")
    assert main(["change", str(bp), str(ap), "--out", str(out)]) == 0
    assert not stale.exists() and not [p for p in out.iterdir() if p.name.startswith(".landseg-")]


@pytest.mark.parametrize("where", ["east", "other_crs_far", "overlap_all_nodata"])
def test_maps_that_do_not_overlap_are_refused(make_geotiff, tmp_path, capsys, where):
    """Issue 23.9: `change` on maps of different places gave exit 0 and all-zero matrices. Now one line saying so,
    exit 2, no outputs; also when the footprints overlap but no pixel holds a class in both."""
    b, a = _pair(3)
    bp = _classmap(make_geotiff, b, "before.tif")
    if where == "east":  # right next to it: touching edges, no shared pixel
        ap = _classmap(make_geotiff, a, "after.tif", transform=from_origin(X0 + 150 * PX, Y0, PX, PX))
    elif where == "other_crs_far":  # another CRS, another continent
        ap = _classmap(make_geotiff, a, "after.tif", transform=from_origin(-70.0, -30.0, 1e-6, 1e-6), crs="EPSG:4326")
    else:
        a2 = np.full_like(a, 255)
        a2[:, :40] = a[:, :40]
        b2 = b.copy()
        b2[:, :40] = 255
        bp = _classmap(make_geotiff, b2, "before.tif")
        ap = _classmap(make_geotiff, a2, "after.tif")
    out = tmp_path / "out"
    with pytest.raises(InputError, match="do not overlap|no pixel holds a class in both maps"):
        detect_change(bp, ap, out, table="isprs")
    assert main(["change", str(bp), str(ap), "--out", str(out), "--class-table", "isprs"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing to compare" in err, err
    assert not (out / "transitions.tif").exists() and not (out / "transitions.csv").exists()
    assert [p.name for p in out.iterdir()] == []
