"""Command-line glue for ``landseg evaluate`` and ``landseg report``: options, one library call, print."""

from __future__ import annotations

import argparse
from pathlib import Path


def evaluate(args: argparse.Namespace) -> int:
    """``landseg evaluate MODEL DATASET --split test --out DIR``."""
    from landseg.errors import ConfigError
    from landseg.evaluate import evaluate_model, summary_lines

    if args.window % 32 or args.window < 32:
        raise ConfigError(f"--window must be a positive multiple of 32, got {args.window}")
    if not 0 <= args.overlap < args.window:
        raise ConfigError(f"--overlap must be between 0 and the window size ({args.window}), got {args.overlap}")
    result = evaluate_model(args.model, args.dataset, args.split, args.out, window=args.window, overlap=args.overlap,
                            batch_size=args.batch_size, tta=args.tta, device=args.device, precision=args.precision,
                            write_maps=not getattr(args, "no_maps", False))
    print("\n".join(summary_lines(result)))
    print(f"wrote {Path(args.out) / 'metrics.md'}, metrics.json, confusion_*.csv/png, per_tile.csv"
          + ("" if getattr(args, "no_maps", False) else ", tiles/*_classes.tif"))
    return 0


def report(args: argparse.Namespace) -> int:
    """``landseg report INPUT --out report.html``."""
    from landseg.report import write_report

    out = Path(args.out) if args.out else Path(args.input) / "report.html"
    info = write_report(args.input, out, dataset=args.dataset, samples=args.samples, max_size=args.max_size,
                        device=args.device)
    for note in info.get("notes", []):
        print(f"note: {note}")
    print(f"wrote {out} ({info['kind']} report, {info['bytes'] / 1e6:.1f} MB, self-contained)")
    return 0
