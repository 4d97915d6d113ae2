"""``landseg demo``: the whole path on bundled real data, in about a minute on a laptop CPU.

predict (default model, held-out Dubai sample) -> class areas -> HTML report, then class areas
in m² and polygons of the bundled georeferenced Potsdam label crop (the Dubai sample has no
georeferencing, so its polygons would have no real-world coordinates).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from landseg import area
from landseg.assets import SAMPLES, samples
from landseg.classes import IGNORE_INDEX
from landseg.inference.engine import load_engine
from landseg.io.files import check_writable_dir
from landseg.io.labels import read_label
from landseg.io.raster import open_raster
from landseg.layout import PipelinePaths, PredictPaths
from landseg.metrics import confusion_matrix, metrics_from_confusion
from landseg.models.checkpoint import Checkpoint
from landseg.pipeline import run_pipeline
from landseg.predict import PredictOptions
from landseg.vectorize import vectorize


def run_demo(out: str | Path = "demo-out", model: str = "default", *, window: int = 512, echo=print) -> dict[str, Any]:
    """Segment the bundled sample, measure it, vectorize a real label crop and write the HTML report."""
    t0 = time.perf_counter()
    out = check_writable_dir(out)
    engine, ckpt = load_engine(model)
    sample = samples()[0]
    echo(f"1/4 segmenting {sample.name} (Dubai Tile 7, held out from the default model's training) with the {model} "
         "model ...")
    found: dict[str, Any] = {}

    def on_stage(stage: str) -> None:  # predict done, report next: the sample's areas and accuracy first
        if stage == "report":
            classes = PredictPaths.of(sample, out / "predict").classes
            found["areas"], found["scores"] = _sample_summary(classes, sample, ckpt, echo)
            echo("2/4 writing the HTML report ...")

    res = run_pipeline(engine, ckpt, sample, out / "predict", model_name=model, polygons=False,
                       report=PipelinePaths(out).report, opts=PredictOptions(window=window, overlap=128, overwrite=True),
                       on_stage=on_stage)
    for w in res.warnings:
        echo(f"warning: {w}")
    pres, gpkg, vec = _potsdam(out, echo)
    paths = res.paths
    echo(f"class map : {paths.classes}")
    echo(f"overlay   : {paths.overlay}")
    echo(f"areas     : {paths.areas_csv} / {paths.areas_json}")
    echo(f"polygons  : {gpkg}")
    echo(f"report    : {res.report}")
    echo(f"done in {time.perf_counter() - t0:.0f} s")
    return {"predict": res.record, "areas": found["areas"], "scores": found["scores"], "polygons": gpkg,
            "vectorize": vec, "report": res.report, "potsdam_areas": pres}


def _sample_summary(classes: Path, sample: Path, ckpt: Checkpoint, echo) -> tuple[area.AreaResult, dict | None]:
    """Print the class areas of the sample's class map and its accuracy against the sample's real mask."""
    res = area.class_areas(classes, allow_pixels_only=True)
    echo("")
    echo(res.to_text())
    echo("  (this sample has no georeferencing, so the table gives pixel counts and shares; for m² give a "
         "georeferenced GeoTIFF or pass --gsd METRES to `landseg predict` / `landseg area`)")
    mask = SAMPLES / f"{sample.stem}_mask.png"
    if not mask.exists():
        return res, None
    with open_raster(classes) as ds:
        pred = ds.read(1)
    truth = read_label(mask, ckpt.class_table, unknown_to_ignore=True)
    if not (truth != IGNORE_INDEX).any():
        echo(f"  no accuracy: the sample's mask uses the Dubai classes, and this model's classes "
             f"({', '.join(ckpt.class_table.names)}) are not among them")
        return res, None
    scores = metrics_from_confusion(confusion_matrix(truth, pred, ckpt.class_table.num_classes), ckpt.class_table.names)
    echo(f"  accuracy against this sample's real mask: OA {scores['oa']:.3f}, mean F1 {scores['mean_f1']:.3f}, "
         f"mIoU {scores['miou']:.3f}")
    return res, scores


def _potsdam(out: Path, echo):
    """Areas in m² and polygons of the bundled georeferenced Potsdam label crop."""
    echo("3/4 class areas of a real georeferenced label raster (ISPRS Potsdam tile 4_13 crop, 5 cm, EPSG:32633):")
    potsdam = SAMPLES / "potsdam_4_13_label.tif"
    pres = area.class_areas(potsdam)
    echo("")
    echo(pres.to_text())
    echo("")
    echo("4/4 vectorizing it: one polygon per connected area of a class, with its area in m² ...")
    gpkg = out / "potsdam_4_13_polygons.gpkg"
    return pres, gpkg, vectorize(potsdam, gpkg)
