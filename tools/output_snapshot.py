"""Fingerprint what landseg writes, to check that a refactoring changes no output (issue 24).

Runs demo, prepare, a short train, predict (with confidence and mosaic), evaluate, area (zones, objects,
indicators), change, sample, vectorize, report and a serve job on the bundled samples, then hashes every file
written. Normalised before hashing:
  - JSON: keys that hold timings or dates are dropped, the output folder is replaced by <OUT>;
  - text (csv, md, html, qml, yaml, txt, sld): the output folder, dates and "N s" timings are replaced;
    CSV columns named like timings are dropped; files that differ are shown as a diff;
  - GeoPackage/GeoJSON: the features (attributes and WKB) as read by pyogrio, in order, not the file bytes
    (a GeoPackage stores its write time);
  - GeoTIFF: the pixels (hashed), profile, tags, colour table and overviews (a path tag is normalised);
  - safetensors: the tensors (hashed) and the metadata, timings dropped;
  - everything else (PNG, ...): the bytes.

  python tools/output_snapshot.py --out /tmp/snapA --json before.json
  python tools/output_snapshot.py --out /tmp/snapB --json after.json --compare before.json

Use the same machine and thread count for both runs (training is deterministic for a given seed there).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "src" / "landseg" / "assets" / "samples"
TIMING = re.compile(r"(second|seconds|_s$|^s$|time|elapsed|date|created|started|finished|mtime|duration|per_s|"
                    r"mpix|throughput|when|host|pid|version|python|torch_version|platform)", re.I)
TEXT = {".csv", ".md", ".html", ".qml", ".yaml", ".yml", ".txt", ".sld", ".vrt", ".xml"}


def run(args: list[str], cwd: Path) -> None:
    cmd = [sys.executable, "-m", "landseg", *args]
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    (cwd / "_log.txt").open("a").write(f"$ landseg {' '.join(args)}\n[exit {p.returncode}]\n{p.stdout}{p.stderr}\n")
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): landseg {' '.join(args)}\n{p.stderr[-2000:]}")


def serve_job(out: Path) -> None:
    from fastapi.testclient import TestClient

    from landseg.serve.app import create_app

    app = create_app({"default": "default"}, out / "serve-data", predict_options={"window": 256, "overlap": 64},
                     allowed_hosts=["testserver"])
    with TestClient(app) as c, open(SAMPLES / "dubai_tile7_part003.jpg", "rb") as f:
        r = c.post("/api/jobs", files={"image": ("dubai.jpg", f, "application/octet-stream")},
                   data={"model": "default"})
        r.raise_for_status()
        job = r.json()
        jid = job.get("id") or job.get("job_id")
        for _ in range(600):
            st = c.get(f"/api/jobs/{jid}").json()
            if st.get("status") in ("done", "failed", "error"):
                break
            time.sleep(0.5)
        (out / "serve-job.json").write_text(json.dumps(st, indent=1, sort_keys=True).replace(jid, "<JOB>"))
        (out / "serve-files").mkdir(exist_ok=True)
        for name in (st.get("files") or st.get("outputs") or {}):
            r = c.get(f"/api/jobs/{jid}/files/{name}")
            if r.status_code == 200:  # the job id is random: replaced where it appears in a text file
                try:
                    (out / "serve-files" / f"{name}.txt").write_text(r.content.decode().replace(jid, "<JOB>"))
                except UnicodeDecodeError:
                    (out / "serve-files" / name).write_bytes(r.content)


def quadrants(raster: Path, path: Path) -> Path:
    import rasterio

    with rasterio.open(raster) as ds:
        b, crs = ds.bounds, ds.crs.to_string()
    mx, my = (b.left + b.right) / 2, (b.bottom + b.top) / 2
    boxes = [(b.left, my, mx, b.top), (mx, my, b.right, b.top), (b.left, b.bottom, mx, my), (mx, b.bottom, b.right, my)]
    feats = [{"type": "Feature", "properties": {"q": f"Q{i + 1}"}, "geometry": {"type": "Polygon", "coordinates": [[
        [x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}} for i, (x0, y0, x1, y1) in enumerate(boxes)]
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": crs}},
                                "features": feats}))
    return path


def pipeline(out: Path) -> None:
    jpg, mask = SAMPLES / "dubai_tile7_part003.jpg", SAMPLES / "dubai_tile7_part003_mask.png"
    run(["demo", "--out", "demo"], out)
    src = out / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    for i, (y, x) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        import numpy as np
        from PIL import Image

        img, lab = np.asarray(Image.open(jpg)), np.asarray(Image.open(mask).convert("RGB"))
        h, w = img.shape[0] // 2, img.shape[1] // 2
        Image.fromarray(img[y * h:(y + 1) * h, x * w:(x + 1) * w]).save(src / "images" / f"p{i}.png")
        Image.fromarray(lab[y * h:(y + 1) * h, x * w:(x + 1) * w]).save(src / "masks" / f"p{i}.png")
    (out / "test.txt").write_text("p3\n")
    run(["prepare", "folder", "src", "data", "--class-table", "dubai", "--test-list", "test.txt",
         "--val-fraction", "0.34", "--seed", "0"], out)
    run(["train", "data", "--out", "run", "--model", "tiny", "--epochs", "1", "--windows-per-epoch", "8",
         "--window", "64", "--batch-size", "4", "--seed", "0", "--num-workers", "0"], out)
    run(["evaluate", "run", "data", "--split", "test", "--out", "eval-run"], out)
    run(["evaluate", "default", "data", "--split", "test", "--out", "eval-default"], out)
    run(["predict", "default", str(jpg), "--out", "pred", "--confidence", "--overwrite"], out)
    cls = next((out / "pred").glob("*classes*.tif"))
    run(["area", str(cls), "--format", "csv", "--out", "area.csv", "--gsd", "0.9"], out)
    label = SAMPLES / "potsdam_4_13_label.tif"  # georeferenced (EPSG:32633): zones, indicators, objects
    zones = quadrants(label, out / "zones.geojson")
    run(["area", str(label), "--zones", str(zones), "--zone-id", "q", "--indicators", "--format", "json",
         "--out", "area_zones.json"], out)
    run(["area", str(label), "--zones", str(zones), "--zone-id", "q", "--format", "csv", "--out", "area_zones.csv",
         "--units", "ha"], out)
    run(["area", str(label), "--objects", "building", "--format", "csv", "--out", "area_objects.csv"], out)
    run(["predict", "default", str(jpg), "--out", "pred-tta", "--tta", "--no-previews"], out)
    cls2 = next((out / "pred-tta").glob("*classes*.tif"))
    run(["change", str(cls), str(cls2), "--out", "change", "--gsd", "0.9"], out)
    run(["sample", str(cls), "--n", "60", "--out", "sample.gpkg", "--seed", "1", "--gsd", "0.9"], out)
    run(["vectorize", str(cls), "--out", "polygons.gpkg", "--gsd", "0.9"], out)
    run(["report", "pred", "--out", "report-pred.html"], out)
    run(["report", "run", "--out", "report-run.html"], out)
    run(["report", "change", "--out", "report-change.html"], out)
    serve_job(out)


def norm_json(obj, out: str):
    if isinstance(obj, dict):
        return {k: norm_json(v, out) for k, v in obj.items() if not TIMING.search(str(k))}
    if isinstance(obj, list):
        return [norm_json(v, out) for v in obj]
    if isinstance(obj, str):
        return obj.replace(out, "<OUT>")
    return obj


def _text_norm(text: str, out: str) -> str:
    """Replace the output folder, dates and 'N s' timings in a text file."""
    text = text.replace(out, "<OUT>")
    text = re.sub(r"(?:/[\w.-]+)+/src/landseg/", "<PKG>/", text)  # the checkout that ran
    text = re.sub(r'alt="learning curve" src="data:image/png;base64,[^"]*"', 'alt="learning curve" src="<PLOT>"', text)
    text = re.sub(r'(class="elapsed-s num"[^>]*data-value=")[^"]*(">)[^<]*', r"\1<N>\2<N>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?(\.\d+)?([+-]\d\d:\d\d|Z| UTC)?", "<DATE>", text)
    return re.sub(r"\b\d+(\.\d+)?\s?(s|min|seconds)\b", "<N> s", text)


def _csv_norm(text: str, out: str) -> str:
    """Drop the columns that hold timings."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return text
    keep = [k for k, h in enumerate(rows[0]) if not TIMING.search(h)]
    return "\n".join(",".join(r[k] for k in keep if k < len(r)) for r in rows).replace(out, "<OUT>")


def _tiff(path: Path, out: str) -> str:
    """Pixels (hashed), profile, tags, colour table and overviews of a GeoTIFF, path tags normalised."""
    import rasterio

    with rasterio.open(path) as ds:
        parts = [repr({k: v for k, v in ds.profile.items()}), repr(ds.tags()), repr([ds.overviews(b) for b in ds.indexes]),
                 repr([ds.tags(b) for b in ds.indexes]), repr(ds.descriptions)]
        for b in ds.indexes:
            parts.append(hashlib.sha256(ds.read(b).tobytes()).hexdigest())
            try:
                parts.append(repr(sorted(ds.colormap(b).items())))
            except ValueError:
                pass
    return _text_norm("\n".join(parts), out)


def _safetensors(path: Path, out: str) -> str:
    """Tensors (hashed) and metadata (timings dropped, paths normalised) of a checkpoint."""
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        meta = {k: (norm_json(json.loads(v), out) if v[:1] in "[{" else v) for k, v in (f.metadata() or {}).items()
                if not TIMING.search(k)}
        tensors = [f"{k} {hashlib.sha256(f.get_tensor(k).tobytes()).hexdigest()}" for k in sorted(f.keys())]
    return _text_norm(json.dumps(meta, indent=1, sort_keys=True) + "\n" + "\n".join(tensors), out)


def fingerprint(path: Path, out: str) -> tuple[str, str | None]:
    """(hash, normalised text or None) of one output file."""
    suf = path.suffix.lower()
    if suf == ".json":
        try:
            text = json.dumps(norm_json(json.loads(path.read_text()), out), indent=1, sort_keys=False)
        except ValueError:
            text = path.read_text(errors="replace")
        text = _text_norm(text, out)
    elif suf in (".gpkg", ".geojson"):
        import pyogrio
        from pyogrio.raw import read

        parts = []
        for layer, _ in pyogrio.list_layers(path):
            meta, _fids, geom, fields = read(path, layer=layer)
            keep = [k for k, name in enumerate(meta["fields"]) if not TIMING.search(str(name))]
            cols = [list(fields[k]) for k in keep] + ([[g.hex() if g is not None else None for g in geom]]
                                                      if geom is not None else [])
            rows = list(zip(*cols, strict=True))
            parts.append(f"## {layer} {[meta['fields'][k] for k in keep]} {meta['crs']}\n" + "\n".join(map(repr, rows)))
        text = _text_norm("\n".join(parts), out)
    elif suf == ".csv":
        text = _csv_norm(path.read_text(errors="replace"), out)
    elif suf in TEXT or path.parent.name == "serve-files" and suf == ".txt":
        text = _text_norm(path.read_text(errors="replace"), out)
    elif suf in (".tif", ".tiff"):
        text = _tiff(path, out)
    elif suf == ".safetensors":
        text = _safetensors(path, out)
    else:
        return hashlib.sha256(path.read_bytes()).hexdigest(), None
    return hashlib.sha256(text.encode()).hexdigest(), text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="scratch folder (emptied)")
    ap.add_argument("--json", type=Path, required=True, help="write the fingerprints here")
    ap.add_argument("--compare", type=Path, help="fingerprints of the earlier run to compare with")
    ap.add_argument("--no-run", action="store_true", help="only fingerprint what --out already holds")
    a = ap.parse_args()
    out = a.out.resolve()
    if not a.no_run:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        os.environ.setdefault("OMP_NUM_THREADS", "2")
        pipeline(out)
    snap = {}
    for p in sorted(out.rglob("*")):
        rel = str(p.relative_to(out))
        if p.is_file() and p.name != "_log.txt" and not rel.startswith("serve-data/"):
            h, text = fingerprint(p, str(out))
            snap[rel] = {"sha256": h, "text": text}
    a.json.write_text(json.dumps(snap, indent=1))
    print(f"{len(snap)} files fingerprinted -> {a.json}")
    if a.compare:
        old = json.loads(a.compare.read_text())
        bad = 0
        for rel in sorted(set(old) | set(snap)):
            if rel not in snap or rel not in old:
                print(f"{'MISSING' if rel not in snap else 'NEW'}: {rel}")
                bad += 1
            elif old[rel]["sha256"] != snap[rel]["sha256"]:
                bad += 1
                print(f"DIFFERS: {rel}")
                if old[rel]["text"] is not None and snap[rel]["text"] is not None:
                    d = difflib.unified_diff(old[rel]["text"].splitlines(), snap[rel]["text"].splitlines(),
                                             "before", "after", lineterm="", n=1)
                    print("\n".join(list(d)[:40]))
        print(f"{len(snap)} files, {bad} differ" if bad else f"all {len(snap)} files identical")
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
