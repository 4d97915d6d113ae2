"""The out-of-the-box path: bundled model, samples and `landseg demo`."""

import json

import numpy as np
import pytest
import rasterio

from landseg.assets import ASSETS, DEFAULT_MODEL, SAMPLES, samples
from landseg.cli import main
from landseg.models.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="bundled default model not built")


def test_default_model_is_small_and_self_describing():
    assert DEFAULT_MODEL.stat().st_size <= 25e6  # issue 11: at most 25 MB
    ck = load_checkpoint("default")
    assert ck.class_table.name == "dubai" and ck.bands == ["red", "green", "blue"]
    card = json.loads((ASSETS / "model_card.json").read_text())
    assert card["classes"] == list(ck.class_table.names)
    assert card["architecture"] == ck.arch and card["model"] == ck.train["config"]["model"]


HELD_OUT = "Tile_7__image_part_003"  # the bundled demo image, as `landseg prepare folder` names it


def test_shipped_model_never_saw_the_demo_image():
    """The card's claim, from the checkpoint's own record of the images it trained and validated on."""
    ck = load_checkpoint("default")
    used = ck.train["train_tiles"] + ck.train["val_tiles"]
    assert len(used) == 62 and len(set(used)) == 62  # Tiles 1-7 hold 63 images
    assert HELD_OUT not in used and any(t.startswith("Tile_7__") for t in used)
    card = json.loads((ASSETS / "model_card.json").read_text())
    assert card["training"]["held_out"] == [HELD_OUT]
    assert card["recipe_tile7"]["runs"] and all(r["train_tiles"] == 46 for r in card["recipe_tile7"]["runs"])


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import contextlib
    import io

    out = tmp_path_factory.mktemp("demo")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["demo", "--out", str(out)]) == 0
    PRINTED[out] = buf.getvalue()  # what `landseg demo` printed, for the tests that read it
    return out


PRINTED: dict = {}


def test_demo_outputs(demo, capsys):
    sample = samples()[0]
    cls = demo / "predict" / f"{sample.stem}_classes.tif"
    with rasterio.open(cls) as ds, rasterio.open(sample) as src:
        assert ds.shape == src.shape and ds.nodata == 255 and ds.crs is None  # the JPEG has no georeferencing
        pred = ds.read(1)
    areas = json.loads((demo / "predict" / f"{sample.stem}_areas.json").read_text())
    rows = {r["name"]: r for r in areas["classes"]}
    valid = int((pred != 255).sum())
    assert sum(r["pixels"] for r in rows.values()) == valid
    assert sum(r["share"] for r in rows.values()) == pytest.approx(1.0, abs=1e-9)  # shares of the valid area
    assert (demo / "report.html").stat().st_size > 10_000
    assert (demo / "potsdam_4_13_polygons.gpkg").exists()


def test_demo_prints_real_m2_for_potsdam(demo):
    from landseg import area

    res = area.class_areas(SAMPLES / "potsdam_4_13_label.tif")
    got = {c.name: c.area_m2 for c in res.classes}
    # shared/realdata/SOURCES.md §5: 1,444.5 / 514.0 / 163.4 / 156.8 / 134.1 / 87.3 m², 2,500 m² in all
    want = {"impervious_surface": 1444.5, "building": 514.0, "low_vegetation": 163.4, "tree": 156.8, "car": 134.1,
            "clutter": 87.3}
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=0.1)


def test_default_model_reaches_its_card_accuracy(demo):
    card = json.loads((ASSETS / "model_card.json").read_text())["bundled_sample"]
    from landseg.classes import DUBAI
    from landseg.io.labels import read_label
    from landseg.metrics import confusion_matrix, metrics_from_confusion

    sample = samples()[0]
    with rasterio.open(demo / "predict" / f"{sample.stem}_classes.tif") as ds:
        pred = ds.read(1)
    truth = read_label(SAMPLES / f"{sample.stem}_mask.png", DUBAI, unknown_to_ignore=True)
    m = metrics_from_confusion(confusion_matrix(truth, pred, 5), DUBAI.names)
    assert m["oa"] >= card["oa"] - 0.01
    assert m["miou"] >= card["miou"] - 0.01


# -- issue #16: the demo's printed numbers and outputs checked by content --------------------------------
def _tables(text):
    """The class tables `landseg demo` printed: [{name: (pixels, m2 or None, share %)}] in order."""
    tables, rows = [], None
    for line in text.splitlines():
        if line.startswith("class ") and "pixels" in line and "share" in line:
            rows = {}
        elif rows is not None and line and not line.startswith("---"):
            parts = line.split()
            name, px, m2, share = parts[0], parts[1], parts[2], parts[4]
            rows[name] = (int(px.replace(",", "")), None if m2 == "n/a" else float(m2.replace(",", "")),
                          float(share))
            if name == "total":
                tables.append(rows)
                rows = None
    return tables


def test_demo_printed_tables_equal_the_class_maps(demo):
    from PIL import Image

    from landseg.classes import DUBAI, ISPRS

    printed = PRINTED[demo]
    dubai, potsdam = _tables(printed)
    sample = samples()[0]
    with rasterio.open(demo / "predict" / f"{sample.stem}_classes.tif") as ds:
        pred = ds.read(1)
    counts = np.bincount(pred[pred != 255].ravel(), minlength=5)
    assert {n: dubai[n][0] for n in DUBAI.names} == dict(zip(DUBAI.names, counts.tolist()))
    assert dubai["total"][0] == int(counts.sum()) == pred.size  # the JPEG has no nodata
    for n, c in zip(DUBAI.names, counts):
        assert dubai[n][1] is None and dubai[n][2] == pytest.approx(100 * c / counts.sum(), abs=0.006)
    with rasterio.open(SAMPLES / "potsdam_4_13_label.tif") as ds:
        lab, px_area = ds.read(1), abs(ds.transform.a * ds.transform.e)
    pc = np.bincount(lab.ravel(), minlength=6)[:6]
    for n, c in zip(ISPRS.names, pc):
        assert potsdam[n][0] == c and potsdam[n][1] == pytest.approx(c * px_area, abs=0.006)
    assert potsdam["total"][1] == pytest.approx(2500.0)
    # the printed accuracy, recomputed from the written class map and the mask's colours (no landseg code)
    rgb = np.asarray(Image.open(SAMPLES / f"{sample.stem}_mask.png").convert("RGB")).astype(int)
    truth = np.full(rgb.shape[:2], 255)
    for i, col in enumerate(DUBAI.colors):
        truth[(rgb == col).all(-1)] = i
    ok = truth != 255
    cm = np.zeros((5, 5), np.int64)
    np.add.at(cm, (truth[ok], pred[ok]), 1)
    tp, ref, prd = np.diag(cm), cm.sum(1), cm.sum(0)
    seen = (ref + prd) > 0
    oa = tp.sum() / cm.sum()
    mf1 = np.mean(2 * tp[seen] / (ref + prd)[seen])
    miou = np.mean(tp[seen] / (ref + prd - tp)[seen])
    assert f"OA {oa:.3f}, mean F1 {mf1:.3f}, mIoU {miou:.3f}" in printed


def test_demo_outputs_by_content(demo):
    import pyogrio.raw

    from landseg.classes import DUBAI, ISPRS

    sample = samples()[0]
    with rasterio.open(demo / "predict" / f"{sample.stem}_classes.tif") as ds:
        table = json.loads(ds.tags()["LANDSEG_CLASS_TABLE"])
        assert [c["name"] for c in table["classes"]] == list(DUBAI.names)
        assert [tuple(c["color"]) for c in table["classes"]] == [tuple(c) for c in DUBAI.colors]
        cmap = ds.colormap(1)
        assert [cmap[i][:3] for i in range(5)] == [tuple(c) for c in DUBAI.colors]
        pred = ds.read(1)
    assert set(np.unique(pred)) <= set(range(5)) and len(np.unique(pred)) >= 4
    html = (demo / "report.html").read_text()
    for n in DUBAI.names:
        assert n in html
    counts = np.bincount(pred.ravel(), minlength=5)
    assert f"{counts[0]:,}" in html  # the building pixel count is in the report's table
    meta, _, wkb, fields = pyogrio.raw.read(demo / "potsdam_4_13_polygons.gpkg")
    assert meta["crs"] == "EPSG:32633" and list(meta["fields"]) == ["class", "class_name", "area_m2", "polygon_area_m2"]
    import shapely

    geoms = shapely.from_wkb(wkb)
    with rasterio.open(SAMPLES / "potsdam_4_13_label.tif") as ds:
        lab = ds.read(1)
    for i, n in enumerate(ISPRS.names):
        mine = fields[1] == n
        want = (lab == i).sum() * 0.0025
        assert shapely.area(geoms[mine]).sum() == pytest.approx(want, rel=1e-9)
        assert fields[2][mine].sum() == pytest.approx(want, rel=1e-6)


@pytest.mark.slow
def test_model_card_demo_figures_rederived_from_the_real_data(realdata, tmp_path):
    """The card's shipped-model figures from its own prepare + evaluate commands on the real data: the
    prepare command holds out exactly the demo image and reproduces the split the model was trained on."""
    card = json.loads((ASSETS / "model_card.json").read_text())
    ck = load_checkpoint("default")
    src = realdata / "Kaarti22_satellite-imagery" / "Semantic segmentation dataset"
    data = tmp_path / "dubai-all"
    assert main(["prepare", "folder", str(src), str(data), "--class-table", "dubai", "--test", HELD_OUT]) == 0
    split = json.loads((data / "dataset.json").read_text())["split"]
    assert split["test"] == [HELD_OUT]
    assert sorted(split["train"]) == sorted(ck.train["train_tiles"]) and sorted(split["val"]) == sorted(ck.train["val_tiles"])
    out = tmp_path / "eval"
    assert main(["evaluate", "default", str(data), "--split", "test", "--out", str(out), "--no-maps"]) == 0
    v = json.loads((out / "metrics.json").read_text())["variants"]["full_with_clutter"]
    want = card["bundled_sample"]
    for k in ("oa", "mean_f1", "miou"):  # bf16/fp32 differences between machines move the 4th decimal at most
        assert v[k] == pytest.approx(want[k], abs=0.002), k
    md = (ASSETS / "MODEL_CARD.md").read_text()
    assert f"{want['oa']:.3f}" in md and f"{card['recipe_tile7']['runs'][0]['miou']:.3f}" in md
