"""Wall time of the small learning run of tests/test_train.py::test_small_model_learns (tiny U-Net,
4 epochs x 160 windows of 64 px on 4 synthetic 128 px Potsdam tiles), against its 60 s budget.

The unit test checks what is learned; the time budget is machine-dependent, so it lives here.

Usage: python benchmarks/bench_small_train.py [--budget 60] [--repeat 1]
Exit status 1 when the run takes longer than the budget.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import machine
from synthetic import potsdam_download

from landseg.cli import main

FAST = ["--model", "tiny", "--window", "64", "--batch-size", "8", "--num-workers", "0", "--set", "val_window=128",
        "--set", "val_overlap=32", "--set", "scale_min=1", "--set", "scale_max=1"]


def run(budget: float, repeat: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = potsdam_download(root / "P", ["2_10", "2_11", "3_10", "3_11", "4_10"], size=128)
        data = root / "prepared"
        assert main(["prepare", "potsdam", str(src), str(data), "--val", "4_10"]) == 0
        times = []
        for i in range(repeat):
            t0 = time.perf_counter()
            assert main(["train", str(data), "--out", str(root / f"run{i}"), "--epochs", "4", "--windows-per-epoch",
                         "160", "--lr", "0.01", *FAST]) == 0
            times.append(time.perf_counter() - t0)
    best = min(times)
    print(f"{machine()}\nsmall learning run: {best:.1f} s (best of {repeat}; budget {budget:.0f} s)")
    return 0 if best < budget else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    sys.exit(run(a.budget, a.repeat))
