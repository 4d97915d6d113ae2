"""Issue 4 benchmark: prediction over large rasters.

- end-to-end `predict_raster` on a 6000x6000 RGB GeoTIFF beside the bare model time for the same
  windows and batch size (small and full U-Net, random weights: speed does not depend on them);
- peak RSS of `landseg predict` at 2000^2, 6000^2 and 20000^2 pixels (small model);
- torch fp32 / torch bf16 / ONNX Runtime fp32 on 2000^2, with pixel agreement against torch fp32;
- achieved FLOP/s of the model beside a large matrix multiplication on the same machine.

Usage: python benchmarks/bench_predict.py [--work DIR] [--sizes 2000,6000,20000] [--skip-full] [--checkpoint default]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from _common import machine, synth_image, synth_scene
from rasterio.transform import from_origin
from rasterio.windows import Window

from landseg.classes import ISPRS
from landseg.inference.engine import OnnxEngine, TorchEngine, export_onnx
from landseg.inference.sliding import count_windows
from landseg.models.build import build_model
from landseg.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from landseg.models.unet import PRESETS
from landseg.predict import PredictOptions, predict_raster

WINDOW, OVERLAP, BATCH = 512, 128, 4


def write_raster(path: Path, size: int, tile: int = 1000) -> Path:
    """A size x size RGB GeoTIFF (tiled), filled block by block from a repeated synthetic scene."""
    if path.exists():
        return path
    lab = synth_scene(tile, tile, seed=1)
    img = synth_image(lab, 1)
    prof = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs="EPSG:32633",
                transform=from_origin(366976.5, 5808562.6, 0.05, 0.05), tiled=True, blockxsize=512, blockysize=512)
    with rasterio.open(path, "w", **prof) as ds:
        for r in range(0, size, tile):
            for c in range(0, size, tile):
                h, w = min(tile, size - r), min(tile, size - c)
                ds.write(img[:, :h, :w], window=Window(c, r, w, h))
    return path


def make_checkpoint(path: Path, preset: str) -> Path:
    torch.manual_seed(0)
    arch = {"name": "unet", "in_channels": 3, "num_classes": 6, **PRESETS[preset]}
    save_checkpoint(Checkpoint(arch=arch, class_table=ISPRS, bands=["red", "green", "blue"], mean=[120.0] * 3,
                               std=[50.0] * 3, pixel_size=None, state_dict=build_model(arch).state_dict()), path)
    return path


def bare_model_seconds(engine, n_windows: int, sample: int) -> float:
    """Model time for ``n_windows`` windows in batches of BATCH (measured on ``sample`` windows, scaled)."""
    x = np.random.default_rng(0).integers(0, 255, (BATCH, 3, WINDOW, WINDOW)).astype(np.uint8)
    engine(x)  # warm-up
    n = min(n_windows, sample)
    t = time.perf_counter()
    for _ in range(0, n, BATCH):
        engine(x)
    return (time.perf_counter() - t) * n_windows / n


def flops_per_window(model: torch.nn.Module) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(torch.zeros(1, 3, WINDOW, WINDOW))
    return float(fc.get_total_flops())


def matmul_flops(dtype: torch.dtype, n: int = 4096) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    t = time.perf_counter()
    reps = 3
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/landseg-bench-predict")
    ap.add_argument("--sizes", default="2000,6000,20000")
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--sample", type=int, default=48, help="windows timed for the bare model figure")
    ap.add_argument("--checkpoint", help="time this model (e.g. default) on 6000^2 instead of the random U-Nets, "
                    "then stop")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; torch {torch.__version__} ({torch.get_num_threads()} threads)", flush=True)
    r6000 = write_raster(work / "img6000.tif", 6000)
    n6000 = count_windows(6000, 6000, WINDOW, OVERLAP)

    # 1. end-to-end vs bare model, 6000^2
    presets = [args.checkpoint] if args.checkpoint else ["small"] + ([] if args.skip_full else ["full"])
    for preset in presets:
        ck = load_checkpoint(args.checkpoint if args.checkpoint else make_checkpoint(work / f"{preset}.safetensors",
                                                                                      preset))
        eng = TorchEngine(ck, "cpu", "auto")
        bare = bare_model_seconds(eng, n6000, args.sample if preset == "full" else n6000)
        t = time.perf_counter()
        predict_raster(eng, ck, r6000, work / f"out_{preset}", PredictOptions(window=WINDOW, overlap=OVERLAP,
                       batch_size=BATCH, overwrite=True, progress=False))
        e2e = time.perf_counter() - t
        fl = flops_per_window(ck.build("cpu"))
        print(f"{preset}: 6000x6000, {n6000} windows of {WINDOW} (overlap {OVERLAP}), batch {BATCH}, "
              f"{str(eng.dtype).replace('torch.', '') if eng.dtype else 'fp32'}: end-to-end {e2e:.1f} s, bare model "
              f"{bare:.1f} s{' (scaled from ' + str(args.sample) + ' windows)' if preset == 'full' else ''}, "
              f"ratio {e2e / bare:.3f}; model {fl / 1e9:.1f} GFLOP/window -> {fl * n6000 / bare / 1e12:.2f} TFLOP/s",
              flush=True)

    if args.checkpoint:
        return
    # 2. matmul reference
    print(f"matmul 4096^2: bf16 {matmul_flops(torch.bfloat16) / 1e12:.2f} TFLOP/s, "
          f"fp32 {matmul_flops(torch.float32) / 1e12:.2f} TFLOP/s", flush=True)

    # 3. engines and precisions on 2000^2
    r2000 = write_raster(work / "img2000.tif", 2000)
    ck = load_checkpoint(work / "small.safetensors")
    outs = {}
    onnx_path = work / "small.onnx"
    export_onnx(ck, str(onnx_path))
    for name, eng in (("torch fp32", TorchEngine(ck, "cpu", "fp32")), ("torch bf16", TorchEngine(ck, "cpu", "bf16")),
                      ("onnxruntime fp32", OnnxEngine(ck, str(onnx_path)))):
        t = time.perf_counter()
        rec = predict_raster(eng, ck, r2000, work / f"eng_{name.replace(' ', '_')}", PredictOptions(
            window=WINDOW, overlap=OVERLAP, batch_size=BATCH, overwrite=True, progress=False, previews=False,
            areas=False))
        dt = time.perf_counter() - t
        with rasterio.open(rec["classes"]) as ds:
            outs[name] = ds.read(1)
        agree = (outs[name] == outs["torch fp32"]).mean()
        print(f"2000x2000 {name:17s}: {dt:6.1f} s, agreement with torch fp32 {100 * agree:.3f} %", flush=True)

    # 4. peak RSS by raster size (fresh process each)
    for size in [int(s) for s in args.sizes.split(",")]:
        src = write_raster(work / f"img{size}.tif", size)
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", (
            "import resource,sys;from landseg.cli import main;"
            f"c=main(['predict','{work / 'small.safetensors'}','{src}','--out','{work / f'rss{size}'}','--overwrite']);"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss);sys.exit(c)")],
            capture_output=True, text=True)
        rss = int(p.stdout.strip().splitlines()[-1]) / 1024 if p.returncode == 0 else float("nan")
        print(f"peak RSS at {size}x{size}: {rss:.0f} MB ({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
