"""One self-contained HTML file per result folder: images embedded as data URIs, inline CSS and JS.

The input folder is recognised by its files (:func:`detect_kind`):

* ``predict``: ``NAME_classes.tif`` (+ ``NAME_preview.png``, ``NAME_overlay.png``, ``NAME_areas.json``,
  ``NAME_predict.json``, optionally ``NAME_zones.json``, ``NAME_truth.json`` and ``NAME_accuracy.json``
  (a reference sample's accuracy and error-adjusted areas) from ``landseg area``);
* ``evaluate``: ``metrics.json`` written by ``landseg evaluate``;
* ``change``: ``transitions.json`` (+ ``transitions.tif``) from ``landseg change`` (+ ``transitions_adjusted.json``
  with a reference sample, ``green.json`` from ``landseg green``);
* ``train``: a training run (``metrics.json`` with a history, ``best.safetensors``/``last.safetensors``,
  and the sample windows ``samples/samples.json`` that :func:`landseg.train_samples.sample_predictions` wrote).

The report only reads these files: it never runs a model.

Each image is shown with its class overlay, whose opacity a slider controls (two stacked images),
and a legend. Numbers sit in table cells with stable classes and ``data-*`` attributes, e.g.
``<td class="area-m2" data-class="building" data-value="123.45">``. Rasters are downsampled to
``max_size`` pixels on their longest side. Nothing is fetched from the network to view the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landseg.errors import InputError
from landseg.io.files import atomic_output, read_json
from landseg.layout import RunPaths, class_maps
from landseg.report.change import change_report, is_change_folder
from landseg.report.evaluate import evaluate_report
from landseg.report.predict import predict_report
from landseg.report.train import train_report

KINDS = ("predict", "evaluate", "train", "change")

EXPECTED = ("a predict output folder (NAME_classes.tif with NAME_preview.png / NAME_areas.json), "
            "an evaluate folder (metrics.json from `landseg evaluate`), "
            "a change folder (transitions.json from `landseg change` / `landseg green`), "
            "or a training run folder (metrics.json, best.safetensors / last.safetensors from `landseg train`)")


def detect_kind(folder: str | Path) -> str:
    """'predict', 'evaluate', 'train' or 'change' from the files in ``folder``; else a clear :class:`InputError`."""
    p = Path(folder)
    if not p.exists():
        raise InputError(f"{p}: not found; give {EXPECTED}")
    if not p.is_dir():
        raise InputError(f"{p}: not a folder; give {EXPECTED}")
    run = RunPaths(p)  # an evaluate folder's metrics.json is at the same place as a run's (EvaluatePaths)
    data = read_json(run.metrics_json) if run.metrics_json.exists() else None
    if isinstance(data, dict) and str(data.get("format", "")).startswith("landseg-evaluate"):
        return "evaluate"
    if run.checkpoint() is not None or (isinstance(data, dict) and "history" in data):
        return "train"
    if class_maps(p):
        return "predict"
    if is_change_folder(p):
        return "change"
    found = sorted(f.name for f in p.iterdir())[:8]
    raise InputError(f"{p}: holds no landseg results (found: {', '.join(found) or 'nothing'}); expected {EXPECTED}")


# ============================================================================ entry point
def write_report(
    input_dir: str | Path,
    out_html: str | Path,
    *,
    samples: int = 3,
    max_size: int = 1600,
) -> dict[str, Any]:
    """Write one self-contained HTML report of ``input_dir``; returns {'kind', 'path', 'bytes', 'notes'}.

    Args:
        input_dir: a predict output folder, an evaluate folder or a training run (see :func:`detect_kind`).
        out_html: the HTML file to write (atomically).
        samples: training runs only: how many of the sample windows in the run's ``samples/`` folder
            (written by :func:`landseg.train_samples.sample_predictions`) to show; the report runs no model.
        max_size: longest side, in pixels, of the embedded images (large rasters are downsampled).
    """
    folder = Path(input_dir)
    kind = detect_kind(folder)
    if max_size < 64:
        raise InputError(f"--max-size must be at least 64 pixels, got {max_size}")
    if kind == "predict":
        page = predict_report(folder, max_size)
    elif kind == "evaluate":
        page = evaluate_report(folder, max_size)
    elif kind == "change":
        page = change_report(folder, max_size)
    else:
        page = train_report(folder, max_size, samples)
    text = page.render()
    out = Path(out_html)
    with atomic_output(out, suffix=".html") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return {"kind": kind, "path": str(out), "bytes": len(text.encode("utf-8")), "notes": page.notes}
