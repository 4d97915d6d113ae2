"""The out-of-the-box path: bundled model, samples and `landseg demo`."""

import json

import pytest
import rasterio

from landseg.assets import ASSETS, DEFAULT_MODEL, SAMPLES, samples
from landseg.models.checkpoint import load_checkpoint
from landseg.cli import main

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="bundled default model not built")


def test_default_model_is_small_and_self_describing():
    assert DEFAULT_MODEL.stat().st_size < 10 * 2**20
    ck = load_checkpoint("default")
    assert ck.class_table.name == "dubai" and ck.bands == ["red", "green", "blue"]
    card = json.loads((ASSETS / "model_card.json").read_text())
    assert card["classes"] == list(ck.class_table.names)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out)]) == 0
    return out


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
