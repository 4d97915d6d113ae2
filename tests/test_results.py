"""landseg.results: the JSON files are written from dataclasses, and reading them back gives the same bytes."""

import json

import numpy as np
import pytest

from landseg.errors import InputError
from landseg.layout import PredictPaths
from landseg.models.checkpoint import load_checkpoint
from landseg.pipeline import run_pipeline
from landseg.predict import PredictOptions, predict_raster
from landseg.results import EvaluateResult, PredictRecord


def constant_engine(batch):
    out = np.zeros((batch.shape[0], 6, *batch.shape[2:]), np.float32)
    out[:, 1] = 1.0
    return out


@pytest.mark.parametrize("areas", [True, False])
def test_predict_record_round_trip_is_byte_identical(tmp_path, tiny_checkpoint, make_geotiff, areas):
    src = make_geotiff(np.full((3, 40, 50), 90, np.uint8), name="scene.tif")
    predict_raster(constant_engine, load_checkpoint(tiny_checkpoint()), src, tmp_path / "o",
                   PredictOptions(window=32, overlap=8, progress=False, areas=areas, previews=False), model_name="m")
    path = PredictPaths.of(src, tmp_path / "o").record
    rec = PredictRecord.read(path)
    assert json.dumps(rec.to_dict(), indent=2) + "\n" == path.read_text()
    assert rec.size == [50, 40] and rec.crs == "EPSG:32633" and rec.model == "m" and rec.windows
    assert ("areas" in rec.to_dict()) == areas and (rec.areas is not None) == areas


def test_pipeline_hands_the_typed_record_on_even_when_the_prediction_is_reused(tmp_path, tiny_checkpoint, make_geotiff):
    """run_pipeline reads the record it wrote; a second run that reuses the outputs gets the same record (the
    returned dict of a skipped prediction holds no size or CRS)."""
    src = make_geotiff(np.full((3, 40, 50), 90, np.uint8), name="scene.tif")
    ckpt = load_checkpoint(tiny_checkpoint())
    opts = PredictOptions(window=32, overlap=8, progress=False)
    first = run_pipeline(constant_engine, ckpt, src, tmp_path / "o", opts=opts, polygons=False, report=False)
    again = run_pipeline(constant_engine, ckpt, src, tmp_path / "o", opts=opts, polygons=False, report=False)
    assert isinstance(again.record, PredictRecord) and again.record == first.record and again.sized


def test_older_and_newer_files_are_read(tmp_path):
    old = PredictRecord.from_dict({"input": "a.tif", "size": [2, 3], "made_by": "a newer landseg"})
    assert old.size == [2, 3] and old.warnings == [] and old.areas is None and "made_by" not in old.to_dict()
    bad = tmp_path / "metrics.json"
    bad.write_text("[1, 2]")
    with pytest.raises(InputError, match="metrics.json: expected a JSON object for EvaluateResult"):
        EvaluateResult.read(bad)
    bad.write_text("{not json")
    with pytest.raises(InputError, match="metrics.json"):
        EvaluateResult.read(bad)
