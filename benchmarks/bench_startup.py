"""Start-up time of the command line: what ``import landseg.cli`` costs and how long small commands take.

    .venv/bin/python benchmarks/bench_startup.py [--runs 5] [--top 12] [--src DIR]

Three figures, each from fresh interpreters (the same Python that runs this script, with this checkout's
``src``, or ``--src DIR``, e.g. an older commit's ``git archive``, first on the path):

- ``python -X importtime -c "import landseg.cli"``: the modules with the largest cumulative import time;
- the wall time of ``landseg --help``, ``landseg area SAMPLE`` (the bundled real Potsdam 4_13 label crop,
  1000x1000 at 5 cm, ``src/landseg/assets/samples/potsdam_4_13_label.tif``) and ``landseg report`` on a predict
  folder made once from that label (median and min of ``--runs`` runs, after one unmeasured warm-up run
  that fills the OS file cache);
- whether each of those commands imported torch (``sys.modules`` at exit).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "landseg" / "assets" / "samples" / "potsdam_4_13_label.tif"

# Runs main(argv) like the console script does, then says whether torch was imported on the way.
RUNNER = ("import sys\nfrom landseg.cli import main\ncode = main(sys.argv[1:])\n"
          "print('TORCH_IMPORTED' if 'torch' in sys.modules else 'TORCH_NOT_IMPORTED', file=sys.stderr)\n"
          "raise SystemExit(code)\n")


def _env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def import_times(src: Path, top: int) -> list[tuple[float, float, str]]:
    """(cumulative s, self s, module) of the ``top`` slowest imports of ``import landseg.cli``."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", "import landseg.cli"], env=_env(src),
                       capture_output=True, text=True, check=True)
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = (x.strip() for x in line[len("import time:"):].split("|", 2))
        rows.append((int(cum_us) / 1e6, int(self_us) / 1e6, name))
    return sorted(rows, reverse=True)[:top]


def timed(src: Path, args: list[str], runs: int) -> tuple[float, float, bool]:
    """(median s, min s, torch imported) of ``landseg ARGS`` in fresh interpreters."""
    cmd = [sys.executable, "-c", RUNNER, *args]
    times, torch = [], False
    for i in range(runs + 1):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, env=_env(src), capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"landseg {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
        torch = "TORCH_IMPORTED" in p.stderr.split()
        if i:  # the first run only warms the file cache
            times.append(dt)
    return statistics.median(times), min(times), torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--src", type=Path, default=ROOT / "src",
                    help="the landseg sources to measure (default: this checkout's)")
    a = ap.parse_args()
    src = a.src.resolve()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import machine

    print(f"# start-up of {src}, {machine()}, {a.runs} runs each")
    print(f"\n## python -X importtime -c 'import landseg.cli' (top {a.top} by cumulative time)")
    print(f"{'cumulative s':>12} {'self s':>8}  module")
    for cum, self_, name in import_times(src, a.top):
        print(f"{cum:12.3f} {self_:8.3f}  {name}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pred"
        folder.mkdir()  # a predict folder for `landseg report`: the label as the class map
        shutil.copy(SAMPLE, folder / "potsdam_4_13_label_classes.tif")
        cases = [("--help", ["--help"]),
                 ("area SAMPLE", ["area", str(SAMPLE)]),
                 ("report PREDICT_FOLDER", ["report", str(folder), "--out", str(Path(tmp) / "r.html")])]
        print("\n## wall time of landseg COMMAND (fresh interpreter each run)")
        print(f"{'command':<24} {'median s':>9} {'min s':>7}  torch imported")
        for label, args in cases:
            med, lo, torch = timed(src, args, a.runs)
            print(f"{label:<24} {med:9.2f} {lo:7.2f}  {'yes' if torch else 'no'}")


if __name__ == "__main__":
    main()
