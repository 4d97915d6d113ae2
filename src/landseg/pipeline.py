"""One image through the whole chain: predict -> areas -> zones -> polygons -> report.

Shared by ``landseg demo`` and the web app's jobs (:mod:`landseg.serve.jobs`). Into ``out_dir``::

    NAME_classes.tif, NAME_preview.png, NAME_overlay.png, NAME_areas.csv/json, NAME_predict.json
                                    predict (:func:`landseg.predict.predict_raster`)
    image.png, layer.png            with ``view_size``: the image and the class layer for display
    NAME_zones.json/csv/gpkg        with ``zones``: class areas per zone
    NAME_accuracy.json/csv          with ``reference`` (a filled sample from ``landseg sample``): accuracy
                                    and error-adjusted areas (:func:`landseg.accuracy.assess_accuracy`)
    NAME_planning.json/csv          with ``zones``: planning indicators per zone, 3-30-300, and with
                                    ``reference`` the calibrated sealed/green m² (:mod:`landseg.parcels`)
    polygons.gpkg                   with ``polygons``: one polygon per connected area of a class
    report.html                     with ``report`` (or the path it gives): the HTML report of out_dir

Zones and polygons need the ground size of a pixel (georeferencing or ``gsd``); without it they are
skipped with a warning. A failing zones, accuracy, polygons or report step is a warning too: the class
map and areas stand on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rasterio.enums import Resampling

from landseg import area
from landseg.accuracy import assess_accuracy
from landseg.area.green_access import green_access
from landseg.area.indicators import DEFAULT_MIN_BUILDING_M2
from landseg.errors import InputError, LandsegError
from landseg.io.files import read_json
from landseg.io.raster import data_bands, raster_shape, read_resampled
from landseg.layout import PipelinePaths, PredictPaths
from landseg.models.checkpoint import Checkpoint
from landseg.parcels import calibrate_parcels
from landseg.predict import PredictOptions, predict_raster
from landseg.report import write_report
from landseg.results import PredictRecord
from landseg.vectorize import VectorizeResult, vectorize
from landseg.views import class_layer, display_rgb, preview_shape, write_png

# stages reported through ``on_stage``, in order
STAGES = ("segmenting", "preparing the view", "zones", "accuracy", "polygons", "report")
UNSIZED = ("this image has no georeferencing, so polygons and zone areas need the ground size of a pixel: "
           "start the job again with the pixel size in metres")


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` made: the predict record, the output paths, and each later step's result."""

    record: PredictRecord  # predict's run record (NAME_predict.json, with its areas)
    paths: PredictPaths  # predict's outputs
    gsd: float | None = None
    zones: dict[str, Any] | None = None  # the zone areas (NAME_zones.json content)
    accuracy: dict[str, Any] | None = None  # accuracy and adjusted areas (NAME_accuracy.json content)
    planning: dict[str, Any] | None = None  # planning indicators per zone (NAME_planning.json content)
    polygons: VectorizeResult | None = None
    report: Path | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def sized(self) -> bool:
        """Whether the ground size of a pixel is known (georeferenced input, or a given gsd)."""
        return self.record.crs is not None or self.gsd is not None

    def class_areas(self) -> area.AreaResult:
        """The class areas of the class map (pixel counts and shares where no pixel size is known)."""
        return area.class_areas(self.paths.classes, gsd=self.gsd, allow_pixels_only=True)


def run_pipeline(
    engine: Callable[[Any], Any],
    ckpt: Checkpoint,
    image: str | Path,
    out_dir: str | Path,
    *,
    model_name: str = "",
    zones: str | Path | None = None,
    zone_id: str | None = None,
    reference: str | Path | None = None,
    gsd: float | None = None,
    polygons: bool = True,
    report: bool | str | Path = True,
    view_size: int | None = None,
    opts: PredictOptions | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Predict ``image`` into ``out_dir``, then its view images, zone areas, accuracy (with a
    ``reference`` sample), polygons and report.

    ``opts`` are the predict options (``gsd`` overrides theirs); ``on_stage`` is told each stage of
    :data:`STAGES` as it starts (it may raise to cancel).
    """
    stage = on_stage or (lambda name: None)
    out = Path(out_dir)
    opts = opts or PredictOptions()
    if gsd is not None:
        opts = replace(opts, gsd=gsd)
    stage("segmenting")
    predict_raster(engine, ckpt, image, out, opts, model_name=model_name)
    paths = PredictPaths.of(image, out)
    res = PipelineResult(PredictRecord.read(paths.record), paths, gsd=opts.gsd)
    if view_size:
        stage("preparing the view")
        write_view_images(Path(image), paths.classes, out, ckpt, view_size)
    if (zones or polygons) and not res.sized:
        res.warnings.append(UNSIZED)
    if zones and res.sized:
        stage("zones")
        _zones(res, zones, zone_id)
    if reference:
        stage("accuracy")
        _accuracy(res, reference)
    if zones and res.sized:  # after the accuracy: a reference sample calibrates the sealed and green m²
        _planning(res, zones, zone_id, reference)
    if polygons and res.sized:
        stage("polygons")
        _polygons(res, PipelinePaths(out).polygons)
    if report:
        stage("report")
        _report(res, PipelinePaths(out).report if report is True else Path(report))
    return res


def _zones(res: PipelineResult, zones: str | Path, zone_id: str | None) -> None:
    """NAME_zones.json/csv/gpkg: the class areas per zone."""
    try:
        zres = area.zonal_areas(res.paths.classes, zones, zone_id or None, gsd=res.gsd)
        for suffix in ("json", "csv", "gpkg"):
            zres.write(res.paths.zones(suffix))
        res.zones = read_json(res.paths.zones("json"))
    except LandsegError as exc:
        res.warnings.append(f"zones: {exc}")


def _planning(res: PipelineResult, zones: str | Path, zone_id: str | None, reference: str | Path | None) -> None:
    """NAME_planning.json/csv: the planning indicators per zone, 3-30-300 where the table has the roles, and
    with a reference sample the calibrated sealed and green m² per zone."""
    classes = res.paths.classes
    try:
        try:
            ind, _ = green_access(classes, zones, zone_id or None, gsd=res.gsd)
        except InputError as exc:  # no tree role, or a grid without metric distances: the indicators alone
            res.warnings.append(f"3-30-300 not computed: {exc}")
            ind = area.zone_indicators(classes, zones, zone_id or None, gsd=res.gsd,
                                       min_building_area=DEFAULT_MIN_BUILDING_M2)
        if reference and res.accuracy is not None:
            calibrate_parcels(ind, classes, reference)
        ind.write(res.paths.planning("csv"), "csv")
        ind.write(res.paths.planning("json"), "json")
        res.planning = read_json(res.paths.planning("json"))
    except LandsegError as exc:
        res.warnings.append(f"planning indicators: {exc}")


def _accuracy(res: PipelineResult, reference: str | Path) -> None:
    """NAME_accuracy.json/csv: accuracy and error-adjusted areas from a reference sample."""
    try:
        acc = assess_accuracy(res.paths.classes, reference, gsd=res.gsd)
        acc.write(res.paths.accuracy("json"), "json")
        acc.write(res.paths.accuracy("csv"), "csv")
        res.accuracy = acc.to_dict()
    except LandsegError as exc:
        res.warnings.append(f"accuracy: {exc}")


def _polygons(res: PipelineResult, path: Path) -> None:
    """polygons.gpkg: one polygon per connected area of a class."""
    try:
        res.polygons = vectorize(res.paths.classes, path, gsd=res.gsd)
    except LandsegError as exc:
        res.warnings.append(f"polygons not written: {exc}")


def _report(res: PipelineResult, path: Path) -> None:
    """The HTML report of the output folder."""
    try:
        write_report(res.paths.out_dir, path)
        res.report = path
    except LandsegError as exc:
        res.warnings.append(f"report not written: {exc}")


def write_view_images(src: Path, classes: Path, out: Path, ckpt: Checkpoint, size: int) -> None:
    """``image.png`` (the input, for display) and ``layer.png`` (class colours, transparent nodata), same shape."""
    h, w = preview_shape(*raster_shape(classes), size)
    cls = read_resampled(classes, (h, w))
    files = PipelinePaths(out)
    write_png(class_layer(cls, ckpt.class_table), files.layer, "RGBA")
    bands = data_bands(src, len(ckpt.mean))
    img = read_resampled(src, (h, w), indexes=bands, resampling=Resampling.average)
    write_png(display_rgb(img, ckpt.bands), files.image)


__all__ = ["STAGES", "PipelineResult", "run_pipeline", "write_view_images"]

