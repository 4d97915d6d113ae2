"""Uploads: a streaming multipart reader with a byte limit, and format checks by content.

Nothing here trusts the client: file parts are written under names chosen by the server
(``upload-<field>.part`` in the job folder), the body is counted as it arrives and refused past
the limit, and a file's format is decided from its first bytes (and, for GeoJSON, by parsing it),
never from its name.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl

import numpy as np
from python_multipart.multipart import MultipartParser, parse_options_header
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from landseg.errors import InputError
from landseg.io.files import free_space
from landseg.io.points import read_points
from landseg.io.raster import is_georeferenced, open_raster, reading
from landseg.io.vector import read_zones

IMAGE_FORMATS = {"tif": "GeoTIFF/TIFF", "png": "PNG", "jpg": "JPEG"}
ZONE_FORMATS = {"gpkg": "GeoPackage", "geojson": "GeoJSON"}
HEAD_BYTES = 64
MAX_FIELD_BYTES = 64 * 1024


class UploadTooLarge(Exception):
    """The request body passed the configured limit."""


class BadUpload(Exception):
    """The request is not a well-formed upload (status code and message for the API)."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


@dataclass
class FilePart:
    """A file part of an upload, stored under a name the server chose."""
    field: str
    filename: str  # as sent by the client: for display only, never a path
    path: Path
    size: int = 0
    head: bytes = b""


@dataclass
class Form:
    """An upload's text fields and file parts."""
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, FilePart] = field(default_factory=dict)


def display_name(filename: str | None, fallback: str = "image") -> str:
    """The last path component of a client file name, without control characters (display only)."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:120] or fallback


def safe_stem(name: str, fallback: str = "image") -> str:
    """An ASCII stem for download file names (Content-Disposition), from a display name."""
    stem = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")
    return stem[:60] or fallback


def storing(dest: Path, write: Callable[[], Any]) -> Any:
    """Run ``write`` (storing upload data in ``dest``); a full disk or an unwritable folder becomes a
    :class:`BadUpload` 507 naming the free space, not a "malformed body"."""
    try:
        return write()
    except OSError as exc:
        raise BadUpload(507, "insufficient_storage",
                        f"the server cannot store the upload ({exc.strerror or exc}; {free_space(dest)}); "
                        "try a smaller file or ask the operator to free space") from None


class _MultipartSink:
    """python-multipart's callbacks: file parts streamed to ``dest/upload-<field>.part``, text fields kept in
    memory (at most :data:`MAX_FIELD_BYTES` each), the first problem kept in :attr:`error`."""

    def __init__(self, dest: Path, file_fields: set[str], text_fields: set[str]) -> None:
        self.dest, self.file_fields, self.text_fields = dest, file_fields, text_fields
        self.form = Form()
        self.error: BadUpload | None = None
        self.fh: BinaryIO | None = None
        self.tname = ""
        self.on_part_begin()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        """The callbacks by the names :class:`MultipartParser` calls them."""
        names = ("on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished",
                 "on_part_data", "on_part_end")
        return {name: getattr(self, name) for name in names}

    def fail(self, detail: str) -> None:
        """Keep the first problem (a 400); the reader raises it after the chunk that caused it."""
        if self.error is None:
            self.error = BadUpload(400, "bad_request", detail)

    def on_part_begin(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.hname, self.hvalue = b"", b""
        self.part: FilePart | None = None
        self.fh = None
        self.text: bytearray | None = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.hvalue += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.hname.lower()] = self.hvalue
        self.hname, self.hvalue = b"", b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if name in self.form.fields or name in self.form.files:
            return self.fail(f"field {name!r} given twice")
        if b"filename" in opts:
            if name not in self.file_fields:
                return self.fail(f"unexpected file field {name!r}; file fields are {', '.join(sorted(self.file_fields))}")
            part = FilePart(name, opts[b"filename"].decode("utf-8", "replace"), self.dest / f"upload-{name}.part")
            self.part, self.fh = part, storing(self.dest, lambda: open(part.path, "wb"))
            self.form.files[name] = part
        elif name in self.text_fields:
            self.text, self.tname = bytearray(), name
        else:
            self.fail(f"unexpected field {name!r}; fields are {', '.join(sorted(self.file_fields | self.text_fields))}")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        fh = self.fh
        if fh is not None and self.part is not None:
            if len(self.part.head) < HEAD_BYTES:
                self.part.head += chunk[: HEAD_BYTES - len(self.part.head)]
            self.part.size += len(chunk)
            storing(self.dest, lambda: fh.write(chunk))
        elif self.text is not None:
            self.text += chunk
            if len(self.text) > MAX_FIELD_BYTES:
                self.fail(f"field {self.tname!r} is longer than {MAX_FIELD_BYTES} bytes")
                self.text = None

    def on_part_end(self) -> None:
        if self.fh is not None:
            self.close()
        elif self.text is not None:
            self.form.fields[self.tname] = self.text.decode("utf-8", "replace")
            self.text = None

    def close(self) -> None:
        """Close the file part being written, if any."""
        if self.fh is not None:
            self.fh.close()
            self.fh = None


async def read_form(body: AsyncIterable[bytes], content_type: str, dest: Path, max_bytes: int,
                    file_fields: set[str], text_fields: set[str]) -> Form:
    """Stream a multipart/form-data body: file parts to ``dest/upload-<field>.part``, text fields to memory.

    Raises :class:`UploadTooLarge` once more than ``max_bytes`` arrived, :class:`BadUpload` for a body
    that is not multipart, an unknown or repeated field.
    """
    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype == b"application/x-www-form-urlencoded":  # text fields only (a bundled sample)
        return await _read_urlencoded(body, min(max_bytes, MAX_FIELD_BYTES), text_fields)
    if ctype != b"multipart/form-data" or not boundary:
        raise BadUpload(415, "unsupported_media_type", "send the upload as multipart/form-data")
    sink = _MultipartSink(dest, file_fields, text_fields)
    parser = MultipartParser(boundary, sink.callbacks())
    received = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if received > max_bytes:
                raise UploadTooLarge(received)
            try:
                parser.write(chunk)
            except BadUpload:
                raise
            except Exception as exc:  # noqa: BLE001 - python-multipart raises several types
                raise BadUpload(400, "bad_request", f"malformed multipart body: {exc}") from None
            if sink.error is not None:
                raise sink.error
        parser.finalize()
    finally:
        sink.close()
    return sink.form


async def _read_urlencoded(body: AsyncIterable[bytes], max_bytes: int, text_fields: set[str]) -> Form:

    data = b""
    async for chunk in body:
        data += chunk
        if len(data) > max_bytes:
            raise UploadTooLarge(len(data))
    form = Form()
    for name, value in parse_qsl(data.decode("utf-8", "replace"), keep_blank_values=True):
        if name not in text_fields:
            raise BadUpload(400, "bad_request", f"unexpected field {name!r}; fields are {', '.join(sorted(text_fields))}")
        if name in form.fields:
            raise BadUpload(400, "bad_request", f"field {name!r} given twice")
        form.fields[name] = value
    return form


def sniff_image(head: bytes) -> str | None:
    """'tif', 'png' or 'jpg' from a file's first bytes; None for anything else."""
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # TIFF and BigTIFF
        return "tif"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpg"
    return None


def sniff_image_file(path: Path) -> str | None:
    """:func:`sniff_image` of a file on disk (a bundled sample)."""
    with open(path, "rb") as fh:
        return sniff_image(fh.read(HEAD_BYTES))


def sniff_zones(path: Path, head: bytes) -> str | None:
    """'gpkg' (an SQLite database) or 'geojson' (JSON whose type is FeatureCollection or Feature); else None."""
    if head[:16] == b"SQLite format 3\x00":
        return "gpkg"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"{"):
        return None
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if isinstance(data, dict) and data.get("type") in ("FeatureCollection", "Feature"):
        return "geojson"
    return None


def check_image(path: Path, bands_needed: int, name: str) -> dict[str, Any]:
    """Open an uploaded raster and read it sparsely end to end; :class:`InputError` names what is wrong.

    Catches truncated or corrupt files (a full-resolution read of the first and last rows and a
    decimated read of the whole image), a band count the model cannot use and non-8-bit pixels.
    """


    try:
        ds = open_raster(path)
    except InputError:
        raise InputError(f"{name}: not a readable image (the file is corrupt, truncated or not a raster)") from None
    with ds:
        if ds.width == 0 or ds.height == 0:
            raise InputError(f"{name}: the image is empty")
        try:
            with reading(name):
                ds.read(window=Window(0, 0, ds.width, 1))
                ds.read(window=Window(0, ds.height - 1, ds.width, 1))
                ds.read(out_shape=(ds.count, min(ds.height, 256), min(ds.width, 256)))
        except InputError:
            raise InputError(f"{name}: cannot read the pixel data; the file is corrupt or truncated") from None
        data_bands = sum(1 for c in ds.colorinterp if c != ColorInterp.alpha)
        if bands_needed not in (data_bands, ds.count):
            raise InputError(f"{name}: the model needs {bands_needed} bands, this image has {ds.count}; "
                             "choose another model or an image with the model's bands")
        if np.dtype(ds.dtypes[0]) != np.uint8:
            raise InputError(f"{name}: {ds.dtypes[0]} pixels, but the model expects 8-bit values (0-255); "
                             "convert the image to 8-bit, or use `landseg predict --input-range MIN,MAX`")
        return {"width": ds.width, "height": ds.height, "bands": ds.count,
                "crs": ds.crs.to_string() if is_georeferenced(ds) else None}


def check_zones(path: Path, zone_id: str | None, name: str) -> dict[str, Any]:
    """Read the zones once (ids, geometries, CRS); :class:`InputError` with the client's file name."""
    try:
        ids, _, crs, id_field = read_zones(path, zone_id)
    except InputError as exc:
        raise InputError(str(exc).replace(str(path), name)) from None
    except Exception as exc:  # noqa: BLE001 - GDAL/pyogrio errors on damaged files
        raise InputError(f"{name}: cannot read the zones ({exc})".replace(str(path), name)) from None
    if not ids:
        raise InputError(f"{name}: holds no zones")
    return {"count": len(ids), "id_field": id_field, "crs": str(crs) if crs else None}


def check_reference(path: Path, name: str) -> dict[str, Any]:
    """Read an uploaded reference sample (points with a ``reference`` field, from ``landseg sample``);
    :class:`InputError` with the client's file name."""
    try:
        x, _, fields, crs = read_points(path)
    except InputError as exc:
        raise InputError(str(exc).replace(str(path), name)) from None
    except Exception as exc:  # noqa: BLE001 - GDAL/pyogrio errors on damaged files
        raise InputError(f"{name}: cannot read the reference points ({exc})".replace(str(path), name)) from None
    if "reference" not in fields:
        raise InputError(f"{name}: no 'reference' field (the class an interpreter gave each point); the fields are "
                         f"{', '.join(fields) or '(none)'}; draw the sample with `landseg sample`")
    return {"count": len(x), "crs": str(crs) if crs else None}
