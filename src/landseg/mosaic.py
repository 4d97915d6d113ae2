"""Many input tiles predicted as one seamless mosaic, in one process or on a Ray cluster.

The tiles (one CRS and pixel size, on one pixel grid) are joined into a GDAL VRT written by landseg
(``OUT/mosaic_input.vrt``). Each tile's class map is predicted from the VRT with the sliding windows of the
*whole mosaic* (:func:`~landseg.inference.sliding.sliding_window` with a region): windows that straddle a
tile border read both sides, and every pixel blends the same windows as in a one-raster run, so the maps
have no seams and equal the prediction of the merged raster pixel for pixel. Areas no tile covers (the
outer edge, holes) read as nodata context and are nodata in the outputs.

Outputs mirror the input tiling (``NAME_classes.tif`` etc. per tile, as :mod:`landseg.predict` writes
them), plus ``classes.vrt`` over all class maps, ``areas.csv``/``areas.json`` (the tiles' areas summed)
and, with ``pystac`` installed, a STAC catalogue ``catalog.json``. A tile whose class map exists is
skipped, so a rerun after an interruption does only what is missing.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rasterio import Affine
from tqdm import tqdm

from landseg.area.partial import merge_class_areas
from landseg.area.totals import class_areas
from landseg.cluster import ClusterOptions, Throughput, map_items
from landseg.errors import InputError
from landseg.inference.engine import load_engine
from landseg.inference.sliding import Region, check_window
from landseg.io.files import check_writable_dir, clean_stale, read_lines, write_text_atomic
from landseg.io.labels import read_class_table
from landseg.io.raster import (
    RasterInfo,
    check_readable,
    class_style_entries,
    colormap_and_tags,
    raster_info,
    vrt_source_files,
    write_vrt,
)
from landseg.io.styles import write_raster_style
from landseg.layout import MosaicPaths, PredictPaths
from landseg.predict import RASTER_EXTS, PredictOptions, list_inputs, predict_raster

GRID_TOLERANCE = 1e-3  # of a pixel: tile origins must fall on the mosaic's pixel grid


@dataclass
class MosaicTile:
    """One tile of a mosaic: its file and where it sits (rows/columns of the mosaic)."""

    path: Path
    row: int
    col: int
    height: int
    width: int

    @property
    def region(self) -> Region:
        """The tile's (row0, col0, row1, col1) in the mosaic."""
        return (self.row, self.col, self.row + self.height, self.col + self.width)


@dataclass
class Mosaic:
    """Tiles joined into one VRT: their places, the mosaic's size and grid, and the tiles left out."""

    vrt: Path
    tiles: list[MosaicTile]
    width: int
    height: int
    crs: Any
    transform: Any
    errors: list[str]  # tiles left out (unreadable), one message each

    def overlaps(self, tiles: Sequence[MosaicTile] | None = None) -> list[tuple[MosaicTile, MosaicTile, int]]:
        """Pairs of ``tiles`` (default: all) whose footprints share pixels, with the number of shared pixels."""
        tiles = self.tiles if tiles is None else tiles
        pairs = []
        for k, a in enumerate(tiles):
            for b in tiles[k + 1:]:
                h = min(a.row + a.height, b.row + b.height) - max(a.row, b.row)
                w = min(a.col + a.width, b.col + b.width) - max(a.col, b.col)
                if h > 0 and w > 0:
                    pairs.append((a, b, h * w))
        return pairs


def list_tiles(inputs: Sequence[str | Path]) -> list[Path]:
    """Tiles named by folders, glob patterns, list files (.txt: one path per line) or existing VRTs."""
    files: list[Path] = []
    for item in inputs:
        s, p = str(item), Path(item)
        if any(ch in s for ch in "*?[") and not p.exists():
            found = sorted(Path(f) for f in glob.glob(s) if Path(f).suffix.lower() in RASTER_EXTS)
            if not found:
                raise InputError(f"{s}: the pattern matches no rasters")
            files += found
        elif p.suffix.lower() in (".txt", ".lst") and p.is_file():
            lines = [ln.strip() for ln in read_lines(p) if ln.strip() and not ln.startswith("#")]
            files += [(p.parent / ln) if not Path(ln).is_absolute() else Path(ln) for ln in lines]
        elif p.suffix.lower() == ".vrt" and p.is_file():
            files += vrt_source_files(p)
        else:
            files += list_inputs([p])
    unique = list(dict.fromkeys(f.resolve() for f in files))
    stems = {}
    for f in unique:
        if f.stem in stems:
            raise InputError(f"{stems[f.stem]} and {f} have the same name; their outputs would collide")
        stems[f.stem] = f
    return unique


def _grid_key(info: RasterInfo) -> tuple[str, float, float]:
    t = info.transform
    return (info.crs.to_string() if info.crs else "no CRS", round(t.a, 9), round(t.e, 9))


def check_same_grid(infos: list[RasterInfo]) -> None:
    """Raise :class:`InputError` naming the tiles unless they share one CRS, pixel size and band layout."""
    for info in infos:
        t = info.transform
        if info.crs is None or t.is_identity:
            raise InputError(f"{info.path}: not georeferenced; a mosaic needs tiles with a CRS and transform")
        if t.b or t.d:
            raise InputError(f"{info.path}: rotated grid; a mosaic needs north-up tiles")
    groups: dict[tuple, list[str]] = {}
    for info in infos:
        groups.setdefault(_grid_key(info), []).append(info.path.name)
    if len(groups) > 1:
        parts = [f"{crs}, {a:g} x {-e:g} pixels: {', '.join(names[:5])}"
                 + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                 for (crs, a, e), names in groups.items()]
        raise InputError("the tiles differ in CRS or pixel size, so they cannot form one mosaic: "
                         + "; ".join(parts) + ". Reproject them to one grid first (e.g. gdalwarp -t_srs -tr)")
    layouts = {(i.count, i.dtype) for i in infos}
    if len(layouts) > 1:
        raise InputError("the tiles differ in bands or data type: "
                         + "; ".join(f"{i.path.name}: {i.count} x {i.dtype}" for i in infos[:10]))


def build_mosaic(files: Sequence[Path], vrt_path: str | Path) -> Mosaic:
    """Check the tiles and write their VRT; unreadable tiles are left out and listed in ``errors``."""
    infos, errors = [], []
    for f in files:
        try:
            info = raster_info(f)
            check_readable(f)  # a truncated tile is left out by name, not met later through the VRT by all its neighbours
            infos.append(info)
        except InputError as exc:
            errors.append(str(exc))
    if not infos:
        raise InputError("no readable tile: " + "; ".join(errors))
    check_same_grid(infos)
    a, e = infos[0].transform.a, infos[0].transform.e
    x0 = min(i.transform.c for i in infos)
    y0 = max(i.transform.f for i in infos)
    tiles, placed = [], []
    for i in infos:
        col, row = (i.transform.c - x0) / a, (i.transform.f - y0) / e
        if abs(col - round(col)) > GRID_TOLERANCE or abs(row - round(row)) > GRID_TOLERANCE:
            raise InputError(f"{i.path}: its origin is off the mosaic's pixel grid by ({col % 1:.3f}, {row % 1:.3f}) "
                             "pixels; the tiles must share one pixel grid (resample them onto it first)")
        tiles.append(MosaicTile(i.path, round(row), round(col), i.height, i.width))
        placed.append((i, round(col), round(row)))
    width = max(t.col + t.width for t in tiles)
    height = max(t.row + t.height for t in tiles)
    transform = Affine(a, 0, x0, 0, e, y0)
    nodata = infos[0].nodata if len({i.nodata for i in infos}) == 1 else None
    write_vrt(vrt_path, placed, width, height, infos[0].crs, transform, nodata=nodata)
    return Mosaic(Path(vrt_path), tiles, width, height, infos[0].crs, transform, errors)


@dataclass
class TilePredictor:
    """A picklable recipe for a worker: loads the model once, then predicts tiles of the mosaic."""

    model: str
    vrt: Path
    out: Path
    opts: PredictOptions
    engine: str = "torch"
    device: str = "auto"
    precision: str = "auto"
    loader: Callable[..., Any] = load_engine  # (model, engine, device, precision, cache_dir=) -> (engine, ckpt)

    def __call__(self) -> Callable[[MosaicTile], dict[str, Any]]:
        """Load the model (once per worker) and return the function that predicts one tile."""
        eng, ckpt = self.loader(self.model, self.engine, self.device, self.precision, cache_dir=self.out)
        opts = replace(self.opts, progress=False, on_progress=None)

        def run(tile: MosaicTile) -> dict[str, Any]:
            rec = predict_raster(eng, ckpt, tile.path, self.out, opts, model_name=str(self.model),
                                 mosaic=(self.vrt, tile.region))
            rec["pixels"] = tile.width * tile.height
            if opts.areas:  # the tile's areas, summed by the driver (recomputed for a skipped tile)
                rec["area_result"] = class_areas(rec["classes"], gsd=opts.gsd, allow_pixels_only=True)
            return rec

        return run


def predict_mosaic(model: str, inputs: Sequence[str | Path], out: str | Path, opts: PredictOptions, *,
                   cluster: ClusterOptions | None = None, engine: str = "torch", device: str = "auto",
                   precision: str = "auto", echo: Callable[[str], None] = print,
                   warn: Callable[[str], None] = print, loader: Callable[..., Any] = load_engine,
                   stac_datetime: Any = None) -> list[str]:
    """Predict the tiles of ``inputs`` as one mosaic into ``out``; returns the error messages (every
    tile is tried; one that fails is reported by name and the others go on)."""
    check_window(opts.window, opts.overlap, opts.batch_size)
    out = check_writable_dir(out)
    clean_stale(out, recursive=False)  # temp files and folders of killed runs (kill -9 of a worker or of the run)
    mosaic = build_mosaic(list_tiles(inputs), MosaicPaths(out).input_vrt)
    errors = list(mosaic.errors)
    for msg in errors:
        warn(f"landseg predict: error: {msg} (left out of the mosaic: its area is nodata)")
    echo(f"mosaic of {len(mosaic.tiles)} tiles, {mosaic.width} x {mosaic.height} pixels ({MosaicPaths(out).input_vrt})")
    job = TilePredictor(str(model), MosaicPaths(out).input_vrt, out, opts, engine, device, precision, loader)
    meter = Throughput(len(mosaic.tiles))
    results: list[Any] = []
    bar = tqdm(total=len(mosaic.tiles), unit="tile", disable=not opts.progress or None, leave=False)
    for res in map_items(job, mosaic.tiles, cluster):
        tile = mosaic.tiles[res.index]
        line = meter.add(tile.width * tile.height)
        bar.update(1)
        bar.set_postfix_str(line.split(", ")[-1])
        if res.error is not None:
            errors.append(f"{tile.path.name}: {res.error}")
            warn(f"landseg predict: error: {tile.path.name}: {res.error}")
            continue
        results.append(res.value)
        state = "already done" if res.value.get("skipped") else "done"
        echo(f"{tile.path}: {state} ({line})")
    bar.close()
    finish_mosaic(mosaic, out, results, model, echo, warn, gsd=opts.gsd, stac_datetime=stac_datetime)
    if errors:
        warn(f"landseg predict: {len(errors)} of {len(mosaic.tiles) + len(mosaic.errors)} tiles failed")
    return errors


def finish_mosaic(mosaic: Mosaic, out: Path, results: list[dict[str, Any]], model: str,
                  echo: Callable[[str], None], warn: Callable[[str], None], *, gsd: float | None = None,
                  stac_datetime: Any = None) -> None:
    """The VRT over the class maps, the area table and the STAC catalogue.

    The area table is the sum of the tiles' tables when no two tiles overlap; when some do, a pixel would be
    counted once per tile holding it, so the table is measured on the merged grid (``classes.vrt``, read strip
    by strip: each pixel once) instead, and a note names the overlapping tiles."""
    files = MosaicPaths(out)
    done = [(t, PredictPaths.of(t.path, out).classes) for t in mosaic.tiles]
    done = [(t, p) for t, p in done if p.exists()]
    if not done:
        return
    write_classes_vrt(mosaic, [(raster_info(p), t) for t, p in done], files.vrt)
    echo(f"class maps: {files.vrt} ({len(done)} of {len(mosaic.tiles)} tiles)")
    parts = [r["area_result"] for r in results if "area_result" in r]
    if parts:
        overlaps = mosaic.overlaps([t for t, _ in done])
        if overlaps:
            names = ", ".join(f"{a.path.name} and {b.path.name} ({n:,} px)" for a, b, n in overlaps[:5])
            more = f" and {len(overlaps) - 5} more pairs" if len(overlaps) > 5 else ""
            note = (f"tiles overlap: {names}{more}; the areas are measured on the merged grid "
                    f"({files.vrt.name}), each pixel once")
            warn(f"landseg predict: note: {note}")
            total = class_areas(files.vrt, gsd=gsd, allow_pixels_only=True)
            total.notes.append(note)
        else:
            total = merge_class_areas(parts, raster=str(files.vrt))
        write_text_atomic(files.areas("csv"), total.to_csv(), ".csv")
        write_text_atomic(files.areas("json"), total.to_json(), ".json")
        echo(f"areas of {len(parts)} tiles: {files.areas('csv')}")
    try:
        from landseg.stac import write_catalog  # noqa: PLC0415 - optional extra (pystac)
    except ImportError:
        warn("landseg predict: pystac not installed, no STAC catalogue (pip install 'landseg[stac]')")
        return
    echo(f"STAC catalogue: {write_catalog(out, [t.path for t, _ in done], model=str(model), when=stac_datetime, warn=warn)}")


def write_classes_vrt(mosaic: Mosaic, done: list[tuple[RasterInfo, MosaicTile]], dst: Path) -> Path:
    """A VRT over the tiles' class maps with the first map's colour table and class tags (nodata 255)."""
    first = done[0][0].path
    colormap, tags = colormap_and_tags(first)
    tags = {**tags, "LANDSEG_TILE_SIZE": f"{max(t.width for _, t in done)},{max(t.height for _, t in done)}"}
    write_vrt(dst, [(info, t.col, t.row) for info, t in done], mosaic.width, mosaic.height, mosaic.crs,
              mosaic.transform, nodata=255, colormap=colormap, tags=tags, description="class")
    table = read_class_table(first)
    if table is not None:  # the QGIS legend of class names, as beside each tile
        write_raster_style(dst, class_style_entries(table))
    return dst


__all__ = ["Mosaic", "MosaicTile", "TilePredictor", "build_mosaic", "check_same_grid", "list_tiles",
           "predict_mosaic", "write_classes_vrt"]
