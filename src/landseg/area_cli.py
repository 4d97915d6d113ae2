"""Command-line glue for ``landseg area`` and ``landseg vectorize``: options, one library call, print.

``add_area_args``/``add_vectorize_args`` define the options; ``area``/``vectorize`` take the parsed
namespace, call :mod:`landseg.area` / :mod:`landseg.vectorize` and print the result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

FORMATS = ("table", "csv", "json", "markdown")
_SUFFIX_FORMAT = {".csv": "csv", ".json": "json", ".md": "markdown", ".txt": "table"}


def add_area_args(p: argparse.ArgumentParser) -> None:
    from landseg.area import UNITS

    p.add_argument("classmap", help="class GeoTIFF from predict (table embedded) or any label raster (index or colour)")
    p.add_argument("--class-table", default=None,
                   help="preset (isprs, dubai) or YAML/JSON file; needed unless the raster embeds its table")
    p.add_argument("--gsd", type=float, default=None, help="pixel size in metres, for rasters without georeferencing")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format (default: from the --out suffix, else table)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write to FILE (.csv, .json, .md; with --zones also .gpkg/.geojson) instead of printing")
    p.add_argument("--classes", default=None, help="comma-separated class names to list, e.g. building,tree")
    p.add_argument("--units", choices=list(UNITS), default="m2", help="area unit (default m2, shown with ha)")
    p.add_argument("--zones", default=None, metavar="FILE",
                   help="zones (GeoPackage, GeoJSON, Shapefile; any CRS): the class areas per zone")
    p.add_argument("--zone-id", default=None, metavar="FIELD", help="zone attribute naming each zone (default: FID)")
    p.add_argument("--objects", default=None, metavar="CLASSES",
                   help="connected objects (8-connectivity) of these classes: count, total/mean/median/max area")
    p.add_argument("--min-area", type=float, default=0.0, metavar="M2",
                   help="with --objects: leave out objects smaller than this (m²)")
    p.add_argument("--truth", default=None, metavar="LABELMAP",
                   help="reference label on the same grid: true vs predicted area and error per class")


def add_vectorize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("classmap", help="class GeoTIFF from predict (table embedded) or any label raster")
    p.add_argument("--out", required=True, metavar="FILE", help="output .gpkg or .geojson (raster's CRS)")
    p.add_argument("--class-table", default=None, help="preset (isprs, dubai) or YAML/JSON file")
    p.add_argument("--classes", default=None, help="comma-separated class names to vectorise (default: all)")
    p.add_argument("--simplify", type=float, default=None, metavar="TOL",
                   help="simplification tolerance in CRS units (topology-preserving per polygon)")
    p.add_argument("--min-area", type=float, default=None, metavar="M2", help="drop polygons smaller than this (m²)")
    p.add_argument("--gsd", type=float, default=None, help="pixel size in metres, for rasters without georeferencing")


def _get(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    return getattr(args, name, default)


def area(args: argparse.Namespace) -> int:
    """``landseg area``: class areas (default), per zone (--zones), objects (--objects), vs truth (--truth)."""
    from landseg.area import class_areas, compare_with_truth, object_stats, zonal_areas

    out = Path(args.out) if _get(args, "out") else None
    fmt = _get(args, "format") or (_SUFFIX_FORMAT.get(out.suffix.lower(), "table") if out else "table")
    units = _get(args, "units") or "m2"
    table, gsd, classes = _get(args, "class_table"), _get(args, "gsd"), _get(args, "classes")
    reports: list[tuple[str, Any]] = []
    if _get(args, "zones"):
        reports.append(("zones", zonal_areas(args.classmap, args.zones, _get(args, "zone_id"), table, gsd=gsd,
                                             classes=classes)))
    elif _get(args, "truth"):
        reports.append(("truth", compare_with_truth(args.classmap, args.truth, table, gsd=gsd, classes=classes)))
    else:
        reports.append(("areas", class_areas(args.classmap, table, gsd=gsd, classes=classes)))
    if _get(args, "objects"):
        reports.append(("objects", object_stats(args.classmap, args.objects, table, gsd=gsd,
                                                min_area=_get(args, "min_area") or 0.0)))

    if out is not None and out.suffix.lower() in (".gpkg", ".geojson"):
        if reports[0][0] != "zones":
            from landseg.errors import InputError

            raise InputError(f"{out}: a GeoPackage/GeoJSON output needs --zones; use .csv, .json or .md")
        reports[0][1].write_vector(out, units)
        print(reports[0][1].to_text(units), end="")
        print(f"wrote {out}")
        return 0
    if fmt == "json":
        data = {k: r.to_dict(units) for k, r in reports}
        text = json.dumps(data[reports[0][0]] if len(reports) == 1 else data, indent=2, ensure_ascii=False) + "\n"
    else:
        text = "\n".join(r.format(fmt, units) for _, r in reports)
    if out is not None:
        from landseg.io.raster import atomic_output

        with atomic_output(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
        print(f"wrote {out}")
    else:
        print(text, end="")
    if fmt == "csv":
        for _, r in reports:
            print(f"pixel area: {r.pixel_area}", file=sys.stderr)
    return 0


def vectorize(args: argparse.Namespace) -> int:
    """``landseg vectorize``: polygons per class with their area in m²."""
    from landseg.vectorize import vectorize as run

    res = run(args.classmap, args.out, _get(args, "class_table"), classes=_get(args, "classes"),
              simplify=_get(args, "simplify"), min_area=_get(args, "min_area"), gsd=_get(args, "gsd"))
    print(res.summary())
    return 0
