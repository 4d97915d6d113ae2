"""Command line: one parser; each handler parses its options, calls one library function and prints.

User mistakes surface as :class:`~landseg.errors.LandsegError` and end with a one-line message
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# GDAL's block cache defaults to 5% of RAM and fills up on large rasters; a fixed cap keeps the
# memory of every command flat in the raster size. A GDAL_CACHEMAX set by the user wins.
os.environ.setdefault("GDAL_CACHEMAX", "64")  # MB

# Each command imports its module when it runs (inside its handler): `landseg area`, `sample`, `change`,
# `vectorize`, `report` and `--help` then never import torch, and start in a fraction of the time
# (tests/test_imports.py checks it; benchmarks/bench_startup.py measures it). Only what the parser
# itself needs is imported here.
from landseg import __version__  # noqa: E402
from landseg.area.tables import UNITS  # noqa: E402
from landseg.cluster import ClusterOptions  # noqa: E402
from landseg.data.ingest import KINDS  # noqa: E402
from landseg.errors import ConfigError, InputError, LandsegError  # noqa: E402
from landseg.io.raster import MASK_MODES  # noqa: E402
from landseg.serve.options import ServeOptions  # noqa: E402

AREA_FORMATS = ("table", "csv", "json", "markdown")
SUFFIX_FORMAT = {".csv": "csv", ".json": "json", ".md": "markdown", ".txt": "table"}
Handler = Callable[[argparse.Namespace], int]


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def _notes(notes: Sequence[str]) -> None:
    """Every note of a command goes to stderr as ``note: ...``, whatever the output format (stdout keeps the data)."""
    for n in dict.fromkeys(notes):
        _err(f"note: {n}")


# ---------------------------------------------------------------------------------------------- option types
def _number(kind: type, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
            hi_open: bool = False, what: str = "") -> Callable[[str], Any]:
    """An argparse ``type=`` that parses ``kind`` and checks a finite value within [lo, hi] (open ends optional).

    argparse reports the message as ``landseg CMD: error: argument --OPT: ...`` and exits 2.
    """
    lo_s = "" if lo is None else f"{'>' if lo_open else '>='} {lo:g}"
    hi_s = "" if hi is None else f"{'<' if hi_open else '<='} {hi:g}"
    rng = " and ".join(x for x in (lo_s, hi_s) if x)
    noun = "a whole number" if kind is int else "a finite number"

    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun} {rng}{what}, got {text!r}") from None
        if not math.isfinite(v) or (lo is not None and (v <= lo if lo_open else v < lo)) or (
                hi is not None and (v >= hi if hi_open else v > hi)):
            raise argparse.ArgumentTypeError(f"expected {noun} {rng}{what}, got {text}")
        return v

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


positive_float = _number(float, 0, lo_open=True)
nonneg_float = _number(float, 0)
positive_int = _number(int, 1)
nonneg_int = _number(int, 0)
gsd_metres = _number(float, 0, lo_open=True, what=" (pixel size in metres)")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``landseg CMD: error: ...`` and exit status 2, like every other error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ---------------------------------------------------------------------------------------------- prepare
def add_prepare(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg prepare``."""
    p.add_argument("kind", choices=list(KINDS), help="source layout; vector: IMAGES (GeoTIFF, folder or glob) labelled "
                   "by polygons (--labels, --class-field)")
    p.add_argument("src", help="the download folder (zips or extracted) or the folder with images/ and masks/")
    p.add_argument("dest", help="output dataset folder")
    p.add_argument("--bands", default=None, help="potsdam: rgb (default), irrg or rgbir; vaihingen is irrg")
    p.add_argument("--class-table", default=None, help="preset (isprs, dubai) or YAML/JSON file; folder mode needs it")
    p.add_argument("--test", action="append", default=[], metavar="PATTERN",
                   help="tile ids or globs for the test split (folder mode; repeatable)")
    p.add_argument("--val", action="append", default=[], metavar="PATTERN",
                   help="tile ids or globs for the validation split (repeatable); default: random")
    p.add_argument("--test-list", help="file of test tile ids/globs, one per line")
    p.add_argument("--val-list", help="file of validation tile ids/globs, one per line")
    p.add_argument("--val-fraction", type=_number(float, 0, 1, hi_open=True), default=0.15,
                   help="share of training tiles held out (default 0.15)")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation draw (default 0)")
    p.add_argument("--export-patches", type=positive_int, metavar="SIZE", help="also write SIZExSIZE PNG patches")
    p.add_argument("--unknown-to-ignore", action="store_true", help="map label colours outside the table to ignore")
    p.add_argument("--gsd", type=gsd_metres, help="pixel size in metres for images without georeferencing")
    p.add_argument("--overwrite", action="store_true", help="redo tiles that are already prepared")
    p.add_argument("--labels", help="vector: polygon labels (GeoPackage, GeoJSON, Shapefile; any CRS)")
    p.add_argument("--class-field", help="vector: the attribute holding each polygon's class (name or index)")
    p.add_argument("--background", metavar="CLASS",
                   help="vector: class of the pixels outside every polygon (default: ignore, for sparse labels)")


def cmd_prepare(args: argparse.Namespace) -> int:
    """Run ``landseg prepare`` on the parsed options; the exit status."""
    from landseg.data.ingest import INGEST, IngestOptions, ingest_vector
    from landseg.data.prepare import summary_lines as prepare_summary

    opts = IngestOptions(
        bands=args.bands, class_table=args.class_table, test=args.test, val=args.val, test_list=args.test_list,
        val_list=args.val_list, val_fraction=args.val_fraction, seed=args.seed, export_patches=args.export_patches,
        unknown_to_ignore=args.unknown_to_ignore, gsd=args.gsd, overwrite=args.overwrite,
        on_note=lambda n: _err(f"note: {n}"),
    )
    if args.kind == "vector":
        manifest = ingest_vector(args.src, args.dest, opts, labels=args.labels, class_field=args.class_field,
                                 background=args.background)
    else:
        manifest = INGEST[args.kind](args.src, args.dest, opts)
    print("\n".join(prepare_summary(manifest)))
    print(f"prepared dataset written to {args.dest}")
    return 0


# ---------------------------------------------------------------------------------------------- train
TRAIN_TYPES = {"width": _number(int, 1, 512), "depth": _number(int, 1, 8), "epochs": positive_int,
               "windows-per-epoch": positive_int, "window": positive_int, "batch-size": positive_int,
               "lr": positive_float, "num-workers": nonneg_int, "time-limit": positive_float}


def add_train(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg train``."""
    p.add_argument("dataset", help="prepared dataset folder (from landseg prepare)")
    p.add_argument("--out", required=True, help="run folder for checkpoints, metrics.csv, learning_curve.png")
    p.add_argument("--config", help="YAML/JSON file of training options (saved into the run as config.yaml)")
    p.add_argument("--preset", default="default",
                   help="default; 'original' (the original project: Adam 5e-4, batch 5, 5 epochs); 'isprs-gpu' "
                        "(Potsdam/Vaihingen on one GPU: effnet-lite2-unet, 512² windows, batch 16, 60 epochs)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    p.add_argument("--overwrite", action="store_true",
                   help="start again from scratch in an OUT that already holds a run (its checkpoints and metrics go)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any config key, e.g. --set dice_weight=1")
    for key, typ, hlp in (
        ("model", str, "small (U-Net width 16), full (~31M params), tiny, or ENCODER-DECODER such as "
                       "effnet-lite0-unet, effnet-lite0-former, resnet34-unet (list: landseg models)"),
        ("width", int, "U-Net base width (overrides the model preset)"),
        ("depth", int, "U-Net depth (number of poolings)"),
        ("epochs", int, "epochs"), ("windows-per-epoch", int, "random windows drawn per epoch"),
        ("window", int, "training window size in pixels (multiple of 2**depth)"),
        ("batch-size", int, "batch size per process"), ("lr", float, "peak learning rate"),
        ("loss", str, "ce or ce+dice"), ("class-weights", str, "none or sqrt-inverse"),
        ("label", str, "label (full reference) or label_eroded"),
        ("device", str, "auto, cpu, cuda, cuda:1, mps"), ("precision", str, "auto, fp32, bf16, fp16"),
        ("num-workers", int, "data loader processes"), ("seed", int, "random seed"),
        ("time-limit", float, "stop after this many minutes (the schedule follows elapsed time)"),
        ("init", str, "start from a trained model: a bundled one (default, isprs-irrg), a run folder or a checkpoint; "
                      "its architecture is used (unless --model), the head is mapped by class name, new classes start "
                      "fresh"),
    ):
        p.add_argument(f"--{key}", type=TRAIN_TYPES.get(key, typ), default=None, help=hlp)


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``landseg train`` on the parsed options; the exit status."""
    from landseg.train import init_model_options
    from landseg.train import train as run_training
    from landseg.train_config import TrainConfig, make_config

    overrides = {k: getattr(args, k, None) for k in TrainConfig.keys() if k != "augment"}
    if args.init and args.model is None and args.config is None and not any(x.startswith("model=") for x in args.set):
        overrides.update({k: v for k, v in init_model_options(args.init).items() if overrides.get(k) is None})
    cfg = make_config(overrides, preset=args.preset, file=args.config, sets=args.set)
    final = run_training(args.dataset, args.out, cfg, resume=args.resume, overwrite=args.overwrite)
    if final and int(os.environ.get("RANK", "0")) == 0:
        print(f"done: checkpoints in {args.out} (best.safetensors, last.safetensors), metrics.csv, learning_curve.png")
    return 0


# ---------------------------------------------------------------------------------------------- models
def add_models(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg models``."""
    p.add_argument("--window", type=positive_int, default=512, help="window side for the FLOPs column (default 512)")
    p.add_argument("model", nargs="?", default=None,
                   help="a trained model (default, run folder, checkpoint): show its domain (training data, pixel "
                        "size, bands, band statistics, classes) and parent instead of the table")


def cmd_models(args: argparse.Namespace) -> int:
    """Run ``landseg models`` on the parsed options; the exit status."""
    if args.window < 32 or args.window % 32:
        raise ConfigError(f"--window must be a positive multiple of 32, got {args.window}")
    from landseg.assets import bundled_models, is_bundled_name, model_card
    from landseg.classes import ClassTable
    from landseg.models.catalog import models_table
    from landseg.models.checkpoint import load_checkpoint, read_metadata

    if args.model:
        ck = load_checkpoint(args.model)
        init = ck.train.get("init") or {}
        print(f"{ck.path}: {ck.arch}")
        print("\n".join(ck.domain_or_unknown().summary_lines()))
        if init:
            print(f"initialised from: {init.get('model')} ({init.get('description', 'unknown')})")
        if is_bundled_name(args.model):
            print(f"model card: {model_card(args.model)}")
        return 0
    print(models_table(args.window))
    bundled = bundled_models()
    if bundled:
        print("\nbundled trained models (give the name where a model is asked for; `landseg models NAME` shows "
              "its domain):")
        for name, path in bundled.items():
            meta = read_metadata(path)
            domain = meta.get("domain") or {}
            pixel = f"{domain['pixel_size']:g} m" if domain.get("pixel_size") else "pixel size unknown"
            print(f"  {name:<11} {', '.join(ClassTable.from_dict(meta['class_table']).names)}; bands "
                  f"{domain.get('band_meaning', 'unknown')}, {pixel}; {domain.get('description', 'unknown')}")
    return 0


def add_inference_options(p: argparse.ArgumentParser) -> None:
    """Sliding-window and engine options shared by predict and evaluate."""
    p.add_argument("--window", type=positive_int, default=512, help="window size in pixels (default 512)")
    p.add_argument("--overlap", type=nonneg_int, default=128, help="overlap between windows in pixels (default 128)")
    p.add_argument("--batch-size", type=positive_int, default=4, help="windows per model call (default 4)")
    p.add_argument("--tta", action="store_true", help="average the 8 flips/rotations (8x slower)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    p.add_argument("--precision", default="auto", help="auto (bf16 on CPUs that have it), fp32, bf16, fp16")


# ---------------------------------------------------------------------------------------------- predict
def add_predict(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg predict``."""
    p.add_argument("model", help="checkpoint (.safetensors), training run folder, or a bundled model: 'default' "
                                  "(Dubai, RGB) or 'isprs-irrg' (ISPRS Vaihingen, IRRG)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="GeoTIFF/PNG/JPG files or folders of them")
    p.add_argument("--out", required=True, help="output folder")
    add_inference_options(p)
    p.add_argument("--probs", action="store_true", help="also write per-class probabilities (uint8 0-255)")
    p.add_argument("--no-previews", action="store_true", help="skip the preview and overlay PNGs")
    p.add_argument("--gsd", type=gsd_metres, help="pixel size in metres for inputs without georeferencing")
    p.add_argument("--input-range", help="MIN,MAX: scale 16-bit/float inputs linearly to 0-255")
    p.add_argument("--engine", choices=["torch", "onnx"], default="torch", help="inference engine (default torch)")
    p.add_argument("--overwrite", action="store_true", help="redo inputs whose outputs are complete")
    p.add_argument("--mosaic", action="store_true",
                   help="the inputs (folders, globs, .txt lists, a VRT) are tiles of one seamless mosaic: windows "
                        "cross tile borders; one class map per tile, plus classes.vrt, areas.csv, catalog.json")
    p.add_argument("--max-scale", type=_number(float, 1), default=8.0,
                   help="refuse inputs whose pixel size differs from the model's by more than this factor, "
                        "either way (default 8)")
    p.add_argument("--max-pixels", type=positive_float, default=2e9,
                   help="refuse inputs whose inference grid would exceed this many pixels (default 2e9)")
    p.add_argument("--datetime", default=None, metavar="WHEN",
                   help="with --mosaic: acquisition date/time of the tiles for the STAC items (ISO 8601, e.g. "
                        "2023-05-17); default: from each image's metadata, else the processing time (with a note)")
    p.add_argument("--mask", choices=MASK_MODES, default="auto",
                   help="what marks input nodata: auto (a band tagged alpha that holds only 0/255, else the nodata "
                        "value or mask band), alpha, nodata (never an alpha band), none (default auto)")
    p.add_argument("--progress-lines", action="store_true",
                   help="print 'progress: DONE/TOTAL windows (P%%)' lines on stderr, for programs that run landseg "
                        "(the QGIS plugin); the progress bar shows only on a terminal")
    p.add_argument("--bands", type=parse_band_map, default=None, metavar="I,J,K",
                   help="input band numbers (1-based) to feed the model's bands in order, e.g. 2,3,1")
    p.add_argument("--input-bands", default=None, metavar="MEANING",
                   help="what the input's bands are when the file does not say: rgb, irrg, rgbi, ... or names "
                        "such as nir,red,green (an input that differs from the model's bands needs --bands)")
    p.add_argument("--confidence", action="store_true",
                   help="also write NAME_confidence.tif: the model's confidence, uint8 0-100, nodata 255")
    add_cluster_options(p)


def progress_lines() -> Callable[[int, int], None]:
    """An ``on_progress`` that prints one line on stderr per whole percent of windows done."""
    last = [-1]

    def report(done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if pct != last[0]:
            last[0] = pct
            print(f"progress: {done}/{total} windows ({pct}%)", file=sys.stderr, flush=True)

    return report


def parse_band_map(text: str) -> list[int]:
    """``--bands 2,3,1``: distinct 1-based band numbers."""
    try:
        out = [int(v) for v in text.split(",")]
    except ValueError:
        out = []
    if not out or any(v < 1 for v in out):
        raise argparse.ArgumentTypeError(f"expected comma-separated band numbers from 1, e.g. 2,3,1, got {text!r}")
    return out


def add_cluster_options(p: argparse.ArgumentParser) -> None:
    """The Ray options of the commands that can run on a cluster (--ray, --workers, --gpus-per-worker)."""
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the tiles on Ray workers: a cluster's HOST:PORT (or 'auto'), or no address for a "
                        "local Ray instance; needs landseg[cluster] and, across machines, a shared file system")
    p.add_argument("--workers", type=positive_int, default=None, help="Ray workers (default: one per CPU/GPU)")
    p.add_argument("--gpus-per-worker", type=nonneg_float, default=0.0, help="GPUs per Ray worker (default 0)")


def cluster_options(args: argparse.Namespace) -> ClusterOptions | None:
    """The parsed Ray options as :class:`ClusterOptions`; None without ``--ray``."""
    if args.ray is None:
        return None
    return ClusterOptions(address=args.ray, workers=args.workers, gpus_per_worker=args.gpus_per_worker)


def parse_when(text: str | None) -> Any:
    """``--datetime`` as an aware UTC datetime (None when not given)."""
    if text is None:
        return None
    from landseg.dates import parse_datetime

    try:
        return parse_datetime(text)
    except ValueError:
        raise ConfigError(f"--datetime expects an ISO 8601 date or date-time such as 2023-05-17 or "
                          f"2023-05-17T10:30:00Z, got {text!r}") from None


def parse_range(text: str | None) -> tuple[float, float] | None:
    """``--input-range MIN,MAX`` as a pair of floats with MIN < MAX."""
    if not text:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        lo = hi = float("nan")
    if not lo < hi:
        raise ConfigError(f"--input-range expects MIN,MAX with MIN < MAX, got {text!r}")
    return lo, hi


def cmd_predict(args: argparse.Namespace) -> int:
    """Run ``landseg predict`` on the parsed options; the exit status."""
    from landseg.mosaic import predict_mosaic
    from landseg.predict import PredictOptions, predict_files

    opts = PredictOptions(window=args.window, overlap=args.overlap, batch_size=args.batch_size, tta=args.tta,
                          probs=args.probs, previews=not args.no_previews, gsd=args.gsd,
                          input_range=parse_range(args.input_range), overwrite=args.overwrite,
                          max_scale=args.max_scale, max_pixels=args.max_pixels, mask=args.mask,
                          on_progress=progress_lines() if args.progress_lines else None, band_map=args.bands,
                          input_bands=args.input_bands, confidence=args.confidence)
    if args.ray is not None and not args.mosaic:
        raise ConfigError("--ray distributes the tiles of a mosaic: add --mosaic")
    if args.datetime is not None and not args.mosaic:
        raise ConfigError("--datetime dates the STAC items of a mosaic: add --mosaic")
    if args.mosaic:
        errors = predict_mosaic(args.model, args.inputs, args.out, opts, cluster=cluster_options(args),
                                engine=args.engine, device=args.device, precision=args.precision, echo=print,
                                warn=_err, stac_datetime=parse_when(args.datetime))
        return 2 if errors else 0
    errors = predict_files(args.model, args.inputs, args.out, opts, engine=args.engine, device=args.device,
                           precision=args.precision, echo=print, warn=_err)
    return 2 if errors else 0


# ---------------------------------------------------------------------------------------------- export
def add_export(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg export``."""
    p.add_argument("model", help="checkpoint, run folder or a bundled model (default, isprs-irrg)")
    p.add_argument("out", help="output .onnx file")
    p.add_argument("--opset", type=_number(int, 7, 23), default=17, help="ONNX opset (default 17)")


def cmd_export(args: argparse.Namespace) -> int:
    """Run ``landseg export`` on the parsed options; the exit status."""
    from landseg.inference.engine import export_onnx
    from landseg.models.checkpoint import load_checkpoint

    ckpt = load_checkpoint(args.model)
    export_onnx(ckpt, args.out, opset=args.opset)
    print(f"exported {ckpt.path} to {args.out}")
    return 0


# ---------------------------------------------------------------------------------------------- area
def add_area(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg area``."""
    p.add_argument("classmap", help="class GeoTIFF from predict (table embedded) or any label raster (index or colour)")
    p.add_argument("--class-table", default=None,
                   help="preset (isprs, dubai) or YAML/JSON file; needed unless the raster embeds its table")
    p.add_argument("--gsd", type=gsd_metres, default=None, help="pixel size in metres, for rasters without georeferencing")
    p.add_argument("--unknown-to-ignore", action="store_true",
                   help="leave values/colours outside the class table out (like ignore pixels) instead of stopping")
    p.add_argument("--format", choices=AREA_FORMATS, default=None,
                   help="output format (default: from the --out suffix, else table)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write to FILE (.csv, .json, .md; with --zones also .gpkg/.geojson) instead of printing")
    p.add_argument("--classes", default=None, help="comma-separated class names to list, e.g. building,tree")
    p.add_argument("--units", choices=list(UNITS), default="m2", help="area unit (default m2, shown with ha)")
    p.add_argument("--zones", default=None, metavar="FILE",
                   help="zones (GeoPackage, GeoJSON, Shapefile; any CRS): the class areas per zone")
    p.add_argument("--zone-id", default=None, metavar="FIELD", help="zone attribute naming each zone (default: FID)")
    p.add_argument("--indicators", action="store_true",
                   help="with --zones: planning indicators per zone (building coverage, sealed, green and "
                        "tree-canopy shares, number of buildings) from the class table's roles")
    p.add_argument("--limit", action="append", default=[], metavar="COLUMN:INDICATOR",
                   help="with --indicators: flag zones whose INDICATOR exceeds the zones file's COLUMN, "
                        "e.g. max_coverage:building_coverage (repeatable)")
    add_cluster_options(p)
    p.add_argument("--objects", default=None, metavar="CLASSES",
                   help="connected objects (8-connectivity) of these classes: count, total/mean/median/max area")
    p.add_argument("--min-area", type=nonneg_float, default=None, metavar="M2",
                   help="with --objects or --indicators: leave out objects (buildings) smaller than this (m²); "
                        "default 0 for --objects, 10 for the buildings of --indicators (speckle is no building)")
    p.add_argument("--fee-tiers", default=None, metavar="CSV",
                   help="with --indicators: fee tiers (columns tier,min_m2,max_m2) for each parcel's sealed m²; "
                        "with --reference the calibrated sealed m² and whether its 95%% interval crosses a bound")
    add_roles_option(p)
    p.add_argument("--truth", default=None, metavar="LABELMAP",
                   help="reference label on the same grid: true vs predicted area and error per class")
    p.add_argument("--reference", default=None, metavar="POINTS",
                   help="a filled reference sample (from landseg sample): accuracy with standard errors and "
                        "error-adjusted areas with 95%% intervals (Olofsson et al. 2014); also kept beside "
                        "the class map as NAME_accuracy.json for landseg report")


def cmd_area(args: argparse.Namespace) -> int:
    """Class areas (default), per zone (--zones), objects (--objects), vs truth (--truth)."""
    from landseg.io.files import write_text_atomic
    from landseg.measure import AreaRequest, format_reports, measure_areas

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (*SUFFIX_FORMAT, ".gpkg", ".geojson"):
        raise ConfigError(f"--out {out}: unsupported file type {out.suffix or '(none)'!r}; "
                          "use .csv, .json, .md, .txt, or with --zones .gpkg/.geojson")
    fmt = args.format or (SUFFIX_FORMAT.get(out.suffix.lower(), "table") if out else "table")
    units = args.units or "m2"
    req = AreaRequest(table=args.class_table, gsd=args.gsd, classes=args.classes,
                      unknown_to_ignore=args.unknown_to_ignore, zones=args.zones, zone_id=args.zone_id,
                      indicators=args.indicators, limits=args.limit, cluster=cluster_options(args),
                      reference=args.reference, truth=args.truth, objects=args.objects, min_area=args.min_area,
                      fee_tiers=args.fee_tiers, roles=args.roles)
    reports = measure_areas(args.classmap, req, units=units, note=_err)
    notes = [n for _, r in reports for n in r.all_notes()]
    if out is not None and out.suffix.lower() in (".gpkg", ".geojson"):
        if reports[0][0] not in ("zones", "indicators"):
            raise InputError(f"{out}: a GeoPackage/GeoJSON output needs --zones; use .csv, .json or .md")
        reports[0][1].write_vector(out, units)
        print(reports[0][1].to_text(units, notes=False), end="")
        print(f"wrote {out}")
        _notes(notes)
        return 0
    text = format_reports(reports, fmt, units, notes=out is not None)  # a written table keeps its notes
    if out is not None:
        write_text_atomic(out, text)
        print(f"wrote {out}")
    else:
        print(text, end="")
    if fmt == "csv":
        for _, r in reports:
            _err(f"pixel area: {r.pixel_area}")
    _notes(notes)
    return 0


# ---------------------------------------------------------------------------------------------- sample
def add_sample(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg sample``."""
    p.add_argument("classmap", help="class GeoTIFF from predict (table embedded) or any label raster")
    p.add_argument("--n", type=positive_int, required=True, help="number of sample points")
    p.add_argument("--out", required=True, metavar="FILE", help="output point layer (.gpkg or .geojson)")
    p.add_argument("--min-per-class", type=positive_int, default=None, metavar="M",
                   help="at least M points per mapped class (default 50, or n / classes if smaller)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same points")
    p.add_argument("--class-table", default=None, help="preset (isprs, dubai) or YAML/JSON file")
    p.add_argument("--truth", default=None, metavar="RASTER",
                   help="label raster on the map's grid: fill 'reference' from it (tests, benchmarks)")
    p.add_argument("--gsd", type=gsd_metres, default=None, help="pixel size in metres, for rasters without georeferencing")
    p.add_argument("--strata", choices=["transitions", "roles"], default=None,
                   help="a transition map of landseg change: strata are its from->to transitions (default) or the "
                        "role-level ones (stable green, green->sealed, ...); points get reference_before/_after")
    add_roles_option(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out (and its design sidecar); without it an existing sample is kept")


def add_roles_option(p: argparse.ArgumentParser) -> None:
    """The ``--roles`` option (edits the class table's roles) of the commands that use roles."""
    p.add_argument("--roles", nargs="+", action="extend", default=None, metavar="ROLE=CLASSES",
                   help="edit the class roles, e.g. --roles sealed=impervious_surface,car green=low_vegetation,tree "
                        "(roles: building, sealed, green, tree, water, unknown; ROLE= removes one)")


def cmd_sample(args: argparse.Namespace) -> int:
    """Run ``landseg sample`` on the parsed options; the exit status."""
    from landseg.accuracy import draw_sample

    design = draw_sample(args.classmap, args.out, args.n, min_per_class=args.min_per_class, seed=args.seed,
                         table=args.class_table, truth=args.truth, gsd=args.gsd, strata=args.strata, roles=args.roles,
                         overwrite=args.overwrite)
    print(design.summary(notes=False))
    _notes(design.notes)
    return 0


# ---------------------------------------------------------------------------------------------- change
def add_change(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg change``."""
    p.add_argument("before", help="class map of the first date (its grid is the output grid)")
    p.add_argument("after", help="class map of the second date (resampled onto BEFORE's grid if needed)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: transitions.tif, transitions.csv, transitions.json")
    p.add_argument("--zones", default=None, metavar="FILE", help="zones (GeoPackage, GeoJSON, Shapefile): per-zone matrices")
    p.add_argument("--zone-id", default=None, metavar="FIELD", help="zone attribute naming each zone (default: FID)")
    p.add_argument("--class-table", default=None, help="preset (isprs, dubai) or YAML/JSON file, for both maps")
    p.add_argument("--units", choices=list(UNITS), default="m2", help="area unit of the printed summary (default m2)")
    p.add_argument("--gsd", type=gsd_metres, default=None, help="pixel size in metres, for rasters without georeferencing")
    p.add_argument("--reference", default=None, metavar="POINTS",
                   help="a filled change sample (landseg sample OUT/transitions.tif, reference_before/_after filled): "
                        "error-adjusted transition areas and headline changes with 95%% intervals, per zone too")
    add_roles_option(p)


def cmd_change(args: argparse.Namespace) -> int:
    """Run ``landseg change`` on the parsed options; the exit status."""
    from landseg.change import detect_change
    from landseg.change_reference import assess_change, check_change_points, write_change_accuracy

    if args.reference:
        check_change_points(args.reference)  # before anything is written
    result = detect_change(args.before, args.after, args.out, table=args.class_table, zones=args.zones,
                           zone_id=args.zone_id, gsd=args.gsd, roles=args.roles)
    print(result.to_text(args.units, notes=False), end="")
    if args.reference:
        acc = assess_change(result, args.reference)
        print(acc.to_text(notes=False), end="")
        _notes(acc.all_notes())
        result.outputs += write_change_accuracy(acc, Path(args.out))
    print(f"wrote {', '.join(str(p) for p in result.outputs)}")
    _notes(result.all_notes())
    return 0


# ---------------------------------------------------------------------------------------------- green
def add_green(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg green``."""
    p.add_argument("before", help="class map of the first date (e.g. 2024)")
    p.add_argument("after", help="class map of the second date")
    p.add_argument("--zones", required=True, metavar="FILE", help="areas to report on (e.g. local urban ecosystem areas)")
    p.add_argument("--zone-id", default=None, metavar="FIELD", help="zone attribute naming each zone (default: FID)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: green.csv, green.json, green.gpkg (styled) and the transition outputs")
    p.add_argument("--reference", default=None, metavar="POINTS",
                   help="a filled change sample (landseg sample OUT/transitions.tif): error-adjusted net change "
                        "per zone with 95%% bounds and a verdict (loss / no significant change / gain)")
    p.add_argument("--class-table", default=None, help="preset (isprs, dubai) or YAML/JSON file, for both maps")
    p.add_argument("--gsd", type=gsd_metres, default=None, help="pixel size in metres, for rasters without georeferencing")
    add_roles_option(p)


def cmd_green(args: argparse.Namespace) -> int:
    """Run ``landseg green`` on the parsed options; the exit status."""
    from landseg.green import green_monitoring

    result = green_monitoring(args.before, args.after, args.zones, args.out, zone_id=args.zone_id,
                              table=args.class_table, gsd=args.gsd, reference=args.reference, roles=args.roles)
    print(result.to_text(notes=False), end="")
    print(f"wrote {', '.join(str(p) for p in result.outputs)}")
    _notes(result.all_notes())
    return 0


# ---------------------------------------------------------------------------------------------- 3-30-300
def add_green_access(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg 3-30-300``."""
    p.add_argument("classmap", help="class GeoTIFF from predict (table embedded) or any label raster")
    p.add_argument("--zones", required=True, metavar="FILE", help="neighbourhoods to report on")
    p.add_argument("--zone-id", default=None, metavar="FIELD", help="zone attribute naming each zone (default: FID)")
    p.add_argument("--out", default=None, metavar="FILE", help="per-zone table: .csv, .json, .md, or .gpkg (styled)")
    p.add_argument("--buildings-out", default=None, metavar="FILE",
                   help="per-building rows (.gpkg/.geojson points or .csv): park_distance_m, trees_within_30m, ...")
    p.add_argument("--parks", default=None, metavar="FILE",
                   help="parks layer (polygons, any CRS; those >= 0.5 ha count) instead of the map's green objects")
    p.add_argument("--min-area", type=nonneg_float, default=None, metavar="M2",
                   help="smallest building object in m² (default 10: speckle is no building)")
    p.add_argument("--min-tree-area", type=nonneg_float, default=2.0, metavar="M2",
                   help="smallest tree (canopy) object in m² (default 2)")
    p.add_argument("--class-table", default=None, help="preset (isprs, dubai) or YAML/JSON file")
    p.add_argument("--gsd", type=gsd_metres, default=None, help="pixel size in metres, for rasters without georeferencing")
    add_roles_option(p)


def cmd_green_access(args: argparse.Namespace) -> int:
    """Run ``landseg 3-30-300`` on the parsed options; the exit status."""
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (*SUFFIX_FORMAT, ".gpkg", ".geojson"):
        raise ConfigError(f"--out {out}: use .csv, .json, .md, .txt, .gpkg or .geojson")
    if args.buildings_out and Path(args.buildings_out).suffix.lower() not in (".csv", ".gpkg", ".geojson"):
        raise ConfigError(f"--buildings-out {args.buildings_out}: use .gpkg, .geojson or .csv")
    from landseg.area.green_access import green_access, write_buildings

    result, access = green_access(args.classmap, args.zones, args.zone_id, args.class_table, parks=args.parks,
                                  gsd=args.gsd, min_area=args.min_area, min_tree_area=args.min_tree_area,
                                  roles=args.roles)
    print(result.to_text(notes=False), end="")
    if out is not None:
        print(f"wrote {result.write(out)}")
    if args.buildings_out:
        print(f"wrote {write_buildings(access, args.buildings_out, result.zonal.crs_wkt)} ({access.x.size} buildings)")
    _notes(result.all_notes())
    return 0


# ---------------------------------------------------------------------------------------------- vectorize
def add_vectorize(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg vectorize``."""
    p.add_argument("classmap", help="class GeoTIFF from predict (table embedded) or any label raster")
    p.add_argument("--out", required=True, metavar="FILE", help="output .gpkg or .geojson (raster's CRS)")
    p.add_argument("--class-table", default=None, help="preset (isprs, dubai) or YAML/JSON file")
    p.add_argument("--classes", default=None, help="comma-separated class names to vectorise (default: all)")
    p.add_argument("--simplify", type=nonneg_float, default=None, metavar="TOL",
                   help="simplification tolerance in CRS units (topology-preserving per polygon)")
    p.add_argument("--min-area", type=nonneg_float, default=None, metavar="M2", help="drop polygons smaller than this (m²)")
    p.add_argument("--gsd", type=gsd_metres, default=None, help="pixel size in metres, for rasters without georeferencing")
    p.add_argument("--unknown-to-ignore", action="store_true",
                   help="leave values/colours outside the class table out (like ignore pixels) instead of stopping")


def cmd_vectorize(args: argparse.Namespace) -> int:
    """Run ``landseg vectorize`` on the parsed options; the exit status."""
    from landseg.vectorize import vectorize as run_vectorize

    res = run_vectorize(args.classmap, args.out, args.class_table, classes=args.classes, simplify=args.simplify,
                        min_area=args.min_area, gsd=args.gsd, unknown_to_ignore=args.unknown_to_ignore)
    print(res.summary(notes=False))
    _notes(res.notes)
    return 0


# ---------------------------------------------------------------------------------------------- evaluate
def add_evaluate(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg evaluate``."""
    p.add_argument("model", help="checkpoint (.safetensors), training run folder, or a bundled model (default, isprs-irrg)")
    p.add_argument("dataset", help="prepared dataset folder (from landseg prepare)")
    p.add_argument("--split", default="test", help="train, val or test (default test)")
    p.add_argument("--out", required=True,
                   help="output folder: metrics.json/.md, confusion matrices, per-tile metrics, class maps")
    add_inference_options(p)
    p.add_argument("--no-maps", action="store_true", help="skip writing the predicted class maps and previews")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run ``landseg evaluate`` on the parsed options; the exit status."""
    from landseg.evaluate import evaluate_model
    from landseg.evaluate_outputs import summary_lines as evaluate_summary
    from landseg.layout import EvaluatePaths

    result = evaluate_model(args.model, args.dataset, args.split, args.out, window=args.window, overlap=args.overlap,
                            batch_size=args.batch_size, tta=args.tta, device=args.device, precision=args.precision,
                            write_maps=not args.no_maps)
    print("\n".join(evaluate_summary(result, notes=False)))
    _notes(result.notes)
    print(f"wrote {EvaluatePaths(Path(args.out)).metrics_md}, metrics.json, confusion_*.csv/png, per_tile.csv"
          + ("" if args.no_maps else ", tiles/*_classes.tif"))
    return 0


# ---------------------------------------------------------------------------------------------- report
def add_report(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg report``."""
    p.add_argument("input", help="a predict output folder, an evaluate folder, a change folder or a training run folder")
    p.add_argument("--out", default=None, help="output HTML file (default INPUT/report.html)")
    p.add_argument("--dataset", default=None, help="training run: the prepared dataset, for sample panels")
    p.add_argument("--samples", type=nonneg_int, default=3, help="training run: sample windows shown (default 3)")
    p.add_argument("--max-size", type=_number(int, 16), default=1600,
                   help="longest side of embedded images in pixels (default 1600)")
    p.add_argument("--device", default="auto", help="training run samples: auto, cpu, cuda, mps")


def cmd_report(args: argparse.Namespace) -> int:
    """Run ``landseg report`` on the parsed options; the exit status."""
    from landseg.layout import REPORT_FILE
    from landseg.report import detect_kind, write_report

    out = Path(args.out) if args.out else Path(args.input) / REPORT_FILE
    if args.samples > 0 and detect_kind(args.input) == "train":  # the report runs no model: predict its samples first
        from landseg.train_samples import sample_predictions  # torch: only a training run's samples need the model

        sample_predictions(args.input, args.dataset, args.samples, args.device)
    info = write_report(args.input, out, samples=args.samples, max_size=args.max_size)
    _notes(info.get("notes", []))
    print(f"wrote {out} ({info['kind']} report, {info['bytes'] / 1e6:.1f} MB, self-contained)")
    return 0


# ---------------------------------------------------------------------------------------------- demo
def add_demo(p: argparse.ArgumentParser) -> None:
    """The options of ``landseg demo``."""
    p.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    p.add_argument("--model", default="default", help="model to use (default: the bundled one)")


def cmd_demo(args: argparse.Namespace) -> int:
    """Run ``landseg demo`` on the parsed options; the exit status."""
    from landseg.demo import run_demo

    run_demo(args.out, args.model)
    return 0


# ---------------------------------------------------------------------------------------------- serve
def _serve_number(name: str) -> Callable[[str], Any]:
    """The argparse ``type=`` of a numeric serve option, from the range :class:`ServeOptions` gives it."""
    b = ServeOptions.bounds(name)
    return _number(b.kind, b.lo, b.hi, lo_open=b.lo_open)


def add_serve(p: argparse.ArgumentParser) -> None:
    """``landseg serve``'s options; defaults and ranges come from :class:`ServeOptions` (one place)."""
    d = ServeOptions()
    p.add_argument("--host", default=d.host, help=f"address to listen on (default {d.host}: this computer only)")
    p.add_argument("--port", type=_serve_number("port"), default=d.port, help=f"port (default {d.port})")
    p.add_argument("--model", action="append", default=[], metavar="MODEL",
                   help="checkpoint or training run folder to offer (repeatable); the bundled models (default, "
                        "isprs-irrg) are always offered when present")
    p.add_argument("--data-dir", default=None,
                   help="jobs database and results (default ~/.landseg/serve, or ./landseg-serve)")
    p.add_argument("--max-upload-mb", type=_serve_number("max_upload_mb"), default=d.max_upload_mb,
                   help=f"largest upload in MB (default {d.max_upload_mb:g})")
    p.add_argument("--workers", type=_serve_number("workers"), default=d.workers,
                   help=f"jobs run at the same time (default {d.workers})")
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda, mps")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a host name the app may be reached under besides localhost and --host (repeatable)")
    p.add_argument("--token", default=d.token,
                   help="access token (default: $LANDSEG_TOKEN; generated and printed when --host is not loopback)")
    p.add_argument("--max-job-pixels", type=_serve_number("max_job_pixels"), default=d.max_job_pixels,
                   help="largest inference grid of one job, after resampling to the model's pixel size "
                        f"(default {d.max_job_pixels:g})")
    p.add_argument("--max-job-windows", type=_serve_number("max_job_windows"), default=d.max_job_windows,
                   help=f"most windows one job may run (default {d.max_job_windows})")
    p.add_argument("--job-timeout", type=_serve_number("job_timeout"), default=d.job_timeout,
                   help=f"seconds a job may run before it is cancelled (default {d.job_timeout:g})")


def serve_options(args: argparse.Namespace) -> ServeOptions:
    """The parsed ``serve`` options as the :class:`ServeOptions` the web app takes (checked there)."""
    return ServeOptions(
        host=args.host, port=args.port, models=tuple(args.model), data_dir=Path(args.data_dir) if args.data_dir else None,
        max_upload_mb=args.max_upload_mb, workers=args.workers, device=args.device,
        allowed_hosts=tuple(args.allowed_host), token=args.token, max_job_pixels=args.max_job_pixels,
        max_job_windows=args.max_job_windows, job_timeout=args.job_timeout)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the web app on the parsed options."""
    options = serve_options(args)
    try:  # the web app is an optional extra: landseg[serve]
        from landseg.serve.app import serve  # noqa: PLC0415 - optional
    except ImportError as exc:
        raise ConfigError(f"landseg serve needs the web extra ({exc.name} is missing): pip install 'landseg[serve]'") from None
    return serve(options)


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {
    "prepare": ("turn ISPRS Potsdam/Vaihingen downloads or image/mask folders into a prepared dataset",
                add_prepare, cmd_prepare),
    "train": ("train a segmentation model (U-Net or an encoder-decoder, see models) on a prepared dataset",
              add_train, cmd_train),
    "models": ("list the model architectures: parameters, FLOPs per window, pretrained weights on this machine",
               add_models, cmd_models),
    "predict": ("segment GeoTIFFs/images of any size into class maps, previews and areas", add_predict, cmd_predict),
    "export": ("export a checkpoint to ONNX", add_export, cmd_export),
    "area": ("class areas in m²/ha (whole raster, per zone, per object) of a class map or label raster",
             add_area, cmd_area),
    "sample": ("draw a stratified random reference sample of a class map (points to label, for area --reference)",
               add_sample, cmd_sample),
    "change": ("from->to transitions between two class maps: map, matrix in m², headline figures",
               add_change, cmd_change),
    "green": ("green space and tree canopy per zone at two dates: shares, net change, 45 %/10 % thresholds, "
              "with a change sample the error-adjusted change and a verdict", add_green, cmd_green),
    "3-30-300": ("3-30-300 per zone and building: canopy share, park within 300 m, trees within 30 m",
                 add_green_access, cmd_green_access),
    "vectorize": ("polygons per class (GeoPackage/GeoJSON) with their areas", add_vectorize, cmd_vectorize),
    "evaluate": ("ISPRS-protocol accuracy of a model on a prepared dataset's split (4 variants side by side)",
                 add_evaluate, cmd_evaluate),
    "report": ("one self-contained HTML report of a predict, evaluate, change or training-run folder", add_report, cmd_report),
    "demo": ("segment a bundled real sample and print its class areas (predict, area, vectorize, report)",
             add_demo, cmd_demo),
    "serve": ("local web app: upload images, follow jobs, view classes and areas, download results",
              add_serve, cmd_serve),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``landseg`` parser: one subcommand per entry of :data:`COMMANDS`."""
    parser = _Parser(
        prog="landseg",
        description="Land-cover segmentation of aerial imagery, with class areas in real units.",
    )
    parser.add_argument("--version", action="version", version=f"landseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_, add_args, handler) in COMMANDS.items():
        # argparse %-formats each command's help in `landseg --help` (a literal % must be doubled there)
        sp = sub.add_parser(name, help=help_.replace("%", "%%"), description=help_[:1].upper() + help_[1:] + ".")
        add_args(sp)
        sp.set_defaults(_handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``landseg`` with ``argv``; the exit status (2 with one line on stderr for a user's mistake)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed as one line)
        return exc.code if isinstance(exc.code, int) else 2
    handler: Handler | None = getattr(args, "_handler", None)
    if handler is None:
        parser.print_help()
        return 0
    # Library warnings (numpy/shapely RuntimeWarnings, GDAL's) are caught rather than printed with their source
    # line: after an error the error line says what went wrong and they are dropped; after success each one
    # is passed on as one line. Python's filters still apply (deprecations stay hidden). The long-running
    # server is left alone (its warnings would pile up in memory).
    with warnings.catch_warnings(record=args.command != "serve") as caught:
        try:
            result = handler(args)
        except LandsegError as exc:
            _err(f"landseg {args.command}: error: {exc}")
            return 2
        except KeyboardInterrupt:
            _err(f"landseg {args.command}: interrupted")
            return 130
    for text in dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught or []):
        _err(f"landseg {args.command}: warning: {text}")
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
