"""Connected objects per class: count and total/mean/median/max area (:func:`object_stats`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# scipy's submodules load on first use (scipy.ndimage, scipy.sparse.csgraph: ~0.5 s): every user of
# landseg.area imports this module, and plain class areas never label objects
import scipy

from landseg.area.classmap import ClassMap, open_classmap
from landseg.area.tables import UNITS, Col, Report, find_by, unit_key
from landseg.classes import ClassTable
from landseg.errors import InputError
from landseg.io.raster import strips


@dataclass
class ObjectClassStats:
    """Connected objects of one class: how many, and their total, mean, median and largest area."""
    index: int
    name: str
    count: int
    total_m2: float
    mean_m2: float
    median_m2: float
    max_m2: float


@dataclass
class ObjectStats(Report):
    """Connected objects per class."""

    raster: str
    pixel_area: str
    connectivity: int
    min_area_m2: float
    classes: list[ObjectClassStats]
    notes: list[str] = field(default_factory=list)

    def stats(self, name: str) -> ObjectClassStats:
        """The statistics of class ``name``."""
        return find_by(self.classes, "name", name)

    def _table(self, units: str) -> tuple[str, list[Col], list[list[Any]], list[str]]:
        u = unit_key(units)
        lab = UNITS[u][1]
        cols = [Col("class", "str"), Col("objects", "int"), *[Col(f"{h} ({lab})", f"area:{u}")
                                                                 for h in ("total", "mean", "median", "max")]]
        rows = [[c.name, c.count, c.total_m2, c.mean_m2, c.median_m2, c.max_m2] for c in self.classes]
        footer = [f"pixel area: {self.pixel_area}",
                  f"objects: {self.connectivity}-connected pixels of one class"
                  + (f", at least {self.min_area_m2:g} m²" if self.min_area_m2 > 0 else "")]
        return f"Objects in {Path(self.raster).name}", cols, rows, footer

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        """The objects per class as JSON-ready data."""
        return {"raster": str(self.raster), "pixel_area": self.pixel_area, "connectivity": self.connectivity,
                "min_area_m2": self.min_area_m2,
                "classes": [{"index": c.index, "name": c.name, "count": c.count, "total_m2": c.total_m2,
                             "mean_m2": c.mean_m2, "median_m2": c.median_m2, "max_m2": c.max_m2}
                            for c in self.classes],
                "notes": list(self.notes)}


def object_stats(
    raster: str | Path, classes: str | Sequence[str] | None = None, table: str | Path | ClassTable | None = None, *,
    gsd: float | None = None, min_area: float = 0.0, connectivity: int = 8, strip_rows: int | None = None,
    unknown_to_ignore: bool = False,
) -> ObjectStats:
    """Connected components per class with their count and total/mean/median/max area (m²).

    The raster is labelled strip by strip (``scipy.ndimage.label``); components that continue
    across a strip border are joined through the pairs of touching labels on the two border rows
    (a union-find solved with ``scipy.sparse.csgraph``), so the result equals labelling the whole
    raster at once. Objects smaller than ``min_area`` m² are left out of every figure.
    """
    if connectivity not in (4, 8):
        raise InputError(f"connectivity must be 4 or 8, got {connectivity}")
    with open_classmap(raster, table, gsd=gsd, classes=classes, unknown_to_ignore=unknown_to_ignore) as cm:
        state = _label_strips(cm, connectivity, strip_rows)
    names = cm.table.names
    out = [_class_stats(c, names[c], state[c], min_area) for c in cm.selected]
    pa = cm.pixel_area
    return ObjectStats(str(cm.path), pa.description, connectivity, float(min_area), out, notes=list(pa.notes))


def _label_strips(cm: ClassMap, connectivity: int, strip_rows: int | None,
                  groups: dict[Any, list[int]] | None = None, centroids: bool = False) -> dict[Any, dict[str, Any]]:
    """Per group of classes (default: each selected class on its own): the areas of the pieces
    labelled in each strip and the pairs of pieces touching across strip borders (labels numbered
    across the whole raster); with ``centroids`` also each piece's area-weighted sums of the pixel
    centres' row and column."""

    structure = np.ones((3, 3), bool) if connectivity == 8 else scipy.ndimage.generate_binary_structure(2, 1)
    W = cm.ds.width
    groups = groups if groups is not None else {c: [c] for c in cm.selected}
    state: dict[Any, dict[str, Any]] = {
        g: {"areas": [], "rows": [], "cols": [], "edges": [], "offset": 0, "last": np.zeros(W, np.int64)}
        for g in groups}
    for win in strips(cm.ds, strip_rows):
        cls = cm.reader.index(win)
        pix = cm.pixel_area.block(win.row_off, win.height)
        scale = float(pix) if np.ndim(pix) == 0 else 1.0  # a constant pixel area multiplies the counts
        full = None if np.ndim(pix) == 0 else np.broadcast_to(pix, cls.shape).ravel()
        for g, members in groups.items():
            st = state[g]
            mask = cls == members[0] if len(members) == 1 else np.isin(cls, members)
            lab, n = scipy.ndimage.label(mask, structure=structure)
            if n == 0:
                st["last"] = np.zeros(W, np.int64)
                continue
            flat = lab.ravel()
            st["areas"].append(np.bincount(flat, weights=full, minlength=n + 1)[1:] * scale)
            if centroids:  # moments of the object pixels only: memory in the objects, not the strip
                on = np.flatnonzero(flat)
                wr, wc = on // W + (win.row_off + 0.5), on % W + 0.5
                if full is not None:
                    wr, wc = wr * full[on], wc * full[on]
                st["rows"].append(np.bincount(flat[on], weights=wr, minlength=n + 1)[1:] * scale)
                st["cols"].append(np.bincount(flat[on], weights=wc, minlength=n + 1)[1:] * scale)
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
    return state


def _join(st: dict[str, Any], key: str = "areas") -> np.ndarray:
    """Per object (pieces joined by a union-find over the border pairs): the sum of ``key`` over its pieces."""

    n = st["offset"]
    if n == 0:
        return np.zeros(0)
    values = np.concatenate(st[key])
    if not st["edges"]:
        return values
    e = np.concatenate(st["edges"]) - 1
    graph = scipy.sparse.coo_matrix((np.ones(len(e), np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
    ncomp, comp = scipy.sparse.csgraph.connected_components(graph, directed=False)
    return np.bincount(comp, weights=values, minlength=ncomp)


def _class_stats(c: int, name: str, st: dict[str, Any], min_area: float) -> ObjectClassStats:
    """Join the pieces of one class into objects and sum them up."""
    areas = _join(st)
    areas = areas[areas >= min_area] if min_area > 0 else areas
    if areas.size == 0:
        return ObjectClassStats(c, name, 0, 0.0, 0.0, 0.0, 0.0)
    return ObjectClassStats(c, name, int(areas.size), float(areas.sum()), float(areas.mean()),
                            float(np.median(areas)), float(areas.max()))


def object_centroids(cm: ClassMap, classes: list[int], *, connectivity: int = 8,
                     strip_rows: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The connected objects of ``classes`` taken together (a pixel of any of them joins its
    neighbours of any of them): (area in m², centroid x, centroid y) per object, the centroid being
    the area-weighted mean of its pixel centres, in the raster's CRS. Strip by strip, as
    :func:`object_stats`."""
    st = _label_strips(cm, connectivity, strip_rows, {"objects": list(classes)}, centroids=True)["objects"]
    areas = _join(st)
    if areas.size == 0:
        return areas, areas, areas
    row, col = _join(st, "rows") / areas, _join(st, "cols") / areas
    t = cm.ds.transform
    return areas, t.a * col + t.b * row + t.c, t.d * col + t.e * row + t.f


def large_object_edges(cm: ClassMap, classes: list[int], min_area: float, *, connectivity: int = 8,
                       strip_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres (x, y in the raster's CRS) on the edges of the connected objects of ``classes`` that
    cover at least ``min_area`` m². The nearest point of such an object to any point outside it is one of
    these (edge pixels plus the first and last rows of each strip), so they stand in for its outline in
    distance queries. Two passes over the strips: label and size the objects, then label again and keep
    the edge pixels of the large ones; memory in the objects' edges, not the raster."""
    st = _label_strips(cm, connectivity, strip_rows, {"objects": list(classes)})["objects"]
    n = st["offset"]
    if n == 0:
        return np.zeros(0), np.zeros(0)
    values = np.concatenate(st["areas"])
    if st["edges"]:
        e = np.concatenate(st["edges"]) - 1
        graph = scipy.sparse.coo_matrix((np.ones(len(e), np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
        _, comp = scipy.sparse.csgraph.connected_components(graph, directed=False)
    else:
        comp = np.arange(n)
    large_piece = np.concatenate([[False], (np.bincount(comp, weights=values)[comp] >= min_area)])
    if not large_piece.any():
        return np.zeros(0), np.zeros(0)
    structure = np.ones((3, 3), bool) if connectivity == 8 else scipy.ndimage.generate_binary_structure(2, 1)
    xs, ys, offset = [], [], 0
    t = cm.ds.transform
    for win in strips(cm.ds, strip_rows):
        cls = cm.reader.index(win)
        mask = np.isin(cls, classes)
        lab, k = scipy.ndimage.label(mask, structure=structure)
        if k == 0:
            continue
        keep = large_piece[np.where(lab > 0, lab + offset, 0)]
        offset += k
        if not keep.any():
            continue
        inner = scipy.ndimage.binary_erosion(keep, structure=scipy.ndimage.generate_binary_structure(2, 1),
                                             border_value=0)
        r, c = np.nonzero(keep & ~inner)
        r = r + win.row_off + 0.5
        c = c + 0.5
        xs.append(t.a * c + t.b * r + t.c)
        ys.append(t.d * c + t.e * r + t.f)
    return (np.concatenate(xs), np.concatenate(ys)) if xs else (np.zeros(0), np.zeros(0))
