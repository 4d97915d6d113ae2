"""landseg.layout: every output name has one owner; the names are the ones landseg has always written."""

import subprocess
import sys

from landseg.layout import (
    ChangePaths,
    DatasetPaths,
    EvaluatePaths,
    MosaicPaths,
    PipelinePaths,
    PredictPaths,
    RunPaths,
    class_maps,
    design_path,
)


def test_predict_names(tmp_path):
    p = PredictPaths.of(tmp_path / "in" / "scene.tif", tmp_path / "out")
    assert p.out_dir == tmp_path / "out" and p.stem == "scene"
    names = [x.name for x in (p.classes, p.probs, p.confidence, p.preview, p.overlay, p.areas_csv, p.areas_json, p.record)]
    assert names == ["scene_classes.tif", "scene_probs.tif", "scene_confidence.tif", "scene_preview.png",
                     "scene_overlay.png", "scene_areas.csv", "scene_areas.json", "scene_predict.json"]
    assert [p.zones("gpkg").name, p.accuracy().name, p.accuracy("csv").name, p.planning().name, p.indicators("csv").name,
            p.sample.name] == ["scene_zones.gpkg", "scene_accuracy.json", "scene_accuracy.csv", "scene_planning.json",
                               "scene_indicators.csv", "scene_sample.gpkg"]
    assert PredictPaths.of("x.tif", tmp_path, stem="a_x").classes.name == "a_x_classes.tif"


def test_the_outputs_beside_a_class_map_are_found_from_its_name(tmp_path):
    """The one place that parses a name: NAME_classes.tif -> NAME (what report/predict.py sliced by hand)."""
    assert PredictPaths.from_classes(tmp_path / "scene_classes.tif") == PredictPaths(tmp_path, "scene")
    assert PredictPaths.from_classes(tmp_path / "x_classes_classes.tif").stem == "x_classes"
    assert PredictPaths.from_classes(tmp_path / "other.tif").accuracy() == tmp_path / "other_accuracy.json"
    for name in ("b_classes.tif", "a_classes.tif", "a_preview.png", "classes.tif", "c.tif"):
        (tmp_path / name).touch()
    assert [m.stem for m in class_maps(tmp_path)] == ["a", "b"]  # sorted; classes.tif is no NAME_classes.tif


def test_expected_outputs_follow_the_options(tmp_path):
    p = PredictPaths(tmp_path, "s")
    assert p.expected(probs=False, confidence=False, previews=False, areas=False) == [p.classes, p.record]
    full = p.expected(probs=True, confidence=True, previews=True, areas=True)
    assert full[0] == p.classes and full[-1] == p.record and len(set(full)) == 8


def test_run_checkpoint_prefers_best_then_last(tmp_path):
    run = RunPaths(tmp_path)
    assert run.checkpoint() is None
    run.last.touch()
    assert run.checkpoint() == tmp_path / "last.safetensors"
    run.best.touch()
    assert run.checkpoint() == tmp_path / "best.safetensors"
    assert [f.name for f in run.files()] == ["best.safetensors", "last.safetensors", "metrics.csv", "metrics.json",
                                            "learning_curve.png", "config.yaml"]
    assert run.samples_json == tmp_path / "samples" / "samples.json" and run.sample_png(2, "truth").name == "2_truth.png"


def test_other_families(tmp_path):
    ev = EvaluatePaths(tmp_path)
    assert [ev.confusion("full").name, ev.confusion("eroded", normalized=True).name, ev.confusion("full", "png").name] \
        == ["confusion_full.csv", "confusion_eroded_normalized.csv", "confusion_full.png"]
    assert ev.tile("2_13").classes == tmp_path / "tiles" / "2_13_classes.tif"
    assert ev.tile_views("t")["truth"] == tmp_path / "tiles" / "t_truth.png"
    ch = ChangePaths(tmp_path)
    assert [ch.transitions.name, ch.zones("gpkg").name, ch.adjusted("csv").name, ch.adjusted_zones_csv.name,
            ch.green("gpkg").name] == ["transitions.tif", "transitions_zones.gpkg", "transitions_adjusted.csv",
                                       "transitions_adjusted_zones.csv", "green.gpkg"]
    job = PipelinePaths(tmp_path)
    assert job.before.classes == tmp_path / "before" / "input_classes.tif"
    assert job.after.classes == tmp_path / "after" / "input2_classes.tif"
    assert [job.polygons.name, job.report.name, job.map_data.name] == ["polygons.gpkg", "report.html", "map.json"]
    assert MosaicPaths(tmp_path).areas("json").name == "areas.json" and MosaicPaths(tmp_path).vrt.name == "classes.vrt"
    assert DatasetPaths(tmp_path).tile_record("t1") == tmp_path / "tiles" / "t1" / "tile.json"
    assert design_path(tmp_path / "pts.gpkg") == tmp_path / "pts_design.json"


def test_layout_and_results_and_the_training_report_import_no_torch():
    """report/train.py used to import the evaluate side (and so torch) only for the samples file name."""
    code = ("import sys, landseg.layout, landseg.results, landseg.report.train\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
    heavy = subprocess.run([sys.executable, "-c", "import sys, landseg.layout\n"
                            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'rasterio', 'torch')))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert heavy == "[]"
