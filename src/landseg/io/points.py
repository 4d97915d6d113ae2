"""Point layers (reference samples): write and read GeoPackage/GeoJSON points with pyogrio."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyogrio.raw
import shapely

from landseg.errors import InputError
from landseg.io.styles import LayerStyle, write_gpkg_styles
from landseg.io.vector import reproject_xy, vector_output

DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}


def write_points(path: str | Path, x: np.ndarray, y: np.ndarray, fields: dict[str, np.ndarray],
                 crs_wkt: str | None, layer: str | None = None, styles: Sequence[LayerStyle] = ()) -> Path:
    """Write points with attribute columns, atomically (GeoPackage or GeoJSON by suffix); a GeoPackage
    also gets ``styles`` (QGIS layer styles) before it is renamed into place."""

    path = Path(path)
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise InputError(f"{path}: unsupported point format {path.suffix!r}; use .gpkg or .geojson")
    wkb = shapely.to_wkb(shapely.points(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)))
    with vector_output(path, layer or path.stem) as target:
        pyogrio.raw.write(str(target.path), np.asarray(wkb, dtype=object), list(fields.values()), list(fields.keys()),
                          driver=driver, geometry_type="Point", crs=crs_wkt, layer=layer or path.stem)
        target.features = len(wkb)
        if driver == "GPKG" and styles:
            write_gpkg_styles(target.path, layer or path.stem, styles)
    return path


def read_points(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], str | None]:
    """Read a point layer: (x, y, {field: values}, CRS WKT or None). Non-point features raise."""

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: point file not found")
    try:
        meta, _, wkb, data = pyogrio.raw.read(path)
    except Exception as exc:  # noqa: BLE001 - GDAL/OGR errors: not a readable vector file
        raise InputError(f"{path}: not a readable point file (GeoPackage or GeoJSON expected): {exc}") from None
    if wkb is None or len(wkb) == 0:
        raise InputError(f"{path}: holds no points")
    geoms = shapely.from_wkb(wkb)
    kinds = shapely.get_type_id(geoms)
    if (kinds != 0).any():
        raise InputError(f"{path}: {int((kinds != 0).sum())} features are not points (a reference sample is "
                         "one point per sample unit)")
    fields = {str(name): np.asarray(values) for name, values in zip(meta["fields"], data)}
    return shapely.get_x(geoms), shapely.get_y(geoms), fields, meta.get("crs")


__all__ = ["read_points", "reproject_xy", "write_points"]
