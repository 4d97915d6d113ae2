"""Pure geodesy: the ground area (m²) of the pixels of a raster grid (:func:`pixel_area_source`).

The ground area of a pixel comes from the raster's georeferencing:

* projected CRS in metres or feet: ``|det(affine)|`` times the square of the CRS unit in metres,
  so rotated and skewed grids are exact too (this is the area on the projection plane, which is
  what the CRS measures; for UTM it is within 0.1 % of the ellipsoid area);
* geographic CRS (degrees): the exact area on the CRS's ellipsoid of each cell bounded by two
  parallels and two meridians, per pixel row (rotated grids: per pixel);
* any Mercator projection (Web Mercator included): rows are parallels, so the same exact ellipsoid
  area per row, from the rows' latitudes; never the raw (inflated) Mercator m²;
* no georeferencing: a ground sampling distance given by the caller (``gsd``), else an error.

Areas are asked for strip by strip (:meth:`PixelArea.block`), so memory stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from pyproj import CRS, Transformer

from landseg.errors import InputError
from landseg.io.raster import strip_windows


# ============================================================================ ellipsoid
def _ellipsoid(crs: Any) -> tuple[float, float]:
    ell = crs.ellipsoid
    if ell is None:
        raise InputError(f"CRS {crs.name!r} has no ellipsoid; cannot compute ground areas")
    a = float(ell.semi_major_metre)
    b = float(ell.semi_minor_metre)
    return a, 1.0 - (b / a) ** 2


def _rho(phi: np.ndarray, a: float, e2: float) -> np.ndarray:
    """Ellipsoid area per radian of longitude per radian of latitude: M(φ)·N(φ)·cos φ."""
    s = np.sin(phi)
    return a * a * (1.0 - e2) * np.cos(phi) / (1.0 - e2 * s * s) ** 2


_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


def _band_integral(phi1: np.ndarray, phi2: np.ndarray, a: float, e2: float) -> np.ndarray:
    """∫ρ dφ from phi1 to phi2 (radians, arrays), by Gauss-Legendre on ≤1° pieces.

    Integrating ρ directly (rather than differencing the closed-form antiderivative, which is
    ~10¹³ m²) keeps full relative precision even for centimetre pixels.
    """
    phi1 = np.clip(np.asarray(phi1, dtype=np.float64), -np.pi / 2, np.pi / 2)
    phi2 = np.clip(np.asarray(phi2, dtype=np.float64), -np.pi / 2, np.pi / 2)
    span = np.abs(phi2 - phi1)
    n = max(1, int(math.ceil(float(span.max(initial=0.0)) / math.radians(1.0))))
    total = np.zeros(np.broadcast(phi1, phi2).shape)
    step = (phi2 - phi1) / n
    for k in range(n):
        lo = phi1 + k * step
        half = step / 2
        mid = lo + half
        for x, w in zip(_GL_X, _GL_W):
            total = total + w * _rho(mid + half * x, a, e2)
    return np.abs(total * (step / 2))


def _cell_areas(lam: np.ndarray, phi: np.ndarray, a: float, e2: float) -> np.ndarray:
    """Ellipsoid areas of the quadrilateral cells of a (h+1, w+1) corner grid in lon/lat radians.

    Each cell is split into two triangles, integrated with the edge-midpoint rule (exact for
    quadratics; the relative error is of order (pixel size / Earth radius)², i.e. nil).
    """
    l0 = lam[:-1, :-1]

    def rel(lon: np.ndarray) -> np.ndarray:  # longitude relative to the cell's first corner, unwrapped
        return (lon - l0 + np.pi) % (2 * np.pi) - np.pi

    x = [np.zeros_like(l0), rel(lam[:-1, 1:]), rel(lam[1:, 1:]), rel(lam[1:, :-1])]
    y = [phi[:-1, :-1], phi[:-1, 1:], phi[1:, 1:], phi[1:, :-1]]

    def tri(i: int, j: int, k: int) -> np.ndarray:
        area = 0.5 * np.abs((x[j] - x[i]) * (y[k] - y[i]) - (x[k] - x[i]) * (y[j] - y[i]))
        mean_rho = (_rho((y[i] + y[j]) / 2, a, e2) + _rho((y[j] + y[k]) / 2, a, e2) + _rho((y[k] + y[i]) / 2, a, e2)) / 3
        return area * mean_rho

    return tri(0, 1, 2) + tri(0, 2, 3)


_UNIT_ABBR = {"metre": "m", "meter": "m", "US survey foot": "US ft", "foot": "ft", "degree": "°"}


def _num(x: float) -> str:
    return f"{x:.6g}"


def _crs_label(crs: Any) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


class PixelArea:
    """Ground area (m²) of the pixels of one raster grid; ask for it strip by strip with :meth:`block`.

    ``kind`` is ``projected``, ``geographic``, ``mercator`` or ``gsd``; ``constant`` is the area
    of every pixel when it does not vary over the grid (projected and gsd), else None.
    """

    def __init__(
        self, kind: str, description: str, transform: rasterio.Affine, width: int, height: int, *,
        constant: float | None = None, planar_factor: float | None = None, crs: Any = None,
        notes: Sequence[str] = (),
    ) -> None:
        self.kind = kind
        self.description = description
        self.transform = transform
        self.width = width
        self.height = height
        self.constant = constant
        self.notes = list(notes)
        self._planar_factor = planar_factor  # m² per CRS unit² (projected, gsd)
        self._crs = crs
        self._north_up = transform.b == 0 and transform.d == 0
        if kind in ("geographic", "mercator"):
            self._a, self._e2 = _ellipsoid(crs)
            self._geod = crs.get_geod()
            if kind == "geographic":
                self._rad = float(crs.axis_info[0].unit_conversion_factor)  # radians per CRS unit
            else:

                geo = crs.geodetic_crs
                self._rad = float(geo.axis_info[0].unit_conversion_factor)
                self._to_geo = Transformer.from_crs(crs, geo, always_xy=True)

    # -- per pixel ----------------------------------------------------------------------
    @property
    def metres_per_unit(self) -> float | None:
        """Metres per unit of the raster's coordinates where distances in them are true ground distances
        (projected CRSs other than Mercator, and gsd grids); None for geographic and Mercator grids."""
        if self.kind in ("projected", "gsd") and self._planar_factor:
            return float(np.sqrt(self._planar_factor))
        return None

    def _lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CRS coordinates -> lon/lat in radians."""
        if self.kind == "geographic":
            return x * self._rad, y * self._rad
        lon, lat = self._to_geo.transform(x, y)
        return np.asarray(lon) * self._rad, np.asarray(lat) * self._rad

    def block(self, row_off: int, height: int, col_off: int = 0, width: int | None = None) -> float | np.ndarray:
        """Pixel areas (m²) of a window: a float when uniform, shape (height, 1) when they vary
        by row only (north-up geographic or Mercator grids), else (height, width)."""
        if self.constant is not None:
            return self.constant
        width = self.width - col_off if width is None else width
        t = self.transform
        if self._north_up:
            rows = np.arange(row_off, row_off + height + 1, dtype=np.float64)
            y_edges = t.f + rows * t.e
            x_mid = t.c + (col_off + width / 2) * t.a
            if self.kind == "geographic":
                phi = y_edges * self._rad
                dlam = abs(t.a) * self._rad
            else:
                _, phi = self._lonlat(np.full_like(y_edges, x_mid), y_edges)
                ymid = t.f + (row_off + height / 2) * t.e
                lon, _ = self._lonlat(np.array([x_mid, x_mid + t.a]), np.array([ymid, ymid]))
                dlam = abs((lon[1] - lon[0] + np.pi) % (2 * np.pi) - np.pi)
            return (dlam * _band_integral(phi[:-1], phi[1:], self._a, self._e2))[:, None]
        cols = np.arange(col_off, col_off + width + 1, dtype=np.float64)
        rows = np.arange(row_off, row_off + height + 1, dtype=np.float64)
        cc, rr = np.meshgrid(cols, rows)
        x = t.a * cc + t.b * rr + t.c
        y = t.d * cc + t.e * rr + t.f
        lam, phi = self._lonlat(x, y)
        return _cell_areas(lam, phi, self._a, self._e2)

    def total_m2(self, strip_rows: int | None = None) -> float:
        """Area of the whole grid (m²)."""
        if self.constant is not None:
            return self.constant * self.width * self.height
        total = 0.0
        for win in strip_windows(self.height, self.width, strip_rows):
            b = self.block(win.row_off, win.height)
            total += float(np.sum(b) * (self.width if np.shape(b)[1] == 1 else 1))
        return total

    # -- geometries ---------------------------------------------------------------------
    def geometry_areas(self, geoms: Any) -> np.ndarray:
        """Ground areas (m²) of polygons given in the raster's CRS (geodesic where the CRS is
        geographic or Mercator, planar times the unit's square otherwise)."""
        arr = np.atleast_1d(np.asarray(geoms, dtype=object))
        if self.kind in ("projected", "gsd"):
            return np.nan_to_num(shapely.area(arr).astype(np.float64)) * float(self._planar_factor)  # type: ignore[arg-type]
        deg = self._rad * 180.0 / math.pi
        if self.kind == "geographic":
            ll = shapely.transform(arr, lambda c: c * deg)
        else:
            def fn(c: np.ndarray) -> np.ndarray:
                lon, lat = self._to_geo.transform(c[:, 0], c[:, 1])
                return np.column_stack([lon, lat]) * (self._rad * 180.0 / math.pi)

            ll = shapely.transform(arr, fn)
        out = np.zeros(len(arr))
        for i, g in enumerate(ll):
            if g is not None and not g.is_empty:
                out[i] = abs(self._geod.geometry_area_perimeter(g)[0])
        return out


def pixel_area_source(ds: rasterio.DatasetReader, gsd: float | None = None) -> PixelArea:
    """The ground area of the pixels of ``ds`` (see the module docstring for the rules).

    ``gsd`` (metres) is used only when the raster has no georeferencing; a georeferenced raster
    keeps its own pixel size and the gsd is noted as ignored.
    """

    t = ds.transform
    name = Path(ds.name).name
    if gsd is not None and not (gsd > 0 and math.isfinite(gsd)):
        raise InputError(f"--gsd must be a positive number of metres, got {gsd}")
    if ds.crs is None or t.is_identity:
        return _gsd_area(ds, gsd)
    crs = CRS.from_user_input(ds.crs)
    notes = [f"--gsd {_num(gsd)} ignored: {name} is georeferenced"] if gsd is not None else []
    if crs.is_geographic:
        return _ellipsoidal_area(ds, crs, "geographic", notes)
    op = crs.coordinate_operation
    method = (op.method_name if op is not None else "").lower()
    if crs.is_projected and "mercator" in method and "transverse" not in method and "oblique" not in method:
        return _ellipsoidal_area(ds, crs, "mercator", notes)
    label = _crs_label(crs)
    axes = crs.axis_info
    if not axes or any(ax.unit_name in ("degree", "radian", "grad") for ax in axes[:2]):
        raise InputError(f"{name}: cannot measure areas in CRS {label!r} (axes {[a.unit_name for a in axes]})")
    fx, fy = float(axes[0].unit_conversion_factor), float(axes[1].unit_conversion_factor)
    det = abs(t.a * t.e - t.b * t.d)
    area = det * fx * fy
    unit = _UNIT_ABBR.get(axes[0].unit_name, " " + axes[0].unit_name)
    sx, sy = math.hypot(t.a, t.d), math.hypot(t.b, t.e)
    return PixelArea(
        "projected",
        f"{label}, {_grid(t)}{_num(sx)} {unit.strip()} x {_num(sy)} {unit.strip()} pixels ({_num(area)} m² each)",
        t, ds.width, ds.height, constant=area, planar_factor=fx * fy, crs=crs, notes=notes,
    )


def _grid(t: rasterio.Affine) -> str:
    return "" if (t.b == 0 and t.d == 0) else "rotated/skewed grid, "


def _gsd_area(ds: rasterio.DatasetReader, gsd: float | None) -> PixelArea:
    """Pixel area of a raster without CRS or geotransform: from ``gsd``, else an error."""
    t = ds.transform
    if gsd is None:
        why = ("has a geotransform but no CRS, so its units are unknown" if not t.is_identity
               else "has no georeferencing (no CRS and no geotransform)")
        raise InputError(
            f"{Path(ds.name).name} {why}; pass --gsd METRES (the ground size of one pixel, e.g. --gsd 0.05 for "
            "5 cm ISPRS Potsdam imagery)"
        )
    det = abs(t.a * t.e - t.b * t.d) or 1.0
    area = gsd * gsd
    return PixelArea("gsd", f"--gsd {_num(gsd)} m (no georeferencing): {_num(area)} m² per pixel",
                     t, ds.width, ds.height, constant=area, planar_factor=area / det)


def _ellipsoidal_area(ds: rasterio.DatasetReader, crs: Any, kind: str, notes: list[str]) -> PixelArea:
    """Exact ellipsoid pixel areas of a geographic or Mercator grid, with their description."""
    t = ds.transform
    rotated = not (t.b == 0 and t.d == 0)
    sx, sy = math.hypot(t.a, t.d), math.hypot(t.b, t.e)
    per = "pixel" if rotated else "row"
    pa = PixelArea(kind, "", t, ds.width, ds.height, crs=crs, notes=notes)
    lo, hi = _area_range(pa)
    if kind == "geographic":
        axes = crs.axis_info
        unit = _UNIT_ABBR.get(axes[0].unit_name, " " + axes[0].unit_name)
        pa.description = (
            f"{_crs_label(crs)} (geographic), {_grid(t)}{_num(sx)}{unit} x {_num(sy)}{unit} pixels, exact ellipsoid "
            f"area per {per} on {crs.ellipsoid.name} ({_num(lo)}–{_num(hi)} m² each)"
        )
    else:
        pa.description = (
            f"{_crs_label(crs)} ({crs.coordinate_operation.method_name}), {_grid(t)}{_num(sx)} x {_num(sy)} nominal "
            f"Mercator units per pixel; true ground area per {per} on {crs.ellipsoid.name} "
            f"({_num(lo)}–{_num(hi)} m² each, not the raw Mercator {_num(sx * sy)} m²)"
        )
    return pa


def _area_range(pa: PixelArea) -> tuple[float, float]:
    """Smallest and largest pixel area, from the first and last rows (area varies monotonically
    with latitude over any practical raster)."""
    vals = np.concatenate([np.ravel(pa.block(0, 1)), np.ravel(pa.block(pa.height - 1, 1))])
    return float(vals.min()), float(vals.max())


# ============================================================================ tallies
def weighted_count(codes: np.ndarray, nbins: int, areas: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel counts and summed pixel areas per code for one strip."""
    if np.ndim(areas) == 0:
        # count in chunks of ~256 K pixels: bincount casts to intp, and a small cast buffer stays
        # in cache and is reused, where one the size of the strip is paged in afresh every time
        step = max(1, (1 << 18) // max(codes.shape[1], 1))
        counts = np.zeros(nbins, dtype=np.int64)
        for r in range(0, codes.shape[0], step):
            counts += np.bincount(codes[r:r + step].ravel(), minlength=nbins)
        return counts, counts * float(areas)
    flat = codes.ravel()
    areas = np.asarray(areas)
    if areas.shape[1] == 1:  # per-row areas: count (row, code) pairs, then weight rows
        h = codes.shape[0]
        key = (np.arange(h, dtype=np.int64)[:, None] * nbins + codes).ravel()
        per_row = np.bincount(key, minlength=h * nbins).reshape(h, nbins)
        return per_row.sum(axis=0), areas[:, 0] @ per_row
    counts = np.bincount(flat, minlength=nbins)
    return counts, np.bincount(flat, weights=areas.ravel(), minlength=nbins)
