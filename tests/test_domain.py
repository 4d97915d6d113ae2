"""Issue 20: the domain record of checkpoints, predict's domain check, train --init, prepare vector."""

import json

import numpy as np
import pytest
import rasterio
import rasterio.features
import shapely
import torch
from pyogrio.raw import write
from safetensors import safe_open
from safetensors.torch import save_file
from synthetic import potsdam_download

from landseg.assets import SAMPLES
from landseg.classes import ISPRS, ClassTable
from landseg.cli import main
from landseg.data.dataset import RandomWindows
from landseg.data.prepare import load_manifest
from landseg.io.vector import transform_geoms
from landseg.models.build import build_model
from landseg.models.catalog import model_arch
from landseg.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from landseg.models.domain import HIST_BINS, InputStats, check_domain, colour_counts, record_from_counts
from landseg.train import init_weights

FAST = ["--model", "tiny", "--window", "64", "--batch-size", "8", "--num-workers", "0", "--set", "val_window=128",
        "--set", "val_overlap=32", "--epochs", "1", "--windows-per-epoch", "16"]


def _record(bands=3):
    img = np.random.default_rng(0).integers(60, 200, (bands, 256, 256)).astype(np.uint8)
    hist = np.stack([np.bincount(b.ravel(), minlength=256) for b in img])
    return record_from_counts(hist, colour_counts(img), pixel_size=0.5, band_meaning="rgb", classes=list(ISPRS.names),
                              description="test imagery")


# ------------------------------------------------------------------------------------------ record
def test_domain_record_round_trip_and_old_checkpoints(tiny_checkpoint, tmp_path, capsys):
    path = tiny_checkpoint()
    old = load_checkpoint(path)
    assert old.domain is None
    unknown = old.domain_or_unknown()
    assert unknown.description == "unknown" and unknown.pixel_size is None and unknown.band_meaning == "rgb"
    old.domain = _record()
    save_checkpoint(old, tmp_path / "with.safetensors")
    ck = load_checkpoint(tmp_path / "with.safetensors")
    assert ck.domain == old.domain and len(ck.domain.band_hist[0]) == HIST_BINS
    assert abs(sum(ck.domain.band_hist[2]) - 1) < 1e-4 and ck.domain.colour_cells


@pytest.mark.parametrize("field, value", [("band_hist", [[0.5] * 16] * 3), ("pixel_size", -1), ("band_meaning", "irrgb"),
                                          ("band_mean", [1, 2]), ("colour_cells", [99999]), ("classes", "x")])
def test_corrupt_domain_record_is_one_line(tiny_checkpoint, make_geotiff, tmp_path, capsys, field, value):
    ck = load_checkpoint(tiny_checkpoint())
    ck.domain = _record()
    save_checkpoint(ck, tmp_path / "m.safetensors")
    with safe_open(str(tmp_path / "m.safetensors"), framework="pt") as f:
        meta = json.loads(f.metadata()["landseg"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta["domain"][field] = value
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={"landseg": json.dumps(meta)})
    img = make_geotiff(np.full((3, 32, 32), 100, np.uint8))
    assert main(["predict", str(tmp_path / "bad.safetensors"), str(img), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt domain record" in err[0] and field in err[0] and "Traceback" not in err[0]


def test_bundled_model_has_its_domain():
    ck = load_checkpoint("default")
    d = ck.domain
    assert d is not None and d.band_meaning == "rgb" and d.classes == list(ck.class_table.names)
    assert 0.6 <= d.pixel_size <= 1.4 and d.pixel_size_range == [0.6, 1.4] and "estimated" in d.pixel_size_method
    assert "Dubai" in d.description and len(d.band_mean) == 3 and 100 < d.band_mean[0] < 160
    card = json.loads((SAMPLES.parent / "model_card.json").read_text())
    assert card["domain"]["band_mean"] == d.band_mean


# ------------------------------------------------------------------------------------------ check
def test_check_flags_unseen_colours_low_confidence_and_pixel_size():
    dom = _record()
    same = InputStats(3)
    same.add_pixels(np.random.default_rng(1).integers(60, 200, (3, 64, 64)).astype(np.uint8))
    same.add_confidence(np.full(100, 0.9))
    ok = check_domain(dom, same, input_meaning="unknown", meaning_source="not declared", input_pixel_size=0.6,
                      band_map=None)
    assert ok["warnings"] == [] and ok["figures"]["unseen_colour_share"] < 0.05
    other = InputStats(3)
    a = np.zeros((3, 64, 64), np.uint8)
    a[0] = 250  # saturated red: never in the record's colours
    other.add_pixels(a)
    other.add_confidence(np.full(100, 0.3))
    bad = check_domain(dom, other, input_meaning="unknown", meaning_source="not declared", input_pixel_size=0.05,
                       band_map=None)
    text = " ".join(bad["warnings"])
    assert len(bad["warnings"]) == 3 and "never saw" in text and "unsure" in text and "10.0x smaller" in text


def test_predict_domain_json_bands_and_confidence(tiny_checkpoint, make_geotiff, tmp_path, capsys):
    ck = load_checkpoint(tiny_checkpoint())
    ck.domain = _record()
    save_checkpoint(ck, tmp_path / "m.safetensors")
    model = str(tmp_path / "m.safetensors")
    data = np.random.default_rng(0).integers(60, 200, (3, 80, 90)).astype(np.uint8)
    data[:, :5, :5] = 0
    img = make_geotiff(data, nodata=0)
    out = tmp_path / "o"
    assert main(["predict", model, str(img), "--out", str(out), "--confidence", "--bands", "3,2,1"]) == 0
    rec = json.loads((out / "raster_predict.json").read_text())
    assert rec["domain"]["band_map"] == [3, 2, 1] and isinstance(rec["warnings"], list)
    assert 0 < rec["domain"]["mean_confidence"] <= 1
    with rasterio.open(out / "raster_confidence.tif") as ds:
        c = ds.read(1)
        assert ds.dtypes[0] == "uint8" and ds.nodata == 255 and ds.crs is not None
    assert (c[:5, :5] == 255).all() and c[10:, 10:].max() <= 100 and c[10:, 10:].min() >= 1
    # the mapping changes what the model sees
    assert main(["predict", model, str(img), "--out", str(tmp_path / "o2"), "--confidence"]) == 0
    with rasterio.open(tmp_path / "o2" / "raster_confidence.tif") as ds:
        assert not np.array_equal(ds.read(1), c)
    assert main(["predict", model, str(img), "--out", str(tmp_path / "o3"), "--bands", "1,2,9"]) == 2
    assert "--bands 1,2,9" in capsys.readouterr().err


def test_irrg_input_into_rgb_model_is_refused_unless_mapped(tiny_checkpoint, make_geotiff, tmp_path, capsys):
    model = str(tiny_checkpoint())
    data = np.random.default_rng(0).integers(0, 255, (3, 40, 40)).astype(np.uint8)
    img = make_geotiff(data, name="irrg.tif")
    with rasterio.open(img, "r+") as ds:
        ds.descriptions = ("NIR", "Red", "Green")
    assert main(["predict", model, str(img), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "its bands are irrg" in err and "band descriptions" in err and "--bands" in err
    plain = make_geotiff(data, name="plain.tif")
    assert main(["predict", model, str(plain), "--out", str(tmp_path / "b"), "--input-bands", "irrg"]) == 2
    assert "from its --input-bands" in capsys.readouterr().err
    assert main(["predict", model, str(img), "--out", str(tmp_path / "c"), "--bands", "2,3,1"]) == 0
    rec = json.loads((tmp_path / "c" / "irrg_predict.json").read_text())
    assert rec["domain"]["input_band_meaning"] == "irrg" and rec["domain"]["band_map"] == [2, 3, 1]


def test_real_imagery_in_and_out_of_domain(realdata, tmp_path, capsys):
    """The bundled Dubai model: real Dubai images give no warning; a real Potsdam crop and Vaihingen IRRG
    crops do (thresholds calibrated by benchmarks/bench_domain.py). Not every Vaihingen crop warns (crops 1, 3 and
    5 have under 10 % unseen colours; the share that slips through is in BENCHMARKS.md): these three do."""
    dubai = realdata / "Kaarti22_satellite-imagery" / "Semantic segmentation dataset"
    inside = [dubai / "Tile 2" / "images" / "image_part_007.jpg", dubai / "Tile 2" / "images" / "image_part_002.jpg"]
    outside = [realdata / "rfaulk_DINO_Soars/CAFe_DINO/sample_images/top_potsdam_4_13_RGB_y00_x00.tif",
               *[realdata / "huster-wgm_geoseg/vaihingen_crops/images" / f"Vaihingen_{i:04d}.png" for i in (0, 2, 4)]]
    out = tmp_path / "o"
    assert main(["predict", "default", *map(str, inside + outside), "--out", str(out), "--no-previews"]) == 0
    for f in inside:
        assert json.loads((out / f"{f.stem}_predict.json").read_text())["warnings"] == [], f
    for f in outside:
        assert json.loads((out / f"{f.stem}_predict.json").read_text())["warnings"], f
    err = capsys.readouterr().err
    assert err.count("landseg predict: warning:") >= len(outside)


# ------------------------------------------------------------------------------------------ train --init
@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    src = potsdam_download(root / "P", ["2_10", "2_11", "4_10"], size=96)
    dest = root / "prepared"
    assert main(["prepare", "potsdam", str(src), str(dest), "--val", "4_10"]) == 0
    return dest


def test_train_init_maps_the_head_by_class_name_and_records_the_parent(dataset, tmp_path, capsys):
    parent_table = ClassTable("other", ("tree", "building", "water"), ((0, 255, 0), (0, 0, 255), (0, 0, 200)))
    arch = {"name": "unet", "in_channels": 3, "num_classes": 3, "width": 4, "depth": 3}
    torch.manual_seed(3)
    pm = build_model(arch)
    parent = tmp_path / "parent.safetensors"
    save_checkpoint(Checkpoint(arch=arch, class_table=parent_table, bands=["red", "green", "blue"], mean=[90.0] * 3,
                               std=[40.0] * 3, pixel_size=0.05, state_dict=pm.state_dict()), parent)
    run = tmp_path / "run"
    # no --model: the parent's architecture (a width-4 U-Net) is used; lr 0 keeps the copied weights as they are
    args = ["--window", "64", "--batch-size", "4", "--num-workers", "0", "--epochs", "1", "--windows-per-epoch", "4",
            "--set", "val_window=96", "--set", "val_overlap=32", "--lr", "1e-12"]
    assert main(["train", str(dataset), "--out", str(run), "--init", str(parent), *args]) == 0
    assert "classes mapped by name: building, tree" in capsys.readouterr().out
    ck = load_checkpoint(run / "last.safetensors")
    p = load_checkpoint(parent)
    assert ck.arch["width"] == 4 and ck.mean == [90.0] * 3
    names = list(ck.class_table.names)
    for n, j in (("building", 1), ("tree", 0)):
        assert torch.allclose(ck.state_dict["head.weight"][names.index(n)], p.state_dict["head.weight"][j], atol=1e-4)
    body = [k for k, v in p.state_dict.items() if v.is_floating_point() and k.endswith(".weight")
            and not k.startswith("head.")]
    assert len(body) > 5 and all(torch.allclose(ck.state_dict[k], p.state_dict[k], atol=1e-4) for k in body)
    init = ck.train["init"]
    assert init["model"] == str(parent) and init["classes_mapped"] == ["building", "tree"]
    assert "car" in init["classes_new"] and init["classes_dropped"] == ["water"]
    assert ck.domain is not None and ck.domain.band_meaning == "rgb" and ck.domain.pixel_size == pytest.approx(0.05)


def test_train_init_refuses_another_family_and_other_bands(dataset, tmp_path, capsys):
    assert main(["train", str(dataset), "--out", str(tmp_path / "r"), "--init", "default", *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--init default is a effnet-lite0-unet model" in err[0] and "--model tiny" in err[0]
    assert main(["train", str(dataset), "--out", str(tmp_path / "r2"), "--init", str(tmp_path / "nope.safetensors"),
                 *FAST]) == 2
    assert "model file not found" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ prepare vector
def _polygonise(label_tif, out, crs=None):
    """A polygon layer (class names) drawn from a real raster label, optionally reprojected."""
    with rasterio.open(label_tif) as ds:
        a = ds.read(1)
        shapes = [(shapely.geometry.shape(g), int(v)) for g, v in rasterio.features.shapes(a, transform=ds.transform)
                  if v != 255]
        src_crs = ds.crs.to_string()
    geoms = np.array([g for g, _ in shapes])
    names = np.array([ISPRS.names[v] for _, v in shapes], dtype=object)
    if crs:
        geoms = transform_geoms(geoms, src_crs, crs)
    write(out, shapely.to_wkb(geoms), field_data=[names], fields=["landuse"],
                      crs=crs or src_crs, driver="GPKG", geometry_type="Polygon")
    return a


@pytest.mark.parametrize("crs", [None, "EPSG:4326"])
def test_vector_labels_reproduce_the_raster_label(make_geotiff, tmp_path, crs):
    label_tif = SAMPLES / "potsdam_4_13_label.tif"
    truth = _polygonise(label_tif, tmp_path / "labels.gpkg", crs)
    with rasterio.open(label_tif) as ds:
        img = make_geotiff(np.full((3, 1000, 1000), 90, np.uint8), name="ortho.tif", crs=ds.crs, transform=ds.transform)
    dest = tmp_path / "ds"
    assert main(["prepare", "vector", str(img), str(dest), "--labels", str(tmp_path / "labels.gpkg"),
                 "--class-field", "landuse", "--class-table", "isprs", "--val-fraction", "0"]) == 0
    with rasterio.open(dest / "tiles" / "ortho" / "label.tif") as ds:
        got = ds.read(1)
    agree = (got == truth).mean()
    assert agree >= (0.9999 if crs is None else 0.99), agree


def test_vector_labels_sparse_skip_overlap_and_errors(make_geotiff, tmp_path, capsys):
    t = rasterio.Affine(1, 0, 500000, 0, -1, 4000100)
    a = make_geotiff(np.full((3, 100, 100), 90, np.uint8), name="a.tif", crs="EPSG:32633", transform=t)
    far = rasterio.Affine(1, 0, 600000, 0, -1, 4000100)
    make_geotiff(np.full((3, 100, 100), 90, np.uint8), name="b.tif", crs="EPSG:32633", transform=far)
    polys = [shapely.box(500010, 4000010, 500030, 4000040), shapely.box(500020, 4000020, 500050, 4000050)]
    gpkg = tmp_path / "l.gpkg"
    write(gpkg, shapely.to_wkb(np.array(polys)), field_data=[np.array(["building", "tree"], dtype=object)],
          fields=["cls"], crs="EPSG:32633", driver="GPKG", geometry_type="Polygon")
    dest = tmp_path / "ds"
    assert main(["prepare", "vector", str(a.parent / "*.tif"), str(dest), "--labels", str(gpkg), "--class-field",
                 "cls", "--class-table", "isprs", "--val-fraction", "0"]) == 0
    err = capsys.readouterr().err
    assert "b.tif: no labelled pixel" in err and "skipped" in err and "polygons of different classes" in err
    with rasterio.open(dest / "tiles" / "a" / "label.tif") as ds:
        lab = ds.read(1)
    assert (lab == 255).mean() == 0.89 and (lab == 1).sum() == 20 * 30 - 200 and (lab == 3).sum() == 30 * 30 - 200
    # a value outside the table, a missing field, labels that miss every image: one line, exit 2
    bad = tmp_path / "bad.gpkg"
    write(bad, shapely.to_wkb(np.array(polys)), field_data=[np.array(["building", "roof"], dtype=object)],
          fields=["cls"], crs="EPSG:32633", driver="GPKG", geometry_type="Polygon")
    for args, msg in ((["--labels", str(bad), "--class-field", "cls"], "cls='roof'"),
                      (["--labels", str(gpkg), "--class-field", "nope"], "no column 'nope'"),
                      (["--labels", str(gpkg), "--class-field", "cls"], "no polygon labels a pixel")):
        src = str(a) if "no polygon" not in msg else str(tmp_path / "b.tif")
        assert main(["prepare", "vector", src, str(tmp_path / "x"), "--class-table", "isprs", *args]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert msg in lines[-1] and "Traceback" not in "".join(lines)


def test_training_on_sparse_labels_draws_windows_where_labels_are(make_geotiff, tmp_path, capsys):
    t = rasterio.Affine(1, 0, 500000, 0, -1, 4000400)
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        make_geotiff(rng.integers(0, 255, (3, 400, 400)).astype(np.uint8), name=f"{name}.tif", crs="EPSG:32633",
                     transform=t)
    gpkg = tmp_path / "l.gpkg"
    write(gpkg, shapely.to_wkb(np.array([shapely.box(500300, 4000020, 500360, 4000080)])),
          field_data=[np.array(["building"], dtype=object)], fields=["cls"], crs="EPSG:32633", driver="GPKG",
          geometry_type="Polygon")
    dest = tmp_path / "ds"
    assert main(["prepare", "vector", str(tmp_path / "*.tif"), str(dest), "--labels", str(gpkg), "--class-field", "cls",
                 "--class-table", "isprs", "--val", "b"]) == 0
    m = load_manifest(dest)
    train = [x for x in m["tiles"] if x["split"] == "train"]
    ds = RandomWindows(dest, train, 64, 20, seed=0, augment=False, sparse=True)
    labelled = [(ds[i][1] != 255).float().mean().item() for i in range(20)]
    assert min(labelled) > 0.2  # every window holds labels (the polygon covers 2.25 % of the tile)
    assert main(["train", str(dest), "--out", str(tmp_path / "run"), *FAST]) == 0
    assert "labelled share of the training tiles: 2.2%; windows are drawn around labelled pixels" in capsys.readouterr().out



def test_report_shows_the_domain_banner(tiny_checkpoint, make_geotiff, tmp_path):
    ck = load_checkpoint(tiny_checkpoint())
    ck.domain = _record()  # colours 60-200 in every band
    save_checkpoint(ck, tmp_path / "m.safetensors")
    rng = np.random.default_rng(0)
    inside = make_geotiff(rng.integers(60, 200, (3, 64, 64)).astype(np.uint8), name="inside.tif")
    red = np.zeros((3, 64, 64), np.uint8)
    red[0] = 250
    outside = make_geotiff(red, name="outside.tif")
    for img in (inside, outside):
        out = tmp_path / img.stem
        assert main(["predict", str(tmp_path / "m.safetensors"), str(img), "--out", str(out)]) == 0
        assert main(["report", str(out), "--out", str(out / "r.html")]) == 0
        rec = json.loads((out / f"{img.stem}_predict.json").read_text())
        text = (out / "r.html").read_text()
        unseen = any("never saw" in w for w in rec["warnings"])
        assert unseen == (img is outside)
        assert ('class="domain-warning"' in text) == bool(rec["warnings"])
        if unseen:
            assert "colours the model never saw in training" in text and "test imagery" in text


@pytest.mark.parametrize("name", ["small", "effnet-lite0-unet", "effnet-lite0-former", "resnet18-unet", "plain-former"])
def test_init_weights_every_family(name):
    """Every architecture family: body copied, head rows mapped by class name, new classes left as initialised."""
    parent_table = ClassTable("p", ("tree", "building", "water"), ((0, 255, 0), (0, 0, 255), (0, 0, 200)))
    torch.manual_seed(0)
    parent_model = build_model(model_arch(name, 3, 3))
    parent = Checkpoint(arch=model_arch(name, 3, 3), class_table=parent_table, bands=["red", "green", "blue"],
                        mean=[0.0] * 3, std=[1.0] * 3, pixel_size=None, state_dict=parent_model.state_dict())
    torch.manual_seed(1)
    child = build_model(model_arch(name, 3, 2))
    fresh = {k: v.clone() for k, v in child.state_dict().items()}
    rec = init_weights(child, parent, ["background", "building"])
    sd = child.state_dict()
    heads = [k for k in sd if k.startswith("head.")]
    assert heads and rec["classes_mapped"] == ["building"] and rec["classes_new"] == ["background"]
    for k in heads:
        assert torch.equal(sd[k][1], parent.state_dict[k][1]) and torch.equal(sd[k][0], fresh[k][0])
    assert all(torch.equal(sd[k], parent.state_dict[k]) for k in sd if not k.startswith("head."))
