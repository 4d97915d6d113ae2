"""pipeline.py: one image through predict -> areas -> zones -> polygons -> report."""

import json

import numpy as np
import pytest
import rasterio

from landseg.accuracy import draw_sample
from landseg.inference.engine import load_engine
from landseg.pipeline import STAGES, UNSIZED, run_pipeline
from landseg.predict import PredictOptions

ZONES = {  # two parcels in EPSG:32633 over the 64x64, 5 cm raster at (367000, 5808000)
    "type": "FeatureCollection",
    "crs": {"type": "name", "properties": {"name": "EPSG:32633"}},
    "features": [
        {"type": "Feature", "properties": {"parcel": "A"}, "geometry": {"type": "Polygon", "coordinates": [[
            [367000.5, 5807998.0], [367002.0, 5807998.0], [367002.0, 5807999.5], [367000.5, 5807999.5],
            [367000.5, 5807998.0]]]}},
        {"type": "Feature", "properties": {"parcel": "B"}, "geometry": {"type": "Polygon", "coordinates": [[
            [367002.0, 5807997.0], [367003.0, 5807997.0], [367003.0, 5807998.0], [367002.0, 5807998.0],
            [367002.0, 5807997.0]]]}},
    ],
}
OPTS = PredictOptions(window=64, overlap=16, batch_size=2, progress=False)


@pytest.fixture
def engine(tiny_checkpoint):
    return load_engine(str(tiny_checkpoint()))


def test_pipeline_writes_every_output(engine, make_geotiff, tmp_path):
    eng, ckpt = engine
    image = make_geotiff(np.random.default_rng(0).integers(0, 256, (3, 64, 64), dtype=np.uint8), name="scene.tif")
    zones = tmp_path / "parcels.geojson"
    zones.write_text(json.dumps(ZONES))
    stages = []
    out = tmp_path / "out"
    res = run_pipeline(eng, ckpt, image, out, zones=zones, zone_id="parcel", view_size=32, opts=OPTS,
                       on_stage=stages.append)
    assert stages == [s for s in STAGES if s != "accuracy"] and res.warnings == []  # accuracy: with a reference
    names = {p.name for p in out.iterdir()}
    assert {"scene_classes.tif", "scene_preview.png", "scene_overlay.png", "scene_areas.csv", "scene_areas.json",
            "scene_predict.json", "image.png", "layer.png", "scene_zones.json", "scene_zones.csv", "scene_zones.gpkg",
            "polygons.gpkg", "report.html"} <= names
    assert [z["id"] for z in res.zones["zones"]] == ["A", "B"]
    assert {"scene_planning.json", "scene_planning.csv"} <= names  # indicators and 3-30-300 per zone
    assert [z["id"] for z in res.planning["zones"]] == ["A", "B"]
    assert {"canopy_share", "share_park_within_300m", "share_3_trees", "sealed_share"} <= set(res.planning["zones"][0])
    assert "Planning indicators per zone (scene_planning.json)" in res.report.read_text()
    assert res.polygons.features > 0 and res.report == out / "report.html"
    with rasterio.open(out / "scene_classes.tif") as ds:
        assert ds.shape == (64, 64) and ds.crs.to_epsg() == 32633
    assert res.class_areas().to_dict()["classes"] == json.loads((out / "scene_areas.json").read_text())["classes"]


def test_pipeline_with_a_reference_sample(engine, make_geotiff, tmp_path):
    eng, ckpt = engine
    image = make_geotiff(np.random.default_rng(0).integers(0, 256, (3, 64, 64), dtype=np.uint8), name="scene.tif")
    first = run_pipeline(eng, ckpt, image, tmp_path / "a", polygons=False, report=False, opts=OPTS)
    pts = tmp_path / "points.gpkg"
    draw_sample(first.paths.classes, pts, 40, min_per_class=3, truth=first.paths.classes)
    stages = []
    res = run_pipeline(eng, ckpt, image, tmp_path / "b", reference=pts, polygons=False, opts=OPTS,
                       on_stage=stages.append)
    assert "accuracy" in stages and res.warnings == []
    assert res.accuracy["overall_accuracy"]["value"] == pytest.approx(1.0)
    assert (tmp_path / "b" / "scene_accuracy.json").exists() and (tmp_path / "b" / "scene_accuracy.csv").exists()
    assert "Accuracy and error-adjusted areas (points.gpkg)" in res.report.read_text()


def test_pipeline_without_pixel_size_skips_zones_and_polygons(engine, make_geotiff, tmp_path):
    eng, ckpt = engine
    image = make_geotiff(np.random.default_rng(1).integers(0, 256, (3, 64, 64), dtype=np.uint8), name="plain.tif",
                         crs=None)
    stages = []
    res = run_pipeline(eng, ckpt, image, tmp_path / "out", zones=tmp_path / "unused.geojson", report=False,
                       opts=OPTS, on_stage=stages.append)
    assert stages == ["segmenting"] and res.warnings == [UNSIZED]
    assert res.zones is None and res.polygons is None and res.report is None
    assert not (tmp_path / "out" / "polygons.gpkg").exists()
