"""A STAC catalogue of a prediction's class maps (optional extra ``landseg[stac]``: pystac).

One item per class-map tile: its footprint and bbox in EPSG:4326, its grid (projection extension:
``proj:code``/``proj:epsg``, ``proj:shape``, ``proj:transform``), its classes (classification extension:
``classification:classes`` with value, name and colour hint) and assets: the class map COG, the preview,
the overlay, the area tables and the run record. Written as ``catalog.json`` with self-contained
relative links, so the folder can be moved or served as is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pystac
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.projection import ProjectionExtension
from rasterio.warp import transform_geom

from landseg.dates import parse_datetime
from landseg.errors import InputError
from landseg.io.labels import read_class_table
from landseg.io.raster import open_raster, raster_info
from landseg.layout import MosaicPaths, PredictPaths

ASSETS = {  # asset key -> (the file, of a tile's PredictPaths; media type, roles, title)
    "preview": ("preview", pystac.MediaType.PNG, ["overview"], "class colours, downsampled"),
    "overlay": ("overlay", pystac.MediaType.PNG, ["visual"], "image with the classes blended over it"),
    "areas": ("areas_csv", "text/csv", ["metadata"], "class areas (CSV)"),
    "areas_json": ("areas_json", pystac.MediaType.JSON, ["metadata"], "class areas (JSON)"),
    "predict": ("record", pystac.MediaType.JSON, ["metadata"], "prediction record"),
}


def footprint(info: Any) -> dict[str, Any]:
    """The raster's outline as a GeoJSON polygon in EPSG:4326 (edges densified, so curved in degrees)."""
    t, w, h = info.transform, info.width, info.height
    ring = [(t.c + t.a * x + t.b * y, t.f + t.d * x + t.e * y) for x, y in ((0, 0), (w, 0), (w, h), (0, h), (0, 0))]
    dense = []
    for (x0, y0), (x1, y1) in zip(ring[:-1], ring[1:]):
        dense += [(x0 + (x1 - x0) * k / 8, y0 + (y1 - y0) * k / 8) for k in range(8)]
    dense.append(dense[0])
    return transform_geom(info.crs, "EPSG:4326", {"type": "Polygon", "coordinates": [dense]})


# Tags (any domain GDAL reports by default) that hold an image's acquisition time, most specific first.
DATETIME_TAGS = ("ACQUISITION_DATETIME", "ACQUISITIONDATETIME", "ACQUISITION_DATE", "DATE_ACQUIRED", "DATETIME",
                 "TIFFTAG_DATETIME")


def acquisition_time(image: Path) -> tuple[dt.datetime, str] | None:
    """(time, where it was found) from the input image's metadata tags, or None."""
    try:
        with open_raster(image) as ds:
            tags = {k.upper(): v for k, v in ds.tags().items()}
    except (InputError, OSError):
        return None
    for key in DATETIME_TAGS:
        if tags.get(key):
            try:
                return parse_datetime(tags[key]), f"{key} tag of {image.name}"
            except ValueError:
                continue
    return None


def tile_item(classes_tif: Path, stem: str, when: dt.datetime, source: str = "processing time",
              created: dt.datetime | None = None) -> pystac.Item:
    """The STAC item of one class map; ``when`` is its ``datetime`` and ``source`` says where it came from."""
    info = raster_info(classes_tif)
    geom = footprint(info)
    xs = [p[0] for p in geom["coordinates"][0]]
    ys = [p[1] for p in geom["coordinates"][0]]
    props: dict[str, Any] = {"landseg:kind": "class map", "landseg:datetime_source": source}
    if created is not None:
        props["created"] = created.isoformat().replace("+00:00", "Z")
    item = pystac.Item(id=stem, geometry=geom, bbox=[min(xs), min(ys), max(xs), max(ys)], datetime=when,
                       properties=props)
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    epsg = info.crs.to_epsg()
    proj.apply(code=f"EPSG:{epsg}" if epsg else None, wkt2=None if epsg else info.crs.to_wkt(),
               shape=[info.height, info.width], transform=list(info.transform)[:6])
    table = read_class_table(classes_tif)
    asset = pystac.Asset(href=str(classes_tif), media_type=pystac.MediaType.COG, roles=["data"], title="class map")
    item.add_asset("classes", asset)
    if table is not None:
        cls = [Classification.create(value=i, name=_stac_name(n), description=n,
                                     color_hint="{:02X}{:02X}{:02X}".format(*c))
               for i, (n, c) in enumerate(zip(table.names, table.colors))]
        cls.append(Classification.create(value=255, name="nodata", description="no data", nodata=True))
        ClassificationExtension.ext(asset, add_if_missing=True).classes = cls
    return item


def _stac_name(name: str) -> str:
    """Classification names must match ``^[0-9A-Za-z-_]+$``."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name) or "class"


def write_catalog(out: str | Path, tiles: Sequence[Path], *, model: str = "", title: str | None = None,
                  when: dt.datetime | None = None, warn: Callable[[str], None] | None = None) -> Path:
    """Write ``out/catalog.json`` (self-contained, links relative to each file, whether ``out`` was given relative
    or absolute) with one item per tile whose class map exists.

    Each item's ``datetime`` is ``when`` (the user's ``--datetime``), else the acquisition time in the input tile's
    metadata (:data:`DATETIME_TAGS`), else the processing time, with a ``warn``ing; ``landseg:datetime_source``
    says which, and ``created`` holds the processing time.
    """
    out = Path(out).resolve()  # pystac resolves relative hrefs against the catalogue, not the working folder
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    guessed = []
    cat = pystac.Catalog(id="landseg-classes", title=title or "landseg class maps",
                         description=f"Land-cover class maps predicted by landseg (model {model or 'unknown'})")
    for t in tiles:
        paths = PredictPaths.of(t, out)
        if not paths.classes.exists():
            continue
        found = (when, "--datetime") if when is not None else acquisition_time(Path(t))
        if found is None:
            found = (now, "processing time: the image's metadata holds no acquisition time; pass --datetime")
            guessed.append(Path(t).name)
        item = tile_item(paths.classes.resolve(), Path(t).stem, found[0], found[1], created=now)
        for key, (attr, media, roles, what) in ASSETS.items():
            path: Path = getattr(paths, attr)
            if path.exists():
                item.add_asset(key, pystac.Asset(href=str(path.resolve()), media_type=media, roles=roles, title=what))
        cat.add_item(item)
    if guessed and warn is not None:
        warn(f"landseg predict: note: STAC item datetime of {len(guessed)} tiles ({', '.join(guessed[:3])}"
             f"{', ...' if len(guessed) > 3 else ''}) is the processing time: their metadata holds no acquisition "
             "time; give it with --datetime YYYY-MM-DD")
    cat.normalize_hrefs(str(out))
    cat.make_all_asset_hrefs_relative()
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return MosaicPaths(out).catalog
