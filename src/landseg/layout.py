"""Every output path and file name landseg writes, in one place: the writers and the readers (``landseg report``,
the web app's jobs) ask here, and nothing else builds or parses an output name.

One small frozen object per output family, built from its folder (and, for per-input outputs, the stem)::

    PredictPaths(out, "x")   x_classes.tif, x_probs.tif, x_confidence.tif, x_preview.png, x_overlay.png,
                             x_areas.csv/json, x_predict.json; beside them x_zones.*, x_accuracy.*, x_planning.*,
                             x_indicators.*, x_sample.gpkg (``landseg area`` / the pipeline / the web app)
    PipelinePaths(out)       polygons.gpkg, report.html, image.png, layer.png, map.json (pipeline and web app)
    EvaluatePaths(out)       metrics.json/md, per_tile.csv, confusion_<ref>[_normalized].csv/png, tiles/<id>_*
    RunPaths(run)            best/last.safetensors, metrics.json/csv, learning_curve.png, config.yaml, samples/
    ChangePaths(out)         transitions.*, transitions_zones.*, transitions_adjusted*.*, green.*
    MosaicPaths(out)         mosaic_input.vrt, classes.vrt, areas.csv/json, catalog.json
    DatasetPaths(root)       dataset.json, tiles/<id>/tile.json

Pure path arithmetic: it imports nothing but :mod:`pathlib`, so a command that only reads outputs (``landseg report``)
never loads torch to learn a file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATASET_MANIFEST = "dataset.json"  # a prepared dataset's manifest (named in messages as it is)
REPORT_FILE = "report.html"  # the HTML report's default name (``landseg report``, the demo, the pipeline)
CLASSES_SUFFIX = "_classes"  # what a class map's stem ends with (NAME_classes.tif)


def design_path(points: str | Path) -> Path:
    """The design sidecar of a reference-point file: ``points.gpkg`` -> ``points_design.json``."""
    p = Path(points)
    return p.with_name(p.stem + "_design.json")


# ============================================================================ landseg predict
@dataclass(frozen=True)
class PredictPaths:
    """The outputs of one predicted raster in ``out_dir``, all named ``STEM_<kind>.<ext>``."""

    out_dir: Path
    stem: str

    @classmethod
    def of(cls, src: str | Path, out_dir: str | Path, stem: str | None = None) -> PredictPaths:
        """The outputs of input ``src`` in ``out_dir``, named after ``stem`` (default: the input's stem)."""
        return cls(Path(out_dir), stem or Path(src).stem)

    @classmethod
    def from_classes(cls, classmap: str | Path) -> PredictPaths:
        """The outputs beside a class map: ``NAME_classes.tif`` -> NAME; any other raster ``STEM.tif`` -> STEM."""
        p = Path(classmap)
        return cls(p.parent, p.stem.removesuffix(CLASSES_SUFFIX))

    def named(self, kind: str, ext: str) -> Path:
        """``out_dir/STEM_<kind><ext>``."""
        return self.out_dir / f"{self.stem}_{kind}{ext}"

    @property
    def classes(self) -> Path:
        """The class map (COG)."""
        return self.named("classes", ".tif")

    @property
    def probs(self) -> Path:
        """Per-class probabilities (``--probs``)."""
        return self.named("probs", ".tif")

    @property
    def confidence(self) -> Path:
        """The model's confidence (``--confidence``)."""
        return self.named("confidence", ".tif")

    @property
    def preview(self) -> Path:
        """Class colours, downsampled."""
        return self.named("preview", ".png")

    @property
    def overlay(self) -> Path:
        """The image with the classes blended over it."""
        return self.named("overlay", ".png")

    @property
    def areas_csv(self) -> Path:
        """Class areas, CSV."""
        return self.named("areas", ".csv")

    @property
    def areas_json(self) -> Path:
        """Class areas, JSON."""
        return self.named("areas", ".json")

    @property
    def record(self) -> Path:
        """The run record (:class:`landseg.results.PredictRecord`), written last: the completion marker."""
        return self.named("predict", ".json")

    def zones(self, ext: str = "json") -> Path:
        """Class areas per zone (``.json``, ``.csv`` or ``.gpkg``)."""
        return self.named("zones", f".{ext}")

    def accuracy(self, ext: str = "json") -> Path:
        """Accuracy and error-adjusted areas from a reference sample, kept beside the class map for the report."""
        return self.named("accuracy", f".{ext}")

    def planning(self, ext: str = "json") -> Path:
        """Planning indicators per zone (the pipeline)."""
        return self.named("planning", f".{ext}")

    def indicators(self, ext: str = "json") -> Path:
        """Planning indicators per zone (the web app's jobs)."""
        return self.named("indicators", f".{ext}")

    @property
    def sample(self) -> Path:
        """A drawn reference sample (the web app's jobs)."""
        return self.named("sample", ".gpkg")

    def side_files(self, kind: str) -> list[Path]:
        """The JSON results of one ``kind`` kept beside the class map (``zones``, ``accuracy``, ``planning``,
        ``truth``), including suffixed variants (``STEM_zones_parcels.json``), sorted."""
        return sorted(self.out_dir.glob(f"{self.stem}_{kind}*.json"))

    def expected(self, *, probs: bool, confidence: bool, previews: bool, areas: bool) -> list[Path]:
        """Every file a finished run with these options leaves (the record last)."""
        return ([self.classes] + [self.probs] * probs + [self.confidence] * confidence
                + [self.preview, self.overlay] * previews + [self.areas_csv, self.areas_json] * areas + [self.record])


def class_maps(folder: str | Path) -> list[PredictPaths]:
    """The predict outputs in ``folder``, one per ``NAME_classes.tif``, sorted by file name."""
    return [PredictPaths.from_classes(p) for p in sorted(Path(folder).glob(f"*{CLASSES_SUFFIX}.tif"))]


# ============================================================================ pipeline and web-app jobs
JOB_INPUT_STEM = "input"  # a web-app job saves its upload as input.<ext>: its outputs are input_classes.tif, ...
JOB_INPUT2_STEM = "input2"  # the after image of a change job


@dataclass(frozen=True)
class PipelinePaths:
    """The folder-level outputs of :func:`landseg.pipeline.run_pipeline` and a web-app job in ``out_dir``."""

    out_dir: Path

    @property
    def polygons(self) -> Path:
        """One polygon per connected area of a class."""
        return self.out_dir / "polygons.gpkg"

    @property
    def report(self) -> Path:
        """The HTML report of the folder."""
        return self.out_dir / REPORT_FILE

    @property
    def image(self) -> Path:
        """The input, for display."""
        return self.out_dir / "image.png"

    @property
    def layer(self) -> Path:
        """The class (or transition) layer for display, transparent nodata."""
        return self.out_dir / "layer.png"

    @property
    def map_data(self) -> Path:
        """The zones and sample points a web-app result page draws."""
        return self.out_dir / "map.json"

    @property
    def before(self) -> PredictPaths:
        """A change job's before image, predicted into ``before/``."""
        return PredictPaths(self.out_dir / "before", JOB_INPUT_STEM)

    @property
    def after(self) -> PredictPaths:
        """A change job's after image, predicted into ``after/``."""
        return PredictPaths(self.out_dir / "after", JOB_INPUT2_STEM)


# ============================================================================ landseg evaluate
@dataclass(frozen=True)
class EvaluatePaths:
    """The files ``landseg evaluate`` writes into ``out_dir``."""

    out_dir: Path

    @property
    def metrics_json(self) -> Path:
        """The result (:class:`landseg.results.EvaluateResult`)."""
        return self.out_dir / "metrics.json"

    @property
    def metrics_md(self) -> Path:
        """The result as Markdown tables."""
        return self.out_dir / "metrics.md"

    @property
    def per_tile_csv(self) -> Path:
        """Per tile and reference: OA, means, per-class F1/IoU."""
        return self.out_dir / "per_tile.csv"

    def confusion(self, reference: str, ext: str = "csv", normalized: bool = False) -> Path:
        """The confusion matrix of one reference (``full``, ``eroded``): counts CSV, row-normalised CSV, PNG."""
        return self.out_dir / f"confusion_{reference}{'_normalized' if normalized else ''}.{ext}"

    @property
    def tiles_dir(self) -> Path:
        """The per-tile class maps and views."""
        return self.out_dir / "tiles"

    def tile(self, tile_id: str) -> PredictPaths:
        """One tile's class map and views: ``tiles/<id>_classes.tif``, ``_preview.png``, ``_overlay.png``."""
        return PredictPaths(self.tiles_dir, tile_id)

    def tile_views(self, tile_id: str) -> dict[str, Path]:
        """One tile's downsampled views for the report: preview, overlay and truth PNGs."""
        t = self.tile(tile_id)
        return {"preview": t.preview, "overlay": t.overlay, "truth": t.named("truth", ".png")}


# ============================================================================ landseg train
@dataclass(frozen=True)
class RunPaths:
    """The files of a training run folder."""

    run_dir: Path

    @property
    def best(self) -> Path:
        """The checkpoint of the best validation epoch (weights only)."""
        return self.run_dir / "best.safetensors"

    @property
    def last(self) -> Path:
        """The checkpoint of the last epoch, with the training state (``--resume``)."""
        return self.run_dir / "last.safetensors"

    @property
    def metrics_json(self) -> Path:
        """History, last epoch's metrics and the best mean F1."""
        return self.run_dir / "metrics.json"

    @property
    def metrics_csv(self) -> Path:
        """The history, one row per epoch."""
        return self.run_dir / "metrics.csv"

    @property
    def learning_curve(self) -> Path:
        """Loss and mean F1 per epoch."""
        return self.run_dir / "learning_curve.png"

    @property
    def config(self) -> Path:
        """The training configuration."""
        return self.run_dir / "config.yaml"

    @property
    def samples_dir(self) -> Path:
        """The sample windows ``landseg report`` shows."""
        return self.run_dir / "samples"

    @property
    def samples_json(self) -> Path:
        """What the sample windows are (read by ``landseg report``)."""
        return self.samples_dir / "samples.json"

    def sample_png(self, i: int, kind: str) -> Path:
        """Sample window ``i``'s ``image``, ``prediction`` or ``truth`` PNG."""
        return self.samples_dir / f"{i}_{kind}.png"

    def files(self) -> tuple[Path, ...]:
        """The files a run writes at every epoch (an overwritten run removes them first)."""
        return (self.best, self.last, self.metrics_csv, self.metrics_json, self.learning_curve, self.config)

    def checkpoint(self) -> Path | None:
        """The run's model: its best checkpoint, else its last one, else None."""
        return next((p for p in (self.best, self.last) if p.exists()), None)


# ============================================================================ landseg change / green
@dataclass(frozen=True)
class ChangePaths:
    """The files ``landseg change`` (and ``change --reference``, ``landseg green``) write into ``out_dir``."""

    out_dir: Path

    @property
    def transitions(self) -> Path:
        """The transition map (from * k + to)."""
        return self.out_dir / "transitions.tif"

    @property
    def transitions_csv(self) -> Path:
        """Transitions, long form."""
        return self.out_dir / "transitions.csv"

    @property
    def transitions_json(self) -> Path:
        """The change result."""
        return self.out_dir / "transitions.json"

    def zones(self, ext: str = "csv") -> Path:
        """Transitions per zone: ``transitions_zones.csv`` (table) or ``.gpkg`` (the styled zones)."""
        return self.out_dir / f"transitions_zones.{ext}"

    @property
    def preview(self) -> Path:
        """A PNG of the transition map with its legend."""
        return self.out_dir / "transitions_preview.png"

    def adjusted(self, ext: str = "json") -> Path:
        """Error-adjusted change from a reference sample (``.json``, ``.csv``)."""
        return self.out_dir / f"transitions_adjusted.{ext}"

    @property
    def adjusted_zones_csv(self) -> Path:
        """Error-adjusted change per zone and headline."""
        return self.out_dir / "transitions_adjusted_zones.csv"

    def green(self, ext: str = "json") -> Path:
        """``landseg green``'s result (``.json``, ``.csv``, ``.gpkg``)."""
        return self.out_dir / f"green.{ext}"


# ============================================================================ mosaics
@dataclass(frozen=True)
class MosaicPaths:
    """The folder-level files of a predicted mosaic (beside its tiles' :class:`PredictPaths`)."""

    out_dir: Path

    @property
    def input_vrt(self) -> Path:
        """The input tiles as one VRT (predicted with the windows of the whole mosaic)."""
        return self.out_dir / "mosaic_input.vrt"

    @property
    def vrt(self) -> Path:
        """The tiles' class maps as one VRT."""
        return self.out_dir / "classes.vrt"

    def areas(self, ext: str = "csv") -> Path:
        """The class areas of the whole mosaic (``.csv``, ``.json``)."""
        return self.out_dir / f"areas.{ext}"

    @property
    def catalog(self) -> Path:
        """The STAC catalogue."""
        return self.out_dir / "catalog.json"


# ============================================================================ prepared datasets
@dataclass(frozen=True)
class DatasetPaths:
    """The bookkeeping files of a prepared dataset in ``root``."""

    root: Path

    @property
    def manifest(self) -> Path:
        """The manifest, written last (:class:`landseg.results.DatasetManifest`)."""
        return self.root / DATASET_MANIFEST

    def tile_dir(self, tile_id: str) -> Path:
        """One tile's folder: its image and label GeoTIFFs and its record."""
        return self.root / "tiles" / tile_id

    def tile_record(self, tile_id: str) -> Path:
        """One tile's record; its presence marks the tile finished."""
        return self.tile_dir(tile_id) / "tile.json"


__all__ = ["CLASSES_SUFFIX", "DATASET_MANIFEST", "JOB_INPUT2_STEM", "JOB_INPUT_STEM", "REPORT_FILE", "ChangePaths",
           "DatasetPaths", "EvaluatePaths", "MosaicPaths", "PipelinePaths", "PredictPaths", "RunPaths", "class_maps",
           "design_path"]
