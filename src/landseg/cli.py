"""Command line: parses options, calls one library function per subcommand, prints results.

User mistakes surface as :class:`~landseg.errors.LandsegError` and end with a one-line message
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from landseg import __version__
from landseg.errors import LandsegError

# GDAL's block cache defaults to 5% of RAM and fills up on large rasters; a fixed cap keeps the
# memory of every command flat in the raster size. A GDAL_CACHEMAX set by the user wins.
os.environ.setdefault("GDAL_CACHEMAX", "64")  # MB

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, help: str, target: str):
    """Register a subcommand: ``target`` is 'module:function' taking the parsed args."""

    def deco(add_args: Callable[[argparse.ArgumentParser], None]):
        COMMANDS[name] = (help, add_args, target)
        return add_args

    return deco


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


@command("prepare", "turn ISPRS Potsdam/Vaihingen downloads or image/mask folders into a prepared dataset",
         "landseg.commands:prepare")
def _prepare(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=["potsdam", "vaihingen", "folder"], help="source layout")
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
    p.add_argument("--val-fraction", type=float, default=0.15, help="share of training tiles held out (default 0.15)")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation draw (default 0)")
    p.add_argument("--export-patches", type=int, metavar="SIZE", help="also write SIZExSIZE PNG patches")
    p.add_argument("--unknown-to-ignore", action="store_true", help="map label colours outside the table to ignore")
    p.add_argument("--gsd", type=float, help="pixel size in metres for images without georeferencing")
    p.add_argument("--overwrite", action="store_true", help="redo tiles that are already prepared")


@command("train", "train a U-Net on a prepared dataset", "landseg.commands:train")
def _train(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="prepared dataset folder (from landseg prepare)")
    p.add_argument("--out", required=True, help="run folder for checkpoints, metrics.csv, learning_curve.png")
    p.add_argument("--config", help="YAML/JSON file of training options (saved into the run as config.yaml)")
    p.add_argument("--preset", default="default", help="default, or 'original' (the original project: Adam 5e-4, batch 5, 5 epochs)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any config key, e.g. --set dice_weight=1")
    for key, typ, hlp in (
        ("model", str, "small (width 16), full (width 64, ~31M params) or tiny"),
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
    ):
        p.add_argument(f"--{key}", type=typ, default=None, help=hlp)


@command("predict", "segment GeoTIFFs/images of any size into class maps, previews and areas",
         "landseg.commands:predict")
def _predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="checkpoint (.safetensors), training run folder, or 'default' (the bundled model)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="GeoTIFF/PNG/JPG files or folders of them")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--window", type=int, default=512, help="window size in pixels (default 512)")
    p.add_argument("--overlap", type=int, default=128, help="overlap between windows in pixels (default 128)")
    p.add_argument("--batch-size", type=int, default=4, help="windows per model call (default 4)")
    p.add_argument("--tta", action="store_true", help="average the 8 flips/rotations (8x slower)")
    p.add_argument("--probs", action="store_true", help="also write per-class probabilities (uint8 0-255)")
    p.add_argument("--no-previews", action="store_true", help="skip the preview and overlay PNGs")
    p.add_argument("--gsd", type=float, help="pixel size in metres for inputs without georeferencing")
    p.add_argument("--input-range", help="MIN,MAX: scale 16-bit/float inputs linearly to 0-255")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    p.add_argument("--precision", default="auto", help="auto (bf16 on CPUs that have it), fp32, bf16, fp16")
    p.add_argument("--engine", choices=["torch", "onnx"], default="torch", help="inference engine (default torch)")
    p.add_argument("--overwrite", action="store_true", help="redo inputs whose outputs are complete")


@command("export", "export a checkpoint to ONNX", "landseg.commands:export")
def _export(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="checkpoint, run folder or 'default'")
    p.add_argument("out", help="output .onnx file")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")


@command("area", "class areas in m²/ha (whole raster, per zone, per object) of a class map or label raster",
         "landseg.area_cli:area")
def _area(p: argparse.ArgumentParser) -> None:
    from landseg.area_cli import add_area_args

    add_area_args(p)


@command("vectorize", "polygons per class (GeoPackage/GeoJSON) with their areas", "landseg.area_cli:vectorize")
def _vectorize(p: argparse.ArgumentParser) -> None:
    from landseg.area_cli import add_vectorize_args

    add_vectorize_args(p)


@command("evaluate", "ISPRS-protocol accuracy of a model on a prepared dataset's split (4 variants side by side)",
         "landseg.report_cli:evaluate")
def _evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="checkpoint (.safetensors), training run folder, or 'default'")
    p.add_argument("dataset", help="prepared dataset folder (from landseg prepare)")
    p.add_argument("--split", default="test", help="train, val or test (default test)")
    p.add_argument("--out", required=True, help="output folder: metrics.json/.md, confusion matrices, per-tile metrics, class maps")
    p.add_argument("--window", type=int, default=512, help="window size in pixels (default 512)")
    p.add_argument("--overlap", type=int, default=128, help="overlap between windows in pixels (default 128)")
    p.add_argument("--batch-size", type=int, default=4, help="windows per model call (default 4)")
    p.add_argument("--tta", action="store_true", help="average the 8 flips/rotations (8x slower)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    p.add_argument("--precision", default="auto", help="auto (bf16 on CPUs that have it), fp32, bf16, fp16")
    p.add_argument("--no-maps", action="store_true", help="skip writing the predicted class maps and previews")


@command("report", "one self-contained HTML report of a predict, evaluate or training-run folder",
         "landseg.report_cli:report")
def _report(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="a predict output folder, an evaluate folder or a training run folder")
    p.add_argument("--out", default=None, help="output HTML file (default INPUT/report.html)")
    p.add_argument("--dataset", default=None, help="training run: the prepared dataset, for sample panels")
    p.add_argument("--samples", type=int, default=3, help="training run: sample windows shown (default 3)")
    p.add_argument("--max-size", type=int, default=1600, help="longest side of embedded images in pixels (default 1600)")
    p.add_argument("--device", default="auto", help="training run samples: auto, cpu, cuda, mps")


@command("demo", "segment a bundled real sample and print its class areas (predict, area, vectorize, report)",
         "landseg.commands:demo")
def _demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    p.add_argument("--model", default="default", help="model to use (default: the bundled one)")


@command("serve", "local web app: upload images, follow jobs, view classes and areas, download results",
         "landseg.serve.app:serve")
def _serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--model", action="append", default=[], metavar="MODEL",
                   help="checkpoint or training run folder to offer (repeatable); the bundled 'default' model is "
                        "always offered when present")
    p.add_argument("--data-dir", default=None,
                   help="jobs database and results (default ~/.landseg/serve, or ./landseg-serve)")
    p.add_argument("--max-upload-mb", type=float, default=500, help="largest upload in MB (default 500)")
    p.add_argument("--workers", type=int, default=1, help="jobs run at the same time (default 1)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landseg",
        description="Land-cover segmentation of aerial imagery, with class areas in real units.",
    )
    parser.add_argument("--version", action="version", version=f"landseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_, add_args, target) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_[:1].upper() + help_[1:] + ".")
        add_args(sp)
        sp.set_defaults(_target=target)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_target", None):
        parser.print_help()
        return 0
    module, func = args._target.split(":")
    import importlib

    try:
        fn = getattr(importlib.import_module(module), func)
        result = fn(args)
    except LandsegError as exc:
        print(f"landseg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"landseg {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
