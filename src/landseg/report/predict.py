"""Report sections of a predict output folder: class map viewer, class areas, zones, truth and the
reference-sample accuracy (error-adjusted areas)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landseg import area
from landseg.classes import ClassTable
from landseg.errors import InputError, LandsegError
from landseg.io.files import read_json
from landseg.io.images import read_rgb
from landseg.io.labels import CLASS_TABLE_TAG
from landseg.io.raster import open_raster
from landseg.layout import PredictPaths, class_maps
from landseg.report.page import (
    MAX_ZONE_ROWS,
    Page,
    bar_chart,
    cell,
    esc,
    fmt_num,
    fmt_pct,
    is_finite,
    read_classes,
    read_image,
    table_of_raster,
    truth_table,
    viewer,
)
from landseg.report.planning import planning_section
from landseg.results import PredictRecord
from landseg.views import (
    class_layer,
    fit,
    resize,
    unblend,
)


def area_table(data: dict[str, Any], table: ClassTable, raster: str = "") -> tuple[str, str]:
    """HTML table and SVG bar chart of a class-area result (``landseg.area`` JSON)."""
    known = any(is_finite(c.get("area_m2")) for c in data["classes"])
    head = ("<tr><th>class</th><th class=\"num\">pixels</th><th class=\"num\">area (m²)</th>"
            "<th class=\"num\">area (ha)</th><th class=\"num\">share (%)</th></tr>")
    rows = []
    colors = {n: c for n, c in zip(table.names, table.colors)}
    for c in data["classes"]:
        n = c["name"]
        rows.append(
            f'<tr data-class="{esc(n)}"><td><span class="swatch" style="background:rgb{tuple(colors.get(n, (0, 0, 0)))}">'
            f"</span> {esc(n)}</td>"
            + cell(c.get("pixels"), "pixels", fmt_num(c.get("pixels"), 0), class_=n, raster=raster)
            + cell(c.get("area_m2"), "area-m2", None, class_=n, raster=raster)
            + cell(c.get("area_ha"), "area-ha", fmt_num(c.get("area_ha"), 4), class_=n, raster=raster)
            + cell(c.get("share"), "share", fmt_pct(c.get("share")), class_=n, raster=raster) + "</tr>")
    tot = data.get("total", {})
    rows.append('<tr class="total" data-class="total"><td>total</td>'
                + cell(tot.get("pixels"), "pixels", fmt_num(tot.get("pixels"), 0), class_="total", raster=raster)
                + cell(tot.get("area_m2"), "area-m2", None, class_="total", raster=raster)
                + cell(tot.get("area_ha"), "area-ha", fmt_num(tot.get("area_ha"), 4), class_="total", raster=raster)
                + cell(tot.get("share"), "share", fmt_pct(tot.get("share")), class_="total", raster=raster) + "</tr>")
    foot = f'<p class="muted">pixel area: {esc(data.get("pixel_area", "unknown"))}</p>'
    nod = data.get("nodata", {}).get("pixels")
    if nod:
        foot += f'<p class="muted">nodata/ignore: {nod:,} pixels, not in the shares</p>'
    foot += "".join(f'<p class="muted">note: {esc(n)}</p>' for n in data.get("notes", []))
    html_table = f'<div class="scroll"><table class="areas" data-raster="{esc(raster)}">{head}{"".join(rows)}</table></div>{foot}'
    names = [c["name"] for c in data["classes"]]
    vals = [c.get("area_m2") if known else c.get("pixels") for c in data["classes"]]
    chart = bar_chart(names, vals, [colors.get(n, (0, 0, 0)) for n in names], "m²" if known else "px",
                      "area per class" if known else "pixels per class (no pixel size known)")
    return html_table, chart


def _pixel_counts(path: Path, table: ClassTable) -> dict[str, Any]:
    """Fallback class-area data from the class map itself: areas where it is georeferenced."""
    try:
        return area.class_areas(path, table, allow_pixels_only=True).to_dict()
    except LandsegError:

        counts = np.zeros(256, np.int64)
        with open_raster(path) as ds:
            for _, win in ds.block_windows(1):
                counts += np.bincount(ds.read(1, window=win).ravel(), minlength=256)
        nc = table.num_classes
        valid = int(counts[:nc].sum())
        return {"pixel_area": "unknown: pixel counts only", "notes": [],
                "classes": [{"name": n, "pixels": int(counts[i]), "area_m2": None, "area_ha": None,
                             "share": counts[i] / valid if valid else 0.0} for i, n in enumerate(table.names)],
                "total": {"pixels": valid, "area_m2": None, "area_ha": None, "share": 1.0 if valid else 0.0},
                "nodata": {"pixels": int(counts[nc:].sum())}}


def zones_table(data: dict[str, Any]) -> str:
    """The class areas per zone (first MAX_ZONE_ROWS zones)."""
    zones = data.get("zones", [])
    if not zones:
        return '<p class="muted">no zones</p>'
    classes = list(zones[0]["classes"])
    head = ("<tr><th>" + esc(data.get("zone_id") or "zone") + "</th><th class=\"num\">zone (m²)</th><th class=\"num\">inside (%)</th>"
            + "".join(f'<th class="num">{esc(c)} (m²)</th>' for c in classes) + '<th class="num">nodata (m²)</th></tr>')
    rows = []
    for z in zones[:MAX_ZONE_ROWS]:
        zid = z["id"]
        rows.append(f'<tr data-zone="{esc(zid)}"><td>{esc(zid)}</td>'
                    + cell(z.get("zone_area_m2"), "zone-m2", None, zone=zid)
                    + cell(z.get("covered_share"), "inside", fmt_pct(z.get("covered_share")), zone=zid)
                    + "".join(cell(z["classes"][c].get("area_m2"), "area-m2", None, zone=zid, class_=c) for c in classes)
                    + cell(z.get("nodata_m2"), "nodata-m2", None, zone=zid) + "</tr>")
    more = (f'<p class="muted">first {MAX_ZONE_ROWS} of {len(zones)} zones shown; all are in the JSON/CSV</p>'
            if len(zones) > MAX_ZONE_ROWS else "")
    rule = f'<p class="muted">coverage rule: {esc(data.get("coverage_rule", ""))}</p>' if data.get("coverage_rule") else ""
    return f'<div class="scroll"><table class="zones">{head}{"".join(rows)}</table></div>{more}{rule}'


def interval_text(d: dict[str, Any], key: str) -> str:
    """A 95 % interval of an accuracy as 'low–high' in %, from ``KEY_low``/``KEY_high`` (older records: ± ``KEY``)."""
    lo, hi = d.get(f"{key}_low"), d.get(f"{key}_high")
    if is_finite(lo) and is_finite(hi):
        return f"{fmt_pct(lo)}–{fmt_pct(hi)}" + (" (Wilson)" if d.get(f"{key}_method") == "wilson" else "")
    return f"± {fmt_pct(d.get(key))}" if is_finite(d.get(key)) else "–"


def accuracy_table(data: dict[str, Any]) -> str:
    """Accuracy from a reference sample (``landseg area --reference``): per class the mapped and
    error-adjusted areas with their 95 % intervals, user's and producer's accuracy with theirs, the
    overall accuracy, and the error matrix in estimated area proportions."""
    classes = data.get("classes", [])
    known = bool(classes) and all(is_finite(c.get("mapped_m2")) for c in classes)
    unit, key = ("m²", "m2") if known else ("px", "pixels")
    head = (f'<tr><th>class</th><th class="num">sample</th><th class="num">mapped ({unit})</th>'
            f'<th class="num">adjusted ({unit})</th><th class="num">± 95 % ({unit})</th>'
            '<th class="num">user\'s (%)</th><th class="num">95 % interval</th>'
            '<th class="num">producer\'s (%)</th><th class="num">95 % interval</th></tr>')
    rows = []
    for c in classes:
        n = c["name"]
        mapped = c.get("mapped_m2") if known else c.get("mapped_pixels")
        rows.append(f'<tr data-class="{esc(n)}"><td>{esc(n)}</td>'
                    + cell(c.get("sample_size"), "sample", fmt_num(c.get("sample_size"), 0), class_=n)
                    + cell(mapped, f"mapped-{key}", None, class_=n)
                    + cell(c.get(f"adjusted_{key}"), f"adjusted-{key}", None, class_=n)
                    + cell(c.get(f"ci95_{key}"), f"ci95-{key}", None, class_=n)
                    + cell(c.get("users_accuracy"), "users", fmt_pct(c.get("users_accuracy")), class_=n)
                    + cell(c.get("users_ci95_low"), "users-ci95", interval_text(c, "users_ci95"), class_=n)
                    + cell(c.get("producers_accuracy"), "producers", fmt_pct(c.get("producers_accuracy")), class_=n)
                    + cell(c.get("producers_ci95_low"), "producers-ci95", interval_text(c, "producers_ci95"), class_=n)
                    + "</tr>")
    oa = data.get("overall_accuracy", {})
    pts = data.get("points", {})
    foot = (f'<p class="overall" data-value="{esc(oa.get("value"))}">overall accuracy: {fmt_pct(oa.get("value"))} % '
            f'(95 % interval {interval_text(oa, "ci95")} %); {fmt_num(pts.get("labelled"), 0)} labelled reference points'
            + (f', {fmt_num(pts.get("unlabelled"), 0)} unlabelled skipped' if pts.get("unlabelled") else "") + "</p>")
    foot += f'<p class="muted">method: {esc(data.get("method", ""))}</p>'
    foot += "".join(f'<p class="muted">note: {esc(n)}</p>' for n in data.get("notes", []))
    em = data.get("error_matrix", {})
    names, prop = em.get("classes", []), em.get("proportions", [])
    matrix = ""
    if names and prop:
        mhead = ("<tr><th>map \\ reference</th>" + "".join(f'<th class="num">{esc(n)}</th>' for n in names)
                 + '<th class="num">total</th></tr>')
        mrows = [f'<tr data-class="{esc(a)}"><td>{esc(a)}</td>'
                 + "".join(cell(v, "proportion", fmt_pct(v), map=a, reference=b) for b, v in zip(names, prop[i]))
                 + cell(sum(prop[i]), "proportion", fmt_pct(sum(prop[i])), map=a, reference="total") + "</tr>"
                 for i, a in enumerate(names)]
        cols = [sum(r[j] for r in prop) for j in range(len(names))]
        mrows.append('<tr class="total"><td>total</td>'
                     + "".join(cell(v, "proportion", fmt_pct(v), map="total", reference=b) for b, v in zip(names, cols))
                     + cell(sum(cols), "proportion", fmt_pct(sum(cols)), map="total", reference="total") + "</tr>")
        matrix = ("<h4>Error matrix in estimated area proportions (%)</h4>"
                  f'<div class="scroll"><table class="error-matrix">{mhead}{"".join(mrows)}</table></div>')
    return f'<div class="scroll"><table class="accuracy">{head}{"".join(rows)}</table></div>{foot}{matrix}'


# ============================================================================ predict folders
def domain_banner(rec: PredictRecord) -> str:
    """The domain check of a predict record: a red banner listing its warnings (nothing when there are none)."""
    warnings = rec.warnings or []
    if not warnings:
        return ""
    d = rec.domain or {}
    figs = [f"{k.replace('_', ' ')} {d[k]:.0%}" for k in ("unseen_colour_share", "low_confidence_share") if k in d]
    items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
    return (f'<div class="domain-warning" role="alert"><strong>Domain check: the map may be wrong for this image'
            f'</strong> (model trained on: {esc(d.get("model_description", "unknown"))})'
            f'{"<br><span class=muted>" + esc(", ".join(figs)) + "</span>" if figs else ""}<ul>{items}</ul></div>')


def record_meta(rec: PredictRecord | None) -> str:
    """One line on what was predicted how: input, size, CRS, model, seconds (nothing without a record)."""
    if rec is None:
        return ""
    bits = [f"input <code>{esc(rec.input)}</code>"]
    if rec.size:
        bits.append(f"{rec.size[0]:,} × {rec.size[1]:,} pixels")
    if rec.crs:
        bits.append(esc(rec.crs))
    if rec.model:
        bits.append(f"model <code>{esc(rec.model)}</code>")
    if rec.seconds_total is not None:
        bits.append(f"{rec.seconds_total} s")
    return f'<p class="meta">{" · ".join(bits)}</p>'


def _background(paths: PredictPaths, rec: PredictRecord | None, shape: tuple[int, int], max_size: int) -> np.ndarray | None:
    """The image under the class layer: the input raster if it is still there, else recovered from the overlay and
    preview PNGs; None when neither is available."""
    src = Path(rec.input) if rec is not None and rec.input else None
    if src is not None and src.exists():
        image = read_image(src, shape)
        if image is not None:
            return image
    if not (paths.preview.exists() and paths.overlay.exists()):
        return None
    pv, ov = read_rgb(paths.preview), read_rgb(paths.overlay)
    if pv.shape != ov.shape:
        return None
    image = fit(unblend(ov, pv), max_size, nearest=False)
    return resize(image, shape) if image.shape[:2] != shape else image


def _side_results(page: Page, paths: PredictPaths, table: ClassTable) -> None:
    """What ``landseg area`` and the pipeline kept beside the class map: zones, accuracy, planning, truth."""
    for zpath in paths.side_files("zones"):
        page.add(f"<h3>Class areas per zone ({esc(zpath.name)})</h3>", zones_table(read_json(zpath)))
    for apath in paths.side_files("accuracy"):
        d = read_json(apath)
        if "error_matrix" in d:
            page.add(f"<h3>Accuracy and error-adjusted areas ({esc(Path(d.get('reference', '')).name)})</h3>",
                     accuracy_table(d))
    for ppath in paths.side_files("planning"):
        planning_section(page, ppath)
    for tpath in paths.side_files("truth"):
        d = read_json(tpath)
        if "classes" in d and d["classes"] and "true_m2" in d["classes"][0]:
            t_html, t_chart = truth_table(d["classes"], table)
            page.add(f"<h3>Predicted vs true area ({esc(Path(d.get('truth', '')).name)})</h3>",
                     f'<div class="grid2"><div>{t_html}</div><div>{t_chart}</div></div>')


def _predict_section(page: Page, paths: PredictPaths, max_size: int) -> None:
    """One class map: its record, the class layer over the image, class areas and the results kept beside it."""
    stem = paths.stem
    table = table_of_raster(paths.classes)
    if table is None:
        raise InputError(f"{paths.classes}: no landseg class table embedded ({CLASS_TABLE_TAG} tag); "
                         "is it a class map written by `landseg predict`?")
    rec = PredictRecord.read(paths.record) if paths.record.exists() else None
    page.h2(stem, id=f"raster-{stem}")
    page.add(record_meta(rec))
    if rec is not None and rec.note:
        page.add(f'<p class="muted">{esc(rec.note)}</p>')
    page.add(domain_banner(rec) if rec is not None else "")
    # images: class layer from the class map (exact colours, transparent nodata), image from the input
    # raster if it is still there, else recovered from the overlay PNG.
    index, (H, W) = read_classes(paths.classes, max_size)
    image = _background(paths, rec, index.shape, max_size)
    shown = f"shown at {index.shape[1]:,} × {index.shape[0]:,} of {W:,} × {H:,} pixels" if (H, W) != index.shape else f"{W:,} × {H:,} pixels"
    cap = f"{stem}: classes over the image ({shown})" if image is not None else f"{stem}: class map ({shown}; the image is not available)"
    page.add(viewer(page, class_layer(index, table), table, image, cap))
    has_areas = paths.areas_json.exists()
    data = read_json(paths.areas_json) if has_areas else _pixel_counts(paths.classes, table)
    if not has_areas:
        page.note(f"{paths.areas_json.name} not found: areas computed from the class map itself")
    html_table, chart = area_table(data, table, raster=stem)
    page.add("<h3>Class areas</h3>", f'<div class="grid2"><div>{html_table}</div><div>{chart}</div></div>')
    _side_results(page, paths, table)


def predict_report(folder: Path, max_size: int) -> Page:
    """The report of a predict output folder: one section per class map (``NAME_classes.tif``)."""
    maps = class_maps(folder)
    page = Page(f"Land-cover segmentation: {folder.name}",
                f"{len(maps)} class map{'s' if len(maps) != 1 else ''} from <code>landseg predict</code> in <code>{esc(folder)}</code>")
    if len(maps) > 1:
        page.add("<nav><ul>" + "".join(f'<li><a href="#raster-{esc(m.stem)}">{esc(m.stem)}</a></li>'
                                       for m in maps) + "</ul></nav>")
    for m in maps:
        _predict_section(page, m, max_size)
    return page
