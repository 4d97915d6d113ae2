"""Benchmark the planning steps (issue 22) against a plain class_areas on 6000x6000 maps.

    .venv/bin/python benchmarks/bench_planning.py [--size 6000] [--zones 1000] [--buildings 10000] [--cache DIR]

Inputs (built once and cached under --cache, default /tmp/landseg_bench_planning): two 0.5 m class maps of
a 3 km x 3 km synthetic city (blobby green, impervious and tree cover, large parks, ``--buildings``
rectangular buildings of 40-250 m² on a jittered grid), the second derived from the first by a change
process (new buildings on green in 10 % of 300 px blocks, greening of impervious in 5 %); a grid of
``--zones`` zones; a 1000-point change sample of the transition map and a 1000-point sample of the first
map, both filled from the maps. Each step runs in a fresh process, so its peak RSS (``ru_maxrss``, and its
growth over the process after imports) is its own. Prints the figures; BENCHMARKS.md records them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("GDAL_CACHEMAX", "64")  # MB, as the landseg CLI sets it

PX = 0.5
ORIGIN = (367000.0, 5808000.0)
STEPS = ("class_areas", "change", "change_reference", "green", "indicators", "indicators_calibrated",
         "three_30_300")


def make_city(path: Path, size: int, buildings: int, seed: int = 0) -> None:
    from scipy import ndimage


    rng = np.random.default_rng(seed)
    coarse = ndimage.gaussian_filter(rng.standard_normal((size // 40, size // 40)), 1.5)
    fine = ndimage.gaussian_filter(rng.standard_normal((size // 4, size // 4)), 1.0)
    field = np.kron(coarse / coarse.std(), np.ones((10, 10), np.float32)) + 0.4 * fine / fine.std()
    classes = np.full(field.shape, 0, np.uint8)  # impervious
    classes[field > 0.3] = 2  # low vegetation
    classes[field > 1.2] = 3  # trees
    classes = np.kron(classes, np.ones((4, 4), np.uint8))[:size, :size]
    k = int(np.ceil(np.sqrt(buildings)))
    step = size / k
    placed = 0
    for i in range(k):
        for j in range(k):
            if placed >= buildings:
                break
            h, w = rng.integers(13, 32, 2)
            r = int(i * step + rng.uniform(0, max(step - h, 1)))
            c = int(j * step + rng.uniform(0, max(step - w, 1)))
            classes[r:r + h, c:c + w] = 1
            placed += 1
    cars = rng.integers(0, size - 4, (20000, 2))
    for r, c in cars:
        if classes[r, c] == 0:
            classes[r:r + 2, c:c + 4] = 4
    write_map(path, classes, size)


def write_map(path: Path, classes: np.ndarray, size: int) -> None:
    import rasterio
    from rasterio.transform import from_origin

    from landseg.area import CLASS_TABLE_TAG
    from landseg.classes import ISPRS

    prof = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs="EPSG:32633",
                transform=from_origin(*ORIGIN, PX, PX), tiled=True, blockxsize=512, blockysize=512,
                compress="deflate", predictor=2, nodata=255)
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(classes, 1)
        ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(ISPRS.to_dict())})


def make_after(before: Path, after: Path, size: int, seed: int = 1) -> None:
    import rasterio

    with rasterio.open(before) as ds:
        a = ds.read(1)
    rng = np.random.default_rng(seed)
    nb = -(-size // 300)
    dev = np.kron(rng.random((nb, nb)) < 0.10, np.ones((300, 300), bool))[:size, :size]
    green = np.kron(rng.random((nb, nb)) < 0.05, np.ones((300, 300), bool))[:size, :size]
    b = a.copy()
    b[dev & np.isin(a, [2, 3]) & (np.indices(a.shape).sum(axis=0) % 40 < 25)] = 1
    b[green & (a == 0)] = 2
    write_map(after, b, size)


def make_zones(path: Path, size: int, n: int) -> None:
    import pyogrio.raw
    import shapely

    k = int(np.ceil(np.sqrt(n)))
    extent = size * PX
    s = extent / k
    boxes = [shapely.box(ORIGIN[0] + j * s, ORIGIN[1] - (i + 1) * s, ORIGIN[0] + (j + 1) * s, ORIGIN[1] - i * s)
             for i in range(k) for j in range(k)][:n]
    pyogrio.raw.write(str(path), shapely.to_wkb(np.array(boxes, dtype=object)), [np.arange(1, len(boxes) + 1)],
                      ["zone"], driver="GPKG", crs="EPSG:32633", geometry_type="Polygon")


def fill_change_sample(points: Path, before: Path, after: Path) -> None:
    import pyogrio.raw
    import rasterio
    from rasterio.windows import Window

    from landseg.classes import ISPRS

    meta, _, wkb, data = pyogrio.raw.read(points)
    fields = dict(zip(meta["fields"], data))
    for key, src in (("reference_before", before), ("reference_after", after)):
        with rasterio.open(src) as ds:
            vals = [int(ds.read(1, window=Window(int(c), int(r), 1, 1))[0, 0])
                    for r, c in zip(fields["row"], fields["col"])]
        fields[key] = np.array([ISPRS.names[v] for v in vals], dtype=object)
    pyogrio.raw.write(str(points), wkb, list(fields.values()), list(fields.keys()), driver="GPKG",
                      crs=meta["crs"], geometry_type="Point", layer="reference_sample")


def build(d: Path, size: int, zones: int, buildings: int) -> None:
    from landseg.accuracy import draw_sample
    from landseg.change import detect_change

    marker = d / f"inputs_{size}_{zones}_{buildings}.done"
    if marker.exists():
        print(f"inputs cached in {d}")
        return
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    make_city(d / "before.tif", size, buildings)
    make_after(d / "before.tif", d / "after.tif", size)
    make_zones(d / "zones.gpkg", size, zones)
    detect_change(d / "before.tif", d / "after.tif", d / "sample_chg")
    draw_sample(d / "sample_chg" / "transitions.tif", d / "change_points.gpkg", 1000, min_per_class=50,
                strata="roles")
    fill_change_sample(d / "change_points.gpkg", d / "before.tif", d / "after.tif")
    draw_sample(d / "before.tif", d / "points.gpkg", 1000, truth=d / "before.tif")
    marker.write_text("ok")
    print(f"inputs built in {time.perf_counter() - t0:.1f} s under {d}")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_step(step: str, d: Path) -> dict:
    from pyproj import CRS

    from landseg.area import class_areas, zone_indicators
    from landseg.area.green_access import green_access
    from landseg.change import detect_change
    from landseg.change_reference import assess_change
    from landseg.green import green_monitoring
    from landseg.parcels import calibrate_parcels

    _ = CRS.from_epsg(32633).axis_info
    base = rss_mb()
    t0 = time.perf_counter()
    info: dict = {}
    b, a, z, out = d / "before.tif", d / "after.tif", d / "zones.gpkg", d / f"out_{step}"
    if step == "class_areas":
        info["pixels"] = class_areas(b).valid_pixels
    elif step == "change":
        info["zones"] = len(detect_change(b, a, out, zones=z).zones or [])
    elif step == "change_reference":
        acc = assess_change(detect_change(b, a, out, zones=z), d / "change_points.gpkg")
        info["zones_estimated"] = sum(1 for x in acc.zones or [] if not x.note)
    elif step == "green":
        g = green_monitoring(b, a, z, out, reference=d / "change_points.gpkg")
        info["verdicts"] = {v: g.columns["green_verdict"].count(v) for v in set(g.columns["green_verdict"])}
    elif step == "indicators":
        info["buildings"] = int(np.nansum(zone_indicators(b, z, min_building_area=10).values["buildings"]))
    elif step == "indicators_calibrated":
        ind = zone_indicators(b, z, min_building_area=10)
        calibrate_parcels(ind, b, d / "points.gpkg")
        info["parcels"] = len(ind.extra["sealed_m2"].values)
    elif step == "three_30_300":
        _, acc = green_access(b, z)
        info["buildings"] = int(acc.x.size)
        info["within_300m"] = float(acc.park_within_300m.mean())
    return dict(step=step, seconds=time.perf_counter() - t0, rss_growth_mb=rss_mb() - base, rss_peak_mb=rss_mb(),
                **info)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=6000)
    ap.add_argument("--zones", type=int, default=1000)
    ap.add_argument("--buildings", type=int, default=10000)
    ap.add_argument("--cache", default="/tmp/landseg_bench_planning")
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    d = Path(args.cache) / f"{args.size}_{args.zones}_{args.buildings}"
    if args.step:  # child process
        print(json.dumps(run_step(args.step, d)))
        return
    if args.build:
        build(d, args.size, args.zones, args.buildings)
        return
    # the inputs are built in a child too: ru_maxrss survives fork + exec, so a parent that held the whole
    # maps would hand its peak on to every measured step
    subprocess.run([sys.executable, __file__, "--build", "--cache", args.cache, "--size", str(args.size), "--zones",
                    str(args.zones), "--buildings", str(args.buildings)], check=True)
    results = {}
    for step in args.steps.split(","):
        proc = subprocess.run([sys.executable, __file__, "--step", step, "--cache", args.cache, "--size",
                               str(args.size), "--zones", str(args.zones), "--buildings", str(args.buildings)],
                              capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results[step] = r
        extra = {k: v for k, v in r.items() if k not in ("step", "seconds", "rss_growth_mb", "rss_peak_mb")}
        print(f"{step:22s} {r['seconds']:7.2f} s   peak RSS {r['rss_peak_mb']:6.0f} MB "
              f"(+{r['rss_growth_mb']:5.0f} MB over imports)   {extra}")
    if "class_areas" in results:
        ca = results["class_areas"]["seconds"]
        print("time relative to class_areas: " + ", ".join(f"{s} {r['seconds'] / ca:.1f}x" for s, r in results.items()))
    full = args.size * args.size
    print(f"for scale: one full-size uint8 array is {full / 2**20:.0f} MB, float64 {full * 8 / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
