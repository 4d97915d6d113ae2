"""Mosaics (seamless across tile borders), Ray workers, zonal areas by region, the STAC catalogue."""

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from landseg.area import zonal_areas
from landseg.area.partial import zonal_areas_by_region
from landseg.classes import ISPRS
from landseg.cli import main
from landseg.cluster import ClusterOptions
from landseg.errors import ConfigError, InputError
from landseg.inference.engine import load_engine
from landseg.io.vector import write_features
from landseg.layout import PredictPaths
from landseg.models.checkpoint import load_checkpoint
from landseg.mosaic import build_mosaic, list_tiles, predict_mosaic
from landseg.predict import PredictOptions, predict_raster

ray = pytest.importorskip("ray")

COLORS = np.array(ISPRS.colors, np.float32)
PS = 0.05
X0, Y0 = 367000.0, 5808000.0
OPTS = dict(window=128, overlap=32, batch_size=2, progress=False, previews=False)


def colour_engine(batch: np.ndarray) -> np.ndarray:
    """Known per-pixel answer (a 1x1 'model'): the ISPRS class whose colour is nearest."""
    x = batch.astype(np.float32)
    d = ((x[:, None] - COLORS[None, :, :, None, None]) ** 2).sum(2)
    e = np.exp(-(d - d.min(1, keepdims=True)) / 500)
    return e / e.sum(1, keepdims=True)


def colour_loader(model, engine="torch", device="auto", precision="auto", cache_dir=None):
    return colour_engine, load_checkpoint(model)


def killing_loader(model, engine="torch", device="auto", precision="auto", cache_dir=None):
    """The real engine, but the first call in any worker kills its process (kill -9) once per marker file."""
    eng, ckpt = load_engine(model, engine, "cpu", "fp32")
    marker = Path(os.environ["LANDSEG_TEST_KILL_MARKER"])

    def call(batch):
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return eng(batch)

    return call, ckpt


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance for the module (2 CPUs, no dashboard); workers import this test module."""
    here = str(Path(__file__).parent)
    src = str(Path(__file__).parents[1] / "src")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([p for p in (src, here, old) if p])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def write_tif(path, img, x0=X0, y0=Y0, ps=PS, crs="EPSG:32633"):
    with rasterio.open(path, "w", driver="GTiff", width=img.shape[2], height=img.shape[1], count=img.shape[0],
                       dtype="uint8", crs=crs, transform=from_origin(x0, y0, ps, ps)) as ds:
        ds.write(img)
    return path


def make_tiles(folder, rows, cols, th, tw, seed=0, skip=()):
    """An image of rows x cols tiles of th x tw pixels: (merged image with zeros in skipped tiles, tiles folder)."""
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, 6, (rows * th // 8 + 1, cols * tw // 8 + 1)).repeat(8, 0).repeat(8, 1)[: rows * th, : cols * tw]
    img = np.moveaxis(ISPRS.index_to_rgb(lab), -1, 0).copy()
    img = np.clip(img.astype(np.int16) + rng.integers(-40, 40, img.shape), 0, 255).astype(np.uint8)
    tiles = Path(folder) / "tiles"
    tiles.mkdir(parents=True)
    for i in range(rows):
        for j in range(cols):
            if (i, j) in skip:
                img[:, i * th:(i + 1) * th, j * tw:(j + 1) * tw] = 0
                continue
            write_tif(tiles / f"t{i}{j}.tif", img[:, i * th:(i + 1) * th, j * tw:(j + 1) * tw],
                      X0 + j * tw * PS, Y0 - i * th * PS)
    return img, tiles


def read_tiles(out, tiles_dir):
    return {p.stem: rasterio.open(PredictPaths.of(p, out).classes).read(1) for p in sorted(tiles_dir.glob("*.tif"))}


def assemble(out, tiles_dir, shape, th, tw):
    full = np.full(shape, 254, np.uint8)
    for name, arr in read_tiles(out, tiles_dir).items():
        i, j = int(name[1]), int(name[2])
        full[i * th:(i + 1) * th, j * tw:(j + 1) * tw] = arr
    return full


def test_known_answer_mosaic_equals_merged_raster(tmp_path, tiny_checkpoint):
    th, tw = 150, 170
    img, tiles = make_tiles(tmp_path, 3, 3, th, tw)
    model = str(tiny_checkpoint())
    opts = PredictOptions(**OPTS)
    errors = predict_mosaic(model, [tiles], tmp_path / "out", opts, echo=lambda s: None, loader=colour_loader)
    assert errors == []
    merged = write_tif(tmp_path / "merged.tif", img)
    rec = predict_raster(colour_engine, load_checkpoint(model), merged, tmp_path / "one", opts)
    one = rasterio.open(rec["classes"]).read(1)
    assert np.array_equal(assemble(tmp_path / "out", tiles, one.shape, th, tw), one)
    with rasterio.open(tmp_path / "out" / "classes.vrt") as vrt:  # the VRT over the outputs is the same map
        assert np.array_equal(vrt.read(1), one) and vrt.nodata == 255 and vrt.colormap(1)[1][:3] == (0, 0, 255)
        assert vrt.transform == rasterio.open(merged).transform
    for style in [tmp_path / "out" / "classes.qml", *(tmp_path / "out").rglob("*_classes.qml")]:
        assert 'label="building"' in style.read_text()  # QGIS legends beside the VRT and every tile
    assert len(list((tmp_path / "out").rglob("*_classes.qml"))) == len(list((tmp_path / "out").rglob("*_classes.tif")))
    rows = (tmp_path / "out" / "areas.csv").read_text()
    assert "building" in rows


def test_real_model_across_tile_borders_equals_one_raster(tmp_path, tiny_checkpoint):
    """A conv net with a receptive field > 1: same windows, same blend, so the same classes and probabilities
    (compared as uint8 probabilities, which a random net varies everywhere); a hole reads as zeros."""
    th, tw = 96, 112
    img, tiles = make_tiles(tmp_path, 2, 3, th, tw, seed=3, skip={(1, 1)})
    model = str(tiny_checkpoint())
    opts = PredictOptions(window=64, overlap=16, batch_size=1, progress=False, previews=False, probs=True)
    assert predict_mosaic(model, [str(tiles / "*.tif")], tmp_path / "out", opts, echo=lambda s: None,
                          device="cpu", precision="fp32") == []
    eng, ckpt = load_engine(model, "torch", "cpu", "fp32")
    rec = predict_raster(eng, ckpt, write_tif(tmp_path / "merged.tif", img), tmp_path / "one", opts)
    one = rasterio.open(rec["classes"]).read(1)
    one_p = rasterio.open(PredictPaths.of(tmp_path / "merged.tif", tmp_path / "one").probs).read()
    got = assemble(tmp_path / "out", tiles, one.shape, th, tw)
    covered = got != 254
    assert covered.sum() == 5 * th * tw
    assert np.array_equal(got[covered], one[covered])
    for p in tiles.glob("*.tif"):
        i, j = int(p.stem[1]), int(p.stem[2])
        probs = rasterio.open(PredictPaths.of(p, tmp_path / "out").probs).read()
        assert np.array_equal(probs, one_p[:, i * th:(i + 1) * th, j * tw:(j + 1) * tw]), p.name
    # each tile predicted on its own differs at its borders: the comparison can see seams
    solo = predict_raster(eng, ckpt, tiles / "t00.tif", tmp_path / "solo", opts)
    solo_p = rasterio.open(PredictPaths.of(tiles / "t00.tif", tmp_path / "solo").probs).read()
    assert not np.array_equal(solo_p, one_p[:, :th, :tw])
    assert solo["classes"]


def parcels(path, n=12, seed=1):
    rng = np.random.default_rng(seed)
    geoms = []
    for _ in range(n):  # boxes and a triangle, many crossing the tile borders at 150/170 px
        cx, cy = X0 + rng.uniform(3, 22), Y0 - rng.uniform(3, 19)
        geoms.append(shapely.box(cx - rng.uniform(1, 6), cy - rng.uniform(1, 6), cx + rng.uniform(1, 6), cy + 2))
    geoms.append(shapely.Polygon([(X0 + 1, Y0 - 1), (X0 + 24, Y0 - 3), (X0 + 5, Y0 - 21)]))
    write_features(path, np.array(geoms, dtype=object), {"pid": np.arange(len(geoms))}, "EPSG:32633", layer="zones")
    return path


def test_ray_equals_one_process_maps_and_parcel_areas(tmp_path, tiny_checkpoint, ray_session):
    th, tw = 150, 170
    _, tiles = make_tiles(tmp_path, 3, 3, th, tw, seed=5)
    model = str(tiny_checkpoint())
    opts = PredictOptions(**OPTS)
    lines = []
    assert predict_mosaic(model, [tiles], tmp_path / "one", opts, echo=lambda s: None, loader=colour_loader) == []
    assert predict_mosaic(model, [tiles], tmp_path / "ray", opts, echo=lines.append, loader=colour_loader,
                          cluster=ClusterOptions("local", workers=2)) == []
    assert any("9/9 tiles" in ln and "MPix/s" in ln for ln in lines)
    one, dist = read_tiles(tmp_path / "one", tiles), read_tiles(tmp_path / "ray", tiles)
    assert all(np.array_equal(one[k], dist[k]) for k in one)
    zones = parcels(tmp_path / "parcels.gpkg")
    vrt = tmp_path / "one" / "classes.vrt"
    ref = zonal_areas(vrt, zones, "pid")
    got = zonal_areas_by_region(tmp_path / "ray" / "classes.vrt", zones, "pid", cluster=ClusterOptions("local", workers=2))
    crossing = 0
    for z in ref.zones:
        g = got.zone(z.zone_id)
        np.testing.assert_allclose(g.class_m2, z.class_m2, rtol=1e-9, atol=1e-9)
        assert g.covered_share == pytest.approx(z.covered_share) and g.nodata_m2 == pytest.approx(z.nodata_m2, abs=1e-9)
        b = z.geometry.bounds
        crossing += int((b[0] - X0) // (tw * PS) != (b[2] - X0) // (tw * PS) or (Y0 - b[3]) // (th * PS) != (Y0 - b[1]) // (th * PS))
    assert crossing >= 5


def test_killed_worker_loses_nothing_and_rerun_does_only_what_is_missing(tmp_path, tiny_checkpoint, ray_session,
                                                                         monkeypatch):
    th, tw = 100, 120
    _, tiles = make_tiles(tmp_path, 2, 2, th, tw, seed=7)
    model = str(tiny_checkpoint())
    opts = PredictOptions(window=64, overlap=16, batch_size=2, progress=False, previews=False)
    ref_out = tmp_path / "ref"
    assert predict_mosaic(model, [tiles], ref_out, opts, echo=lambda s: None, device="cpu", precision="fp32") == []
    marker = tmp_path / "killed"
    monkeypatch.setenv("LANDSEG_TEST_KILL_MARKER", str(marker))  # read by killing_loader in the workers
    ray_session.shutdown()  # restart so the workers see the variable
    ray_session.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    out = tmp_path / "ray"
    t0 = time.perf_counter()
    errors = predict_mosaic(model, [tiles], out, opts, echo=lambda s: None, loader=killing_loader,
                            cluster=ClusterOptions("local", workers=2))
    assert errors == [] and marker.exists()  # one worker was killed -9 mid-tile, restarted, the tile retried
    assert time.perf_counter() - t0 < 240
    ref, got = read_tiles(ref_out, tiles), read_tiles(out, tiles)
    assert all(np.array_equal(ref[k], got[k]) for k in ref)
    assert not list(out.glob(".*.part*"))  # no temp file of the killed worker left as an output
    # interrupted run: two class maps missing -> the rerun predicts only those two
    for name in ("t01", "t10"):
        PredictPaths.of(tiles / f"{name}.tif", out).classes.unlink()
    lines = []
    assert predict_mosaic(model, [tiles], out, opts, echo=lines.append, loader=killing_loader,
                          cluster=ClusterOptions("local", workers=2)) == []
    assert sum("already done" in ln for ln in lines) == 2 and sum(": done (" in ln for ln in lines) == 2
    got = read_tiles(out, tiles)
    assert all(np.array_equal(ref[k], got[k]) for k in ref)


def test_stac_catalogue_reads_back(tmp_path, tiny_checkpoint):
    pystac = pytest.importorskip("pystac")
    _, tiles = make_tiles(tmp_path, 1, 2, 64, 80)
    opts = PredictOptions(**{**OPTS, "previews": True})
    out = tmp_path / "maps"
    assert predict_mosaic(str(tiny_checkpoint()), [tiles], out, opts, echo=lambda s: None, loader=colour_loader) == []
    cat = pystac.Catalog.from_file(str(out / "catalog.json"))
    items = sorted(cat.get_items(recursive=True), key=lambda i: i.id)
    assert [i.id for i in items] == ["t00", "t01"]
    it = items[1]
    assert it.properties["proj:code"] == "EPSG:32633" and it.properties["proj:shape"] == [64, 80]
    assert it.properties["proj:transform"][:3] == [PS, 0.0, X0 + 80 * PS]
    lon, lat = it.geometry["coordinates"][0][0]
    assert 13.0 < lon < 13.1 and 52.3 < lat < 52.5  # UTM 33N (367000, 5808000): Potsdam
    classes = it.assets["classes"].extra_fields["classification:classes"]
    assert classes[1]["value"] == 1 and classes[1]["name"] == "building" and classes[1]["color_hint"] == "0000FF"
    assert {"classes", "preview", "overlay", "areas", "predict"} <= set(it.assets)
    href = it.assets["classes"].get_absolute_href()
    assert Path(href).exists() and not it.assets["classes"].href.startswith("/")
    assert any(e.endswith("classification/v2.0.0/schema.json") or "classification" in e for e in it.stac_extensions)


def test_mixed_crs_or_pixel_size_refused_with_names(tmp_path):
    img = np.zeros((3, 32, 32), np.uint8) + 100
    a = write_tif(tmp_path / "a.tif", img)
    b = write_tif(tmp_path / "b.tif", img, x0=X0 + 32 * PS, crs="EPSG:32632")
    c = write_tif(tmp_path / "c.tif", img, x0=X0 + 64 * PS, ps=0.1)
    with pytest.raises(InputError) as e:
        build_mosaic([a, b], tmp_path / "m.vrt")
    assert "a.tif" in str(e.value) and "b.tif" in str(e.value) and "EPSG:32632" in str(e.value)
    with pytest.raises(InputError, match=r"0\.1 x 0\.1 pixels: c\.tif"):
        build_mosaic([a, c], tmp_path / "m.vrt")
    d = write_tif(tmp_path / "d.tif", img, x0=X0 + 32.5 * PS)
    with pytest.raises(InputError, match="off the mosaic's pixel grid"):
        build_mosaic([a, d], tmp_path / "m.vrt")
    lst = tmp_path / "tiles.txt"
    lst.write_text("a.tif\n# comment\nb.tif\n")
    assert [p.name for p in list_tiles([lst])] == ["a.tif", "b.tif"]


def test_unreadable_tile_reported_others_done(tmp_path, tiny_checkpoint, capsys):
    _, tiles = make_tiles(tmp_path, 1, 3, 64, 64)
    (tiles / "t0x.tif").write_bytes(b"not a tiff")
    code = main(["predict", str(tiny_checkpoint()), str(tiles), "--mosaic", "--out", str(tmp_path / "out"),
                 "--window", "64", "--overlap", "16", "--no-previews"])
    err = capsys.readouterr().err
    assert code == 2 and "t0x.tif" in err and "not a readable raster" in err
    assert all(PredictPaths.of(tiles / f"t0{j}.tif", tmp_path / "out").classes.exists() for j in range(3))


def test_unreachable_ray_address_fails_fast(tmp_path, tiny_checkpoint, capsys):
    _, tiles = make_tiles(tmp_path, 1, 1, 64, 64)
    t0 = time.perf_counter()
    code = main(["predict", str(tiny_checkpoint()), str(tiles), "--mosaic", "--ray", "127.0.0.1:9", "--out",
                 str(tmp_path / "out")])
    assert code == 2 and "no Ray cluster answers there" in capsys.readouterr().err
    assert time.perf_counter() - t0 < 30
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        from landseg.cluster import check_reachable
        check_reachable("nonsense")


@pytest.mark.parametrize("shift", [(0, 128), (64, 200), (0, 0)])
def test_overlapping_tiles_are_counted_once(tmp_path, tiny_checkpoint, shift):
    """Issue 23.1: two 256² tiles overlapping (by half, by a corner, or fully): the area table equals the merged
    grid's (classes.vrt) pixel for pixel, not the sum of the tiles."""
    rng = np.random.default_rng(1)
    lab = rng.integers(0, 6, (64, 64)).repeat(8, 0).repeat(8, 1)
    img = np.moveaxis(ISPRS.index_to_rgb(lab), -1, 0).copy()
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    dr, dc = shift
    write_tif(tiles / "a.tif", img[:, :256, :256])
    write_tif(tiles / "b.tif", img[:, dr:dr + 256, dc:dc + 256], X0 + dc * PS, Y0 - dr * PS)
    notes = []
    out = tmp_path / "out"
    assert predict_mosaic(str(tiny_checkpoint()), [tiles], out, PredictOptions(**OPTS), echo=lambda s: None,
                          warn=notes.append, loader=colour_loader) == []
    with rasterio.open(out / "classes.vrt") as vrt:
        merged = vrt.read(1)
    valid = merged != 255
    areas = json.loads((out / "areas.json").read_text())
    px = sum(c["pixels"] for c in areas["classes"])
    assert px == valid.sum() == 2 * 256 * 256 - (256 - dr) * (256 - dc)
    assert abs(sum(c["area_m2"] for c in areas["classes"]) - valid.sum() * PS * PS) < 1e-6
    for c in areas["classes"]:
        assert c["pixels"] == int((merged == c["index"]).sum()), c["name"]
    assert any("a.tif and b.tif" in n and "merged grid" in n for n in notes)


def _corrupt_block(path, row, col):
    """Overwrite the compressed bytes of block (row, col) of a tiled GeoTIFF with garbage (the header stays valid)."""
    with rasterio.open(path) as ds:
        off = int(ds.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1))
        size = int(ds.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=1))
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(b"\xff" * size)


@pytest.mark.parametrize("damage", ["truncated", "middle_block"])
def test_one_damaged_tile_is_named_and_its_neighbour_is_not_blamed(tmp_path, tiny_checkpoint, capsys, damage):
    """Issue 23.8: with one truncated tile both tiles failed and both messages blamed mosaic_input.vrt. Now the bad
    file is named; a truncated tile is left out up front and the intact tile is predicted; a tile corrupt inside is
    named also when a neighbour reads it across the border."""
    rng = np.random.default_rng(0)
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for j in range(2):
        img = rng.integers(0, 255, (3, 64, 64)).astype(np.uint8)
        with rasterio.open(tiles / f"t0{j}.tif", "w", driver="GTiff", width=64, height=64, count=3, dtype="uint8",
                           crs="EPSG:32633", transform=from_origin(X0 + j * 64 * PS, Y0, PS, PS), tiled=True,
                           blockxsize=16, blockysize=16, compress="deflate") as ds:
            ds.write(img)
    bad = tiles / "t01.tif"
    if damage == "truncated":
        os.truncate(bad, os.path.getsize(bad) // 2)
    else:
        _corrupt_block(bad, 1, 0)
    out = tmp_path / "out"
    code = main(["predict", str(tiny_checkpoint()), str(tiles), "--mosaic", "--out", str(out), "--window", "32",
                 "--overlap", "8", "--no-previews"])
    err = capsys.readouterr().err
    # the truncation is caught at open (io/raster: "truncated or corrupt") or on reading ("corrupt or truncated")
    assert code == 2 and "t01.tif" in err and ("corrupt or truncated" in err or "truncated or corrupt" in err), err
    assert "mosaic_input.vrt: cannot read" not in err, err
    print(err)
    for line in err.splitlines():
        if "t00.tif" in line and "cannot read" in line:  # t00 may fail only by naming t01 as the file it could not read
            assert "t01.tif: cannot read pixel data" in line and "context of t00.tif" in line, line
    if damage == "truncated":  # left out up front: the intact tile is done
        assert PredictPaths.of(tiles / "t00.tif", out).classes.exists()
        assert not PredictPaths.of(bad, out).classes.exists()


def test_stac_links_with_a_relative_out_and_the_acquisition_datetime(tmp_path, tiny_checkpoint, monkeypatch, capsys):
    """Issue 23.11: with a relative --out (as the README writes it) every asset link of every item resolves to the file;
    an item's datetime is the acquisition time from the image's metadata, else --datetime, else the processing time
    with a note, and `landseg:datetime_source` says which."""
    pystac = pytest.importorskip("pystac")
    _, tiles = make_tiles(tmp_path, 1, 2, 64, 80)
    with rasterio.open(tiles / "t00.tif", "r+") as ds:
        ds.update_tags(TIFFTAG_DATETIME="2021:06:15 10:20:30")
    monkeypatch.chdir(tmp_path)
    model = str(tiny_checkpoint())
    assert main(["predict", model, "tiles", "--mosaic", "--out", "maps", "--window", "64", "--overlap", "16"]) == 0
    err = capsys.readouterr().err
    assert "t01.tif" in err and "is the processing time" in err and "--datetime" in err, err
    cat = pystac.Catalog.from_file("maps/catalog.json")
    items = {i.id: i for i in cat.get_items(recursive=True)}
    for it in items.values():
        for key, asset in it.assets.items():
            assert not asset.href.startswith("/"), asset.href
            assert Path(asset.get_absolute_href()).is_file(), (it.id, key, asset.get_absolute_href())
            assert Path(asset.get_absolute_href()).resolve().parent == (tmp_path / "maps").resolve()
    assert items["t00"].datetime.isoformat() == "2021-06-15T10:20:30+00:00"
    assert "TIFFTAG_DATETIME" in items["t00"].properties["landseg:datetime_source"]
    assert "processing time" in items["t01"].properties["landseg:datetime_source"]
    assert main(["predict", model, "tiles", "--mosaic", "--out", "maps", "--window", "64", "--overlap", "16",
                 "--datetime", "2020-03-01"]) == 0
    items = {i.id: i for i in pystac.Catalog.from_file("maps/catalog.json").get_items(recursive=True)}
    assert {i.datetime.isoformat() for i in items.values()} == {"2020-03-01T00:00:00+00:00"}
    assert {i.properties["landseg:datetime_source"] for i in items.values()} == {"--datetime"}
    assert main(["predict", model, "tiles", "--mosaic", "--out", "maps", "--datetime", "yesterday"]) == 2
    assert "--datetime expects an ISO 8601 date" in capsys.readouterr().err
