"""Issue 2 benchmark: colour->index throughput, prepare vs the rasterio I/O floor, peak memory.

Usage: python benchmarks/bench_prepare.py [WORKDIR]   (default /tmp/landseg-bench-prepare)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from _common import child_peak_rss_mb, machine, write_synthetic_potsdam_tile
from rasterio.windows import Window

from landseg.classes import ISPRS
from landseg.io.raster import tiled_profile


def per_class(rgb: np.ndarray) -> np.ndarray:
    out = np.full(rgb.shape[:2], 255, np.uint8)
    for i, c in enumerate(ISPRS.colors):
        out[(rgb == np.array(c, np.uint8)).all(-1)] = i
    return out


def io_floor(src: Path, dst: Path) -> float:
    """Read the image and both labels and write image + 2 single-band rasters, in the same strips."""
    t = time.perf_counter()
    img = rasterio.open(next(src.glob("2_Ortho_RGB/*.tif")))
    labs = [rasterio.open(p) for p in sorted(src.glob("5_Labels_all*/*.tif"))]
    h, w = img.height, img.width
    outs = [rasterio.open(dst / "img.tif", "w", **tiled_profile(w, h, 3, "uint8"))]
    outs += [rasterio.open(dst / f"l{i}.tif", "w", **tiled_profile(w, h, 1, "uint8")) for i in range(len(labs))]
    for r in range(0, h, 512):
        win = Window(0, r, w, min(512, h - r))
        outs[0].write(img.read(window=win), window=win)
        for lab, out in zip(labs, outs[1:]):
            out.write(lab.read(window=win)[:1], window=win)
    for ds in (img, *labs, *outs):
        ds.close()
    return time.perf_counter() - t


def main() -> None:
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/landseg-bench-prepare")
    src = write_synthetic_potsdam_tile(work / "Potsdam")
    print(f"machine: {machine()}")
    with rasterio.open(next(src.glob("5_Labels_all/*.tif"))) as ds:
        rgb = np.moveaxis(ds.read(window=Window(0, 0, 6000, 1000)), 0, -1).copy()
    npx = rgb.shape[0] * rgb.shape[1]
    ISPRS.rgb_to_index(rgb)  # build the lookup table once
    t_lut = min(_time(lambda: ISPRS.rgb_to_index(rgb)) for _ in range(3))
    t_cmp = min(_time(lambda: per_class(rgb)) for _ in range(3))
    assert np.array_equal(ISPRS.rgb_to_index(rgb), per_class(rgb))
    print(f"colour->index: lookup {npx / t_lut / 1e6:.0f} MPix/s, per-class comparison {npx / t_cmp / 1e6:.0f} MPix/s, "
          f"speed-up {t_cmp / t_lut:.1f}x")
    floor_dir = Path(tempfile.mkdtemp(dir=work))
    t_floor = min(io_floor(src, floor_dir) for _ in range(2))
    shutil.rmtree(floor_dir)
    from landseg.cli import main as cli

    dest = work / "prepared"
    times = []
    for _ in range(2):
        shutil.rmtree(dest, ignore_errors=True)
        t = time.perf_counter()
        cli(["prepare", "potsdam", str(src), str(dest)])
        times.append(time.perf_counter() - t)
    t_prep = min(times)
    shutil.rmtree(dest, ignore_errors=True)
    wall, rss = child_peak_rss_mb([sys.executable, "-m", "landseg", "prepare", "potsdam", str(src), str(dest)])
    print(f"prepare one 6000x6000 tile (in process): {t_prep:.2f} s; I/O floor {t_floor:.2f} s; "
          f"ratio {t_prep / t_floor:.2f}x")
    print(f"as a command (with interpreter start): {wall:.2f} s; peak RSS {rss:.0f} MB")


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
