"""landseg evaluate: outputs, protocol variants, a model with a known answer per pixel, bad input."""

import csv
import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from synthetic import eroded, potsdam_download

from landseg.classes import DUBAI, ISPRS
from landseg.cli import main
from landseg.data.prepare import PrepareOptions, TileSource, prepare_dataset
from landseg.errors import CheckpointError, InputError
from landseg.evaluate import evaluate_model
from landseg.metrics import VARIANTS, confusion_matrix, metrics_from_confusion
from landseg.models.checkpoint import load_checkpoint

FAST = ["--window", "64", "--overlap", "16"]


@pytest.fixture(scope="module")
def potsdam(tmp_path_factory):
    root = tmp_path_factory.mktemp("ev")
    src = potsdam_download(root / "P", ["2_10", "2_13", "4_13"], size=96)
    dest = root / "prepared"
    assert main(["prepare", "potsdam", str(src), str(dest), "--val-fraction", "0"]) == 0
    return dest


def _write(path, data, tr):
    data = data if data.ndim == 3 else data[None]
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype="uint8", crs="EPSG:32633", transform=tr) as ds:
        ds.write(data)
    return str(path)


def crafted_dataset(root, table=ISPRS, tiles=(("t1", 0), ("t2", 1)), size=(70, 90), with_eroded=True):
    """Tiles whose image shows the colours of a *predicted* label that differs from the reference:
    a nearest-colour model then predicts exactly that label, so every matrix is known in advance."""
    rng = np.random.default_rng(0)
    sources, truth = [], {}
    for tid, k in tiles:
        h, w = size
        ref = rng.integers(0, table.num_classes, (h // 5 + 1, w // 5 + 1)).repeat(5, 0).repeat(5, 1)[:h, :w].astype(np.uint8)
        pred = ref.copy()
        flip = rng.random((h, w)) < 0.2  # 20 % of the pixels predicted as another class
        pred[flip] = (pred[flip] + 1 + k) % table.num_classes
        ero = eroded(ref)
        tr = from_origin(367000 + 100 * k, 5808000, 0.05, 0.05)
        (root / "src").mkdir(parents=True, exist_ok=True)
        img = _write(root / "src" / f"{tid}_img.tif", np.moveaxis(table.index_to_rgb(pred), -1, 0), tr)
        lab = _write(root / "src" / f"{tid}_lab.tif", ref, tr)
        elab = _write(root / "src" / f"{tid}_ero.tif", ero, tr) if with_eroded else None
        sources.append(TileSource(tid, img, lab, elab, split="test"))
        truth[tid] = (ref, ero, pred)
    prepare_dataset(sources, root / "ds", PrepareOptions(dataset="crafted", table=table, bands=["red", "green", "blue"]))
    return root / "ds", truth


def nearest_colour_engine(table):
    colours = np.array(table.colors, np.float32)

    def engine(batch):
        d = ((batch.astype(np.float32)[:, None] - colours[None, :, :, None, None]) ** 2).sum(2)
        e = np.exp(-(d - d.min(1, keepdims=True)) / 500)
        return e / e.sum(1, keepdims=True)

    return engine


def test_evaluate_cli_writes_all_outputs(potsdam, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["evaluate", str(tiny_checkpoint(pixel_size=0.05)), str(potsdam), "--out", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "eroded reference (noBoundary), without clutter" in printed and "split test: 2 tiles (2_13, 4_13)" in printed
    for f in ("metrics.json", "metrics.md", "per_tile.csv", "confusion_full.csv", "confusion_full_normalized.csv",
              "confusion_full.png", "confusion_eroded.csv", "confusion_eroded_normalized.csv", "confusion_eroded.png"):
        assert (out / f).exists(), f
    m = json.loads((out / "metrics.json").read_text())
    assert m["split"] == "test" and m["tiles"] == ["2_13", "4_13"] and m["references"] == ["full", "eroded"]
    assert list(m["variants"]) == list(VARIANTS)
    assert m["variants"]["full_without_clutter"]["excluded"] == ["clutter"]
    # every valid reference pixel of the two test tiles is counted exactly once
    man = json.loads((potsdam / "dataset.json").read_text())
    tiles = [t for t in man["tiles"] if t["split"] == "test"]
    for ref, key in (("full", "label"), ("eroded", "label_eroded")):
        assert np.sum(m["confusion"][ref]) == sum(sum(t["class_counts"][key]) for t in tiles)
        with open(out / f"confusion_{ref}_normalized.csv") as f:
            rows = list(csv.reader(f))[1:]
        sums = [sum(float(v) for v in r[1:]) for r in rows]
        assert all(s == pytest.approx(1.0, abs=1e-5) or s == 0 for s in sums)
    md = (out / "metrics.md").read_text()
    for title in ("full reference, with clutter", "full reference, without clutter",
                  "eroded reference (noBoundary), with clutter", "eroded reference (noBoundary), without clutter"):
        assert title in md
    assert "split: **test**, 2 tiles: 2_13, 4_13" in md
    with open(out / "per_tile.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["tile"], r["reference"]) for r in rows] == [("2_13", "full"), ("2_13", "eroded"), ("4_13", "full"),
                                                           ("4_13", "eroded")]
    # predicted class maps: on the tile's grid, class table embedded, previews for the report
    with rasterio.open(out / "tiles" / "2_13_classes.tif") as ds, rasterio.open(potsdam / "tiles/2_13/image.tif") as img:
        assert ds.crs == img.crs and ds.transform == img.transform and ds.shape == img.shape
        assert json.loads(ds.tags()["LANDSEG_CLASS_TABLE"])["name"] == "isprs"
        assert ds.read(1).max() < 6
    assert "label=\"building\"" in (out / "tiles" / "2_13_classes.qml").read_text()  # the QGIS legend beside it
    assert (out / "tiles" / "4_13_overlay.png").exists() and (out / "tiles" / "4_13_truth.png").exists()


def test_known_answer_model_gives_exact_matrices(tmp_path, tiny_checkpoint):
    ds, truth = crafted_dataset(tmp_path)
    ckpt = load_checkpoint(tiny_checkpoint())
    res = evaluate_model(ckpt, ds, "test", tmp_path / "out", window=64, overlap=16, batch_size=3,
                         engine=nearest_colour_engine(ISPRS), progress=False)
    exp_full = sum(confusion_matrix(r, p, 6) for r, _, p in truth.values())
    exp_ero = sum(confusion_matrix(e, p, 6) for _, e, p in truth.values())
    assert np.array_equal(res.confusion["full"], exp_full)
    assert np.array_equal(res.confusion["eroded"], exp_ero)
    assert res.variants["eroded_without_clutter"]["mean_f1"] == pytest.approx(
        metrics_from_confusion(exp_ero, ISPRS.names, exclude=[5])["mean_f1"])
    # each tile's class map is the known prediction
    for tid, (_, _, pred) in truth.items():
        with rasterio.open(tmp_path / "out" / "tiles" / f"{tid}_classes.tif") as src:
            assert np.array_equal(src.read(1), pred)
    # per-tile metrics match the tile's own matrix; areas are the matrix sums times 0.0025 m²
    ref1, _, pred1 = truth["t1"]
    row = next(r for r in res.per_tile if r["tile"] == "t1" and r["reference"] == "full")
    assert row["oa"] == pytest.approx(float((ref1 == pred1).mean()))
    bld = next(c for c in res.areas["classes"] if c["name"] == "building")
    assert bld["true_pixels"] == exp_full[1].sum() and bld["predicted_pixels"] == exp_full[:, 1].sum()
    assert bld["true_m2"] == pytest.approx(exp_full[1].sum() * 0.0025)


def test_table_without_clutter_and_without_eroded_labels(tmp_path, tiny_checkpoint):
    ds, truth = crafted_dataset(tmp_path, table=DUBAI, tiles=(("d1", 0),), with_eroded=False)
    res = evaluate_model(load_checkpoint(tiny_checkpoint(table=DUBAI)), ds, out=tmp_path / "o", window=64,
                         overlap=16, engine=nearest_colour_engine(DUBAI), progress=False)
    assert list(res.variants) == ["full_with_clutter", "full_without_clutter"]
    assert res.variants["full_with_clutter"]["mean_f1"] == res.variants["full_without_clutter"]["mean_f1"]
    assert any("no 'clutter' class" in n and "identical" in n for n in res.notes)
    assert any("no eroded" in n for n in res.notes)
    md = (tmp_path / "o" / "metrics.md").read_text()
    assert "identical" in md and "eroded reference (noBoundary), with clutter" not in md


def test_class_table_mismatch_is_refused(potsdam, tiny_checkpoint, tmp_path, capsys):
    model = tiny_checkpoint(table=DUBAI)
    assert main(["evaluate", str(model), str(potsdam), "--out", str(tmp_path / "x"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "class tables differ" in err and "'dubai'" in err and "'isprs'" in err
    assert "building, land, road" in err and "impervious_surface, building" in err
    with pytest.raises(CheckpointError, match="takes 4 bands"):
        evaluate_model(tiny_checkpoint(bands=4, name="b4.safetensors"), potsdam, out=None, progress=False)


def test_missing_or_empty_split_is_refused(tmp_path, tiny_checkpoint, capsys):
    ds, _ = crafted_dataset(tmp_path, tiles=(("t1", 0),), size=(40, 40))
    model = str(tiny_checkpoint())
    assert main(["evaluate", model, str(ds), "--split", "train", "--out", str(tmp_path / "o"), *FAST]) == 2
    assert "split 'train' holds no tiles" in capsys.readouterr().err
    with pytest.raises(InputError, match="unknown split 'holdout'.*test 1"):
        evaluate_model(model, ds, "holdout", progress=False)
    with pytest.raises(InputError, match="not a prepared landseg dataset"):
        evaluate_model(model, tmp_path / "src", progress=False)
