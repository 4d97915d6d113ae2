"""Output files: atomic, verified writes (temp name, fsync, check, rename), JSON, writable-folder checks,
and the clean-up of temp files left behind by killed runs.

Every output goes through :func:`atomic_output`: the caller writes a temp file beside the destination,
named ``.NAME.<pid>-<random>.part<ext>``; on success the file is flushed to disk (``fsync``), optionally
checked by the caller's ``verify`` function, and only then renamed onto ``NAME``. Any failure (full disk,
read-only file system, a truncated write found by ``verify``) removes the temp file, leaves no ``NAME``
(an older ``NAME`` is kept untouched) and raises :class:`~landseg.errors.OutputError`. The pid in the
name lets :func:`clean_stale` remove the temp files of processes that no longer exist (``kill -9``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from landseg.errors import InputError, OutputError

# Temp names of atomic_output and check_writable_dir: ".NAME.<pid>-<8 random chars>.part[.ext]".
TEMP_PATTERN = re.compile(r"^\..+\.(?P<pid>\d+)-[a-z0-9_]{8}\.part(\.[A-Za-z0-9]+)*$")
# Temp folders of landseg runs (predict's scratch folder): ".landseg-<pid>-<random>".
TEMP_DIR_PATTERN = re.compile(r"^\.landseg-(?P<pid>\d+)-[A-Za-z0-9_]+$")
# errno values that mean "this location cannot take the file" (not a bug): reported as OutputError.
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG, errno.EIO}


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def free_space(path: str | Path) -> str:
    """'12.3 MB free of 100.0 GB' for the file system holding ``path`` (or its nearest existing parent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        du = shutil.disk_usage(p)
    except OSError:
        return "free space unknown"
    return f"{_human(du.free)} free of {_human(du.total)}"


def output_error(path: str | Path, exc: OSError) -> OutputError:
    """An :class:`OutputError` for a failed write of ``path``: what happened, the free space, what to do."""
    what = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        hint = "free some space or choose another output folder, then run again"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "choose a folder you can write to"
    else:
        hint = "check the disk and run again"
    return OutputError(f"{path}: cannot write the file ({what}; {free_space(Path(path).parent)}); {hint}. "
                       "No partial file was left.")


_FAILURE_WORDS = ((("disk is full", "no space", "disk full", "not enough space", "quota"), errno.ENOSPC),
                  (("read-only", "readonly", "read only"), errno.EROFS),
                  (("permission denied", "access denied"), errno.EACCES))
LOW_SPACE = 1 << 20  # a library write failure with less free space than this is reported as a full disk


def write_failure(path: str | Path, exc: BaseException) -> OutputError:
    """An :class:`OutputError` for a writer library's failure (GDAL/OGR, SQLite, an exporter) that carries no errno:
    a full disk, read-only or permission failure is recognised from its text or the free space left and gets the
    same one line as :func:`output_error`; anything else names the file, the library's message and the free space."""
    if isinstance(exc, OSError) and exc.errno in _OUTPUT_ERRNOS:
        return output_error(path, exc)
    text = str(exc)
    low = text.lower()
    for words, code in _FAILURE_WORDS:
        if any(w in low for w in words):
            return output_error(path, OSError(code, os.strerror(code)))
    p = Path(path).parent
    while not p.exists() and p != p.parent:
        p = p.parent
    with contextlib.suppress(OSError):
        if shutil.disk_usage(p).free < LOW_SPACE:
            return output_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    return OutputError(f"{path}: cannot write the file ({text}; {free_space(Path(path).parent)}); check the disk "
                       "and run again. No partial file was left.")


def _temp_name(dst: Path, suffix: str | None) -> tuple[str, str]:
    ext = dst.suffix if suffix is None else suffix
    if ext.startswith(".part"):
        ext = ext[5:]
    return f".{dst.name}.{os.getpid()}-", ".part" + ext


def fsync_file(path: str | Path) -> None:
    """Flush ``path``'s data to the disk; a full disk or an I/O error surfaces here as ``OSError``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(
    dst: str | Path, suffix: str | None = None, *, verify: Callable[[Path], None] | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside ``dst``; rename it onto ``dst`` only if the block succeeds.

    Before the rename the temp file is fsync'ed and, with ``verify``, checked (``verify(tmp)`` raises
    on a truncated or unreadable file). Write errors of the file system (full disk, read-only,
    permission) become :class:`OutputError` naming ``dst`` and the free space; in every failure the
    temp file is removed and ``dst`` is not created or replaced.
    """
    dst = Path(dst)
    prefix, tail = _temp_name(dst, suffix)
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=tail, dir=dst.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{dst.parent}: cannot write here ({exc.strerror}; {free_space(dst.parent)})") from None
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            if not tmp_path.exists():
                raise OutputError(f"{dst}: the output was not written (its temporary file disappeared)")
            fsync_file(tmp_path)
            if verify is not None:
                verify(tmp_path)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600 files; outputs get normal permissions
            os.replace(tmp_path, dst)
        except OSError as exc:
            if exc.errno in _OUTPUT_ERRNOS:
                raise output_error(dst, exc) from None
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable (best effort)
            dfd = os.open(dst.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    finally:
        with contextlib.suppress(OSError):
            tmp_path.unlink()


def clean_stale(folder: str | Path, *, recursive: bool = True) -> list[Path]:
    """Remove temp files and temp folders of landseg's naming left by processes that no longer run (e.g. after
    ``kill -9``).

    Only files matching :data:`TEMP_PATTERN` and folders matching :data:`TEMP_DIR_PATTERN` (removed with their
    contents) whose pid is not a live process are removed; those of running processes (another landseg
    writing into the same folder) are kept. Returns what was removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    stack = [folder]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                m = TEMP_DIR_PATTERN.match(e.name)
                if m and not _pid_alive(int(m.group("pid"))):
                    shutil.rmtree(e.path, ignore_errors=True)
                    removed.append(Path(e.path))
                    continue
                if recursive:
                    stack.append(Path(e.path))
                continue
            m = TEMP_PATTERN.match(e.name)
            if m and not _pid_alive(int(m.group("pid"))):
                with contextlib.suppress(OSError):
                    os.unlink(e.path)
                    removed.append(Path(e.path))
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # exists, owned by someone else (OverflowError: not a pid of this system; keep it)
    return True


def check_zip_member(path: str, chunk: int = 1 << 20) -> None:
    """For a GDAL ``/vsizip/ARCHIVE.zip/MEMBER`` path, read the member once and check its CRC-32.

    GDAL reads stored (uncompressed) members without checking their CRC, so a corrupt download would
    be prepared silently. Streams in ``chunk``-byte pieces (bounded memory); other paths pass.
    Raises :class:`~landseg.errors.InputError` naming the archive and the member.
    """


    if not path.startswith("/vsizip/"):
        return
    inner = path[len("/vsizip/"):]
    cut = inner.lower().find(".zip/") + 4
    archive, member = inner[:cut], inner[cut + 1:]
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(member) as f:
            while f.read(chunk):
                pass
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, OSError) as exc:
        raise InputError(f"{archive}: member {member} is corrupt ({exc}); download the archive again "
                         "(or test it with `unzip -t`)") from None


def temp_dir_prefix() -> str:
    """Prefix of a landseg temp folder (``tempfile.TemporaryDirectory(prefix=...)``): holds this process's pid, so
    :func:`clean_stale` can remove it once the process is gone."""
    return f".landseg-{os.getpid()}-"


def check_writable_dir(path: str | Path) -> Path:
    """Create ``path`` if needed and check that files can be written in it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=f".landseg-write-test.{os.getpid()}-", suffix=".part"):
            pass
    except OSError as exc:
        raise OutputError(f"{path}: output folder is not writable ({exc.strerror or exc}; {free_space(path)})") from None
    return path


def write_text_atomic(path: str | Path, text: str, suffix: str | None = None) -> Path:
    """Write a text file (CSV, JSON, Markdown) atomically; its size on disk is checked before it replaces ``path``."""
    data = text.encode("utf-8")

    def verify(tmp: Path) -> None:
        if tmp.stat().st_size != len(data):
            raise OutputError(f"{path}: written {tmp.stat().st_size} bytes, expected {len(data)} "
                              f"({free_space(Path(path).parent)}); no file was left")

    with atomic_output(path, suffix, verify=verify) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON atomically; the file's size is checked before it replaces ``path``."""
    write_text_atomic(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing, unreadable or malformed file raises :class:`InputError` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not a readable JSON file ({exc})") from None


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """A text file's content (a config shown in a report, a small CSV); OSError and decoding errors pass through."""
    return Path(path).read_text(encoding=encoding)


def read_lines(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """The lines of a text file (a list of tiles or images); OSError and decoding errors pass through."""
    return read_text(path, encoding).splitlines()


def read_head(path: str | Path, n: int) -> bytes:
    """The first ``n`` bytes of a file (to tell its format), reading no more; b"" when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def read_structured(path: str | Path) -> Any:
    """A YAML (``.yaml``/``.yml``) or else JSON file, parsed; OSError and the parser's errors pass through, for
    the caller to name what the file was for (a class table, a training config)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


FINGERPRINT_PIECES = 16  # blocks hashed by file_identity, spread evenly over the file, plus head and tail
FINGERPRINT_BLOCK = 1 << 16


def file_identity(path: str | Path) -> dict[str, Any]:
    """Cheap identity of a file: size, modification time (ns) and a BLAKE2 fingerprint of its first and last
    64 KB (the header: size, georeferencing, tile offsets) and of 16 evenly spaced 64 KB blocks.

    Reads at most about 1.1 MB whatever the file's size. A file replaced by another of the same size is told apart
    by its content or mtime (``cp -p`` keeps the mtime, so the content pieces matter too).
    """
    p = Path(path)
    try:
        st = p.stat()
        h = hashlib.blake2b(digest_size=16)
        h.update(str(st.st_size).encode())
        with open(p, "rb") as f:
            n = max(1, FINGERPRINT_PIECES)
            offsets = [0, max(0, st.st_size - FINGERPRINT_BLOCK)]
            offsets += [st.st_size * k // (n + 1) for k in range(1, n + 1)]
            for off in offsets:
                f.seek(off)
                h.update(f.read(FINGERPRINT_BLOCK))
    except OSError as exc:
        raise InputError(f"{p}: cannot read the file ({exc.strerror or exc})") from None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "fingerprint": h.hexdigest()}


def remove_quietly(path: str | Path) -> None:
    """Remove a file or a folder, if there; errors removing a folder's contents are ignored."""
    p = Path(path)
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists():
        p.unlink()
