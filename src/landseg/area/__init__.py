"""Class areas in real units: per class, per zone, per connected object, and against the truth.

The public face of the package; the parts, from the bottom up:

* :mod:`landseg.area.pixel_area`: ground area of the pixels (projected, geographic, Mercator, gsd);
* :mod:`landseg.area.coverage`: exact fractional pixel coverage of polygons;
* :mod:`landseg.area.tables`: units, table rendering (text, CSV, Markdown, JSON);
* :mod:`landseg.area.classmap`: :func:`open_classmap`, the preamble shared by every measure;
* :mod:`landseg.area.totals`, :mod:`~landseg.area.zones`, :mod:`~landseg.area.objects`,
  :mod:`~landseg.area.truth`: the measures; :mod:`~landseg.area.indicators`: planning indicators per
  zone built on the zone areas and the objects.

Rasters are decoded by :mod:`landseg.io.labels` and zones read by :mod:`landseg.io.vector`.
Everything is read in strips of rows, so memory stays bounded on rasters far larger than memory.
"""

from __future__ import annotations

from landseg.area.classmap import ClassMap, open_classmap
from landseg.area.coverage import pixel_coverage
from landseg.area.indicators import INDICATORS, IndicatorResult, Limit, zone_indicators
from landseg.area.objects import ObjectClassStats, ObjectStats, object_stats
from landseg.area.pixel_area import PixelArea, pixel_area_source
from landseg.area.tables import UNITS, render_table, unit_columns
from landseg.area.totals import AreaResult, ClassArea, class_areas
from landseg.area.truth import ClassComparison, TruthComparison, compare_with_truth
from landseg.area.zones import COVERAGE_RULE, ZonalResult, ZoneArea, zonal_areas
from landseg.io.labels import (
    CLASS_TABLE_TAG,
    LabelReader,
    resolve_table,
    table_from_raster,
)
from landseg.io.vector import read_zones, write_features

__all__ = [
    "AreaResult", "COVERAGE_RULE", "INDICATORS", "IndicatorResult", "Limit", "CLASS_TABLE_TAG", "ClassArea",
    "ClassComparison", "ClassMap", "LabelReader",
    "ObjectClassStats", "ObjectStats", "PixelArea", "TruthComparison", "UNITS", "ZonalResult", "ZoneArea",
    "class_areas", "compare_with_truth", "object_stats", "open_classmap", "pixel_area_source", "pixel_coverage",
    "read_zones", "render_table", "resolve_table", "table_from_raster", "unit_columns", "write_features",
    "zonal_areas", "zone_indicators",
]
