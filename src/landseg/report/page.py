"""The page kit of the HTML reports: the self-contained page (inline CSS/JS, images as data URIs), the
class-overlay viewer, legends, bar charts and the small formatting helpers every report section uses."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
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
from landseg.io.images import png_bytes, read_rgb
from landseg.io.raster import open_raster, reading
from landseg.views import (
    fit,
    preview_shape,
    stretch_to_uint8,
)

MAX_ZONE_ROWS = 500


# ============================================================================ small helpers
def esc(x: Any) -> str:
    """``x`` as HTML-escaped text (quotes too)."""
    return html.escape(str(x), quote=True)


def is_finite(x: Any) -> bool:
    """Whether ``x`` is a finite real number (not a bool)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def fmt_num(x: Any, nd: int = 2) -> str:
    """``x`` with thousands separators and ``nd`` decimals; '–' when not a number."""
    return f"{x:,.{nd}f}" if is_finite(x) else "–"


def fmt_pct(x: Any, nd: int = 2) -> str:
    """``x`` (a fraction) in % with ``nd`` decimals; '–' when not a number."""
    return f"{100 * x:.{nd}f}" if is_finite(x) else "–"


def cell(value: Any, cls: str, text: str | None = None, **data: Any) -> str:
    """A numeric table cell with stable ``data-*`` attributes and the raw value in ``data-value``."""
    attrs = "".join(f' data-{k.rstrip("_").replace("_", "-")}="{esc(v)}"' for k, v in data.items())
    dv = ""
    if is_finite(value):
        dv = f' data-value="{int(value) if isinstance(value, numbers.Integral) else repr(float(value))}"'

    return f'<td class="{cls} num"{attrs}{dv}>{esc(text if text is not None else fmt_num(value))}</td>'


def data_uri(data: bytes, mime: str) -> str:
    """``data`` as a base64 data URI."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def img_uri(arr: np.ndarray, fmt: str = "PNG") -> str:
    """An image array as a PNG (or JPEG) data URI."""
    buf = io.BytesIO()
    im = Image.fromarray(arr)
    if fmt == "JPEG":
        im.convert("RGB").save(buf, format="JPEG", quality=88)
        return data_uri(buf.getvalue(), "image/jpeg")
    im.save(buf, format="PNG", optimize=True)
    return data_uri(buf.getvalue(), "image/png")


def file_uri(path: Path, max_size: int) -> str:
    """A PNG file as a data URI, re-encoded smaller if it is larger than ``max_size``."""
    arr = read_rgb(path)
    if max(arr.shape[:2]) <= max_size:
        return data_uri(png_bytes(path), "image/png")
    return img_uri(fit(arr, max_size, nearest=False))


def table_of_raster(path: Path) -> ClassTable | None:
    """The class table embedded in a class map; None if it has none."""
    with open_raster(path) as ds:
        return area.table_from_raster(ds)


def read_classes(path: Path, max_size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A class map read decimated (nearest) to at most ``max_size``; and its full (height, width).
    A damaged or truncated file raises :class:`InputError` naming it."""

    with open_raster(path) as ds, reading(str(path)):
        shape = preview_shape(ds.height, ds.width, max_size)
        return ds.read(1, out_shape=shape, resampling=Resampling.nearest), (ds.height, ds.width)


def read_image(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
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
.domain-warning { background: #fdecea; border-left: 5px solid #c62828; padding: .5rem .8rem; margin: .6rem 0; }
.domain-warning ul { margin: .3rem 0 0; padding-left: 1.2rem; }
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
        """A new id unique in the page."""
        self._ids += 1
        return f"{prefix}-{self._ids}"

    def add(self, *html_parts: str) -> None:
        """Append HTML to the page body."""
        self.parts.extend(html_parts)

    def h2(self, text: str, id: str | None = None) -> None:
        """A section heading (with an anchor ``id``)."""
        self.add(f'<h2{f" id={chr(34)}{esc(id)}{chr(34)}" if id else ""}>{esc(text)}</h2>')

    def note(self, text: str) -> None:
        """A note shown on the page and returned by ``write_report``."""
        self.notes.append(text)
        self.add(f'<p class="note">{esc(text)}</p>')

    def render(self) -> str:
        """The whole self-contained HTML document."""
        now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        return (
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(self.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{esc(self.title)}</h1><p class=\"meta\">{self.subtitle}</p></header>\n<main>\n"
            + "\n".join(self.parts)
            + f"\n</main>\n<footer>landseg {__version__} · generated {now} · self-contained file: "
            "all images are embedded, nothing is loaded from the network.</footer>\n"
            f"<script>{JS}</script>\n</body>\n</html>\n"
        )


def legend(table: ClassTable, present: Iterable[int] | None = None) -> str:
    """The class legend (only the classes ``present``, when given)."""
    keep = set(present) if present is not None else None
    items = []
    for i, (n, c) in enumerate(zip(table.names, table.colors)):
        if keep is not None and i not in keep:
            continue
        items.append(f'<li data-class="{esc(n)}"><span class="swatch" style="background:rgb{tuple(c)}"></span>{esc(n)}</li>')
    return f'<ul class="legend">{"".join(items)}</ul>'


def viewer(page: Page, classes_rgba: np.ndarray, table: ClassTable, image: np.ndarray | None, caption: str,
           opacity: int = 55) -> str:
    """The image with the class layer stacked over it and an opacity slider (or the classes alone)."""
    vid = page.uid("classes")
    h, w = classes_rgba.shape[:2]
    cls_uri = img_uri(classes_rgba)
    size = f"width:min(100%, 900px, calc(78vh * {w} / {h}))"
    if image is None:
        stack = f'<div class="stack" style="{size}"><img class="classes-only" id="{vid}" alt="class map" width="{w}" height="{h}" src="{cls_uri}"></div>'
        controls = ""
    else:
        stack = (f'<div class="stack" style="{size}; aspect-ratio:{w}/{h}"><img class="base" alt="image" width="{w}" height="{h}" '
                 f'src="{img_uri(image, "JPEG")}"><img class="classes overlay" id="{vid}" alt="class overlay" '
                 f'src="{cls_uri}" style="opacity:{opacity / 100}"></div>')
        controls = (f'<label class="controls">class overlay opacity <input type="range" class="opacity" min="0" max="100" '
                    f'value="{opacity}" data-target="{vid}" aria-label="class overlay opacity">'
                    f'<output id="{vid}-value">{opacity} %</output></label>')
    return f'<figure class="viewer">{stack}{controls}<figcaption>{esc(caption)}</figcaption></figure>' + legend(table)


def bar_chart(labels: Sequence[str], values: Sequence[float], colors: Sequence[tuple[int, int, int]], unit: str,
              title: str, second: Sequence[float] | None = None, second_label: str = "", first_label: str = "") -> str:
    """Horizontal bar chart as inline SVG; with ``second``, paired bars (e.g. true vs predicted)."""
    vals = [v if is_finite(v) else 0.0 for v in values]
    sec = [v if is_finite(v) else 0.0 for v in second] if second is not None else None
    vmax = max(vals + (sec or []) + [1e-12])
    label_w, bar_w, row_h = 150, 300, 26 if sec is None else 38
    height = 30 + row_h * len(labels) + (18 if sec is not None else 0)
    parts = [f'<svg class="bars" role="img" aria-label="{esc(title)}" viewBox="0 0 {label_w + bar_w + 150} {height}" '
             f'width="{label_w + bar_w + 150}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="0" y="16" font-weight="600">{esc(title)}</text>']
    y = 28
    for i, name in enumerate(labels):
        fill = "rgb({},{},{})".format(*colors[i])
        bars = [(vals[i], fill, first_label)] + ([(sec[i], fill, second_label)] if sec is not None else [])
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{esc(name)}</text>')
        for k, (v, f, lab) in enumerate(bars):
            bw = bar_w * v / vmax
            yy = y + k * 15
            hatch = ' fill-opacity="0.45"' if k == 1 else ""
            parts.append(f'<rect x="{label_w}" y="{yy + 3}" width="{bw:.1f}" height="{13 if sec is not None else 18}" '
                         f'fill="{f}"{hatch} stroke="#555" stroke-width="0.6" data-class="{esc(name)}"/>')
            tx = f"{fmt_num(v, 2 if unit != 'px' else 0)} {unit}" + (f" ({lab})" if lab else "")
            parts.append(f'<text x="{label_w + bw + 6:.1f}" y="{yy + 14}">{esc(tx)}</text>')
        y += row_h
    if sec is not None:
        parts.append(f'<text x="{label_w}" y="{height - 4}" class="muted">solid: {esc(first_label)}, pale: {esc(second_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def truth_table(rows: list[dict[str, Any]], table: ClassTable) -> tuple[str, str]:
    """Predicted vs true area per class (m² where known, else pixels)."""
    m2 = all(is_finite(r.get("true_m2")) for r in rows)
    unit = "m²" if m2 else "px"
    head = (f'<tr><th>class</th><th class="num">true ({unit})</th><th class="num">predicted ({unit})</th>'
            f'<th class="num">error ({unit})</th><th class="num">error (%)</th></tr>')
    body = []
    for r in rows:
        n = r["name"]
        t = r["true_m2"] if m2 else r.get("true_pixels")
        p = r["predicted_m2"] if m2 else r.get("predicted_pixels")
        e = (p - t) if is_finite(t) and is_finite(p) else None
        ep = r.get("error_pct")
        if ep is None and is_finite(e) and t:
            ep = 100 * e / t
        nd = 2 if m2 else 0
        body.append(f'<tr data-class="{esc(n)}"><td>{esc(n)}</td>' + cell(t, "true-area", fmt_num(t, nd), class_=n)
                    + cell(p, "predicted-area", fmt_num(p, nd), class_=n) + cell(e, "area-error", fmt_num(e, nd), class_=n)
                    + cell(ep, "area-error-pct", fmt_num(ep, 1), class_=n) + "</tr>")
    colors = dict(zip(table.names, table.colors))
    names = [r["name"] for r in rows]
    chart = bar_chart(names, [r["true_m2"] if m2 else r.get("true_pixels") for r in rows],
                      [colors.get(n, (0, 0, 0)) for n in names], unit, "true vs predicted area",
                      second=[r["predicted_m2"] if m2 else r.get("predicted_pixels") for r in rows],
                      first_label="true", second_label="predicted")
    return f'<div class="scroll"><table class="truth">{head}{"".join(body)}</table></div>', chart


def panels(items: Sequence[tuple[np.ndarray, str]]) -> str:
    """Images side by side with captions."""
    figs = "".join(f'<figure><img alt="{esc(cap)}" src="{img_uri(arr, "JPEG" if cap.startswith("image") else "PNG")}">'
                   f"<figcaption>{esc(cap)}</figcaption></figure>" for arr, cap in items)
    return f'<div class="panels">{figs}</div>'


def per_class_table(v: dict[str, Any], ref: str) -> str:
    """Precision, recall, F1, IoU and reference pixels per class of one variant."""
    head = ('<tr><th>class</th><th class="num">precision</th><th class="num">recall</th><th class="num">F1</th>'
            '<th class="num">IoU</th><th class="num">reference pixels</th></tr>')
    rows = "".join(
        f'<tr data-class="{esc(n)}"><td>{esc(n)}</td>'
        + "".join(cell(c[k], k, fmt_pct(c[k]), reference=ref, class_=n) for k in ("precision", "recall", "f1", "iou"))
        + cell(c["support"], "support", fmt_num(c["support"], 0), reference=ref, class_=n) + "</tr>"
        for n, c in v["per_class"].items())
    return f'<div class="scroll"><table class="per-class" data-reference="{ref}">{head}{rows}</table></div>'
