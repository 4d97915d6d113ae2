"""Exact zonal coverage: landseg's hand-written ``pixel_coverage`` (via ``zonal_areas``) against exactextract.

    .venv/bin/python benchmarks/bench_coverage.py [--size 3000] [--parcels 1000] [--repeat 3]

Builds the synthetic 5 cm class map of bench_area.py and ``--parcels`` random convex parcels
(0.5-25 m across, some over the raster's edges), then times both end to end (raster read, coverage,
per-class sums; best of ``--repeat``) and prints the largest difference of the per-zone, per-class
covered pixel counts. Needs the test extra (``pip install exactextract``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyogrio.raw
import rasterio
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_area import make_classmap  # noqa: E402

from landseg.area import zonal_areas  # noqa: E402
from landseg.classes import ISPRS  # noqa: E402


def random_parcels(n: int, size: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    extent = size * 0.05
    out = []
    for _ in range(n):
        cx, cy = 367000 + rng.uniform(-2, extent + 2), 5808000 - rng.uniform(-2, extent + 2)
        ang, r = rng.uniform(0, 2 * np.pi, 7), rng.uniform(0.25, 12.5, 7)
        out.append(shapely.MultiPoint(np.column_stack([cx + r * np.cos(ang), cy + r * np.sin(ang)])).convex_hull)
    return out


def best(fn, repeat: int) -> tuple[float, object]:
    times, res = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t)
    return min(times), res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=3000)
    ap.add_argument("--parcels", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from exactextract import exact_extract

    with tempfile.TemporaryDirectory() as tmp:
        raster, zones_path = Path(tmp) / "classes.tif", Path(tmp) / "parcels.gpkg"
        make_classmap(raster, args.size)
        zones = random_parcels(args.parcels, args.size)
        pyogrio.raw.write(str(zones_path), shapely.to_wkb(np.array(zones, dtype=object)),
                          [np.arange(1, len(zones) + 1)], ["pid"], driver="GPKG", crs="EPSG:32633",
                          geometry_type="Polygon")
        feats = [{"type": "Feature", "properties": {"pid": i + 1}, "geometry": shapely.geometry.mapping(g)}
                 for i, g in enumerate(zones)]

        def ee():
            with rasterio.open(raster) as ds:
                return exact_extract(ds, feats, ["unique", "frac", "count"], include_cols=["pid"])

        t_ls, zr = best(lambda: zonal_areas(raster, zones_path, "pid"), args.repeat)
        t_ee, er = best(ee, args.repeat)
    nc = ISPRS.num_classes
    diff, total = 0.0, 0.0
    for z, f in zip(zr.zones, er):
        p = f["properties"]
        expect = np.zeros(nc)
        if p["count"] > 0:
            expect[np.asarray(p["unique"], dtype=int)] = np.asarray(p["frac"]) * p["count"]
        diff = max(diff, float(np.abs(z.class_pixels - expect).max()))
        total += float(z.class_pixels.sum())
    print(f"{args.size}x{args.size} class map, {len(zones)} parcels ({total:,.0f} covered pixels in all)")
    print(f"landseg zonal_areas (pixel_coverage): {t_ls:.3f} s")
    print(f"exactextract exact_extract          : {t_ee:.3f} s")
    print(f"max abs difference per zone and class: {diff:.3g} pixels")


if __name__ == "__main__":
    main()
