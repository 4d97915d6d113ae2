"""Benchmark the reference sample, the error-adjusted areas, planning indicators and change on a
6000x6000 class map.

    .venv/bin/python benchmarks/bench_accuracy.py [--n 1000] [--parcels 1000]

The "truth" is the real Potsdam label tile 2_10 (6000x6000, 5 cm) from shared/realdata when present,
else the synthetic blobby map of bench_area.py; the "map" is a copy with building->impervious and
tree->low_vegetation flipped in blocks, the "after" map a second such copy. Both are written as tiled,
deflated class GeoTIFFs (EPSG:32633, 5 cm). The parcels are a 40 x 25 grid of 7.5 m x 12 m rectangles,
each shrunk by a random 0-1 m on every side (so parcels cut pixels), with a random ``max_coverage`` of
0.2-0.6 for ``--limit max_coverage:building_coverage``. Each step runs in a fresh subprocess, beside plain
``class_areas`` of the same map, and reports wall time and peak RSS (``ru_maxrss``). It also prints
the estimates against the true areas.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
POTSDAM = ROOT.parents[0] / "shared" / "realdata" / "jung2shinho_NNModels" / "562_final_report_figures" / "images" \
    / "top_potsdam_2_10_label.png"


def corrupt(truth: np.ndarray, seed: int, block: int = 100) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = truth.shape
    grid = [np.kron(b, np.ones((block, block), np.float32))[:h, :w]
            for b in rng.random((2, -(-h // block), -(-w // block)), dtype=np.float32)]
    out = truth.copy()
    out[(truth == 1) & (grid[0] < 0.30)] = 0  # building -> impervious_surface
    out[(truth == 3) & (grid[1] < 0.25)] = 2  # tree -> low_vegetation
    return out


def write_map(path: Path, arr: np.ndarray) -> None:
    import rasterio
    from rasterio.transform import from_origin

    from landseg.area import CLASS_TABLE_TAG
    from landseg.classes import ISPRS

    prof = dict(driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1, dtype="uint8", crs="EPSG:32633",
                transform=from_origin(366976.5, 5808562.6, 0.05, 0.05), tiled=True, blockxsize=512, blockysize=512,
                compress="deflate", predictor=2, nodata=255)
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(arr, 1)
        ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(ISPRS.to_dict())})


def build(folder: Path) -> str:
    from landseg.area import LabelReader
    from landseg.classes import ISPRS
    from landseg.io.raster import open_raster

    if POTSDAM.exists():
        from rasterio.windows import Window

        with open_raster(POTSDAM) as ds:
            truth = LabelReader(ds, ISPRS, str(POTSDAM)).index(Window(0, 0, ds.width, ds.height))
        source = f"real Potsdam label tile 2_10 ({POTSDAM.name})"
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_area import make_classmap

        make_classmap(folder / "synthetic.tif", 6000)
        with open_raster(folder / "synthetic.tif") as ds:
            truth = ds.read(1)
        source = "synthetic blobby class map (realdata absent)"
    write_map(folder / "truth.tif", truth)
    write_map(folder / "map.tif", corrupt(truth, 1))
    write_map(folder / "after.tif", corrupt(truth, 2))
    write_parcels(folder / "parcels.gpkg", truth.shape)
    return source


def write_parcels(path: Path, shape: tuple[int, int], nx: int = 40, ny: int = 25) -> None:
    import pyogrio.raw
    import shapely

    rng = np.random.default_rng(7)
    x0, y1 = 366976.5, 5808562.6
    w, h = shape[1] * 0.05 / nx, shape[0] * 0.05 / ny
    boxes = []
    for j in range(ny):
        for i in range(nx):
            d = rng.uniform(0, 1.0, 4)
            boxes.append(shapely.box(x0 + i * w + d[0], y1 - (j + 1) * h + d[1],
                                     x0 + (i + 1) * w - d[2], y1 - j * h - d[3]))
    pyogrio.raw.write(str(path), shapely.to_wkb(np.array(boxes, dtype=object)),
                      [np.arange(1, len(boxes) + 1), rng.uniform(0.2, 0.6, len(boxes))], ["pid", "max_coverage"],
                      driver="GPKG", crs="EPSG:32633", geometry_type="Polygon")


def step(name: str, folder: Path, n: int) -> None:
    from landseg.accuracy import assess_accuracy, draw_sample
    from landseg.area import class_areas, zonal_areas, zone_indicators
    from landseg.change import detect_change

    t = time.perf_counter()
    info: dict = {}
    if name == "build":
        info = {"source": build(folder)}
    elif name == "class_areas":
        r = class_areas(folder / "map.tif")
        info = {c.name: c.area_m2 for c in r.classes}
    elif name == "sample":
        d = draw_sample(folder / "map.tif", folder / "points.gpkg", n, truth=folder / "truth.tif", seed=0)
        info = {"allocation": d.allocation.tolist()}
    elif name == "assess":
        r = assess_accuracy(folder / "map.tif", folder / "points.gpkg")
        e = r.estimate
        info = {"overall": e.overall, "adjusted": e.adjusted_area.tolist(), "ci": e.ci_area.tolist(),
                "mapped": e.mapped_area.tolist()}
    elif name == "zonal_areas":
        r = zonal_areas(folder / "map.tif", folder / "parcels.gpkg", "pid")
        info = {"zones": len(r.zones)}
    elif name == "indicators":
        r = zone_indicators(folder / "map.tif", folder / "parcels.gpkg", "pid",
                            limits=["max_coverage:building_coverage"])
        r.write(folder / "parcels_indicators.gpkg")
        info = {"zones": len(r.zonal.zones), "buildings": int(np.nansum(r.values["buildings"])),
                "exceedances": r.limits[0].count}
    elif name == "change":
        r = detect_change(folder / "map.tif", folder / "after.tif", folder / "change")
        info = {"changed_m2": r.changed_m2}
    wall = time.perf_counter() - t
    print(json.dumps({"step": name, "wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      **info}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--step", default=None)
    ap.add_argument("--folder", default=None)
    args = ap.parse_args()
    if args.step:
        step(args.step, Path(args.folder), args.n)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = {}

        def run(name: str) -> dict:
            out = subprocess.run([sys.executable, __file__, "--step", name, "--folder", str(folder), "--n", str(args.n)],
                                 check=True, capture_output=True, text=True).stdout
            return json.loads(out.strip().splitlines()[-1])

        built = run("build")  # in a child too, so that the big arrays never sit in this process
        print(f"inputs: {built['source']}; built in {built['wall_s']:.1f} s")
        for name in ("class_areas", "sample", "assess", "zonal_areas", "indicators", "change"):
            results[name] = run(name)
            print(f"{name:<12} {results[name]['wall_s']:7.2f} s   peak RSS {results[name]['peak_rss_mb']:7.0f} MB")
        from landseg.area import class_areas
        from landseg.classes import ISPRS

        true = {c.name: c.area_m2 for c in class_areas(folder / "truth.tif").classes}
        a = results["assess"]
        print(f"overall accuracy {a['overall']:.4f}")
        print(f"{'class':<20}{'true m2':>12}{'mapped m2':>12}{'adjusted m2':>13}{'± 95 %':>10}")
        for i, name in enumerate(ISPRS.names):
            print(f"{name:<20}{true[name]:>12,.0f}{a['mapped'][i]:>12,.0f}{a['adjusted'][i]:>13,.0f}{a['ci'][i]:>10,.0f}")
        ind = results["indicators"]
        print(f"indicators: {ind['zones']} parcels, {ind['buildings']} buildings counted, "
              f"{ind['exceedances']} parcels over max_coverage")
        print(f"change: {results['change']['changed_m2']:,.0f} m² changed")


if __name__ == "__main__":
    main()
