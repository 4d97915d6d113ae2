"""The files ``landseg evaluate`` writes from its result (:class:`landseg.results.EvaluateResult`): metrics.md,
metrics.json, confusion matrices (CSV and PNG) and per-tile CSV (named by :class:`landseg.layout.EvaluatePaths`),
plus the summary printed on the command line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from landseg.classes import ClassTable
from landseg.io.csvfile import csv_text
from landseg.io.files import atomic_output, write_json_atomic
from landseg.layout import EvaluatePaths
from landseg.metrics import REFERENCE_NAMES, VARIANTS, metric_rows, row_normalised, variant_title
from landseg.results import EvaluateResult


def _pct(x: float | None, nd: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.{nd}f}"


def metrics_markdown(result: EvaluateResult) -> str:
    """The four variants side by side (values in %), then per-class tables per reference."""
    table = ClassTable.from_dict(result.class_table)
    variants = result.variants
    names, metric_table = metric_rows(variants, table.names)
    lines = [f"# Evaluation of `{Path(result.model).name}` on `{result.dataset_name}`", ""]
    tiles = result.tiles
    lines += [
        f"- model: `{result.model}`",
        f"- dataset: `{result.dataset}`",
        f"- split: **{result.split}**, {len(tiles)} tiles: {', '.join(tiles)}",
        "- pixels counted: " + ", ".join(f"{REFERENCE_NAMES[r]} {variants[f'{r}_with_clutter']['pixels']:,}"
                                         for r in result.references),
        "- window {window}, overlap {overlap}, TTA {tta}".format(**{**result.options,
                                                                    "tta": "on" if result.options["tta"] else "off"}),
        "",
        "All values in %. " + result.protocol[:1].upper() + result.protocol[1:] + ".",
        "",
    ]
    header = ["metric", *[variant_title(v) for v in names]]
    rows = [[row.label, *[_pct(c.value) + (" (not in means)" if c.excluded else "") for c in row.cells]]
            for row in metric_table]
    lines += _md_table(header, rows)
    for r in result.references:
        v = variants[f"{r}_with_clutter"]
        lines += ["", f"## Per class, {REFERENCE_NAMES[r]}", ""]
        lines += _md_table(["class", "precision", "recall", "F1", "IoU", "reference pixels"],
                           [[n, _pct(c["precision"]), _pct(c["recall"]), _pct(c["f1"]), _pct(c["iou"]),
                             f"{c['support']:,}"] for n, c in v["per_class"].items()])
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def plot_confusion(cm: np.ndarray, names: Sequence[str], title: str, path: Path) -> None:
    """Row-normalised confusion matrix as a PNG (matplotlib, Agg), with percentages in the cells."""

    matplotlib.use("Agg")

    norm = row_normalised(cm)
    n = len(names)
    fig, ax = plt.subplots(figsize=(1.1 * n + 2.5, 1.0 * n + 2))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), names, rotation=40, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("prediction")
    ax.set_ylabel("reference")
    ax.set_title(title, fontsize=10)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{100 * norm[i, j]:.1f}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def write_outputs(result: EvaluateResult, out_dir: str | Path) -> None:
    """metrics.json, metrics.md, confusion CSV/PNG per reference, per_tile.csv."""
    files = EvaluatePaths(Path(out_dir))
    names = [c["name"] for c in result.class_table["classes"]]
    for r, counts in result.confusion.items():
        cm = np.asarray(counts, np.int64)
        with atomic_output(files.confusion(r)) as tmp:
            tmp.write_text(csv_text(["reference \\ prediction", *names], [[n, *row] for n, row in zip(names, cm.tolist())]))
        with atomic_output(files.confusion(r, normalized=True)) as tmp:
            tmp.write_text(csv_text(["reference \\ prediction", *names],
                                     [[n, *row] for n, row in zip(names, row_normalised(cm).tolist())]))
        plot_confusion(cm, names, f"{REFERENCE_NAMES[r]}, split {result.split} "
                       f"({len(result.tiles)} tiles), row-normalised %", files.confusion(r, "png"))
    if result.per_tile:
        keys = list(result.per_tile[0])
        rows = [[row[k] for k in keys] for row in result.per_tile]
        with atomic_output(files.per_tile_csv) as tmp:
            tmp.write_text(csv_text(keys, rows))
    with atomic_output(files.metrics_md) as tmp:
        tmp.write_text(metrics_markdown(result))
    write_json_atomic(files.metrics_json, _nan_to_none(result.to_dict()))


def _nan_to_none(o: Any) -> Any:
    if isinstance(o, float) and np.isnan(o):
        return None
    if isinstance(o, dict):
        return {k: _nan_to_none(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_nan_to_none(v) for v in o]
    return o


def summary_lines(result: EvaluateResult, notes: bool = True) -> list[str]:
    """A few lines for the terminal: the headline metrics of each variant (and the notes, unless ``notes=False``:
    the CLI writes them to stderr)."""
    lines = [f"split {result.split}: {len(result.tiles)} tiles ({', '.join(result.tiles[:8])}"
             f"{', ...' if len(result.tiles) > 8 else ''})"]
    for name in VARIANTS:
        v = result.variants.get(name)
        if v:
            lines.append(f"  {variant_title(name):<52} OA {_pct(v['oa'])}  mean F1 {_pct(v['mean_f1'])}  "
                         f"mIoU {_pct(v['miou'])}  fwIoU {_pct(v['fwiou'])}")
    lines += [f"note: {n}" for n in result.notes] if notes else []
    return lines
