"""Areas at city scale: partial tables per region (a tile's core), reduced by summation.

:func:`zonal_areas_by_region` cuts the class map (typically ``classes.vrt`` over a mosaic's tiles) into
regions of one tile each, measures every zone on each region's own pixels only (exact fractional
coverage, :func:`~landseg.area.zones.measure_zones`) and sums the partial tables: a parcel that spans
several tiles gets exactly the sum of its parts, which equals the one-pass result up to the order of
floating-point additions. The regions can run on a Ray cluster (:mod:`landseg.cluster`).
:func:`merge_class_areas` sums the class areas of tiles the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landseg.area.classmap import open_classmap
from landseg.area.totals import AreaResult, ClassArea
from landseg.area.zones import ZonalResult, finish_zones, measure_zones, plan_zones
from landseg.classes import ClassTable
from landseg.cluster import ClusterOptions, map_items
from landseg.errors import InputError
from landseg.io.raster import colormap_and_tags

DEFAULT_REGION = 4096  # pixels, when the raster does not say its tile size
Region = tuple[int, int, int, int]


def region_grid(height: int, width: int, tile: tuple[int, int]) -> list[Region]:
    """Regions (row0, col0, row1, col1) of ``tile`` = (height, width) pixels that partition the raster."""
    th, tw = tile
    return [(r, c, min(r + th, height), min(c + tw, width)) for r in range(0, height, th) for c in range(0, width, tw)]


def tile_size(raster: str | Path) -> tuple[int, int]:
    """(height, width) of the tiles of a landseg mosaic VRT (its LANDSEG_TILE_SIZE tag), else a default."""
    _, tags = colormap_and_tags(raster)
    try:
        w, h = (int(v) for v in tags["LANDSEG_TILE_SIZE"].split(","))
        return h, w
    except (KeyError, ValueError):
        return DEFAULT_REGION, DEFAULT_REGION


@dataclass
class RegionMeasure:
    """A picklable worker recipe: measures the zones of one region of a class map."""

    raster: str
    n_zones: int
    table: str | Path | ClassTable | None = None
    gsd: float | None = None
    classes: str | Sequence[str] | None = None

    def __call__(self) -> Callable[[tuple[Region, list[Any]]], tuple[np.ndarray, np.ndarray]]:
        """The worker function: measures the zones of one region."""
        def run(item: tuple[Region, list[Any]]) -> tuple[np.ndarray, np.ndarray]:
            region, jobs = item
            with open_classmap(self.raster, self.table, gsd=self.gsd, classes=self.classes) as cm:
                return measure_zones(cm, jobs, self.n_zones, region)

        return run


def zonal_areas_by_region(
    raster: str | Path, zones: str | Path, zone_id: str | None = None,
    table: str | Path | ClassTable | None = None, *, gsd: float | None = None,
    classes: str | Sequence[str] | None = None, tile: tuple[int, int] | None = None,
    cluster: ClusterOptions | None = None,
) -> ZonalResult:
    """:func:`~landseg.area.zonal_areas` computed per region (tile) and summed, here or on Ray workers."""
    plan = plan_zones(raster, zones, zone_id, table, gsd=gsd, classes=classes)
    h, w = plan.shape
    items = []
    for reg in region_grid(h, w, tile or tile_size(raster)):
        y0, x0, y1, x1 = reg
        jobs = [j for j in plan.jobs if j[0] < y1 and j[2] > y0 and j[1] < x1 and j[3] > x0]
        if jobs:
            items.append((reg, jobs))
    n = len(plan.results)
    pixels, m2 = np.zeros((n, 256)), np.zeros((n, 256))
    errors = []
    for res in map_items(RegionMeasure(str(raster), n, table, gsd, classes), items, cluster):
        if res.error is not None:
            errors.append(f"region {items[res.index][0]}: {res.error}")
            continue
        pixels += res.value[0]
        m2 += res.value[1]
    if errors:
        raise InputError("; ".join(errors))
    result = finish_zones(plan, pixels, m2)
    result.notes.append(f"computed in {len(items)} regions of at most {tile or tile_size(raster)} pixels, summed")
    return result


def merge_class_areas(parts: Sequence[AreaResult], raster: str = "") -> AreaResult:
    """The class areas of tiles summed into one table (the same classes in every part)."""
    first = parts[0]
    rows = []
    valid_m2 = float(sum(p.valid_m2 for p in parts))
    for k, c in enumerate(first.classes):
        m2 = float(sum(p.classes[k].area_m2 for p in parts))
        px = int(sum(p.classes[k].pixels for p in parts))
        rows.append(ClassArea(c.index, c.name, px, m2, m2 / valid_m2 if valid_m2 and math.isfinite(valid_m2) else 0.0))
    notes = list(dict.fromkeys(n for p in parts for n in p.notes))
    notes.append(f"sum of {len(parts)} tiles")
    return AreaResult(raster or first.raster, first.table, first.pixel_area, rows,
                      int(sum(p.valid_pixels for p in parts)), valid_m2, int(sum(p.nodata_pixels for p in parts)),
                      float(sum(p.nodata_m2 for p in parts)), restricted=first.restricted, notes=notes)
