"""Segmentation metrics from one global confusion matrix (rows: reference, columns: prediction),
and the ISPRS protocol variants (full / eroded reference, with / without clutter in the means)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from landseg.classes import ClassTable

CLUTTER = "clutter"
REFERENCE_NAMES = {"full": "full reference", "eroded": "eroded reference (noBoundary)"}
VARIANTS = ("full_with_clutter", "full_without_clutter", "eroded_with_clutter", "eroded_without_clutter")
# the summary metrics of every variant, in report order, with their display labels
SUMMARY_METRICS = (("oa", "OA"), ("mean_f1", "mean F1"), ("miou", "mIoU"), ("fwiou", "fwIoU"))


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """(num_classes, num_classes) int64 counts over pixels whose truth is a valid class.

    Predictions outside ``[0, num_classes)`` (e.g. nodata) on valid truth are not counted.
    """
    t = np.asarray(truth).ravel()
    p = np.asarray(pred).ravel()
    valid = (t < num_classes) & (p < num_classes) & (t != ignore_index)
    idx = t[valid].astype(np.int64) * num_classes + p[valid]
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def metrics_from_confusion(cm: np.ndarray, names: Sequence[str], exclude: Sequence[int] = ()) -> dict[str, Any]:
    """OA, per-class precision/recall/F1/IoU, and mean F1, mIoU, frequency-weighted IoU.

    Means skip classes in ``exclude`` (e.g. clutter) and classes absent from both reference and
    prediction (NaN). OA uses all pixels of the matrix.
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    ref = cm.sum(axis=1)
    pred = cm.sum(axis=0)
    precision = _div(tp, pred)
    recall = _div(tp, ref)
    f1 = _div(2 * tp, ref + pred)
    iou = _div(tp, ref + pred - tp)
    keep = np.array([i not in set(exclude) for i in range(len(names))])
    total = cm.sum()
    freq = ref / total if total else np.zeros_like(ref)
    fw = keep & ~np.isnan(iou)

    def mean(v: np.ndarray) -> float:
        sel = v[keep & ~np.isnan(v)]
        return float(sel.mean()) if sel.size else float("nan")

    return {
        "oa": float(tp.sum() / total) if total else float("nan"),
        "mean_f1": mean(f1),
        "miou": mean(iou),
        "fwiou": float((freq[fw] * iou[fw]).sum() / freq[fw].sum()) if freq[fw].sum() else float("nan"),
        "pixels": int(total),
        "excluded": [names[i] for i in exclude],
        "per_class": {
            n: {"precision": _f(precision[i]), "recall": _f(recall[i]), "f1": _f(f1[i]), "iou": _f(iou[i]),
                "support": int(ref[i])}
            for i, n in enumerate(names)
        },
    }


def _f(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def variant_title(name: str) -> str:
    """Short human name of a variant, e.g. 'eroded reference (noBoundary), without clutter'."""
    ref, _, clutter = name.partition("_")
    return f"{REFERENCE_NAMES[ref]}, {clutter.replace('_', ' ')}"


def row_normalised(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (the reference class's pixels); empty rows stay 0."""
    cm = np.asarray(cm, np.float64)
    s = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, s, out=np.zeros_like(cm), where=s > 0)


def clutter_indices(table: ClassTable) -> list[int]:
    """Indices of the classes named ``clutter`` (any case)."""
    return [i for i, n in enumerate(table.names) if n.lower() == CLUTTER]


def variant_metrics(cms: dict[str, np.ndarray], table: ClassTable) -> dict[str, dict[str, Any]]:
    """The protocol variants for the confusion matrices present in ``cms`` (keys 'full', 'eroded')."""
    excl = clutter_indices(table)
    out: dict[str, dict[str, Any]] = {}
    for ref in REFERENCE_NAMES:
        if ref not in cms:
            continue
        for clutter, exclude in (("with_clutter", ()), ("without_clutter", excl)):
            name = f"{ref}_{clutter}"
            m = metrics_from_confusion(cms[ref], table.names, exclude=exclude)
            out[name] = {"title": variant_title(name), "reference": ref,
                         "clutter": "excluded from the means" if clutter == "without_clutter" else "included", **m}
    return out


@dataclass(frozen=True)
class MetricCell:
    """One variant's value of a metric row; ``excluded``: the class is left out of that variant's means."""

    variant: str
    value: float | None
    excluded: bool = False


@dataclass(frozen=True)
class MetricRow:
    """One row of the variants table: a summary metric (``metric`` in :data:`SUMMARY_METRICS`), or a class's
    ``f1``/``iou`` (``class_name`` set), with one cell per variant present."""

    metric: str
    label: str
    cells: tuple[MetricCell, ...]
    class_name: str | None = None


def metric_rows(variants: dict[str, dict[str, Any]], class_names: Sequence[str]) -> tuple[list[str], list[MetricRow]]:
    """The variants present (in :data:`VARIANTS` order) and the rows of the table that sets them side by side:
    the summary metrics, then F1 and IoU of each class. The Markdown (``metrics.md``) and HTML
    (``landseg report``) evaluation tables both render these rows."""
    names = [v for v in VARIANTS if v in variants]
    rows = [MetricRow(key, label, tuple(MetricCell(v, variants[v][key]) for v in names)) for key, label in SUMMARY_METRICS]
    for metric in ("f1", "iou"):
        for n in class_names:
            cells = tuple(MetricCell(v, variants[v]["per_class"][n][metric], n in variants[v]["excluded"]) for v in names)
            rows.append(MetricRow(metric, f"{'F1' if metric == 'f1' else 'IoU'} {n}", cells, n))
    return names, rows
