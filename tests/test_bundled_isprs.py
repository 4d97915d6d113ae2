"""The second bundled model, `isprs-irrg` (ISPRS Vaihingen, IRRG): its record, its card, its held-out split,
what it does on real held-out crops, and how it refuses imagery it cannot read."""

import json

import pytest
import rasterio
import torch

from landseg.assets import ASSETS, BUNDLED_MODELS, bundled_models, model_card
from landseg.classes import ISPRS
from landseg.cli import main
from landseg.io.labels import read_label
from landseg.models.checkpoint import load_checkpoint, resolve_model_path
from landseg.serve.app import model_choices

WEIGHTS = ASSETS / BUNDLED_MODELS["isprs-irrg"][0]
pytestmark = pytest.mark.skipif(not WEIGHTS.exists(), reason="bundled isprs-irrg model not built")
HELD_OUT = [f"Vaihingen_{i:04d}" for i in range(207, 307)]  # the card's held-out crops


def test_isprs_irrg_is_a_self_describing_bundled_model(capsys):
    assert WEIGHTS.stat().st_size <= 25e6
    assert resolve_model_path("isprs-irrg") == WEIGHTS and "isprs-irrg" in bundled_models()
    ck = load_checkpoint("isprs-irrg")
    assert ck.class_table.names == ISPRS.names and ck.bands == ["nir", "red", "green"]
    assert ck.pixel_size == pytest.approx(0.09)
    d = ck.domain
    assert d is not None and d.band_meaning == "irrg" and d.pixel_size == pytest.approx(0.09)
    assert "Vaihingen" in d.description and d.band_hist is not None and d.colour_cells
    assert ck.train["init"]["model"] == "default"  # started from the Dubai model, recorded as its parent
    card = json.loads((ASSETS / "model_card_isprs-irrg.json").read_text())
    assert card["classes"] == list(ISPRS.names) and card["architecture"] == ck.arch
    assert card["domain"]["description"] == d.description
    md = model_card("isprs-irrg").read_text()
    assert "DGPF" in md and "research" in md and "overlap" in md  # the data terms and the split caveat
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "isprs-irrg" in out and "impervious_surface" in out and "irrg, 0.09 m" in out
    assert main(["models", "isprs-irrg"]) == 0
    out = capsys.readouterr().out
    assert "band meaning: irrg" in out and "MODEL_CARD_isprs-irrg.md" in out and "initialised from: default" in out
    assert list(model_choices())[:2] == ["default", "isprs-irrg"]


def test_isprs_irrg_never_saw_its_held_out_crops():
    ck = load_checkpoint("isprs-irrg")
    used = ck.train["train_tiles"] + ck.train["val_tiles"]
    assert len(used) == 207 and len(set(used)) == 207
    assert not set(used) & set(HELD_OUT) and all("Vaihingen_0000" <= t <= "Vaihingen_0206" for t in used)
    card = json.loads((ASSETS / "model_card_isprs-irrg.json").read_text())
    assert card["training"]["held_out"] == HELD_OUT
    assert [r["tta"] for r in card["held_out"]] == [False, True]


def test_isprs_irrg_on_real_held_out_crops_and_out_of_domain_input(realdata, tmp_path, capsys):
    """Ten real held-out Vaihingen crops: good maps and no domain warning; a real Dubai RGB image without declared
    bands is flagged by its colours (17 % unseen in the IRRG training crops; 39 of the 63 Dubai images warn,
    BENCHMARKS.md); an input declared RGB (`--input-bands rgb`) is refused in one line, as no band mapping makes
    RGB into IRRG."""
    vai = realdata / "huster-wgm_geoseg" / "vaihingen_crops"
    crops = [vai / "images" / f"{t}.png" for t in HELD_OUT[::10]]
    dubai = realdata / "Kaarti22_satellite-imagery" / "Semantic segmentation dataset" / "Tile 2" / "images" / "image_part_007.jpg"
    out = tmp_path / "o"
    assert main(["predict", "isprs-irrg", *map(str, crops), str(dubai), "--out", str(out), "--no-previews"]) == 0
    hits = total = 0
    for crop in crops:
        assert json.loads((out / f"{crop.stem}_predict.json").read_text())["warnings"] == [], crop
        with rasterio.open(out / f"{crop.stem}_classes.tif") as ds:
            pred = ds.read(1)
        truth = read_label(vai / "labels" / crop.name, ISPRS)
        hits += int((pred == truth).sum())
        total += truth.size
    assert hits / total >= 0.8  # overall accuracy on these ten crops (the card: all 100)
    dubai_check = json.loads((out / f"{dubai.stem}_predict.json").read_text())
    assert dubai_check["domain"]["unseen_colour_share"] > 0.12 and "colours the model never saw" in dubai_check["warnings"][0]
    capsys.readouterr()
    potsdam_rgb = realdata / "rfaulk_DINO_Soars/CAFe_DINO/sample_images/top_potsdam_4_13_RGB_y00_x00.tif"
    assert main(["predict", "isprs-irrg", str(potsdam_rgb), "--input-bands", "rgb", "--out", str(tmp_path / "p")]) != 0
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("landseg predict: error:")]
    assert len(errors) == 1 and "its bands are rgb" in errors[0] and "expects irrg" in errors[0]
    assert "no nir band" in errors[0] and "(bundled: default)" in errors[0]


def test_missing_bundled_model_is_one_clear_error(monkeypatch, tmp_path, capsys):
    import landseg.assets as assets

    monkeypatch.setattr(assets, "ASSETS", tmp_path)
    assert main(["models", "isprs-irrg"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bundled model 'isprs-irrg' is missing" in err[0]


def test_train_init_isprs_irrg_keeps_every_isprs_class(tmp_path, capsys):
    """`train --init isprs-irrg` on (synthetic) Potsdam IRRG: same architecture, all six ISPRS classes mapped by
    name, so with a learning rate of ~0 the new checkpoint's head is the bundled one's; the parent is recorded."""
    from synthetic import potsdam_download

    src = potsdam_download(tmp_path / "P", ["2_10", "4_10"], size=96)
    data = tmp_path / "prepared"
    assert main(["prepare", "potsdam", str(src), str(data), "--bands", "irrg", "--val", "4_10"]) == 0
    run = tmp_path / "run"
    assert main(["train", str(data), "--out", str(run), "--init", "isprs-irrg", "--window", "64", "--batch-size", "4",
                 "--num-workers", "0", "--epochs", "1", "--windows-per-epoch", "4", "--set", "val_window=96",
                 "--set", "val_overlap=32", "--lr", "1e-12"]) == 0
    assert f"classes mapped by name: {', '.join(sorted(ISPRS.names))}; new: none" in capsys.readouterr().out
    ck, parent = load_checkpoint(run / "last.safetensors"), load_checkpoint("isprs-irrg")
    assert ck.arch == parent.arch and ck.train["init"]["model"] == "isprs-irrg" and not ck.train["init"]["classes_new"]
    assert ck.domain.band_meaning == "irrg"
    for k in ("head.conv.weight", "head.conv.bias"):
        assert torch.allclose(ck.state_dict[k].float(), parent.state_dict[k].float(), atol=1e-3)


def test_a_bundled_name_that_is_also_a_path_here_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "isprs-irrg").mkdir()  # e.g. the user's own run, trained with --out isprs-irrg
    assert main(["models", "isprs-irrg"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "names both a bundled model and" in err[0] and "./isprs-irrg" in err[0]
    assert main(["models", "./isprs-irrg"]) != 0  # the folder itself: no checkpoint in it, said so
    assert "no best.safetensors or last.safetensors" in capsys.readouterr().err


def test_demo_with_a_model_of_other_classes_prints_no_accuracy(tmp_path):
    """The demo's sample has a Dubai mask; with the ISPRS model there is nothing to score, so no NaN accuracy."""
    printed = []
    from landseg.demo import run_demo

    res = run_demo(tmp_path / "d", "isprs-irrg", echo=printed.append)
    text = "\n".join(printed)
    assert res["scores"] is None and "no accuracy" in text and "OA nan" not in text
