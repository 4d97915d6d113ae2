"""``landseg area CLASSMAP --reference POINTS``: accuracy and error-adjusted areas from a filled sample.

The strata are re-measured from the map (pixels and m² per mapped class, with landseg's exact pixel
areas); each point's stratum is the map's class at its location, so the estimate always matches
the map it describes. Reference values may be class names or class indices; empty ones are
unlabelled and skipped (and counted).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from landseg.accuracy.estimate import stratified_estimate
from landseg.accuracy.report import AccuracyResult
from landseg.accuracy.sample import classes_at, points_on_grid
from landseg.area.totals import class_areas
from landseg.classes import IGNORE_INDEX, ClassTable
from landseg.errors import InputError
from landseg.io.files import read_json
from landseg.io.labels import LabelReader
from landseg.io.points import read_points
from landseg.io.raster import open_raster
from landseg.layout import design_path


def parse_reference(values: np.ndarray, table: ClassTable, source: str) -> np.ndarray:
    """Reference values (names or indices; empty = unlabelled) as class indices, -1 for unlabelled."""
    out = np.full(len(values), -1, dtype=np.int64)
    bad: dict[str, int] = {}
    for k, v in enumerate(values.tolist()):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        text = str(v).strip()
        if text == "":
            continue
        if text in table.names:
            out[k] = table.names.index(text)
        elif text.lstrip("-").isdigit() and 0 <= int(text) < table.num_classes:
            out[k] = int(text)
        elif isinstance(v, float) and v.is_integer() and 0 <= int(v) < table.num_classes:
            out[k] = int(v)
        else:
            bad[text] = bad.get(text, 0) + 1
    if bad:
        desc = ", ".join(f"{v!r} ({c} points)" for v, c in list(bad.items())[:10])
        raise InputError(f"{source}: reference values not in the {table.name!r} class table: {desc}; use a class "
                         f"name ({', '.join(table.names)}) or index 0-{table.num_classes - 1}, or leave it empty")
    return out


def points_on_map(classmap: Path, points: Path, table: ClassTable) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    """(map stratum per point, reference index per point (-1 unlabelled), points whose map_index differs, notes),
    one point per map pixel."""
    x, y, fields, pcrs = read_points(points)
    if "reference" not in fields:
        raise InputError(f"{points}: no 'reference' field; the fields are {', '.join(fields) or '(none)'}")
    ref = parse_reference(fields["reference"], table, str(points))
    with open_raster(classmap) as ds:
        row, col = points_on_grid(ds, x, y, pcrs, points, classmap.name, "is this the map they were drawn from?")
        stratum = classes_at(LabelReader(ds, table, str(classmap)), row, col)
    on_nodata = stratum == IGNORE_INDEX
    if on_nodata.any():
        raise InputError(f"{points}: {int(on_nodata.sum())} points lie on nodata/ignore pixels of {classmap.name}; "
                         "a sample of this map never holds such points")
    moved = 0
    if "map_index" in fields:
        moved = int(np.sum(np.asarray(fields["map_index"], dtype=np.int64) != stratum))
    keep, notes = one_point_per_pixel(row, col, ref, table, points)
    return stratum[keep], ref[keep], moved, notes


def one_point_per_pixel(row: np.ndarray, col: np.ndarray, ref: np.ndarray, table: ClassTable,
                         points: Path) -> tuple[np.ndarray, list[str]]:
    """Which points to keep: one labelled point per map pixel. A stratified sample of pixels draws each pixel at
    most once, so labelled points repeating a pixel (a copied feature, a file appended twice) are the same sample
    unit, not new evidence: counted once, with a note; repeats labelled with different classes are refused."""
    keep = np.ones(len(row), dtype=bool)
    if int((ref >= 0).sum()) < 2:
        return keep, []
    key = row.astype(np.int64) * (int(col.max()) + 1) + col
    order = np.argsort(key, kind="stable")
    order = order[ref[order] >= 0]  # unlabelled points are skipped anyway: only labelled ones can repeat a unit
    ks = key[order]
    starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    sizes = np.diff(np.r_[starts, len(ks)])
    dropped, conflicts = [], []
    for s0, n in zip(starts[sizes > 1], sizes[sizes > 1]):
        members = order[s0:s0 + n]  # feature order
        labels = sorted({int(v) for v in ref[members]})
        if len(labels) > 1:
            conflicts.append(f"features {', '.join(str(int(m) + 1) for m in members)} (row {int(row[members[0]])}, "
                             f"col {int(col[members[0]])}): {', '.join(table.names[v] for v in labels)}")
            continue
        others = [int(m) for m in members[1:]]
        keep[others] = False
        dropped += others
    if conflicts:
        raise InputError(f"{points}: points on the same map pixel are labelled with different classes: "
                         f"{'; '.join(conflicts[:5])}{' ...' if len(conflicts) > 5 else ''}; a pixel has one "
                         "reference class: fix or remove the repeated points")
    if not dropped:
        return keep, []
    shown = ", ".join(str(d + 1) for d in sorted(dropped)[:10]) + (" ..." if len(dropped) > 10 else "")
    return keep, [f"{len(dropped)} points repeat the map pixel of another point (features {shown}); each pixel is "
                  "one sample unit, so they are counted once (a stratified random sample draws a pixel at most once)"]


def _check_strata(counts: np.ndarray, pixels: np.ndarray, table: ClassTable, points: Path) -> list[str]:
    """Refuse strata with mapped area and no labelled point; note those with one."""
    n_i = counts.sum(axis=1)
    none = [table.names[i] for i in range(len(n_i)) if pixels[i] > 0 and n_i[i] == 0]
    if none:
        raise InputError(
            f"{points}: no labelled points in the mapped stratum {', '.join(none)}: its reference composition, "
            "and so the overall accuracy and every error-adjusted area, cannot be estimated; label points there "
            "(landseg sample draws at least --min-per-class per stratum)")
    one = [table.names[i] for i in range(len(n_i)) if pixels[i] > 0 and n_i[i] == 1]
    if one:
        return [f"stratum {', '.join(one)} has a single labelled point: estimates are given, but its variance is "
                "undefined (n - 1 = 0), so its user's accuracy SE and the SEs/intervals of the overall accuracy, "
                "the producer's accuracies and every adjusted area are n/a; label at least 2 points per stratum"]
    return []


def assess_accuracy(classmap: str | Path, points: str | Path, table: str | Path | ClassTable | None = None, *,
                    gsd: float | None = None, strip_rows: int | None = None) -> AccuracyResult:
    """Accuracy (overall, user's, producer's, with SEs) and error-adjusted areas with 95 % intervals."""
    path, pts = Path(classmap), Path(points)
    areas = class_areas(path, table, gsd=gsd, strip_rows=strip_rows, allow_pixels_only=True)
    tbl = areas.table
    pixels = np.array([c.pixels for c in areas.classes], dtype=np.float64)
    m2 = np.array([c.area_m2 for c in areas.classes], dtype=np.float64)
    stratum, ref, moved, dup_notes = points_on_map(path, pts, tbl)
    labelled = ref >= 0
    k = tbl.num_classes
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (stratum[labelled], ref[labelled]), 1)
    notes = list(areas.notes) + dup_notes + _check_strata(counts, pixels, tbl, pts)
    if moved:
        notes.append(f"{moved} points have a map_index that differs from the map at their location; the strata are "
                     "taken from the map (was the map changed after sampling?)")
    notes += _design_notes(pts, pixels)
    known = bool(np.isfinite(m2).all())
    if not known:
        notes.append("the map has no georeferencing and no --gsd: areas are given in pixels")
    est = stratified_estimate(counts, m2 if known else pixels, float((m2 if known else pixels).sum()), tbl.names)
    return AccuracyResult(str(path), str(pts), tbl, areas.pixel_area, est, pixels.astype(np.int64),
                          int(pixels.sum()), len(ref), int((~labelled).sum()), notes, area_known=known)


def _design_notes(points: Path, pixels: np.ndarray) -> list[str]:
    design = design_path(points)
    if not design.exists():
        return []
    try:
        drawn = np.array([s["pixels"] for s in read_json(design)["strata"]], dtype=np.float64)
    except (InputError, KeyError, TypeError):
        return [f"{design.name} is not a readable sample design; ignored"]
    if drawn.shape != pixels.shape or not np.array_equal(drawn, pixels):
        return [f"the strata in {design.name} differ from the map's: the sample was drawn from another map or the "
                "map changed since; the estimates use the map's strata"]
    return []
