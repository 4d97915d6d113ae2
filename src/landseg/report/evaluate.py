"""Report sections of a ``landseg evaluate`` folder: the four protocol variants, per-class tables, tiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landseg.classes import ClassTable
from landseg.io.images import read_rgb
from landseg.layout import EvaluatePaths
from landseg.metrics import REFERENCE_NAMES, metric_rows, variant_title
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
from landseg.results import EvaluateResult
from landseg.views import (
    class_layer,
    fit,
    resize,
    unblend,
)


# ============================================================================ evaluate folders
def metric_tables(result: EvaluateResult) -> str:
    """The variants side by side: the summary metrics, then F1 and IoU per class (:func:`landseg.metrics.metric_rows`)."""
    names, rows = metric_rows(result.variants, ClassTable.from_dict(result.class_table).names)
    head = "<tr><th>metric (%)</th>" + "".join(f'<th class="num" data-variant="{v}">{esc(variant_title(v))}</th>' for v in names) + "</tr>"
    html_rows = []
    for row in rows:
        per_class = {} if row.class_name is None else {"class_": row.class_name}
        cells = "".join(cell(c.value, "metric" + (" excluded" if c.excluded else ""), fmt_pct(c.value) + (" *" if c.excluded else ""),
                             variant=c.variant, metric=row.metric, **per_class) for c in row.cells)
        cls_attr = "" if row.class_name is None else f' data-class="{esc(row.class_name)}"'
        html_rows.append(f'<tr data-metric="{row.metric}"{cls_attr}><td>{esc(row.label)}</td>{cells}</tr>')
    return (f'<div class="scroll"><table class="variants">{head}{"".join(html_rows)}</table></div>'
            '<p class="muted">* not in the means of this variant.</p>')


def evaluate_report(folder: Path, max_size: int, tiles_shown: int = 4) -> Page:
    """The report of a ``landseg evaluate`` folder: variants, per-class tables, confusion matrices, areas, tiles."""
    files = EvaluatePaths(folder)
    result = EvaluateResult.read(files.metrics_json)
    table = ClassTable.from_dict(result.class_table)
    tiles = result.tiles
    page = Page(f"Accuracy of {Path(result.model).name} on {result.title_name}",
                f"<code>landseg evaluate</code> · split <b>{esc(result.split)}</b> · {len(tiles)} tiles: "
                f"{esc(', '.join(tiles))} · model <code>{esc(result.model)}</code> · dataset "
                f"<code>{esc(result.dataset)}</code>")
    page.h2("Accuracy: four protocol variants", id="metrics")
    page.add(f'<p class="muted">{esc(result.protocol)}.</p>', metric_tables(result))
    for n in result.notes:
        page.note(n)
    page.h2("Per class", id="per-class")
    for ref in result.references:
        page.add(f"<h3>{esc(REFERENCE_NAMES[ref])}</h3>", per_class_table(result.variants[f"{ref}_with_clutter"], ref))
    page.h2("Confusion matrices (row-normalised, %)", id="confusion")
    page.add(f'<div class="grid2">{_confusion_figures(files, result.references)}</div>')
    if result.areas:
        page.h2("Predicted vs true area", id="areas")
        t_html, t_chart = truth_table(result.areas["classes"], table)
        page.add(f'<p class="muted">{esc(result.areas.get("note", ""))}; pixel area: '
                 f'{esc("; ".join(result.areas.get("pixel_area", [])))}</p>',
                 f'<div class="grid2"><div>{t_html}</div><div>{t_chart}</div></div>')
    if result.per_tile:
        page.h2("Per tile", id="per-tile")
        page.add(per_tile_table(result.per_tile))
    if result.views:
        page.h2("Predictions", id="predictions")
        _tile_views(page, files, result.views, table, max_size, tiles_shown)
    return page


def _confusion_figures(files: EvaluatePaths, references: list[str]) -> str:
    """The confusion-matrix PNGs that exist, as figures."""
    figs = []
    for ref in references:
        png = files.confusion(ref, "png")
        if png.exists():
            figs.append(f'<figure><img class="plot" alt="confusion matrix, {ref}" src="{file_uri(png, 1200)}">'
                        f"<figcaption>{esc(REFERENCE_NAMES[ref])}; counts in {files.confusion(ref).name}</figcaption></figure>")
    return "".join(figs)


def per_tile_table(per_tile: list[dict[str, Any]]) -> str:
    """One row per tile and reference: pixels, OA, mean F1, mIoU, mean F1 without clutter."""
    head = ('<tr><th>tile</th><th>reference</th><th class="num">pixels</th><th class="num">OA</th>'
            '<th class="num">mean F1</th><th class="num">mIoU</th><th class="num">mean F1 w/o clutter</th></tr>')
    rows = "".join(
        f'<tr data-tile="{esc(r["tile"])}" data-reference="{r["reference"]}"><td>{esc(r["tile"])}</td><td>{r["reference"]}</td>'
        + cell(r["pixels"], "pixels", fmt_num(r["pixels"], 0)) + cell(r["oa"], "oa", fmt_pct(r["oa"]))
        + cell(r["mean_f1"], "mean-f1", fmt_pct(r["mean_f1"])) + cell(r["miou"], "miou", fmt_pct(r["miou"]))
        + cell(r["mean_f1_without_clutter"], "mean-f1-without-clutter", fmt_pct(r["mean_f1_without_clutter"])) + "</tr>"
        for r in per_tile)
    return f'<div class="scroll"><table class="per-tile">{head}{rows}</table></div>'


def _tile_views(page: Page, files: EvaluatePaths, views: dict[str, dict[str, str]], table: ClassTable, max_size: int,
                tiles_shown: int) -> None:
    """The first ``tiles_shown`` tiles: predicted classes over the image, and image | prediction | truth panels."""
    for tid in list(views)[:tiles_shown]:
        v = {k: files.out_dir / p for k, p in views[tid].items()}
        classes_path = files.tile(tid).classes
        if not (classes_path.exists() and v["preview"].exists() and v["overlay"].exists()):
            continue
        index, (H, W) = read_classes(classes_path, max_size)
        pv, ov = read_rgb(v["preview"]), read_rgb(v["overlay"])
        image = fit(unblend(ov, pv), max_size, nearest=False)
        if image.shape[:2] != index.shape:
            image = resize(image, index.shape)
        page.add(f"<h3>tile {esc(tid)}</h3>",
                 viewer(page, class_layer(index, table), table, image,
                        f"tile {tid}: predicted classes over the image ({W:,} × {H:,} pixels, shown downsampled)"))
        if v.get("truth") and v["truth"].exists():
            small = max_size // 2
            page.add(panels([(fit(image, small, False), "image"), (fit(pv, small, True), "prediction"),
                             (fit(read_rgb(v["truth"]), small, True), "truth (full reference)")]))
    if len(views) > tiles_shown:
        page.add(f'<p class="muted">{tiles_shown} of {len(views)} tiles shown; every class map is in tiles/.</p>')
