"""Issue 11 accuracy table: each model trained for the same CPU time on the real Dubai data (Tiles 1-6),
then scored on the whole of Tile 7 (never seen in training) by `landseg evaluate` (kept in RUN/eval_tile7).

Usage:
  python benchmarks/bench_models_dubai.py DATASET --work DIR --minutes 25 \
      --models small effnet-lite0-unet 'small:loss=ce,optimizer=adam,lr=0.001,schedule=constant,jitter=0'
DATASET: `landseg prepare folder ".../Semantic segmentation dataset" DATASET --class-table dubai --test 'Tile_7__*'`.
A model entry is NAME or NAME:KEY=VALUE,... (extra training config keys, e.g. a different recipe).
A run folder that already holds a finished run (best.safetensors and metrics.json) is scored, not
retrained, so an interrupted table can be completed. Results are printed as a markdown table and kept
in DIR/results.json. Each training run needs the CPU to itself for its time budget to mean anything.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import time
from pathlib import Path

from _common import machine

from landseg.cli import main as cli
from landseg.models.build import build_model
from landseg.models.checkpoint import load_checkpoint
from landseg.models.unet import count_parameters


def parse_entry(entry: str) -> tuple[str, list[str], str]:
    name, _, extra = entry.partition(":")
    sets = [kv for kv in extra.split(",") if kv]
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", entry)
    return name, sets, tag


def train(dataset: Path, run: Path, name: str, sets: list[str], minutes: float, seed: int) -> float:
    argv = ["train", str(dataset), "--out", str(run), "--model", name, "--time-limit", str(minutes),
            "--epochs", "1000", "--seed", str(seed)]
    for kv in sets:
        argv += ["--set", kv]
    print("$ landseg " + " ".join(shlex.quote(a) for a in argv), flush=True)
    t = time.perf_counter()
    assert cli(argv) == 0
    return time.perf_counter() - t


def score(run: Path, dataset: Path) -> dict:
    """`landseg evaluate RUN DATASET --split test` (the run's best checkpoint on all of Tile 7), kept in RUN/eval_tile7."""
    out = run / "eval_tile7"
    if not (out / "metrics.json").exists():
        argv = ["evaluate", str(run), str(dataset), "--split", "test", "--out", str(out), "--no-maps"]
        print("$ landseg " + " ".join(shlex.quote(a) for a in argv), flush=True)
        assert cli(argv) == 0
    return json.loads((out / "metrics.json").read_text())["variants"]["full_with_clutter"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=25.0, help="training time budget per model")
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    args.work.mkdir(parents=True, exist_ok=True)
    store = args.work / "results.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    for entry in args.models:
        name, sets, tag = parse_entry(entry)
        run = args.work / f"{tag}_seed{args.seed}"
        wall = None
        if not ((run / "best.safetensors").exists() and (run / "metrics.json").exists()):
            wall = train(args.dataset, run, name, sets, args.minutes, args.seed)
        history = json.loads((run / "metrics.json").read_text())["history"]
        ck = load_checkpoint(run / "best.safetensors")
        s = score(run, args.dataset)
        results[run.name] = {
            "model": name, "recipe": sets, "seed": args.seed, "params_m": count_parameters(build_model(ck.arch)) / 1e6,
            "train_minutes": history[-1]["elapsed_s"] / 60, "wall_minutes": wall and wall / 60,
            "epochs": len(history), "best_epoch": ck.train.get("epoch"), "steps": history[-1]["step"],
            "oa": s["oa"], "mean_f1": s["mean_f1"], "miou": s["miou"],
            "iou": {n: v["iou"] for n, v in s["per_class"].items()},
        }
        store.write_text(json.dumps(results, indent=1))
        r = results[run.name]
        print(f"{run.name}: Tile 7 OA {r['oa']:.3f} mF1 {r['mean_f1']:.3f} mIoU {r['miou']:.3f}", flush=True)
    print("\n| model | recipe | seed | params | training time | steps (best epoch / epochs) | Tile 7 OA | mean F1 "
          "| mIoU | IoU per class |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results.values():
        ious = " / ".join("–" if v is None else f"{v:.3f}" for v in r["iou"].values())
        print(f"| {r['model']} | {', '.join(r['recipe']) or 'defaults'} | {r['seed']} | {r['params_m']:.2f} M "
              f"| {r['train_minutes']:.1f} min | {r['steps']} ({r['best_epoch']} / {r['epochs']}) | {r['oa']:.3f} "
              f"| {r['mean_f1']:.3f} | {r['miou']:.3f} | {ious} |")


if __name__ == "__main__":
    main()
