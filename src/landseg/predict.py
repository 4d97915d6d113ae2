"""Prediction over rasters of any size: sliding windows with blending, streamed to a COG.

For each input ``NAME.ext`` the output folder receives::

    NAME_classes.tif    uint8 class map, Cloud-Optimized GeoTIFF, input CRS/transform, nodata 255,
                        colour table and class names embedded (written first, the side outputs after it)
    NAME_probs.tif      optional, per-class probabilities scaled to 0-255
    NAME_confidence.tif optional (``confidence``), the blended max-probability as uint8 0-100, nodata 255
    NAME_preview.png    class colours, downsampled to at most ``preview_size`` pixels
    NAME_overlay.png    the image with the classes blended over it
    NAME_areas.csv/json class areas (see :mod:`landseg.area`)
    NAME_predict.json   what was done (model, windows, resampling, timings), the domain check (``domain``:
                        the measured figures; ``warnings``: one sentence each, empty when the input looks like
                        the model's training data; see :mod:`landseg.models.domain`); written last: with every
                        output the options ask for present, it marks the input done (:func:`is_complete`)
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, Resampling
from rasterio.windows import Window

from landseg import area, views
from landseg.assets import bundled_models
from landseg.errors import InputError, LandsegError
from landseg.inference.driver import RunOptions, run_windows
from landseg.inference.engine import load_engine, with_tta
from landseg.inference.sliding import Block, Region, check_window
from landseg.io.files import (
    check_writable_dir,
    clean_stale,
    file_identity,
    output_error,
    read_structured,
    temp_dir_prefix,
    write_json_atomic,
    write_text_atomic,
)
from landseg.io.labels import CLASS_NAMES_TAG, class_map_tags, class_names_tag
from landseg.io.raster import (
    CLASS_MAP_NODATA,
    BlockWriter,
    ClassMapWriter,
    MaskSource,
    choose_mask,
    class_map_profile,
    class_style_entries,
    finalize_cog,
    is_georeferenced,
    open_raster,
    read_resampled,
    reading,
    unreadable_source,
    update_raster,
    valid_mask,
    warped,
)
from landseg.io.styles import raster_style_path, write_raster_style
from landseg.layout import PredictPaths
from landseg.models.checkpoint import Checkpoint, read_metadata
from landseg.models.domain import BAND_MEANINGS, InputStats, band_meaning, check_domain, parse_band_meaning
from landseg.results import PredictRecord

RASTER_EXTS = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".vrt", ".jp2")
LOCAL_CRS = "EPSG:3857"  # stand-in grid for resampling rasters that have no georeferencing


@dataclass
class PredictOptions:
    """The options of ``landseg predict`` (window plan, side outputs, resampling, limits, masks, bands)."""

    window: int = 512
    overlap: int = 128
    batch_size: int = 4
    tta: bool = False
    probs: bool = False
    previews: bool = True
    areas: bool = True
    preview_size: int = 2048
    gsd: float | None = None
    input_range: tuple[float, float] | None = None
    resample_tolerance: float = 0.10
    max_scale: float = 8.0  # refuse inputs whose pixel size differs from the model's by more (either way)
    max_pixels: float | None = 2e9  # refuse inputs whose inference grid would hold more pixels (None: no limit)
    pixel_limit_name: str = "--max-pixels"  # the option that sets max_pixels, named in the message
    chunk_width: int = 8192
    overwrite: bool = False
    progress: bool = True
    extra_tags: dict[str, str] = field(default_factory=dict)
    mask: str = "auto"  # what marks input nodata: auto, alpha, nodata, none (io.raster.choose_mask)
    on_progress: Callable[[int, int], None] | None = None  # (windows done, windows total), e.g. for a web UI
    band_map: list[int] | None = None  # --bands: 1-based input bands fed to the model's bands, in order
    input_bands: str | None = None  # --input-bands: what the input's bands are (rgb, irrg, ...), if it does not say
    confidence: bool = False  # also write NAME_confidence.tif


def list_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Expand folders into the rasters they hold; keep explicit files in order."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in RASTER_EXTS and not f.name.startswith("."))
            if not found:
                raise InputError(f"{p}: folder holds no rasters ({', '.join(RASTER_EXTS)})")
            files += found
        else:
            files.append(p)
    unique: dict[Path, Path] = {}
    for f in files:  # the same file named twice (or via a folder and by name) is predicted once
        unique.setdefault(f.resolve(), f)
    return list(unique.values())


def output_stems(files: Sequence[Path]) -> list[str]:
    """The output stem of each input: its file stem, or, where several inputs share a stem (``a/x.tif`` and
    ``b/x.tif``), the stem prefixed by the shortest parent path that tells them apart (``a_x``, ``b_x``).

    Inputs that cannot be told apart that way (``x.tif`` and ``x.png`` in one folder; a name that equals another
    input's disambiguated name) are refused up front with :class:`InputError` naming them.
    """
    stems = [f.stem for f in files]
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(files):
        groups.setdefault(f.stem.lower(), []).append(i)
    for idx in groups.values():
        if len(idx) < 2:
            continue
        parents = [files[i].resolve().parent.parts[1:] for i in idx]
        for k in range(1, max(len(p) for p in parents) + 1):
            cand = ["_".join((*p[-k:], files[i].stem)) for p, i in zip(parents, idx)]
            if len({c.lower() for c in cand}) == len(cand):
                for i, c in zip(idx, cand):
                    stems[i] = c
                break
    seen: dict[str, Path] = {}
    for f, s in zip(files, stems):
        other = seen.setdefault(s.lower(), f)
        if other is not f:
            raise InputError(f"{other} and {f} would write the same outputs ({PredictPaths(Path(), s).classes.name}); "
                             "rename one of them or predict them into different --out folders")
    return stems


def _input_bands(ds: rasterio.DatasetReader, need: int, path: Path, band_map: list[int] | None = None) -> list[int]:
    """Band indexes to feed the model: ``band_map`` (``--bands``) if given; else the bands not tagged alpha when
    they are as many as the model needs, else the raster's first ``need`` bands (an RGB model reads bands 1-3 of
    an RGBI image; :func:`describe_bands` says so)."""
    ci = list(ds.colorinterp)
    if band_map is not None:
        if len(band_map) != need or any(not 1 <= b <= ds.count for b in band_map):
            raise InputError(f"{path}: --bands {','.join(map(str, band_map))}: the model needs {need} band numbers "
                             f"between 1 and {ds.count} (this raster's bands), e.g. --bands "
                             f"{','.join(str(i + 1) for i in range(need))}")
        return list(band_map)
    data_bands = [i + 1 for i, c in enumerate(ci) if c != ColorInterp.alpha]
    if len(data_bands) == need:
        return data_bands
    if ds.count >= need:
        return list(range(1, need + 1))
    raise InputError(f"{path}: the model needs {need} bands, this raster has {ds.count} "
                     f"({', '.join(c.name for c in ci)}); give an image with the model's bands")


def describe_bands(ds: rasterio.DatasetReader, bands: list[int], model_bands: Sequence[str]) -> str:
    """'bands 1, 2, 3 of 4 as red, green, blue' for the console and ``predict.json``."""
    unused = [i for i in ds.indexes if i not in bands]
    text = f"bands {', '.join(map(str, bands))} of {ds.count} as {', '.join(model_bands)}"
    return text + (f" (band {', '.join(map(str, unused))} not fed to the model)" if unused else "")


def declared_band_meaning(ds: rasterio.DatasetReader, opts: PredictOptions) -> tuple[str, str]:
    """What the input's bands are, and who says so: ``--input-bands``, else the raster's band descriptions
    (e.g. ``nir``, ``red``, ``green`` set in QGIS/GDAL). GDAL's colour interpretation is not used: PNG and
    JPEG always report red/green/blue, and so do most 3-band GeoTIFFs, whatever the bands hold."""
    if opts.input_bands:
        return parse_band_meaning(opts.input_bands, ds.count), "--input-bands"
    desc = [d for d in ds.descriptions if d]
    if len(desc) == ds.count:
        meaning = band_meaning(desc)
        if meaning != "unknown":
            return meaning, "band descriptions"
    return "unknown", "not declared"


def check_band_meaning(ds: rasterio.DatasetReader, ckpt: Checkpoint, opts: PredictOptions, path: Path) -> tuple[str, str]:
    """Refuse an input whose declared bands differ from the model's (IRRG into an RGB model) unless ``--bands``
    maps them explicitly; returns the input's meaning and its source."""
    meaning, source = declared_band_meaning(ds, opts)
    model = ckpt.domain_or_unknown().band_meaning
    if opts.band_map is None and "unknown" not in (meaning, model) and meaning != model:
        have, want = BAND_MEANINGS[meaning], BAND_MEANINGS[model]
        missing = [b for b in want if b not in have]
        spare = iter([i + 1 for i, b in enumerate(have) if b not in want])
        order = ",".join(str(have.index(b) + 1 if b in have else next(spare, 1)) for b in want)
        if missing:
            fix = (f"it has no {', '.join(missing)} band, so no band mapping makes it {model} (--bands {order} would "
                   f"force one, at your own risk); use a model trained on {meaning} imagery{_bundled_for(meaning)} "
                   "or train one on your own imagery")
        else:
            fix = (f"map the bands explicitly with --bands (e.g. --bands {order}), or use a model trained on {meaning} "
                   f"imagery{_bundled_for(meaning)}")
        raise InputError(f"{path}: its bands are {meaning} ({', '.join(have)}; from its {source}) but the model "
                         f"expects {model} ({', '.join(want)}); {fix}")
    return meaning, source


def _bundled_for(meaning: str) -> str:
    """`` (bundled: default)`` naming the bundled models whose bands are ``meaning``, or ''."""
    names = [n for n, p in bundled_models().items()
             if ((read_metadata(p).get("domain") or {}).get("band_meaning")) == meaning]
    return f" (bundled: {', '.join(names)})" if names else ""


def _scaler(ds: rasterio.DatasetReader, path: Path, opts: PredictOptions, bands: list[str]) -> Callable[[np.ndarray], np.ndarray]:
    dtype = np.dtype(ds.dtypes[0])
    if opts.input_range:
        lo, hi = opts.input_range
        return lambda a: np.clip((a.astype(np.float32) - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)
    if dtype == np.uint8:
        return lambda a: a
    raise InputError(
        f"{path}: {dtype} pixels, but the model expects 8-bit values 0-255 for bands {', '.join(bands)} "
        "(as in its training data); pass --input-range MIN,MAX to scale linearly, or convert the image to 8-bit"
    )


def _pixel_size(ds: rasterio.DatasetReader) -> float | None:
    if ds.transform.is_identity:
        return None
    t = ds.transform
    return float((abs(t.a * t.e - t.b * t.d)) ** 0.5)


def _units_per_metre(crs: Any) -> float | None:
    if crs is None:
        return None
    if crs.is_geographic:
        return None
    try:
        return 1.0 / float(crs.linear_units_factor[1])
    except Exception:  # noqa: BLE001 - unknown units: cannot compare pixel sizes
        return None


def prediction_grid(ds: rasterio.DatasetReader, ckpt: Checkpoint, opts: PredictOptions) -> tuple[dict[str, Any] | None, str]:
    """WarpedVRT arguments when the input must be resampled to the model's pixel size, and a note.

    The budget is checked here, before any work: a scale factor beyond ``opts.max_scale`` (either way) or an
    inference grid of more than ``opts.max_pixels`` pixels raises :class:`InputError`.
    """
    vrt, note = _grid(ds, ckpt, opts)
    width, height = (vrt["width"], vrt["height"]) if vrt else (ds.width, ds.height)
    if opts.max_pixels is not None and width * height > opts.max_pixels:
        what = f"resampled to {width}x{height}" if vrt else f"{width}x{height}"
        raise InputError(f"{ds.name}: {what} = {width * height:,} pixels to predict, more than the limit of "
                         f"{opts.max_pixels:,.0f} ({opts.pixel_limit_name}); {note}. Predict a smaller area, or raise "
                         f"{opts.pixel_limit_name}")
    return vrt, note


def _grid(ds: rasterio.DatasetReader, ckpt: Checkpoint, opts: PredictOptions) -> tuple[dict[str, Any] | None, str]:
    model_ps = ckpt.pixel_size
    if model_ps is None:
        return None, "model has no exact training pixel size: input used at its native resolution"
    georef = ds.crs is not None and not ds.transform.is_identity
    if georef:
        upm = _units_per_metre(ds.crs)
        if upm is None:
            return None, f"input CRS {ds.crs} is geographic/unknown units: pixel size not compared, native resolution used"
        ps_m = _pixel_size(ds) / upm
        crs, transform = ds.crs, ds.transform
        origin = "its georeferencing"
    elif opts.gsd:
        ps_m = opts.gsd
        crs = rasterio.crs.CRS.from_user_input(LOCAL_CRS)
        transform = rasterio.Affine(opts.gsd, 0, 0, 0, -opts.gsd, 0)
        origin = "--gsd"
    else:
        return None, (f"input has no georeferencing and no --gsd: assumed to match the model's "
                      f"{model_ps:g} m pixels (pass --gsd METRES to resample correctly)")
    ratio = ps_m / model_ps
    if abs(ratio - 1) <= opts.resample_tolerance:
        return None, f"input pixel size {ps_m:.4g} m matches the model's {model_ps:g} m"
    width = max(1, int(round(ds.width * ratio)))
    height = max(1, int(round(ds.height * ratio)))
    factor = max(ratio, 1 / ratio)
    if factor > opts.max_scale:
        way = "upsampled" if ratio > 1 else "downsampled"
        raise InputError(
            f"{ds.name}: pixel size {ps_m:.4g} m (from {origin}) against the model's {model_ps:g} m: the input would "
            f"be {way} {factor:.3g}x (to {width}x{height} pixels), beyond --max-scale {opts.max_scale:g}. Give the "
            f"right pixel size with --gsd, use a model trained at about {ps_m:.3g} m, or raise --max-scale")
    dst_transform = transform * rasterio.Affine.scale(ds.width / width, ds.height / height)
    vrt = dict(crs=crs, transform=dst_transform, width=width, height=height, resampling=Resampling.bilinear)
    if not georef:
        vrt.update(src_crs=crs, src_transform=transform)
    return vrt, (f"input pixel size {ps_m:.4g} m differs from the model's {model_ps:g} m by more than "
                 f"{opts.resample_tolerance:.0%}: resampled to {width}x{height} for inference and back to the input grid")


def predict_raster(
    engine: Callable[[np.ndarray], np.ndarray],
    ckpt: Checkpoint,
    src: str | Path,
    out_dir: str | Path,
    opts: PredictOptions | None = None,
    *,
    model_name: str = "",
    mosaic: tuple[Path, Region] | None = None,
    stem: str | None = None,
) -> dict[str, Any]:
    """Predict one raster into ``out_dir`` (outputs named after ``stem``, see :func:`output_stems`); returns
    the run record. Skips complete outputs.

    ``mosaic`` = (VRT, region): ``src`` is the tile of the VRT at ``region``, predicted with the windows of
    the whole VRT (no seams at tile borders; see :mod:`landseg.mosaic`); the tile must be at the model's
    pixel size.
    """
    opts = opts or PredictOptions()
    src = Path(src)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    paths = PredictPaths.of(src, out_dir, stem)
    made_from = run_identity(src, ckpt, opts, model_name, mosaic, engine)
    redo = None
    if not opts.overwrite and is_complete(paths, opts):
        redo = changed_since(paths.record, made_from)
        if redo is None:
            return {"input": str(src), "skipped": True, "classes": str(paths.classes)}
    paths.record.unlink(missing_ok=True)  # the completion marker of an earlier run no longer holds
    t0 = time.perf_counter()
    with ExitStack() as stack:
        ds = stack.enter_context(open_raster(src))
        vrt_args, note = prediction_grid(ds, ckpt, opts)
        bands = _input_bands(ds, len(ckpt.mean), src, opts.band_map)
        source = choose_mask(ds, bands, opts.mask)
        meaning, meaning_source = check_band_meaning(ds, ckpt, opts, src)
        scale = _scaler(ds, src, opts, ckpt.bands)
        _check_has_data(ds, src, source, bands)
        job = GridRun(src, ds, _inference_grid(stack, ds, src, vrt_args, note, mosaic), bands, scale, vrt_args,
                      source, mosaic[1] if mosaic else None)
        tmpdir = _scratch_dir(stack, paths.classes.parent)
        tags = class_map_tags(ckpt.class_table, model_name, {**opts.extra_tags, "LANDSEG_NOTE": note})
        stats = InputStats(len(bands))
        n_windows = infer_grid(engine, ckpt, job, tmpdir, tags, opts, stats=stats)
        t_model = time.perf_counter() - t0
        stack.callback(_remove_unfinished, paths)  # a run stopped before its record leaves none of its outputs
        final_raw = _finish_maps(job, ckpt, tmpdir, tags, opts, paths)
        georef = is_georeferenced(ds)
        notes = [f"--gsd {opts.gsd:g} ignored: {src.name} is georeferenced; its own pixel size is used"] \
            if opts.gsd is not None and georef else []
        record = PredictRecord(input=str(src), model=model_name, note=note, notes=notes, size=[ds.width, ds.height],
                               crs=ds.crs.to_string() if georef else None, window=opts.window, overlap=opts.overlap,
                               tta=opts.tta, windows=n_windows, inference_grid=[job.grid.width, job.grid.height],
                               seconds_model=round(t_model, 2), bands=bands,
                               bands_used=describe_bands(ds, bands, ckpt.bands), mask=source.text, made_from=made_from)
        in_ps = None if vrt_args is not None else _input_pixel_size(ds, opts.gsd)
        check = check_domain(ckpt.domain_or_unknown(), stats, input_meaning=meaning, meaning_source=meaning_source,
                             input_pixel_size=in_ps, band_map=opts.band_map)
        record.domain, record.warnings = check["figures"], check["warnings"]
        if opts.areas:
            record.areas = _write_areas(final_raw, paths, None if georef else opts.gsd)
        record.seconds_total = round(time.perf_counter() - t0, 2)
        write_json_atomic(paths.record, record.to_dict())  # last: the completion marker (is_complete)
    return {**record.to_dict(), "classes": str(paths.classes), **({"redone": redo} if redo else {})}


def _remove_unfinished(paths: PredictPaths) -> None:
    """Remove the outputs of ``paths`` unless the run record (the completion marker, written last) is there: a run
    stopped (Ctrl+C, the QGIS plugin's cancel, an error) after renaming its first maps into place must not leave
    a class map that looks finished."""
    if paths.record.exists():
        return
    every = paths.expected(probs=True, confidence=True, previews=True, areas=True)
    for p in [*every, raster_style_path(paths.classes)]:
        p.unlink(missing_ok=True)


def _inference_grid(stack: ExitStack, ds: rasterio.DatasetReader, src: Path, vrt_args: dict[str, Any] | None,
                    note: str, mosaic: tuple[Path, Region] | None) -> Any:
    """The raster the model reads: the input, its resampling onto the model's pixel size, or the mosaic's VRT."""
    if mosaic is None:
        return stack.enter_context(warped(ds, **vrt_args)) if vrt_args else ds
    if vrt_args is not None:
        raise InputError(f"{src}: {note}; a mosaic is predicted on its tiles' grid, so resample the "
                         "tiles to the model's pixel size first (or predict them one by one without --mosaic)")
    return stack.enter_context(open_raster(mosaic[0]))


def _scratch_dir(stack: ExitStack, out_dir: Path) -> Path:
    """A temporary folder in ``out_dir`` (same file system: finished files are renamed into place), removed at the
    end of ``stack``."""
    try:
        return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=temp_dir_prefix(), dir=out_dir)))
    except OSError as exc:
        raise output_error(out_dir, exc) from None


def _finish_maps(job: GridRun, ckpt: Checkpoint, tmpdir: Path, tags: dict[str, str], opts: PredictOptions,
                 paths: PredictPaths) -> Path:
    """The inference-grid rasters in ``tmpdir`` turned into the final outputs (back on the input grid, COGs,
    style, previews); returns the scratch class map (same pixels as ``paths.classes``)."""
    ds, vrt_args = job.ds, job.vrt_args
    final_raw, final_probs = tmpdir / "classes_grid.tif", tmpdir / "probs_grid.tif"
    final_conf = tmpdir / "confidence_grid.tif"
    if vrt_args is not None:  # back to the input grid (nearest for classes), masking input nodata
        final_raw, final_probs = _regrid(tmpdir, ds, vrt_args, ckpt, tags, opts.probs, job.bands, job.source)
        if opts.confidence:
            final_conf = _regrid_confidence(tmpdir, ds, vrt_args, job.bands, job.source)
    finalize_cog(final_raw, paths.classes, overview_resampling="mode")  # side outputs only after it
    write_raster_style(paths.classes, class_style_entries(ckpt.class_table))  # QGIS legend: class names
    if opts.confidence:
        finalize_cog(final_conf, paths.confidence, overview_resampling="average")
    if opts.probs:
        with update_raster(final_probs) as pds:
            pds.update_tags(**{CLASS_NAMES_TAG: class_names_tag(ckpt.class_table)})
        finalize_cog(final_probs, paths.probs, overview_resampling="average")
    if opts.previews:
        write_raster_previews(ds, job.bands, job.scale, final_raw, ckpt, paths.preview, paths.overlay,
                              opts.preview_size)
    return final_raw


def engine_label(engine: Any) -> str:
    """What runs the model, as far as it shapes the outputs: the engine kind, its device and its precision
    (bf16 autocast and ONNX give probabilities a little different from fp32 torch)."""
    parts = [type(engine).__name__]
    if getattr(engine, "device", None) is not None:
        parts.append(str(engine.device))
    if hasattr(engine, "dtype"):
        parts.append("fp32" if engine.dtype is None else str(engine.dtype).replace("torch.", ""))
    return " ".join(parts)


def run_identity(src: Path, ckpt: Checkpoint, opts: PredictOptions, model_name: str,
                 mosaic: tuple[Path, Region] | None, engine: Any = None) -> dict[str, Any]:
    """What an input's outputs were made from: the input file's identity (size, mtime, fingerprint:
    :func:`~landseg.io.files.file_identity`), the model's (its file's identity) and the options that shape the
    outputs. Recorded in ``predict.json``; a rerun reuses the outputs only when it is the same."""
    model = {"name": model_name, **(file_identity(ckpt.path) if ckpt.path and Path(ckpt.path).is_file() else {})}
    shaping = {"window": opts.window, "overlap": opts.overlap, "tta": opts.tta, "gsd": opts.gsd,
               "input_range": list(opts.input_range) if opts.input_range else None, "mask": opts.mask,
               "resample_tolerance": opts.resample_tolerance, "preview_size": opts.preview_size,
               "extra_tags": dict(sorted(opts.extra_tags.items())),
               "mosaic_region": list(mosaic[1]) if mosaic else None, "band_map": opts.band_map,
               "input_bands": opts.input_bands, "confidence": opts.confidence or None,
               "engine": None if engine is None else engine_label(engine)}
    return {"input": file_identity(src), "model": model, "options": shaping}


def changed_since(record_path: Path, made_from: dict[str, Any]) -> str | None:
    """None when the run recorded in ``record_path`` was made from ``made_from``; else what changed (one line)."""
    try:
        old = read_structured(record_path).get("made_from")
    except (OSError, ValueError, AttributeError):
        return "its predict.json is unreadable"
    if not isinstance(old, dict):
        return "its predict.json does not record what the outputs were made from (an older landseg)"
    what = []
    if old.get("input") != made_from["input"]:
        o, n = old.get("input") or {}, made_from["input"]
        bits = [k for k in ("size", "mtime_ns", "fingerprint") if o.get(k) != n[k]]
        what.append(f"the input file changed ({', '.join(b.replace('_ns', '') for b in bits)})")
    if old.get("model") != made_from["model"]:
        what.append("the model changed")
    oo, no = old.get("options") or {}, made_from["options"]
    opt = [f"{k} {oo.get(k)!r} -> {no[k]!r}" for k in no if oo.get(k) != no[k]]
    if opt:
        what.append("options changed: " + ", ".join(opt))
    return "; ".join(what) or None


def is_complete(paths: PredictPaths, opts: PredictOptions) -> bool:
    """Whether an earlier run left every output ``opts`` asks for. ``predict.json`` is written last, after the class
    map and the side outputs, so a run killed part-way is redone."""
    want = paths.expected(probs=opts.probs, confidence=opts.confidence, previews=opts.previews, areas=opts.areas)
    return all(p.exists() for p in want)


def _check_has_data(ds: rasterio.DatasetReader, src: Path, source: MaskSource | None = None,
                    bands: list[int] | None = None) -> None:
    if ds.width == 0 or ds.height == 0:
        raise InputError(f"{src}: empty raster")
    small = valid_mask(ds, out_shape=(min(ds.height, 256), min(ds.width, 256)), indexes=bands, source=source)
    if not small.any():
        how = f" (mask: {source.text})" if source is not None else ""
        raise InputError(f"{src}: every pixel is nodata{how}; nothing to predict")


@dataclass
class GridRun:
    """What :func:`infer_grid` predicts: the input, the grid the model sees, and how the input's pixels are read.

    Without resampling (``vrt_args`` None) the inference grid is the input grid. With ``region`` (row0, col0, row1,
    col1 of ``grid``, e.g. a mosaic VRT) only that part is predicted, with the windows of the whole grid (see
    :func:`~landseg.inference.sliding.sliding_window`), onto ``ds``'s grid: ``ds`` is the tile that covers exactly
    the region (its mask and georeferencing are the output's).
    """

    src: Path  # the input file (named in messages; opened again to mask its nodata as blocks are written)
    ds: rasterio.DatasetReader  # the input
    grid: Any  # the inference grid: ds, a WarpedVRT of it at the model's pixel size, or the mosaic VRT
    bands: list[int]  # 1-based input bands fed to the model
    scale: Callable[[np.ndarray], np.ndarray]  # input values -> the model's uint8
    vrt_args: dict[str, Any] | None  # the resampling onto the model's pixel size; None: none
    source: MaskSource | None  # what marks input nodata
    region: Region | None = None


def _grid_reader(job: GridRun, stats: InputStats | None):
    """The read function of ``job``'s grid: scaled to the model's uint8 (NaN/inf as 0), band statistics gathered
    into ``stats``; a corrupt mosaic tile read as context of another is named as such."""
    grid, src, region = job.grid, job.src, job.region
    nodata = grid.nodata

    def read(r: int, c: int, h: int, w: int) -> np.ndarray:
        try:
            with reading(str(src) if region is None else grid.name):
                a = grid.read(job.bands, window=Window(c, r, w, h))
        except InputError:
            bad = unreadable_source(grid.name, Window(c, r, w, h)) if region is not None else None
            if bad is None:
                raise
            raise InputError(f"{bad}: cannot read pixel data, the file is corrupt or truncated"
                             + ("" if Path(bad).resolve() == src.resolve() else
                                f" (read as context of {src.name} across the tile border)")
                             + "; replace the tile or leave it out of the mosaic") from None
        if a.dtype.kind == "f":  # NaN/inf pixels are nodata (masked on writing); feed the model zeros there
            a = np.where(np.isfinite(a), a, 0)
        a = job.scale(a)
        if stats is not None:
            stats.add_pixels(a, None if nodata is None else ~(a == np.asarray(nodata).astype(a.dtype)).all(axis=0))
        return a

    return read


class _GridOutputs:
    """The writers of one inference run in ``tmpdir`` (classes_grid.tif, probs_grid.tif, confidence_grid.tif).

    Without resampling the class map gets its class table now and input nodata is masked as blocks are written
    (through a handle of the input of its own); no second pass. ``stats`` gathers the model's confidence from the
    blended probabilities as they are written."""

    def __init__(self, stack: ExitStack, job: GridRun, ckpt: Checkpoint, tmpdir: Path, tags: dict[str, str],
                 opts: PredictOptions, stats: InputStats | None):
        grid, ds = job.grid, job.ds
        r0, c0, r1, c1 = job.region or (0, 0, grid.height, grid.width)
        on_grid = is_georeferenced(ds) or job.vrt_args
        out_tr = (ds.transform if job.region else grid.transform) if on_grid else None
        prof = class_map_profile(c1 - c0, r1 - r0, crs=grid.crs if on_grid else None, transform=out_tr)
        direct = job.vrt_args is None
        self.classes = stack.enter_context(ClassMapWriter(tmpdir / "classes_grid.tif", prof,
                                                          ckpt.class_table if direct else None, tags if direct else None))
        nc = ckpt.class_table.num_classes
        self.probs = stack.enter_context(BlockWriter(tmpdir / "probs_grid.tif", {**prof, "count": nc, "nodata": None})) \
            if opts.probs else None
        self.conf = stack.enter_context(BlockWriter(tmpdir / "confidence_grid.tif", prof)) if opts.confidence else None
        self.mask_ds = stack.enter_context(open_raster(job.src)) if direct else None
        self.origin = (r0, c0)
        self.job, self.stats = job, stats

    def __call__(self, blk: Block) -> None:
        """Write one block of predictions (input nodata masked), its probabilities and confidence."""
        row, col = blk.row - self.origin[0], blk.col - self.origin[1]
        if self.mask_ds is not None:
            h, w = blk.classes.shape
            blk.classes[~valid_mask(self.mask_ds, Window(col, row, w, h), indexes=self.job.bands,
                                    source=self.job.source)] = CLASS_MAP_NODATA
        self.classes.write(blk.classes, row, col)
        if self.probs is not None:
            self.probs.write((blk.probs * 255 + 0.5).astype(np.uint8), row, col)
        if blk.probs is not None:
            maxp = blk.probs.max(axis=0)
            ok = blk.classes != CLASS_MAP_NODATA
            if self.stats is not None:
                self.stats.add_confidence(maxp[ok])
            if self.conf is not None:
                c = np.where(ok, np.clip(maxp * 100 + 0.5, 0, 100), CLASS_MAP_NODATA).astype(np.uint8)
                self.conf.write(c, row, col)


def infer_grid(engine: Callable[[np.ndarray], np.ndarray], ckpt: Checkpoint, job: GridRun, tmpdir: Path,
               tags: dict[str, str], opts: PredictOptions, stats: InputStats | None = None) -> int:
    """Sliding-window inference of ``job`` into ``tmpdir`` (classes_grid.tif, probs_grid.tif, confidence_grid.tif,
    see :class:`_GridOutputs`); returns the number of windows. ``stats`` gathers the input's band statistics from
    the windows as they are read and the model's confidence from the blended probabilities as they are written
    (same pass)."""
    run = RunOptions(window=opts.window, overlap=opts.overlap, batch_size=opts.batch_size, chunk_width=opts.chunk_width,
                     want_probs=opts.probs or opts.confidence or stats is not None, region=job.region,
                     progress=opts.progress, desc=job.src.name, on_progress=opts.on_progress)
    with ExitStack() as stack:
        write = _GridOutputs(stack, job, ckpt, tmpdir, tags, opts, stats)
        return run_windows(_grid_reader(job, stats), job.grid.height, job.grid.width, with_tta(engine, opts.tta),
                           ckpt.class_table.num_classes, write, run)


def _regrid(tmpdir: Path, ds, vrt_args: dict[str, Any], ckpt: Checkpoint, tags: dict[str, str],
            probs: bool, bands: list[int] | None = None, source: MaskSource | None = None) -> tuple[Path, Path]:
    """The inference-grid outputs copied back onto the input grid; returns (classes, probs) paths."""
    georef = is_georeferenced(ds)
    crs, transform = (ds.crs, ds.transform) if georef else (None, None)
    prof = class_map_profile(ds.width, ds.height, crs=crs, transform=transform)
    final_raw, final_probs = tmpdir / "classes.tif", tmpdir / "probs.tif"
    with ClassMapWriter(final_raw, prof, ckpt.class_table, tags) as out:
        _finish(tmpdir / "classes_grid.tif", out, ds, prof, vrt_args, Resampling.nearest, mask=True, bands=bands,
                source=source)
    if probs:
        nc = ckpt.class_table.num_classes
        pprof = {**prof, "count": nc, "nodata": None}
        with BlockWriter(final_probs, pprof) as out:
            _finish(tmpdir / "probs_grid.tif", out, ds, pprof, vrt_args, Resampling.bilinear, mask=False)
    return final_raw, final_probs


def _regrid_confidence(tmpdir: Path, ds, vrt_args: dict[str, Any], bands: list[int],
                       source: MaskSource | None = None) -> Path:
    """The confidence raster copied back onto the input grid (bilinear, input nodata -> 255)."""
    georef = is_georeferenced(ds)
    prof = class_map_profile(ds.width, ds.height, crs=ds.crs if georef else None,
                             transform=ds.transform if georef else None)
    out_path = tmpdir / "confidence.tif"
    with BlockWriter(out_path, prof) as out:
        _finish(tmpdir / "confidence_grid.tif", out, ds, prof, vrt_args, Resampling.bilinear, mask=True, bands=bands,
                source=source)
    return out_path


def _input_pixel_size(ds: rasterio.DatasetReader, gsd: float | None) -> float | None:
    """The input's pixel size in metres (georeferencing or ``--gsd``), None where unknown."""
    if is_georeferenced(ds):
        upm = _units_per_metre(ds.crs)
        return None if upm is None else _pixel_size(ds) / upm
    return gsd


def _finish(raw: Path, out: BlockWriter, ds, prof: dict[str, Any], vrt_args: dict[str, Any], resampling: Resampling,
            mask: bool, bands: list[int] | None = None, source: MaskSource | None = None) -> None:
    """Copy ``raw`` (inference grid) onto the input grid block by block, masking input nodata."""
    with ExitStack() as stack:
        src = stack.enter_context(open_raster(raw))
        kw = dict(crs=prof["crs"] or vrt_args["crs"], transform=ds.transform if prof["crs"] else vrt_args.get("src_transform"),
                  width=ds.width, height=ds.height, resampling=resampling)
        if not prof["crs"]:
            kw.update(src_crs=vrt_args["crs"], src_transform=vrt_args["transform"])
        src = stack.enter_context(warped(src, **kw))
        for win in out.windows():
            data = src.read(window=win)
            if mask:
                data[:, ~valid_mask(ds, win, indexes=bands, source=source)] = CLASS_MAP_NODATA
            out.write_window(data, win)


def write_raster_previews(ds, bands: list[int], scale, classes_path: Path, ckpt: Checkpoint, preview: Path, overlay: Path,
                   size: int, alpha: float = views.OVERLAY_ALPHA) -> None:
    """Colour preview and overlay PNGs of ``ds`` and its class map, read decimated (bounded memory)."""
    h, w = views.preview_shape(ds.height, ds.width, size)
    cls = read_resampled(classes_path, (h, w))
    img = ds.read(bands, out_shape=(len(bands), h, w), resampling=Resampling.average)
    if img.dtype.kind == "f":
        img = np.where(np.isfinite(img), img, 0)
    img = scale(img)
    views.write_previews(cls, img, ckpt.class_table, ckpt.bands, preview, overlay, alpha)


def _write_areas(classes_path: Path, paths: PredictPaths, gsd: float | None) -> dict[str, Any]:
    """Class areas of the finished map; pixel counts and shares only where no pixel size is known.

    ``classes_path`` may be a scratch copy of ``paths.classes`` (same pixels): the outputs name the final file."""
    res = area.class_areas(classes_path, gsd=gsd, allow_pixels_only=True)
    res.raster = str(paths.classes)  # never the scratch file, which is gone when the run ends
    write_text_atomic(paths.areas_csv, res.to_csv(), ".csv")
    write_text_atomic(paths.areas_json, res.to_json(), ".json")
    return json.loads(res.to_json())


def predict_files(
    model: str,
    inputs: Sequence[str | Path],
    out: str | Path,
    opts: PredictOptions,
    *,
    engine: str = "torch",
    device: str = "auto",
    precision: str = "auto",
    echo: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
) -> list[str]:
    """Predict every input (this rank's share of them) into ``out``; returns the error messages.

    Every input is tried: a failing one (a landseg error, a GDAL error, any exception but KeyboardInterrupt)
    is reported through ``warn`` with its name and the next one goes on; the failed inputs are listed at the end.
    """
    check_window(opts.window, opts.overlap, opts.batch_size)
    out = check_writable_dir(out)
    clean_stale(out, recursive=False)  # temp files and folders of killed runs
    files = list_inputs(inputs)
    eng, ckpt = load_engine(model, engine, device, precision, cache_dir=out)
    stems = output_stems(files)
    errors: list[str] = []
    failed: list[str] = []
    for f, stem in shard(list(zip(files, stems))):
        try:
            rec = predict_raster(eng, ckpt, f, out, opts, model_name=str(model), stem=stem)
        except LandsegError as exc:
            errors.append(str(exc))
            failed.append(str(f))
            warn(f"landseg predict: error: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one input's GDAL/unexpected failure must not stop the others
            msg = f"{f}: failed with {type(exc).__name__}: {exc}"
            errors.append(msg)
            failed.append(str(f))
            warn(f"landseg predict: error: {msg}")
            continue
        if rec.get("skipped"):
            echo(f"{f}: already done ({rec['classes']})")
            continue
        if rec.get("redone"):
            echo(f"{f}: predicted again: {rec['redone']}")
        echo(f"{f}: {rec['classes']} ({rec['seconds_total']:.1f} s; {rec['note']}; {rec['bands_used']}; "
             f"nodata mask: {rec['mask']})")
        for n in rec.get("notes", []):
            warn(f"note: {f}: {n}")
        for w in rec.get("warnings", []):
            warn(f"landseg predict: warning: {f}: {w}")
    if errors:
        warn(f"landseg predict: {len(errors)} of {len(shard(files))} inputs failed: {', '.join(failed)}")
    return errors


def shard(items: Sequence[Any]) -> list[Any]:
    """This torchrun rank's share of ``items`` (all of them without torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return list(items)[rank::world]
