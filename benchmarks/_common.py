"""Shared helpers for the benchmark scripts (not part of the package)."""

from __future__ import annotations

import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from synthetic import colour, eroded, synth_image, synth_scene  # noqa: E402


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def write_synthetic_potsdam_tile(folder: Path, tile: str = "2_10", size: int = 6000, block: int = 1000) -> Path:
    """A full-size synthetic Potsdam download (extracted layout), written block by block."""
    folder = Path(folder)
    img_p = folder / "2_Ortho_RGB" / f"top_potsdam_{tile}_RGB.tif"
    lab_p = folder / "5_Labels_all" / f"top_potsdam_{tile}_label.tif"
    ero_p = folder / "5_Labels_all_noBoundary" / f"top_potsdam_{tile}_label_noBoundary.tif"
    if img_p.exists() and lab_p.exists() and ero_p.exists():
        return folder
    for p in (img_p, lab_p, ero_p):
        p.parent.mkdir(parents=True, exist_ok=True)
    tr = from_origin(366976.5, 5808562.6, 0.05, 0.05)
    prof = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8")
    with rasterio.open(img_p, "w", **prof, crs="EPSG:32633", transform=tr) as im, \
            rasterio.open(lab_p, "w", **prof) as lb, rasterio.open(ero_p, "w", **prof) as er:
        for r in range(0, size, block):
            for c in range(0, size, block):
                h, w = min(block, size - r), min(block, size - c)
                lab = synth_scene(h, w, seed=r * 7 + c)
                win = Window(c, r, w, h)
                im.write(synth_image(lab, r + c), window=win)
                lb.write(colour(lab), window=win)
                er.write(colour(eroded(lab)), window=win)
    return folder


def child_peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS of the child in MB)."""
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_landseg(args: list[str], log: Path | None = None) -> tuple[float, float, str]:
    """Run ``python -m landseg ARGS``; return (wall seconds, CPU seconds of the child, its output). A failure
    stops the benchmark with landseg's message; ``log`` (if given) gets the command and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "landseg", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if log is not None:
        with log.open("a") as f:
            f.write(f"$ landseg {' '.join(args)}\n[exit {p.returncode}]\n{p.stdout[-4000:]}{p.stderr[-4000:]}\n")
    if p.returncode:
        raise SystemExit(f"landseg {' '.join(args)} failed:\n{p.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.stdout + p.stderr


def best_of(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
