"""Benchmark ``landseg evaluate`` beside ``landseg predict`` on one synthetic Potsdam tile.

    .venv/bin/python benchmarks/bench_evaluate.py [--size 6000] [--repeats 2]

Writes a synthetic Potsdam test tile (``2_13``; RGB image, full and eroded colour labels) block by
block, prepares it, and builds a width-16 U-Net (the ``small`` preset) with random weights (the
speed does not depend on the weights). Then, on the same tile with the same engine (bf16 where
the CPU has it) and the same windows (512, overlap 128):

* inference floor: the sliding-window engine alone, blocks discarded;
* predict: ``predict_raster`` (class-map COG, previews, areas), as ``landseg predict`` does;
* evaluate: ``evaluate_model`` (both references compared block by block, class map, previews,
  metrics files), as ``landseg evaluate`` does.

Predict and evaluate alternate ``--repeats`` times; the best time of each is compared (other jobs
may share the CPU). Prints the figures; BENCHMARKS.md records them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, write_synthetic_potsdam_tile  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=6000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=128)
    ap.add_argument("--workdir", default=None, help="keep the data here (default: a temporary folder)")
    args = ap.parse_args()

    import numpy as np
    import rasterio
    import torch
    from rasterio.windows import Window

    from landseg.classes import ISPRS
    from landseg.cli import main as cli
    from landseg.evaluate import evaluate_model
    from landseg.inference.engine import TorchEngine
    from landseg.inference.sliding import sliding_window
    from landseg.models.build import build_model
    from landseg.models.checkpoint import Checkpoint
    from landseg.predict import PredictOptions, predict_raster

    tmp = tempfile.TemporaryDirectory(prefix="bench-evaluate-")
    work = Path(args.workdir or tmp.name)
    t0 = time.perf_counter()
    src = write_synthetic_potsdam_tile(work / "download", tile="2_13", size=args.size)
    ds = work / "prepared"
    if not (ds / "dataset.json").exists():
        assert cli(["prepare", "potsdam", str(src), str(ds), "--val-fraction", "0"]) == 0
    print(f"data: {args.size}x{args.size} tile written and prepared in {time.perf_counter() - t0:.1f} s")

    arch = {"name": "unet", "in_channels": 3, "num_classes": 6, "width": 16, "depth": 4}
    torch.manual_seed(0)
    ckpt = Checkpoint(arch=arch, class_table=ISPRS, bands=["red", "green", "blue"], mean=[120.0] * 3,
                      std=[50.0] * 3, pixel_size=0.05, state_dict=build_model(arch).state_dict(),
                      path=str(work / "small.safetensors"))
    engine = TorchEngine(ckpt, "cpu", "auto")
    dtype = str(engine.dtype).replace("torch.", "") if engine.dtype else "fp32"
    image = ds / "tiles" / "2_13" / "image.tif"
    engine(np.zeros((1, 3, args.window, args.window), np.uint8))  # warm-up

    def floor() -> float:
        t = time.perf_counter()
        with rasterio.open(image) as img:
            for _ in sliding_window(lambda r, c, h, w: img.read(window=Window(c, r, w, h)), img.height, img.width,
                                    engine, 6, window=args.window, overlap=args.overlap):
                pass
        return time.perf_counter() - t

    def predict() -> float:
        t = time.perf_counter()
        predict_raster(engine, ckpt, image, work / "predict",
                       PredictOptions(window=args.window, overlap=args.overlap, overwrite=True, progress=False))
        return time.perf_counter() - t

    def evaluate() -> float:
        t = time.perf_counter()
        evaluate_model(ckpt, ds, "test", work / "evaluate", window=args.window, overlap=args.overlap,
                       engine=engine, progress=False)
        return time.perf_counter() - t

    print(f"machine: {machine()}; torch threads {torch.get_num_threads()}, {dtype}")
    print(f"model: U-Net width 16, depth 4, random weights; window {args.window}, overlap {args.overlap}")
    times: dict[str, list[float]] = {"floor": [], "predict": [], "evaluate": []}
    times["floor"].append(floor())
    print(f"  inference floor: {times['floor'][-1]:.1f} s")
    for i in range(args.repeats):
        for name, fn in (("predict", predict), ("evaluate", evaluate)):
            times[name].append(fn())
            print(f"  run {i + 1}: {name} {times[name][-1]:.1f} s")
    best = {k: min(v) for k, v in times.items()}
    print()
    print("| step | best | all runs |")
    print("|---|---:|---|")
    for k, label in (("floor", "sliding-window inference alone"), ("predict", "predict (COG, previews, areas)"),
                     ("evaluate", "evaluate (2 references, class map, previews, metrics)")):
        print(f"| {label} | {best[k]:.1f} s | {', '.join(f'{x:.1f}' for x in times[k])} |")
    print()
    print(f"evaluate / predict: {best['evaluate'] / best['predict']:.3f}x (target <= 1.10x)")
    print(f"evaluate / inference floor: {best['evaluate'] / best['floor']:.3f}x; "
          f"predict / floor: {best['predict'] / best['floor']:.3f}x")
    tmp.cleanup()


if __name__ == "__main__":
    main()
