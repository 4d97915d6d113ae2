"""Report sections of a ``landseg change`` folder: the transition map, the matrix and the role figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from landseg.classes import ClassTable
from landseg.errors import InputError
from landseg.io.files import read_json
from landseg.layout import ChangePaths
from landseg.report.page import (
    Page,
    cell,
    esc,
    fmt_num,
    img_uri,
    is_finite,
    legend,
    read_classes,
    table_of_raster,
)
from landseg.report.planning import adjusted_section, green_section
from landseg.views import class_layer


def is_change_folder(folder: Path) -> bool:
    """True when ``folder`` holds a ``landseg change`` result (its ``transitions.json``)."""
    path = ChangePaths(folder).transitions_json
    if not path.exists():
        return False
    data = read_json(path)
    return isinstance(data, dict) and "matrix_pixels" in data and "classes" in data


def _area(v: Any) -> str:
    return fmt_num(v / 1e4, 4) if is_finite(v) else "n/a"


def change_report(folder: Path, max_size: int) -> Page:
    """A ``landseg change`` / ``landseg green`` output folder: map, role figures, matrix, zones, and the
    error-adjusted and green-monitoring sections where their files are there."""
    files = ChangePaths(folder)
    data = read_json(files.transitions_json)
    names = [str(n) for n in data["classes"]]
    k = len(names)
    pixels = np.array(data["matrix_pixels"], dtype=np.int64)
    m2 = np.array([[np.nan if v is None else v for v in row] for row in data["matrix_m2"]], dtype=np.float64)
    if pixels.shape != (k, k) or m2.shape != (k, k):
        raise InputError(f"{files.transitions_json}: the matrices are not {k} x {k} for the {k} classes; "
                         "run landseg change again")
    known = bool(np.isfinite(m2).all())
    total_px = max(int(pixels.sum()), 1)
    changed_px = int(pixels.sum() - np.trace(pixels))
    page = Page(f"Change: {Path(data['before']).name} → {Path(data['after']).name}",
                esc(f"{changed_px / total_px * 100:.2f} % of the compared area changed · pixel area: "
                    f"{data['pixel_area']}"))
    tif = files.transitions
    page.h2("Transition map", id="map")
    embedded = table_of_raster(tif) if tif.exists() else None
    if embedded is not None and embedded.num_classes == k * k:
        # the transition table embedded in the map (its colours), with readable names
        table = ClassTable("transitions", tuple(f"{names[c // k]} → {names[c % k]}" if c // k != c % k
                                                else f"{names[c // k]} (unchanged)" for c in range(k * k)),
                           embedded.colors)
        codes, _ = read_classes(tif, max_size)
        present = [int(c) for c in np.argsort(-pixels.ravel()) if pixels.ravel()[c] > 0]
        rgba = class_layer(codes, table)
        h, w = codes.shape
        page.add(f'<figure class="viewer"><div class="stack" style="width:min(100%, 900px, calc(78vh * {w} / {h}))">'
                 f'<img class="classes-only" alt="transition map" width="{w}" height="{h}" '
                 f'src="{img_uri(rgba)}"></div><figcaption>stable classes muted, each change type in its own '
                 "colour; largest first in the legend</figcaption></figure>", legend(table, present))
    else:
        page.note(f"{tif.name}: no map shown ({'missing' if not tif.exists() else 'no transition table in it'})")
    page.h2("Role figures", id="roles")
    rows = "".join(f"<tr><td>{esc(role)}</td><td>{esc(', '.join(f'{key} {_area(v)} ha' for key, v in fig.items()))}"
                   "</td></tr>" for role, fig in data.get("headline_m2", {}).items())
    page.add(f'<table class="roles"><tr><th>role</th><th>figures</th></tr>{rows}</table>' if rows else
             '<p class="muted">the class table declares no roles</p>')
    page.h2("Transition matrix (rows: before, columns: after)", id="matrix")
    unit = "ha" if known else "pixels"
    mat = m2 / 1e4 if known else pixels.astype(np.float64)
    head = f"<tr><th>before \\ after ({unit})</th>" + "".join(f"<th>{esc(n)}</th>" for n in names) + "</tr>"
    body = "".join(f'<tr data-class="{esc(names[i])}"><td>{esc(names[i])}</td>'
                   + "".join(cell(mat[i, j], "changed" if i != j else "stable", fmt_num(mat[i, j], 4 if known else 0),
                                  from_=names[i], to=names[j]) for j in range(k)) + "</tr>" for i in range(k))
    page.add(f'<div class="scroll"><table class="matrix">{head}{body}</table></div>')
    zones = data.get("zones")
    if zones:
        page.h2(f"Zones ({esc(data.get('zone_id', 'id'))})", id="zones")
        zrows = []
        for z in zones:
            zp = np.array(z["matrix_pixels"], dtype=np.int64)
            zm = np.array([[np.nan if v is None else v for v in r] for r in z["matrix_m2"]], dtype=np.float64)
            ch = float(zm.sum() - np.trace(zm)) if known else float(zp.sum() - np.trace(zp))
            share = (zp.sum() - np.trace(zp)) / zp.sum() * 100 if zp.sum() else float("nan")
            zrows.append(f'<tr data-zone="{esc(z["id"])}"><td>{esc(z["id"])}</td>'
                         + cell(ch / 1e4 if known else ch, "changed", fmt_num(ch / 1e4 if known else ch, 4 if known else 0))
                         + cell(share, "share", fmt_num(share, 2)) + "</tr>")
        page.add(f'<table class="zones"><tr><th>zone</th><th>changed ({unit})</th><th>changed (%)</th></tr>'
                 f"{''.join(zrows)}</table>")
    if files.adjusted("json").exists():  # landseg change --reference
        adjusted_section(page, read_json(files.adjusted("json")))
    if files.green("json").exists():  # landseg green
        green_section(page, read_json(files.green("json")))
    for n in data.get("notes", []):
        page.note(str(n))
    return page

