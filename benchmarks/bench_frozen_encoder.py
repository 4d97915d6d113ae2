"""Training step time with the encoder trainable vs frozen (no encoder gradients), interleaved in one run.

A frozen encoder (`train --set freeze_encoder_epochs=N`) gets `requires_grad_(False)`, so backward stops at
the decoder. This times forward + backward + AdamW step of a model (default: the bundled one) on random
input, the two modes alternating, and prints the medians and their ratio.

  python benchmarks/bench_frozen_encoder.py [--model default] [--batch 4] [--window 224] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import machine

from landseg.models.checkpoint import load_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--window", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3, help="steps per mode per round")
    a = ap.parse_args()
    torch.manual_seed(0)
    ckpt = load_checkpoint(a.model)
    model = ckpt.build(torch.device("cpu")).to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(a.batch, ckpt.arch.get("in_channels", 3), a.window, a.window)
    x = x.contiguous(memory_format=torch.channels_last)

    def step(frozen: bool) -> float:
        model.encoder.requires_grad_(not frozen)
        t = time.perf_counter()
        loss = model(x).float().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t

    for frozen in (False, True):  # warm-up
        step(frozen)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(a.rounds):
        for frozen in (False, True):
            times[frozen].append(sum(step(frozen) for _ in range(a.steps)) / a.steps)
    trainable, frozen = statistics.median(times[False]), statistics.median(times[True])
    print(f"# {machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"step ({a.model}, batch {a.batch}, {a.window}^2): trainable encoder {trainable:.3f} s, "
          f"frozen encoder {frozen:.3f} s, ratio {trainable / frozen:.2f}x")


if __name__ == "__main__":
    main()
