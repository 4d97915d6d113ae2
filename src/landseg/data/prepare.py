"""Turn image/label pairs into a prepared dataset: tiled GeoTIFFs plus a ``dataset.json`` manifest.

Layout of a prepared dataset::

    DEST/dataset.json                    manifest, written last (``complete: true``)
    DEST/tiles/<id>/image.tif            tiled, uncompressed, pixel-interleaved, georeferenced
    DEST/tiles/<id>/label.tif            uint8 class indices, 255 = ignore
    DEST/tiles/<id>/label_eroded.tif     eroded reference (ISPRS noBoundary), when available
    DEST/tiles/<id>/tile.json            per-tile record; its presence marks the tile finished
    DEST/patches/<split>/{images,labels}/<id>_<row>_<col>.png    with --export-patches

Every file is written to a temporary name and renamed, so an interrupted run leaves only
unfinished tiles without ``tile.json`` (redone next time) and no ``dataset.json``.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.crs
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioIOError
from rasterio.windows import Window
from tqdm import tqdm

from landseg import __version__
from landseg.classes import SNAP_TOLERANCE, ClassTable
from landseg.data.windows import grid_windows
from landseg.errors import InputError, OutputError
from landseg.io.files import (
    atomic_output,
    check_writable_dir,
    check_zip_member,
    clean_stale,
    free_space,
    read_structured,
    remove_quietly,
    write_json_atomic,
)
from landseg.io.images import write_png
from landseg.io.labels import label_kind, label_to_index, palette_array
from landseg.io.raster import (
    create_raster,
    open_raster,
    read_window,
    tiled_profile,
    verify_raster,
)
from landseg.layout import DATASET_MANIFEST, DatasetPaths
from landseg.results import DatasetManifest

STRIP = 512  # rows processed at a time: bounded memory for any tile size
SPLITS = ("train", "val", "test")


@dataclass
class TileSource:
    """One tile to prepare: an image, its full label and optionally its eroded label.

    Paths may be GDAL virtual paths (``/vsizip/archive.zip/inner.tif``) so zips need no unpacking.
    """

    tile_id: str
    image: str
    label: str | None
    label_eroded: str | None = None
    split: str = "train"


@dataclass
class PrepareOptions:
    """How a source is prepared: its name, class table, band names and the layout's label and grid rules."""

    dataset: str
    table: ClassTable
    bands: Sequence[str]
    expected_band_count: int | None = None
    binarize_labels: bool = False
    unknown_to_ignore: bool = False
    export_patches: int | None = None
    gsd: float | None = None
    default_crs: str | None = None
    overwrite: bool = False
    split_info: dict[str, Any] = field(default_factory=dict)


def assign_splits(
    ids: Sequence[str],
    *,
    test: Iterable[str] = (),
    val: Iterable[str] = (),
    val_fraction: float = 0.15,
    seed: int = 0,
) -> dict[str, str]:
    """Split tile ids: ``test``/``val`` are ids or glob patterns; remaining val drawn at random.

    Splitting is by tile, never by patch. If no val pattern is given, ``val_fraction`` of the
    non-test tiles (at least one when there are two or more) is held out with ``seed``. A pattern that
    matches none of ``ids`` raises :class:`InputError` (an empty split is never made silently).
    """

    def matches(tid: str, patterns: Iterable[str]) -> bool:
        return any(fnmatch.fnmatchcase(tid, p) for p in patterns)

    test, val = list(test), list(val)
    for kind, patterns in (("test", test), ("validation", val)):
        for p in patterns:
            if not any(fnmatch.fnmatchcase(tid, p) for tid in ids):
                shown = ", ".join(sorted(ids)[:8]) + (", ..." if len(ids) > 8 else "")
                raise InputError(f"{kind} split pattern {p!r} matches none of the {len(ids)} tiles it applies to "
                                 f"({shown or 'none'}); tile ids are the image names without suffix, and patterns "
                                 "are case-sensitive globs (* ? [..])")
    split = {tid: "test" if matches(tid, test) else "val" if matches(tid, val) else "train" for tid in ids}
    if not val:
        pool = sorted(t for t in ids if split[t] == "train")
        n = int(round(len(pool) * val_fraction))
        if len(pool) >= 2 and val_fraction > 0:
            n = max(1, n)
        rng = np.random.default_rng(seed)
        for t in rng.choice(pool, size=min(n, max(len(pool) - 1, 0)), replace=False) if pool else []:
            split[str(t)] = "val"
    return split


def _check_image(ds: rasterio.DatasetReader, src: TileSource, opts: PrepareOptions) -> None:
    if opts.expected_band_count is not None and ds.count != opts.expected_band_count:
        raise InputError(
            f"{src.image}: expected {opts.expected_band_count} bands for --bands {','.join(opts.bands)}, "
            f"found {ds.count}. Pick --bands that name each of the image's bands, or the right archive."
        )
    if ds.dtypes[0] != "uint8":
        raise InputError(
            f"{src.image}: expected 8-bit imagery, found {ds.dtypes[0]}; rescale it to uint8 "
            "(e.g. gdal_translate -ot Byte -scale) before preparing."
        )


def _label_reader(path: str | None, image_ds: rasterio.DatasetReader, role: str, tid: str):
    if path is None:
        return None
    ds = open_raster(path)
    if (ds.width, ds.height) != (image_ds.width, image_ds.height):
        ds.close()
        raise InputError(
            f"tile {tid}: image {image_ds.name} is {image_ds.width}x{image_ds.height} but its {role} "
            f"{path} is {ds.width}x{ds.height}; image and label must have the same size."
        )
    return ds


@dataclass
class _TileConversion:
    """What the strip loop of one tile writes and measures: the output files, the labels' kinds and palettes, the
    band histograms (every 4th row), class counts and label fixes per label."""

    files: dict[str, tuple[Path, dict[str, Any]]]  # key -> (path, profile): image, label, label_eroded
    kinds: dict[str, str]
    palettes: dict[str, np.ndarray]
    band_hist: np.ndarray
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    fixes: dict[str, dict[str, int]] = field(default_factory=dict)

    def convert(self, data: np.ndarray, raws: dict[str, np.ndarray], labels: dict[str, Any],
                opts: PrepareOptions) -> dict[str, np.ndarray]:
        """One strip: the image as it is and each label as class indices; statistics added."""
        out = {"image": data}
        for b in range(data.shape[0]):  # band statistics from every 4th row: plenty for mean/std
            self.band_hist[b] += np.bincount(data[b, ::4].ravel(), minlength=256)
        for k, raw in raws.items():
            idx = label_to_index(
                raw, self.kinds[k], opts.table, palette=self.palettes.get(k), source=str(labels[k].name),
                unknown_to_ignore=opts.unknown_to_ignore, binarize=opts.binarize_labels,
                stats=self.fixes.setdefault(k, {"snapped": 0, "ignored": 0}),
            )
            self.counts[k] += np.bincount(idx.ravel(), minlength=256)
            out[k] = idx[None]
        return out


def _tile_grid(img: rasterio.DatasetReader, opts: PrepareOptions) -> tuple[Any, Any]:
    """The tile's CRS (the layout's default where a world file has no .prj) and transform (identity without CRS)."""
    crs = img.crs
    if crs is None and not img.transform.is_identity and opts.default_crs:
        crs = rasterio.crs.CRS.from_user_input(opts.default_crs)  # e.g. Potsdam's .tfw without .prj
    return crs, img.transform if crs is not None else rasterio.Affine.identity()


def _convert_strips(img: rasterio.DatasetReader, labels: dict[str, Any], tile_dir: Path, crs: Any, transform: Any,
                    opts: PrepareOptions) -> _TileConversion:
    """Write the tile's image and labels (as class indices) strip by strip, atomically, measuring as it goes."""
    h, w, nb = img.height, img.width, img.count
    kinds = {k: label_kind(ds) for k, ds in labels.items()}
    outs = {"image": (tile_dir / "image.tif", tiled_profile(w, h, nb, "uint8", crs=crs, transform=transform))}
    for k in labels:
        outs[k] = (tile_dir / f"{k}.tif", tiled_profile(w, h, 1, "uint8", crs=crs, transform=transform,
                                                          nodata=opts.table.ignore_index))
    conv = _TileConversion(outs, kinds, {k: palette_array(ds) for k, ds in labels.items() if kinds[k] == "palette"},
                           np.zeros((nb, 256), dtype=np.int64), {k: np.zeros(256, dtype=np.int64) for k in labels})
    with ExitStack() as stack:
        writers = {}
        for k, (path, prof) in outs.items():
            tmp = stack.enter_context(atomic_output(path, verify=_raster_check(path, prof)))
            writers[k] = stack.enter_context(create_raster(tmp, prof))

        def read_strip(row: int):
            win = Window(0, row, w, min(STRIP, h - row))
            raws = {k: read_window(ds, win, indexes=[1, 2, 3] if kinds[k] == "rgb" else [1]) for k, ds in labels.items()}
            return win, read_window(img, win), raws

        def write_strip(win: Window, arrays: dict[str, np.ndarray]) -> None:
            for k, a in arrays.items():
                try:
                    writers[k].write(a, window=win)
                except (RasterioIOError, CPLE_BaseError) as exc:
                    raise OutputError(f"{outs[k][0]}: writing failed ({exc}; "
                                      f"{free_space(tile_dir)}); free space and run again") from None

        # Reading the next strip and writing the last one overlap the conversion (GDAL releases the GIL).
        io = stack.enter_context(ThreadPoolExecutor(2, thread_name_prefix="landseg-prepare"))
        pending_read = io.submit(read_strip, 0)
        pending_write = None
        for row in range(0, h, STRIP):
            win, data, raws = pending_read.result()
            if row + STRIP < h:
                pending_read = io.submit(read_strip, row + STRIP)
            out = conv.convert(data, raws, labels, opts)
            if pending_write is not None:
                pending_write.result()
            pending_write = io.submit(write_strip, win, out)
        if pending_write is not None:
            pending_write.result()
        for wds in writers.values():
            wds.close()
    return conv


def prepare_tile(src: TileSource, dest: Path, opts: PrepareOptions) -> dict[str, Any]:
    """Prepare one tile strip by strip; returns its record (also written to ``tile.json``)."""
    for path in (src.image, src.label, src.label_eroded):  # zip members: CRC-checked, GDAL does not
        if path is not None:
            check_zip_member(path)
    tile_dir = DatasetPaths(dest).tile_dir(src.tile_id)
    tile_dir.mkdir(parents=True, exist_ok=True)
    with open_raster(src.image) as img:
        _check_image(img, src, opts)
        labels = {
            "label": _label_reader(src.label, img, "label", src.tile_id),
            "label_eroded": _label_reader(src.label_eroded, img, "eroded label", src.tile_id),
        }
        labels = {k: v for k, v in labels.items() if v is not None}
        try:
            crs, transform = _tile_grid(img, opts)
            conv = _convert_strips(img, labels, tile_dir, crs, transform, opts)
        finally:
            for ds in labels.values():
                ds.close()
        record = tile_record(src, opts, (img.width, img.height, img.count), crs, transform, conv)
    if opts.export_patches:
        record["patches"] = export_patches(tile_dir, record, dest, opts)
    write_json_atomic(DatasetPaths(dest).tile_record(src.tile_id), record)
    return record


def tile_record(src: TileSource, opts: PrepareOptions, size: tuple[int, int, int], crs: Any, transform: Any,
                conv: _TileConversion) -> dict[str, Any]:
    """The record of a prepared tile (``tile.json``; the manifest lists it without histogram and origin)."""
    w, h, nb = size
    ps = (opts.gsd, opts.gsd) if crs is None and opts.gsd else None
    if crs is not None:
        t = transform
        ps = (float(np.hypot(t.a, t.d)), float(np.hypot(t.b, t.e)))
    nc = opts.table.num_classes
    return {
        "id": src.tile_id,
        "split": src.split,
        "width": w,
        "height": h,
        "bands": nb,
        "crs": crs.to_string() if crs is not None else None,
        "transform": list(transform)[:6] if crs is not None else None,
        "pixel_size": list(ps) if ps else None,
        "files": {k: f"tiles/{src.tile_id}/{p.name}" for k, (p, _) in conv.files.items()},
        "label_kinds": conv.kinds,
        "class_counts": {k: c[:nc].tolist() for k, c in conv.counts.items()},
        "ignore_counts": {k: int(c[opts.table.ignore_index]) for k, c in conv.counts.items()},
        # pixels whose colour was snapped to 0/255 (within SNAP_TOLERANCE), and off-table colours made ignore
        "label_fixes": {k: dict(v) for k, v in conv.fixes.items()},
        "band_hist": conv.band_hist.tolist(),
        "source": {"image": src.image, "label": src.label, "label_eroded": src.label_eroded},
        "made_from": {"settings": recipe(opts), "sources": source_ids(src)},
    }


def _raster_check(path: Path, prof: dict[str, Any]):
    like = {k: prof[k] for k in ("width", "height", "count", "dtype")}
    return lambda tmp: verify_raster(tmp, like=like, name=path)


def export_patches(tile_dir: Path, record: dict[str, Any], dest: Path, opts: PrepareOptions) -> int:
    """Write fixed-size PNG patches (image + index label) on a grid covering the tile."""


    size = int(opts.export_patches or 0)
    out_img = dest / "patches" / record["split"] / "images"
    out_lbl = dest / "patches" / record["split"] / "labels"
    out_img.mkdir(parents=True, exist_ok=True)
    out_lbl.mkdir(parents=True, exist_ok=True)
    if record["width"] < size or record["height"] < size:
        return 0
    n = 0
    with open_raster(tile_dir / "image.tif") as img, open_raster(tile_dir / "label.tif") as lbl:
        for r, c in grid_windows(record["height"], record["width"], size):
            win = Window(c, r, size, size)
            a = np.moveaxis(img.read(window=win), 0, -1)
            name = f"{record['id']}_{r}_{c}.png"
            mode = "RGB" if a.shape[-1] == 3 else ("RGBA" if a.shape[-1] == 4 else "L")
            write_png(a if a.shape[-1] in (3, 4) else a[..., 0], out_img / name, mode)
            write_png(lbl.read(1, window=win), out_lbl / name, "L")
            n += 1
    return n


def recipe(opts: PrepareOptions) -> dict[str, Any]:
    """The settings a prepared tile depends on; a rerun with other values must not reuse it."""
    return {
        "dataset": opts.dataset,
        "class_table": opts.table.to_dict(),
        "bands": list(opts.bands),
        "gsd": opts.gsd,
        "default_crs": opts.default_crs,
        "binarize_labels": opts.binarize_labels,
        "unknown_to_ignore": opts.unknown_to_ignore,
        "export_patches": opts.export_patches,
    }


def _file_id(path: str | None) -> dict[str, Any] | None:
    """Name and size of a source file (for a zip member: the member's name and size, and the zip's name)."""
    if path is None:
        return None
    if path.startswith("/vsizip/"):
        inner = path[len("/vsizip/"):]
        cut = inner.lower().find(".zip/") + 4
        archive, member = inner[:cut], inner[cut + 1:]
        try:
            with zipfile.ZipFile(archive) as zf:
                size = zf.getinfo(member).file_size
        except (OSError, KeyError, zipfile.BadZipFile):
            size = None
        return {"name": member, "archive": Path(archive).name, "size": size}
    try:
        size = os.path.getsize(path)
    except OSError:
        size = None
    return {"name": Path(path).name, "size": size}


def source_ids(src: TileSource) -> dict[str, Any]:
    """Name and size of each source file of a tile (what a prepared tile was made from)."""
    return {"image": _file_id(src.image), "label": _file_id(src.label), "label_eroded": _file_id(src.label_eroded)}


def _short(key: str, value: Any) -> str:
    if key == "class_table" and isinstance(value, dict):
        cls = value.get("classes", [])
        names = ", ".join(f"{c['name']} {tuple(c['color'])}" for c in cls)
        return f"{value.get('name')!r} ({names})"
    if key == "bands" and isinstance(value, list):
        return ",".join(value)
    if isinstance(value, dict) and "name" in value:
        return f"{value['name']} ({value.get('size')} bytes)"
    return repr(value)


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [f"{k}: was {_short(k, old.get(k))}, now {_short(k, new.get(k))}"
            for k in new if old.get(k) != new.get(k)]


def _manifest_differences(dest: Path, sources: Sequence[TileSource], settings: dict[str, Any]) -> list[str]:
    """How the dataset recorded in DEST's manifest (if any) differs from this run's settings and tiles."""
    mpath = DatasetPaths(dest).manifest
    if not mpath.exists():
        return []
    try:
        old = read_structured(mpath)
    except (OSError, json.JSONDecodeError):
        old = {}
    made = old.get("made_from")
    if made is None:
        return [f"{DATASET_MANIFEST} was written by a landseg that did not record its settings"]
    diffs = _differences(made.get("settings", {}), settings)
    gone = sorted(set(made.get("sources", {})) - {s.tile_id for s in sources})
    if gone:
        diffs.append(f"{len(gone)} tiles of the earlier dataset are not in this source: {', '.join(gone[:5])}")
    return diffs


def _tile_differences(dest: Path, src: TileSource, settings: dict[str, Any]) -> tuple[list[str], list[str]]:
    """How a tile already prepared in DEST (if any) differs: (settings differences, shared by the tiles; this tile's
    own, named by its id)."""
    tpath = DatasetPaths(dest).tile_record(src.tile_id)
    if not tpath.exists():
        return [], []
    try:
        made = read_structured(tpath).get("made_from")
    except (OSError, json.JSONDecodeError, AttributeError):
        return [], []  # an unreadable tile.json: the tile is redone
    if made is None:
        return [], [f"tile {src.tile_id} was prepared by a landseg that did not record its settings"]
    return (_differences(made.get("settings", {}), settings),
            [f"tile {src.tile_id} {d}" for d in _differences(made.get("sources", {}), source_ids(src))])


def check_reuse(dest: Path, sources: Sequence[TileSource], opts: PrepareOptions) -> None:
    """Refuse to mix a new prepare into a DEST prepared from other settings or source files.

    Compares the settings and source files recorded in ``dataset.json`` and each ``tile.json``
    with this run's; raises :class:`OutputError` naming what differs and suggesting ``--overwrite``.
    """
    settings = recipe(opts)
    diffs = _manifest_differences(dest, sources, settings)
    for src in sources:
        shared, own = _tile_differences(dest, src, settings)
        diffs += [d for d in shared if d not in diffs] + own
    if diffs:
        more = f" (and {len(diffs) - 6} more)" if len(diffs) > 6 else ""
        raise OutputError(
            f"{dest}: already holds a dataset prepared from other settings or files; " + "; ".join(diffs[:6]) + more
            + ". Run again with --overwrite to prepare everything anew, or choose another DEST."
        )


def _tile_is_done(dest: Path, src: TileSource) -> dict[str, Any] | None:
    """The tile's record if it is finished (after :func:`check_reuse`, its settings and sources match)."""
    path = DatasetPaths(dest).tile_record(src.tile_id)
    if not path.exists():
        return None
    try:
        rec = read_structured(path)
    except (OSError, json.JSONDecodeError):
        return None
    if rec.get("made_from", {}).get("sources") != source_ids(src):
        return None
    if not all((dest / f).exists() for f in rec.get("files", {}).values()):
        return None
    rec["source"] = {"image": src.image, "label": src.label, "label_eroded": src.label_eroded}
    return rec


def band_stats(records: Sequence[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """Per-band mean and std (0-255 scale) from the tiles' exact histograms."""
    hist = np.sum([np.asarray(r["band_hist"], dtype=np.float64) for r in records], axis=0)
    values = np.arange(256, dtype=np.float64)
    n = hist.sum(axis=1)
    mean = (hist * values).sum(axis=1) / n
    var = (hist * values**2).sum(axis=1) / n - mean**2
    return mean.round(4).tolist(), np.sqrt(np.maximum(var, 1e-12)).round(4).tolist()


def prepare_dataset(sources: Sequence[TileSource], dest: str | Path, opts: PrepareOptions) -> dict[str, Any]:
    """Prepare every tile (skipping finished ones unless ``opts.overwrite``) and write the manifest."""
    if not sources:
        raise InputError("no tiles to prepare")
    dest = check_writable_dir(dest)
    clean_stale(dest)  # temp files of an earlier run that was killed (kill -9, power loss)
    manifest_path = DatasetPaths(dest).manifest
    dup = {s.tile_id for s in sources if sum(t.tile_id == s.tile_id for t in sources) > 1}
    if dup:
        raise InputError(f"duplicate tile ids: {sorted(dup)}")
    if opts.overwrite:  # redo everything: no tile, patch or manifest of an earlier run survives
        manifest_path.unlink(missing_ok=True)
        remove_quietly(dest / "tiles")
        remove_quietly(dest / "patches")
    else:
        check_reuse(dest, sources, opts)
    if manifest_path.exists():
        manifest_path.unlink()  # the dataset is incomplete until this run writes it again
    records = []
    bar = tqdm(sources, desc="prepare", unit="tile", disable=None)
    with rasterio.Env(GDAL_CACHEMAX=256):  # MB; bounds GDAL's block cache (default: 5% of RAM)
        for src in bar:
            bar.set_postfix_str(src.tile_id)
            rec = None if opts.overwrite else _tile_is_done(dest, src)
            if rec is None:
                rec = prepare_tile(src, dest, opts)
            rec["split"] = src.split
            records.append(rec)
    nb = {r["bands"] for r in records}
    if len(nb) > 1:
        raise InputError(f"tiles have different band counts {sorted(nb)}; all tiles must have the same bands")
    train = [r for r in records if r["split"] == "train"] or records
    mean, std = band_stats(train)
    nc = opts.table.num_classes
    counts = {
        s: np.sum([r["class_counts"].get("label", [0] * nc) for r in records if r["split"] == s] or [[0] * nc], axis=0).tolist()
        for s in SPLITS
    }
    crss = sorted({r["crs"] for r in records if r["crs"]})
    pss = sorted({tuple(r["pixel_size"]) for r in records if r["pixel_size"]})
    manifest = DatasetManifest(
        landseg_version=__version__,
        format=1,
        complete=True,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        dataset=opts.dataset,
        class_table=opts.table.to_dict(),
        bands=list(opts.bands),
        band_count=nb.pop(),
        mean=mean,
        std=std,
        crs=crss[0] if len(crss) == 1 else (crss or None),
        pixel_size=list(pss[0]) if len(pss) == 1 else ([list(p) for p in pss] or None),
        split={s: [r["id"] for r in records if r["split"] == s] for s in SPLITS},
        split_info=opts.split_info,
        class_pixel_counts=counts,
        has_eroded_labels=all("label_eroded" in r["files"] for r in records),
        tiles=[{k: v for k, v in r.items() if k not in ("band_hist", "made_from")} for r in records],
        made_from={"settings": recipe(opts), "sources": {r["id"]: r["made_from"]["sources"] for r in records}},
    ).to_dict()
    write_json_atomic(manifest_path, manifest)
    return manifest


def load_manifest(path: str | Path) -> dict[str, Any]:
    """Read a prepared dataset's manifest, refusing missing or incomplete datasets."""
    path = Path(path)
    mpath = path / DATASET_MANIFEST if path.is_dir() or not path.suffix else path
    if not mpath.parent.exists():
        raise InputError(f"{mpath.parent}: dataset folder not found")
    if not mpath.exists():
        partial = (mpath.parent / "tiles").exists()
        hint = ("it looks like an interrupted prepare; run `landseg prepare` again to finish it"
                if partial else "prepare it first with `landseg prepare`")
        raise InputError(f"{mpath.parent}: not a prepared landseg dataset (no {DATASET_MANIFEST}); {hint}")
    try:
        m = read_structured(mpath)
    except json.JSONDecodeError as exc:
        raise InputError(f"{mpath}: corrupt manifest ({exc})") from None
    if not m.get("complete"):
        raise InputError(f"{mpath}: dataset is incomplete; run `landseg prepare` again to finish it")
    m["root"] = str(mpath.parent)
    missing = [f for t in m["tiles"] for f in t["files"].values() if not (mpath.parent / f).exists()]
    if missing:
        raise InputError(f"{mpath.parent}: {len(missing)} tile files listed in the manifest are missing, e.g. {missing[0]}")
    return m


def check_tiles(manifest: dict[str, Any], *, label_keys: Sequence[str] = ("label",),
                tiles: Sequence[str] | None = None) -> None:
    """Check a loaded manifest against its tiles (``tiles``: these ids only) before training on or evaluating
    them; raises :class:`InputError`.

    Every listed tile must have its ``tile.json`` (same id, same recorded settings as the manifest),
    an image with the manifest's band count and the tile's size whose pixels can all be decoded (a truncated or
    corrupt ``image.tif`` is named here, not met as a GDAL traceback mid-run), and labels of that size whose
    values are class indices of the manifest's class table or its ignore index (read strip by strip).
    """
    root = Path(manifest["root"])
    table = ClassTable.from_dict(manifest["class_table"])
    allowed = np.zeros(256, bool)
    allowed[: table.num_classes] = True
    allowed[table.ignore_index] = True
    settings = (manifest.get("made_from") or {}).get("settings")
    fix = "run `landseg prepare` again with --overwrite"
    for t in manifest["tiles"]:
        if tiles is not None and t["id"] not in tiles:
            continue
        tj = DatasetPaths(root).tile_record(t["id"])
        try:
            rec = read_structured(tj)
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{tj}: tile {t['id']} is listed in {DATASET_MANIFEST} but its record is missing or "
                             f"unreadable ({exc}); {fix}") from None
        if rec.get("id") != t["id"] or (settings is not None and (rec.get("made_from") or {}).get("settings") != settings):
            raise InputError(f"{tj}: this tile was prepared with other settings than {DATASET_MANIFEST} records; {fix}")
        _check_tile_image(root / t["files"]["image"], t, manifest["band_count"], fix)
        for key in label_keys:
            if key in t["files"]:
                _check_tile_label(root / t["files"][key], t, table, allowed, fix)


def _read_strips(ds: rasterio.DatasetReader, fix: str) -> Iterator[np.ndarray]:
    """Every pixel of ``ds``, strip by strip; an undecodable strip raises :class:`InputError` ending with ``fix``."""
    for row in range(0, ds.height, STRIP):
        try:
            yield read_window(ds, Window(0, row, ds.width, min(STRIP, ds.height - row)))
        except InputError as exc:
            raise InputError(f"{exc}; {fix}") from None


def _check_tile_image(path: Path, t: dict[str, Any], band_count: int, fix: str) -> None:
    """A tile's image has the manifest's band count and the tile's size, and all its pixels decode."""
    with open_raster(path, remedy=fix) as ds:
        if ds.count != band_count or (ds.width, ds.height) != (t["width"], t["height"]):
            raise InputError(f"{ds.name}: {ds.count} bands of {ds.width}x{ds.height}, but {DATASET_MANIFEST} lists "
                             f"{band_count} bands of {t['width']}x{t['height']}; {fix}")
        for _ in _read_strips(ds, fix):
            pass


def _check_tile_label(path: Path, t: dict[str, Any], table: ClassTable, allowed: np.ndarray, fix: str) -> None:
    """A tile's label is one band of the tile's size holding only class indices of ``table`` or its ignore index."""
    with open_raster(path, remedy=fix) as ds:
        if (ds.count, ds.width, ds.height) != (1, t["width"], t["height"]):
            raise InputError(f"{ds.name}: expected a 1-band {t['width']}x{t['height']} label, found "
                             f"{ds.count} bands of {ds.width}x{ds.height}; {fix}")
        for a in _read_strips(ds, fix):
            vals = np.flatnonzero(np.bincount(a.ravel(), minlength=256))
            wrong = [int(v) for v in vals if not allowed[v]]
            if wrong:
                raise InputError(
                    f"{ds.name}: label values {wrong[:10]} are not classes of the table {table.name!r} "
                    f"(0-{table.num_classes - 1}, ignore {table.ignore_index}); {fix}")


def summary_lines(manifest: dict[str, Any]) -> list[str]:
    """A short human summary of a prepared dataset."""
    table = ClassTable.from_dict(manifest["class_table"])
    lines = [
        f"dataset {manifest['dataset']!r}: {len(manifest['tiles'])} tiles, bands {','.join(manifest['bands'])}, "
        f"CRS {manifest['crs'] or 'none'}, pixel size {manifest['pixel_size'] or 'unknown'}",
        "split: " + ", ".join(f"{s} {len(manifest['split'][s])}" for s in SPLITS),
    ]
    total = np.sum([manifest["class_pixel_counts"][s] for s in SPLITS], axis=0)
    tot = max(int(total.sum()), 1)
    lines.append("class pixels (all splits):")
    for name, n in zip(table.names, total):
        lines.append(f"  {name:<20} {int(n):>14,d}  {100 * n / tot:6.2f} %")
    lines.append(f"band mean {manifest['mean']}, std {manifest['std']} (training tiles)")
    for t in manifest["tiles"]:
        for k, f in (t.get("label_fixes") or {}).items():
            if f.get("snapped") or f.get("ignored"):
                lines.append(f"tile {t['id']} {k}: {f['snapped']:,} pixels snapped to table colours (channels within "
                             f"{SNAP_TOLERANCE} of 0/255), {f['ignored']:,} off-table pixels made ignore")
    return lines
