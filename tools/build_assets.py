"""Rebuild the bundled assets in src/landseg/assets/ from ../shared/realdata and a training run.

Usage: python tools/build_assets.py [--run RUN_DIR] [--evaluation EVAL_DIR --train-command CMD ...]
  --run: copy RUN_DIR/best.safetensors as the default model (weights stored in float16).
  --evaluation: an `landseg evaluate default ...` output folder; with it the model card
    (MODEL_CARD.md + model_card.json) is written from measured numbers.
Samples are rebuilt every time; see src/landseg/assets/SOURCES.md for what they are.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
import rasterio
import torch

from landseg.classes import ISPRS
from landseg.io.labels import class_table_tags, read_label
from landseg.models.checkpoint import load_checkpoint, save_checkpoint
from landseg.models.domain import COLOUR_LEVELS, Domain, band_meaning, colour_counts, record_from_counts

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("LANDSEG_REALDATA") or ROOT.parent / "shared" / "realdata")
ASSETS = ROOT / "src" / "landseg" / "assets"
DUBAI_TILE7 = REAL / "Kaarti22_satellite-imagery" / "Semantic segmentation dataset" / "Tile 7"
SAMPLE_PART = "image_part_003"
HELD_OUT = f"Tile_7__{SAMPLE_PART}"  # the bundled demo image, as `landseg prepare folder` names it


def build_samples() -> None:
    out = ASSETS / "samples"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DUBAI_TILE7 / "images" / f"{SAMPLE_PART}.jpg", out / "dubai_tile7_part003.jpg")
    shutil.copyfile(DUBAI_TILE7 / "masks" / f"{SAMPLE_PART}.png", out / "dubai_tile7_part003_mask.png")
    # Potsdam 4_13 label crop, georeferenced as its RGB crop (EPSG:32633, 5 cm, origin from the DINO sample).
    label = read_label(REAL / "derived" / "potsdam_4_13_y00_x00" / "top_potsdam_4_13_label_y00_x00.png", ISPRS)
    with rasterio.open(REAL / "rfaulk_DINO_Soars" / "CAFe_DINO" / "sample_images" / "top_potsdam_4_13_RGB_y00_x00.tif") as ds:
        crs, transform = ds.crs, ds.transform
    assert abs(transform.a - 0.05) < 1e-9 and label.shape == (1000, 1000)
    prof = dict(driver="GTiff", width=1000, height=1000, count=1, dtype="uint8", crs=crs, transform=transform,
                nodata=255, compress="deflate", tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(out / "potsdam_4_13_label.tif", "w", **prof) as ds:
        ds.write(label[None])
        ds.write_colormap(1, ISPRS.colormap())
        ds.update_tags(**class_table_tags(ISPRS))


def to_float16(ck) -> None:
    """Store the checkpoint's floating-point weights in float16 (how bundled models ship)."""
    ck.state_dict = {k: (v.half() if v.is_floating_point() else v) for k, v in ck.state_dict.items()}


def build_model(run: Path) -> None:
    ck = load_checkpoint(run / "best.safetensors")
    to_float16(ck)
    save_checkpoint(ck, ASSETS / "default.safetensors")


# The Dubai imagery is not georeferenced; its pixel size was estimated by measuring objects of known size in
# pixels on crops viewed at native resolution (see BENCHMARKS.md "Pixel size of the Dubai imagery"):
# villa plot pitch (Tile 7 part 5, ~25 px for 20-25 m plots: 0.8-1.0 m), residential street width (Tile 7 part 5,
# ~10 px for 7-10 m: 0.7-1.0 m), parking-stall pitch (Tile 3 part 5, ~3.7 px for 2.5 m: 0.7 m), bus/truck length
# (Tile 6 part 4, ~10 px for 12 m: 1.2 m), car length (Tile 6 part 4 / Tile 3 part 5, 3-4 px for 4.5 m: 1.1-1.5 m).
DUBAI_PIXEL_SIZE = 0.9
DUBAI_PIXEL_RANGE = [0.6, 1.4]
DUBAI_PIXEL_METHOD = ("estimated (the imagery is not georeferenced) from objects of known size measured in pixels "
                      "in 4 images: villa plot pitch, street width, parking-stall pitch, bus and car lengths")
DUBAI_DESCRIPTION = ("Dubai, UAE: MBRSC satellite imagery (Humans in the Loop 'Semantic segmentation of aerial "
                     "imagery'), 8-bit RGB JPEG, desert, coast, water, villas and roads")


def dubai_image(tile_id: str) -> Path:
    """The source JPEG of a prepared Dubai tile id such as ``Tile_7__image_part_003``."""
    tile, part = tile_id.split("__")
    return DUBAI_TILE7.parent / tile.replace("_", " ") / "images" / f"{part}.jpg"


def dubai_domain(train_tiles: list[str], table_names: list[str], bands: list[str]) -> Domain:
    """The domain record of a model trained on these Dubai tiles: statistics of the real training images."""
    hist = np.zeros((3, 256), np.int64)
    cells = np.zeros(COLOUR_LEVELS**3, np.int64)
    for tid in train_tiles:
        with rasterio.open(dubai_image(tid)) as ds:
            for _, win in ds.block_windows(1):
                a = ds.read(window=win)
                for b in range(3):
                    hist[b] += np.bincount(a[b].ravel(), minlength=256)
                cells += colour_counts(a)
    return record_from_counts(hist, cells, pixel_size=DUBAI_PIXEL_SIZE, pixel_size_range=DUBAI_PIXEL_RANGE,
                              pixel_size_method=DUBAI_PIXEL_METHOD, band_meaning=band_meaning(bands),
                              classes=table_names, description=DUBAI_DESCRIPTION)


def domain_card_lines(d: Domain | None) -> str:
    """The model card's pixel-size and domain lines."""
    if d is None or d.pixel_size is None:
        return "- **Pixel size**: unknown."
    mean = ", ".join(f"{m:.1f}" for m in d.band_mean or [])
    std = ", ".join(f"{x:.1f}" for x in d.band_std or [])
    lo, hi = d.pixel_size_range or (d.pixel_size, d.pixel_size)
    return f"""- **Pixel size**: about {d.pixel_size:g} m (range {lo:g}-{hi:g} m), {d.pixel_size_method}
  (BENCHMARKS.md, "Pixel size of the Dubai imagery"). The dataset is not georeferenced, so predictions are made at
  the input's native resolution; the estimate is used by the domain check only, which warns when an input's pixels
  are more than 2x larger or smaller. Expect the model to transfer poorly to very different resolutions (e.g. 5 cm
  ISPRS orthophotos) and to other landscapes; `landseg predict` says so when an input looks unlike its training data.
- **Domain record** (`landseg models default`): {d.description}; bands {d.band_meaning}; training-image band means
  {mean} and standard deviations {std} (0-255), a 16-bin histogram per band and the colours seen in training."""


def add_domain() -> None:
    """Write the domain record into the bundled model; its weights stay bit-identical (checked)."""
    path = ASSETS / "default.safetensors"
    ck = load_checkpoint(path)
    ck.domain = dubai_domain(ck.train.get("train_tiles") or [], list(ck.class_table.names), ck.bands)
    before = {k: v.clone() for k, v in ck.state_dict.items()}
    save_checkpoint(ck, path)
    after = load_checkpoint(path).state_dict
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) and before[k].dtype == after[k].dtype
                                                  for k in before), "weights changed"


def sample_metrics(model: str = "default") -> dict:
    """A model's scores on the bundled held-out sample (for the default model: what tests/test_demo.py checks)."""
    from landseg.inference.engine import load_engine
    from landseg.inference.sliding import predict_array
    from landseg.metrics import confusion_matrix, metrics_from_confusion

    engine, ck = load_engine(model)
    with rasterio.open(ASSETS / "samples" / "dubai_tile7_part003.jpg") as ds:
        img = ds.read()
    pred = predict_array(img, engine, ck.class_table.num_classes, window=512, overlap=128)
    truth = read_label(ASSETS / "samples" / "dubai_tile7_part003_mask.png", ck.class_table, unknown_to_ignore=True)
    m = metrics_from_confusion(confusion_matrix(truth, pred, ck.class_table.num_classes), ck.class_table.names)
    return {k: round(m[k], 4) for k in ("oa", "mean_f1", "miou")}


def _scores(evaluation: Path) -> dict:
    """OA / mean F1 / mIoU and per-class F1 / IoU of a `landseg evaluate` output folder."""
    ev = json.loads((evaluation / "metrics.json").read_text())
    v = ev["variants"]["full_with_clutter"]
    out = {k: round(v[k], 6) for k in ("oa", "mean_f1", "miou")}
    out["per_class"] = {n: {k: (round(x, 6) if x is not None else None) for k, x in m.items() if k in ("f1", "iou")}
                        for n, m in v["per_class"].items()}
    out["pixels"] = v["pixels"]
    out["model"] = ev.get("model")
    return out


def _run_info(evaluation: Path) -> dict:
    """Model name, seed, training minutes and steps of the run an evaluation scored (its checkpoint's metadata)."""
    model = json.loads((evaluation / "metrics.json").read_text()).get("model")
    ck = load_checkpoint(model) if model and Path(model).exists() else None
    if ck is None:
        return {}
    cfg = ck.train.get("config") or {}
    return {"model": cfg.get("model"), "seed": cfg.get("seed"), "minutes": cfg.get("time_limit"),
            "best_at_minutes": round(ck.train.get("elapsed", 0) / 60, 1), "steps": ck.train.get("step"),
            "train_tiles": len(ck.train.get("train_tiles") or []), "demo_image": sample_metrics(model)}


def _describe(arch: dict, name: str | None) -> str:
    if arch["name"] == "unet":
        return f"U-Net (Ronneberger et al.), base width {arch['width']}, depth {arch['depth']}, batch norm"
    enc = {"efficientnet_lite0": "EfficientNet-Lite0", "efficientnet_lite1": "EfficientNet-Lite1",
           "efficientnet_lite2": "EfficientNet-Lite2"}.get(arch["encoder"], arch["encoder"])
    dec = {"unet": "U-Net decoder", "former": "UNetFormer-style attention decoder"}.get(arch["decoder"], arch["decoder"])
    return f"`{name}`: {enc} encoder (ImageNet-pretrained) with a {dec}"


def _mean(runs: list[dict]) -> dict:
    return {k: round(sum(r[k] for r in runs) / len(runs), 4) for k in ("oa", "mean_f1", "miou")}


def build_card(evaluations: list[Path], baselines: list[Path], commands: dict[str, str]) -> None:
    ck = load_checkpoint(ASSETS / "default.safetensors")
    cfg = ck.train.get("config") or {}
    recipe = [{**_scores(e), **_run_info(e)} for e in evaluations]
    base = [{**_scores(e), **_run_info(e)} for e in baselines]
    n_params = sum(p.numel() for p in ck.state_dict.values() if p.is_floating_point())
    train_tiles, val_tiles = ck.train.get("train_tiles") or [], ck.train.get("val_tiles") or []
    card = {
        "name": f"landseg default (Dubai aerial, {cfg.get('model')})",
        "model": cfg.get("model"),
        "classes": list(ck.class_table.names),
        "bands": ck.bands,
        "pixel_size": ck.pixel_size,
        "domain": ck.domain.to_dict() if ck.domain else None,
        "architecture": ck.arch,
        "parameters_m": round(n_params / 1e6, 2),
        "file_mb": round((ASSETS / "default.safetensors").stat().st_size / 1e6, 2),
        "training": {"data": f"Humans in the Loop Dubai aerial dataset, Tiles 1-7 except {HELD_OUT} (the bundled "
                             f"demo image): {len(train_tiles)} training / {len(val_tiles)} validation images",
                     "train_tiles": train_tiles, "val_tiles": val_tiles, "held_out": [HELD_OUT],
                     "epochs": ck.train.get("epoch"), "steps": ck.train.get("step"),
                     "minutes": cfg.get("time_limit"), "best_at_minutes": round(ck.train.get("elapsed", 0) / 60, 1),
                     "config": cfg, **commands},
        # the same recipe trained on Tiles 1-6 only, scored on the whole of Tile 7 (those weights are not shipped)
        "recipe_tile7": {"runs": recipe, "mean": _mean(recipe), "pixels": recipe[0]["pixels"]},
        "baseline_tile7": {"runs": base, "mean": _mean(base)} if base else None,
        "bundled_sample": sample_metrics(),
    }
    (ASSETS / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    r0 = recipe[0]
    rows = "\n".join(f"| {n} | {m['f1']:.3f} | {m['iou']:.3f} |" for n, m in r0["per_class"].items() if m["iou"] is not None)
    runs = "\n".join(f"| {r.get('model')} (the recipe) | {r.get('seed')} | {r.get('minutes')} min | {r['oa']:.3f} "
                     f"| {r['mean_f1']:.3f} | {r['miou']:.3f} | {r['demo_image']['miou']:.3f} |" for r in recipe)
    runs += "".join(f"\n| {r.get('model')} (plain U-Net, baseline) | {r.get('seed')} | {r.get('minutes')} min "
                    f"| {r['oa']:.3f} | {r['mean_f1']:.3f} | {r['miou']:.3f} | {r['demo_image']['miou']:.3f} |"
                    for r in base)
    gain = ""
    if base:
        d = card["recipe_tile7"]["mean"]["miou"] - card["baseline_tile7"]["mean"]["miou"]
        gain = (f"\nWith the same training time, the recipe scores **{d:+.3f} mIoU** against the plain U-Net "
                f"({len(recipe)} vs {len(base)} run(s); Tile 7 scores swing by a few hundredths between seeds).\n")
    bs = card["bundled_sample"]
    scale = cfg.get("encoder_lr") if cfg.get("encoder_lr") is not None else 0.1  # Trainer's default with pretrained weights
    enc_lr = f" (encoder x{scale})" if ck.arch["name"] == "segmodel" else ""
    (ASSETS / "MODEL_CARD.md").write_text(f"""# Model card: landseg `default`

- **What**: {_describe(ck.arch, cfg.get('model'))}; {n_params / 1e6:.2f} M parameters, weights stored in float16
  ({card['file_mb']:.1f} MB).
- **Classes** (index: name): {', '.join(f'{i}: {n}' for i, n in enumerate(ck.class_table.names))}. Unlabeled grey
  and stray black in the masks were ignored.
- **Input**: 3 bands {', '.join(ck.bands)}, 8-bit, normalised with mean {ck.mean} and std {ck.std} (0-255 scale).
{domain_card_lines(ck.domain)}
- **Training data**: Humans in the Loop "Semantic segmentation of aerial imagery" (Dubai), all of Tiles 1-7
  except `{HELD_OUT}`, the bundled demo image: {len(train_tiles)} training and {len(val_tiles)} validation
  images (random, seed 0). The checkpoint's metadata lists every image used for training and validation;
  the demo image is not among them (tested).
- **Training**: `landseg train --model {cfg.get('model')} --time-limit {cfg.get('time_limit')}`:
  random {cfg.get('window')}x{cfg.get('window')} windows, D4 flips/rotations, photometric jitter {cfg.get('jitter')},
  loss {cfg.get('loss')}, {cfg.get('optimizer')} lr {cfg.get('lr')}{enc_lr}
  with {cfg.get('schedule')} schedule, batch {cfg.get('batch_size')}, bf16 autocast on CPU; {card['training']['minutes']}
  minutes of training on a 2-core AMD EPYC CPU. The shipped weights are the best epoch by validation mean F1
  (epoch {ck.train.get('epoch')}, after {card['training']['best_at_minutes']} minutes and {ck.train.get('step')} steps).

## How accurate is it?

The shipped weights have seen part of Tile 7, so Tile 7 cannot measure them. The recipe was therefore
measured the honest way: **the same recipe trained on Tiles 1-6 only, scored on the whole of Tile 7**
(9 images, {r0['pixels']:,} labelled pixels, never seen in that training), whole images predicted with
the sliding-window engine (512 windows, 128 overlap), one global confusion matrix:

| run | seed | training time | Tile 7 OA | mean F1 | mIoU | mIoU on the demo image |
|---|---:|---:|---:|---:|---:|---:|
{runs}
{gain}
Per class, recipe run (seed {r0.get('seed')}):

| class | F1 | IoU |
|---|---:|---:|
{rows}

The shipped model on the held-out demo image (`samples/dubai_tile7_part003.jpg`, never used in its
training): OA {bs['oa']:.3f}, mean F1 {bs['mean_f1']:.3f}, mIoU {bs['miou']:.3f} (last column above: the
Tiles 1-6 runs on the same image).

## Reproduce

```bash
# the recipe, measured: train on Tiles 1-6, score on Tile 7
{commands['prepare_command']}
{commands['recipe_command']}
{commands['evaluate_command']}
# the second seed and the plain U-Net rows (run by benchmarks/bench_models_dubai.py with --epochs 1000;
# the 25-minute limit ends every run first, so the schedule is the same):
#   the recipe command with --seed 1; the baseline: landseg train data/dubai --out runs/plain --model small
#   --time-limit 25 --epochs 1000 --seed 0|1 --set loss=ce --set optimizer=adam --set lr=0.001
#   --set schedule=constant --set jitter=0 --set weight_decay=0 --set warmup=0; each scored as above
# the shipped model: all tiles but the demo image
{commands['prepare_all_command']}
{commands['train_command']}
python tools/build_assets.py --run RUN_DIR --evaluation EVAL_DIR ...   # bundles RUN_DIR/best.safetensors as float16
```
Training on CPU with the same seed gives the same metrics on one machine (tested); other CPUs or thread
counts give slightly different weights. The evaluation of the bundled model is exactly reproducible.
""")


# ---------------------------------------------------------------------------------------------- isprs-irrg
VAIHINGEN_CROPS = REAL / "huster-wgm_geoseg" / "vaihingen_crops"
ISPRS_IRRG_DESCRIPTION = ("Vaihingen, Germany: ISPRS 2D semantic labeling benchmark aerial orthophoto (DGPF), "
                          "9 cm, 8-bit IRRG false colour (near-infrared, red, green); small town, detached houses, "
                          "trees, low vegetation")
ISPRS_IRRG_PIXEL_METHOD = ("the benchmark's published ground sampling distance; the 224 x 224 training crops carry "
                           "no georeferencing and are taken as not resampled")
ISPRS_TERMS = ("The Vaihingen data set was provided by the German Society for Photogrammetry, Remote Sensing and "
               "Geoinformation (DGPF) (Cramer, M., 2010: The DGPF test on digital aerial camera evaluation - overview "
               "and test design, PFG 2010(2), 73-82) through the ISPRS 2D semantic labeling benchmark, whose terms "
               "allow its use for research and ask that publications acknowledge it. These weights are derived from "
               "that data: check the ISPRS/DGPF terms before any use other than research, and cite them when you "
               "publish results made with this model.")
# what the domain check says with this model on real imagery (benchmarks/bench_domain.py --model isprs-irrg)
DOMAIN_NOTE = ("measured: none of the 100 held-out Vaihingen crops warns; 39 of the 63 Dubai RGB images do, by colour or "
               "confidence; RGB crops and thumbnails of Potsdam pass unflagged, so declare RGB inputs; BENCHMARKS.md, "
               "'A second bundled model'")
ISPRS_IRRG_COMMANDS = {
    "prepare": "landseg prepare folder SRC data/vaihingen --class-table isprs --bands nir,red,green --gsd 0.09 "
               "--test-list test.txt --val-fraction 0.1   # SRC: images/ + labels/ = vaihingen_crops, "
               "test.txt: Vaihingen_0207 ... Vaihingen_0306",
    "train": "landseg train data/vaihingen --out runs/isprs-irrg --init default --window 224 --batch-size 4 "
             "--set encoder_lr=1.0 --time-limit 25 --seed 0 --num-workers 0",
    "evaluate": "landseg evaluate runs/isprs-irrg data/vaihingen --split test --out eval/isprs-irrg\n"
                "landseg evaluate runs/isprs-irrg data/vaihingen --split test --out eval/isprs-irrg-tta --tta",
}


def build_isprs_irrg(run: Path, evaluations: list[Path], commands: dict[str, str]) -> None:
    """Bundle RUN/best.safetensors as the ``isprs-irrg`` model (float16) with its card, from the held-out
    evaluations (``landseg evaluate RUN DATA --split test``, without and with ``--tta``)."""
    ck = load_checkpoint(run / "best.safetensors")
    assert ck.domain is not None and ck.domain.band_meaning == "irrg" and ck.pixel_size == 0.09, "not the IRRG run"
    to_float16(ck)
    ck.domain.description = ISPRS_IRRG_DESCRIPTION
    ck.domain.pixel_size_method = ISPRS_IRRG_PIXEL_METHOD
    init = ck.train.get("init") or {}
    if init.get("model") == "default":
        init["path"] = "bundled default.safetensors"  # not the build machine's path
    weights = ASSETS / "isprs-irrg.safetensors"
    save_checkpoint(ck, weights)
    ck = load_checkpoint(weights)
    cfg = ck.train.get("config") or {}
    scores = [{k: v for k, v in _scores(e).items() if k != "model"} for e in evaluations]  # no build-machine paths
    tested = [json.loads((e / "metrics.json").read_text())["tiles"] for e in evaluations]
    assert all(t == tested[0] for t in tested), "the evaluations scored different crops"
    tta = [json.loads((e / "metrics.json").read_text())["options"]["tta"] for e in evaluations]
    n_params = sum(p.numel() for p in ck.state_dict.values() if p.is_floating_point())
    train_tiles, val_tiles = ck.train.get("train_tiles") or [], ck.train.get("val_tiles") or []
    held_out = sorted(tested[0])  # what the evaluations scored
    assert not set(held_out) & set(train_tiles + val_tiles), "the held-out crops were used in training"
    card = {
        "name": "landseg isprs-irrg (ISPRS Vaihingen, IRRG, effnet-lite0-unet)",
        "model": cfg.get("model"), "classes": list(ck.class_table.names), "bands": ck.bands,
        "pixel_size": ck.pixel_size, "domain": ck.domain.to_dict(), "architecture": ck.arch,
        "parameters_m": round(n_params / 1e6, 2), "file_mb": round(weights.stat().st_size / 1e6, 2),
        "training": {"data": f"ISPRS Vaihingen crops Vaihingen_0000-0206 ({VAIHINGEN_CROPS.relative_to(REAL)}): "
                             f"{len(train_tiles)} training / {len(val_tiles)} validation crops",
                     "train_tiles": train_tiles, "val_tiles": val_tiles, "held_out": held_out,
                     "init": ck.train.get("init"), "epochs": ck.train.get("epoch"), "steps": ck.train.get("step"),
                     "minutes": cfg.get("time_limit"), "best_at_minutes": round(ck.train.get("elapsed", 0) / 60, 1),
                     "config": cfg, "commands": commands},
        "held_out": [{"tta": bool(t), **s} for s, t in zip(scores, tta)],
        "terms": ISPRS_TERMS,
    }
    (ASSETS / "model_card_isprs-irrg.json").write_text(json.dumps(card, indent=2) + "\n")
    head = " | ".join(f"{'with' if t else 'without'} `--tta`" for t in tta)
    rows = "\n".join(f"| {n} | " + " | ".join(f"{s['per_class'][n]['f1']:.3f} / {s['per_class'][n]['iou']:.3f}"
                                               for s in scores) + " |" for n in ck.class_table.names)
    overall = "\n".join(f"| {label} | " + " | ".join(f"{s[k]:.3f}" for s in scores) + " |"
                        for k, label in (("oa", "overall accuracy"), ("mean_f1", "mean F1"), ("miou", "mIoU")))
    if init.get("model"):
        start = (f"started from the bundled `{init['model']}` model (`--init {init['model']}`: its encoder and decoder; "
                 f"the head mapped by class name, {', '.join(f'`{c}`' for c in init.get('classes_mapped') or []) or 'no class'} "
                 f"kept, {len(init.get('classes_new') or [])} classes new)")
    else:
        start = "started from the ImageNet weights of its encoder"
    enc = cfg.get("encoder_lr") if cfg.get("encoder_lr") is not None else 0.1
    best = card["training"]["best_at_minutes"]
    (ASSETS / "MODEL_CARD_isprs-irrg.md").write_text(f"""# Model card: landseg `isprs-irrg`

- **What**: {_describe(ck.arch, cfg.get('model'))}; {n_params / 1e6:.2f} M parameters, weights stored in float16
  ({card['file_mb']:.1f} MB). Use it as `landseg predict isprs-irrg ...` or as the start for your own
  labels: `landseg train DATA --init isprs-irrg`.
- **Classes** (index: name; the ISPRS 2D labeling classes): {', '.join(f'{i}: {n}' for i, n in enumerate(ck.class_table.names))}.
- **Input**: 3 bands {', '.join(ck.bands)} (**IRRG false colour**, as the Vaihingen orthophoto), 8-bit, about 9 cm
  pixels (inputs with a known pixel size are resampled to 9 cm). An input declared RGB (band descriptions, or
  `--input-bands rgb`) is refused: an RGB image has no near-infrared band, so no band mapping makes it IRRG; use
  the `default` model or train on your own imagery instead. An undeclared RGB image is caught, if at all, by
  the domain check's colours and confidence ({DOMAIN_NOTE}).
- **Domain record** (`landseg models isprs-irrg`): {ck.domain.description}; pixel size {ck.pixel_size:g} m
  ({ISPRS_IRRG_PIXEL_METHOD}); band means {', '.join(f'{m:.1f}' for m in ck.domain.band_mean or [])} and standard
  deviations {', '.join(f'{x:.1f}' for x in ck.domain.band_std or [])} (0-255), a 16-bin histogram per band and the
  colours seen in training.
- **Training data**: {len(train_tiles)} training and {len(val_tiles)} validation crops (224 x 224) of the real ISPRS
  Vaihingen IRRG orthophoto with their labels, `Vaihingen_0000`-`0206` of `shared/realdata/{VAIHINGEN_CROPS.relative_to(REAL)}`
  (extracted from the training-snapshot figures of the MIT-licensed huster-wgm/geoseg repository; see that
  folder's SOURCES entry). The checkpoint's metadata lists every crop used.
- **Training**: `landseg train` {start}; random
  {cfg.get('window')}x{cfg.get('window')} windows, D4 flips/rotations, photometric jitter {cfg.get('jitter')},
  loss {cfg.get('loss')}, {cfg.get('optimizer')} lr {cfg.get('lr')} (encoder x{enc}), {cfg.get('schedule')} schedule,
  batch {cfg.get('batch_size')}, bf16 autocast; {cfg.get('time_limit'):g} minutes on a 2-core CPU. Shipped: the best
  epoch by validation mean F1 (epoch {ck.train.get('epoch')}, after {best} minutes and {ck.train.get('step'):,} steps).

## How accurate is it?

Scored by `landseg evaluate` on the 100 crops `Vaihingen_0207`-`0306`, never used in training or validation
(full reference labels, clutter counted, one global confusion matrix, {scores[0]['pixels']:,} pixels):

| | {head} |
|---|{'---:|' * len(scores)}
{overall}

Per class, F1 / IoU:

| class | {head} |
|---|{'---:|' * len(scores)}
{rows}

**Caveats.** The crops carry no tile ids or coordinates, so crops of the same Vaihingen tile can overlap across
the split and the held-out figures may be optimistic; they are not the ISPRS benchmark's protocol (its own test
tiles, eroded boundaries) and cannot be compared with its leaderboard. Expect lower accuracy on other cities,
seasons or cameras. `landseg predict` warns when an input's colours or the model's confidence are unlike these
crops' (not always: see Input above), and a few dozen labelled patches of your own imagery adapt it
(`landseg train --init isprs-irrg`, README "Your imagery in 15 minutes").

## Data terms

{ISPRS_TERMS}

## Reproduce

```bash
{commands['prepare']}
{commands['train']}
{commands['evaluate']}
python tools/build_assets.py --isprs-irrg runs/isprs-irrg --isprs-evaluation eval/isprs-irrg eval/isprs-irrg-tta
```
""")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, help="the shipped model's run (trained on all tiles but the demo image)")
    ap.add_argument("--evaluation", type=Path, nargs="+", help="`landseg evaluate` outputs of the recipe trained on "
                    "Tiles 1-6, scored on Tile 7 (one per seed)")
    ap.add_argument("--domain", action="store_true", help="(re)write the bundled model's domain record and the "
                    "card's domain entry (weights unchanged)")
    ap.add_argument("--baseline", type=Path, nargs="*", default=[], help="the same for the plain U-Net, same time")
    src = "'shared/realdata/Kaarti22_satellite-imagery/Semantic segmentation dataset'"
    ap.add_argument("--prepare-command", default=f"landseg prepare folder {src} data/dubai --class-table dubai "
                    "--test 'Tile_7__*'")
    ap.add_argument("--recipe-command", default="landseg train data/dubai --out runs/recipe --model effnet-lite0-unet "
                    "--time-limit 25 --epochs 100 --seed 0")
    ap.add_argument("--evaluate-command", default="landseg evaluate runs/recipe data/dubai --split test --out eval/recipe")
    ap.add_argument("--prepare-all-command", default=f"landseg prepare folder {src} data/dubai-all --class-table dubai "
                    f"--test '{HELD_OUT}'")
    ap.add_argument("--train-command", default="landseg train data/dubai-all --out runs/default --model "
                    "effnet-lite0-unet --time-limit 25 --epochs 100 --seed 0")
    ap.add_argument("--isprs-irrg", type=Path, help="bundle this Vaihingen IRRG run as the isprs-irrg model")
    ap.add_argument("--isprs-evaluation", type=Path, nargs="+", help="its held-out evaluations (without, with --tta)")
    a = ap.parse_args()
    if a.isprs_irrg and not a.isprs_evaluation:
        ap.error("--isprs-irrg needs --isprs-evaluation EVAL [EVAL_TTA]: the card is written from measured numbers")
    if a.isprs_irrg:
        build_isprs_irrg(a.isprs_irrg, a.isprs_evaluation, ISPRS_IRRG_COMMANDS)
        print("isprs-irrg model and card written to", ASSETS)
        raise SystemExit(0)
    build_samples()
    if a.run:
        build_model(a.run)
    if a.domain:
        add_domain()
        card_md = (ASSETS / "MODEL_CARD.md").read_text()
        start = card_md.index("- **Pixel size**")
        end = card_md.index("- **Training data**")
        d = load_checkpoint(ASSETS / "default.safetensors").domain
        (ASSETS / "MODEL_CARD.md").write_text(card_md[:start] + domain_card_lines(d) + "\n" + card_md[end:])
        card_path = ASSETS / "model_card.json"
        card = json.loads(card_path.read_text())
        card["domain"] = load_checkpoint(ASSETS / "default.safetensors").domain.to_dict()
        card_path.write_text(json.dumps(card, indent=2) + "\n")
    if a.evaluation:
        build_card(a.evaluation, a.baseline, {k: getattr(a, k) for k in (
            "prepare_command", "recipe_command", "evaluate_command", "prepare_all_command", "train_command")})
    print("assets rebuilt in", ASSETS)
