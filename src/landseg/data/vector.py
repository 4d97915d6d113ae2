"""Labels drawn as polygons (``landseg prepare vector``): rasterise them on each image's own grid.

Pixel rule: a pixel gets a polygon's class when its centre lies inside the polygon (rasterio's
``rasterize`` with ``all_touched=False``), so shared borders between polygons are exact and no pixel is
claimed twice by neighbours. Pixels outside every polygon are ignore (sparse labels) unless ``background``
names a class for them. Pixels covered by polygons of different classes are ignore and counted. Labels
in any CRS are reprojected to each image's CRS; images that no polygon labels are skipped with a note.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio.features
import shapely
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from landseg.classes import ClassTable
from landseg.data.prepare import TileSource
from landseg.errors import InputError
from landseg.io.files import atomic_output
from landseg.io.raster import create_raster, is_georeferenced, open_raster, tiled_profile, verify_raster
from landseg.io.vector import read_label_polygons, transform_geoms

RASTER_EXTS = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".jp2", ".vrt")
STRIP = 512


def list_images(spec: str | Path) -> list[Path]:
    """One raster, a folder of rasters or a glob pattern."""
    p = Path(spec)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in RASTER_EXTS and not f.name.startswith("."))
    elif p.exists():
        files = [p]
    else:
        files = sorted(Path(f) for f in glob.glob(str(spec)) if Path(f).suffix.lower() in RASTER_EXTS)
    if not files:
        raise InputError(f"{spec}: no images found (give a GeoTIFF, a folder of them or a glob such as 'tiles/*.tif')")
    return files


def class_values(values: np.ndarray, table: ClassTable, path: Path, field: str) -> np.ndarray:
    """Class index per feature from names or indexes; a value outside the table raises :class:`InputError`."""
    out = np.empty(len(values), np.int64)
    for i, v in enumerate(values):
        v = v.item() if hasattr(v, "item") else v
        if isinstance(v, str) and v.strip() in table.names:
            out[i] = table.names.index(v.strip())
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer() \
                and 0 <= int(v) < table.num_classes:
            out[i] = int(v)
        else:
            raise InputError(f"{path}: feature {i} has {field}={v!r}, which is not a class of the table "
                             f"{table.name!r} (names {', '.join(table.names)} or indexes 0-{table.num_classes - 1}); "
                             "fix the value or the class table")
    return out


def rasterize_labels(image: Path, geoms: np.ndarray, classes: np.ndarray, crs: Any, table: ClassTable,
                     out: Path, background: int | None) -> dict[str, Any]:
    """Write the label raster of ``image`` (uint8, ignore 255) strip by strip; returns its counts."""
    ignore = table.ignore_index
    with open_raster(image) as ds:
        if not is_georeferenced(ds):
            raise InputError(f"{image}: not georeferenced, so polygons cannot be placed on it; give GeoTIFFs with "
                             "a CRS and transform")
        g = transform_geoms(geoms, crs, ds.crs)
        box = shapely.box(*ds.bounds)
        hit = shapely.intersects(g, box)
        g, cls = g[hit], classes[hit]
        prof = tiled_profile(ds.width, ds.height, 1, "uint8", crs=ds.crs, transform=ds.transform, nodata=ignore,
                             compress="deflate")
        counts = np.zeros(256, np.int64)
        overlap = 0
        like = {k: prof[k] for k in ("width", "height", "count", "dtype")}
        with atomic_output(out, verify=lambda p: verify_raster(p, like=like, name=out)) as tmp, \
                create_raster(tmp, prof) as dst:
            for row in range(0, ds.height, STRIP):
                win = Window(0, row, ds.width, min(STRIP, ds.height - row))
                shape = (int(win.height), int(win.width))
                tr = window_transform(win, ds.transform)
                label = np.full(shape, ignore if background is None else background, np.uint8)
                covered = np.zeros(shape, np.uint8)
                for c in np.unique(cls):
                    geo = [x for x in g[cls == c] if x is not None and not x.is_empty]
                    if not geo:
                        continue
                    m = rasterio.features.rasterize(((x, 1) for x in geo), out_shape=shape, transform=tr, fill=0,
                                                    all_touched=False, dtype="uint8").astype(bool)
                    label[m] = c
                    covered += m
                both = covered > 1
                overlap += int(both.sum())
                label[both] = ignore
                counts += np.bincount(label.ravel(), minlength=256)
                dst.write(label[None], window=win)
    labelled = int(counts[: table.num_classes].sum())
    return {"polygons": int(len(g)), "labelled": labelled, "pixels": int(counts.sum()), "overlap": overlap,
            "counts": counts[: table.num_classes].tolist()}


def vector_sources(images: str | Path, dest: str | Path, labels: str | Path, class_field: str, table: ClassTable,
                   background: str | None = None, on_note: Callable[[str], None] | None = None) -> list[TileSource]:
    """Rasterise the polygons of ``labels`` onto every image (into ``DEST/vector_labels/``) and return the
    image/label pairs to prepare. Images without a labelled pixel are left out with a note; when no image
    has one, :class:`InputError` says so."""
    note = on_note or (lambda _: None)
    files = list_images(images)
    labels = Path(labels)
    geoms, values, crs = read_label_polygons(labels, class_field)
    classes = class_values(values, table, labels, class_field)
    bg = table.index_of(background) if background else None
    out_dir = Path(dest) / "vector_labels"
    out_dir.mkdir(parents=True, exist_ok=True)
    sources: list[TileSource] = []
    for f in files:
        out = out_dir / f"{f.stem}.tif"
        rec = rasterize_labels(f, geoms, classes, crs, table, out, bg)
        share = rec["labelled"] / max(rec["pixels"], 1)
        if rec["overlap"]:
            note(f"{f.name}: {rec['overlap']:,} pixels lie in polygons of different classes of {labels.name}; they "
                 "were made ignore (fix the overlapping polygons to label them)")
        if rec["polygons"] == 0 or (bg is None and rec["labelled"] == 0):
            out.unlink(missing_ok=True)
            note(f"{f.name}: no labelled pixel (no polygon of {labels.name} covers a pixel centre); skipped")
            continue
        note(f"{f.name}: {rec['polygons']} polygons, {share:.1%} of the pixels labelled")
        sources.append(TileSource(f.stem, str(f), str(out)))
    if not sources:
        raise InputError(f"{labels}: no polygon labels a pixel of the {len(files)} image(s) ({files[0].name}"
                         f"{', ...' if len(files) > 1 else ''}; labels CRS {crs or 'unknown'}); check that the labels "
                         "and images cover the same place and that the label layer's CRS is set")
    return sources
