"""Issue 11 benchmark: end-to-end training windows/s through the real Trainer (loader workers, D4 +
jitter, CE + Dice, metrics, AdamW; validation off) beside a bare forward + backward + step loop on the
same model, batch, window and precision, measured interleaved in one run (median of the rounds), then
inference windows/s and achieved FLOP/s beside a large bf16 matmul timed in the same run.

Usage: python benchmarks/bench_train_loop.py DATASET [--models small,effnet-lite0-unet,effnet-lite0-former]
       [--steps 6] [--rounds 3] [--batch 8] [--window 256] [--device cpu]
DATASET is a prepared dataset (e.g. the Dubai data: see BENCHMARKS.md for the prepare command).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _common import machine

from landseg.models.catalog import count_flops
from landseg.train import Trainer
from landseg.train_config import make_config


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def bare_steps(tr: Trainer, steps: int) -> Callable[[], None]:
    """forward + backward + optimiser step on a fixed batch already on the device (plain cross-entropy)."""
    cfg = tr.cfg
    x = torch.randint(0, 255, (cfg.batch_size, tr.arch["in_channels"], cfg.window, cfg.window), dtype=torch.uint8)
    x = ((x.to(tr.device).float() - tr.mean) / tr.std).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, tr.arch["num_classes"], (cfg.batch_size, cfg.window, cfg.window), device=tr.device)

    def run() -> None:
        tr.model.train()
        for _ in range(steps):
            with torch.autocast(tr.device.type, dtype=tr.amp or torch.float32, enabled=tr.amp is not None):
                logits = tr.model(x)
            loss = F.cross_entropy(logits.float(), y)
            tr.opt.zero_grad(set_to_none=True)
            loss.backward()
            tr.opt.step()

    return run


def trainer_epoch(tr: Trainer) -> Callable[[], None]:
    """One epoch of ``steps`` batches through Trainer.train_epoch (the code path of ``landseg train``)."""

    def run() -> None:
        tr.train_epoch()
        tr.epoch += 1  # fresh windows next time; validation and checkpoints stay off
        tr.batch_in_epoch = 0

    return run


def inference_rate(tr: Trainer, batches: int) -> float:
    cfg = tr.cfg
    x = torch.randn(cfg.batch_size, tr.arch["in_channels"], cfg.window, cfg.window, device=tr.device)
    x = x.contiguous(memory_format=torch.channels_last)
    tr.model.eval()

    def run() -> None:
        with torch.no_grad(), torch.autocast(tr.device.type, dtype=tr.amp or torch.float32, enabled=tr.amp is not None):
            for _ in range(batches):
                tr.model(x)

    run()
    return batches * cfg.batch_size / statistics.median(timed(run, tr.device) for _ in range(3))


def matmul_rate(device: torch.device, n: int = 2048) -> float:
    """bf16 FLOP/s of an n x n x n matrix product (the CPU's or GPU's practical peak)."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    a @ b
    reps = 5
    return 2 * n**3 * reps / statistics.median(timed(lambda: [a @ b for _ in range(reps)], device) for _ in range(3))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--models", default="small,effnet-lite0-unet,effnet-lite0-former")
    ap.add_argument("--steps", type=int, default=6, help="batches per timed round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    print(f"machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    peak = matmul_rate(torch.device(args.device))
    print(f"bf16 matmul 2048^3: {peak / 1e12:.2f} TFLOP/s")
    print("| model | precision | train end-to-end | bare step | ratio | inference | GFLOP/window | achieved "
          "| of matmul |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.models.split(","):
        cfg = make_config({"model": model, "device": args.device, "batch_size": args.batch, "window": args.window,
                           "windows_per_epoch": args.steps * args.batch, "epochs": 10**6})
        with tempfile.TemporaryDirectory() as run:
            tr = Trainer(args.dataset, run, cfg)
            e2e, bare = trainer_epoch(tr), bare_steps(tr, args.steps)
            e2e(), bare()  # warm-up: worker start-up, first-call allocations
            pairs = []
            for _ in range(args.rounds):  # interleaved, so both loops see the same machine load
                pairs.append((timed(e2e, tr.device), timed(bare, tr.device)))
            tr.loader = tr.sampler = None  # stop the persistent workers before the inference timing
            windows = args.steps * args.batch
            e2e_rate = windows / statistics.median(a for a, _ in pairs)
            bare_rate = windows / statistics.median(b for _, b in pairs)
            ratio = statistics.median(b / a for a, b in pairs)
            inf = inference_rate(tr, args.steps)
            flops = count_flops(tr.arch, args.window)
            amp = str(tr.amp).replace("torch.", "") if tr.amp else "fp32"
            print(f"| {model} | {amp} | {e2e_rate:.1f} win/s | {bare_rate:.1f} win/s | **{ratio:.2f}** | "
                  f"{inf:.1f} win/s | {flops / 1e9:.2f} | {inf * flops / 1e12:.2f} TFLOP/s | "
                  f"{inf * flops / peak:.0%} |", flush=True)
            print(f"  rounds (end-to-end s, bare s): {[(round(a, 2), round(b, 2)) for a, b in pairs]}", flush=True)


if __name__ == "__main__":
    main()
