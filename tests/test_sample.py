"""landseg sample: allocation, determinism, bounded strip reading, truth fill, nodata, design sidecar."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from landseg.accuracy import allocate, draw_sample
from landseg.area import LabelReader
from landseg.classes import ISPRS, ClassTable
from landseg.cli import main
from landseg.errors import InputError
from landseg.io.points import read_points
from landseg.layout import design_path


def _map(make_geotiff, seed=0, shape=(300, 400), name="map.tif"):
    rng = np.random.default_rng(seed)
    cls = rng.choice(6, size=shape, p=[0.45, 0.3, 0.15, 0.07, 0.02, 0.01]).astype(np.uint8)
    cls[:20, :30] = 255  # nodata corner
    return make_geotiff(cls, name=name, nodata=255), cls


def test_allocation_proportional_with_floor():
    sizes = np.array([900_000, 80_000, 15_000, 5_000, 0])
    a = allocate(sizes, 600, 50)
    assert a.sum() == 600 and a[4] == 0
    assert (a[1:4] == 50).sum() >= 2 and a[0] > 400  # rare strata at the floor, the rest proportional
    assert allocate(sizes, 100, 50).tolist() == [25, 25, 25, 25, 0]  # floor lowered to n / strata
    assert allocate(np.array([10, 1000]), 100, 50).tolist() == [10, 90]  # capped by the stratum's pixels
    assert allocate(np.array([3, 4]), 100).tolist() == [3, 4]
    big = allocate(np.array([1e9, 1e9, 2e9]), 1000, 0)
    assert big.tolist() == [250, 250, 500]


def test_sample_is_deterministic_and_stratified(make_geotiff, tmp_path):
    path, cls = _map(make_geotiff)
    d1 = draw_sample(path, tmp_path / "a.gpkg", 200, seed=7, table="isprs", min_per_class=20)
    d2 = draw_sample(path, tmp_path / "b.gpkg", 200, seed=7, table="isprs", min_per_class=20, strip_rows=7)
    d3 = draw_sample(path, tmp_path / "c.gpkg", 200, seed=8, table="isprs", min_per_class=20)
    a, b, c = (read_points(tmp_path / f"{n}.gpkg") for n in "abc")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])  # strip height does not matter
    assert not np.array_equal(a[0], c[0])
    assert d1.allocation.tolist() == d2.allocation.tolist() == d3.allocation.tolist()
    f = a[2]
    row, col = f["row"].astype(int), f["col"].astype(int)
    assert (cls[row, col] == f["map_index"]).all()  # each point lies in its stratum
    assert (cls[row, col] != 255).all()  # never on nodata
    assert len(set(zip(row, col))) == 200  # without replacement
    assert np.bincount(f["map_index"], minlength=6).tolist() == d1.allocation.tolist()
    assert list(f["map_class"][:3]) == [ISPRS.names[i] for i in f["map_index"][:3]]
    assert set(f["reference"]) == {""}
    # pixel centres in the map's CRS
    assert a[0][0] == pytest.approx(367000 + (col[0] + 0.5) * 0.05)
    assert a[1][0] == pytest.approx(5808000 - (row[0] + 0.5) * 0.05)
    design = json.loads(design_path(tmp_path / "a.gpkg").read_text())
    assert design["seed"] == 7 and design["n_drawn"] == 200
    assert [s["pixels"] for s in design["strata"]] == np.bincount(cls[cls < 6], minlength=6).tolist()
    assert design["strata"][0]["area_m2"] == pytest.approx(design["strata"][0]["pixels"] * 0.0025)


def test_sample_reads_in_strips(make_geotiff, tmp_path, monkeypatch):
    path, _ = _map(make_geotiff)
    heights = []
    original = LabelReader.index

    def spy(self, window):
        heights.append(window.height)
        return original(self, window)

    monkeypatch.setattr(LabelReader, "index", spy)
    draw_sample(path, tmp_path / "p.gpkg", 50, table="isprs", strip_rows=16)
    assert heights and max(heights) <= 16


def test_truth_fills_reference_and_cli(make_geotiff, tmp_path, capsys):
    path, cls = _map(make_geotiff)
    truth = cls.copy()
    truth[cls == 1] = 0  # every building is impervious in the truth
    tpath = make_geotiff(truth, name="truth.tif", nodata=255)
    out = tmp_path / "p.gpkg"
    assert main(["sample", str(path), "--n", "120", "--out", str(out), "--class-table", "isprs",
                 "--truth", str(tpath), "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert "120 points (seed 3)" in text and "building" in text
    x, y, f, crs = read_points(out)
    idx = f["map_index"]
    assert (f["reference"][idx == 1] == "impervious_surface").all()
    assert (f["reference"][idx == 2] == "low_vegetation").all()
    assert "32633" in crs
    assert main(["area", str(path), "--class-table", "isprs", "--reference", str(out), "--format", "json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["classes"][1]["users_accuracy"] == 0.0
    assert res["classes"][1]["adjusted_m2"] == pytest.approx(0.0)


def test_sample_without_georeferencing(make_geotiff, tmp_path):
    path, _ = _map(make_geotiff, name="plain.tif")
    plain = make_geotiff(np.zeros((10, 10), np.uint8) + 2, name="nogeo.tif", crs=None)
    d = draw_sample(plain, tmp_path / "p.gpkg", 5, table="isprs")
    assert np.isnan(d.stratum_m2[2]) and d.stratum_pixels[2] == 100
    assert json.loads(design_path(tmp_path / "p.gpkg").read_text())["strata"][2]["area_m2"] is None


def test_sample_rejects_bad_options(make_geotiff, tmp_path, capsys):
    path, _ = _map(make_geotiff)
    assert main(["sample", str(path), "--n", "0", "--out", str(tmp_path / "p.gpkg"), "--class-table", "isprs"]) == 2
    assert "argument --n: expected a whole number >= 1, got 0" in capsys.readouterr().err
    empty = make_geotiff(np.full((5, 5), 255, np.uint8), name="empty.tif", nodata=255)
    assert main(["sample", str(empty), "--n", "5", "--out", str(tmp_path / "p.gpkg"), "--class-table", "isprs"]) == 2
    assert "nothing to sample" in capsys.readouterr().err


def test_class_roles_round_trip(tmp_path):
    from landseg.classes import DUBAI
    from landseg.io.labels import load_class_table

    assert [ISPRS.names[i] for i in ISPRS.role("sealed")] == ["building", "impervious_surface", "car"]
    assert ISPRS.role("water") == [] and DUBAI.role("tree") == []
    assert [DUBAI.names[i] for i in DUBAI.role("green")] == ["vegetation"]
    t = ClassTable.from_dict(ISPRS.to_dict())
    assert t.roles == ISPRS.roles and t == ISPRS
    y = tmp_path / "t.yaml"
    y.write_text("name: mine\nclasses:\n  - {name: roof, color: '#ff0000'}\n  - {name: lawn, color: [0, 200, 0]}\n"
                 "  - {name: pond, color: [0, 0, 200]}\nroles:\n  building: roof\n  green: [lawn]\n  water: [pond]\n")
    mine = load_class_table(y)
    assert mine.role("building") == [0] and mine.role("green") == [1] and mine.role("water") == [2]
    assert ClassTable.from_dict(mine.to_dict()).role_map() == {"building": ["roof"], "green": ["lawn"], "water": ["pond"]}
    from landseg.errors import ClassTableError

    with pytest.raises(ClassTableError, match="unknown role 'forest'"):
        ClassTable.from_dict({"classes": [{"name": "a", "color": [1, 2, 3]}], "roles": {"forest": ["a"]}})
    with pytest.raises(ClassTableError, match="names unknown classes"):
        ClassTable.from_dict({"classes": [{"name": "a", "color": [1, 2, 3]}], "roles": {"green": ["b"]}})


@pytest.mark.parametrize("kind", ["crs", "shifted", "pixel", "size", "no_georef"])
def test_truth_off_the_maps_grid_is_refused(make_geotiff, tmp_path, capsys, kind):
    """Issue 23.3: a truth raster in another CRS or place (same pixel count) used to fill `reference` by row/column
    from the wrong place; it must be on the map's grid or be refused, naming what differs."""
    path, cls = _map(make_geotiff)
    tr = rasterio.transform.from_origin(367000, 5808000, 0.05, 0.05)
    kw = {"crs": dict(crs="EPSG:3857"), "shifted": dict(transform=rasterio.transform.from_origin(367100, 5808000, 0.05, 0.05)),
          "pixel": dict(transform=rasterio.transform.from_origin(367000, 5808000, 0.1, 0.1)),
          "size": {}, "no_georef": dict(crs=None)}[kind]
    arr = cls[:, :-4] if kind == "size" else cls
    tpath = make_geotiff(arr, name="truth.tif", nodata=255, **({"transform": tr} | kw))
    out = tmp_path / "p.gpkg"
    assert main(["sample", str(path), "--n", "20", "--out", str(out), "--class-table", "isprs",
                 "--truth", str(tpath)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--truth truth.tif is not on the grid of" in err, err
    want = {"crs": "CRS EPSG:3857 vs EPSG:32633", "shifted": "origin", "pixel": "pixel 0.1 vs 0.05", "size": "size",
            "no_georef": "is not"}[kind]
    assert want in err, err
    assert not out.exists()


def test_an_existing_sample_is_not_overwritten(make_geotiff, tmp_path, capsys):
    """Issue 23.10: `sample --out` silently replaced an existing (possibly labelled) sample; now refused without
    --overwrite, saying how many points carry a reference label, and the file is kept byte for byte."""
    import pyogrio

    path, cls = _map(make_geotiff)
    tpath = make_geotiff(cls, name="truth.tif", nodata=255)
    for out in (tmp_path / "p.gpkg", tmp_path / "q.geojson"):
        assert main(["sample", str(path), "--n", "30", "--out", str(out), "--class-table", "isprs",
                     "--truth", str(tpath)]) == 0
        before = out.read_bytes()
        capsys.readouterr()
        assert main(["sample", str(path), "--n", "10", "--out", str(out), "--class-table", "isprs", "--seed", "9"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "already exists (a sample of 30 points, 30 with a reference label" in err, err
        assert "--overwrite" in err and out.read_bytes() == before
        assert main(["sample", str(path), "--n", "10", "--out", str(out), "--class-table", "isprs", "--overwrite"]) == 0
        assert pyogrio.read_info(out)["features"] == 10
    # only the design sidecar left (the points were moved away): still refused, the sidecar is named
    out = tmp_path / "p.gpkg"
    out.unlink()
    with pytest.raises(InputError, match="p_design.json: already exists"):
        draw_sample(path, out, 10, table="isprs")


def test_a_floor_that_cannot_be_met_is_said(make_geotiff, tmp_path, capsys):
    """Issue 23 item 20: --n 10 --min-per-class 50 silently gave 1-3 points per class."""
    path, _ = _map(make_geotiff)
    assert main(["sample", str(path), "--n", "10", "--min-per-class", "50", "--out", str(tmp_path / "p.gpkg"),
                 "--class-table", "isprs"]) == 0
    out, err = capsys.readouterr()
    assert "note: --min-per-class 50 cannot be met: 10 points over 6 mapped classes" in err
    assert "draw at least 300 points (--n) to give every class 50" in err and "note:" not in out
    design = json.loads(design_path(tmp_path / "p.gpkg").read_text())
    assert any("cannot be met" in n for n in design["notes"])
    # a class with fewer pixels than the floor: all of them drawn, and said
    cls = np.zeros((100, 100), np.uint8)
    cls[0, :7] = 4  # 7 car pixels
    small = make_geotiff(cls, name="small.tif", nodata=255)
    assert main(["sample", str(small), "--n", "100", "--min-per-class", "20", "--out", str(tmp_path / "s.gpkg"),
                 "--class-table", "isprs"]) == 0
    err = capsys.readouterr().err
    assert "1 mapped classes hold fewer pixels than --min-per-class 20, so all their pixels are drawn: car (7 px)" in err
    # a floor that is met: no note
    assert main(["sample", str(path), "--n", "600", "--min-per-class", "20", "--out", str(tmp_path / "q.gpkg"),
                 "--class-table", "isprs"]) == 0
    assert "cannot be met" not in capsys.readouterr().err
