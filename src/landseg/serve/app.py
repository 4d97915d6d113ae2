"""The web app: a FastAPI application over :mod:`landseg.serve.jobs`, and the ``landseg serve`` command.

Routes (documented at ``/docs`` and ``/openapi.json``)::

    GET  /                                  the page (static/index.html)
    GET  /static/...                        its CSS and JS, only from the package's static folder
    GET  /api/info                          models, bundled samples, upload limit
    GET  /docs                              the API documentation (Swagger UI served from static/vendor, offline)
    POST /api/jobs                          multipart upload: image or sample, model, zones, zone_id, reference, gsd;
                                            indicators, limits, sample_points, seed; kind=change with image2/sample2
    GET  /api/jobs                          recent jobs with their progress
    GET  /api/jobs/{id}                     one job: status, stage, windows done/total, result summary
    POST /api/jobs/{id}/retry               queue a failed job again
    GET  /api/jobs/{id}/files/{artifact}    a result file (a fixed set of names, see jobs.ARTIFACTS)

Every error answers with JSON ``{"error": <code>, "detail": <message>}``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from landseg import __version__
from landseg.area.indicators import INDICATORS, Limit
from landseg.assets import bundled_models, is_bundled_name, samples
from landseg.errors import ConfigError, InputError
from landseg.io.vector import read_attributes
from landseg.layout import JOB_INPUT2_STEM, JOB_INPUT_STEM
from landseg.models.checkpoint import read_metadata, resolve_model_path
from landseg.serve.jobs import ARTIFACTS, KINDS, EngineCache, JobRunner, JobStore
from landseg.serve.options import ServeOptions
from landseg.serve.uploads import (
    IMAGE_FORMATS,
    ZONE_FORMATS,
    BadUpload,
    UploadTooLarge,
    check_image,
    check_reference,
    check_zones,
    display_name,
    read_form,
    safe_stem,
    sniff_image,
    sniff_image_file,
    sniff_zones,
    storing,
)

STATIC = Path(__file__).resolve().parent / "static"
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_SAMPLE_POINTS = 5000  # points of a sample drawn by a job (the page draws each one)
FORM_SLACK = 64 * 1024  # multipart headers and text fields on top of the file limit
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
LOOPBACK = ("localhost", "127.0.0.1", "::1")
TOKEN_COOKIE = "landseg_token"
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "not_ready", 413: "too_large", 415: "unsupported_format",
               422: "invalid_request", 500: "internal_error", 507: "insufficient_storage"}


class ApiError(Exception):
    """An error answered as JSON ``{"error", "detail"}`` with its HTTP status."""
    def __init__(self, status: int, detail: str, error: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.error = status, detail, error or ERROR_CODES.get(status, "error")


class ErrorBody(BaseModel):
    """The JSON body of every error."""
    error: str
    detail: Any


class Progress(BaseModel):
    """Windows done of the windows a job runs."""
    done: int
    total: int


class JobOut(BaseModel):
    """A job as the API shows it."""
    id: str
    kind: str = "segment"
    status: str
    stage: str | None = None
    name: str
    name2: str | None = None
    options: dict[str, Any] = {}
    model: str
    zones_name: str | None = None
    zone_id: str | None = None
    reference_name: str | None = None
    gsd: float | None = None
    created: float
    started: float | None = None
    finished: float | None = None
    progress: Progress
    queue_position: int | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    files: dict[str, str] = {}


ERRORS = {code: {"model": ErrorBody} for code in (400, 404, 409, 413, 415, 422)}
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object",
    "properties": {
        "image": {"type": "string", "format": "binary",
                  "description": "GeoTIFF, PNG or JPEG (checked by content). Give this or `sample`."},
        "sample": {"type": "string", "description": "name of a bundled sample (see /api/info) instead of `image`"},
        "model": {"type": "string", "description": "model name (see /api/info); default: the first listed"},
        "zones": {"type": "string", "format": "binary",
                  "description": "optional zones: GeoPackage or GeoJSON FeatureCollection"},
        "zone_id": {"type": "string", "description": "zone attribute naming each zone (default: feature id)"},
        "reference": {"type": "string", "format": "binary",
                      "description": "optional reference sample (GeoPackage/GeoJSON points from `landseg sample`, "
                                     "`reference` filled): accuracy and error-adjusted areas"},
        "gsd": {"type": "number", "description": "pixel size in metres, for images without georeferencing"},
        "kind": {"type": "string", "enum": ["segment", "change"],
                 "description": "segment (default): one image; change: two images (`image`/`sample` before, "
                                "`image2`/`sample2` after), segmented with the same model, then their transitions"},
        "image2": {"type": "string", "format": "binary", "description": "change jobs: the after image"},
        "sample2": {"type": "string", "description": "change jobs: a bundled sample as the after image"},
        "indicators": {"type": "boolean", "description": "with zones: planning indicators per zone "
                                                         "(as `landseg area --zones --indicators`)"},
        "limits": {"type": "string", "description": "with zones: COLUMN:INDICATOR limits, comma-separated, e.g. "
                                                    "max_coverage:building_coverage (as `--limit`)"},
        "sample_points": {"type": "integer", "description": "draw a stratified random reference sample of this many "
                                                            "points (as `landseg sample --n`)"},
        "seed": {"type": "integer", "description": "the sample's random seed (default 0)"},
        "min_per_class": {"type": "integer", "description": "at least this many sample points per mapped class"},
    },
}}}}}


def default_data_dir() -> Path:
    """``~/.landseg/serve``, or ``./landseg-serve`` where the home folder cannot be written."""
    home = Path.home() / ".landseg" / "serve"
    try:
        home.mkdir(parents=True, exist_ok=True)
        if os.access(home, os.W_OK):
            return home
    except OSError:
        pass
    return Path("landseg-serve").resolve()


def model_choices(specs: list[str] | None = None) -> dict[str, str]:
    """Model name -> checkpoint path: every bundled model this installation has (``default`` first), then each
    spec."""
    models: dict[str, str] = {name: name for name in bundled_models()}
    for spec in specs or []:
        if is_bundled_name(spec):
            resolve_model_path(spec)  # a clear error if that bundled model is missing
            continue
        path = resolve_model_path(spec)
        base = Path(spec).name if Path(spec).is_dir() else path.stem
        name, k = base, 2
        while name in models:
            name, k = f"{base}-{k}", k + 1
        models[name] = str(path)
    if not models:
        raise ConfigError("no model to serve: the bundled default model is missing; give --model CHECKPOINT")
    return models


def _model_info(name: str, spec: str) -> dict[str, Any]:
    meta = read_metadata(resolve_model_path(spec))
    classes = meta["class_table"]["classes"]
    return {"name": name, "bands": len(meta["mean"]), "band_names": meta.get("bands", []),
            "pixel_size": meta.get("pixel_size"), "classes": [{"name": c["name"], "color": c["color"]} for c in classes]}


def _samples() -> dict[str, Path]:
    return {p.name: p for p in samples()}


def create_app(models: dict[str, str] | None = None, data_dir: str | Path | None = None,
               options: ServeOptions | None = None, *, predict_options: dict[str, Any] | None = None,
               **fields: Any) -> FastAPI:
    """The web app, set up by ``options`` (default: :class:`ServeOptions`' defaults), with ``fields`` (any of its
    fields as keywords, e.g. ``allowed_hosts=[...]``) and ``data_dir`` given in place of theirs.

    ``models``: name -> checkpoint path or 'default' (default: :func:`model_choices` of ``options.models``).
    Jobs and results live in the data folder (default :func:`default_data_dir`); the worker threads start
    and stop with the app's lifespan (``with TestClient(app)``, or uvicorn).
    ``predict_options``: :class:`~landseg.predict.PredictOptions` fields (window, overlap, batch_size).
    The routes (:data:`router`) find the store, runner and limits in ``app.state``.

    Requests are checked by :func:`guard`: the ``Host`` header must be a loopback name, ``host`` or one of
    ``allowed_hosts`` (DNS rebinding); state-changing requests from another origin are refused; with a ``token``
    every request must carry it (``Authorization: Bearer``, the cookie set by ``/?token=``).
    Per-job budgets (:class:`~landseg.serve.jobs.JobRunner`): ``max_job_pixels`` (after resampling),
    ``max_job_windows`` and ``job_timeout`` seconds.
    """
    if data_dir is not None:
        fields["data_dir"] = Path(data_dir)
    o = replace(options or ServeOptions(), **fields)  # checked by ServeOptions, like the CLI's
    models = dict(models) if models is not None else model_choices(list(o.models))
    if not models:
        raise ConfigError("create_app needs at least one model")
    infos = {name: _model_info(name, spec) for name, spec in models.items()}
    data = o.data_dir if o.data_dir is not None else default_data_dir()
    store = JobStore(data)
    runner = JobRunner(store, EngineCache(models, o.device), workers=o.workers, predict_options=predict_options,
                       max_pixels=o.max_job_pixels, max_windows=o.max_job_windows, timeout=o.job_timeout)
    app = FastAPI(title="landseg serve", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Land-cover segmentation of aerial images with class areas: upload an image, "
                              "follow the job, download the class map, polygons, areas and report. "
                              "Every error answers with JSON {\"error\", \"detail\"}.")
    app.state.store, app.state.runner, app.state.data_dir = store, runner, data
    app.state.infos, app.state.max_bytes = infos, int(o.max_upload_mb * 1024 * 1024)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal_error)
    app.state.allowed_hosts = {h.lower().strip("[]") for h in (*LOOPBACK, o.host, *o.allowed_hosts) if h}
    app.state.token = o.token or None
    app.middleware("http")(security_headers)
    app.middleware("http")(guard)  # added last: runs first
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
    return app


@asynccontextmanager
async def lifespan(app: FastAPI):
    """Start the job workers with the app; stop them (and close the store once they ended) after it."""
    app.state.runner.start()
    try:
        yield
    finally:
        if await run_in_threadpool(app.state.runner.stop):
            app.state.store.close()


# ---------------------------------------------------------------------------------- errors: always JSON
async def api_error(request: Request, exc: ApiError) -> JSONResponse:
    """An :class:`ApiError` as its JSON answer."""
    return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """An HTTP error (404, 405, ...) as JSON."""
    return JSONResponse({"error": ERROR_CODES.get(exc.status_code, "http_error"), "detail": exc.detail},
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A request that does not match the API's schema: 422 with the validation errors."""
    return JSONResponse({"error": "invalid_request", "detail": jsonable_encoder(exc.errors())}, status_code=422)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Any other exception: 500 naming it."""
    return JSONResponse({"error": "internal_error", "detail": f"{type(exc).__name__}: {exc}"}, status_code=500)


def _host_name(value: str) -> str:
    """The host of a ``Host`` header or an origin's netloc, without port and brackets, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value[1:]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _deny(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


async def guard(request: Request, call_next):
    """Refuse requests a browser could be tricked into sending (the app has no user accounts).

    * ``Host`` not a loopback name, the bound host or an ``--allowed-host``: 421 (DNS rebinding: a page from
      elsewhere that resolves its own name to this machine).
    * POST/PUT/PATCH/DELETE with ``Sec-Fetch-Site: cross-site`` or an ``Origin`` whose host:port is not the
      ``Host``: 403 (cross-site request forgery).
    * with a token: 401 unless ``Authorization: Bearer TOKEN``, the ``landseg_token`` cookie or ``?token=TOKEN``
      (which also sets the cookie, so the page and its scripts work after opening the printed URL).
    """
    st = request.app.state
    host_header = request.headers.get("host", "")
    if _host_name(host_header) not in st.allowed_hosts:
        return _deny(421, "misdirected_request", f"unknown host {host_header!r}; start landseg serve with "
                                                 "--allowed-host NAME to serve under that name")
    if request.method in UNSAFE_METHODS:
        origin = request.headers.get("origin")
        if request.headers.get("sec-fetch-site", "").lower() == "cross-site" or (
                origin is not None and urlsplit(origin).netloc.lower() != host_header.lower()):
            return _deny(403, "forbidden", f"cross-origin {request.method} refused (origin {origin or 'cross-site'}); "
                                           "use the page served by this app")
    set_cookie = False
    if st.token is not None:
        auth = request.headers.get("authorization", "")
        given = [auth[7:].strip() if auth.lower().startswith("bearer ") else "",
                 request.cookies.get(TOKEN_COOKIE, ""), request.query_params.get("token", "")]
        ok = [bool(g) and secrets.compare_digest(g.encode(), st.token.encode()) for g in given]
        if not any(ok):
            return _deny(401, "unauthorized", "this server needs its access token: open the URL printed by "
                                              "landseg serve (…/?token=…) or send Authorization: Bearer TOKEN")
        set_cookie = ok[2] and not ok[1]
    response = await call_next(request)
    if set_cookie:
        response.set_cookie(TOKEN_COOKIE, st.token, httponly=True, samesite="strict", path="/")
    return response


async def security_headers(request: Request, call_next):
    """Security headers on every answer (nosniff, no referrer; a content policy on the page)."""
    response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    path = request.url.path
    if path == "/" or path.startswith("/static/"):
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
    return response


# ---------------------------------------------------------------------------------- routes
router = APIRouter()


def job_out(job: dict[str, Any]) -> dict[str, Any]:
    """A job as the API shows it (:class:`JobOut`), with the download links of a finished job."""
    files = {}
    if job["status"] == "done" and job.get("result"):
        files = {a: f"/api/jobs/{job['id']}/files/{a}" for a in job["result"].get("files", [])}
    return {**{k: job.get(k) for k in ("id", "kind", "status", "stage", "name", "name2", "options", "model", "zones_name",
                                       "zone_id", "reference_name", "gsd", "created", "started", "finished",
                                       "queue_position", "error", "result")},
            "progress": {"done": job.get("done") or 0, "total": job.get("total") or 0}, "files": files}


def get_job(request: Request, job_id: str) -> dict[str, Any]:
    """The stored job ``job_id``; 404 (JSON) when there is none."""
    job = request.app.state.store.get(job_id) if JOB_ID.match(job_id) else None
    if job is None:
        raise ApiError(404, f"no job {job_id!r}", "not_found")
    return job


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    """The page."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    """The API documentation (Swagger UI) from the files vendored in static/vendor: it works offline."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="landseg serve: API",
                               swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
                               swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
                               swagger_favicon_url="/static/favicon.svg",
                               swagger_ui_parameters={"validatorUrl": None})  # no badge from validator.swagger.io


@router.get("/api/info", summary="Models, bundled samples and limits")
def info(request: Request) -> dict[str, Any]:
    """Models, bundled samples, limits and job counts, for the page."""
    st = request.app.state
    return {"version": __version__, "models": list(st.infos.values()), "samples": sorted(_samples()),
            "max_upload_bytes": st.max_bytes, "workers": st.runner.workers, "indicators": list(INDICATORS),
            "max_sample_points": MAX_SAMPLE_POINTS,
            "image_formats": list(IMAGE_FORMATS.values()), "zone_formats": list(ZONE_FORMATS.values()),
            "jobs": st.store.counts()}


@router.post("/api/jobs", status_code=202, response_model=JobOut, responses=ERRORS, openapi_extra=UPLOAD_BODY,
             summary="Start a job from an uploaded image (or a bundled sample)")
async def create_job(request: Request) -> JSONResponse:
    """Store and check an upload, queue its job; 202 with the job."""
    store, max_bytes = request.app.state.store, request.app.state.max_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes + FORM_SLACK:
        raise ApiError(413, f"upload of {int(length) / 2**20:.1f} MB is over the limit of {max_bytes / 2**20:g} MB")
    job_id = uuid.uuid4().hex
    job_dir = store.job_dir(job_id)
    try:
        storing(job_dir.parent, lambda: job_dir.mkdir(parents=True))
    except BadUpload as exc:
        raise ApiError(exc.status, exc.detail, exc.error) from None
    try:
        job = await _receive_job(request, job_id, job_dir)
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    store.create(job)
    request.app.state.runner.submit(job_id)
    out = job_out(store.get(job_id) or job)
    return JSONResponse(out, status_code=202, headers={"Location": f"/api/jobs/{job_id}"})


async def _receive_job(request: Request, job_id: str, job_dir: Path) -> dict[str, Any]:
    """Read and check the upload into ``job_dir``; the new job's record."""
    infos, max_bytes = request.app.state.infos, request.app.state.max_bytes
    try:
        form = await read_form(request.stream(), request.headers.get("content-type", ""), job_dir,
                               max_bytes + FORM_SLACK, {"image", "image2", "zones", "reference"},
                               {"sample", "sample2", "model", "zone_id", "gsd", "kind", "indicators", "limits",
                                "sample_points", "seed", "min_per_class"})
    except UploadTooLarge:
        raise ApiError(413, f"upload is over the limit of {max_bytes / 2**20:g} MB") from None
    except BadUpload as exc:
        raise ApiError(exc.status, exc.detail, exc.error) from None
    model, gsd = _model_and_gsd(form.fields, infos)
    kind, options = _kind_and_options(form.fields)
    images = await _receive_images(form, job_dir, max_bytes, kind, infos[model]["bands"])
    name, src = images[0]
    zones_file, zones_name, zone_id = await _receive_zones(form, job_dir)
    if options.get("limits") or options.get("indicators"):
        if zones_file is None:
            raise ApiError(400, "planning indicators and limits are per zone: add a zones file")
        await run_in_threadpool(_check_limit_columns, job_dir / zones_file, zones_name or "zones", options["limits"])
    reference, reference_name = await _receive_reference(form, job_dir)
    if kind == "change" and reference:
        raise ApiError(400, "reference points are for single-image jobs, not change jobs")
    for leftover in job_dir.glob("upload-*.part"):
        leftover.unlink()
    return {"id": job_id, "model": model, "name": name, "input": src.name, "zones": zones_file,
            "zones_name": zones_name, "zone_id": zone_id, "reference": reference, "reference_name": reference_name,
            "gsd": gsd, "kind": kind, "options": options,
            "input2": images[1][1].name if kind == "change" else None, "name2": images[1][0] if kind == "change" else None}


async def _receive_images(form: Any, job_dir: Path, max_bytes: int, kind: str, bands: int) -> list[tuple[str, Path]]:
    """The job's image (two for a change job: before and after), each stored and read end to end by
    :func:`check_image`; [(name shown, path)]."""
    images = [await _receive_image(form, job_dir, max_bytes)]
    if kind == "change":
        images.append(await _receive_image(form, job_dir, max_bytes, "image2", "sample2", JOB_INPUT2_STEM,
                                          "an after image"))
    elif form.files.get("image2") is not None and (form.files["image2"].size or form.files["image2"].filename) \
            or form.fields.get("sample2", "").strip():
        raise ApiError(400, "a second image (image2/sample2) is for change jobs: send kind=change")
    for shown, path in images:
        try:
            await run_in_threadpool(check_image, path, bands, shown)
        except InputError as exc:
            raise ApiError(400, str(exc), "unreadable_image") from None
    return images


def _kind_and_options(f: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The job kind (``segment`` or ``change``) and its options from the form's text fields, checked."""
    kind = f.get("kind", "").strip() or "segment"
    if kind not in KINDS:
        raise ApiError(400, f"unknown job kind {kind!r}; kinds: {', '.join(KINDS)}")
    flag = f.get("indicators", "").strip().lower()
    if flag not in ("", "0", "1", "true", "false", "on", "off", "yes", "no"):
        raise ApiError(400, f"indicators must be true or false, got {f['indicators']!r}")
    limits = [s.strip() for s in re.split(r"[,;\n]", f.get("limits", "")) if s.strip()]
    for spec in limits:
        try:
            Limit.parse(spec)
        except InputError as exc:
            raise ApiError(400, str(exc).replace("--limit", "limit")) from None
    options: dict[str, Any] = {"indicators": flag in ("1", "true", "on", "yes") or bool(limits), "limits": limits}
    n = _int_field(f, "sample_points", 1, MAX_SAMPLE_POINTS)
    if n is not None:
        options.update(sample=n, seed=_int_field(f, "seed", 0, 2**31 - 1) or 0,
                       min_per_class=_int_field(f, "min_per_class", 1, MAX_SAMPLE_POINTS))
    elif f.get("seed", "").strip() or f.get("min_per_class", "").strip():
        raise ApiError(400, "seed and min_per_class belong to a sample: give sample_points (the number of points)")
    if kind == "change" and (options["indicators"] or n is not None):
        raise ApiError(400, "planning indicators, limits and samples are for single-image jobs, not change jobs")
    return kind, options


def _int_field(f: dict[str, str], name: str, lo: int, hi: int) -> int | None:
    text = f.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
        assert lo <= value <= hi
    except (ValueError, AssertionError):
        raise ApiError(400, f"{name} must be a whole number from {lo:,} to {hi:,}, got {text!r}") from None
    return value


def _check_limit_columns(zones: Path, name: str, limits: list[str]) -> None:
    """Each limit's column is in the zones file and holds numbers (or nothing)."""
    columns = list(dict.fromkeys(Limit.parse(s).column for s in limits))
    try:
        data = read_attributes(zones, columns, "a limit")
    except InputError as exc:
        raise ApiError(400, str(exc).replace(str(zones), name), "bad_limit") from None
    for col, values in data.items():
        for v in values.tolist():
            try:
                float("nan" if v is None or v == "" else v)
            except (TypeError, ValueError):
                raise ApiError(400, f"{name}: column {col!r} of a limit holds {v!r}, not a number", "bad_limit") from None


def _model_and_gsd(f: dict[str, str], infos: dict[str, Any]) -> tuple[str, float | None]:
    model = f.get("model") or next(iter(infos))
    if model not in infos:
        raise ApiError(400, f"unknown model {model!r}; choose one of: {', '.join(infos)}")
    gsd = None
    if f.get("gsd", "").strip():
        try:
            gsd = float(f["gsd"])
            assert gsd > 0 and gsd < 1e6
        except (ValueError, AssertionError):
            raise ApiError(400, f"gsd must be a pixel size in metres (a positive number), got {f['gsd']!r}") from None
    return model, gsd


async def _receive_image(form: Any, job_dir: Path, max_bytes: int, field: str = "image", sample_field: str = "sample",
                         stem: str = JOB_INPUT_STEM, what: str = "an image") -> tuple[str, Path]:
    """The uploaded image (or a copy of the bundled sample) as ``job_dir/<stem>.<ext>``; (name shown, path)."""
    image, sample = form.files.get(field), form.fields.get(sample_field, "").strip()
    if image is not None and image.size == 0 and not image.filename:
        image = None  # an empty file input sent by a browser form
    if (image is None) == (not sample):
        raise ApiError(400, f"give either {what} file (field '{field}') or a bundled sample (field '{sample_field}')")
    if image is not None:
        name = display_name(image.filename)
        if image.size > max_bytes:
            raise ApiError(413, f"{name} is over the limit of {max_bytes / 2**20:g} MB")
        ext = sniff_image(image.head)
        if ext is None:
            raise ApiError(415, f"{name}: not a GeoTIFF, PNG or JPEG image (checked by content, not the name)")
        return name, image.path.rename(job_dir / f"{stem}.{ext}")
    known = _samples()
    if sample not in known:
        raise ApiError(400, f"unknown sample {sample!r}; samples: {', '.join(known) or '(none bundled)'}")
    ext = sniff_image_file(known[sample])
    if ext is None:
        raise ApiError(400, f"sample {sample!r} is not a GeoTIFF, PNG or JPEG image")
    src = job_dir / f"{stem}.{ext}"
    await run_in_threadpool(shutil.copyfile, known[sample], src)
    return sample, src


async def _receive_vector(form: Any, field: str, job_dir: Path, what: str,
                          check: Callable[[Path, str], Any]) -> tuple[str | None, str | None]:
    """The uploaded vector file of form ``field`` as ``job_dir/<field>.<ext>``, sniffed by content and
    read once by ``check(path, name shown)``; (file name, name shown), or (None, None) without one."""
    part = form.files.get(field)
    if part is None or not (part.size or part.filename):
        return None, None
    name = display_name(part.filename, field)
    ext = await run_in_threadpool(sniff_zones, part.path, part.head)
    if ext is None:
        raise ApiError(415, f"{name}: {what} must be a GeoPackage or a GeoJSON FeatureCollection "
                            "(checked by content, not the name)")
    path = part.path.rename(job_dir / f"{field}.{ext}")
    try:
        await run_in_threadpool(check, path, name)
    except InputError as exc:
        raise ApiError(400, str(exc), f"unreadable_{field}") from None
    return path.name, name


async def _receive_reference(form: Any, job_dir: Path) -> tuple[str | None, str | None]:
    """The uploaded reference sample (labelled points) as ``job_dir/reference.<ext>``; (file name, name shown)."""
    return await _receive_vector(form, "reference", job_dir, "reference points", check_reference)


async def _receive_zones(form: Any, job_dir: Path) -> tuple[str | None, str | None, str | None]:
    """The uploaded zones as ``job_dir/zones.<ext>``, checked; (file name, name shown, zone id attribute)."""
    zone_id = form.fields.get("zone_id", "").strip() or None
    zones_file, zones_name = await _receive_vector(form, "zones", job_dir, "zones",
                                                   lambda path, name: check_zones(path, zone_id, name))
    if zones_file is None and zone_id:
        raise ApiError(400, "zone_id given without a zones file")
    return zones_file, zones_name, zone_id


@router.get("/api/jobs", summary="Recent jobs, newest first")
def list_jobs(request: Request, limit: int = 100) -> dict[str, Any]:
    """The latest jobs with their progress and queue positions, and the counts per status."""
    store = request.app.state.store
    rows = store.list(max(1, min(limit, 1000)))
    queued = sorted((r for r in rows if r["status"] == "queued"), key=lambda r: r["created"])
    pos = {r["id"]: i + 1 for i, r in enumerate(queued)}
    return {"jobs": [{**{k: r[k] for k in ("id", "status", "stage", "name", "model", "created", "finished", "error")},
                      "kind": r["kind"] or "segment",
                      "progress": {"done": r["done"] or 0, "total": r["total"] or 0},
                      "queue_position": pos.get(r["id"])} for r in rows],
            "counts": store.counts()}


@router.get("/api/jobs/{job_id}", response_model=JobOut, responses=ERRORS, summary="One job with its progress and result")
def read_job(request: Request, job_id: str) -> dict[str, Any]:
    """One job with its progress and result."""
    return job_out(get_job(request, job_id))


@router.post("/api/jobs/{job_id}/retry", status_code=202, response_model=JobOut, responses=ERRORS,
             summary="Queue a failed job again")
def retry_job(request: Request, job_id: str) -> dict[str, Any]:
    """Queue a failed job again."""
    job = get_job(request, job_id)
    if not request.app.state.store.requeue(job_id):
        raise ApiError(409, f"job {job_id} is {job['status']}; only failed jobs can be retried", "not_failed")
    request.app.state.runner.submit(job_id)
    return job_out(get_job(request, job_id))


@router.get("/api/jobs/{job_id}/files/{artifact}", responses={**ERRORS, 200: {"description": "the file"}},
            summary="Download a result: " + ", ".join(ARTIFACTS))
def download(request: Request, job_id: str, artifact: str) -> FileResponse:
    """A result file of a finished job."""
    job = get_job(request, job_id)
    if artifact not in ARTIFACTS:
        raise ApiError(404, f"unknown result {artifact!r}; results are: {', '.join(ARTIFACTS)}")
    if job["status"] != "done":
        raise ApiError(409, f"job {job_id} is {job['status']}; results are available once it is done")
    fname, media, suffix = ARTIFACTS[artifact]
    path = request.app.state.store.job_dir(job_id) / "out" / fname
    if not path.is_file():
        raise ApiError(404, f"job {job_id} has no {artifact} result" + (
            " (no zones were given)" if artifact.startswith("zones") and not job["zones"] else ""))
    inline = media == "image/png"
    return FileResponse(path, media_type=media, filename=safe_stem(job["name"]) + suffix,
                        content_disposition_type="inline" if inline else "attachment")


def serve(options: ServeOptions) -> int:
    """``landseg serve``: build the app from ``options`` (checked when they were built) and run it with uvicorn."""
    import uvicorn  # noqa: PLC0415 - optional

    models = model_choices(list(options.models))
    data = options.data_dir or default_data_dir()
    token = options.token or os.environ.get("LANDSEG_TOKEN") or None
    if token is None and options.host not in LOOPBACK:
        token = secrets.token_urlsafe(24)  # reachable from the network: nothing without the token
    app = create_app(models, options=replace(options, data_dir=data, token=token))
    app.state.store.acquire()  # a clear message now, rather than a failed start-up inside uvicorn
    app.state.store.release()
    host = options.host
    if host not in LOOPBACK:
        print(f"warning: listening on {host}: anyone who can reach this address and has the token can upload "
              "images and read every result (there are no user accounts)", file=sys.stderr)
    print(f"landseg serve: models {', '.join(models)}; jobs and results in {data}", file=sys.stderr)
    query = f"?token={token}" if token else ""
    print(f"open http://{'[' + host + ']' if ':' in host else host}:{options.port}/{query} "
          "(API documentation at /docs)", file=sys.stderr)
    uvicorn.run(app, host=host, port=options.port, log_level="info")
    return 0
