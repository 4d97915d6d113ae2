"""``landseg change``: from->to transitions between two class maps, window by window.

The after map is brought onto the before map's grid (nearest neighbour, see
:func:`landseg.io.align.on_grid`) when the two differ. Outputs in ``--out``:

* ``transitions.tif``: a COG of transition codes ``from * K + to`` (uint8 when ``K*K < 255``, else
  uint16), nodata where either date is nodata, with a colour table, the transition names in tags and
  an embedded class table of the transitions (so ``landseg area transitions.tif`` measures them);
* ``transitions.csv`` / ``transitions.json``: the transition matrix in pixels and m² (the before
  grid's exact pixel areas), and headline figures from the class roles (green -> sealed, building
  gain/loss, ...);
* with ``--zones``: ``transitions_zones.csv`` and per-zone matrices in the JSON. Zones are rasterised
  at pixel centres (a pixel belongs to the zone holding its centre; where zones overlap, the later
  feature wins), not with the exact fractional coverage of ``landseg area --zones``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from landseg.area.classmap import measured_pixel_area
from landseg.area.pixel_area import PixelArea
from landseg.area.tables import UNITS, Col, Report, area_text, finite, unit_key
from landseg.classes import IGNORE_INDEX, ROLES, ClassTable
from landseg.errors import ClassTableError, InputError
from landseg.io.align import on_grid
from landseg.io.csvfile import csv_text
from landseg.io.files import atomic_output, check_writable_dir, clean_stale, temp_dir_prefix, write_json_atomic
from landseg.io.labels import CHANGE_TAG, LabelReader, class_map_tags, resolve_table
from landseg.io.names import distinct_names
from landseg.io.raster import (
    CLASS_MAP_NODATA,
    ClassMapWriter,
    class_map_profile,
    is_georeferenced,
    open_raster,
    strip_windows,
    tiled_profile,
)
from landseg.io.styles import LayerStyle, graduated_breaks, graduated_qml, graduated_sld, write_gpkg_styles
from landseg.io.vector import read_zones, reproject_geometries, vector_output, write_features
from landseg.layout import ChangePaths
from landseg.views import preview_shape


def transition_name(table: ClassTable, code: int) -> str:
    """``from->to`` of a transition code (from * k + to)."""
    k = table.num_classes
    return f"{table.names[code // k]}->{table.names[code % k]}"


CHANGE_COLOURS = (
    (230, 25, 75), (0, 130, 200), (255, 225, 25), (60, 180, 75), (145, 30, 180), (245, 130, 48),
    (70, 240, 240), (240, 50, 230), (128, 0, 0), (0, 0, 128), (170, 110, 40), (128, 128, 0),
    (0, 128, 128), (210, 245, 60), (255, 20, 147), (0, 200, 120), (100, 60, 255), (200, 80, 0),
)
"""Strong, mutually distinct colours for the change types (after Kelly's and Trubetskoy's palettes of
maximum contrast); the stable classes are drawn muted, so every change stands out against them."""
MUTED_GREY = 226.0


def transition_table(table: ClassTable) -> ClassTable:
    """A class table of the K*K transitions (codes from*K+to), for the transition map.

    Stable pixels (from == to) get a muted version of their class colour (25 % colour, 75 % light
    grey), so unchanged land reads as a quiet background; each change type gets its own strong colour
    of :data:`CHANGE_COLOURS` (in code order; past the palette, darker repeats). Colours are nudged
    until unique. Needs K*K <= 250 (the class-table limit)."""
    k = table.num_classes
    cols = np.array(table.colors, dtype=np.float64)
    used: set[tuple[int, int, int]] = set()
    colours = []
    change = 0
    for code in range(k * k):
        f, t = divmod(code, k)
        if f == t:
            c = 0.25 * cols[f] + 0.75 * MUTED_GREY
        else:
            rnd, pos = divmod(change, len(CHANGE_COLOURS))
            c = np.array(CHANGE_COLOURS[pos], dtype=np.float64) * (0.75 ** rnd)
            change += 1
        rgb = tuple(int(round(v)) for v in c)
        while rgb in used:
            rgb = ((rgb[0] + 1) % 256, rgb[1], (rgb[2] + 3) % 256)
        used.add(rgb)
        colours.append(rgb)
    names = tuple(transition_name(table, code) for code in range(k * k))
    return ClassTable(f"{table.name}-transitions", names, tuple(colours))


@dataclass
class ZoneChange:
    """The transitions inside one zone: pixel counts and m² per (from, to)."""
    zone_id: Any
    pixels: np.ndarray  # (K, K)
    m2: np.ndarray  # (K, K)


@dataclass
class ChangeResult(Report):
    """Transition matrices (rows: before class, columns: after class) and role figures."""

    before: str
    after: str
    table: ClassTable
    pixel_area: str
    pixels: np.ndarray  # (K, K)
    m2: np.ndarray  # (K, K); NaN without georeferencing
    nodata_pixels: int  # pixels nodata in either map
    alignment: str | None
    zones: list[ZoneChange] | None = None
    zone_field: str = ""
    outputs: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    zone_geometries: Any = None  # the zones' polygons in the map's CRS (not written)

    @property
    def transition_map(self) -> Path:
        """The transition map GeoTIFF written first."""
        return self.outputs[0]

    @property
    def changed_m2(self) -> float:
        """Area that changed class (off the diagonal)."""
        return float(self.m2.sum() - np.trace(self.m2))

    def headline(self) -> dict[str, dict[str, float | None]]:
        """The role-level change figures (:func:`role_figures`)."""
        return role_figures(self.table, self.m2)

    def _table(self, units: str) -> tuple[str, list[Col], list[list[Any]], list[str]]:
        key = unit_key(units)
        label = UNITS[key][1]
        names = self.table.names
        cols = [Col(f"before \\ after ({label})", "str"), *[Col(n, f"area:{key}") for n in names],
                Col("total before", f"area:{key}")]
        rows = [[names[i], *self.m2[i], self.m2[i].sum()] for i in range(len(names))]
        rows.append(["total after", *self.m2.sum(axis=0), self.m2.sum()])
        footer = [f"changed: {_fmt(self.changed_m2, units)} of {_fmt(float(self.m2.sum()), units)}"]
        for role, fig in self.headline().items():
            footer.append(f"{role}: " + ", ".join(f"{k} {_fmt(v, units)}" for k, v in fig.items()))
        footer.append(f"pixel area: {self.pixel_area}")
        if self.nodata_pixels:
            footer.append(f"nodata in either map: {self.nodata_pixels:,} pixels, left out")
        if self.alignment:
            footer.append(f"alignment: {self.alignment}")
        return f"Change from {Path(self.before).name} to {Path(self.after).name}", cols, rows, footer

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        """The JSON object (``transitions.json``)."""
        names = list(self.table.names)
        d: dict[str, Any] = {
            "before": self.before, "after": self.after, "class_table": self.table.name, "classes": names,
            "pixel_area": self.pixel_area, "alignment": self.alignment, "rows": "before", "columns": "after",
            "matrix_pixels": self.pixels.astype(int).tolist(),
            "matrix_m2": [[finite(v) for v in r] for r in self.m2],
            "changed_m2": finite(self.changed_m2), "total_m2": finite(float(self.m2.sum())),
            "nodata_pixels": self.nodata_pixels, "headline_m2": self.headline(),
            "roles": self.table.role_map(), "notes": list(self.notes),
        }
        if self.zones is not None:
            d["zone_id"] = self.zone_field
            d["zone_rule"] = "pixel centre in the zone (rasterised); overlapping zones: the later feature wins"
            d["zones"] = [{"id": z.zone_id, "matrix_pixels": z.pixels.astype(int).tolist(),
                           "matrix_m2": [[finite(v) for v in r] for r in z.m2],
                           "headline_m2": role_figures(self.table, z.m2)} for z in self.zones]
        return d


def _fmt(v: float | None, units: str) -> str:
    return "n/a" if v is None else area_text(v, units)


def role_figures(table: ClassTable, m2: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Per declared role: gain (from other classes), loss (to other classes), net; and green->sealed.

    Classes with the ``unknown`` role (ISPRS clutter) take part in no gain or loss: a change from or to
    them is not known to be one; their exchange with the rest is given as ``unknown`` (from / to)."""
    out: dict[str, dict[str, float | None]] = {}
    k = table.num_classes
    unknown = np.zeros(k, dtype=bool)
    unknown[table.role("unknown")] = True
    for role in ROLES:
        members = table.role(role)
        if not members or role == "unknown":
            continue
        inside = np.zeros(k, dtype=bool)
        inside[members] = True
        others = ~inside & ~unknown
        gain, loss = float(m2[np.ix_(others, inside)].sum()), float(m2[np.ix_(inside, others)].sum())
        out[role] = {"gain": finite(gain), "loss": finite(loss), "net": finite(gain - loss)}
    if unknown.any():
        out["unknown"] = {"from": finite(float(m2[np.ix_(unknown, ~unknown)].sum())),
                          "to": finite(float(m2[np.ix_(~unknown, unknown)].sum()))}
    green, sealed = table.role("green"), table.role("sealed")
    if green and sealed:
        g = [i for i in green if i not in sealed]
        s = [j for j in sealed if j not in green]
        out["green->sealed"] = {"area": finite(float(m2[np.ix_(g, s)].sum()))}
        out["sealed->green"] = {"area": finite(float(m2[np.ix_(s, g)].sum()))}
    return out


def _check_tables(before: ClassTable, after: ClassTable, bname: str, aname: str) -> None:
    if before.names != after.names:
        raise ClassTableError(
            f"{bname} and {aname} have different class tables ({before.name!r}: {', '.join(before.names)}; "
            f"{after.name!r}: {', '.join(after.names)}); change needs both maps in the same classes")
    if before.num_classes ** 2 > 65535:
        raise ClassTableError(f"{before.num_classes} classes give too many transitions for a uint16 map")


class _Zones:
    """Zone ids (1-based, 0 = none) of the pixels of a strip, by rasterising the zones that touch it."""

    def __init__(self, path: str | Path, zone_id: str | None, ds: rasterio.DatasetReader) -> None:
        ids, geoms, zcrs, self.field = read_zones(path, zone_id)
        if is_georeferenced(ds) and zcrs is not None:
            geoms = reproject_geometries(geoms, zcrs, ds.crs)
        self.ids = ids
        self.geoms = geoms
        self.bounds = shapely.bounds(geoms)
        self.transform = ds.transform
        self.width = ds.width
        box = shapely.box(*ds.bounds)
        if not any(g is not None and not g.is_empty and g.intersects(box) for g in geoms):
            raise InputError(f"none of the {len(ids)} zones in {Path(path).name} overlaps {Path(ds.name).name} (map "
                             f"bounds {tuple(round(v, 3) for v in ds.bounds)}, zone bounds "
                             f"{tuple(round(float(v), 3) for v in shapely.total_bounds(geoms))}); check the CRS of both")

    def strip(self, row_off: int, height: int) -> np.ndarray:
        win = Window(0, row_off, self.width, height)
        t = window_transform(win, self.transform)
        (x0, y0), (x1, y1) = t @ (0, 0), t @ (self.width, height)
        lo_x, hi_x, lo_y, hi_y = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
        b = self.bounds
        hit = np.nonzero((b[:, 0] <= hi_x) & (b[:, 2] >= lo_x) & (b[:, 1] <= hi_y) & (b[:, 3] >= lo_y))[0]
        shapes = [(self.geoms[i], int(i) + 1) for i in hit if self.geoms[i] is not None and not self.geoms[i].is_empty]
        if not shapes:
            return np.zeros((height, self.width), dtype=np.int32)
        return rasterize(shapes, out_shape=(height, self.width), transform=t, fill=0, dtype="int32")


def detect_change(
    before: str | Path, after: str | Path, out_dir: str | Path, *, table: str | Path | ClassTable | None = None,
    zones: str | Path | None = None, zone_id: str | None = None, gsd: float | None = None,
    roles: list[str] | None = None,
) -> ChangeResult:
    """Transitions from ``before`` to ``after``: map, matrices (whole map, per zone) and role figures
    (``roles``: ``ROLE=CLASS,...`` edits of the table's roles, as ``--roles``)."""
    bpath, apath, out = Path(before), Path(after), check_writable_dir(out_dir)
    with contextlib.ExitStack() as stack:
        bds = stack.enter_context(open_raster(bpath))
        ads = stack.enter_context(open_raster(apath))
        btable, atable = resolve_table(bds, table).with_roles(roles), resolve_table(ads, table)
        bname, aname = distinct_names(bpath, apath)
        _check_tables(btable, atable, bname, aname)
        _check_overlap(bds, ads, bname, aname)
        grid, note = stack.enter_context(on_grid(ads, bds))
        pa, known = measured_pixel_area(bds, gsd, allow_pixels_only=True)
        zoner = _Zones(zones, zone_id, bds) if zones else None
        zone_crs = bds.crs.to_wkt() if zoner is not None and is_georeferenced(bds) else None
        clean_stale(out, recursive=False)  # temp folders of a killed earlier run
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=temp_dir_prefix(), dir=out)))
        tif = ChangePaths(out).transitions
        sums = _accumulate(LabelReader(bds, btable, str(bpath)), LabelReader(grid, btable, str(apath)), pa,
                           zoner, tmp / tif.name, tif, btable)
    k = btable.num_classes
    m2 = sums["m2"] if known else np.full((k, k), math.nan)
    zone_list = None
    if zoner is not None:
        zone_list = [ZoneChange(zid, sums["zone_px"][z], sums["zone_m2"][z] if known else np.full((k, k), math.nan))
                     for z, zid in enumerate(zoner.ids)]
    result = ChangeResult(str(bpath), str(apath), btable, pa.description, sums["px"], m2, int(sums["nodata"]), note,
                          zone_list, zoner.field if zoner else "", notes=list(pa.notes),
                          zone_geometries=zoner.geoms if zoner else None)
    result.outputs = [tif, *_write_tables(result, out)]
    if zoner is not None:
        result.outputs.append(write_zone_layer(result, ChangePaths(out).zones("gpkg"), zone_crs))
    if k * k <= 250:
        result.outputs.append(write_change_preview(tif, btable, result.pixels, ChangePaths(out).preview))
    return result


def write_change_preview(tif: Path, table: ClassTable, pixels: np.ndarray, dst: Path, size: int = 1000) -> Path:
    """A PNG of the transition map (read decimated from its overviews) with a legend of the transitions
    present: the change types first, largest first, with their share of the compared area, then the
    unchanged classes (muted)."""
    k = table.num_classes
    tr = transition_table(table)
    with open_raster(tif) as ds:
        shape = preview_shape(ds.height, ds.width, size)
        codes = ds.read(1, out_shape=shape, resampling=Resampling.nearest)
    rgb = np.full((*shape, 3), 255, dtype=np.uint8)
    valid = codes < k * k
    rgb[valid] = np.array(tr.colors, dtype=np.uint8)[codes[valid]]
    total = max(int(pixels.sum()), 1)
    flat = pixels.ravel()
    changes = sorted((c for c in range(k * k) if flat[c] and c // k != c % k), key=lambda c: -flat[c])
    stable = [c for c in range(k * k) if flat[c] and c // k == c % k]
    changed = sum(int(flat[c]) for c in changes)
    handles = [Patch(facecolor=np.array(tr.colors[c]) / 255, edgecolor="#333333", linewidth=0.4,
                     label=f"{tr.names[c].replace('->', ' → ')}  {100 * flat[c] / total:.2f} %") for c in changes]
    handles += [Patch(facecolor=np.array(tr.colors[c]) / 255, edgecolor="#999999", linewidth=0.4,
                      label=f"{table.names[c // k]} (unchanged)  {100 * flat[c] / total:.2f} %") for c in stable]
    handles = handles[:60]
    height = max(7.0, 0.23 * len(handles) + 1.2)
    fig = Figure(figsize=(11, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.01, 0.02, 0.6, 1 - 0.7 / height))
    ax.imshow(rgb, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"{Path(tif).parent.name or 'change'}: {100 * changed / total:.1f} % of the area changed",
                 fontsize=11, loc="left")
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.63, 1 - 0.3 / height), frameon=False, fontsize=9,
               title="from → to (share of the compared area)", title_fontsize=9, alignment="left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    with atomic_output(dst, suffix=".png") as tmp:
        tmp.write_bytes(buf.getvalue())
    return dst


def _transition_tags(table: ClassTable, br: LabelReader, ar: LabelReader) -> dict[str, str]:
    k = table.num_classes
    change = {CHANGE_TAG: json.dumps({"before": str(br.source), "after": str(ar.source), "classes": list(table.names),
                                      "code": "from_index * K + to_index", "K": k, "class_table": table.to_dict()})}
    if k * k <= 250:
        return class_map_tags(transition_table(table), "landseg change", change)
    names = [transition_name(table, c) for c in range(k * k)]  # too many for a class table: the names only
    return {**change, "CLASS_NAMES": ",".join(names), **{f"CLASS_{c}": n for c, n in enumerate(names)}}


def _check_overlap(bds: Any, ads: Any, bname: str, aname: str) -> None:
    """Refuse two georeferenced maps whose footprints do not overlap (before any work), naming both extents."""
    if not (is_georeferenced(bds) and is_georeferenced(ads)):
        return
    try:
        ab = transform_bounds(ads.crs, bds.crs, *ads.bounds, densify_pts=21) if ads.crs != bds.crs else tuple(ads.bounds)
    except Exception:  # noqa: BLE001 - a CRS pair PROJ cannot transform: on_grid reports it
        return
    bb = tuple(bds.bounds)
    if ab[0] < bb[2] and ab[2] > bb[0] and ab[1] < bb[3] and ab[3] > bb[1]:
        return
    fmt = lambda b: f"({b[0]:.6g}, {b[1]:.6g}) - ({b[2]:.6g}, {b[3]:.6g})"  # noqa: E731
    raise InputError(f"{bname} and {aname} do not overlap: {bname} covers {fmt(bb)}, {aname} covers {fmt(ab)} "
                     f"(in {bname}'s CRS {bds.crs.to_string()}); nothing to compare. Give two maps of the same place")


def _accumulate(br: LabelReader, ar: LabelReader, pa: PixelArea, zoner: _Zones | None, scratch: Path,
                path: Path, table: ClassTable) -> dict[str, Any]:
    """One pass over both maps: write the transition codes (``scratch``, then the COG ``path``), sum
    the matrices (whole map, per zone)."""
    k, ds = table.num_classes, br.ds
    kk = k * k
    georef = is_georeferenced(ds)
    grid: dict[str, Any] = {"crs": ds.crs if georef else None, "transform": ds.transform if georef else None,
                            "compress": "deflate"}
    if kk <= 250:  # a class map of the transitions, with their class table
        dtype, nodata = "uint8", CLASS_MAP_NODATA
        prof = class_map_profile(ds.width, ds.height, **grid)
    else:
        dtype, nodata = "uint16", 65535
        prof = tiled_profile(ds.width, ds.height, 1, dtype, nodata=nodata, **grid)
    nz = len(zoner.ids) if zoner else 0
    px, m2 = np.zeros(kk + 1, dtype=np.int64), np.zeros(kk + 1)
    zpx, zm2 = np.zeros(nz * kk), np.zeros(nz * kk)
    with ClassMapWriter(scratch, prof, transition_table(table) if kk <= 250 else None,
                        _transition_tags(table, br, ar)) as dst:
        dst.ds.set_band_description(1, "transition (from * K + to)")
        for win in strip_windows(ds.height, ds.width, None, prof["blockysize"]):
            r, h = win.row_off, win.height
            b, a = br.index(win), ar.index(win)
            valid = (b != IGNORE_INDEX) & (a != IGNORE_INDEX)
            code = np.where(valid, b.astype(np.int32) * k + a, kk).ravel()
            pix = pa.block(r, h)
            weights = None if np.ndim(pix) == 0 else np.broadcast_to(pix, b.shape).ravel()
            counts = np.bincount(code, minlength=kk + 1)
            px += counts
            m2 += counts * float(pix) if weights is None else np.bincount(code, weights=weights, minlength=kk + 1)
            if zoner is not None:
                z = zoner.strip(r, h).ravel()
                sel = (z > 0) & (code < kk)
                key = (z[sel].astype(np.int64) - 1) * kk + code[sel]
                zpx += np.bincount(key, minlength=nz * kk)
                zw = np.full(key.size, float(pix)) if weights is None else weights[sel]
                zm2 += np.bincount(key, weights=zw, minlength=nz * kk)
            dst.write_window(np.where(valid, code.reshape(b.shape), nodata).astype(dtype)[None], win)
        if px[:kk].sum() == 0:  # nothing compared: no transition table at all, not one of zeros
            raise InputError(f"{br.source} and {ar.source}: no pixel holds a class in both maps (they overlap only "
                             f"where one of them is nodata or ignore: {int(px[kk]):,} pixels); nothing to compare. "
                             "Give two maps of the same place")
        dst.finish(path, classes=[int(c) for c in np.nonzero(px[:kk])[0]])  # the legend: transitions present
    return {"px": px[:kk].reshape(k, k), "m2": m2[:kk].reshape(k, k), "nodata": px[kk],
            "zone_px": zpx.reshape(nz, k, k).astype(np.int64), "zone_m2": zm2.reshape(nz, k, k)}


def _long_rows(table: ClassTable, pixels: np.ndarray, m2: np.ndarray) -> Iterator[list[Any]]:
    for i, f in enumerate(table.names):
        for j, t in enumerate(table.names):
            a = float(m2[i, j])
            yield [f, t, int(pixels[i, j]), a, a / 1e4]


def write_csv(path: Path, header: Sequence[str], rows: Iterator[list[Any]]) -> None:
    """A CSV file written atomically, with the project's one float rounding."""
    text = csv_text(header, rows)  # one float rounding for every CSV (landseg.io.csvfile)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_tables(result: ChangeResult, out: Path) -> list[Path]:
    """transitions.csv (long form), transitions.json, and transitions_zones.csv with zones."""
    header = ["from", "to", "pixels", "area_m2", "area_ha"]
    files = ChangePaths(out)
    written = [files.transitions_csv, files.transitions_json]
    write_csv(written[0], header, _long_rows(result.table, result.pixels, result.m2))
    write_json_atomic(written[1], result.to_dict("m2"))
    if result.zones is not None:
        written.append(files.zones("csv"))
        rows = ([z.zone_id, *r] for z in result.zones for r in _long_rows(result.table, z.pixels, z.m2))
        write_csv(written[2], [result.zone_field, *header], rows)
    return written


def write_zone_layer(result: ChangeResult, path: Path, crs_wkt: str | None) -> Path:
    """The zones as a GeoPackage (styled for QGIS by changed share): per zone the compared and changed area
    (m², and pixels), the changed share and its largest change (from->to) with that change's area."""
    zones = result.zones or []
    k = result.table.num_classes
    known = bool(np.isfinite(result.m2).all())
    off = ~np.eye(k, dtype=bool)
    rows: dict[str, list[Any]] = {n: [] for n in ("compared_px", "changed_px", "compared_m2", "changed_m2",
                                                   "changed_share", "main_change", "main_change_m2")}
    for z in zones:
        moved = np.where(off, z.pixels, 0)
        top = int(np.argmax(moved))
        rows["compared_px"].append(int(z.pixels.sum()))
        rows["changed_px"].append(int(moved.sum()))
        rows["compared_m2"].append(float(z.m2.sum()) if known else math.nan)
        rows["changed_m2"].append(float(z.m2[off].sum()) if known else math.nan)
        rows["changed_share"].append(float(moved.sum() / z.pixels.sum()) if z.pixels.sum() else math.nan)
        rows["main_change"].append(transition_name(result.table, top) if moved.flat[top] > 0 else "")
        rows["main_change_m2"].append(float(z.m2.flat[top]) if known and moved.flat[top] > 0 else math.nan)
    id_name = result.zone_field if result.zone_field and result.zone_field.lower() != "fid" else "zone"  # fid: GPKG's
    fields: dict[str, np.ndarray] = {id_name: np.array([str(z.zone_id) for z in zones], dtype=object)}
    masks: list[np.ndarray | None] = [None]
    for name, vals in rows.items():
        if name == "main_change":
            fields[name], m = np.array(vals, dtype=object), None
        elif name.endswith("_px"):
            fields[name], m = np.array(vals, dtype=np.int64), None
        else:
            fields[name] = np.array(vals, dtype=np.float64)
            m = ~np.isfinite(fields[name])
        masks.append(m)
    ranges = graduated_breaks((0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 1.0),
                              ["< 2 %", "2-5 %", "5-10 %", "10-20 %", "20-40 %", "40-100 %"])
    style = LayerStyle("changed_share", graduated_qml("changed_share", ranges),
                       graduated_sld("zones_change", "changed_share", ranges), True,
                       "share of the zone's compared area whose class changed")
    geoms = np.array(result.zone_geometries if result.zone_geometries is not None else [None] * len(zones), dtype=object)
    with vector_output(path, "zones_change") as target:
        write_features(path, geoms, fields, crs_wkt, layer="zones_change", tmp=target.path, masks=masks)
        target.features = len(zones)
        write_gpkg_styles(target.path, "zones_change", [style])
    return path


__all__ = ["ChangeResult", "ZoneChange", "detect_change", "role_figures", "transition_name", "transition_table",
           "write_csv", "write_zone_layer"]
