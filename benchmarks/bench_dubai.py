"""Issue 3 real-data benchmark: train the small U-Net on the real Dubai data (Tiles 1-6 for training
and validation), then score Tile 7 (held out) with the same metric code as `landseg evaluate`.

Usage:
  python benchmarks/bench_dubai.py [--epochs 17] [--minutes M] [--seed 0] [--work /tmp/landseg-dubai] [--eval-only RUN]
17 epochs of 1024 windows take about 25 minutes on the 2-core development CPU. A fixed number of epochs
(rather than --minutes, which makes the schedule follow the clock) keeps the run reproducible.
The exact commands it runs are printed, so they can be repeated by hand.
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from _common import ROOT, machine

from landseg.cli import main as cli
from landseg.data.prepare import load_manifest
from landseg.evaluate import evaluate_tiles
from landseg.inference.engine import TorchEngine, tta_call
from landseg.metrics import metrics_from_confusion
from landseg.models.checkpoint import load_checkpoint

SRC = ROOT.parent / "shared" / "realdata" / "Kaarti22_satellite-imagery" / "Semantic segmentation dataset"


def run(argv: list[str]) -> None:
    print("$ landseg " + " ".join(shlex.quote(a) for a in argv), flush=True)
    assert cli(argv) == 0


def score(ckpt_path: Path, dataset: Path, tta: bool) -> dict:
    m = load_manifest(dataset)
    ck = load_checkpoint(ckpt_path)
    eng = TorchEngine(ck, "cpu", "auto")
    fn = (lambda b: tta_call(eng, b)) if tta else eng
    tiles = [t for t in m["tiles"] if t["split"] == "test"]
    cm, _, _ = evaluate_tiles(fn, m["root"], tiles, ck.class_table, window=512, overlap=128)
    return metrics_from_confusion(cm, ck.class_table.names)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=17)
    ap.add_argument("--minutes", type=float, default=None, help="time limit instead of a fixed schedule")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="/tmp/landseg-dubai")
    ap.add_argument("--eval-only", help="score an existing run folder instead of training")
    args = ap.parse_args()
    work = Path(args.work)
    dataset = work / "dubai"
    print(f"machine: {machine()}")
    if not (dataset / "dataset.json").exists():
        run(["prepare", "folder", str(SRC), str(dataset), "--class-table", "dubai", "--test", "Tile_7__*"])
    runs = Path(args.eval_only) if args.eval_only else work / f"run_seed{args.seed}"
    if not args.eval_only:
        t = time.perf_counter()
        limit = ["--time-limit", str(args.minutes)] if args.minutes else []
        run(["train", str(dataset), "--out", str(runs), "--epochs", str(args.epochs), "--seed", str(args.seed), *limit])
        print(f"training wall time {(time.perf_counter() - t) / 60:.1f} min")
    for name in ("best", "last"):
        for tta in (False, True):
            s = score(runs / f"{name}.safetensors", dataset, tta)
            print(f"Tile 7, {name} checkpoint{' + TTA' if tta else ''}: OA {s['oa']:.3f}, mean F1 {s['mean_f1']:.3f}, "
                  f"mIoU {s['miou']:.3f}; per-class IoU "
                  + ", ".join(f"{n} {v['iou']:.2f}" for n, v in s["per_class"].items() if v["iou"] is not None),
                  flush=True)


if __name__ == "__main__":
    main()
