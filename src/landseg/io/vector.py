"""Vector I/O through pyogrio: zones in (polygons from GeoPackage, GeoJSON, Shapefile), features out."""

from __future__ import annotations

import contextlib
import sqlite3
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyogrio.errors
import pyogrio.raw
import shapely
from pyproj import CRS, Transformer

from landseg.errors import InputError, OutputError
from landseg.io.files import atomic_output, free_space, write_failure
from landseg.io.styles import LayerStyle, write_gpkg_styles

VECTOR_FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON"}
"""Output formats of :func:`landseg.vectorize.vectorize` by suffix."""


def read_zones(path: str | Path, zone_id: str | None = None) -> tuple[list[Any], np.ndarray, str | None, str]:
    """Read polygons from a GeoPackage, GeoJSON or Shapefile: (ids, shapely geometries, CRS, id field).

    Without ``zone_id`` the features' FIDs are the ids (field name ``fid``).
    """

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: zone file not found")
    try:
        info = pyogrio.read_info(path)
        fields = [str(f) for f in info["fields"]]
        if zone_id is not None and zone_id not in fields:
            raise InputError(
                f"{path}: no field {zone_id!r} for --zone-id; the fields are: {', '.join(fields) or '(none)'}"
            )
        with warnings.catch_warnings():  # e.g. "Non closed ring detected": such zones are named below
            warnings.simplefilter("ignore", RuntimeWarning)
            meta, fids, wkb, data = pyogrio.raw.read(path, columns=[zone_id] if zone_id else [], return_fids=True)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - GDAL/OGR errors: the file is not a readable vector file
        raise InputError(f"{path}: not a readable zone file (GeoPackage, GeoJSON or Shapefile expected): {exc}") from None
    if wkb is None or len(wkb) == 0:
        raise InputError(f"{path}: holds no features")
    if zone_id:
        ids = [v.item() if hasattr(v, "item") else v for v in data[0]]
    else:
        ids = [int(f) for f in fids]
    geoms = _decode_zones(path, wkb, ids, zone_id or "fid")
    kinds = shapely.get_type_id(geoms)  # 3 Polygon, 6 MultiPolygon, 7 GeometryCollection (may hold polygons)
    if not np.isin(kinds, (3, 6, 7)).any():
        names, counts = np.unique([g.geom_type if g is not None else "no geometry" for g in geoms], return_counts=True)
        found = ", ".join(f"{n} ({c})" for n, c in zip(names, counts))
        raise InputError(f"{path}: zones must be polygons (areas to measure in); this file holds {found}. Buffer "
                         "points or lines into polygons first, or give the parcels' polygon layer")
    return ids, geoms, meta.get("crs"), zone_id or "fid"


def _decode_zones(path: Path, wkb: np.ndarray, ids: list[Any], id_field: str) -> np.ndarray:
    """Shapely geometries of the zones; geometries GEOS cannot build (an unclosed ring, a ring of fewer than 4
    points, ...) raise one :class:`InputError` naming each such zone and what is wrong with it."""
    try:
        return shapely.from_wkb(wkb)
    except (shapely.errors.GEOSException, ValueError, TypeError):
        pass
    bad = []
    for zid, w in zip(ids, wkb):
        try:
            shapely.from_wkb(w)
        except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
            bad.append(f"{id_field} {zid!r}: {str(exc).split(': ', 1)[-1]}")
    listed = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
    raise InputError(f"{path}: {len(bad)} zone{'s' if len(bad) != 1 else ''} with a broken geometry ({listed}); "
                     "repair them (e.g. QGIS Fix geometries, or close each ring by repeating its first point) or "
                     "remove them, then run again")


def read_attributes(path: str | Path, columns: list[str], purpose: str = "") -> dict[str, np.ndarray]:
    """Attribute columns of a vector file, in feature order (the order :func:`read_zones` returns).

    A missing column raises :class:`InputError` naming the file, the column and the columns that exist.
    """

    path = Path(path)
    try:
        fields = [str(f) for f in pyogrio.read_info(path)["fields"]]
    except Exception as exc:  # noqa: BLE001 - GDAL/OGR errors: the file is not a readable vector file
        raise InputError(f"{path}: not a readable vector file: {exc}") from None
    missing = [c for c in columns if c not in fields]
    if missing:
        raise InputError(f"{path}: no column {', '.join(map(repr, missing))}{f' for {purpose}' if purpose else ''}; "
                         f"the columns are: {', '.join(fields) or '(none)'}")
    if not columns:
        return {}
    meta, _, _, data = pyogrio.raw.read(path, columns=columns, read_geometry=False)
    got = {str(f): np.asarray(v) for f, v in zip(meta["fields"], data)}
    return {c: got[c] for c in columns}


def reproject_xy(x: np.ndarray, y: np.ndarray, src: Any, dst: Any) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates from CRS ``src`` to ``dst`` (unchanged when either is None or both are equal)."""
    if src is None or dst is None:
        return x, y
    s, d = CRS.from_user_input(src), CRS.from_user_input(dst)
    if s == d:
        return x, y
    tx, ty = Transformer.from_crs(s, d, always_xy=True).transform(x, y)
    return np.asarray(tx), np.asarray(ty)


def reproject_geometries(geoms: np.ndarray, src: Any, dst: Any) -> np.ndarray:
    """Geometries from CRS ``src`` to CRS ``dst`` (unchanged when both are the same)."""
    return shapely.transform(geoms, lambda c: np.column_stack(reproject_xy(c[:, 0], c[:, 1], src, dst)))


@dataclass
class VectorTarget:
    """The temp file a vector writer writes into (:func:`vector_output`) and how many features it wrote there."""

    path: Path
    features: int = 0


VECTOR_WRITE_ERRORS = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, sqlite3.Error)


@contextlib.contextmanager
def vector_output(path: str | Path, layer: str) -> Iterator[VectorTarget]:
    """The one output path of every vector file (GeoPackage, GeoJSON): a temp file beside ``path``
    (:func:`~landseg.io.files.atomic_output`), then read back (``layer`` must hold the ``features`` the writer
    counted) and renamed. GDAL/OGR and SQLite write failures (full disk, read-only folder) become the one-line
    :class:`OutputError` of the raster and JSON writers (path, what happened, free space); no partial file is left.
    """
    path = Path(path)
    target = VectorTarget(path)

    def verify(tmp: Path) -> None:
        try:
            n = int(pyogrio.read_info(tmp, layer=layer)["features"])
        except Exception as exc:  # noqa: BLE001 - any GDAL error: the written file cannot be read back
            raise OutputError(f"{path}: the written file cannot be read back ({exc}; {free_space(path.parent)}); "
                              "it was not kept") from None
        if n != target.features:
            raise OutputError(f"{path}: the written file holds {n} features, expected {target.features} "
                              f"({free_space(path.parent)}); it was not kept")

    with atomic_output(path, verify=verify) as tmp:
        tmp.unlink()  # GDAL creates the file itself
        target.path = tmp
        try:
            yield target
        except VECTOR_WRITE_ERRORS as exc:
            raise write_failure(path, exc) from None


def write_features(path: Path, geoms: np.ndarray, fields: dict[str, np.ndarray], crs_wkt: str | None,
                   *, layer: str | None = None, append: bool = False, tmp: Path | None = None,
                   masks: list[np.ndarray | None] | None = None, styles: Sequence[LayerStyle] = ()) -> None:
    """Write polygons with attributes to GeoPackage/GeoJSON (atomically unless ``tmp`` is given).

    ``masks`` (one per field, or None) mark the values written as NULL; a GeoPackage also gets
    ``styles`` (QGIS layer styles, :func:`landseg.io.styles.write_gpkg_styles`)."""

    suffix = path.suffix.lower()
    driver = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}.get(suffix)
    if driver is None:
        raise InputError(f"{path}: unsupported vector format {suffix!r}; use .gpkg or .geojson")
    wkb = np.array([None if g is None or g.is_empty else shapely.to_wkb(g) for g in geoms], dtype=object)
    kw: dict[str, Any] = dict(driver=driver, geometry_type="MultiPolygon", crs=crs_wkt, promote_to_multi=True)
    kw["layer"] = layer or path.stem
    if masks is not None and any(m is not None for m in masks):
        kw["field_mask"] = masks
    if tmp is not None:  # inside the caller's vector_output
        pyogrio.raw.write(str(tmp), wkb, list(fields.values()), list(fields.keys()), append=append, **kw)
        if driver == "GPKG" and styles:
            write_gpkg_styles(tmp, kw["layer"], styles)
        return
    with vector_output(path, kw["layer"]) as target:
        pyogrio.raw.write(str(target.path), wkb, list(fields.values()), list(fields.keys()), **kw)
        target.features = len(wkb)
        if driver == "GPKG" and styles:
            write_gpkg_styles(target.path, kw["layer"], styles)


class FeatureWriter:
    """Appends polygons to one layer of a GeoPackage/GeoJSON file, in batches of ``batch`` features
    (opening the file costs tens of milliseconds, so small writes are buffered)."""

    def __init__(self, path: Path, driver: str, crs_wkt: str | None, layer: str, batch: int = 50_000,
                 target: VectorTarget | None = None) -> None:
        self.path, self.driver, self.crs_wkt, self.layer, self.batch = path, driver, crs_wkt, layer, batch
        self.target = target  # counts the features written, for vector_output's check
        self.started = False
        self._buf: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._n = 0

    def add(self, geoms: np.ndarray, cls: np.ndarray, names: np.ndarray, areas: np.ndarray,
            polygon_areas: np.ndarray | None = None) -> None:
        """``areas``: ground area of each object's raster region (``area_m2``); ``polygon_areas``: of the polygon
        as written (``polygon_area_m2``; the same as ``areas`` when not given)."""
        self._buf.append((geoms, cls, names, areas, areas if polygon_areas is None else polygon_areas))
        self._n += len(geoms)
        if self._n >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Write the buffered features (an empty layer if nothing was ever added)."""
        if not self._buf and self.started:
            return
        if self._buf:
            geoms, cls, names, areas, pareas = (np.concatenate(c) for c in zip(*self._buf))
        else:  # nothing at all: an empty layer still makes a valid file
            geoms, cls, names, areas, pareas = (np.array([], dtype=object), np.array([], np.int32),
                                                np.array([], dtype=object), np.array([], np.float64),
                                                np.array([], np.float64))
        pyogrio.raw.write(
            str(self.path), shapely.to_wkb(geoms),
            [cls.astype(np.int32), names.astype(object), areas.astype(np.float64), pareas.astype(np.float64)],
            ["class", "class_name", "area_m2", "polygon_area_m2"], driver=self.driver, geometry_type="Polygon",
            crs=self.crs_wkt, append=self.started, promote_to_multi=False, layer=self.layer,
        )
        self.started = True
        if self.target is not None:
            self.target.features += len(geoms)
        self._buf, self._n = [], 0


def read_label_polygons(path: str | Path, field: str) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Polygons and their ``field`` values from a GeoPackage, GeoJSON or Shapefile: (geometries, values, CRS).

    Features without a polygon geometry are dropped; a missing file, an unreadable file or a missing field
    raises :class:`InputError`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: label file not found")
    attrs = read_attributes(path, [field], purpose="--class-field")
    try:
        meta, _, wkb, _ = pyogrio.raw.read(path, columns=[])
    except Exception as exc:  # noqa: BLE001 - GDAL/OGR errors: not a readable vector file
        raise InputError(f"{path}: not a readable label file (GeoPackage, GeoJSON or Shapefile expected): {exc}") from None
    if wkb is None or len(wkb) == 0:
        raise InputError(f"{path}: holds no features")
    geoms = shapely.from_wkb(wkb)
    keep = np.isin(shapely.get_type_id(geoms), (3, 6, 7))
    if not keep.any():
        raise InputError(f"{path}: labels must be polygons; this file holds no polygon features")
    return geoms[keep], attrs[field][keep], meta.get("crs")


def transform_geoms(geoms: np.ndarray, src: Any, dst: Any) -> np.ndarray:
    """Geometries reprojected from CRS ``src`` to ``dst`` (unchanged when either is unknown or they are equal)."""
    if src is None or dst is None or CRS.from_user_input(src) == CRS.from_user_input(dst):
        return geoms
    tr = Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
