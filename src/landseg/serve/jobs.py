"""Jobs of the web app: an SQLite store, a results folder per job and worker threads.

Layout of the data folder::

    jobs.db                     one row per job (status, stage, progress, result summary as JSON)
    jobs/<id>/input.<ext>       the uploaded image (or a copy of a bundled sample)
    jobs/<id>/zones.<ext>       the uploaded zones, if any
    jobs/<id>/reference.<ext>   the uploaded reference sample (labelled points), if any
    jobs/<id>/input2.<ext>      a change job's second (after) image
    jobs/<id>/out/              predict outputs (input_classes.tif, ...), polygons.gpkg, zones, report.html,
                                indicators, the drawn sample, map.json (what the page's map draws);
                                a change job: before/ and after/ (each image's predict outputs), transitions.*

Kinds: ``segment`` (one image: class map, areas, optional zones with planning indicators and limits, a drawn
reference sample, accuracy from a filled one) and ``change`` (two images segmented with the same model,
then the from->to transitions between their class maps, :func:`landseg.change.detect_change`). A job's
``options`` (JSON) hold the choices of its kind.

Statuses: ``queued`` -> ``running`` -> ``done`` | ``failed``. A job is ``done`` only after every
output is written. On start-up, a job the store still lists as ``running`` was interrupted (the server
stopped or crashed): it is marked ``failed`` and its partial outputs removed, never shown complete;
``queued`` jobs are queued again. Jobs run in worker threads, so the web server stays responsive;
each model is loaded once and kept (:class:`EngineCache`).
"""

from __future__ import annotations

import json
import logging
import math
import queue
import shutil
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from landseg.accuracy import draw_sample
from landseg.change import detect_change, transition_name, transition_table
from landseg.errors import ConfigError, LandsegError, OutputError
from landseg.inference.engine import load_engine
from landseg.io.files import check_writable_dir, free_space, write_json_atomic
from landseg.io.raster import raster_shape, read_resampled
from landseg.layout import JOB_INPUT_STEM, ChangePaths, PipelinePaths, PredictPaths
from landseg.measure import AreaRequest, measure_areas
from landseg.pipeline import run_pipeline, write_view_images
from landseg.predict import PredictOptions
from landseg.serve.mapdata import map_data
from landseg.views import class_layer, preview_shape, write_png

log = logging.getLogger("landseg.serve")

STATUSES = ("queued", "running", "done", "failed")
INTERRUPTED = "interrupted: the server stopped while this job ran; start it again"
SCHEMA_VERSION = 3  # 2: reference, reference_name; 3: kind, input2, name2, options
KINDS = ("segment", "change")
_COLUMNS = ("id", "created", "started", "finished", "status", "stage", "model", "name", "input", "zones",
            "zones_name", "zone_id", "reference", "reference_name", "gsd", "done", "total", "error", "result",
            "kind", "input2", "name2", "options")
_ADDED = {"reference": "TEXT", "reference_name": "TEXT",  # columns added after version 1
          "kind": "TEXT", "input2": "TEXT", "name2": "TEXT", "options": "TEXT"}
# the files of a job's out/ folder (:mod:`landseg.layout`): its input's predict outputs, the folder's, the change's
_IN, _JOB, _CHANGE = PredictPaths(Path(), JOB_INPUT_STEM), PipelinePaths(Path()), ChangePaths(Path())
# Results a client may download: artifact name -> (file in the job's out/ folder, media type, download suffix).
ARTIFACTS: dict[str, tuple[str, str, str]] = {
    "classes": (_IN.classes.name, "image/tiff", "_classes.tif"),
    "polygons": (_JOB.polygons.name, "application/geopackage+sqlite3", "_polygons.gpkg"),
    "areas_csv": (_IN.areas_csv.name, "text/csv", "_areas.csv"),
    "areas_json": (_IN.areas_json.name, "application/json", "_areas.json"),
    "zones_csv": (_IN.zones("csv").name, "text/csv", "_zones.csv"),
    "zones_json": (_IN.zones("json").name, "application/json", "_zones.json"),
    "zones_gpkg": (_IN.zones("gpkg").name, "application/geopackage+sqlite3", "_zones.gpkg"),
    "accuracy_csv": (_IN.accuracy("csv").name, "text/csv", "_accuracy.csv"),
    "accuracy_json": (_IN.accuracy("json").name, "application/json", "_accuracy.json"),
    "report": (_JOB.report.name, "text/html", "_report.html"),
    "image": (_JOB.image.name, "image/png", "_image.png"),
    "layer": (_JOB.layer.name, "image/png", "_classes.png"),
    "overlay": (_IN.overlay.name, "image/png", "_overlay.png"),
    "indicators_csv": (_IN.indicators("csv").name, "text/csv", "_indicators.csv"),
    "indicators_json": (_IN.indicators("json").name, "application/json", "_indicators.json"),
    "indicators_gpkg": (_IN.indicators("gpkg").name, "application/geopackage+sqlite3", "_indicators.gpkg"),
    "sample_gpkg": (_IN.sample.name, "application/geopackage+sqlite3", "_sample.gpkg"),
    "change_tif": (_CHANGE.transitions.name, "image/tiff", "_transitions.tif"),
    "change_csv": (_CHANGE.transitions_csv.name, "text/csv", "_transitions.csv"),
    "change_json": (_CHANGE.transitions_json.name, "application/json", "_transitions.json"),
    "change_zones_csv": (_CHANGE.zones("csv").name, "text/csv", "_transitions_zones.csv"),
    "map": (_JOB.map_data.name, "application/json", "_map.json"),
}
VIEW_SIZE = 1600  # longest side of the image and class layer shown on the page


class Cancelled(Exception):
    """Raised inside a running job when the server stops."""


class JobStore:
    """Jobs in one SQLite file; safe to use from several threads (one connection behind a lock)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir)
        self.jobs_dir = self.root / "jobs"
        try:  # a read-only or full data folder: one clear message (OutputError) rather than a traceback
            check_writable_dir(self.jobs_dir)
        except OutputError as exc:
            raise OutputError(f"--data-dir: {exc}; give a folder you can write to with --data-dir") from None
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.root / "jobs.db", check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA user_version")
        except sqlite3.Error as exc:
            raise OutputError(f"--data-dir: {self.root / 'jobs.db'}: cannot open the jobs database ({exc}; "
                              f"{free_space(self.root)})") from None
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, created REAL NOT NULL, started REAL, "
                "finished REAL, status TEXT NOT NULL, stage TEXT, model TEXT NOT NULL, name TEXT NOT NULL, "
                "input TEXT NOT NULL, zones TEXT, zones_name TEXT, zone_id TEXT, gsd REAL, done INTEGER DEFAULT 0, "
                "total INTEGER DEFAULT 0, error TEXT, result TEXT)")
            have = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
            for col, kind in _ADDED.items():
                if col not in have:  # a data folder of an earlier version
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {col} {kind}")
            self._db.execute("CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created)")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        """Release the data folder and close the database."""
        self.release()
        with self._lock:
            self._db.close()

    def acquire(self) -> None:
        """Claim the data folder for this server (one running server per folder: each would take the
        other's running jobs for interrupted ones); :class:`ConfigError` if another one holds it."""
        try:
            import fcntl  # noqa: PLC0415 - optional
        except ImportError:  # Windows: no advisory locks; one server per folder is then up to the user
            return
        fh = open(self.root / "serve.lock", "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise ConfigError(f"another landseg serve is using {self.root}; stop it or give another --data-dir") from None
        self._lockfile = fh

    def release(self) -> None:
        """Release the data folder (closing the lock file releases the lock)."""
        fh = getattr(self, "_lockfile", None)
        if fh is not None:
            fh.close()  # closing the file releases the lock
            self._lockfile = None

    def job_dir(self, job_id: str) -> Path:
        """The folder of job ``job_id`` (its upload and, under ``out/``, its results)."""
        return self.jobs_dir / job_id

    def recover(self) -> list[str]:
        """Mark interrupted (``running``) jobs failed and drop their partial outputs; return queued ids."""
        with self._lock:
            stale = [r["id"] for r in self._db.execute("SELECT id FROM jobs WHERE status='running'")]
            self._db.execute("UPDATE jobs SET status='failed', stage='failed', error=?, finished=? WHERE status='running'",
                             (INTERRUPTED, time.time()))
            queued = [r["id"] for r in self._db.execute("SELECT id FROM jobs WHERE status='queued' ORDER BY created")]
        for job_id in stale:
            shutil.rmtree(self.job_dir(job_id) / "out", ignore_errors=True)
        return queued

    def create(self, job: dict[str, Any]) -> None:
        """Store a new job as queued."""
        row = {k: job.get(k) for k in _COLUMNS}
        row["kind"] = row["kind"] or "segment"
        row["options"] = json.dumps(row["options"] or {})
        row.update(created=row["created"] or time.time(), status="queued", stage="queued", done=0, total=0)
        with self._lock:
            self._db.execute(f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                             [row[k] for k in _COLUMNS])

    def update(self, job_id: str, **fields: Any) -> None:
        """Set columns of job ``job_id`` (a ``result`` is stored as strict JSON)."""
        if "result" in fields and not isinstance(fields["result"], (str, type(None))):
            fields["result"] = json.dumps(_finite(fields["result"]), default=_json_default, allow_nan=False)
        cols = ", ".join(f"{k}=?" for k in fields)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {cols} WHERE id=?", [*fields.values(), job_id])

    def claim(self, job_id: str) -> bool:
        """Move a queued job to ``running``; False if it is not queued (already taken or gone)."""
        with self._lock:
            cur = self._db.execute("UPDATE jobs SET status='running', stage='starting', started=? "
                                   "WHERE id=? AND status='queued'", (time.time(), job_id))
            return cur.rowcount == 1

    def requeue(self, job_id: str) -> bool:
        """Queue a failed job again (its outputs are removed); False unless it had failed."""
        with self._lock:
            cur = self._db.execute("UPDATE jobs SET status='queued', stage='queued', error=NULL, result=NULL, "
                                   "started=NULL, finished=NULL, done=0, total=0, created=? "
                                   "WHERE id=? AND status='failed'", (time.time(), job_id))
        if cur.rowcount == 1:
            shutil.rmtree(self.job_dir(job_id) / "out", ignore_errors=True)
        return cur.rowcount == 1

    def get(self, job_id: str) -> dict[str, Any] | None:
        """Job ``job_id`` with its result and options decoded, and its queue position; None if unknown."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                return None
            job = dict(row)
            if job["status"] == "queued":
                job["queue_position"] = self._db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE status='queued' AND created<=?", (job["created"],)).fetchone()[0]
        job["result"] = json.loads(job["result"]) if job["result"] else None
        job["options"] = json.loads(job["options"]) if job.get("options") else {}
        job["kind"] = job.get("kind") or "segment"  # jobs of a data folder of version 1-2
        return job

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest ``limit`` jobs, newest first (without results)."""
        with self._lock:
            rows = [dict(r) for r in self._db.execute(
                "SELECT id, created, started, finished, status, stage, model, name, done, total, error, kind "
                "FROM jobs ORDER BY created DESC LIMIT ?", (limit,))]
        return rows

    def counts(self) -> dict[str, int]:
        """The number of jobs per status."""
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {s: 0 for s in STATUSES} | {r[0]: r[1] for r in rows}


def _finite(o: Any) -> Any:
    """``o`` with NaN/infinite floats as None (strict JSON)."""
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


class EngineCache:
    """One loaded engine per model name, created on first use and kept."""

    def __init__(self, models: dict[str, str], device: str = "auto") -> None:
        self.models, self.device = models, device
        self._engines: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> tuple[Any, Any]:
        """The engine of model ``name``, loaded on first use."""
        with self._lock:
            if name not in self._engines:
                self._engines[name] = load_engine(self.models[name], device=self.device)
            return self._engines[name]


class JobLimit(LandsegError):
    """A job went over one of the server's per-job budgets (time, windows)."""


class JobRunner:
    """Worker threads taking queued jobs in order and running predict -> zones -> polygons -> report."""

    def __init__(self, store: JobStore, engines: EngineCache, *, workers: int = 1,
                 predict_options: dict[str, Any] | None = None, progress_interval: float = 0.25,
                 max_pixels: float | None = None, max_windows: int | None = None,
                 timeout: float | None = None) -> None:
        """Budgets of one job: ``max_pixels`` of inference grid (after resampling; checked before any work),
        ``max_windows`` (checked before the first window) and ``timeout`` seconds of wall time (the job is
        cancelled at its next window or stage and fails with a message naming the limit)."""
        self.store, self.engines = store, engines
        self.workers = max(1, int(workers))
        self.predict_options = {"window": 512, "overlap": 128, "batch_size": 4, **(predict_options or {})}
        if max_pixels is not None:
            self.predict_options.update(max_pixels=max_pixels, pixel_limit_name="this server's --max-job-pixels")
        self.max_windows, self.timeout = max_windows, timeout
        self._deadlines: dict[str, float] = {}
        self.progress_interval = progress_interval
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Claim the data folder, requeue the jobs an earlier server left, start the workers."""
        self.store.acquire()
        for job_id in self.store.recover():
            self._queue.put(job_id)
        for i in range(self.workers):
            t = threading.Thread(target=self._loop, name=f"landseg-serve-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the workers (a running job is cancelled at its next window or stage and marked failed);
        True once all have ended."""
        self._stop.set()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in self._threads if t.is_alive()]
        self._threads = alive
        return not alive

    def submit(self, job_id: str) -> None:
        """Queue job ``job_id``."""
        self._queue.put(job_id)

    def _loop(self) -> None:
        while not self._stop.is_set():
            job_id = self._queue.get()
            if job_id is None or self._stop.is_set():
                return
            if self.store.claim(job_id):
                self._run(job_id)

    def _run(self, job_id: str) -> None:
        job = self.store.get(job_id)
        assert job is not None
        if self.timeout is not None:
            self._deadlines[job_id] = time.monotonic() + self.timeout
        try:
            result = run_job(job, self.store.job_dir(job_id), self.engines, self.predict_options,
                             stage=self._stage_cb(job_id), progress=self._progress_cb(job_id))
        except Cancelled:
            self._fail(job_id, INTERRUPTED)
        except LandsegError as exc:
            self._fail(job_id, _public(str(exc), self.store.job_dir(job_id), job))
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the worker; the job shows it
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            self._fail(job_id, _public(f"internal error: {type(exc).__name__}: {exc}", self.store.job_dir(job_id), job))
        else:
            self.store.update(job_id, status="done", stage="done", finished=time.time(), result=result)
        finally:
            self._deadlines.pop(job_id, None)

    def _check_budget(self, job_id: str, total: int | None = None) -> None:
        """Raise :class:`JobLimit` when the job ran out of time, or needs more windows than allowed."""
        deadline = self._deadlines.get(job_id)
        if deadline is not None and time.monotonic() > deadline:
            raise JobLimit(f"cancelled after {self.timeout:g} s: the job ran longer than this server's --job-timeout "
                           f"of {self.timeout:g} s; send a smaller image or ask the operator for a longer timeout")
        if total is not None and self.max_windows is not None and total > self.max_windows:
            raise JobLimit(f"the image needs {total:,} windows, more than this server's --max-job-windows of "
                           f"{self.max_windows:,}; send a smaller image")

    def _fail(self, job_id: str, message: str) -> None:
        shutil.rmtree(self.store.job_dir(job_id) / "out", ignore_errors=True)
        self.store.update(job_id, status="failed", stage="failed", error=message, finished=time.time())

    def _stage_cb(self, job_id: str) -> Callable[[str], None]:
        def cb(stage: str) -> None:
            if self._stop.is_set():
                raise Cancelled()
            self._check_budget(job_id)
            self.store.update(job_id, stage=stage)

        return cb

    def _progress_cb(self, job_id: str) -> Callable[[int, int], None]:
        last = [0.0]

        def cb(done: int, total: int) -> None:
            if self._stop.is_set():
                raise Cancelled()
            self._check_budget(job_id, total if done == 0 else None)
            now = time.monotonic()
            if done in (0, total) or now - last[0] >= self.progress_interval:
                last[0] = now
                self.store.update(job_id, done=done, total=total)

        return cb


def _planning_public(planning: dict[str, Any] | None) -> dict[str, Any] | None:
    """The planning table for the result page: zones' flat columns, the rules and notes (no file paths)."""
    if planning is None:
        return None
    zones = [{k: v for k, v in z.items() if not isinstance(v, (dict, list))} for z in planning.get("zones", [])]
    return {"zone_id": planning.get("zone_id"), "zones": zones, "rules": planning.get("rules", []),
            "notes": planning.get("notes", [])}


def _public(message: str, job_dir: Path, job: dict[str, Any]) -> str:
    """An error message with server paths replaced by the names the user knows."""
    out = job_dir / "out"
    job_out = PipelinePaths(out)
    for path, name in ((PredictPaths(out, JOB_INPUT_STEM).classes, "the class map"),
                       (job_out.before.classes, "the before class map"),
                       (job_out.after.classes, "the after class map"), (job_dir / job["input"], job["name"]),
                       (job_dir / (job.get("input2") or "-"), job.get("name2") or "the after image"),
                       (job_dir / (job["zones"] or "-"), job.get("zones_name") or "zones"),
                       (job_dir / (job.get("reference") or "-"), job.get("reference_name") or "reference points"),
                       (out, "results"), (job_dir, "job")):
        message = message.replace(str(path), name)
    return message


def run_job(job: dict[str, Any], job_dir: Path, engines: EngineCache, predict_options: dict[str, Any], *,
            stage: Callable[[str], None], progress: Callable[[int, int], None]) -> dict[str, Any]:
    """All outputs of one job into ``job_dir/out``; returns the summary stored with the job."""
    out = job_dir / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    stage("loading model")
    engine, ckpt = engines.get(job["model"])
    opts = PredictOptions(**predict_options, progress=False, overwrite=True, gsd=job["gsd"], on_progress=progress)
    if job.get("kind") == "change":
        result = _run_change(job, job_dir, engine, ckpt, opts, stage)
    else:
        result = _run_segment(job, job_dir, engine, ckpt, opts, stage)
    result["files"] = sorted(name for name, (fname, _, _) in ARTIFACTS.items() if (out / fname).exists())
    return result


def _legend(table: Any) -> list[dict[str, Any]]:
    return [{"index": i, "name": n, "color": list(c)} for i, (n, c) in enumerate(zip(table.names, table.colors))]


def _run_segment(job: dict[str, Any], job_dir: Path, engine: Any, ckpt: Any, opts: PredictOptions,
                 stage: Callable[[str], None]) -> dict[str, Any]:
    """:func:`landseg.pipeline.run_pipeline`, then the planning indicators and limits of the zones
    (``landseg area --zones --indicators --limit``) and a drawn reference sample (``landseg sample``)."""
    src, out, options = job_dir / job["input"], job_dir / "out", job.get("options") or {}
    zones = job_dir / job["zones"] if job["zones"] else None
    res = run_pipeline(engine, ckpt, src, out, model_name=job["model"], gsd=job["gsd"], opts=opts,
                       zones=zones, zone_id=job["zone_id"] or None,
                       reference=job_dir / job["reference"] if job.get("reference") else None,
                       view_size=VIEW_SIZE, on_stage=stage)
    classes = res.paths.classes
    indicators = None
    if zones is not None and res.sized and (options.get("indicators") or options.get("limits")):
        stage("indicators")
        try:
            req = AreaRequest(zones=zones, zone_id=job["zone_id"] or None, indicators=True,
                              limits=list(options.get("limits") or []), gsd=res.gsd)
            ind = measure_areas(classes, req, note=log.info)[0][1]
            for suffix in ("json", "csv", "gpkg"):
                ind.write(res.paths.indicators(suffix))
            indicators = ind.to_dict()
            indicators.pop("raster", None)
            indicators["zones_file"] = job.get("zones_name") or "zones"
        except LandsegError as exc:
            res.warnings.append(f"indicators: {exc}")
    sample = None
    if options.get("sample"):
        stage("sample")
        try:
            design = draw_sample(classes, res.paths.sample, int(options["sample"]),
                                 min_per_class=options.get("min_per_class"), seed=int(options.get("seed") or 0),
                                 gsd=res.gsd)
            sample = design.to_dict()
            sample.pop("classmap", None)
            sample["points"] = res.paths.sample.name
        except LandsegError as exc:
            res.warnings.append(f"sample: {exc}")
    _write_map(out, classes, zones if res.zones is not None or indicators is not None else None, job["zone_id"],
               res.paths.sample if sample else None, res.warnings)
    rec = res.record
    zres = res.zones
    if zres is not None:
        zres["zones_file"] = job.get("zones_name") or "zones"
        zres.pop("raster", None)
    accuracy = res.accuracy
    if accuracy is not None:
        accuracy["reference"] = job.get("reference_name") or "reference points"
        accuracy.pop("raster", None)
    polygons = {"features": res.polygons.features, "counts": res.polygons.counts} if res.polygons is not None else None
    areas = rec.areas or {}
    areas.pop("raster", None)
    return {
        "kind": "segment", "size": rec.size, "crs": rec.crs, "windows": rec.windows,
        "note": _public(rec.note, job_dir, job), "seconds": rec.seconds_total, "model": job["model"],
        "legend": _legend(ckpt.class_table), "areas": areas, "zones": zres, "indicators": indicators,
        "accuracy": accuracy, "polygons": polygons, "sample": sample,
        "planning": _planning_public(res.planning),
        "warnings": [_public(w, job_dir, job) for w in res.warnings],
        "domain_warnings": [_public(w, job_dir, job) for w in rec.warnings],
        "domain": rec.domain,
    }


def _run_change(job: dict[str, Any], job_dir: Path, engine: Any, ckpt: Any, opts: PredictOptions,
                stage: Callable[[str], None]) -> dict[str, Any]:
    """Both images through predict (same model), then ``landseg change`` between their class maps; the
    page shows the after image with the transitions."""
    out = job_dir / "out"
    zones = job_dir / job["zones"] if job["zones"] else None
    runs, seconds = [], 0.0
    for tag, src in (("before", job["input"]), ("after", job["input2"])):
        def tagged(name: str, tag: str = tag) -> None:
            stage(f"{name} ({tag} image)")

        r = run_pipeline(engine, ckpt, job_dir / src, out / tag, model_name=job["model"], gsd=job["gsd"], opts=opts,
                         polygons=False, report=False, on_stage=tagged)
        runs.append(r)
        seconds += r.record.seconds_total or 0.0
    stage("change")
    result = detect_change(runs[0].paths.classes, runs[1].paths.classes, out, zones=zones,
                           zone_id=job["zone_id"] or None, gsd=job["gsd"])
    stage("preparing the view")
    table = ckpt.class_table
    write_view_images(job_dir / job["input2"], runs[1].paths.classes, out, ckpt, VIEW_SIZE)
    k = table.num_classes
    h, w = preview_shape(*raster_shape(ChangePaths(out).transitions), VIEW_SIZE)
    codes = read_resampled(ChangePaths(out).transitions, (h, w)).astype(np.int64)
    ttable = transition_table(table) if k * k <= 250 else None
    if ttable is not None:
        write_png(class_layer(codes, ttable), PipelinePaths(out).layer, "RGBA")
    change = result.to_dict()
    change["before"], change["after"] = job["name"], job.get("name2") or "after"
    pixels = np.asarray(change["matrix_pixels"])
    legend = [{"index": int(c), "name": transition_name(table, int(c)),
               "color": list(ttable.colors[c]) if ttable is not None else [0, 0, 0], "changed": c // k != c % k}
              for c in np.flatnonzero(pixels.ravel())]
    warnings = [w for r in runs for w in r.warnings]
    if ttable is None:
        warnings.append(f"{k} classes make {k * k} transitions, too many colours for the map layer: download the "
                        "transition map")
    _write_map(out, result.outputs[0], zones, job["zone_id"], None, warnings)
    rec = runs[1].record
    return {"kind": "change", "size": rec.size, "crs": rec.crs, "windows": sum(r.record.windows or 0 for r in runs),
            "note": _public(rec.note, job_dir, job), "seconds": round(seconds, 2), "model": job["model"],
            "legend": legend, "classes": _legend(table), "change": change,
            "warnings": [_public(w, job_dir, job) for w in warnings]}


def _write_map(out: Path, classes: Path, zones: Path | None, zone_id: str | None, points: Path | None,
               warnings: list[str]) -> None:
    """``out/map.json``: the zones and sample points the page draws (:func:`landseg.serve.mapdata.map_data`)."""
    try:
        data = map_data(classes, VIEW_SIZE, zones=zones, zone_id=zone_id or None, points=points)
    except LandsegError as exc:
        warnings.append(f"map: zones and points are not drawn ({exc})")
        return
    write_json_atomic(PipelinePaths(out).map_data, data)
