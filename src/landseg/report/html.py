"""One self-contained HTML file per result folder: images embedded as data URIs, inline CSS and JS.

The input folder is recognised by its files (:func:`detect_kind`):

* ``predict``: ``NAME_classes.tif`` (+ ``NAME_preview.png``, ``NAME_overlay.png``, ``NAME_areas.json``,
  ``NAME_predict.json``, optionally ``NAME_zones.json``, ``NAME_truth.json`` and ``NAME_accuracy.json``
  (a reference sample's accuracy and error-adjusted areas) from ``landseg area``);
* ``evaluate``: ``metrics.json`` written by ``landseg evaluate``;
* ``train``: a training run (``metrics.json`` with a history, ``best.safetensors``/``last.safetensors``,
  and the sample windows ``samples/samples.json`` that :func:`landseg.evaluate.sample_predictions` wrote).

The report only reads these files: it never runs a model.

Each image is shown with its class overlay, whose opacity a slider controls (two stacked images),
and a legend. Numbers sit in table cells with stable classes and ``data-*`` attributes, e.g.
``<td class="area-m2" data-class="building" data-value="123.45">``. Rasters are downsampled to
``max_size`` pixels on their longest side. Nothing is fetched from the network to view the file.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
import numbers
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from rasterio.enums import ColorInterp, Resampling

from landseg import __version__, area
from landseg.classes import ClassTable
from landseg.errors import InputError, LandsegError
from landseg.evaluate import SAMPLES_FILE
from landseg.io.files import atomic_output
from landseg.io.labels import CLASS_TABLE_TAG
from landseg.io.raster import open_raster, reading
from landseg.metrics import REFERENCE_NAMES, VARIANTS, variant_title
from landseg.views import (
    class_layer,
    fit,
    load_png,
    preview_shape,
    resize,
    stretch_to_uint8,
    unblend,
)

KINDS = ("predict", "evaluate", "train")
MAX_ZONE_ROWS = 500

EXPECTED = ("a predict output folder (NAME_classes.tif with NAME_preview.png / NAME_areas.json), "
            "an evaluate folder (metrics.json from `landseg evaluate`), "
            "or a training run folder (metrics.json, best.safetensors / last.safetensors from `landseg train`)")


# ============================================================================ detection
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read JSON ({exc})") from None


def detect_kind(folder: str | Path) -> str:
    """'predict', 'evaluate' or 'train' from the files in ``folder``; else a clear :class:`InputError`."""
    p = Path(folder)
    if not p.exists():
        raise InputError(f"{p}: not found; give {EXPECTED}")
    if not p.is_dir():
        raise InputError(f"{p}: not a folder; give {EXPECTED}")
    metrics = p / "metrics.json"
    data = _read_json(metrics) if metrics.exists() else None
    if isinstance(data, dict) and str(data.get("format", "")).startswith("landseg-evaluate"):
        return "evaluate"
    if (p / "best.safetensors").exists() or (p / "last.safetensors").exists() or (isinstance(data, dict) and "history" in data):
        return "train"
    if any(p.glob("*_classes.tif")):
        return "predict"
    found = sorted(f.name for f in p.iterdir())[:8]
    raise InputError(f"{p}: holds no landseg results (found: {', '.join(found) or 'nothing'}); expected {EXPECTED}")


# ============================================================================ small helpers
def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _finite(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _fmt(x: Any, nd: int = 2) -> str:
    return f"{x:,.{nd}f}" if _finite(x) else "–"


def _pct(x: Any, nd: int = 2) -> str:
    return f"{100 * x:.{nd}f}" if _finite(x) else "–"


def _td(value: Any, cls: str, text: str | None = None, **data: Any) -> str:
    attrs = "".join(f' data-{k.rstrip("_").replace("_", "-")}="{_esc(v)}"' for k, v in data.items())
    dv = ""
    if _finite(value):
        dv = f' data-value="{int(value) if isinstance(value, numbers.Integral) else repr(float(value))}"'

    return f'<td class="{cls} num"{attrs}{dv}>{_esc(text if text is not None else _fmt(value))}</td>'


def _uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _img_uri(arr: np.ndarray, fmt: str = "PNG") -> str:

    buf = io.BytesIO()
    im = Image.fromarray(arr)
    if fmt == "JPEG":
        im.convert("RGB").save(buf, format="JPEG", quality=88)
        return _uri(buf.getvalue(), "image/jpeg")
    im.save(buf, format="PNG", optimize=True)
    return _uri(buf.getvalue(), "image/png")


def _file_uri(path: Path, max_size: int) -> str:
    """A PNG file as a data URI, re-encoded smaller if it is larger than ``max_size``."""
    arr = load_png(path)
    if max(arr.shape[:2]) <= max_size:
        return _uri(path.read_bytes(), "image/png")
    return _img_uri(fit(arr, max_size, nearest=False))


def _table_of_raster(path: Path) -> ClassTable | None:

    with open_raster(path) as ds:
        return area.table_from_raster(ds)


def _read_classes(path: Path, max_size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A class map read decimated (nearest) to at most ``max_size``; and its full (height, width).
    A damaged or truncated file raises :class:`InputError` naming it."""

    with open_raster(path) as ds, reading(str(path)):
        shape = preview_shape(ds.height, ds.width, max_size)
        return ds.read(1, out_shape=shape, resampling=Resampling.nearest), (ds.height, ds.width)


def _read_image(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """An image raster read decimated (average) to ``shape`` as display RGB; None if unreadable."""

    try:
        with open_raster(path) as ds:
            ci = list(ds.colorinterp)
            bands = [ci.index(c) + 1 for c in (ColorInterp.red, ColorInterp.green, ColorInterp.blue) if c in ci]
            if len(bands) != 3:
                bands = [1, 2, 3] if ds.count >= 3 else [1, 1, 1]
            data = ds.read(bands, out_shape=(3, *shape), resampling=Resampling.average)
    except Exception:  # noqa: BLE001 - the image is optional: the report shows the classes alone
        return None
    return stretch_to_uint8(data)


# ============================================================================ HTML pieces
CSS = """
:root { --fg:#1d2329; --muted:#5b6570; --line:#d7dce1; --bg:#ffffff; --accent:#1f6feb; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; padding: 1.2rem 1.5rem 3rem; max-width: 1200px; }
h1 { font-size: 1.55rem; margin: 0 0 .3rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; padding-bottom: .25rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.02rem; margin: 1.2rem 0 .4rem; }
p.meta, .muted, figcaption { color: var(--muted); font-size: .9rem; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .9rem; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f5f7; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.num { white-space: normal; }
table.variants th.num { min-width: 8.5rem; }
tr.total td { font-weight: 600; border-top: 2px solid var(--fg); }
.scroll { overflow-x: auto; max-width: 100%; }
.viewer { margin: .5rem 0 1rem; }
.stack { position: relative; display: block; max-width: 100%; border: 1px solid var(--line);
         background: repeating-conic-gradient(#eee 0% 25%, #fff 0% 50%) 50% / 16px 16px; }
.stack img { display: block; width: 100%; height: auto; image-rendering: auto; }
.stack img.classes { position: absolute; left: 0; top: 0; width: 100%; height: 100%; image-rendering: pixelated; }
.controls { display: flex; align-items: center; gap: .6rem; margin: .4rem 0; font-size: .9rem; }
.controls input[type=range] { width: 14rem; }
ul.legend { list-style: none; padding: 0; margin: .3rem 0 .8rem; display: flex; flex-wrap: wrap; gap: .3rem 1.1rem; }
ul.legend li { display: flex; align-items: center; gap: .35rem; font-size: .9rem; }
.swatch { display: inline-block; vertical-align: -0.2em; width: 1.05rem; height: 1.05rem; border: 1px solid #888; border-radius: 2px; }
.panels { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: .6rem; margin: .4rem 0 1.2rem; }
.panels figure { margin: 0; }
.panels img { width: 100%; height: auto; border: 1px solid var(--line); image-rendering: pixelated; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 1rem; align-items: start; }
img.plot { max-width: 100%; height: auto; border: 1px solid var(--line); }
svg.bars { width: 100%; max-width: 640px; height: auto; }
svg.bars text { font: 12px system-ui, sans-serif; fill: var(--fg); }
.note { background: #fff8e1; border-left: 4px solid #f2b705; padding: .35rem .7rem; margin: .4rem 0; font-size: .9rem; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .8rem; }
@media (max-width: 760px) { .panels { grid-template-columns: 1fr; } body { padding: .8rem; } }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  .controls { display: none; }
  h2 { break-after: avoid; }
  figure, table, .panels, svg, img { break-inside: avoid; }
  .scroll { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""

JS = """
document.querySelectorAll('input.opacity').forEach(function (el) {
  var target = document.getElementById(el.dataset.target);
  var out = document.getElementById(el.dataset.target + '-value');
  function apply() { target.style.opacity = el.value / 100; if (out) out.textContent = el.value + ' %'; }
  el.addEventListener('input', apply); apply();
});
"""


class Page:
    """Collects sections; ``render`` gives the whole document."""

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title = title
        self.subtitle = subtitle
        self.parts: list[str] = []
        self.notes: list[str] = []
        self._ids = 0

    def uid(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids}"

    def add(self, *html_parts: str) -> None:
        self.parts.extend(html_parts)

    def h2(self, text: str, id: str | None = None) -> None:
        self.add(f'<h2{f" id={chr(34)}{_esc(id)}{chr(34)}" if id else ""}>{_esc(text)}</h2>')

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.add(f'<p class="note">{_esc(text)}</p>')

    def render(self) -> str:
        now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        return (
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_esc(self.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{_esc(self.title)}</h1><p class=\"meta\">{self.subtitle}</p></header>\n<main>\n"
            + "\n".join(self.parts)
            + f"\n</main>\n<footer>landseg {__version__} · generated {now} · self-contained file: "
            "all images are embedded, nothing is loaded from the network.</footer>\n"
            f"<script>{JS}</script>\n</body>\n</html>\n"
        )


def legend(table: ClassTable, present: Iterable[int] | None = None) -> str:
    keep = set(present) if present is not None else None
    items = []
    for i, (n, c) in enumerate(zip(table.names, table.colors)):
        if keep is not None and i not in keep:
            continue
        items.append(f'<li data-class="{_esc(n)}"><span class="swatch" style="background:rgb{tuple(c)}"></span>{_esc(n)}</li>')
    return f'<ul class="legend">{"".join(items)}</ul>'


def viewer(page: Page, classes_rgba: np.ndarray, table: ClassTable, image: np.ndarray | None, caption: str,
           opacity: int = 55) -> str:
    """The image with the class layer stacked over it and an opacity slider (or the classes alone)."""
    vid = page.uid("classes")
    h, w = classes_rgba.shape[:2]
    cls_uri = _img_uri(classes_rgba)
    size = f"width:min(100%, 900px, calc(78vh * {w} / {h}))"
    if image is None:
        stack = f'<div class="stack" style="{size}"><img class="classes-only" id="{vid}" alt="class map" width="{w}" height="{h}" src="{cls_uri}"></div>'
        controls = ""
    else:
        stack = (f'<div class="stack" style="{size}; aspect-ratio:{w}/{h}"><img class="base" alt="image" width="{w}" height="{h}" '
                 f'src="{_img_uri(image, "JPEG")}"><img class="classes overlay" id="{vid}" alt="class overlay" '
                 f'src="{cls_uri}" style="opacity:{opacity / 100}"></div>')
        controls = (f'<label class="controls">class overlay opacity <input type="range" class="opacity" min="0" max="100" '
                    f'value="{opacity}" data-target="{vid}" aria-label="class overlay opacity">'
                    f'<output id="{vid}-value">{opacity} %</output></label>')
    return f'<figure class="viewer">{stack}{controls}<figcaption>{_esc(caption)}</figcaption></figure>' + legend(table)


def bar_chart(labels: Sequence[str], values: Sequence[float], colors: Sequence[tuple[int, int, int]], unit: str,
              title: str, second: Sequence[float] | None = None, second_label: str = "", first_label: str = "") -> str:
    """Horizontal bar chart as inline SVG; with ``second``, paired bars (e.g. true vs predicted)."""
    vals = [v if _finite(v) else 0.0 for v in values]
    sec = [v if _finite(v) else 0.0 for v in second] if second is not None else None
    vmax = max(vals + (sec or []) + [1e-12])
    label_w, bar_w, row_h = 150, 300, 26 if sec is None else 38
    height = 30 + row_h * len(labels) + (18 if sec is not None else 0)
    parts = [f'<svg class="bars" role="img" aria-label="{_esc(title)}" viewBox="0 0 {label_w + bar_w + 150} {height}" '
             f'width="{label_w + bar_w + 150}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="0" y="16" font-weight="600">{_esc(title)}</text>']
    y = 28
    for i, name in enumerate(labels):
        fill = "rgb({},{},{})".format(*colors[i])
        bars = [(vals[i], fill, first_label)] + ([(sec[i], fill, second_label)] if sec is not None else [])
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{_esc(name)}</text>')
        for k, (v, f, lab) in enumerate(bars):
            bw = bar_w * v / vmax
            yy = y + k * 15
            hatch = ' fill-opacity="0.45"' if k == 1 else ""
            parts.append(f'<rect x="{label_w}" y="{yy + 3}" width="{bw:.1f}" height="{13 if sec is not None else 18}" '
                         f'fill="{f}"{hatch} stroke="#555" stroke-width="0.6" data-class="{_esc(name)}"/>')
            tx = f"{_fmt(v, 2 if unit != 'px' else 0)} {unit}" + (f" ({lab})" if lab else "")
            parts.append(f'<text x="{label_w + bw + 6:.1f}" y="{yy + 14}">{_esc(tx)}</text>')
        y += row_h
    if sec is not None:
        parts.append(f'<text x="{label_w}" y="{height - 4}" class="muted">solid: {_esc(first_label)}, pale: {_esc(second_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def area_table(data: dict[str, Any], table: ClassTable, raster: str = "") -> tuple[str, str]:
    """HTML table and SVG bar chart of a class-area result (``landseg.area`` JSON)."""
    known = any(_finite(c.get("area_m2")) for c in data["classes"])
    head = ("<tr><th>class</th><th class=\"num\">pixels</th><th class=\"num\">area (m²)</th>"
            "<th class=\"num\">area (ha)</th><th class=\"num\">share (%)</th></tr>")
    rows = []
    colors = {n: c for n, c in zip(table.names, table.colors)}
    for c in data["classes"]:
        n = c["name"]
        rows.append(
            f'<tr data-class="{_esc(n)}"><td><span class="swatch" style="background:rgb{tuple(colors.get(n, (0, 0, 0)))}">'
            f"</span> {_esc(n)}</td>"
            + _td(c.get("pixels"), "pixels", _fmt(c.get("pixels"), 0), class_=n, raster=raster)
            + _td(c.get("area_m2"), "area-m2", None, class_=n, raster=raster)
            + _td(c.get("area_ha"), "area-ha", _fmt(c.get("area_ha"), 4), class_=n, raster=raster)
            + _td(c.get("share"), "share", _pct(c.get("share")), class_=n, raster=raster) + "</tr>")
    tot = data.get("total", {})
    rows.append('<tr class="total" data-class="total"><td>total</td>'
                + _td(tot.get("pixels"), "pixels", _fmt(tot.get("pixels"), 0), class_="total", raster=raster)
                + _td(tot.get("area_m2"), "area-m2", None, class_="total", raster=raster)
                + _td(tot.get("area_ha"), "area-ha", _fmt(tot.get("area_ha"), 4), class_="total", raster=raster)
                + _td(tot.get("share"), "share", _pct(tot.get("share")), class_="total", raster=raster) + "</tr>")
    foot = f'<p class="muted">pixel area: {_esc(data.get("pixel_area", "unknown"))}</p>'
    nod = data.get("nodata", {}).get("pixels")
    if nod:
        foot += f'<p class="muted">nodata/ignore: {nod:,} pixels, not in the shares</p>'
    foot += "".join(f'<p class="muted">note: {_esc(n)}</p>' for n in data.get("notes", []))
    html_table = f'<div class="scroll"><table class="areas" data-raster="{_esc(raster)}">{head}{"".join(rows)}</table></div>{foot}'
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
    zones = data.get("zones", [])
    if not zones:
        return '<p class="muted">no zones</p>'
    classes = list(zones[0]["classes"])
    head = ("<tr><th>" + _esc(data.get("zone_id") or "zone") + "</th><th class=\"num\">zone (m²)</th><th class=\"num\">inside (%)</th>"
            + "".join(f'<th class="num">{_esc(c)} (m²)</th>' for c in classes) + '<th class="num">nodata (m²)</th></tr>')
    rows = []
    for z in zones[:MAX_ZONE_ROWS]:
        zid = z["id"]
        rows.append(f'<tr data-zone="{_esc(zid)}"><td>{_esc(zid)}</td>'
                    + _td(z.get("zone_area_m2"), "zone-m2", None, zone=zid)
                    + _td(z.get("covered_share"), "inside", _pct(z.get("covered_share")), zone=zid)
                    + "".join(_td(z["classes"][c].get("area_m2"), "area-m2", None, zone=zid, class_=c) for c in classes)
                    + _td(z.get("nodata_m2"), "nodata-m2", None, zone=zid) + "</tr>")
    more = (f'<p class="muted">first {MAX_ZONE_ROWS} of {len(zones)} zones shown; all are in the JSON/CSV</p>'
            if len(zones) > MAX_ZONE_ROWS else "")
    rule = f'<p class="muted">coverage rule: {_esc(data.get("coverage_rule", ""))}</p>' if data.get("coverage_rule") else ""
    return f'<div class="scroll"><table class="zones">{head}{"".join(rows)}</table></div>{more}{rule}'


def accuracy_table(data: dict[str, Any]) -> str:
    """Accuracy from a reference sample (``landseg area --reference``): per class the mapped and
    error-adjusted areas with their 95 % intervals, user's and producer's accuracy with theirs, the
    overall accuracy, and the error matrix in estimated area proportions."""
    classes = data.get("classes", [])
    known = bool(classes) and all(_finite(c.get("mapped_m2")) for c in classes)
    unit, key = ("m²", "m2") if known else ("px", "pixels")
    head = (f'<tr><th>class</th><th class="num">sample</th><th class="num">mapped ({unit})</th>'
            f'<th class="num">adjusted ({unit})</th><th class="num">± 95 % ({unit})</th>'
            '<th class="num">user\'s (%)</th><th class="num">± 95 %</th>'
            '<th class="num">producer\'s (%)</th><th class="num">± 95 %</th></tr>')
    rows = []
    for c in classes:
        n = c["name"]
        mapped = c.get("mapped_m2") if known else c.get("mapped_pixels")
        rows.append(f'<tr data-class="{_esc(n)}"><td>{_esc(n)}</td>'
                    + _td(c.get("sample_size"), "sample", _fmt(c.get("sample_size"), 0), class_=n)
                    + _td(mapped, f"mapped-{key}", None, class_=n)
                    + _td(c.get(f"adjusted_{key}"), f"adjusted-{key}", None, class_=n)
                    + _td(c.get(f"ci95_{key}"), f"ci95-{key}", None, class_=n)
                    + _td(c.get("users_accuracy"), "users", _pct(c.get("users_accuracy")), class_=n)
                    + _td(c.get("users_ci95"), "users-ci95", _pct(c.get("users_ci95")), class_=n)
                    + _td(c.get("producers_accuracy"), "producers", _pct(c.get("producers_accuracy")), class_=n)
                    + _td(c.get("producers_ci95"), "producers-ci95", _pct(c.get("producers_ci95")), class_=n)
                    + "</tr>")
    oa = data.get("overall_accuracy", {})
    pts = data.get("points", {})
    foot = (f'<p class="overall" data-value="{_esc(oa.get("value"))}">overall accuracy: {_pct(oa.get("value"))} % '
            f'± {_pct(oa.get("ci95"))} % (95 %); {_fmt(pts.get("labelled"), 0)} labelled reference points'
            + (f', {_fmt(pts.get("unlabelled"), 0)} unlabelled skipped' if pts.get("unlabelled") else "") + "</p>")
    foot += f'<p class="muted">method: {_esc(data.get("method", ""))}</p>'
    foot += "".join(f'<p class="muted">note: {_esc(n)}</p>' for n in data.get("notes", []))
    em = data.get("error_matrix", {})
    names, prop = em.get("classes", []), em.get("proportions", [])
    matrix = ""
    if names and prop:
        mhead = ("<tr><th>map \\ reference</th>" + "".join(f'<th class="num">{_esc(n)}</th>' for n in names)
                 + '<th class="num">total</th></tr>')
        mrows = [f'<tr data-class="{_esc(a)}"><td>{_esc(a)}</td>'
                 + "".join(_td(v, "proportion", _pct(v), map=a, reference=b) for b, v in zip(names, prop[i]))
                 + _td(sum(prop[i]), "proportion", _pct(sum(prop[i])), map=a, reference="total") + "</tr>"
                 for i, a in enumerate(names)]
        cols = [sum(r[j] for r in prop) for j in range(len(names))]
        mrows.append('<tr class="total"><td>total</td>'
                     + "".join(_td(v, "proportion", _pct(v), map="total", reference=b) for b, v in zip(names, cols))
                     + _td(sum(cols), "proportion", _pct(sum(cols)), map="total", reference="total") + "</tr>")
        matrix = ("<h4>Error matrix in estimated area proportions (%)</h4>"
                  f'<div class="scroll"><table class="error-matrix">{mhead}{"".join(mrows)}</table></div>')
    return f'<div class="scroll"><table class="accuracy">{head}{"".join(rows)}</table></div>{foot}{matrix}'


def truth_table(rows: list[dict[str, Any]], table: ClassTable) -> tuple[str, str]:
    """Predicted vs true area per class (m² where known, else pixels)."""
    m2 = all(_finite(r.get("true_m2")) for r in rows)
    unit = "m²" if m2 else "px"
    head = (f'<tr><th>class</th><th class="num">true ({unit})</th><th class="num">predicted ({unit})</th>'
            f'<th class="num">error ({unit})</th><th class="num">error (%)</th></tr>')
    body = []
    for r in rows:
        n = r["name"]
        t = r["true_m2"] if m2 else r.get("true_pixels")
        p = r["predicted_m2"] if m2 else r.get("predicted_pixels")
        e = (p - t) if _finite(t) and _finite(p) else None
        ep = r.get("error_pct")
        if ep is None and _finite(e) and t:
            ep = 100 * e / t
        nd = 2 if m2 else 0
        body.append(f'<tr data-class="{_esc(n)}"><td>{_esc(n)}</td>' + _td(t, "true-area", _fmt(t, nd), class_=n)
                    + _td(p, "predicted-area", _fmt(p, nd), class_=n) + _td(e, "area-error", _fmt(e, nd), class_=n)
                    + _td(ep, "area-error-pct", _fmt(ep, 1), class_=n) + "</tr>")
    colors = dict(zip(table.names, table.colors))
    names = [r["name"] for r in rows]
    chart = bar_chart(names, [r["true_m2"] if m2 else r.get("true_pixels") for r in rows],
                      [colors.get(n, (0, 0, 0)) for n in names], unit, "true vs predicted area",
                      second=[r["predicted_m2"] if m2 else r.get("predicted_pixels") for r in rows],
                      first_label="true", second_label="predicted")
    return f'<div class="scroll"><table class="truth">{head}{"".join(body)}</table></div>', chart


# ============================================================================ predict folders
def _predict_section(page: Page, classes_path: Path, max_size: int) -> None:
    folder = classes_path.parent
    stem = classes_path.name[: -len("_classes.tif")]
    table = _table_of_raster(classes_path)
    if table is None:
        raise InputError(f"{classes_path}: no landseg class table embedded ({CLASS_TABLE_TAG} tag); "
                         "is it a class map written by `landseg predict`?")
    rec_path = folder / f"{stem}_predict.json"
    rec = _read_json(rec_path) if rec_path.exists() else {}
    page.h2(stem, id=f"raster-{stem}")
    bits = []
    if rec:
        size = rec.get("size")
        bits.append(f"input <code>{_esc(rec.get('input', ''))}</code>")
        if size:
            bits.append(f"{size[0]:,} × {size[1]:,} pixels")
        if rec.get("crs"):
            bits.append(_esc(rec["crs"]))
        if rec.get("model"):
            bits.append(f"model <code>{_esc(rec['model'])}</code>")
        if rec.get("seconds_total") is not None:
            bits.append(f"{rec['seconds_total']} s")
    if bits:
        page.add(f'<p class="meta">{" · ".join(bits)}</p>')
    if rec.get("note"):
        page.add(f'<p class="muted">{_esc(rec["note"])}</p>')
    # images: class layer from the class map (exact colours, transparent nodata), image from the input
    # raster if it is still there, else recovered from the overlay PNG.
    index, (H, W) = _read_classes(classes_path, max_size)
    image = None
    src = Path(rec["input"]) if rec.get("input") else None
    if src is not None and src.exists():
        image = _read_image(src, index.shape)
    preview, overlay = folder / f"{stem}_preview.png", folder / f"{stem}_overlay.png"
    if image is None and preview.exists() and overlay.exists():
        pv, ov = load_png(preview), load_png(overlay)
        if pv.shape == ov.shape:
            image = fit(unblend(ov, pv), max_size, nearest=False)
            if image.shape[:2] != index.shape:
                image = resize(image, index.shape)
    shown = f"shown at {index.shape[1]:,} × {index.shape[0]:,} of {W:,} × {H:,} pixels" if (H, W) != index.shape else f"{W:,} × {H:,} pixels"
    cap = f"{stem}: classes over the image ({shown})" if image is not None else f"{stem}: class map ({shown}; the image is not available)"
    page.add(viewer(page, class_layer(index, table), table, image, cap))
    areas_path = folder / f"{stem}_areas.json"
    data = _read_json(areas_path) if areas_path.exists() else _pixel_counts(classes_path, table)
    if not areas_path.exists():
        page.note(f"{areas_path.name} not found: areas computed from the class map itself")
    html_table, chart = area_table(data, table, raster=stem)
    page.add("<h3>Class areas</h3>", f'<div class="grid2"><div>{html_table}</div><div>{chart}</div></div>')
    for zpath in sorted(folder.glob(f"{stem}_zones*.json")):
        page.add(f"<h3>Class areas per zone ({_esc(zpath.name)})</h3>", zones_table(_read_json(zpath)))
    for apath in sorted(folder.glob(f"{stem}_accuracy*.json")):
        d = _read_json(apath)
        if "error_matrix" in d:
            page.add(f"<h3>Accuracy and error-adjusted areas ({_esc(Path(d.get('reference', '')).name)})</h3>",
                     accuracy_table(d))
    for tpath in sorted(folder.glob(f"{stem}_truth*.json")):
        d = _read_json(tpath)
        if "classes" in d and d["classes"] and "true_m2" in d["classes"][0]:
            t_html, t_chart = truth_table(d["classes"], table)
            page.add(f"<h3>Predicted vs true area ({_esc(Path(d.get('truth', '')).name)})</h3>",
                     f'<div class="grid2"><div>{t_html}</div><div>{t_chart}</div></div>')


def predict_report(folder: Path, max_size: int) -> Page:
    maps = sorted(folder.glob("*_classes.tif"))
    page = Page(f"Land-cover segmentation: {folder.name}",
                f"{len(maps)} class map{'s' if len(maps) != 1 else ''} from <code>landseg predict</code> in <code>{_esc(folder)}</code>")
    if len(maps) > 1:
        page.add("<nav><ul>" + "".join(f'<li><a href="#raster-{_esc(m.name[:-12])}">{_esc(m.name[:-12])}</a></li>'
                                       for m in maps) + "</ul></nav>")
    for m in maps:
        _predict_section(page, m, max_size)
    return page


# ============================================================================ evaluate folders
def metric_tables(result: dict[str, Any]) -> str:
    variants = result["variants"]
    names = [v for v in VARIANTS if v in variants]
    head = "<tr><th>metric (%)</th>" + "".join(f'<th class="num" data-variant="{v}">{_esc(variant_title(v))}</th>' for v in names) + "</tr>"
    rows = []
    for key, label in (("oa", "OA"), ("mean_f1", "mean F1"), ("miou", "mIoU"), ("fwiou", "fwIoU")):
        rows.append(f'<tr data-metric="{key}"><td>{label}</td>'
                    + "".join(_td(variants[v][key], "metric", _pct(variants[v][key]), variant=v, metric=key) for v in names)
                    + "</tr>")
    table = ClassTable.from_dict(result["class_table"])
    for metric in ("f1", "iou"):
        for n in table.names:
            cells = []
            for v in names:
                val = variants[v]["per_class"][n][metric]
                out = n in variants[v]["excluded"]
                cells.append(_td(val, "metric" + (" excluded" if out else ""), _pct(val) + (" *" if out else ""),
                                 variant=v, metric=metric, class_=n))
            rows.append(f'<tr data-metric="{metric}" data-class="{_esc(n)}"><td>{"F1" if metric == "f1" else "IoU"} {_esc(n)}</td>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table class="variants">{head}{"".join(rows)}</table></div>'
            '<p class="muted">* not in the means of this variant.</p>')


def per_class_table(v: dict[str, Any], ref: str) -> str:
    head = ('<tr><th>class</th><th class="num">precision</th><th class="num">recall</th><th class="num">F1</th>'
            '<th class="num">IoU</th><th class="num">reference pixels</th></tr>')
    rows = "".join(
        f'<tr data-class="{_esc(n)}"><td>{_esc(n)}</td>'
        + "".join(_td(c[k], k, _pct(c[k]), reference=ref, class_=n) for k in ("precision", "recall", "f1", "iou"))
        + _td(c["support"], "support", _fmt(c["support"], 0), reference=ref, class_=n) + "</tr>"
        for n, c in v["per_class"].items())
    return f'<div class="scroll"><table class="per-class" data-reference="{ref}">{head}{rows}</table></div>'


def evaluate_report(folder: Path, max_size: int, tiles_shown: int = 4) -> Page:
    result = _read_json(folder / "metrics.json")
    table = ClassTable.from_dict(result["class_table"])
    tiles = result["tiles"]
    page = Page(f"Accuracy of {Path(result['model']).name} on {result.get('dataset_name') or Path(result['dataset']).name}",
                f"<code>landseg evaluate</code> · split <b>{_esc(result['split'])}</b> · {len(tiles)} tiles: "
                f"{_esc(', '.join(tiles))} · model <code>{_esc(result['model'])}</code> · dataset "
                f"<code>{_esc(result['dataset'])}</code>")
    page.h2("Accuracy: four protocol variants", id="metrics")
    page.add(f'<p class="muted">{_esc(result.get("protocol", ""))}.</p>', metric_tables(result))
    for n in result.get("notes", []):
        page.note(n)
    page.h2("Per class", id="per-class")
    for ref in result["references"]:
        page.add(f"<h3>{_esc(REFERENCE_NAMES[ref])}</h3>", per_class_table(result["variants"][f"{ref}_with_clutter"], ref))
    page.h2("Confusion matrices (row-normalised, %)", id="confusion")
    figs = []
    for ref in result["references"]:
        png = folder / f"confusion_{ref}.png"
        if png.exists():
            figs.append(f'<figure><img class="plot" alt="confusion matrix, {ref}" src="{_file_uri(png, 1200)}">'
                        f"<figcaption>{_esc(REFERENCE_NAMES[ref])}; counts in confusion_{ref}.csv</figcaption></figure>")
    page.add(f'<div class="grid2">{"".join(figs)}</div>')
    if result.get("areas"):
        page.h2("Predicted vs true area", id="areas")
        t_html, t_chart = truth_table(result["areas"]["classes"], table)
        page.add(f'<p class="muted">{_esc(result["areas"].get("note", ""))}; pixel area: '
                 f'{_esc("; ".join(result["areas"].get("pixel_area", [])))}</p>',
                 f'<div class="grid2"><div>{t_html}</div><div>{t_chart}</div></div>')
    if result.get("per_tile"):
        page.h2("Per tile", id="per-tile")
        head = ('<tr><th>tile</th><th>reference</th><th class="num">pixels</th><th class="num">OA</th>'
                '<th class="num">mean F1</th><th class="num">mIoU</th><th class="num">mean F1 w/o clutter</th></tr>')
        rows = "".join(
            f'<tr data-tile="{_esc(r["tile"])}" data-reference="{r["reference"]}"><td>{_esc(r["tile"])}</td><td>{r["reference"]}</td>'
            + _td(r["pixels"], "pixels", _fmt(r["pixels"], 0)) + _td(r["oa"], "oa", _pct(r["oa"]))
            + _td(r["mean_f1"], "mean-f1", _pct(r["mean_f1"])) + _td(r["miou"], "miou", _pct(r["miou"]))
            + _td(r["mean_f1_without_clutter"], "mean-f1-without-clutter", _pct(r["mean_f1_without_clutter"])) + "</tr>"
            for r in result["per_tile"])
        page.add(f'<div class="scroll"><table class="per-tile">{head}{rows}</table></div>')
    views = result.get("views") or {}
    if views:
        page.h2("Predictions", id="predictions")
        for tid in list(views)[:tiles_shown]:
            v = {k: folder / p for k, p in views[tid].items()}
            classes_path = folder / "tiles" / f"{tid}_classes.tif"
            if not (classes_path.exists() and v["preview"].exists() and v["overlay"].exists()):
                continue
            index, (H, W) = _read_classes(classes_path, max_size)
            pv, ov = load_png(v["preview"]), load_png(v["overlay"])
            image = fit(unblend(ov, pv), max_size, nearest=False)
            if image.shape[:2] != index.shape:
                image = resize(image, index.shape)
            page.add(f"<h3>tile {_esc(tid)}</h3>",
                     viewer(page, class_layer(index, table), table, image,
                            f"tile {tid}: predicted classes over the image ({W:,} × {H:,} pixels, shown downsampled)"))
            if v.get("truth") and v["truth"].exists():
                small = max_size // 2
                page.add(panels([(fit(image, small, False), "image"), (fit(pv, small, True), "prediction"),
                                 (fit(load_png(v["truth"]), small, True), "truth (full reference)")]))
        if len(views) > tiles_shown:
            page.add(f'<p class="muted">{tiles_shown} of {len(views)} tiles shown; every class map is in tiles/.</p>')
    return page


def panels(items: Sequence[tuple[np.ndarray, str]]) -> str:
    figs = "".join(f'<figure><img alt="{_esc(cap)}" src="{_img_uri(arr, "JPEG" if cap.startswith("image") else "PNG")}">'
                   f"<figcaption>{_esc(cap)}</figcaption></figure>" for arr, cap in items)
    return f'<div class="panels">{figs}</div>'


# ============================================================================ training runs
def _sample_panels(page: Page, folder: Path, samples: int) -> None:
    """The sample windows :func:`landseg.evaluate.sample_predictions` wrote into the run (image | prediction | truth)."""
    path = folder / SAMPLES_FILE
    if not path.exists():
        page.note("no sample predictions in this run: `landseg report RUN` makes them (pass --dataset DIR if the run "
                  "does not record its prepared dataset)")
        return
    data = _read_json(path)
    if data.get("note"):
        page.note(data["note"])
        return
    table = ClassTable.from_dict(data["class_table"])
    page.add(f'<p class="muted">Windows from the {data["which"]} tiles of <code>{_esc(data["dataset"])}</code>, '
             f'predicted with <code>{_esc(data["checkpoint"])}</code> (sliding window {data["window"]} px).</p>',
             legend(table))
    entries = data["samples"][:samples]
    if len(entries) < samples:
        page.add(f'<p class="muted">only {len(entries)} distinct window{"s" if len(entries) != 1 else ""}: '
                 f'the {data["which"]} tiles are small.</p>')
    for e in entries:
        r, c, s = e["row"], e["col"], e["size"]
        acc = float("nan") if e["accuracy"] is None else e["accuracy"]
        images = [load_png(path.parent / e[k]) for k in ("image", "prediction", "truth")]
        page.add(f"<h3>tile {_esc(e['tile'])}, rows {r}–{r + s}, columns {c}–{c + s} (pixel accuracy {_pct(acc, 1)} %)</h3>",
                 panels(list(zip(images, ("image", "prediction", "truth")))))


def train_report(folder: Path, max_size: int, samples: int) -> Page:
    metrics = _read_json(folder / "metrics.json") if (folder / "metrics.json").exists() else {}
    history = metrics.get("history", [])
    ckpt_path = next((folder / n for n in ("best.safetensors", "last.safetensors") if (folder / n).exists()), None)
    page = Page(f"Training run {folder.name}",
                f"<code>landseg train</code> run in <code>{_esc(folder)}</code> · {len(history)} epochs"
                + (f" · best validation mean F1 {_pct(metrics.get('best_mean_f1'))} %" if _finite(metrics.get("best_mean_f1")) else ""))
    page.h2("Learning curve", id="learning-curve")
    lc = folder / "learning_curve.png"
    if lc.exists():
        page.add(f'<figure><img class="plot" alt="learning curve" src="{_file_uri(lc, 1600)}">'
                 "<figcaption>loss and mean F1 per epoch, training and validation</figcaption></figure>")
    else:
        page.note("learning_curve.png not found")
    if history:
        cols = [k for k in ("epoch", "train_loss", "train_mean_f1", "val_loss", "val_oa", "val_mean_f1", "val_miou",
                            "elapsed_s") if any(k in h for h in history)]
        head = "<tr>" + "".join(f'<th class="num">{_esc(k)}</th>' for k in cols) + "</tr>"
        rows = "".join("<tr>" + "".join(_td(h.get(k), k.replace("_", "-"), _fmt(h.get(k), 0 if k == "epoch" else 4),
                                            epoch=h.get("epoch")) for k in cols) + "</tr>" for h in history)
        page.add(f'<div class="scroll"><table class="history">{head}{rows}</table></div>')
    val = (metrics.get("last") or {}).get("val")
    if val:
        page.h2("Validation metrics (last epoch)", id="metrics")
        page.add(f'<p class="meta">OA {_pct(val.get("oa"))} % · mean F1 {_pct(val.get("mean_f1"))} % · '
                 f'mIoU {_pct(val.get("miou"))} % · fwIoU {_pct(val.get("fwiou"))} %</p>', per_class_table(val, "full"))
    cfg = folder / "config.yaml"
    if cfg.exists():
        page.h2("Configuration", id="config")
        page.add(f"<pre>{_esc(cfg.read_text())}</pre>")
    page.h2("Sample windows: image | prediction | truth", id="samples")
    if ckpt_path is None:
        page.note("no checkpoint in this run: no sample predictions")
    elif samples > 0:
        _sample_panels(page, folder, samples)
    return page


# ============================================================================ entry point
def write_report(
    input_dir: str | Path,
    out_html: str | Path,
    *,
    samples: int = 3,
    max_size: int = 1600,
) -> dict[str, Any]:
    """Write one self-contained HTML report of ``input_dir``; returns {'kind', 'path', 'bytes', 'notes'}.

    Args:
        input_dir: a predict output folder, an evaluate folder or a training run (see :func:`detect_kind`).
        out_html: the HTML file to write (atomically).
        samples: training runs only: how many of the sample windows in the run's ``samples/`` folder
            (written by :func:`landseg.evaluate.sample_predictions`) to show; the report runs no model.
        max_size: longest side, in pixels, of the embedded images (large rasters are downsampled).
    """
    folder = Path(input_dir)
    kind = detect_kind(folder)
    if max_size < 64:
        raise InputError(f"--max-size must be at least 64 pixels, got {max_size}")
    if kind == "predict":
        page = predict_report(folder, max_size)
    elif kind == "evaluate":
        page = evaluate_report(folder, max_size)
    else:
        page = train_report(folder, max_size, samples)
    text = page.render()
    out = Path(out_html)
    with atomic_output(out, suffix=".html") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return {"kind": kind, "path": str(out), "bytes": len(text.encode("utf-8")), "notes": page.notes}
