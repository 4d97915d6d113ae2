"""``landseg sample``: a stratified random reference sample of a class map, as a point layer + design.

The strata are the mapped classes; see :mod:`landseg.accuracy.design` for the allocation and the
bounded-memory draw. The points (pixel centres, in the map's CRS) carry ``map_class``,
``map_index``, an empty ``reference`` field for an interpreter to fill in (QGIS: toggle editing,
open the attribute table), and ``row``/``col``. A JSON sidecar records the design, which
``landseg area --reference`` checks against the map.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from landseg.accuracy.design import allocate, allocation_notes, draw_ranks, locate_ranks
from landseg.accuracy.strata import ChangeStrata
from landseg.area.totals import class_areas
from landseg.classes import ClassTable
from landseg.errors import InputError
from landseg.io.align import check_same_grid
from landseg.io.files import write_json_atomic
from landseg.io.labels import LabelReader, change_table, table_from_raster
from landseg.io.points import read_points, reproject_xy, write_points
from landseg.io.raster import is_georeferenced, open_raster, strips
from landseg.io.styles import LayerStyle, categorized_qml, categorized_sld, value_map_xml
from landseg.layout import design_path


def class_strips(reader: LabelReader, strip_rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(row_offset, class indices)`` of full-width strips in raster order (255 = nodata/ignore)."""
    for win in strips(reader.ds, strip_rows):
        yield win.row_off, reader.index(win)


def classes_at(reader: LabelReader, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Class indices (255 = nodata/ignore) of the pixels ``(row, col)``, one small read each."""
    return np.array([int(reader.index(Window(c, r, 1, 1))[0, 0]) for r, c in zip(row.tolist(), col.tolist())],
                    dtype=np.int64)


STRATUM_COLOURS: tuple[tuple[int, int, int], ...] = (
    (228, 26, 28), (55, 126, 184), (77, 175, 74), (152, 78, 163), (255, 127, 0), (166, 86, 40), (247, 129, 191),
    (153, 153, 153), (27, 158, 119), (217, 95, 2), (117, 112, 179), (231, 41, 138), (102, 166, 30), (230, 171, 2))
"""Point colours of a change sample's strata (qualitative, RGB), repeated when there are more strata."""

@dataclass
class SampleDesign:
    """What was drawn: per stratum (class index) its pixels, area and sample size."""

    classmap: str
    points: str
    table: ClassTable
    seed: int
    n_requested: int
    min_per_class: int | None
    stratum_pixels: np.ndarray
    stratum_m2: np.ndarray  # NaN without georeferencing
    allocation: np.ndarray
    pixel_area: str
    crs_wkt: str | None
    notes: list[str] = field(default_factory=list)
    change: ChangeStrata | None = None  # a sample of a transition map: its strata

    @property
    def names(self) -> list[str]:
        """The strata names: the classes, or the change strata."""
        return self.change.names if self.change else list(self.table.names)

    def to_dict(self) -> dict[str, Any]:
        """The design sidecar's JSON object (``points_design.json``)."""
        names = self.names
        extra = {"change": self.change.to_dict()} if self.change else {}
        return {
            "design": "stratified random sample of pixel centres; strata = "
                      + (f"mapped {self.change.kind} of landseg change" if self.change else "mapped classes")
                      + " (Olofsson et al. 2014)", **extra,
            "classmap": self.classmap, "points": self.points, "class_table": self.table.name,
            "seed": self.seed, "n_requested": self.n_requested, "n_drawn": int(self.allocation.sum()),
            "min_per_class": self.min_per_class, "pixel_area": self.pixel_area,
            "strata": [{"index": i, "name": names[i], "pixels": int(self.stratum_pixels[i]),
                        "area_m2": None if math.isnan(self.stratum_m2[i]) else float(self.stratum_m2[i]),
                        "sample_size": int(self.allocation[i])} for i in range(len(names))],
            "notes": list(self.notes),
        }

    def summary(self, notes: bool = True) -> str:
        """The allocation table and where the points went; ``notes=False`` leaves the notes out (the CLI
        writes them to stderr)."""
        lines = [f"{'stratum':<24}{'pixels':>14}{'share':>9}{'points':>8}"]
        total = max(int(self.stratum_pixels.sum()), 1)
        for i, name in enumerate(self.names):
            lines.append(f"{name:<24}{int(self.stratum_pixels[i]):>14,}{self.stratum_pixels[i] / total:>9.2%}"
                         f"{int(self.allocation[i]):>8}")
        lines.append(f"{int(self.allocation.sum())} points (seed {self.seed}) written to {self.points}; "
                     f"design in {design_path(self.points).name}")
        return "\n".join(lines + ([f"note: {n}" for n in self.notes] if notes else []))


def draw_sample(
    classmap: str | Path, out: str | Path, n: int, *, min_per_class: int | None = None, seed: int = 0,
    table: str | Path | ClassTable | None = None, truth: str | Path | None = None, gsd: float | None = None,
    strip_rows: int | None = None, strata: str | None = None, roles: list[str] | None = None,
    overwrite: bool = False,
) -> SampleDesign:
    """Draw ``n`` stratified random pixel centres from ``classmap`` and write them to ``out``.

    Nodata and ignore pixels are never drawn. ``truth`` (a label raster on the same grid) fills
    ``reference`` with the class found there (for tests and benchmarks); otherwise it is empty. A truth raster
    off the map's grid (another CRS, origin, pixel size or size) is refused with :class:`InputError`.
    The same seed, map and options give the same points. An existing ``out`` or design sidecar (perhaps a
    sample an interpreter has labelled) is refused with :class:`InputError` unless ``overwrite``.

    A transition map of ``landseg change`` is stratified by its transitions (``strata="transitions"``) or
    their role-level groups (``strata="roles"``, :mod:`landseg.accuracy.strata`; ``roles`` edits the roles
    first); its points carry ``map_before``/``map_after`` and two empty fields, ``reference_before`` and
    ``reference_after``, for the classes found on the ground at each date.
    """
    path, out = Path(classmap), Path(out)
    if not overwrite:
        check_not_overwriting(out)
    _check_counts(n, min_per_class)
    if truth:  # before any work: the reference is read by row/column, so it must be on the map's grid
        with open_raster(path) as ds, open_raster(truth) as tds:
            check_same_grid(tds, ds, "--truth")
    areas = class_areas(path, table, gsd=gsd, strip_rows=strip_rows, allow_pixels_only=True)
    tbl = areas.table
    sizes = np.array([c.pixels for c in areas.classes], dtype=np.int64)
    stratum_m2 = np.array([c.area_m2 for c in areas.classes], dtype=np.float64)
    cs = _change_strata(path, truth, strata, roles)
    if cs is not None:
        lut = cs.code_lut()
        sizes = np.rint(cs.aggregate(np.resize(sizes, cs.table.num_classes ** 2))).astype(np.int64)
        stratum_m2 = cs.aggregate(np.resize(stratum_m2, cs.table.num_classes ** 2))
    if sizes.sum() == 0:
        raise InputError(f"{path}: every pixel is nodata or ignore; nothing to sample")
    alloc = allocate(sizes, n, min_per_class)
    ranks = draw_ranks(sizes, alloc, seed)
    with open_raster(path) as ds:
        reader = LabelReader(ds, tbl, str(path))
        source = class_strips(reader, strip_rows)
        if cs is not None:
            source = ((r, lut[cls]) for r, cls in source)
        found = np.array(list(locate_ranks(source, ranks)), dtype=np.int64).reshape(-1, 3)
        transform, crs = ds.transform, (ds.crs.to_wkt() if is_georeferenced(ds) else None)
        shape = (ds.width, ds.height)
        codes = classes_at(reader, found[:, 1], found[:, 2]) if cs is not None else None
    order = np.lexsort((found[:, 2], found[:, 1]))  # raster order, whatever the strip height
    found = found[order]
    stratum, row, col = found[:, 0], found[:, 1], found[:, 2]
    x = transform.a * (col + 0.5) + transform.b * (row + 0.5) + transform.c
    y = transform.d * (col + 0.5) + transform.e * (row + 0.5) + transform.f
    names = np.array(cs.names if cs else tbl.names, dtype=object)
    fields: dict[str, np.ndarray] = {"map_class": names[stratum], "map_index": stratum.astype(np.int32)}
    if cs is not None and codes is not None:
        fields.update(_change_fields(cs, codes[order]))
    else:
        fields["reference"] = _truth_at(truth, tbl, row, col, shape) if truth else \
            np.array([""] * len(row), dtype=object)
    fields.update({"row": row.astype(np.int32), "col": col.astype(np.int32)})
    style = sample_style(tbl) if cs is None else sample_style(cs.table, strata=[str(v) for v in cs.names])
    write_points(out, np.asarray(x), np.asarray(y), fields, crs, layer="reference_sample", styles=[style])
    notes = list(areas.notes) + allocation_notes(sizes, n, min_per_class, alloc, [str(x) for x in names])
    if min(n, int(sizes.sum())) < n:
        notes.append(f"the map holds only {int(sizes.sum())} valid pixels; all of them are drawn")
    design = SampleDesign(str(path), str(out), tbl, seed, n, min_per_class, sizes, stratum_m2, alloc,
                          areas.pixel_area, crs, notes, change=cs)
    write_json_atomic(design_path(out), design.to_dict())
    return design


def _check_counts(n: int, min_per_class: int | None) -> None:
    """Refuse a sample size under 1 and a negative minimum per class."""
    if n < 1:
        raise InputError(f"--n must be at least 1, got {n}")
    if min_per_class is not None and min_per_class < 0:
        raise InputError(f"--min-per-class must be 0 or more, got {min_per_class}")


def _change_strata(path: Path, truth: str | Path | None, strata: str | None,
                   roles: list[str] | None) -> ChangeStrata | None:
    """The strata of a transition map of ``landseg change`` (None for a class map, which takes no ``strata`` or
    ``roles``); a change sample has no single-date ``truth`` and at most 15 classes."""
    with open_raster(path) as ds:
        base = change_table(ds)
    if base is None:
        if strata or roles:
            raise InputError(f"{path.name} is not a transition map of landseg change: --strata and --roles apply to "
                             "a change sample (landseg sample OUT/transitions.tif)")
        return None
    if truth:
        raise InputError("--truth fills one date's reference; a change sample has reference_before and "
                         "reference_after: fill them from the two dates")
    if base.num_classes ** 2 > 250:
        raise InputError(f"{path.name}: {base.num_classes} classes make {base.num_classes ** 2} transitions; "
                         "a change sample needs at most 15 classes (225 transitions)")
    return ChangeStrata(base.with_roles(roles), strata or "transitions")


def _change_fields(cs: ChangeStrata, codes: np.ndarray) -> dict[str, np.ndarray]:
    """A change sample's point fields: the mapped class at each date, and the two empty reference fields."""
    k, classes = cs.table.num_classes, np.array(cs.table.names, dtype=object)
    empty = np.array([""] * len(codes), dtype=object)
    return {"map_before": classes[codes // k], "map_after": classes[codes % k],
            "reference_before": empty, "reference_after": empty.copy()}


def check_not_overwriting(out: Path) -> None:
    """Refuse to replace an existing sample (its points may carry an interpreter's ``reference`` labels)."""
    there = [p for p in (out, design_path(out)) if p.exists()]
    if not there:
        return
    what = "a file"
    if out.exists():
        try:
            _, _, fields, _ = read_points(out)
            ref = fields.get("reference")
            n = len(next(iter(fields.values()))) if fields else 0
            filled = 0 if ref is None else sum(1 for v in ref.tolist() if v not in (None, "") and v == v)
            what = f"a sample of {n} points, {filled} with a reference label filled in"
        except InputError:
            what = "a file that is not a readable point layer"
    raise InputError(f"{there[0]}: already exists ({what}); it is kept. Choose another --out, or pass --overwrite to "
                     "replace it (and its design sidecar)")


def sample_style(table: ClassTable, layer: str = "reference_sample", strata: Sequence[str] | None = None) -> LayerStyle:
    """The QGIS style of a sample: points coloured by ``map_class`` and the reference fields edited through a
    drop-down of the class names (a Value Map widget). A sample of classes is coloured with the class colours
    and has ``reference``; a change sample (``strata``: its transition or role-transition names) gets a
    distinct colour per stratum and drop-downs for ``reference_before`` and ``reference_after``."""
    if strata is None:
        cats: list[tuple[str, Sequence[int]]] = [(n, c) for n, c in zip(table.names, table.colors)]
        fields: tuple[str, ...] = ("reference",)
    else:
        cats = [(n, STRATUM_COLOURS[k % len(STRATUM_COLOURS)]) for k, n in enumerate(strata)]
        fields = ("reference_before", "reference_after")
    return LayerStyle("sample", categorized_qml("map_class", cats, kind="marker", extra=value_map_xml(
        fields, table.names)), categorized_sld(layer, "map_class", cats, kind="marker"), True,
        f"sample points by mapped {'class' if strata is None else 'stratum'}; {', '.join(fields)} pick a class "
        f"of the {table.name!r} table")


def _truth_at(truth: str | Path, table: ClassTable, row: np.ndarray, col: np.ndarray,
              shape: tuple[int, int]) -> np.ndarray:
    """Class names of a label raster at the sampled pixels ('' where it is nodata/ignore)."""
    tpath = Path(truth)
    with open_raster(tpath) as tds:
        if (tds.width, tds.height) != shape:
            raise InputError(f"{tpath.name} is {tds.width}x{tds.height} pixels but the map is {shape[0]}x{shape[1]}; "
                             "--truth must be on the map's grid")
        ttable = table_from_raster(tds) or table
        if ttable.names != table.names:
            raise InputError(f"{tpath.name}: its class table ({', '.join(ttable.names)}) differs from the map's")
        found = classes_at(LabelReader(tds, table, str(tpath)), row, col)
    return np.array([table.names[v] if v < table.num_classes else "" for v in found.tolist()], dtype=object)


def pixel_of(transform: rasterio.Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of the pixels holding map coordinates ``x, y`` (may fall outside the grid)."""
    inv = ~transform
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    c, r = inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f
    return np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)


def points_on_grid(ds: rasterio.DatasetReader, x: np.ndarray, y: np.ndarray, crs_wkt: str | None, points: str | Path,
                   where: str, question: str) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of points given in ``crs_wkt`` on the grid of ``ds`` (reprojected when it is georeferenced);
    points off the grid raise :class:`InputError` naming ``points``, ``where`` they should lie and ``question``."""
    if is_georeferenced(ds):
        x, y = reproject_xy(x, y, crs_wkt, ds.crs)
    row, col = pixel_of(ds.transform, x, y)
    outside = (row < 0) | (row >= ds.height) | (col < 0) | (col >= ds.width)
    if outside.any():
        raise InputError(f"{points}: {int(outside.sum())} of {len(x)} points lie outside {where} (bounds "
                         f"{tuple(round(v, 3) for v in ds.bounds)}); {question}")
    return row, col


__all__ = ["SampleDesign", "class_strips", "classes_at", "draw_sample", "pixel_of", "points_on_grid"]
