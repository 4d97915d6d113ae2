"""ISPRS-protocol evaluation of a model on a prepared dataset (``landseg evaluate``).

Every tile of the chosen split is predicted whole with the sliding-window engine (the same code as
``landseg predict``), once; each block of predictions is compared, in the same pass, with the full
reference and with the eroded (ISPRS "noBoundary") reference, accumulating one global confusion
matrix per reference. Four protocol variants are reported side by side:

============================  =========================  ==========================================
variant                       reference                  classes in the means
============================  =========================  ==========================================
``full_with_clutter``         full labels                all classes
``full_without_clutter``      full labels                all but ``clutter``
``eroded_with_clutter``       eroded (noBoundary)        all classes
``eroded_without_clutter``    eroded (noBoundary)        all but ``clutter`` (ISPRS benchmark style)
============================  =========================  ==========================================

"Without clutter" leaves the class named ``clutter`` out of the means (mean F1, mIoU, fwIoU); the
overall accuracy still counts every reference pixel, as the ISPRS benchmark does. The matrix itself
is therefore shared by the two clutter variants of one reference. Metrics come from
:func:`landseg.metrics.variant_metrics` over :func:`landseg.metrics.metrics_from_confusion`, the
implementation training validation (:func:`evaluate_tiles`) uses.

Output folder::

    metrics.json, metrics.md          all variants, split, tile list, options, notes
    confusion_{full,eroded}.csv       counts (rows: reference, columns: prediction)
    confusion_{full,eroded}_normalized.csv / .png   row-normalised (recall on the diagonal)
    per_tile.csv                      per tile and reference: OA, means, per-class F1/IoU
    tiles/<id>_classes.tif            predicted class map (GeoTIFF, class table embedded)
    tiles/<id>_preview.png, _overlay.png, _truth.png    downsampled views for ``landseg report``
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window
from tqdm import tqdm

from landseg import __version__, area
from landseg.classes import ClassTable
from landseg.data.prepare import check_tiles, load_manifest
from landseg.errors import CheckpointError, InputError
from landseg.evaluate_outputs import write_outputs
from landseg.inference.driver import RunOptions, raster_reader, run_windows
from landseg.inference.engine import TorchEngine, with_tta
from landseg.inference.sliding import (
    Block,
    check_window,
)
from landseg.io.files import atomic_output, check_writable_dir
from landseg.io.labels import class_map_tags
from landseg.io.raster import (
    ClassMapWriter,
    class_map_profile,
    class_style_entries,
    is_georeferenced,
    open_raster,
    read_resampled,
    read_window,
)
from landseg.io.styles import write_raster_style
from landseg.layout import EvaluatePaths
from landseg.metrics import (
    clutter_indices,
    confusion_matrix,
    variant_metrics,
)
from landseg.models.checkpoint import Checkpoint, load_checkpoint
from landseg.results import EvaluateResult
from landseg.views import (
    colorize,
    preview_shape,
    write_png,
    write_previews,
)

FORMAT = "landseg-evaluate-1"
REFERENCES = {"full": "label", "eroded": "label_eroded"}  # reference -> the tile's file key


def check_compatible(ckpt: Checkpoint, manifest: dict[str, Any], model_name: str = "") -> list[str]:
    """Refuse a model whose classes or band count differ from the dataset's; returns notes."""
    mtable = ckpt.class_table
    dtable = ClassTable.from_dict(manifest["class_table"])
    root = manifest.get("root", "the dataset")
    if tuple(mtable.names) != tuple(dtable.names):
        raise CheckpointError(
            f"class tables differ: model {model_name or ckpt.path} has {mtable.name!r} "
            f"({', '.join(mtable.names)}) but dataset {root} has {dtable.name!r} ({', '.join(dtable.names)}); "
            "evaluate a model trained on this dataset's classes"
        )
    notes = []
    if mtable.colors != dtable.colors:
        notes.append(f"class colours differ between the model's table {mtable.name!r} and the dataset's "
                     f"{dtable.name!r} (names match; the model's colours are used)")
    nb = int(manifest.get("band_count", len(manifest.get("bands", []))))
    if len(ckpt.mean) != nb:
        raise CheckpointError(
            f"model {model_name or ckpt.path} takes {len(ckpt.mean)} bands ({', '.join(ckpt.bands)}) but dataset "
            f"{root} has {nb} ({', '.join(manifest.get('bands', []))})"
        )
    if manifest.get("bands") and ckpt.bands and list(manifest["bands"]) != list(ckpt.bands):
        notes.append(f"band names differ: model {','.join(ckpt.bands)}, dataset {','.join(manifest['bands'])}")
    ps = manifest.get("pixel_size")
    if ckpt.pixel_size and isinstance(ps, list) and ps and not isinstance(ps[0], list):
        if abs(float(ps[0]) / ckpt.pixel_size - 1) > 0.10:
            notes.append(f"dataset pixel size {ps[0]:g} differs from the model's {ckpt.pixel_size:g} m; "
                         "tiles are evaluated at their native resolution")
    return notes


def select_tiles(manifest: dict[str, Any], split: str, tiles: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The manifest records of ``split`` (or of the ids in ``tiles``), with clear errors."""
    by_id = {t["id"]: t for t in manifest["tiles"]}
    counts = ", ".join(f"{s} {len(v)}" for s, v in manifest.get("split", {}).items())
    if tiles:
        missing = [t for t in tiles if t not in by_id]
        if missing:
            raise InputError(f"{manifest.get('root')}: no tiles {missing} in this dataset")
        return [by_id[t] for t in tiles]
    if split not in manifest.get("split", {}):
        raise InputError(f"unknown split {split!r}; this dataset has splits: {counts}")
    ids = manifest["split"][split]
    if not ids:
        raise InputError(f"{manifest.get('root')}: split {split!r} holds no tiles (tiles per split: {counts}); "
                         "pick another --split")
    return [by_id[t] for t in ids]


def _pixel_area(ds: rasterio.DatasetReader) -> tuple[float | None, str]:
    """Mean ground area of one pixel (m²) of a tile, and its description; None without georeferencing."""
    try:
        pa = area.pixel_area_source(ds)
    except InputError:
        return None, "no georeferencing: areas in pixels only"
    if pa.constant is not None:
        return float(pa.constant), pa.description
    return pa.total_m2() / (ds.width * ds.height), pa.description + " (mean per pixel used for tile totals)"


def evaluate_tile(
    model: Callable[[np.ndarray], np.ndarray],
    ckpt: Checkpoint,
    root: str | Path,
    tile: dict[str, Any],
    references: Sequence[str],
    *,
    classes_path: Path | None = None,
    window: int = 512,
    overlap: int = 128,
    batch_size: int = 4,
    progress: bool = False,
    extra_tags: dict[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Predict one tile once; confusion matrices against each reference ('full', 'eroded').

    Blocks of predictions go to a worker thread that reads the matching label windows, adds them to
    the matrices and writes the class map (``classes_path``), while the main thread runs the model.
    """
    table = ckpt.class_table
    nc = table.num_classes
    root = Path(root)
    cms = {r: np.zeros((nc, nc), np.int64) for r in references}
    with ExitStack() as stack:
        img = stack.enter_context(open_raster(root / tile["files"]["image"]))
        labels = {r: stack.enter_context(open_raster(root / tile["files"][REFERENCES[r]])) for r in references}
        for r, ds in labels.items():
            if (ds.width, ds.height) != (img.width, img.height):
                raise InputError(f"tile {tile['id']}: {r} reference is {ds.width}x{ds.height}, image {img.width}x{img.height}")
        out = None
        if classes_path is not None:
            georef = is_georeferenced(img)
            prof = class_map_profile(img.width, img.height, crs=img.crs if georef else None,
                                     transform=img.transform if georef else None, compress="deflate")
            tmp = stack.enter_context(atomic_output(classes_path, suffix=".part.tif"))
            out = stack.enter_context(ClassMapWriter(tmp, prof, table,
                                                     class_map_tags(table, str(ckpt.path or ""), extra_tags or {})))

        def write(blk: Block) -> None:
            h, w = blk.classes.shape
            win = Window(blk.col, blk.row, w, h)
            for r, ds in labels.items():
                cms[r] += confusion_matrix(read_window(ds, win, indexes=1), blk.classes, nc, table.ignore_index)
            if out is not None:
                out.write(blk.classes, blk.row, blk.col)

        run_windows(raster_reader(img), img.height, img.width, model, nc, write,
                    RunOptions(window=window, overlap=overlap, batch_size=batch_size, progress=progress,
                               desc=tile["id"], writer_name="landseg-evaluate"))
        if out is not None:
            out.close()
    if classes_path is not None:  # the QGIS legend of class names beside the map
        write_raster_style(classes_path, class_style_entries(table))
    return cms


def evaluate_tiles(
    model: Callable[[np.ndarray], np.ndarray],
    root: str | Path,
    tiles: Sequence[dict[str, Any]],
    table: ClassTable,
    *,
    label_key: str = "label",
    window: int = 512,
    overlap: int = 64,
    batch_size: int = 4,
) -> tuple[np.ndarray, float, int]:
    """Whole prepared tiles predicted with the sliding window (training validation); returns
    (confusion matrix, summed NLL of the reference class, pixels counted)."""
    nc = table.num_classes
    totals = _ValidationTotals(nc, table.ignore_index)
    run = RunOptions(window=window, overlap=overlap, batch_size=batch_size, want_probs=True,
                     writer_name="landseg-validate")
    for t in tiles:
        with open_raster(Path(root) / t["files"]["image"]) as img, open_raster(Path(root) / t["files"][label_key]) as lbl:
            run_windows(raster_reader(img), img.height, img.width, model, nc, partial(totals.add, lbl), run)
    return totals.cm, totals.nll, totals.npx


class _ValidationTotals:
    """Confusion matrix and summed NLL of the reference class over the blocks of :func:`evaluate_tiles`."""

    def __init__(self, num_classes: int, ignore_index: int):
        self.nc, self.ignore_index = num_classes, ignore_index
        self.cm = np.zeros((num_classes, num_classes), np.int64)
        self.nll, self.npx = 0.0, 0

    def add(self, labels: rasterio.DatasetReader, b: Block) -> None:
        """Count one block of predictions against its tile's reference ``labels``."""
        nc = self.nc
        h, w = b.classes.shape
        ref = read_window(labels, Window(b.col, b.row, w, h), indexes=1)
        self.cm += confusion_matrix(ref, b.classes, nc, self.ignore_index)
        valid = ref < nc
        p = np.take_along_axis(b.probs, np.minimum(ref, nc - 1)[None].astype(np.int64), 0)[0]
        self.nll += float(-np.log(np.clip(p[valid], 1e-7, 1)).sum())
        self.npx += int(valid.sum())


def _write_views(ckpt: Checkpoint, root: Path, tile: dict[str, Any], classes_path: Path, out: EvaluatePaths,
                 size: int) -> dict[str, str]:
    """Downsampled preview (class colours), overlay and truth PNGs of one tile, for reports."""
    paths = out.tile_views(tile["id"])
    with open_raster(root / tile["files"]["image"]) as img:
        h, w = preview_shape(img.height, img.width, size)
        image = read_window(img, None, out_shape=(img.count, h, w), resampling=Resampling.average)
    cls = read_resampled(classes_path, (h, w))
    write_previews(cls, image, ckpt.class_table, ckpt.bands, paths["preview"], paths["overlay"])
    truth = read_resampled(root / tile["files"]["label"], (h, w))
    write_png(colorize(truth, ckpt.class_table), paths["truth"])
    return {k: str(p.relative_to(out.out_dir)) for k, p in paths.items()}


def evaluate_model(
    model: str | Path | Checkpoint,
    dataset: str | Path,
    split: str = "test",
    out: str | Path | None = None,
    *,
    window: int = 512,
    overlap: int = 128,
    batch_size: int = 4,
    tta: bool = False,
    device: str = "auto",
    precision: str = "auto",
    engine: Callable[[np.ndarray], np.ndarray] | None = None,
    tiles: Sequence[str] | None = None,
    write_maps: bool = True,
    preview_size: int = 1024,
    progress: bool = True,
) -> EvaluateResult:
    """Evaluate ``model`` on the ``split`` tiles of a prepared ``dataset``; write results to ``out``.

    Args:
        model: checkpoint path, run folder, ``default``, or a loaded :class:`Checkpoint`.
        dataset: prepared dataset folder (``landseg prepare``).
        split: ``train``, ``val`` or ``test``; ignored when ``tiles`` lists tile ids.
        out: output folder (see the module docstring); None writes nothing and returns the results.
        engine: a callable uint8 (N, bands, H, W) -> probabilities (N, classes, H, W) to use instead of
            the checkpoint's torch model (e.g. an ONNX engine, or a known answer in tests).
        write_maps: write the predicted class map and preview PNGs of every tile.

    Returns:
        The ``metrics.json`` content (:class:`~landseg.results.EvaluateResult`): ``variants`` (the four
        protocol variants' metrics), ``confusion``, ``areas`` (true vs predicted per class), ``per_tile``, ``tiles``, ``notes``.
    """
    check_window(window, overlap, batch_size)
    t0 = time.perf_counter()
    ckpt = model if isinstance(model, Checkpoint) else load_checkpoint(model)
    model_name = str(model if not isinstance(model, Checkpoint) else (model.path or "model"))
    manifest = load_manifest(dataset)
    notes = check_compatible(ckpt, manifest, model_name)
    records = select_tiles(manifest, split, tiles)
    table = ckpt.class_table
    root = Path(manifest["root"])
    refs = ["full"] + (["eroded"] if all("label_eroded" in t["files"] for t in records) else [])
    check_tiles(manifest, label_keys=[REFERENCES[r] for r in refs], tiles=[t["id"] for t in records])
    if "eroded" not in refs:
        notes.append("the dataset has no eroded (noBoundary) labels: only the full-reference variants are given")
    if not clutter_indices(table):
        notes.append(f"class table {table.name!r} has no 'clutter' class: the with/without clutter variants are identical")
    fn = with_tta(engine if engine is not None else TorchEngine(ckpt, device, precision), tta)
    out_dir = check_writable_dir(out) if out is not None else None
    if out_dir is not None and write_maps:
        EvaluatePaths(out_dir).tiles_dir.mkdir(exist_ok=True)
    cms, per_tile_cm, true_m2, pred_m2, pixel_areas, views = _run_tiles(
        fn, ckpt, root, records, refs, out_dir if write_maps else None, preview_size,
        desc=f"evaluate {split}", window=window, overlap=overlap, batch_size=batch_size, progress=progress)
    variants = variant_metrics(cms, table)
    areas = _area_summary(cms["full"], true_m2, pred_m2, pixel_areas, table.names)
    per_tile = _per_tile_rows(per_tile_cm, table)
    result = EvaluateResult(
        format=FORMAT,
        landseg_version=__version__,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        model=model_name,
        dataset=str(root),
        dataset_name=manifest.get("dataset"),
        split=split if not tiles else "tiles",
        tiles=[t["id"] for t in records],
        class_table=table.to_dict(),
        references=refs,
        options={"window": window, "overlap": overlap, "batch_size": batch_size, "tta": tta,
                 "device": device, "precision": precision},
        protocol=("global confusion matrices over whole tiles predicted with the sliding-window engine; "
                  "'without clutter' leaves clutter out of mean F1, mIoU and fwIoU (OA counts every pixel); "
                  "the eroded reference ignores class boundaries (ISPRS noBoundary labels)"),
        variants=variants,
        confusion={r: cm.tolist() for r, cm in cms.items()},
        areas=areas,
        per_tile=per_tile,
        tile_confusion={tid: {r: cm.tolist() for r, cm in tcm.items()} for tid, tcm in per_tile_cm.items()},
        views=views,
        notes=notes,
        seconds=round(time.perf_counter() - t0, 2),
    )
    if out_dir is not None:
        write_outputs(result, out_dir)
    return result


def _run_tiles(fn, ckpt: Checkpoint, root: Path, records: list[dict[str, Any]], refs: list[str],
               maps_dir: Path | None, preview_size: int, *, desc: str, progress: bool, **sliding: int):
    """Each tile predicted once (:func:`evaluate_tile`), with its class map and views in ``maps_dir/tiles``;
    returns (matrices, per-tile matrices, true m², predicted m² (None without pixel sizes), pixel areas, views)."""
    nc = ckpt.class_table.num_classes
    cms = {r: np.zeros((nc, nc), np.int64) for r in refs}
    per_tile_cm: dict[str, dict[str, np.ndarray]] = {}
    true_m2, pred_m2 = np.zeros(nc), np.zeros(nc)
    have_m2 = True
    pixel_areas: dict[str, str] = {}
    views: dict[str, dict[str, str]] = {}
    for t in tqdm(records, desc=desc, unit="tile", disable=not progress or None):
        tid = t["id"]
        classes_path = EvaluatePaths(maps_dir).tile(tid).classes if maps_dir is not None else None
        tile_cms = evaluate_tile(fn, ckpt, root, t, refs, classes_path=classes_path, progress=progress,
                                 extra_tags={"LANDSEG_TILE": tid, "LANDSEG_DATASET": str(root)}, **sliding)
        per_tile_cm[tid] = tile_cms
        for r in refs:
            cms[r] += tile_cms[r]
        with open_raster(root / t["files"]["image"]) as ds:
            px_m2, pixel_areas[tid] = _pixel_area(ds)
        full = tile_cms["full"]
        if px_m2 is None:
            have_m2 = False
        else:
            true_m2 += full.sum(axis=1) * px_m2
            pred_m2 += full.sum(axis=0) * px_m2
        if classes_path is not None and preview_size:
            views[tid] = _write_views(ckpt, root, t, classes_path, EvaluatePaths(maps_dir), preview_size)
    return cms, per_tile_cm, (true_m2 if have_m2 else None), (pred_m2 if have_m2 else None), pixel_areas, views


def _area_summary(full: np.ndarray, true_m2: np.ndarray | None, pred_m2: np.ndarray | None,
                  pixel_areas: dict[str, str], names: Sequence[str]) -> dict[str, Any]:
    """True vs predicted area per class from the full-reference matrix (m² where every tile has a pixel size)."""
    have_m2 = true_m2 is not None and pred_m2 is not None
    return {
        "reference": "full",
        "note": "over the pixels with a valid full reference; predicted = column sums, true = row sums of its matrix",
        "pixel_area": sorted(set(pixel_areas.values())),
        "classes": [
            {"name": n, "true_pixels": int(full[i].sum()), "predicted_pixels": int(full[:, i].sum()),
             "true_m2": float(true_m2[i]) if have_m2 else None, "predicted_m2": float(pred_m2[i]) if have_m2 else None,
             "error_pct": (100.0 * (full[:, i].sum() - full[i].sum()) / full[i].sum()) if full[i].sum() else None}
            for i, n in enumerate(names)
        ],
    }


def _per_tile_rows(per_tile_cm: dict[str, dict[str, np.ndarray]], table: ClassTable) -> list[dict[str, Any]]:
    """One row per tile and reference: pixels, OA, means with and without clutter, per-class F1 and IoU."""
    per_tile = []
    for tid, tcm in per_tile_cm.items():
        for r, cm in tcm.items():
            v = variant_metrics({r: cm}, table)
            w, wo = v[f"{r}_with_clutter"], v[f"{r}_without_clutter"]
            per_tile.append({"tile": tid, "reference": r, "pixels": w["pixels"], "oa": w["oa"],
                             "mean_f1": w["mean_f1"], "miou": w["miou"], "fwiou": w["fwiou"],
                             "mean_f1_without_clutter": wo["mean_f1"], "miou_without_clutter": wo["miou"],
                             **{f"f1_{n}": w["per_class"][n]["f1"] for n in table.names},
                             **{f"iou_{n}": w["per_class"][n]["iou"] for n in table.names}})
    return per_tile


__all__ = ["check_compatible", "evaluate_model", "evaluate_tile", "evaluate_tiles", "select_tiles"]
