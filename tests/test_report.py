"""landseg report: predict, evaluate and training-run folders become one self-contained HTML file."""

import json
import re

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from synthetic import potsdam_download

from landseg.accuracy import draw_sample
from landseg.classes import ISPRS
from landseg.cli import main
from landseg.errors import InputError
from landseg.models.checkpoint import load_checkpoint
from landseg.predict import PredictOptions, predict_raster
from landseg.report import detect_kind, write_report
from landseg.results import DatasetManifest, EvaluateResult
from landseg.train_samples import sample_predictions

ORIGIN = (367000.0, 5808000.0)


def nearest_colour(batch):
    colours = np.array(ISPRS.colors, np.float32)
    d = ((batch.astype(np.float32)[:, None] - colours[None, :, :, None, None]) ** 2).sum(2)
    e = np.exp(-(d - d.min(1, keepdims=True)) / 500)
    return e / e.sum(1, keepdims=True)


def make_predict_folder(root, ckpt_path, h=200, w=240, block=20):
    """A predict output folder for a 5 cm image whose classes are known (blocks of class colours),
    with zone and truth results from landseg.area beside it. Returns (folder, class label)."""
    from landseg import area

    rng = np.random.default_rng(1)
    lab = rng.integers(0, 6, (h // block + 1, w // block + 1)).repeat(block, 0).repeat(block, 1)[:h, :w].astype(np.uint8)
    tr = from_origin(*ORIGIN, 0.05, 0.05)
    src = root / "scene.tif"
    with rasterio.open(src, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8", crs="EPSG:32633",
                       transform=tr) as ds:
        noisy = ISPRS.index_to_rgb(lab) + rng.normal(0, 12, lab.shape + (3,))  # nearest colour stays exact
        ds.write(np.moveaxis(np.clip(noisy, 0, 255).astype(np.uint8), -1, 0))
    out = root / "pred"
    predict_raster(nearest_colour, load_checkpoint(ckpt_path), src, out,
                   PredictOptions(window=128, overlap=32, progress=False), model_name="colour-model")
    zones = root / "zones.gpkg"
    boxes = [shapely.box(ORIGIN[0], ORIGIN[1] - 5, ORIGIN[0] + 5, ORIGIN[1]),
             shapely.box(ORIGIN[0] + 5, ORIGIN[1] - 10, ORIGIN[0] + 12, ORIGIN[1] - 5)]
    pyogrio.raw.write(str(zones), shapely.to_wkb(np.array(boxes, dtype=object)), [np.array([11, 12])], ["pid"],
                      driver="GPKG", crs="EPSG:32633", geometry_type="Polygon")
    area.zonal_areas(out / "scene_classes.tif", zones, "pid").write(out / "scene_zones.json")
    truth = lab.copy()
    truth[:40] = 1  # the truth has more building than predicted
    tpath = root / "truth.tif"
    with rasterio.open(tpath, "w", driver="GTiff", width=w, height=h, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=tr) as ds:
        ds.write(truth[None])
    area.compare_with_truth(out / "scene_classes.tif", tpath, truth_table=ISPRS).write(out / "scene_truth.json")
    return out, lab


def cell(text, cls, name, attr="data-class"):
    m = re.search(rf'<td class="{cls}[^"]*"[^>]*{attr}="{re.escape(name)}"[^>]*>([^<]*)</td>', text)
    assert m, f"no {cls} cell for {name}"
    return m.group(0), m.group(1)


def assert_self_contained(text):
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "<link" not in text and "@import" not in text and "<script src" not in text


def test_report_of_a_predict_folder(tmp_path, tiny_checkpoint):
    folder, lab = make_predict_folder(tmp_path, tiny_checkpoint())
    assert detect_kind(folder) == "predict"
    out = tmp_path / "r.html"
    assert main(["report", str(folder), "--out", str(out)]) == 0
    text = out.read_text()
    assert_self_contained(text)
    assert text.count("data:image/") >= 2 and 'type="range"' in text and "@media print" in text
    areas = json.loads((folder / "scene_areas.json").read_text())
    for c in areas["classes"]:
        td, shown = cell(text, "area-m2", c["name"])
        assert shown == f"{c['area_m2']:,.2f}"
        assert float(re.search(r'data-value="([^"]+)"', td).group(1)) == pytest.approx(c["area_m2"])
        assert c["area_m2"] == pytest.approx((lab == ISPRS.index_of(c["name"])).sum() * 0.0025)
    # legend, bar chart, zones, predicted vs true
    assert 'class="legend"' in text and "<svg" in text and 'data-class="building"' in text
    assert 'data-zone="11"' in text and 'data-zone="12"' in text
    truth = json.loads((folder / "scene_truth.json").read_text())
    b = next(c for c in truth["classes"] if c["name"] == "building")
    assert cell(text, "true-area", "building")[1] == f"{b['true_m2']:,.2f}"
    assert cell(text, "predicted-area", "building")[1] == f"{b['predicted_m2']:,.2f}"


def test_report_shows_the_accuracy_of_a_reference_sample(tmp_path, tiny_checkpoint, capsys):
    folder, _ = make_predict_folder(tmp_path, tiny_checkpoint())
    classes, pts = folder / "scene_classes.tif", tmp_path / "points.gpkg"
    draw_sample(classes, pts, 120, min_per_class=10, seed=3, truth=tmp_path / "truth.tif")
    assert main(["area", str(classes), "--reference", str(pts), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((folder / "scene_accuracy.json").read_text())  # kept beside the class map
    assert saved == printed
    out = tmp_path / "r.html"
    assert main(["report", str(folder), "--out", str(out)]) == 0
    text = out.read_text()
    assert "Accuracy and error-adjusted areas (points.gpkg)" in text and 'class="error-matrix"' in text
    b = next(c for c in saved["classes"] if c["name"] == "building")
    assert cell(text, "adjusted-m2", "building")[1] == f"{b['adjusted_m2']:,.2f}"
    assert cell(text, "ci95-m2", "building")[1] == f"{b['ci95_m2']:,.2f}"
    assert cell(text, "users", "building")[1] == f"{100 * b['users_accuracy']:.2f}"
    assert f"overall accuracy: {100 * saved['overall_accuracy']['value']:.2f} %" in text


def test_predict_folder_without_previews_areas_or_input(tmp_path, tiny_checkpoint):
    folder, lab = make_predict_folder(tmp_path, tiny_checkpoint())
    for f in ("scene_areas.json", "scene_areas.csv", "scene_preview.png", "scene_overlay.png"):
        (folder / f).unlink()
    (tmp_path / "scene.tif").unlink()  # the input image has moved away
    info = write_report(folder, tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text()
    assert info["kind"] == "predict" and any("areas computed from the class map" in n for n in info["notes"])
    assert "the image is not available" in text and 'type="range"' not in text
    assert cell(text, "area-m2", "tree")[1] == f"{(lab == 3).sum() * 0.0025:,.2f}"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("rep")
    src = potsdam_download(root / "P", ["2_10", "2_11", "2_13"], size=96)
    dest = root / "prepared"
    assert main(["prepare", "potsdam", str(src), str(dest), "--val", "2_11"]) == 0
    return dest


def test_report_of_an_evaluate_folder(dataset, tiny_checkpoint, tmp_path):
    ev = tmp_path / "ev"
    assert main(["evaluate", str(tiny_checkpoint()), str(dataset), "--out", str(ev), "--window", "64",
                 "--overlap", "16"]) == 0
    assert detect_kind(ev) == "evaluate"
    assert main(["report", str(ev)]) == 0  # default: INPUT/report.html
    text = (ev / "report.html").read_text()
    assert_self_contained(text)
    m = json.loads((ev / "metrics.json").read_text())
    for v in ("full_with_clutter", "full_without_clutter", "eroded_with_clutter", "eroded_without_clutter"):
        td = re.search(rf'<td class="metric num" data-variant="{v}" data-metric="oa"[^>]*>([^<]*)</td>', text)
        assert td and td.group(1) == f"{100 * m['variants'][v]['oa']:.2f}"
    assert "split <b>test</b>" in text and "2_13" in text
    assert text.count('alt="confusion matrix') == 2 and 'data-tile="2_13"' in text
    assert 'class="truth"' in text and 'class="classes overlay"' in text and 'class="panels"' in text
    # metrics.json is written from EvaluateResult: read back, it writes the same bytes
    raw = (ev / "metrics.json").read_text()
    assert json.dumps(EvaluateResult.read(ev / "metrics.json").to_dict(), indent=2) + "\n" == raw
    # one metric-row model: the HTML and the Markdown tables list the same rows in the same order
    html_labels = re.findall(r'<tr data-metric="[^"]+"(?: data-class="[^"]*")?><td>([^<]*)</td>', text)
    md = (ev / "metrics.md").read_text().split("| metric |", 1)[1].split("\n\n")[0].splitlines()[2:]
    assert html_labels == [row.split(" | ")[0].removeprefix("| ") for row in md]
    assert html_labels[:4] == ["OA", "mean F1", "mIoU", "fwIoU"] and "IoU clutter" in html_labels
    # dataset.json is written from DatasetManifest
    manifest = (dataset / "dataset.json").read_text()
    assert json.dumps(DatasetManifest.from_dict(json.loads(manifest)).to_dict(), indent=2) + "\n" == manifest


def test_report_of_a_training_run(dataset, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(dataset), "--out", str(run), "--epochs", "1", "--windows-per-epoch", "16",
                 "--model", "tiny", "--window", "64", "--batch-size", "8", "--num-workers", "0",
                 "--set", "val_window=64", "--set", "val_overlap=16"]) == 0
    assert detect_kind(run) == "train"
    sample_predictions(run, n=2)  # the dataset is found from the checkpoint
    info = write_report(run, tmp_path / "run.html", samples=2)
    text = (tmp_path / "run.html").read_text()
    assert_self_contained(text)
    assert info["kind"] == "train" and 'alt="learning curve"' in text
    # the one 96-pixel validation tile gives one distinct window
    assert text.count('class="panels"') == 1 and "tile 2_11, rows 0–96" in text and "only 1 distinct window:" in text
    assert 'class="history"' in text and "val_mean_f1" in text
    # `landseg report RUN --samples 2` predicts the samples, then renders the same page
    assert main(["report", str(run), "--samples", "2", "--out", str(tmp_path / "cli.html")]) == 0
    cli_text = (tmp_path / "cli.html").read_text()
    assert cli_text.count('class="panels"') == 1 and "tile 2_11, rows 0–96" in cli_text
    assert cli_text.split('id="samples"')[1].split("<footer")[0] == text.split('id="samples"')[1].split("<footer")[0]
    # a run that does not record its dataset: the report says how to get the panels
    from landseg.models.checkpoint import save_checkpoint

    old = tmp_path / "old"
    old.mkdir()
    ck = load_checkpoint(run / "best.safetensors")
    ck.train.pop("dataset_root")
    save_checkpoint(ck, old / "best.safetensors")
    (old / "metrics.json").write_text((run / "metrics.json").read_text())
    assert sample_predictions(old) == {"note": "sample panels need the prepared dataset: pass --dataset DIR "
                                                   "(it is not recorded in this run)"}
    info = write_report(old, tmp_path / "old.html")
    assert any("pass --dataset DIR" in n for n in info["notes"])
    assert 'class="panels"' not in (tmp_path / "old.html").read_text()
    sample_predictions(old, dataset, n=1)
    assert write_report(old, tmp_path / "old2.html", samples=1)["notes"] == ["learning_curve.png not found"]
    assert 'class="panels"' in (tmp_path / "old2.html").read_text()


def test_bad_folder_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="holds no landseg results.*predict output folder.*evaluate folder.*training run"):
        detect_kind(tmp_path / "empty")
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "expected" in err and not (tmp_path / "r.html").exists()
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


def test_report_over_a_truncated_class_map_names_the_file(tmp_path, tiny_checkpoint, capsys):
    folder, _ = make_predict_folder(tmp_path, tiny_checkpoint(), h=600, w=600)
    for f in ("scene_areas.json", "scene_areas.csv", "scene_preview.png", "scene_overlay.png"):
        (folder / f).unlink()
    cls = folder / "scene_classes.tif"
    cls.write_bytes(cls.read_bytes()[: cls.stat().st_size // 2])
    assert main(["report", str(folder), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("landseg report: error: ") and "scene_classes.tif" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()
