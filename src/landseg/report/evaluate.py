"""Report sections of a ``landseg evaluate`` folder: the four protocol variants, per-class tables, tiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landseg.classes import ClassTable
from landseg.io.files import read_json
from landseg.metrics import REFERENCE_NAMES, SUMMARY_METRICS, VARIANTS, variant_title
from landseg.report.page import (
    Page,
    cell,
    esc,
    file_uri,
    fmt_num,
    fmt_pct,
    panels,
    per_class_table,
    read_classes,
    truth_table,
    viewer,
)
from landseg.views import (
    class_layer,
    fit,
    load_png,
    resize,
    unblend,
)


# ============================================================================ evaluate folders
def metric_tables(result: dict[str, Any]) -> str:
    variants = result["variants"]
    names = [v for v in VARIANTS if v in variants]
    head = "<tr><th>metric (%)</th>" + "".join(f'<th class="num" data-variant="{v}">{esc(variant_title(v))}</th>' for v in names) + "</tr>"
    rows = []
    for key, label in SUMMARY_METRICS:
        rows.append(f'<tr data-metric="{key}"><td>{label}</td>'
                    + "".join(cell(variants[v][key], "metric", fmt_pct(variants[v][key]), variant=v, metric=key) for v in names)
                    + "</tr>")
    table = ClassTable.from_dict(result["class_table"])
    for metric in ("f1", "iou"):
        for n in table.names:
            cells = []
            for v in names:
                val = variants[v]["per_class"][n][metric]
                out = n in variants[v]["excluded"]
                cells.append(cell(val, "metric" + (" excluded" if out else ""), fmt_pct(val) + (" *" if out else ""),
                                 variant=v, metric=metric, class_=n))
            rows.append(f'<tr data-metric="{metric}" data-class="{esc(n)}"><td>{"F1" if metric == "f1" else "IoU"} {esc(n)}</td>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table class="variants">{head}{"".join(rows)}</table></div>'
            '<p class="muted">* not in the means of this variant.</p>')


def evaluate_report(folder: Path, max_size: int, tiles_shown: int = 4) -> Page:
    result = read_json(folder / "metrics.json")
    table = ClassTable.from_dict(result["class_table"])
    tiles = result["tiles"]
    page = Page(f"Accuracy of {Path(result['model']).name} on {result.get('dataset_name') or Path(result['dataset']).name}",
                f"<code>landseg evaluate</code> · split <b>{esc(result['split'])}</b> · {len(tiles)} tiles: "
                f"{esc(', '.join(tiles))} · model <code>{esc(result['model'])}</code> · dataset "
                f"<code>{esc(result['dataset'])}</code>")
    page.h2("Accuracy: four protocol variants", id="metrics")
    page.add(f'<p class="muted">{esc(result.get("protocol", ""))}.</p>', metric_tables(result))
    for n in result.get("notes", []):
        page.note(n)
    page.h2("Per class", id="per-class")
    for ref in result["references"]:
        page.add(f"<h3>{esc(REFERENCE_NAMES[ref])}</h3>", per_class_table(result["variants"][f"{ref}_with_clutter"], ref))
    page.h2("Confusion matrices (row-normalised, %)", id="confusion")
    figs = []
    for ref in result["references"]:
        png = folder / f"confusion_{ref}.png"
        if png.exists():
            figs.append(f'<figure><img class="plot" alt="confusion matrix, {ref}" src="{file_uri(png, 1200)}">'
                        f"<figcaption>{esc(REFERENCE_NAMES[ref])}; counts in confusion_{ref}.csv</figcaption></figure>")
    page.add(f'<div class="grid2">{"".join(figs)}</div>')
    if result.get("areas"):
        page.h2("Predicted vs true area", id="areas")
        t_html, t_chart = truth_table(result["areas"]["classes"], table)
        page.add(f'<p class="muted">{esc(result["areas"].get("note", ""))}; pixel area: '
                 f'{esc("; ".join(result["areas"].get("pixel_area", [])))}</p>',
                 f'<div class="grid2"><div>{t_html}</div><div>{t_chart}</div></div>')
    if result.get("per_tile"):
        page.h2("Per tile", id="per-tile")
        head = ('<tr><th>tile</th><th>reference</th><th class="num">pixels</th><th class="num">OA</th>'
                '<th class="num">mean F1</th><th class="num">mIoU</th><th class="num">mean F1 w/o clutter</th></tr>')
        rows = "".join(
            f'<tr data-tile="{esc(r["tile"])}" data-reference="{r["reference"]}"><td>{esc(r["tile"])}</td><td>{r["reference"]}</td>'
            + cell(r["pixels"], "pixels", fmt_num(r["pixels"], 0)) + cell(r["oa"], "oa", fmt_pct(r["oa"]))
            + cell(r["mean_f1"], "mean-f1", fmt_pct(r["mean_f1"])) + cell(r["miou"], "miou", fmt_pct(r["miou"]))
            + cell(r["mean_f1_without_clutter"], "mean-f1-without-clutter", fmt_pct(r["mean_f1_without_clutter"])) + "</tr>"
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
            index, (H, W) = read_classes(classes_path, max_size)
            pv, ov = load_png(v["preview"]), load_png(v["overlay"])
            image = fit(unblend(ov, pv), max_size, nearest=False)
            if image.shape[:2] != index.shape:
                image = resize(image, index.shape)
            page.add(f"<h3>tile {esc(tid)}</h3>",
                     viewer(page, class_layer(index, table), table, image,
                            f"tile {tid}: predicted classes over the image ({W:,} × {H:,} pixels, shown downsampled)"))
            if v.get("truth") and v["truth"].exists():
                small = max_size // 2
                page.add(panels([(fit(image, small, False), "image"), (fit(pv, small, True), "prediction"),
                                 (fit(load_png(v["truth"]), small, True), "truth (full reference)")]))
        if len(views) > tiles_shown:
            page.add(f'<p class="muted">{tiles_shown} of {len(views)} tiles shown; every class map is in tiles/.</p>')
    return page
