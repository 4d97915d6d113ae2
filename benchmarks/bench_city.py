"""City-scale prediction: one process vs a local Ray cluster (1 and 2 workers), mosaic vs per-tile reading,
per-worker memory, and a paper estimate for a whole city.

    python benchmarks/bench_city.py [--tiles 16] [--size 2000] [--width 8]

Synthetic 3-band tiles (4x4 grid) at 20 cm, a random U-Net (width --width, depth 3: the model's cost,
not its accuracy, matters here), window 512 / overlap 128, fp32 on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rasterio
import torch
from _common import ROOT, machine
from rasterio.transform import from_origin
from synthetic import synth_image, synth_scene

from landseg.classes import ISPRS
from landseg.cluster import ClusterOptions
from landseg.models.build import build_model
from landseg.models.checkpoint import Checkpoint, save_checkpoint
from landseg.mosaic import predict_mosaic
from landseg.predict import PredictOptions, predict_files

PS = 0.2


def make_inputs(folder: Path, n: int, size: int, width: int) -> tuple[Path, Path]:
    torch.manual_seed(0)
    arch = {"name": "unet", "in_channels": 3, "num_classes": 6, "width": width, "depth": 3}
    ck = Checkpoint(arch=arch, class_table=ISPRS, bands=["red", "green", "blue"], mean=[120.0] * 3, std=[50.0] * 3,
                    pixel_size=None, state_dict=build_model(arch).state_dict())
    model = folder / "model.safetensors"
    save_checkpoint(ck, model)
    tiles = folder / "tiles"
    tiles.mkdir()
    side = int(round(n ** 0.5))
    for k in range(n):
        i, j = divmod(k, side)
        img = synth_image(synth_scene(size, size, seed=k), seed=k)
        with rasterio.open(tiles / f"t{i:02d}_{j:02d}.tif", "w", driver="GTiff", width=size, height=size, count=3,
                           dtype="uint8", crs="EPSG:32633", tiled=True, blockxsize=256, blockysize=256,
                           transform=from_origin(367000 + j * size * PS, 5808000 - i * size * PS, PS, PS)) as ds:
            ds.write(img)
    return model, tiles


def timed(fn) -> float:
    t0 = time.perf_counter()
    errors = fn()
    assert not errors, errors
    return time.perf_counter() - t0


def worker_memory(model: Path, tiles: Path, out: Path) -> float:
    """Peak RSS (MB) of a fresh process that predicts one tile of the mosaic (a worker's footprint per tile)."""
    code = (f"import resource, sys; from landseg.mosaic import predict_mosaic; from landseg.predict import PredictOptions;"
            f"predict_mosaic({str(model)!r}, [{str(next(iter(sorted(tiles.glob('*.tif')))))!r}], {str(out)!r}, "
            f"PredictOptions(progress=False, previews=False), device='cpu', precision='fp32', echo=lambda s: None);"
            f"print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiles", type=int, default=16)
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--width", type=int, default=8)
    args = ap.parse_args()
    opts = PredictOptions(progress=False, previews=False, areas=True)
    kw = dict(device="cpu", precision="fp32", echo=lambda s: None)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        model, tiles = make_inputs(d, args.tiles, args.size, args.width)
        mpix = args.tiles * args.size**2 / 1e6
        res: dict[str, float] = {}
        res["per-tile reading, 1 process"] = timed(lambda: predict_files(str(model), [tiles], d / "solo", opts, **kw))
        res["mosaic, 1 process"] = timed(lambda: predict_mosaic(str(model), [tiles], d / "one", opts, **kw))
        import ray  # noqa: PLC0415 - the benchmark needs the cluster extra

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        for n in (1, 2):
            res[f"mosaic, Ray {n} worker(s)"] = timed(lambda n=n: predict_mosaic(
                str(model), [tiles], d / f"ray{n}", opts, cluster=ClusterOptions("local", workers=n), **kw))
        ray.shutdown()
        mem = worker_memory(model, tiles, d / "mem")
    one = res["mosaic, 1 process"]
    print(f"machine: {machine()}; torch threads {torch.get_num_threads()}")
    print(f"{args.tiles} tiles of {args.size}x{args.size} ({mpix:.0f} MPix), U-Net width {args.width}, window 512/128, fp32")
    for k, v in res.items():
        print(f"  {k:32s} {v:7.1f} s  {mpix / v:6.2f} MPix/s")
    print(f"  mosaic reading overhead vs per-tile reading: {one / res['per-tile reading, 1 process'] - 1:+.1%} "
          "(includes the halo windows that per-tile reading does not compute)")
    r1, r2 = res["mosaic, Ray 1 worker(s)"], res["mosaic, Ray 2 worker(s)"]
    print(f"  Ray scaling 1 -> 2 workers: x{r1 / r2:.2f} (efficiency {r1 / r2 / 2:.0%}); Ray 1 worker vs 1 process: "
          f"{r1 / one - 1:+.1%}")
    print(f"  peak RSS of a process predicting one {args.size}x{args.size} tile: {mem:.0f} MB")
    per_worker = mpix / r1
    city = 900e6 / PS**2 / 1e6  # MPix of 900 km² at 20 cm
    print(f"  city estimate: 900 km² at {PS} m = {city:,.0f} MPix; at the measured {per_worker:.2f} MPix/s per CPU "
          f"worker: {city / per_worker / 3600:,.1f} worker-hours")
    print(json.dumps({k: round(v, 2) for k, v in res.items()} | {"rss_mb": round(mem), "mpix": mpix}))


if __name__ == "__main__":
    main()
