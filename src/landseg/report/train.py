"""Report of a training run: learning curves, metrics and the sample windows written by
:func:`landseg.train_samples.sample_predictions` (the report runs no model)."""

from __future__ import annotations

from pathlib import Path

from landseg.classes import ClassTable
from landseg.io.files import read_json, read_text
from landseg.io.images import read_rgb
from landseg.layout import RunPaths
from landseg.report.page import (
    Page,
    cell,
    esc,
    file_uri,
    fmt_num,
    fmt_pct,
    is_finite,
    legend,
    panels,
    per_class_table,
)


# ============================================================================ training runs
def _sample_panels(page: Page, folder: Path, samples: int) -> None:
    """The sample windows :func:`landseg.train_samples.sample_predictions` wrote into the run (image | prediction | truth)."""
    path = RunPaths(folder).samples_json
    if not path.exists():
        page.note("no sample predictions in this run: `landseg report RUN` makes them (pass --dataset DIR if the run "
                  "does not record its prepared dataset)")
        return
    data = read_json(path)
    if data.get("note"):
        page.note(data["note"])
        return
    table = ClassTable.from_dict(data["class_table"])
    page.add(f'<p class="muted">Windows from the {data["which"]} tiles of <code>{esc(data["dataset"])}</code>, '
             f'predicted with <code>{esc(data["checkpoint"])}</code> (sliding window {data["window"]} px).</p>',
             legend(table))
    entries = data["samples"][:samples]
    if len(entries) < samples:
        page.add(f'<p class="muted">only {len(entries)} distinct window{"s" if len(entries) != 1 else ""}: '
                 f'the {data["which"]} tiles are small.</p>')
    for e in entries:
        r, c, s = e["row"], e["col"], e["size"]
        acc = float("nan") if e["accuracy"] is None else e["accuracy"]
        images = [read_rgb(path.parent / e[k]) for k in ("image", "prediction", "truth")]
        page.add(f"<h3>tile {esc(e['tile'])}, rows {r}–{r + s}, columns {c}–{c + s} (pixel accuracy {fmt_pct(acc, 1)} %)</h3>",
                 panels(list(zip(images, ("image", "prediction", "truth")))))


def train_report(folder: Path, max_size: int, samples: int) -> Page:
    """The report of a training run: learning curve, history, last validation metrics, configuration, samples."""
    run = RunPaths(folder)
    metrics = read_json(run.metrics_json) if run.metrics_json.exists() else {}
    history = metrics.get("history", [])
    ckpt_path = run.checkpoint()
    page = Page(f"Training run {folder.name}",
                f"<code>landseg train</code> run in <code>{esc(folder)}</code> · {len(history)} epochs"
                + (f" · best validation mean F1 {fmt_pct(metrics.get('best_mean_f1'))} %" if is_finite(metrics.get("best_mean_f1")) else ""))
    page.h2("Learning curve", id="learning-curve")
    lc = run.learning_curve
    if lc.exists():
        page.add(f'<figure><img class="plot" alt="learning curve" src="{file_uri(lc, 1600)}">'
                 "<figcaption>loss and mean F1 per epoch, training and validation</figcaption></figure>")
    else:
        page.note(f"{lc.name} not found")
    if history:
        cols = [k for k in ("epoch", "train_loss", "train_mean_f1", "val_loss", "val_oa", "val_mean_f1", "val_miou",
                            "elapsed_s") if any(k in h for h in history)]
        head = "<tr>" + "".join(f'<th class="num">{esc(k)}</th>' for k in cols) + "</tr>"
        rows = "".join("<tr>" + "".join(cell(h.get(k), k.replace("_", "-"), fmt_num(h.get(k), 0 if k == "epoch" else 4),
                                            epoch=h.get("epoch")) for k in cols) + "</tr>" for h in history)
        page.add(f'<div class="scroll"><table class="history">{head}{rows}</table></div>')
    val = (metrics.get("last") or {}).get("val")
    if val:
        page.h2("Validation metrics (last epoch)", id="metrics")
        page.add(f'<p class="meta">OA {fmt_pct(val.get("oa"))} % · mean F1 {fmt_pct(val.get("mean_f1"))} % · '
                 f'mIoU {fmt_pct(val.get("miou"))} % · fwIoU {fmt_pct(val.get("fwiou"))} %</p>', per_class_table(val, "full"))
    cfg = run.config
    if cfg.exists():
        page.h2("Configuration", id="config")
        page.add(f"<pre>{esc(read_text(cfg))}</pre>")
    page.h2("Sample windows: image | prediction | truth", id="samples")
    if ckpt_path is None:
        page.note("no checkpoint in this run: no sample predictions")
    elif samples > 0:
        _sample_panels(page, folder, samples)
    return page
