"""Issue 20: learning curve of adaptation to a city no one here trained on.

Labelled patches (5, 10, 20, 50) vs accuracy on held-out patches, for three starts:
  default  - `train --init default` (the bundled Dubai model; its head mapped by class name)
  imagenet - `train --model effnet-lite0-unet` (ImageNet-pretrained EfficientNet-Lite0 encoder)
  scratch  - `train --model effnet-lite0-unet --set pretrained=none` (same network, random weights)
on two real cities:
  vaihingen - the 307 real IRRG crops in shared/realdata/huster-wgm_geoseg/vaihingen_crops (224 x 224, ~9 cm);
              training patches are drawn (nested, seeded) from Vaihingen_0000-0099, the held-out patches are
              Vaihingen_0207-0306. Caveat (SOURCES.md): crops of one tile may overlap across the split.
  potsdam   - the real 5 cm crops with labels: tile 2_10 (512 x 512) and 4_13 (1000 x 1000). Patches are
              the 128 x 128 cells of 2_10 and of 4_13's columns 0-511 (44 in all); held out: 4_13's columns
              512-999 (one 1000 x 488 image, never seen in training).

Every run gets the same training budget in *windows* (not minutes), so the figures do not depend on what
else the machine is doing; the CPU seconds each run used are printed beside them. The last checkpoint is
evaluated (no validation split: every labelled patch trains), by `landseg evaluate`'s ISPRS protocol
(full reference labels, clutter counted).

  python benchmarks/bench_learning_curve.py --city vaihingen --windows 1920 --json lc_vaihingen.json
  python benchmarks/bench_learning_curve.py --city potsdam --sizes 5,10,20,44 --window 128
  python benchmarks/bench_learning_curve.py --sizes 50 --starts default --window 224 --minutes 10 --tta \
      --extra "--batch-size 4"      # the 10-minute recipe of BENCHMARKS.md (cores to itself)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
from _common import ROOT, machine, run_landseg
from PIL import Image

REAL = Path(os.environ.get("LANDSEG_REALDATA") or ROOT.parent / "shared" / "realdata")
VAI = REAL / "huster-wgm_geoseg" / "vaihingen_crops"
P413 = REAL / "rfaulk_DINO_Soars/CAFe_DINO/sample_images/top_potsdam_4_13_RGB_y00_x00.tif"
P413_LABEL = REAL / "derived/potsdam_4_13_y00_x00/top_potsdam_4_13_label_y00_x00.png"
P210 = REAL / "open-mmlab_mmsegmentation/tests/data/pseudo_potsdam_dataset"
# mmseg index mask -> ISPRS colour (0 = boundary/undefined -> black, the ISPRS table's ignore colour)
MMSEG_COLOURS = np.array([(0, 0, 0), (255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0),
                          (255, 0, 0)], np.uint8)
STARTS = {
    "default": ["--init", "default"],
    "imagenet": ["--model", "effnet-lite0-unet"],
    "scratch": ["--model", "effnet-lite0-unet", "--set", "pretrained=none"],
}


def landseg(args: list[str], log: Path) -> float:
    """Run the CLI; return the CPU seconds (user + system) it used."""
    return run_landseg(args, log)[1]


def score(run: Path, data: Path, ev: Path, log: Path, tta: bool = False) -> dict:
    """`landseg evaluate` of the run's last checkpoint on the test split: the ISPRS full-reference figures."""
    landseg(["evaluate", str(run / "last.safetensors"), str(data), "--split", "test", "--out", str(ev), "--no-maps",
             *(["--tta"] if tta else [])], log)
    return json.loads((ev / "metrics.json").read_text())["variants"]["full_with_clutter"]


def vaihingen_pool(seed: int) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]]]:
    pairs = [(VAI / "images" / f"Vaihingen_{i:04d}.png", VAI / "labels" / f"Vaihingen_{i:04d}.png") for i in range(307)]
    pool, test = pairs[:100], pairs[207:]
    random.Random(seed).shuffle(pool)
    return pool, test


def potsdam_pool(work: Path, seed: int) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]]]:
    """128 x 128 patches of 2_10 and of 4_13's left 512 columns; 4_13's right part held out (as PNG pairs)."""
    import rasterio

    cells = work / "potsdam_cells"
    shutil.rmtree(cells, ignore_errors=True)
    cells.mkdir(parents=True)
    with rasterio.open(P413) as ds:
        img413 = np.moveaxis(ds.read(), 0, -1)
    lab413 = np.asarray(Image.open(P413_LABEL).convert("RGB"))
    img210 = np.asarray(Image.open(P210 / "img_dir" / "2_10_0_0_512_512.png").convert("RGB"))
    lab210 = MMSEG_COLOURS[np.asarray(Image.open(P210 / "ann_dir" / "2_10_0_0_512_512.png"))]
    pool = []
    for name, img, lab, rows, cols in (("2_10", img210, lab210, 4, 4), ("4_13", img413, lab413, 7, 4)):
        for r in range(rows):
            for c in range(cols):
                stem = f"p{name}_r{r}c{c}"
                sl = (slice(r * 128, (r + 1) * 128), slice(c * 128, (c + 1) * 128))
                Image.fromarray(img[sl]).save(cells / f"{stem}.png")
                Image.fromarray(lab[sl]).save(cells / f"{stem}_label.png")
                pool.append((cells / f"{stem}.png", cells / f"{stem}_label.png"))
    Image.fromarray(img413[:, 512:]).save(cells / "held_4_13_right.png")
    Image.fromarray(lab413[:, 512:]).save(cells / "held_4_13_right_label.png")
    random.Random(seed).shuffle(pool)
    return pool, [(cells / "held_4_13_right.png", cells / "held_4_13_right_label.png")]


def make_source(dest: Path, train: list[tuple[Path, Path]], test: list[tuple[Path, Path]]) -> Path:
    """An images/ + labels/ folder for `landseg prepare folder`, and the test list."""
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "images").mkdir(parents=True)
    (dest / "labels").mkdir()
    for img, lab in [*train, *test]:
        os.symlink(img, dest / "images" / img.name.replace("_label", ""))
        os.symlink(lab, dest / "labels" / img.name.replace("_label", ""))
    (dest.parent / f"{dest.name}_test.txt").write_text("".join(f"{Path(i.name).stem}\n" for i, _ in test))
    return dest.parent / f"{dest.name}_test.txt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--city", choices=("vaihingen", "potsdam"), default="vaihingen")
    ap.add_argument("--sizes", default="5,10,20,50", help="numbers of labelled patches (nested subsets)")
    ap.add_argument("--starts", default="default,imagenet,scratch")
    ap.add_argument("--windows", type=int, default=1920, help="training windows per run (the budget)")
    ap.add_argument("--minutes", type=float, default=None,
                    help="budget in minutes (train --time-limit) instead of --windows; needs the cores to itself")
    ap.add_argument("--tta", action="store_true", help="also evaluate with the 8 flips/rotations averaged")
    ap.add_argument("--window", type=int, default=192, help="training window size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/landseg_lc"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--extra", default="", help="more train options for every run, e.g. '--lr 2e-3'")
    a = ap.parse_args()
    work = (a.work / a.city).resolve()
    work.mkdir(parents=True, exist_ok=True)
    log = work / "log.txt"
    pool, test = vaihingen_pool(a.seed) if a.city == "vaihingen" else potsdam_pool(work, a.seed)
    sizes = [int(s) for s in a.sizes.split(",")]
    if max(sizes) > len(pool):
        raise SystemExit(f"{a.city} has {len(pool)} labelled patches in its pool; asked for {max(sizes)}")
    epochs = max(1, a.windows // 320)
    per_epoch = a.windows // epochs
    budget = (["--time-limit", f"{a.minutes:g}"] if a.minutes else
              ["--epochs", str(epochs), "--windows-per-epoch", str(per_epoch)])
    what = f"{a.minutes:g} minutes" if a.minutes else f"{epochs} x {per_epoch} windows"
    print(f"# {machine()}\n# {a.city}: pool {len(pool)} patches, held out {len(test)} image(s); "
          f"budget {what} of {a.window}^2 per run, seed {a.seed} {a.extra}", flush=True)
    rows = []
    for n in sizes:
        src = work / f"src_{n}"
        test_list = make_source(src, pool[:n], test)
        data = work / f"data_{n}"
        landseg(["prepare", "folder", str(src), str(data), "--class-table", "isprs", "--test-list", str(test_list),
                 "--val-fraction", "0", "--overwrite"], log)
        for start in a.starts.split(","):
            run, ev = work / f"run_{n}_{start}", work / f"eval_{n}_{start}"
            shutil.rmtree(run, ignore_errors=True)
            t0 = time.perf_counter()
            cpu = landseg(["train", str(data), "--out", str(run), *STARTS[start], "--window", str(a.window), *budget,
                           "--seed", str(a.seed), "--num-workers", "0", *a.extra.split()], log)
            wall = time.perf_counter() - t0
            full = score(run, data, ev, log)
            row = {"city": a.city, "patches": n, "start": start, "budget": what, "window": a.window, "extra": a.extra,
                   "train_cpu_s": round(cpu, 1), "train_wall_s": round(wall, 1), "oa": full["oa"],
                   "miou": full["miou"], "iou_building": full["per_class"]["building"]["iou"]}
            if a.tta:
                tta = score(run, data, ev.with_name(ev.name + "_tta"), log, tta=True)
                row.update(miou_tta=tta["miou"], iou_building_tta=tta["per_class"]["building"]["iou"])
            rows.append(row)
            with_tta = f"  (TTA: mIoU {row['miou_tta']:.3f}, building {row['iou_building_tta']:.3f})" if a.tta else ""
            print(f"{a.city:9s} {n:3d} patches  {start:8s}  OA {row['oa']:.3f}  mIoU {row['miou']:.3f}  "
                  f"building IoU {row['iou_building']:.3f}{with_tta}  ({cpu:.0f} CPU s, {wall:.0f} s wall)", flush=True)
            if a.json:
                a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
