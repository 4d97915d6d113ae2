"""``landseg demo``: the whole path on bundled real data, in about a minute on a laptop CPU.

predict (default model, held-out Dubai sample) -> class areas -> HTML report, then class areas
in m² and polygons of the bundled georeferenced Potsdam label crop (the Dubai sample has no
georeferencing, so its polygons would have no real-world coordinates).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from landseg import area
from landseg.assets import SAMPLES, samples
from landseg.io.files import check_writable_dir
from landseg.io.labels import read_label
from landseg.metrics import confusion_matrix, metrics_from_confusion


def run_demo(out: str | Path = "demo-out", model: str = "default", *, window: int = 512, echo=print) -> dict[str, Any]:
    from landseg.models.engine import load_engine
    from landseg.predict import PredictOptions, output_paths, predict_raster
    from landseg.report.html import write_report
    from landseg.vectorize import vectorize

    t0 = time.perf_counter()
    out = check_writable_dir(out)
    engine, ckpt = load_engine(model)
    sample = samples()[0]
    pred_dir = out / "predict"
    echo(f"1/4 segmenting {sample.name} (Dubai Tile 7, held out from training) with the {model} model ...")
    rec = predict_raster(engine, ckpt, sample, pred_dir, PredictOptions(window=window, overlap=128, overwrite=True),
                         model_name=model)
    paths = output_paths(sample, pred_dir)
    res = area.class_areas(paths["classes"], allow_pixels_only=True)
    echo("")
    echo(res.to_text())
    echo("  (this sample has no georeferencing, so the table gives pixel counts and shares; for m² give a "
         "georeferenced GeoTIFF or pass --gsd METRES to `landseg predict` / `landseg area`)")
    mask = SAMPLES / f"{sample.stem}_mask.png"
    scores = None
    if mask.exists():
        with rasterio.open(paths["classes"]) as ds:
            pred = ds.read(1)
        truth = read_label(mask, ckpt.class_table, unknown_to_ignore=True)
        scores = metrics_from_confusion(confusion_matrix(truth, pred, ckpt.class_table.num_classes),
                                        ckpt.class_table.names)
        echo(f"  accuracy against this sample's real mask: OA {scores['oa']:.3f}, mean F1 {scores['mean_f1']:.3f}, "
             f"mIoU {scores['miou']:.3f}")
    echo("2/4 writing the HTML report ...")
    report = out / "report.html"
    write_report(pred_dir, report)
    echo("3/4 class areas of a real georeferenced label raster (ISPRS Potsdam tile 4_13 crop, 5 cm, EPSG:32633):")
    potsdam = SAMPLES / "potsdam_4_13_label.tif"
    pres = area.class_areas(potsdam)
    echo("")
    echo(pres.to_text())
    echo("")
    echo("4/4 vectorizing it: one polygon per connected area of a class, with its area in m² ...")
    gpkg = out / "potsdam_4_13_polygons.gpkg"
    vec = vectorize(potsdam, gpkg)
    echo(f"class map : {paths['classes']}")
    echo(f"overlay   : {paths['overlay']}")
    echo(f"areas     : {paths['areas']} / {paths['areas_json']}")
    echo(f"polygons  : {gpkg}")
    echo(f"report    : {report}")
    echo(f"done in {time.perf_counter() - t0:.0f} s")
    return {"predict": rec, "areas": res, "scores": scores, "polygons": gpkg, "vectorize": vec, "report": report,
            "potsdam_areas": pres}
