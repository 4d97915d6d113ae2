"""Report sections of the planning answers: a change folder (``landseg change`` / ``landseg green``:
transitions, error-adjusted change, green and canopy per zone) and the per-zone planning tables kept
beside a class map (``NAME_planning.json``: indicators, calibrated sealed/green m², 3-30-300)."""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

from landseg.io.files import read_json
from landseg.report.page import MAX_ZONE_ROWS, Page, cell, esc, fmt_num, fmt_pct

VERDICT_STYLE = {"loss": "#d73027", "gain": "#1a9850", "no significant change": "#888", "too few points": "#aaa"}


def zone_rows_table(zones: list[dict[str, Any]], id_key: str, css: str) -> str:
    """Any list of per-zone records (one dict each, same keys) as a table: shares (``*_share*``) in %,
    numbers right-aligned with ``data-value``, verdicts coloured; at most :data:`MAX_ZONE_ROWS` rows."""
    if not zones:
        return '<p class="muted">no zones</p>'
    keys = [k for k in zones[0] if k != id_key and not isinstance(zones[0][k], (dict, list))]
    head = f"<tr><th>{esc(id_key)}</th>" + "".join(
        f'<th class="num">{esc(k)}{" (%)" if "share" in k else ""}</th>' for k in keys) + "</tr>"
    rows = []
    for z in zones[:MAX_ZONE_ROWS]:
        zid = z.get(id_key)
        cells = []
        for k in keys:
            v = z.get(k)
            col = k.replace("_", "-")
            if isinstance(v, bool) or v is None and "above" in k:
                cells.append(cell(None, col, "–" if v is None else ("yes" if v else "no"), zone=zid))
            elif isinstance(v, str):
                colour = VERDICT_STYLE.get(v)
                style = f' style="color:{colour};font-weight:600"' if colour and "verdict" in k else ""
                cells.append(f'<td class="{esc(col)}" data-zone="{esc(zid)}"{style}>{esc(v)}</td>')
            elif "share" in k:
                cells.append(cell(v, col, fmt_pct(v), zone=zid))
            else:
                cells.append(cell(v, col, fmt_num(v) if isinstance(v, numbers.Real) or v is None else str(v), zone=zid))
        rows.append(f'<tr data-zone="{esc(zid)}"><td>{esc(zid)}</td>{"".join(cells)}</tr>')
    more = (f'<p class="muted">first {MAX_ZONE_ROWS} of {len(zones)} zones shown; all are in the CSV/JSON</p>'
            if len(zones) > MAX_ZONE_ROWS else "")
    return f'<div class="scroll"><table class="{esc(css)}">{head}{"".join(rows)}</table></div>{more}'


def green_section(page: Page, d: dict[str, Any]) -> None:
    """The ``landseg green`` section: shares and change per zone, thresholds, verdicts."""
    page.add("<h3>Green space and tree canopy per zone</h3>",
             f'<p class="muted">thresholds: {fmt_pct(d.get("thresholds", {}).get("green"), 0)} % green, '
             f'{fmt_pct(d.get("thresholds", {}).get("canopy"), 0)} % canopy; '
             + ("error-adjusted change with 95 % bounds from the change sample" if d.get("adjusted")
                else "mapped change (no reference sample)") + "</p>",
             zone_rows_table(d.get("zones", []), d.get("zone_id") or "zone", "green"))
    for n in d.get("notes", []):
        page.add(f'<p class="muted">note: {esc(n)}</p>')


def adjusted_section(page: Page, d: dict[str, Any]) -> None:
    """The ``landseg change --reference`` section: mapped vs error-adjusted headlines."""
    unit = d.get("unit", "m²")
    head = (f'<tr><th>headline</th><th class="num">mapped ({unit})</th><th class="num">adjusted ({unit})</th>'
            f'<th class="num">95 % low</th><th class="num">95 % high</th></tr>')
    rows = [f'<tr data-headline="{esc(h)}"><td>{esc(h)}</td>' + cell(v.get("mapped"), "mapped", headline=h)
            + cell(v.get("adjusted"), "adjusted", headline=h) + cell(v.get("low"), "low", headline=h)
            + cell(v.get("high"), "high", headline=h) + "</tr>" for h, v in d.get("headlines", {}).items()]
    trans = [t for t in d.get("transitions", []) if (t.get("mapped") or 0) > 0 or (t.get("adjusted") or 0) > 0]
    thead = (f'<tr><th>transition</th><th class="num">points</th><th class="num">mapped ({unit})</th>'
             f'<th class="num">adjusted ({unit})</th><th class="num">± 95 %</th></tr>')
    trows = [f'<tr data-transition="{esc(t["name"])}"><td>{esc(t["name"])}</td>'
             + cell(t.get("points"), "points", str(t.get("points")), transition=t["name"])
             + cell(t.get("mapped"), "mapped", transition=t["name"]) + cell(t.get("adjusted"), "adjusted", transition=t["name"])
             + cell(t.get("ci95"), "ci95", transition=t["name"]) + "</tr>" for t in trans]
    pts = d.get("points", {})
    page.add("<h3>Error-adjusted change (reference sample)</h3>",
             f'<p class="muted">{pts.get("labelled", 0)} labelled points; strata: '
             f'{esc(d.get("strata", {}).get("stratification", ""))}; {esc(d.get("method", ""))}</p>',
             f'<div class="scroll"><table class="change-headlines">{head}{"".join(rows)}</table></div>',
             f'<div class="scroll"><table class="change-adjusted">{thead}{"".join(trows)}</table></div>')


def planning_section(page: Page, path: Path) -> None:
    """``NAME_planning.json`` beside a class map: per-zone indicators with the planning columns."""
    d = read_json(path)
    zones = d.get("zones", [])
    flat = [{k: v for k, v in z.items() if not isinstance(v, (dict, list))} for z in zones]
    page.add(f"<h3>Planning indicators per zone ({esc(path.name)})</h3>",
             zone_rows_table(flat, "id", "planning"))
    for r in d.get("rules", []):
        page.add(f'<p class="muted">{esc(r)}</p>')


__all__ = ["adjusted_section", "green_section", "planning_section", "zone_rows_table"]
