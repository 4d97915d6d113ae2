"""Segmentation metrics from one global confusion matrix (rows: reference, columns: prediction)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


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
