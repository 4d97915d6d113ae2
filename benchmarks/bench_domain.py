"""Issue 20: calibration of predict's domain check on real imagery, with a bundled model (default: the Dubai one;
`--model isprs-irrg`: the Vaihingen IRRG one, for which the Vaihingen crops are in-domain and the rest is not).

Runs `landseg predict`'s own code (predict_raster: the figures come from the prediction pass) on
  - in-domain: the real Dubai images (Tiles 1-7; 53 of them trained the model, the others did not),
  - out-of-domain: real ISPRS Potsdam RGB crops (5 cm; the georeferenced 4_13 crop, the mmseg 2_10 crop) and
    the whole-tile Potsdam thumbnails (~1.2 m, Dubai-like scale), and the Vaihingen IRRG crops,
and prints per set the unseen-colour share, the mean confidence, the low-confidence share and how many
inputs got a warning (and why). The thresholds are in src/landseg/models/domain.py.

Usage: python benchmarks/bench_domain.py [--model NAME] [--vaihingen N|A:B] [--dubai-per-tile N] [--json out.json]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, machine

from landseg.inference.engine import load_engine
from landseg.models import domain as D
from landseg.predict import PredictOptions, predict_raster

REAL = Path(os.environ.get("LANDSEG_REALDATA") or ROOT.parent / "shared" / "realdata")


def image_sets(vaihingen: str | None, dubai_per_tile: int | None) -> dict[str, list[str]]:
    dubai = []
    for t in range(1, 8):
        files = sorted(glob.glob(str(REAL / "Kaarti22_satellite-imagery" / "Semantic segmentation dataset" / f"Tile {t}"
                                     / "images" / "*.jpg")))
        dubai += files[:dubai_per_tile] if dubai_per_tile else files
    isprs = REAL / "arghadeep25_Building-Footprint-Extraction-from-High-Resolution-Satellite-Images" / "datasets" / "isprs"
    vai = sorted(glob.glob(str(REAL / "huster-wgm_geoseg" / "vaihingen_crops" / "images" / "*.png")))
    return {
        "dubai": dubai,
        "potsdam_5cm": [str(REAL / "rfaulk_DINO_Soars/CAFe_DINO/sample_images/top_potsdam_4_13_RGB_y00_x00.tif"),
                        str(REAL / "open-mmlab_mmsegmentation/tests/data/pseudo_potsdam_dataset/img_dir/2_10_0_0_512_512.png")],
        "potsdam_thumbnails_1.2m": sorted(glob.glob(str(isprs / "images" / "*.png"))),
        "vaihingen_irrg": vai[_crop_range(vaihingen)],
    }


def _crop_range(text: str | None) -> slice:
    """``N`` -> the first N crops; ``A:B`` -> crops A to B-1; None -> all."""
    if not text:
        return slice(None)
    lo, _, hi = text.rpartition(":")
    return slice(int(lo) if lo else None, int(hi) if hi else None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default", help="the bundled model (or checkpoint) to calibrate")
    ap.add_argument("--vaihingen", default=None, help="only the first N Vaihingen crops, or crops A:B")
    ap.add_argument("--dubai-per-tile", type=int, default=None, help="only the first N images of each Dubai tile")
    ap.add_argument("--sets", default=None, help="comma-separated subset of: dubai, potsdam_5cm, "
                    "potsdam_thumbnails_1.2m, vaihingen_irrg (default: all)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    engine, ckpt = load_engine(a.model)
    trained = set(ckpt.train.get("train_tiles") or [])
    opts = PredictOptions(previews=False, areas=False, progress=False, overwrite=True)
    print(f"# {machine()}\n# model: {a.model} ({ckpt.domain_or_unknown().description})")
    print(f"thresholds: unseen colours > {D.UNSEEN_THRESHOLD:.0%} (cells below {D.COLOUR_MIN_DENSITY:g} of the training "
          f"pixels); low confidence (max prob < {D.CONFIDENCE_LOW:g}) > {D.LOW_SHARE_THRESHOLD:.0%}; pixel size "
          f"> {D.PIXEL_SIZE_FACTOR:g}x off the model's {ckpt.domain_or_unknown().pixel_size} m")
    results = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, files in image_sets(a.vaihingen, a.dubai_per_tile).items():
            if a.sets and name not in a.sets.split(","):
                continue
            rows = []
            for f in files:
                rec = predict_raster(engine, ckpt, f, tmp, opts, model_name=a.model)
                d = rec["domain"]
                p = Path(f)
                tid = f"{p.parent.parent.name.replace(' ', '_')}__{p.stem}"
                rows.append({"file": str(p.relative_to(REAL)), "trained_on": tid in trained or p.stem in trained,
                             "unseen": d.get("unseen_colour_share"), "confidence": d.get("mean_confidence"),
                             "low": d.get("low_confidence_share"), "pixel_ratio": d.get("pixel_size_ratio"),
                             "warnings": rec["warnings"]})
            results[name] = rows
            u, c, lo = (np.array([r[k] for r in rows], float) for k in ("unseen", "confidence", "low"))
            warned = sum(bool(r["warnings"]) for r in rows)
            why = {k: sum(any(k in w for w in r["warnings"]) for r in rows)
                   for k in ("never saw", "unsure", "pixels are")}
            print(f"{name:<24} n={len(rows):>3}  unseen colours min/median/max {u.min():.3f}/{np.median(u):.3f}/"
                  f"{u.max():.3f}  mean confidence {c.min():.2f}/{np.median(c):.2f}/{c.max():.2f}  low-confidence "
                  f"share {lo.min():.3f}/{np.median(lo):.3f}/{lo.max():.3f}  warned {warned}/{len(rows)} (colours "
                  f"{why['never saw']}, confidence {why['unsure']}, pixel size {why['pixels are']})", flush=True)
            if any(r["trained_on"] for r in rows):
                held = [r for r in rows if not r["trained_on"]]
                hu, hl = np.array([r["unseen"] for r in held]), np.array([r["low"] for r in held])
                print(f"{'  of which not trained on':<24} n={len(held):>3}  unseen max {hu.max():.3f}  low-confidence "
                      f"max {hl.max():.3f}  warned {sum(bool(r['warnings']) for r in held)}/{len(held)}")
            if name.startswith("potsdam"):
                for r in rows:
                    print(f"    {Path(r['file']).name:<40} unseen {r['unseen']:.3f} conf {r['confidence']:.2f} low "
                          f"{r['low']:.3f} pixel ratio {r['pixel_ratio']}  warnings {len(r['warnings'])}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
