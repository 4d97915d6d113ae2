"""Sample windows of a training run (``run/samples/``) predicted with its checkpoint, for ``landseg report``.

:func:`sample_predictions` picks a few windows of the run's validation (else test) tiles, predicts them and writes
the image, prediction and truth PNGs with ``samples.json`` (:attr:`landseg.layout.RunPaths.samples_json`); the
report only reads them (it runs no model).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rasterio.windows import Window

from landseg.classes import ClassTable
from landseg.data.prepare import load_manifest
from landseg.errors import InputError
from landseg.inference.engine import TorchEngine
from landseg.inference.sliding import predict_array
from landseg.io.files import read_structured, write_json_atomic
from landseg.io.raster import open_raster, read_window
from landseg.layout import RunPaths
from landseg.models.checkpoint import load_checkpoint
from landseg.views import colorize, display_rgb, write_png


def find_dataset(folder: Path, ckpt_train: dict[str, Any], dataset: str | Path | None) -> Path | None:
    """The prepared dataset of a training run: ``dataset`` if given, else the one its checkpoint or config records."""
    if dataset:
        return Path(dataset)
    for key in ("dataset_root", "dataset_path"):
        if ckpt_train.get(key) and Path(ckpt_train[key]).exists():
            return Path(ckpt_train[key])
    cfg = RunPaths(folder).config
    if cfg.exists():
        try:
            data = read_structured(cfg) or {}
        except (OSError, yaml.YAMLError):
            data = {}
        if isinstance(data, dict) and data.get("dataset") and Path(str(data["dataset"])).exists():
            return Path(str(data["dataset"]))
    return None


def sample_windows(manifest: dict[str, Any], tile_ids: Sequence[str], n: int, size: int,
                   seed: int = 0) -> list[tuple[dict[str, Any], int, int, int]]:
    """``n`` (tile, row, col, size) windows spread over ``tile_ids`` (seeded, reproducible)."""
    by_id = {t["id"]: t for t in manifest["tiles"]}
    tiles = [by_id[t] for t in tile_ids if t in by_id]
    rng = np.random.default_rng(seed)
    out: list[tuple[dict[str, Any], int, int, int]] = []
    seen = set()
    for i in range(4 * min(n, 64)):  # tiles no larger than the window give one window each
        if not tiles or len(out) >= n:
            break
        t = tiles[i % len(tiles)]
        s = min(size, t["height"], t["width"])
        r = int(rng.integers(0, t["height"] - s + 1))
        c = int(rng.integers(0, t["width"] - s + 1))
        if (t["id"], r, c) not in seen:
            seen.add((t["id"], r, c))
            out.append((t, r, c, s))
    return out


def sample_predictions(run: str | Path, dataset: str | Path | None = None, n: int = 3,
                       device: str = "auto") -> dict[str, Any] | None:
    """Predict ``n`` windows of a training run's validation (else test) tiles with its checkpoint.

    Writes ``run/samples/``: ``<i>_image.png`` (display RGB), ``<i>_prediction.png`` and ``<i>_truth.png``
    (class colours) and ``samples.json`` (what ``landseg report`` shows; a ``note`` instead when no samples
    can be made). Returns that content; None for a run without a checkpoint.
    """
    folder = Path(run)
    ckpt_path = RunPaths(folder).checkpoint()
    if ckpt_path is None:
        return None
    ckpt = load_checkpoint(ckpt_path)
    root = find_dataset(folder, ckpt.train, dataset)
    if root is None:
        return _write_samples(folder, {"note": "sample panels need the prepared dataset: pass --dataset DIR "
                                               "(it is not recorded in this run)"})
    manifest = load_manifest(root)
    table = ckpt.class_table
    if tuple(ClassTable.from_dict(manifest["class_table"]).names) != tuple(table.names):
        raise InputError(f"{root}: its class table differs from the run's model ({', '.join(table.names)})")
    ids = ckpt.train.get("val_tiles") or manifest["split"].get("val") or manifest["split"].get("test") or []
    which = "validation" if ckpt.train.get("val_tiles") or manifest["split"].get("val") else "test"
    if not ids:
        return _write_samples(folder, {"note": f"{root}: no validation or test tiles to sample from"})
    engine = TorchEngine(ckpt, device)
    win = max(engine.multiple, (256 // engine.multiple) * engine.multiple)
    out = RunPaths(folder).samples_dir
    out.mkdir(exist_ok=True)
    entries = []
    for i, (t, r, c, s) in enumerate(sample_windows(manifest, ids, n, 512)):
        with open_raster(Path(manifest["root"]) / t["files"]["image"]) as ds:
            img = read_window(ds, Window(c, r, s, s))
        with open_raster(Path(manifest["root"]) / t["files"]["label"]) as ds:
            truth = read_window(ds, Window(c, r, s, s), indexes=1)
        pred = predict_array(img, engine, table.num_classes, window=win, overlap=win // 4)
        valid = truth < table.num_classes
        acc = float((pred[valid] == truth[valid]).mean()) if valid.any() else None
        files = {k: RunPaths(folder).sample_png(i, k).name for k in ("image", "prediction", "truth")}
        for k, arr in (("image", display_rgb(img, ckpt.bands)), ("prediction", colorize(pred, table)),
                       ("truth", colorize(truth, table))):
            write_png(arr, out / files[k])
        entries.append({"tile": t["id"], "row": r, "col": c, "size": s, "accuracy": acc, **files})
    return _write_samples(folder, {"checkpoint": ckpt_path.name, "dataset": str(root), "which": which, "window": win,
                                   "requested": n, "class_table": table.to_dict(), "samples": entries})


def _write_samples(folder: Path, data: dict[str, Any]) -> dict[str, Any]:
    RunPaths(folder).samples_dir.mkdir(exist_ok=True)
    write_json_atomic(RunPaths(folder).samples_json, data)
    return data


__all__ = ["find_dataset", "sample_predictions", "sample_windows"]
