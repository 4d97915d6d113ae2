"""Benchmark class areas, zonal areas, object statistics and vectorisation on a 6000x6000 class map.

    .venv/bin/python benchmarks/bench_area.py [--size 6000] [--parcels 1000]

Builds a synthetic 5 cm class GeoTIFF (blobby classes, tiled, deflate) and a cadastre-like grid of
parcels in a temporary folder, then runs each step in a fresh subprocess so that its peak memory
(``ru_maxrss``, also as growth over the process after imports) is its own; the ``tracemalloc`` peak
of Python/numpy allocations comes from a second run of the step (tracing slows it down). Prints the figures; BENCHMARKS.md records them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def make_classmap(path: Path, size: int, seed: int = 0) -> None:
    """Blobby classes: smoothed noise at two scales, quantised into the six ISPRS classes."""
    import rasterio
    from rasterio.transform import from_origin
    from scipy import ndimage

    from landseg.area import CLASS_TABLE_TAG
    from landseg.classes import ISPRS

    rng = np.random.default_rng(seed)
    coarse = ndimage.gaussian_filter(rng.standard_normal((size // 20, size // 20)), 2.0)
    fine = ndimage.gaussian_filter(rng.standard_normal((size // 4, size // 4)), 1.5)
    field = np.repeat(np.repeat(coarse / coarse.std(), 5, 0), 5, 1) + 0.35 * fine / fine.std()
    edges = np.quantile(field, [0.3, 0.55, 0.7, 0.85, 0.97])
    small = np.digitize(field, edges).astype(np.uint8)
    classes = np.repeat(np.repeat(small, 4, 0), 4, 1)[:size, :size]
    prof = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs="EPSG:32633",
                transform=from_origin(367000, 5808000, 0.05, 0.05), tiled=True, blockxsize=512, blockysize=512,
                compress="deflate", predictor=2)
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(classes, 1)
        ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(ISPRS.to_dict())})


def make_parcels(path: Path, size: int, n: int, seed: int = 0) -> None:
    """A jittered grid of quadrilateral parcels covering the raster (a cadastre), n of them kept."""
    import pyogrio.raw
    import shapely

    rng = np.random.default_rng(seed)
    k = int(np.ceil(np.sqrt(n)))
    extent = size * 0.05
    step = extent / k
    gx, gy = np.meshgrid(np.arange(k + 1) * step, np.arange(k + 1) * step)
    jitter = rng.uniform(-0.3, 0.3, (2, k + 1, k + 1)) * step
    jitter[:, [0, -1], :] = 0
    jitter[:, :, [0, -1]] = 0
    x, y = 367000 + gx + jitter[0], 5808000 - gy - jitter[1]
    polys = [shapely.Polygon([(x[i, j], y[i, j]), (x[i, j + 1], y[i, j + 1]), (x[i + 1, j + 1], y[i + 1, j + 1]),
                              (x[i + 1, j], y[i + 1, j])]) for i in range(k) for j in range(k)][:n]
    pyogrio.raw.write(str(path), shapely.to_wkb(np.array(polys, dtype=object)), [np.arange(1, len(polys) + 1)],
                      ["parcel"], driver="GPKG", crs="EPSG:32633", geometry_type="Polygon")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_step(step: str, classmap: Path, parcels: Path, out: Path, trace: bool) -> dict:
    """One measured step (in a fresh process). The fast counting steps are repeated three times:
    the first run pays for paging in fresh memory, the best one is the steady state."""
    import rasterio
    from pyproj import CRS

    from landseg.area import class_areas, object_stats, zonal_areas
    from landseg.vectorize import vectorize

    _ = CRS.from_epsg(32633).axis_info  # one-time PROJ database start-up (~0.1 s), not per-raster work
    base = rss_mb()
    if trace:
        tracemalloc.start()
    info: dict = {}
    times = []
    for _ in range(3 if step in ("bincount_in_memory", "read_and_bincount", "class_areas") else 1):
        t0 = time.perf_counter()
        if step == "bincount_in_memory":
            with rasterio.open(classmap) as ds:
                a = ds.read(1)
            t0 = time.perf_counter()  # the count alone, the array already in memory
            info["pixels"] = int(np.bincount(a.ravel(), minlength=256).sum())
            del a
        elif step == "read_and_bincount":
            with rasterio.open(classmap) as ds:
                a = ds.read(1)
            info["pixels"] = int(np.bincount(a.ravel(), minlength=256).sum())
            del a
        elif step == "class_areas":
            info["pixels"] = class_areas(classmap).valid_pixels
        elif step == "zonal_areas":
            info["zones"] = len(zonal_areas(classmap, parcels, "parcel").zones)
        elif step == "object_stats":
            info["objects"] = sum(c.count for c in object_stats(classmap, "building,tree,car").classes)
        elif step == "vectorize":
            info["polygons"] = vectorize(classmap, out / "polygons.gpkg").features
        times.append(time.perf_counter() - t0)
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    return dict(step=step, seconds=min(times), first_seconds=times[0], tracemalloc_peak_mb=peak / 2**20,
                rss_growth_mb=rss_mb() - base, rss_peak_mb=rss_mb(), **info)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=6000)
    ap.add_argument("--parcels", type=int, default=1000)
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:  # child process
        d = Path(args.dir)
        print(json.dumps(run_step(args.step, d / "classes.tif", d / "parcels.gpkg", d, args.trace)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        make_classmap(d / "classes.tif", args.size)
        make_parcels(d / "parcels.gpkg", args.size, args.parcels)
        print(f"synthetic {args.size}x{args.size} class map and {args.parcels} parcels built in "
              f"{time.perf_counter() - t0:.1f} s")
        results = {}
        for step in ("bincount_in_memory", "read_and_bincount", "class_areas", "zonal_areas", "object_stats",
                     "vectorize"):
            def child(trace: bool, step: str = step) -> dict:
                cmd = [sys.executable, __file__, "--step", step, "--dir", tmp] + (["--trace"] if trace else [])
                proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
                return json.loads(proc.stdout.strip().splitlines()[-1])

            r = child(False)  # times and peak RSS; tracemalloc slows allocation-heavy code, so its peak
            r["tracemalloc_peak_mb"] = child(True)["tracemalloc_peak_mb"]  # comes from a second run
            results[step] = r
            extra = {k: v for k, v in r.items() if k not in ("step", "seconds", "first_seconds", "tracemalloc_peak_mb",
                                                             "rss_growth_mb", "rss_peak_mb")}
            print(f"{step:20s} {r['seconds']:6.2f} s (first run {r['first_seconds']:5.2f} s)   peak RSS "
                  f"{r['rss_peak_mb']:6.0f} MB (+{r['rss_growth_mb']:5.0f} MB over imports)   "
                  f"tracemalloc peak {r['tracemalloc_peak_mb']:6.1f} MB   {extra}")
        ca = results["class_areas"]["seconds"]
        print("best of 3, steady state:")
        print(f"  class_areas / bare bincount (array in memory): {ca / results['bincount_in_memory']['seconds']:.2f}x")
        print(f"  class_areas / read whole raster + bincount:    {ca / results['read_and_bincount']['seconds']:.2f}x")
        ca1 = results["class_areas"]["first_seconds"]
        print("first run in a fresh process:")
        print(f"  class_areas / bare bincount (array in memory): "
              f"{ca1 / results['bincount_in_memory']['first_seconds']:.2f}x")


if __name__ == "__main__":
    main()
