"""The options of ``landseg serve``: one dataclass, the one place their defaults and bounds are written.

The CLI builds its ``serve`` options from these fields (defaults, and the range each number must lie in)
and hands a :class:`ServeOptions` to :func:`landseg.serve.app.serve`; nothing here imports the web extra,
so the CLI's parser can read it without fastapi installed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from landseg.errors import ConfigError


class Bounds(NamedTuple):
    """The range a numeric option must lie in: ``kind`` (int or float) from ``lo`` (excluded when ``lo_open``)
    to ``hi`` (None: no upper end)."""

    kind: type
    lo: float
    hi: float | None = None
    lo_open: bool = False

    def holds(self, value: float) -> bool:
        """Whether ``value`` is a finite number of this range."""
        return math.isfinite(value) and (value > self.lo if self.lo_open else value >= self.lo) and (
            self.hi is None or value <= self.hi)

    def describe(self) -> str:
        """The range in words, e.g. ``a whole number >= 1 and <= 64``."""
        noun = "a whole number" if self.kind is int else "a number"
        hi = "" if self.hi is None else f" and <= {self.hi:g}"
        return f"{noun} {'>' if self.lo_open else '>='} {self.lo:g}{hi}"


def _bounded(default: Any, bounds: Bounds) -> Any:
    return field(default=default, metadata={"bounds": bounds})


@dataclass(frozen=True)
class ServeOptions:
    """What ``landseg serve`` runs with; checked when built (:class:`ConfigError` naming the option).

    ``models``: checkpoints or training-run folders offered besides the bundled ``default``; ``data_dir``:
    the jobs database and results (None: :func:`landseg.serve.app.default_data_dir`); ``token``: None takes
    ``$LANDSEG_TOKEN``, and one is generated when ``host`` is not a loopback name. The per-job budgets
    (``max_job_pixels`` after resampling, ``max_job_windows``, ``job_timeout`` seconds) are off when None.
    """

    host: str = "127.0.0.1"
    port: int = _bounded(8000, Bounds(int, 1, 65535))
    models: tuple[str, ...] = ()
    data_dir: Path | None = None
    max_upload_mb: float = _bounded(500, Bounds(float, 0, lo_open=True))
    workers: int = _bounded(1, Bounds(int, 1, 64))
    device: str = "auto"
    allowed_hosts: tuple[str, ...] = ()
    token: str | None = None
    max_job_pixels: float | None = _bounded(5e8, Bounds(float, 0, lo_open=True))
    max_job_windows: int | None = _bounded(200_000, Bounds(int, 1))
    job_timeout: float | None = _bounded(3600, Bounds(float, 0, lo_open=True))

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", Path(self.data_dir))
        for f in fields(self):
            value, bounds = getattr(self, f.name), f.metadata.get("bounds")
            if bounds is not None and value is not None and not bounds.holds(value):
                raise ConfigError(f"--{f.name.replace('_', '-')} must be {bounds.describe()}, got {value}")

    @staticmethod
    def bounds(name: str) -> Bounds:
        """The range of the numeric option ``name`` (a field name)."""
        return next(f.metadata["bounds"] for f in fields(ServeOptions) if f.name == name)
