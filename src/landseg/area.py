"""Class areas in real units: per class, per zone, per connected object, and against the truth.

The ground area of a pixel comes from the raster's georeferencing (:func:`pixel_area_source`):

* projected CRS in metres or feet: ``|det(affine)|`` times the square of the CRS unit in metres,
  so rotated and skewed grids are exact too (this is the area on the projection plane, which is
  what the CRS measures; for UTM it is within 0.1 % of the ellipsoid area);
* geographic CRS (degrees): the exact area on the CRS's ellipsoid of each cell bounded by two
  parallels and two meridians, per pixel row (rotated grids: per pixel);
* any Mercator projection (Web Mercator included): rows are parallels, so the same exact ellipsoid
  area per row, from the rows' latitudes; never the raw (inflated) Mercator m²;
* no georeferencing: a ground sampling distance given by the caller (``gsd``), else an error.

Everything is read in strips of rows, so memory stays bounded on rasters far larger than memory.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import rasterio
import shapely
from rasterio.enums import MaskFlags
from rasterio.windows import Window

from landseg.classes import IGNORE_INDEX, ClassTable, load_class_table
from landseg.errors import ClassTableError, InputError
from landseg.io.files import atomic_output
from landseg.io.raster import label_kind, open_raster, palette_array, read_window

CLASS_TABLE_TAG = "LANDSEG_CLASS_TABLE"
"""GeoTIFF metadata tag in which landseg stores ``ClassTable.to_dict()`` as JSON."""

DEFAULT_STRIP_PIXELS = 1 << 22  # ~4 M pixels per strip: a few tens of MB of temporaries at most

UNITS: dict[str, tuple[float, str, int]] = {
    # name: (m² per unit, label, decimals shown)
    "m2": (1.0, "m²", 2),
    "ha": (1e4, "ha", 4),
    "km2": (1e6, "km²", 6),
    "ft2": (0.09290304, "ft²", 1),  # international foot
    "acre": (4046.8564224, "acre", 4),  # international acre
}

COVERAGE_RULE = (
    "exact fractional coverage: each pixel counts with the share of its area inside the zone "
    "(polygon ∩ pixel square, computed exactly), so a zone's class areas plus its nodata area add up "
    "to the zone's area inside the raster; covered share = zone area inside the raster / zone area; "
    "overlapping zones each count the pixels they share"
)

_UNKNOWN = 254  # LUT sentinel: a raster value outside the class table (never a class index)
_MASKED = 256  # code for pixels masked out by nodata/alpha (beyond the 0-255 value range)
_NBINS = 257


# ============================================================================ pixel areas
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

    def rel(l: np.ndarray) -> np.ndarray:  # longitude relative to the cell's first corner, unwrapped
        return (l - l0 + np.pi) % (2 * np.pi) - np.pi

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
                from pyproj import Transformer

                geo = crs.geodetic_crs
                self._rad = float(geo.axis_info[0].unit_conversion_factor)
                self._to_geo = Transformer.from_crs(crs, geo, always_xy=True)

    # -- per pixel ----------------------------------------------------------------------
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
        for win in _strip_windows(self.height, self.width, strip_rows):
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
    from pyproj import CRS

    t = ds.transform
    W, H = ds.width, ds.height
    name = Path(ds.name).name
    if gsd is not None and not (gsd > 0 and math.isfinite(gsd)):
        raise InputError(f"--gsd must be a positive number of metres, got {gsd}")
    has_transform = not t.is_identity
    if ds.crs is None or not has_transform:
        if gsd is None:
            why = ("has a geotransform but no CRS, so its units are unknown" if has_transform
                   else "has no georeferencing (no CRS and no geotransform)")
            raise InputError(
                f"{name} {why}; pass --gsd METRES (the ground size of one pixel, e.g. --gsd 0.05 for "
                "5 cm ISPRS Potsdam imagery)"
            )
        det = abs(t.a * t.e - t.b * t.d) or 1.0
        area = gsd * gsd
        return PixelArea("gsd", f"--gsd {_num(gsd)} m (no georeferencing): {_num(area)} m² per pixel",
                         t, W, H, constant=area, planar_factor=area / det)
    crs = CRS.from_user_input(ds.crs)
    notes = [f"--gsd {_num(gsd)} ignored: {name} is georeferenced"] if gsd is not None else []
    label = _crs_label(crs)
    rotated = not (t.b == 0 and t.d == 0)
    sx, sy = math.hypot(t.a, t.d), math.hypot(t.b, t.e)
    grid = "rotated/skewed grid, " if rotated else ""
    axes = crs.axis_info
    if crs.is_geographic:
        pa = PixelArea("geographic", "", t, W, H, crs=crs, notes=notes)
        lo, hi = _area_range(pa)
        unit = _UNIT_ABBR.get(axes[0].unit_name, " " + axes[0].unit_name)
        pa.description = (
            f"{label} (geographic), {grid}{_num(sx)}{unit} x {_num(sy)}{unit} pixels, exact ellipsoid area "
            f"per {'pixel' if rotated else 'row'} on {crs.ellipsoid.name} ({_num(lo)}–{_num(hi)} m² each)"
        )
        return pa
    op = crs.coordinate_operation
    method = (op.method_name if op is not None else "").lower()
    if crs.is_projected and "mercator" in method and "transverse" not in method and "oblique" not in method:
        pa = PixelArea("mercator", "", t, W, H, crs=crs, notes=notes)
        lo, hi = _area_range(pa)
        pa.description = (
            f"{label} ({op.method_name}), {grid}{_num(sx)} x {_num(sy)} nominal Mercator units per pixel; "
            f"true ground area per {'pixel' if rotated else 'row'} on {crs.ellipsoid.name} "
            f"({_num(lo)}–{_num(hi)} m² each, not the raw Mercator {_num(sx * sy)} m²)"
        )
        return pa
    if not axes or any(ax.unit_name in ("degree", "radian", "grad") for ax in axes[:2]):
        raise InputError(f"{name}: cannot measure areas in CRS {label!r} (axes {[a.unit_name for a in axes]})")
    fx, fy = float(axes[0].unit_conversion_factor), float(axes[1].unit_conversion_factor)
    det = abs(t.a * t.e - t.b * t.d)
    area = det * fx * fy
    unit = _UNIT_ABBR.get(axes[0].unit_name, " " + axes[0].unit_name)
    return PixelArea(
        "projected",
        f"{label}, {grid}{_num(sx)} {unit.strip()} x {_num(sy)} {unit.strip()} pixels ({_num(area)} m² each)",
        t, W, H, constant=area, planar_factor=fx * fy, crs=crs, notes=notes,
    )


def _area_range(pa: PixelArea) -> tuple[float, float]:
    """Smallest and largest pixel area, from the first and last rows (area varies monotonically
    with latitude over any practical raster)."""
    vals = np.concatenate([np.ravel(pa.block(0, 1)), np.ravel(pa.block(pa.height - 1, 1))])
    return float(vals.min()), float(vals.max())


# ============================================================================ reading labels
def _strip_windows(height: int, width: int, strip_rows: int | None = None, block_rows: int = 1) -> Iterator[Window]:
    if strip_rows is None:
        strip_rows = max(1, DEFAULT_STRIP_PIXELS // max(width, 1))
        if 1 < block_rows < height and strip_rows > block_rows:
            strip_rows -= strip_rows % block_rows
    strip_rows = max(1, int(strip_rows))
    for r in range(0, height, strip_rows):
        yield Window(0, r, width, min(strip_rows, height - r))


def _strips(ds: rasterio.DatasetReader, strip_rows: int | None = None) -> Iterator[Window]:
    return _strip_windows(ds.height, ds.width, strip_rows, ds.block_shapes[0][0])


def table_from_raster(ds: rasterio.DatasetReader) -> ClassTable | None:
    """The class table landseg embedded in a class GeoTIFF (tag :data:`CLASS_TABLE_TAG`), if any."""
    text = ds.tags().get(CLASS_TABLE_TAG)
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ClassTableError(f"{ds.name}: the {CLASS_TABLE_TAG} tag is not valid JSON ({exc})") from None
    return ClassTable.from_dict(data, source=f"{ds.name} ({CLASS_TABLE_TAG} tag)")


def resolve_table(ds: rasterio.DatasetReader, table: str | Path | ClassTable | None) -> ClassTable:
    """``table`` if given (preset, file or table), else the table embedded in the raster."""
    if table is not None:
        return load_class_table(table)
    embedded = table_from_raster(ds)
    if embedded is None:
        raise InputError(
            f"{Path(ds.name).name}: no class table: the raster is not a landseg class map with an embedded "
            "table; pass --class-table (a preset: isprs, dubai; or a YAML/JSON file)"
        )
    return embedded


class LabelReader:
    """Reads class indices strip by strip from a class map or label raster (index, palette, RGB).

    :meth:`codes` gives raw codes (0-255, or 256 for masked pixels) that map to class indices through
    ``lut`` (255 for nodata/ignore, 254 for values outside the table); counting raw codes first and
    mapping the counts is the fast path of :func:`class_areas`.
    """

    def __init__(self, ds: rasterio.DatasetReader, table: ClassTable, source: str | None = None) -> None:
        self.ds = ds
        self.table = table
        self.source = source or ds.name
        dtype = np.dtype(ds.dtypes[0])
        if dtype.kind not in "ui":
            raise ClassTableError(
                f"{self.source}: {dtype} data is not a class map; expected integer class indices (a landseg "
                "class GeoTIFF or an index label) or an 8-bit colour label"
            )
        self.dtype = dtype
        self.kind = label_kind(ds)
        if self.kind == "rgb" and dtype != np.uint8:
            raise ClassTableError(f"{self.source}: a colour label must be 8-bit, got {dtype}")
        flags = ds.mask_flag_enums[0]
        self.masked = MaskFlags.per_dataset in flags or MaskFlags.alpha in flags
        self.nodata = ds.nodata
        if self.nodata is not None and (not math.isfinite(self.nodata) or self.nodata != int(self.nodata)):
            self.nodata = None  # a float nodata cannot occur in integer data
        nc = table.num_classes
        lut = np.full(_NBINS, _UNKNOWN, dtype=np.uint8)
        self.palette: np.ndarray | None = None
        if self.kind == "palette":
            self.palette = palette_array(ds)
            colour_index = {tuple(c): i for i, c in enumerate(table.colors)}
            colour_index.update({tuple(c): IGNORE_INDEX for c in table.ignore_colors})
            for k in range(256):
                lut[k] = colour_index.get(tuple(int(v) for v in self.palette[k]), _UNKNOWN)
        else:  # index values, or class indices from rgb_to_index
            lut[:nc] = np.arange(nc, dtype=np.uint8)
            lut[IGNORE_INDEX] = IGNORE_INDEX
        if self.nodata is not None and self.kind != "rgb" and 0 <= self.nodata <= 255:
            lut[int(self.nodata)] = IGNORE_INDEX
        lut[_MASKED] = IGNORE_INDEX
        self.lut = lut

    def _mask(self, window: Window) -> np.ndarray | None:
        if not self.masked:
            return None
        return self.ds.read_masks(1, window=window) == 0

    def codes(self, window: Window) -> np.ndarray:
        """Raw codes of a window: uint8, or uint16 with 256 where pixels are masked/nodata."""
        ds = self.ds
        if self.kind == "rgb":
            data = read_window(ds, window, indexes=[1, 2, 3])
            rgb = np.moveaxis(data, 0, -1)
            off = np.zeros(rgb.shape[:2], dtype=bool)
            if self.nodata is not None:
                off |= np.all(data == self.nodata, axis=0)
            m = self._mask(window)
            if m is not None:
                off |= m
            if off.any():
                rgb = rgb.copy()
                rgb[off] = self.table.colors[0]
            index = self.table.rgb_to_index(rgb, source=self.source)
            if off.any():
                index[off] = IGNORE_INDEX
            return index
        data = read_window(ds, window, indexes=1)
        off = self._mask(window)
        if data.dtype != np.uint8:
            out_of_range = (data < 0) | (data > 255)
            if self.nodata is not None:
                is_nodata = data == self.nodata
                out_of_range &= ~is_nodata
                if not (0 <= self.nodata <= 255):
                    off = is_nodata if off is None else off | is_nodata
            if out_of_range.any():
                vals, counts = np.unique(data[out_of_range], return_counts=True)
                self._raise_unknown(vals, counts)
            data = data.astype(np.uint16 if off is not None else np.uint8)
        if off is not None and off.any():
            data = data.astype(np.uint16, copy=False)
            data[off] = _MASKED
        return data

    def index(self, window: Window) -> np.ndarray:
        """Class indices (uint8) of a window, 255 for nodata/ignore; values outside the table raise."""
        codes = self.codes(window)
        cls = self.lut[codes]
        bad = cls == _UNKNOWN
        if bad.any():
            vals, counts = np.unique(codes[bad], return_counts=True)
            self._raise_unknown(vals, counts)
        return cls

    def check_counts(self, code_counts: np.ndarray) -> None:
        """Raise if any counted code is outside the table."""
        bad = np.nonzero((self.lut == _UNKNOWN) & (code_counts > 0))[0]
        if bad.size:
            self._raise_unknown(bad, code_counts[bad])

    def _raise_unknown(self, values: np.ndarray, counts: np.ndarray) -> None:
        order = np.argsort(-np.asarray(counts))[:6]
        t = self.table
        if self.kind == "palette":
            assert self.palette is not None
            desc = ", ".join(f"index {int(values[i])} = {tuple(int(v) for v in self.palette[int(values[i])])}: "
                             f"{int(counts[i])} px" for i in order)
            raise ClassTableError(
                f"{self.source}: {int(np.sum(counts))} pixels have palette colours outside the {t.name!r} class "
                f"table ({desc}); pass the class table the label was drawn with (--class-table)"
            )
        nodata = f", nodata {self.nodata:g}" if self.nodata is not None else ""
        desc = ", ".join(f"{int(values[i])}: {int(counts[i])} px" for i in order)
        raise ClassTableError(
            f"{self.source}: values outside the {t.name!r} class table (valid 0-{t.num_classes - 1}, "
            f"{t.ignore_index} for ignore{nodata}): {desc}; is this a class map, and is --class-table the "
            "table it was made with?"
        )


def _weighted_count(codes: np.ndarray, nbins: int, areas: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel counts and summed pixel areas per code for one strip."""
    if np.ndim(areas) == 0:
        # count in chunks of ~256 K pixels: bincount casts to intp, and a small cast buffer stays
        # in cache and is reused, where one the size of the strip is paged in afresh every time
        step = max(1, (1 << 18) // max(codes.shape[1], 1))
        counts = np.zeros(nbins, dtype=np.int64)
        for r in range(0, codes.shape[0], step):
            counts += np.bincount(codes[r:r + step].ravel(), minlength=nbins)
        return counts, counts * float(areas)  # type: ignore[arg-type]
    flat = codes.ravel()
    areas = np.asarray(areas)
    if areas.shape[1] == 1:  # per-row areas: count (row, code) pairs, then weight rows
        h = codes.shape[0]
        key = (np.arange(h, dtype=np.int64)[:, None] * nbins + codes).ravel()
        per_row = np.bincount(key, minlength=h * nbins).reshape(h, nbins)
        return per_row.sum(axis=0), areas[:, 0] @ per_row
    counts = np.bincount(flat, minlength=nbins)
    return counts, np.bincount(flat, weights=areas.ravel(), minlength=nbins)


# ============================================================================ formatting
def _unit(units: str) -> tuple[float, str, int]:
    key = (units or "m2").lower().replace("²", "2")
    if key not in UNITS:
        raise InputError(f"unknown unit {units!r}; use one of {', '.join(UNITS)}")
    return UNITS[key]


def unit_columns(units: str) -> list[str]:
    """Area units shown in tables: m² and ha by default, else the one requested."""
    key = (units or "m2").lower().replace("²", "2")
    _unit(key)
    return ["m2", "ha"] if key == "m2" else [key]


@dataclass
class _Col:
    header: str
    kind: str  # str | int | px | area:<unit> | pct
    key: str = ""  # CSV header (machine-friendly); defaults to a slug of the header

    def csv_key(self) -> str:
        if self.key:
            return self.key
        h = self.header.replace("m²", "m2").replace("km²", "km2").replace("ft²", "ft2")
        h = h.replace(" (", "_").replace(")", "").replace(" ", "_")
        return h + ("_pct" if self.kind == "pct" else "")


def _cell(value: Any, kind: str, for_csv: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "" if for_csv else "n/a"
    if kind == "str":
        return str(value)
    if kind == "int":
        return str(int(value)) if for_csv else f"{int(value):,}"
    if kind == "px":
        return f"{value:.4f}".rstrip("0").rstrip(".") if for_csv else f"{value:,.2f}"
    if kind == "pct":
        return f"{float(value) * 100:.4f}" if for_csv else f"{value * 100:.2f} %"
    if kind.startswith("area:"):
        factor, _, dec = _unit(kind[5:])
        v = float(value) / factor
        return repr(float(f"{v:.12g}")) if for_csv else f"{v:,.{dec}f}"
    raise ValueError(kind)


def render_table(fmt: str, cols: Sequence[_Col], rows: Sequence[Sequence[Any]], *, title: str = "",
                 footer: Sequence[str] = ()) -> str:
    """Render rows as an aligned text table, a Markdown table or CSV (no title/footer in CSV)."""
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([c.csv_key() for c in cols])
        for r in rows:
            w.writerow([_cell(v, c.kind, True) for v, c in zip(r, cols)])
        return buf.getvalue()
    cells = [[_cell(v, c.kind, False) for v, c in zip(r, cols)] for r in rows]
    if fmt == "markdown":
        lines = [f"**{title}**", ""] if title else []
        lines.append("| " + " | ".join(c.header for c in cols) + " |")
        lines.append("|" + "|".join("---" if c.kind == "str" else "---:" for c in cols) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in cells]
        if footer:
            lines += [""] + [f"{f}  " for f in footer]
        return "\n".join(lines) + "\n"
    if fmt != "table":
        raise InputError(f"unknown format {fmt!r}; use table, csv, json or markdown")
    widths = [max([len(c.header)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]

    def line(vals: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) if c.kind == "str" else v.rjust(w) for v, w, c in zip(vals, widths, cols)).rstrip()

    lines = [title] if title else []
    lines.append(line([c.header for c in cols]))
    lines.append("  ".join("-" * w for w in widths))
    lines += [line(r) for r in cells]
    lines += list(footer)
    return "\n".join(lines) + "\n"


def _area_cols(units: str, prefix: str = "area") -> list[_Col]:
    return [_Col(f"{prefix} ({UNITS[u][1]})", f"area:{u}") for u in unit_columns(units)]


def _areas_in(value_m2: float, units: str) -> dict[str, float | None]:
    """Areas for JSON: m², ha and the requested unit; None where the area is unknown (NaN)."""
    v = float(value_m2)
    if not math.isfinite(v):
        return {"area_m2": None, "area_ha": None, **({f"area_{units}": None} if units not in ("m2", "ha") else {})}
    out: dict[str, float | None] = {"area_m2": v, "area_ha": v / 1e4}
    key = (units or "m2").lower()
    if key not in ("m2", "ha"):
        out[f"area_{key}"] = v / _unit(key)[0]
    return out


class _Report:
    """Shared ``format``/``to_*`` helpers; subclasses provide ``_table`` and ``to_dict``."""

    def _table(self, units: str) -> tuple[str, list[_Col], list[list[Any]], list[str]]:
        raise NotImplementedError

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        raise NotImplementedError

    def to_text(self, units: str = "m2") -> str:
        title, cols, rows, footer = self._table(units)
        return render_table("table", cols, rows, title=title, footer=footer)

    def to_markdown(self, units: str = "m2") -> str:
        title, cols, rows, footer = self._table(units)
        return render_table("markdown", cols, rows, title=title, footer=footer)

    def to_csv(self, units: str = "m2") -> str:
        _, cols, rows, _ = self._table(units)
        return render_table("csv", cols, rows)

    def to_json(self, units: str = "m2") -> str:
        return json.dumps(self.to_dict(units), indent=2, ensure_ascii=False) + "\n"

    def format(self, fmt: str = "table", units: str = "m2") -> str:
        """``fmt`` is table, csv, json or markdown."""
        if fmt == "json":
            return self.to_json(units)
        if fmt == "csv":
            return self.to_csv(units)
        if fmt == "markdown":
            return self.to_markdown(units)
        if fmt == "table":
            return self.to_text(units)
        raise InputError(f"unknown format {fmt!r}; use table, csv, json or markdown")

    def write(self, path: str | Path, fmt: str | None = None, units: str = "m2") -> Path:
        """Write atomically; the format follows ``fmt`` or the suffix (.csv, .json, .md, else table)."""
        path = Path(path)
        fmt = fmt or {".csv": "csv", ".json": "json", ".md": "markdown"}.get(path.suffix.lower(), "table")
        text = self.format(fmt, units)
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path


# ============================================================================ class areas
@dataclass
class ClassArea:
    index: int
    name: str
    pixels: int
    area_m2: float
    share: float  # of the valid (non-nodata) area, 0-1


@dataclass
class AreaResult(_Report):
    """Per-class areas of one raster. ``classes`` holds the selected classes only; ``valid_m2`` is
    the area of all classes (nodata and ignore excluded)."""

    raster: str
    table: ClassTable
    pixel_area: str
    classes: list[ClassArea]
    valid_pixels: int
    valid_m2: float
    nodata_pixels: int
    nodata_m2: float
    restricted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def total_m2(self) -> float:
        return float(sum(c.area_m2 for c in self.classes))

    @property
    def total_pixels(self) -> int:
        return int(sum(c.pixels for c in self.classes))

    def area_of(self, name: str) -> float:
        for c in self.classes:
            if c.name == name:
                return c.area_m2
        raise KeyError(name)

    def _table(self, units: str) -> tuple[str, list[_Col], list[list[Any]], list[str]]:
        ucols = unit_columns(units)
        cols = [_Col("class", "str"), _Col("pixels", "int"), *_area_cols(units), _Col("share", "pct")]
        rows: list[list[Any]] = [[c.name, c.pixels, *[c.area_m2] * len(ucols), c.share] for c in self.classes]
        share = float(sum(c.share for c in self.classes))
        rows.append(["total (selected)" if self.restricted else "total", self.total_pixels,
                     *[self.total_m2] * len(ucols), share])
        if self.restricted:
            rows.append(["all classes", self.valid_pixels, *[self.valid_m2] * len(ucols), 1.0 if self.valid_m2 else 0.0])
        footer = [f"pixel area: {self.pixel_area}"]
        if self.nodata_pixels:
            m2 = f" ({self.nodata_m2:,.2f} m²)" if math.isfinite(self.nodata_m2) else ""
            footer.append(f"nodata/ignore: {self.nodata_pixels:,} pixels{m2}, not in the shares")
        footer += [f"note: {n}" for n in self.notes]
        return f"Class areas of {Path(self.raster).name} (table {self.table.name!r})", cols, rows, footer

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        return {
            "raster": str(self.raster),
            "class_table": self.table.name,
            "pixel_area": self.pixel_area,
            "units": units,
            "classes": [{"index": c.index, "name": c.name, "pixels": c.pixels, **_areas_in(c.area_m2, units),
                         "share": c.share} for c in self.classes],
            "total": {"pixels": self.total_pixels, **_areas_in(self.total_m2, units),
                      "share": float(sum(c.share for c in self.classes))},
            "valid": {"pixels": self.valid_pixels, **_areas_in(self.valid_m2, units)},
            "nodata": {"pixels": self.nodata_pixels, **_areas_in(self.nodata_m2, units)},
            "notes": list(self.notes),
        }


def class_areas(
    raster: str | Path, table: str | Path | ClassTable | None = None, *, gsd: float | None = None,
    classes: str | Sequence[str] | None = None, strip_rows: int | None = None, allow_pixels_only: bool = False,
) -> AreaResult:
    """Area of each class of a class map or label raster, read strip by strip.

    Args:
        raster: a landseg class GeoTIFF (its table is embedded) or any index/palette/colour label raster.
        table: class table (preset name, file or :class:`ClassTable`); overrides the embedded one.
        gsd: pixel size in metres, for rasters without georeferencing.
        classes: restrict the listed classes (comma-separated names or a list); shares stay
            relative to the whole valid area.
        strip_rows: rows per read (default: about 4 M pixels per strip).
        allow_pixels_only: for a raster without georeferencing and no ``gsd``, return pixel counts
            and shares with unknown (NaN; empty/null in the outputs) areas instead of raising.

    Nodata pixels (the raster's nodata value or mask) and the ignore index 255 are left out of the
    valid area. Float rasters and values outside the table raise :class:`ClassTableError`.
    """
    path = Path(raster)
    with open_raster(path) as ds:
        tbl = resolve_table(ds, table)
        selected = tbl.indices_of(classes)
        try:
            pa = pixel_area_source(ds, gsd)
            unknown_area = False
        except InputError:
            if not allow_pixels_only or not (ds.crs is None or ds.transform.is_identity):
                raise
            pa = PixelArea("pixels", "no georeferencing and no --gsd: pixel counts only, areas unknown",
                           ds.transform, ds.width, ds.height, constant=1.0, planar_factor=1.0)
            unknown_area = True
        reader = LabelReader(ds, tbl, str(path))
        counts = np.zeros(_NBINS, dtype=np.int64)
        areas = np.zeros(_NBINS, dtype=np.float64)
        for win in _strips(ds, strip_rows):
            c, a = _weighted_count(reader.codes(win), _NBINS, pa.block(win.row_off, win.height))
            counts += c
            areas += a
        reader.check_counts(counts)
    lut = reader.lut.astype(np.intp)
    class_px = np.zeros(256, dtype=np.int64)
    np.add.at(class_px, lut, counts)
    class_m2 = np.bincount(lut, weights=areas, minlength=256)
    nc = tbl.num_classes
    valid_px, valid_m2 = int(class_px[:nc].sum()), float(class_m2[:nc].sum())
    rows = [ClassArea(i, tbl.names[i], int(class_px[i]), float(class_m2[i]),
                      float(class_m2[i] / valid_m2) if valid_m2 else 0.0) for i in selected]
    notes = list(pa.notes)
    if valid_px == 0:
        notes.append("the raster holds no valid pixels (all nodata/ignore)")
    if unknown_area:  # shares are pixel shares (exact for a uniform grid); areas unknown
        for r in rows:
            r.area_m2 = math.nan
        class_m2[:] = math.nan
        valid_m2 = math.nan
    return AreaResult(str(path), tbl, pa.description, rows, valid_px, valid_m2, int(class_px[IGNORE_INDEX]),
                      float(class_m2[IGNORE_INDEX]), restricted=len(selected) < nc, notes=notes)


# ============================================================================ zones
def read_zones(path: str | Path, zone_id: str | None = None) -> tuple[list[Any], np.ndarray, str | None, str]:
    """Read polygons from a GeoPackage, GeoJSON or Shapefile: (ids, shapely geometries, CRS, id field).

    Without ``zone_id`` the features' FIDs are the ids (field name ``fid``).
    """
    import pyogrio
    import pyogrio.raw

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
        meta, fids, wkb, data = pyogrio.raw.read(path, columns=[zone_id] if zone_id else [], return_fids=True)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - GDAL/OGR errors: the file is not a readable vector file
        raise InputError(f"{path}: not a readable zone file (GeoPackage, GeoJSON or Shapefile expected): {exc}") from None
    if wkb is None or len(wkb) == 0:
        raise InputError(f"{path}: holds no features")
    geoms = shapely.from_wkb(wkb)
    if zone_id:
        ids = [v.item() if hasattr(v, "item") else v for v in data[0]]
    else:
        ids = [int(f) for f in fids]
    return ids, geoms, meta.get("crs"), zone_id or "fid"


def _reproject(geoms: np.ndarray, src: Any, dst: Any) -> np.ndarray:
    from pyproj import CRS, Transformer

    s, d = CRS.from_user_input(src), CRS.from_user_input(dst)
    if s == d:
        return geoms
    tr = Transformer.from_crs(s, d, always_xy=True)

    def fn(c: np.ndarray) -> np.ndarray:
        x, y = tr.transform(c[:, 0], c[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def _polygonal(g: Any) -> Any:
    """The polygonal part of a geometry (make_valid can return collections with lines/points)."""
    if g is None or g.is_empty:
        return None
    tid = shapely.get_type_id(g)
    if tid in (3, 6):
        return g
    if tid == 7:
        parts = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (3, 6)]
        return shapely.union_all(parts) if parts else None
    return None


def _to_pixels(geom: Any, t: rasterio.Affine) -> Any:
    inv = ~t
    return shapely.affinity.affine_transform(geom, [inv.a, inv.b, inv.d, inv.e, inv.c, inv.f])


def _integer_crossings(a1: np.ndarray, a2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(edge index, parameter t in (0, 1)) of every point where edges a1->a2 cross an integer."""
    lo, hi = np.minimum(a1, a2), np.maximum(a1, a2)
    first = np.floor(lo) + 1
    n = np.maximum(np.ceil(hi) - np.floor(lo) - 1, 0).astype(np.int64)
    edge = np.repeat(np.arange(len(a1)), n)
    k = first[edge] + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    return edge, (k - a1[edge]) / (a2 - a1)[edge]


def pixel_coverage(geom: Any, row_off: int, col_off: int, height: int, width: int) -> np.ndarray:
    """Exact fraction (0-1) of each pixel of a window covered by a polygon given in pixel coordinates.

    Green's theorem, cell by cell: the edges are cut where they cross a pixel row or column line;
    a piece in column j contributes ``dx * (y - row)`` to the pixel it runs through and ``dx`` to
    every pixel of the column on the other side of it, which sums to the polygon's area in each
    pixel exactly (up to floating point), in time linear in the pieces and the window's pixels.
    Parts of the polygon outside the window's columns are ignored; rows outside it are handled.
    """
    frac = np.zeros((height, width))
    g = shapely.orient_polygons(geom) if hasattr(shapely, "orient_polygons") else geom
    rings = shapely.get_rings(shapely.get_parts(g))
    if len(rings) == 0:
        return frac
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    x1, y1 = xy[:-1, 0][same] - col_off, xy[:-1, 1][same] - row_off
    x2, y2 = xy[1:, 0][same] - col_off, xy[1:, 1][same] - row_off
    shoelace = float(np.sum(x1 * y2 - x2 * y1))
    if shoelace == 0:
        return frac
    E = len(x1)
    ex, tx = _integer_crossings(x1, x2)
    ey, ty = _integer_crossings(y1, y2)
    e = np.concatenate([np.arange(E), np.arange(E), ex, ey])
    t = np.concatenate([np.zeros(E), np.ones(E), tx, ty])
    order = np.lexsort((t, e))
    e, t = e[order], t[order]
    keep = e[1:] == e[:-1]
    e, ta, tb = e[:-1][keep], t[:-1][keep], t[1:][keep]
    ddx, ddy = (x2 - x1)[e], (y2 - y1)[e]
    dx = (tb - ta) * ddx
    xm = x1[e] + (ta + tb) / 2 * ddx
    ym = y1[e] + (ta + tb) / 2 * ddy
    ok = dx != 0
    dx, xm, ym = dx[ok], xm[ok], ym[ok]
    j = np.floor(xm).astype(np.int64)
    i = np.floor(ym).astype(np.int64)
    inside_cols = (j >= 0) & (j < width)
    dx, ym, i, j = dx[inside_cols], ym[inside_cols], i[inside_cols], j[inside_cols]
    in_rows = (i >= 0) & (i < height)
    np.add.at(frac, (i[in_rows], j[in_rows]), dx[in_rows] * (ym[in_rows] - i[in_rows]))
    below = np.zeros((height + 1, width))  # pieces in row i cover every row above them fully
    sel = i >= 0
    np.add.at(below, (np.minimum(i[sel], height), j[sel]), dx[sel])
    frac += np.cumsum(below[::-1], axis=0)[::-1][1:]
    frac *= -1.0 if shoelace > 0 else 1.0
    return np.clip(frac, 0.0, 1.0, out=frac)


@dataclass
class ZoneArea:
    zone_id: Any
    zone_area_m2: float
    covered_share: float  # zone area inside the raster / zone area
    covered_m2: float  # area of the zone inside the raster (classes + nodata)
    nodata_m2: float
    class_pixels: np.ndarray  # fractional pixel count per class index (table order)
    class_m2: np.ndarray  # area per class index (table order)
    geometry: Any = None  # repaired polygon in the raster's CRS
    notes: list[str] = field(default_factory=list)

    @property
    def valid_m2(self) -> float:
        return float(self.class_m2.sum())


@dataclass
class ZonalResult(_Report):
    """Class areas per zone; ``selected`` are the class indices shown."""

    raster: str
    zones_path: str
    id_field: str
    table: ClassTable
    pixel_area: str
    selected: list[int]
    zones: list[ZoneArea]
    crs_wkt: str | None = None
    coverage_rule: str = COVERAGE_RULE
    notes: list[str] = field(default_factory=list)

    def zone(self, zone_id: Any) -> ZoneArea:
        for z in self.zones:
            if z.zone_id == zone_id:
                return z
        raise KeyError(zone_id)

    def _table(self, units: str) -> tuple[str, list[_Col], list[list[Any]], list[str]]:
        u = (units or "m2").lower()
        _unit(u)
        lab = UNITS[u][1]
        cols = [_Col(self.id_field, "str"), _Col(f"zone ({lab})", f"area:{u}"), _Col("inside", "pct"),
                *[_Col(f"{self.table.names[i]} ({lab})", f"area:{u}") for i in self.selected],
                _Col(f"nodata ({lab})", f"area:{u}")]
        rows = [[z.zone_id, z.zone_area_m2, z.covered_share, *[z.class_m2[i] for i in self.selected], z.nodata_m2]
                for z in self.zones]
        footer = [f"pixel area: {self.pixel_area}", f"coverage rule: {self.coverage_rule}"]
        footer += [f"note: {n}" for n in self.notes]
        title = f"Class areas per zone of {Path(self.zones_path).name} in {Path(self.raster).name}"
        return title, cols, rows, footer

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        names = self.table.names
        zones = []
        for z in self.zones:
            valid = z.valid_m2
            zones.append({
                "id": z.zone_id, "zone_area_m2": z.zone_area_m2, "covered_share": z.covered_share,
                "covered_m2": z.covered_m2, "valid_m2": valid, "nodata_m2": z.nodata_m2,
                "classes": {names[i]: {"pixels": float(z.class_pixels[i]), **_areas_in(z.class_m2[i], units),
                                       "share": float(z.class_m2[i] / valid) if valid else 0.0}
                            for i in self.selected},
                "notes": list(z.notes),
            })
        return {"raster": str(self.raster), "zones_file": str(self.zones_path), "zone_id": self.id_field,
                "class_table": self.table.name, "pixel_area": self.pixel_area, "coverage_rule": self.coverage_rule,
                "units": units, "zones": zones, "notes": list(self.notes)}

    def write(self, path: str | Path, fmt: str | None = None, units: str = "m2") -> Path:
        """Write CSV/JSON/Markdown/text, or with a .gpkg/.geojson suffix the zones (in the raster's
        CRS) with their per-class areas as attributes."""
        path = Path(path)
        if path.suffix.lower() in (".gpkg", ".geojson"):
            self.write_vector(path, units)
            return path
        return super().write(path, fmt, units)

    def write_vector(self, path: str | Path, units: str = "m2") -> Path:
        path = Path(path)
        names = self.table.names
        ids = [z.zone_id for z in self.zones]
        id_arr = (np.array(ids, dtype=np.int64) if all(isinstance(v, (int, np.integer)) for v in ids)
                  else np.array([str(v) for v in ids], dtype=object))
        fields: dict[str, np.ndarray] = {
            self.id_field if self.id_field.lower() != "fid" else "zone_fid": id_arr,
            "zone_area_m2": np.array([z.zone_area_m2 for z in self.zones]),
            "covered_share": np.array([z.covered_share for z in self.zones]),
            "valid_m2": np.array([z.valid_m2 for z in self.zones]),
            "nodata_m2": np.array([z.nodata_m2 for z in self.zones]),
        }
        u = (units or "m2").lower()
        for i in self.selected:
            fields[f"{names[i]}_m2"] = np.array([float(z.class_m2[i]) for z in self.zones])
            if u != "m2":
                fields[f"{names[i]}_{u}"] = fields[f"{names[i]}_m2"] / _unit(u)[0]
        fields["notes"] = np.array(["; ".join(z.notes) for z in self.zones], dtype=object)
        geoms = [z.geometry for z in self.zones]
        write_features(path, np.array(geoms, dtype=object), fields, self.crs_wkt, layer="zones")
        return path


def write_features(path: Path, geoms: np.ndarray, fields: dict[str, np.ndarray], crs_wkt: str | None,
                   *, layer: str | None = None, append: bool = False, tmp: Path | None = None) -> None:
    """Write polygons with attributes to GeoPackage/GeoJSON (atomically unless ``tmp`` is given)."""
    import pyogrio.raw

    suffix = path.suffix.lower()
    driver = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}.get(suffix)
    if driver is None:
        raise InputError(f"{path}: unsupported vector format {suffix!r}; use .gpkg or .geojson")
    wkb = np.array([None if g is None or g.is_empty else shapely.to_wkb(g) for g in geoms], dtype=object)
    kw = dict(driver=driver, geometry_type="MultiPolygon", crs=crs_wkt, promote_to_multi=True)
    kw["layer"] = layer or path.stem
    if tmp is not None:
        pyogrio.raw.write(str(tmp), wkb, list(fields.values()), list(fields.keys()), append=append, **kw)
        return
    with atomic_output(path) as t:
        t.unlink()
        pyogrio.raw.write(str(t), wkb, list(fields.values()), list(fields.keys()), **kw)


def zonal_areas(
    raster: str | Path, zones: str | Path, zone_id: str | None = None,
    table: str | Path | ClassTable | None = None, *, gsd: float | None = None,
    classes: str | Sequence[str] | None = None, strip_rows: int | None = None,
) -> ZonalResult:
    """Class areas per zone (parcels, districts) with exact fractional pixel coverage.

    Zones come from a GeoPackage, GeoJSON or Shapefile in any CRS and are reprojected to the
    raster's. Coverage rule (also stated in every output): each pixel counts with the exact share of
    its area inside the zone (polygon ∩ pixel square), so small parcels are not misstated as with
    pixel-centre rasterisation; a zone partly outside the raster reports ``covered_share`` = its
    area inside the raster / its area; nodata pixels inside a zone are reported as nodata area.
    Invalid geometries are repaired with ``make_valid`` and reported by id; zones outside the raster
    are noted, and if none overlaps it an :class:`InputError` is raised.
    """
    path = Path(raster)
    ids, geoms, zcrs, id_field = read_zones(zones, zone_id)
    notes: list[str] = []
    with open_raster(path) as ds:
        tbl = resolve_table(ds, table)
        selected = tbl.indices_of(classes)
        pa = pixel_area_source(ds, gsd)
        notes += pa.notes
        reader = LabelReader(ds, tbl, str(path))
        t = ds.transform
        H, W = ds.height, ds.width
        crs_wkt = ds.crs.to_wkt() if ds.crs else None
        if ds.crs is not None and zcrs is not None:
            geoms = _reproject(geoms, zcrs, ds.crs)
        elif ds.crs is None and zcrs is not None:
            raise InputError(f"{path.name} has no CRS, so zones in {zcrs} cannot be placed on it; georeference the raster")
        elif zcrs is None:
            notes.append(f"{Path(zones).name} has no CRS; its coordinates are taken to be in the raster's")
        repaired, skipped, outside, partial = [], [], [], []
        raster_box = shapely.box(0, 0, W, H)
        nb = 256
        results: list[ZoneArea | None] = [None] * len(ids)
        jobs = []
        for k, (zid, g) in enumerate(zip(ids, geoms)):
            if g is not None and not g.is_empty and not shapely.is_valid(g):
                g = shapely.make_valid(g)
                repaired.append(zid)
            g = _polygonal(g)
            if g is None or g.area == 0:
                skipped.append(zid)
                results[k] = ZoneArea(zid, 0.0, 0.0, 0.0, 0.0, np.zeros(nb), np.zeros(nb), None,
                                      ["empty or not a polygon: skipped"])
                continue
            zone_m2 = float(pa.geometry_areas([g])[0])
            gpx = _to_pixels(g, t)
            inside = _polygonal(shapely.intersection(gpx, raster_box)) or shapely.Polygon()
            share = float(inside.area / gpx.area) if gpx.area > 0 else 0.0
            z = ZoneArea(zid, zone_m2, share, 0.0, 0.0, np.zeros(nb), np.zeros(nb), g,
                         ["geometry repaired (make_valid)"] if zid in repaired else [])
            results[k] = z
            if inside.is_empty or inside.area == 0:
                outside.append(zid)
                z.notes.append("outside the raster")
                continue
            if share < 1.0 - 1e-9:
                partial.append(zid)
                z.notes.append(f"partly outside the raster: {share:.2%} covered")
            minx, miny, maxx, maxy = inside.bounds
            c0, r0 = max(0, int(math.floor(minx))), max(0, int(math.floor(miny)))
            c1, r1 = min(W, int(math.ceil(maxx))), min(H, int(math.ceil(maxy)))
            jobs.append((r0, c0, r1, c1, k, inside))
        if not jobs:
            raise InputError(
                f"none of the {len(ids)} zones in {Path(zones).name} overlaps {path.name} (raster bounds "
                f"{tuple(round(v, 3) for v in ds.bounds)}, zone bounds in the raster's CRS "
                f"{tuple(round(float(v), 3) for v in shapely.total_bounds(geoms))}); check the CRS of both files"
            )
        jobs.sort(key=lambda j: (j[0], j[1]))  # read in raster order
        for r0, c0, r1, c1, k, inside in jobs:
            z = results[k]
            assert z is not None
            w = c1 - c0
            for win in _strip_windows(r1 - r0, w, strip_rows):
                sr0, h = r0 + win.row_off, win.height
                frac = pixel_coverage(inside, sr0, c0, h, w)
                window = Window(c0, sr0, w, h)
                cls = reader.index(window)
                pix = pa.block(sr0, h, c0, w)
                weights = frac * pix
                z.class_pixels += np.bincount(cls.ravel(), weights=frac.ravel(), minlength=nb)
                z.class_m2 += np.bincount(cls.ravel(), weights=weights.ravel(), minlength=nb)
        for z in results:
            assert z is not None
            z.nodata_m2 = float(z.class_m2[IGNORE_INDEX])
            z.covered_m2 = float(z.class_m2.sum())
            z.class_m2 = z.class_m2[: tbl.num_classes].copy()
            z.class_pixels = z.class_pixels[: tbl.num_classes].copy()

    def listed(v: list[Any]) -> str:
        return ", ".join(map(str, v[:10])) + (f" and {len(v) - 10} more" if len(v) > 10 else "")

    if repaired:
        notes.append(f"{len(repaired)} invalid geometries repaired with make_valid: {id_field} {listed(repaired)}")
    if skipped:
        notes.append(f"{len(skipped)} zones empty or not polygons, skipped: {id_field} {listed(skipped)}")
    if outside:
        notes.append(f"{len(outside)} zones outside the raster (no area): {id_field} {listed(outside)}")
    if partial:
        notes.append(f"{len(partial)} zones partly outside the raster (see covered share): {id_field} {listed(partial)}")
    return ZonalResult(str(path), str(zones), id_field, tbl, pa.description, selected,
                       [z for z in results if z is not None], crs_wkt=crs_wkt, notes=notes)


# ============================================================================ objects
@dataclass
class ObjectClassStats:
    index: int
    name: str
    count: int
    total_m2: float
    mean_m2: float
    median_m2: float
    max_m2: float


@dataclass
class ObjectStats(_Report):
    """Connected objects per class."""

    raster: str
    pixel_area: str
    connectivity: int
    min_area_m2: float
    classes: list[ObjectClassStats]
    notes: list[str] = field(default_factory=list)

    def stats(self, name: str) -> ObjectClassStats:
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(name)

    def _table(self, units: str) -> tuple[str, list[_Col], list[list[Any]], list[str]]:
        u = (units or "m2").lower()
        _unit(u)
        lab = UNITS[u][1]
        cols = [_Col("class", "str"), _Col("objects", "int"), *[_Col(f"{h} ({lab})", f"area:{u}")
                                                                 for h in ("total", "mean", "median", "max")]]
        rows = [[c.name, c.count, c.total_m2, c.mean_m2, c.median_m2, c.max_m2] for c in self.classes]
        footer = [f"pixel area: {self.pixel_area}",
                  f"objects: {self.connectivity}-connected pixels of one class"
                  + (f", at least {self.min_area_m2:g} m²" if self.min_area_m2 > 0 else "")]
        footer += [f"note: {n}" for n in self.notes]
        return f"Objects in {Path(self.raster).name}", cols, rows, footer

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        return {"raster": str(self.raster), "pixel_area": self.pixel_area, "connectivity": self.connectivity,
                "min_area_m2": self.min_area_m2,
                "classes": [{"index": c.index, "name": c.name, "count": c.count, "total_m2": c.total_m2,
                             "mean_m2": c.mean_m2, "median_m2": c.median_m2, "max_m2": c.max_m2}
                            for c in self.classes],
                "notes": list(self.notes)}


def object_stats(
    raster: str | Path, classes: str | Sequence[str] | None = None, table: str | Path | ClassTable | None = None, *,
    gsd: float | None = None, min_area: float = 0.0, connectivity: int = 8, strip_rows: int | None = None,
) -> ObjectStats:
    """Connected components per class with their count and total/mean/median/max area (m²).

    The raster is labelled strip by strip (``scipy.ndimage.label``); components that continue
    across a strip border are joined through the pairs of touching labels on the two border rows
    (a union-find solved with ``scipy.sparse.csgraph``), so the result equals labelling the whole
    raster at once. Objects smaller than ``min_area`` m² are left out of every figure.
    """
    from scipy import ndimage
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if connectivity not in (4, 8):
        raise InputError(f"connectivity must be 4 or 8, got {connectivity}")
    structure = np.ones((3, 3), bool) if connectivity == 8 else ndimage.generate_binary_structure(2, 1)
    path = Path(raster)
    with open_raster(path) as ds:
        tbl = resolve_table(ds, table)
        selected = tbl.indices_of(classes)
        pa = pixel_area_source(ds, gsd)
        reader = LabelReader(ds, tbl, str(path))
        W = ds.width
        state = {c: {"areas": [], "edges": [], "offset": 0, "last": np.zeros(W, np.int64)} for c in selected}
        for win in _strips(ds, strip_rows):
            cls = reader.index(win)
            pix = pa.block(win.row_off, win.height)
            full = None if np.ndim(pix) == 0 else np.broadcast_to(pix, cls.shape).ravel()
            for c in selected:
                st = state[c]
                lab, n = ndimage.label(cls == c, structure=structure)
                if n == 0:
                    st["last"] = np.zeros(W, np.int64)
                    continue
                if full is None:
                    obj = np.bincount(lab.ravel(), minlength=n + 1)[1:] * float(pix)  # type: ignore[arg-type]
                else:
                    obj = np.bincount(lab.ravel(), weights=full, minlength=n + 1)[1:]
                st["areas"].append(obj)
                off = st["offset"]
                first = np.where(lab[0] > 0, lab[0].astype(np.int64) + off, 0)
                prev = st["last"]
                pairs = [(prev, first)]
                if connectivity == 8:
                    pairs += [(prev[:-1], first[1:]), (prev[1:], first[:-1])]
                for a, b in pairs:
                    keep = (a > 0) & (b > 0)
                    if keep.any():
                        st["edges"].append(np.unique(np.stack([a[keep], b[keep]], axis=1), axis=0))
                st["last"] = np.where(lab[-1] > 0, lab[-1].astype(np.int64) + off, 0)
                st["offset"] = off + n
    out = []
    for c in selected:
        st = state[c]
        n = st["offset"]
        if n == 0:
            out.append(ObjectClassStats(c, tbl.names[c], 0, 0.0, 0.0, 0.0, 0.0))
            continue
        areas = np.concatenate(st["areas"])
        if st["edges"]:
            e = np.concatenate(st["edges"]) - 1
            graph = coo_matrix((np.ones(len(e), np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
            ncomp, comp = connected_components(graph, directed=False)
            areas = np.bincount(comp, weights=areas, minlength=ncomp)
        areas = areas[areas >= min_area] if min_area > 0 else areas
        if areas.size == 0:
            out.append(ObjectClassStats(c, tbl.names[c], 0, 0.0, 0.0, 0.0, 0.0))
            continue
        out.append(ObjectClassStats(c, tbl.names[c], int(areas.size), float(areas.sum()), float(areas.mean()),
                                    float(np.median(areas)), float(areas.max())))
    return ObjectStats(str(path), pa.description, connectivity, float(min_area), out, notes=list(pa.notes))


# ============================================================================ truth
@dataclass
class ClassComparison:
    index: int
    name: str
    true_m2: float
    predicted_m2: float

    @property
    def error_m2(self) -> float:
        return self.predicted_m2 - self.true_m2

    @property
    def error_pct(self) -> float | None:
        return 100.0 * self.error_m2 / self.true_m2 if self.true_m2 else None


@dataclass
class TruthComparison(_Report):
    """Predicted against true area per class, over the pixels valid in both rasters."""

    predicted: str
    truth: str
    pixel_area: str
    classes: list[ClassComparison]
    compared_m2: float
    notes: list[str] = field(default_factory=list)

    def row(self, name: str) -> ClassComparison:
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(name)

    def _table(self, units: str) -> tuple[str, list[_Col], list[list[Any]], list[str]]:
        u = (units or "m2").lower()
        _unit(u)
        lab = UNITS[u][1]
        cols = [_Col("class", "str"), _Col(f"true ({lab})", f"area:{u}"), _Col(f"predicted ({lab})", f"area:{u}"),
                _Col(f"error ({lab})", f"area:{u}"), _Col("error", "pct")]
        rows = [[c.name, c.true_m2, c.predicted_m2, c.error_m2,
                 None if c.error_pct is None else c.error_pct / 100] for c in self.classes]
        footer = [f"pixel area: {self.pixel_area}",
                  f"compared over {self.compared_m2:,.2f} m² valid in both rasters; error = predicted - true"]
        footer += [f"note: {n}" for n in self.notes]
        return f"Predicted {Path(self.predicted).name} against truth {Path(self.truth).name}", cols, rows, footer

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        return {"predicted": self.predicted, "truth": self.truth, "pixel_area": self.pixel_area,
                "compared_m2": self.compared_m2,
                "classes": [{"index": c.index, "name": c.name, "true_m2": c.true_m2, "predicted_m2": c.predicted_m2,
                             "error_m2": c.error_m2, "error_pct": c.error_pct} for c in self.classes],
                "notes": list(self.notes)}


def compare_with_truth(
    pred_raster: str | Path, truth_raster: str | Path, table: str | Path | ClassTable | None = None, *,
    truth_table: str | Path | ClassTable | None = None, gsd: float | None = None,
    classes: str | Sequence[str] | None = None, strip_rows: int | None = None,
) -> TruthComparison:
    """Per class the true area, the predicted area and the error (m² and %).

    Both rasters must have the same size; only pixels valid (not nodata/ignore) in both are counted.
    The truth is read with ``truth_table``, else the prediction's table (so an ISPRS colour label
    can be compared with a class GeoTIFF). The pixel area comes from the prediction's
    georeferencing, else the truth's, else ``gsd``.
    """
    pred_path, truth_path = Path(pred_raster), Path(truth_raster)
    with open_raster(pred_path) as pds, open_raster(truth_path) as tds:
        ptable = resolve_table(pds, table)
        ttable = resolve_table(tds, truth_table) if truth_table is not None else (table_from_raster(tds) or ptable)
        if ttable.names != ptable.names:
            raise ClassTableError(
                f"{truth_path.name}: its class table ({', '.join(ttable.names)}) differs from the prediction's "
                f"({', '.join(ptable.names)}); pass a truth label in the same classes"
            )
        if (pds.width, pds.height) != (tds.width, tds.height):
            raise InputError(
                f"{truth_path.name} is {tds.width}x{tds.height} pixels but {pred_path.name} is "
                f"{pds.width}x{pds.height}; the truth must be on the prediction's grid"
            )
        notes = []
        if pds.crs is not None and tds.crs is not None and not pds.transform.almost_equals(tds.transform):
            notes.append("the two rasters have different geotransforms; compared pixel by pixel")
        src = pds if (pds.crs is not None and not pds.transform.is_identity) else tds
        pa = pixel_area_source(src, gsd)
        notes += pa.notes
        selected = ptable.indices_of(classes)
        pr, tr = LabelReader(pds, ptable, str(pred_path)), LabelReader(tds, ttable, str(truth_path))
        nb = 256
        pred_m2, true_m2 = np.zeros(nb), np.zeros(nb)
        for win in _strips(pds, strip_rows):
            p, t = pr.index(win), tr.index(win)
            both = (p != IGNORE_INDEX) & (t != IGNORE_INDEX)
            p = np.where(both, p, IGNORE_INDEX).astype(np.uint8)
            t = np.where(both, t, IGNORE_INDEX).astype(np.uint8)
            pix = pa.block(win.row_off, win.height)
            pred_m2 += _weighted_count(p, nb, pix)[1]
            true_m2 += _weighted_count(t, nb, pix)[1]
    rows = [ClassComparison(i, ptable.names[i], float(true_m2[i]), float(pred_m2[i])) for i in selected]
    return TruthComparison(str(pred_path), str(truth_path), pa.description, rows,
                           float(true_m2[: ptable.num_classes].sum()), notes)


__all__ = [
    "AreaResult", "COVERAGE_RULE", "CLASS_TABLE_TAG", "ClassArea", "ClassComparison", "LabelReader",
    "ObjectClassStats", "ObjectStats", "PixelArea", "TruthComparison", "UNITS", "ZonalResult", "ZoneArea",
    "class_areas", "compare_with_truth", "object_stats", "pixel_area_source", "pixel_coverage", "read_zones",
    "render_table", "resolve_table", "table_from_raster", "unit_columns", "write_features", "zonal_areas",
]
