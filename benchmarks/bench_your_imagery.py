"""Issue 20 part 5: the README's "Your imagery in 15 minutes", run and timed end to end.

A planner's path on imagery unlike the bundled model's: an orthophoto, polygons drawn over part of it, a
short training that starts from a trained model, maps, and the domain check. Here the orthophoto is the real
ISPRS Potsdam crop `top_potsdam_4_13_RGB_y00_x00.tif` (1000 x 1000, 5 cm, EPSG:32633) from shared/realdata,
and the "drawn" polygons are cut from its real label:

  labels.gpkg - up to --per-class polygons of each ISPRS class: the largest pieces of the label's regions cut
                by a 100-pixel (5 m) grid, in the image's left half (cols 0-499), written in EPSG:4326
                (the planner's layer need not share the image's CRS);
  check.gpkg  - every polygon of the right half (cols 500-999), the part kept aside to check the result.

Then: `prepare vector` (both), `train --init default --time-limit T` (and, with --starts, the same from
ImageNet weights), `predict --confidence` on the whole orthophoto (its domain record and warnings), and
`evaluate` on the right half. Prints the time of each step and the accuracy on the half never trained on.

  python benchmarks/bench_your_imagery.py --minutes 10 --starts default,imagenet --json your_imagery.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.features
from _common import ROOT, machine, run_landseg
from PIL import Image
from rasterio.crs import CRS
from shapely.geometry import box, shape

from landseg.classes import ISPRS
from landseg.io.vector import reproject_geometries, write_features

REAL = Path(os.environ.get("LANDSEG_REALDATA") or ROOT.parent / "shared" / "realdata")
ORTHO = REAL / "rfaulk_DINO_Soars/CAFe_DINO/sample_images/top_potsdam_4_13_RGB_y00_x00.tif"
LABEL = REAL / "derived/potsdam_4_13_y00_x00/top_potsdam_4_13_label_y00_x00.png"
STARTS = {"default": ["--init", "default"], "imagenet": ["--model", "effnet-lite0-unet"]}


def landseg(args: list[str]) -> tuple[float, str]:
    """Run the CLI; return its wall seconds and output."""
    wall, _, out = run_landseg(args)
    return wall, out


def polygons(index: np.ndarray, transform, half: tuple[int, int], cell: int | None = None) -> list[tuple[str, object]]:
    """(class name, polygon) of each connected region of the label within the columns in `half`.

    With `cell`, regions are also cut by a grid of cell x cell pixels, as a planner draws a patch of a road or
    a roof rather than the whole road network."""
    c0, c1 = half
    rows = index.shape[0]
    step = cell or max(rows, c1 - c0)
    clips = [box(*rasterio.transform.array_bounds(min(step, rows - r), min(step, c1 - c),
                                                  transform * transform.translation(c, r)))
             for r in range(0, rows, step) for c in range(c0, c1, step)]
    out = []
    for geom, value in rasterio.features.shapes(index.astype(np.int16), mask=index < 255, transform=transform):
        region = shape(geom)
        for clip in clips:
            piece = region.intersection(clip)
            for part in getattr(piece, "geoms", [piece]):
                if part.geom_type == "Polygon" and part.area > 0:
                    out.append((ISPRS.names[int(value)], part))
    return out


def write_layers(work: Path, per_class: int) -> tuple[Path, Path, int]:
    """labels.gpkg (the largest polygons per class, left half, in EPSG:4326) and check.gpkg (right half)."""
    with rasterio.open(ORTHO) as ds:
        transform, crs, width = ds.transform, ds.crs, ds.width
    index = ISPRS.rgb_to_index(np.asarray(Image.open(LABEL).convert("RGB")), unknown_to_ignore=True)
    left = polygons(index, transform, (0, width // 2), cell=100)
    chosen = []
    for name in ISPRS.names:
        mine = sorted((p for n, p in left if n == name), key=lambda p: -p.area)[:per_class]
        chosen += [(name, p) for p in mine]
    labels, check = work / "labels.gpkg", work / "check.gpkg"
    geoms = reproject_geometries(np.array([p for _, p in chosen], dtype=object), crs, "EPSG:4326")
    write_features(labels, geoms, {"landuse": np.array([n for n, _ in chosen])}, CRS.from_epsg(4326).to_wkt())
    right = polygons(index, transform, (width // 2, width))
    write_features(check, np.array([p for _, p in right], dtype=object), {"landuse": np.array([n for n, _ in right])},
                   crs.to_wkt())
    return labels, check, len(chosen)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10, help="training time limit per start")
    ap.add_argument("--starts", default="default", help="default, imagenet or both (comma-separated)")
    ap.add_argument("--per-class", type=int, default=7, help="polygons per class in labels.gpkg")
    ap.add_argument("--extra", default="", help="more train options for every start, e.g. '--batch-size 4'")
    ap.add_argument("--work", type=Path, default=Path("/tmp/landseg_your_imagery"))
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    work = a.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"# {machine()}\n# {ORTHO.name}; training {a.minutes:g} min per start {a.extra}", flush=True)
    t0 = time.perf_counter()
    labels, check, n = write_layers(work, a.per_class)
    print(f"labels.gpkg: {n} polygons (left half, EPSG:4326); check.gpkg: right half "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)
    s, out = landseg(["prepare", "vector", str(ORTHO), str(work / "data"), "--labels", str(labels), "--class-field",
                      "landuse", "--class-table", "isprs", "--val-fraction", "0"])
    note = next((ln for ln in out.splitlines() if "labelled" in ln), "")
    print(f"prepare vector (training polygons): {s:.1f} s  {note.strip()}", flush=True)
    s, _ = landseg(["prepare", "vector", str(ORTHO), str(work / "heldout"), "--labels", str(check), "--class-field",
                    "landuse", "--class-table", "isprs", "--test", "*"])
    print(f"prepare vector (check polygons): {s:.1f} s", flush=True)
    rows = []
    for start in a.starts.split(","):
        run = work / f"run_{start}"
        s_train, _ = landseg(["train", str(work / "data"), "--out", str(run), *STARTS[start], "--time-limit",
                              str(a.minutes), "--seed", "0", *a.extra.split()])
        s_pred, _ = landseg(["predict", str(run), str(ORTHO), "--out", str(work / f"maps_{start}"), "--confidence"])
        rec = json.loads(next((work / f"maps_{start}").glob("*_predict.json")).read_text())
        s_eval, _ = landseg(["evaluate", str(run), str(work / "heldout"), "--split", "test", "--out",
                             str(work / f"eval_{start}"), "--no-maps"])
        full = json.loads((work / f"eval_{start}" / "metrics.json").read_text())["variants"]["full_with_clutter"]
        domain = rec.get("domain", {})
        row = {"start": start, "train_s": round(s_train), "predict_s": round(s_pred), "evaluate_s": round(s_eval),
               "oa": full["oa"], "miou": full["miou"],
               "iou": {k: v["iou"] for k, v in full["per_class"].items()},
               "mean_confidence": domain.get("mean_confidence"),
               "warnings": rec.get("warnings", [])}
        rows.append(row)
        print(f"{start:8s} train {s_train:.0f} s, predict {s_pred:.0f} s, evaluate {s_eval:.0f} s | right half: "
              f"OA {row['oa']:.3f} mIoU {row['miou']:.3f} building IoU {row['iou']['building']:.3f} | "
              f"warnings: {row['warnings'] or 'none'}", flush=True)
        if a.json:
            a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
