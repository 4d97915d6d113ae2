"""Issue 3 benchmark: training throughput (windows/s) of the small and full U-Net on this machine,
with the data loader alone measured in the same run (it must deliver >= 3x what a step consumes).

Usage: python benchmarks/bench_train.py DATASET [--steps 6] [--device cpu]
DATASET is a prepared dataset (e.g. the Dubai data: see BENCHMARKS.md for the prepare command).
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import machine
from torch.utils.data import DataLoader

from landseg.train import Trainer
from landseg.train_config import make_config


def loader_rate(tr: Trainer, batches: int, workers: int) -> float:
    from landseg.data.dataset import RandomWindows

    cfg = tr.cfg
    ds = RandomWindows(tr.root, tr.train_tiles, cfg.window, batches * cfg.batch_size, seed=1,
                       scale=(cfg.scale_min, cfg.scale_max), jitter_strength=cfg.jitter)
    dl = DataLoader(ds, batch_size=cfg.batch_size, num_workers=workers)
    it = iter(dl)
    next(it)  # worker start-up excluded
    t = time.perf_counter()
    n = 0
    for x, _ in it:
        n += x.shape[0]
    return n / (time.perf_counter() - t)


def step_rate(tr: Trainer, steps: int, precision_label: str) -> float:
    import torch.nn.functional as F

    cfg = tr.cfg
    x = torch.randint(0, 255, (cfg.batch_size, tr.arch["in_channels"], cfg.window, cfg.window), dtype=torch.uint8)
    y = torch.randint(0, tr.arch["num_classes"], (cfg.batch_size, cfg.window, cfg.window))
    x, y = x.to(tr.device), y.to(tr.device)
    times = []
    for i in range(steps + 1):
        if tr.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        xx = ((x.float() - tr.mean) / tr.std).contiguous(memory_format=torch.channels_last)
        with torch.autocast(tr.device.type, dtype=tr.amp or torch.float32, enabled=tr.amp is not None):
            logits = tr.model(xx)
        loss = F.cross_entropy(logits.float(), y)
        tr.opt.zero_grad()
        loss.backward()
        tr.opt.step()
        if tr.device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t)
    return cfg.batch_size / (sum(times) / len(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="small,full")
    args = ap.parse_args()
    print(f"machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    for model in args.models.split(","):
        for precision in ("auto", "fp32"):
            cfg = make_config({"model": model, "device": args.device, "precision": precision, "batch_size": 8,
                               "window": 256})
            tr = Trainer(args.dataset, "/tmp/landseg-bench-train", cfg)
            rate = step_rate(tr, args.steps, precision)
            amp = str(tr.amp).replace("torch.", "") if tr.amp else "fp32"
            line = f"{model:5s} ({sum(p.numel() for p in tr.model.parameters()) / 1e6:.1f} M params) {amp:8s}: " \
                   f"{rate:6.1f} windows/s (256x256, batch 8, channels_last)"
            if precision == "auto":
                lr = loader_rate(tr, 24, workers=1)
                line += f"; loader alone (1 worker) {lr:6.1f} windows/s = {lr / rate:.1f}x the step"
            print(line, flush=True)


if __name__ == "__main__":
    main()
