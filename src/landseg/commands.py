"""Subcommand implementations: thin glue between parsed options and the library."""

from __future__ import annotations

import argparse
import sys

from landseg.errors import InputError


def prepare(args: argparse.Namespace) -> int:
    from landseg.classes import load_class_table
    from landseg.data import folder, isprs
    from landseg.data.prepare import PrepareOptions, assign_splits, prepare_dataset, summary_lines

    test, val = list(args.test), list(args.val)
    if args.test_list:
        test += folder.read_list(args.test_list)
    if args.val_list:
        val += folder.read_list(args.val_list)
    if args.kind == "potsdam":
        bands = args.bands or "rgb"
        sources, notes = isprs.potsdam_sources(args.src, bands)
        names = isprs.POTSDAM_BANDS[bands][1]
        table = load_class_table(args.class_table or "isprs")
        extra = dict(expected_band_count=len(names), binarize_labels=True, default_crs=isprs.POTSDAM_CRS,
                     gsd=args.gsd or isprs.POTSDAM_GSD)
        info = {"scheme": "official ISPRS Potsdam split (24 train / 14 test tiles, as torchgeo and mmsegmentation)"}
    elif args.kind == "vaihingen":
        if args.bands not in (None, "irrg"):
            raise InputError(f"Vaihingen imagery is IRRG (near-infrared, red, green); --bands {args.bands} is not available")
        sources, notes = isprs.vaihingen_sources(args.src)
        names = isprs.POTSDAM_BANDS["irrg"][1]
        table = load_class_table(args.class_table or "isprs")
        extra = dict(expected_band_count=3, binarize_labels=True, gsd=args.gsd or isprs.VAIHINGEN_GSD)
        info = {"scheme": "official ISPRS Vaihingen split (16 train / 17 test areas)"}
    else:
        if not args.class_table:
            raise InputError("prepare folder needs --class-table (a preset: isprs, dubai; or a YAML/JSON file)")
        table = load_class_table(args.class_table)
        sources, notes = folder.folder_sources(args.src)
        names = (args.bands or "").split(",") if args.bands else []
        extra = dict(gsd=args.gsd)
        info = {"scheme": "patterns", "test": test}
    if args.kind == "folder":
        split = assign_splits([s.tile_id for s in sources], test=test, val=val,
                              val_fraction=args.val_fraction, seed=args.seed)
    else:
        train_ids = [s.tile_id for s in sources if s.split == "train"]
        inner = assign_splits(train_ids, val=val, val_fraction=args.val_fraction, seed=args.seed)
        split = {s.tile_id: inner.get(s.tile_id, s.split) for s in sources}
    for s in sources:
        s.split = split[s.tile_id]
    info.update(val=val or f"random {args.val_fraction:.0%} of training tiles, seed {args.seed}",
                val_fraction=args.val_fraction, seed=args.seed)
    if not names:
        from landseg.io.raster import open_raster

        with open_raster(sources[0].image) as ds:
            names = ["red", "green", "blue", "nir"][: ds.count] if ds.count in (3, 4) else [f"b{i + 1}" for i in range(ds.count)]
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    opts = PrepareOptions(
        dataset=args.kind, table=table, bands=names, unknown_to_ignore=args.unknown_to_ignore,
        export_patches=args.export_patches, overwrite=args.overwrite, split_info=info, **extra,
    )
    manifest = prepare_dataset(sources, args.dest, opts)
    print("\n".join(summary_lines(manifest)))
    print(f"prepared dataset written to {args.dest}")
    return 0


def train(args: argparse.Namespace) -> int:
    import yaml

    from landseg.errors import ConfigError
    from landseg.train import TrainConfig, make_config, train as run_training

    keys = TrainConfig.keys()
    overrides = {k: getattr(args, k, None) for k in keys if k not in ("augment",)}
    for item in args.set:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        overrides[k.strip().replace("-", "_")] = yaml.safe_load(v)
    cfg = make_config(overrides, preset=args.preset, file=args.config)
    final = run_training(args.dataset, args.out, cfg, resume=args.resume)
    if final and int(__import__("os").environ.get("RANK", "0")) == 0:
        print(f"done: checkpoints in {args.out} (best.safetensors, last.safetensors), metrics.csv, learning_curve.png")
    return 0


def load_engine(model: str, engine: str = "torch", device: str = "auto", precision: str = "auto", cache_dir=None):
    """(engine, checkpoint) for a MODEL argument; ONNX models are exported next to the outputs once."""
    from pathlib import Path

    from landseg.checkpoint import load_checkpoint
    from landseg.engine import OnnxEngine, TorchEngine, export_onnx

    ckpt = load_checkpoint(model)
    if engine == "onnx":
        onnx_path = Path(cache_dir or ".") / (Path(ckpt.path).stem + ".onnx")
        if not onnx_path.exists():
            export_onnx(ckpt, str(onnx_path))
        return OnnxEngine(ckpt, str(onnx_path)), ckpt
    return TorchEngine(ckpt, device, precision), ckpt


def predict(args: argparse.Namespace) -> int:
    from landseg.errors import ConfigError, LandsegError
    from landseg.io.raster import check_writable_dir
    from landseg.predict import PredictOptions, list_inputs, predict_raster, shard

    rng = None
    if args.input_range:
        try:
            lo, hi = (float(v) for v in args.input_range.split(","))
            assert hi > lo
        except (ValueError, AssertionError):
            raise ConfigError(f"--input-range expects MIN,MAX with MIN < MAX, got {args.input_range!r}") from None
        rng = (lo, hi)
    if args.window % 32 or args.window < 32:
        raise ConfigError(f"--window must be a positive multiple of 32, got {args.window}")
    if not 0 <= args.overlap < args.window:
        raise ConfigError(f"--overlap must be between 0 and the window size ({args.window}), got {args.overlap}")
    out = check_writable_dir(args.out)
    files = list_inputs(args.inputs)
    engine, ckpt = load_engine(args.model, args.engine, args.device, args.precision, cache_dir=out)
    opts = PredictOptions(window=args.window, overlap=args.overlap, batch_size=args.batch_size, tta=args.tta,
                          probs=args.probs, previews=not args.no_previews, gsd=args.gsd, input_range=rng,
                          overwrite=args.overwrite)
    failed = 0
    for f in shard(files):
        try:
            rec = predict_raster(engine, ckpt, f, out, opts, model_name=str(args.model))
        except LandsegError as exc:
            failed += 1
            print(f"landseg predict: error: {exc}", file=sys.stderr)
            continue
        if rec.get("skipped"):
            print(f"{f}: already done ({rec['classes']})")
        else:
            print(f"{f}: {rec['classes']} ({rec['seconds_total']:.1f} s; {rec['note']})")
    if failed:
        print(f"landseg predict: {failed} of {len(files)} inputs failed", file=sys.stderr)
        return 2
    return 0


def export(args: argparse.Namespace) -> int:
    from landseg.checkpoint import load_checkpoint
    from landseg.engine import export_onnx

    ckpt = load_checkpoint(args.model)
    export_onnx(ckpt, args.out, opset=args.opset)
    print(f"exported {ckpt.path} to {args.out}")
    return 0


def demo(args: argparse.Namespace) -> int:
    from landseg.demo import run_demo

    run_demo(args.out, args.model)
    return 0
