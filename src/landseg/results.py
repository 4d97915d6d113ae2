"""Table-shaped results (text, CSV, JSON, Markdown) for the accuracy and change reports.

The same contract as the area results: ``format(fmt, units)``, ``to_dict(units)``, ``to_text(units)``,
rendered by :func:`landseg.area.render_table`. It mirrors area.py's private column/report helpers
(which cannot be imported across modules) until the area package's ``tables.py`` makes them public.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landseg.area import UNITS, render_table, unit_columns
from landseg.errors import InputError
from landseg.io.files import atomic_output


@dataclass
class Column:
    """A table column: ``kind`` is str, int, px, pct (a 0-1 share) or area:<unit>."""

    header: str
    kind: str
    key: str = ""

    def csv_key(self) -> str:
        if self.key:
            return self.key
        h = self.header
        for a, b in (("m²", "m2"), ("km²", "km2"), ("ft²", "ft2"), (" (", "_"), (")", ""), (" ", "_"), ("±", "pm")):
            h = h.replace(a, b)
        return h + ("_pct" if self.kind == "pct" else "")


def unit_factor(units: str) -> tuple[str, float, str]:
    """(unit key, m² per unit, label) of a unit name; unknown names raise :class:`InputError`."""
    key = (units or "m2").lower().replace("²", "2")
    if key not in UNITS:
        raise InputError(f"unknown unit {units!r}; use one of {', '.join(UNITS)}")
    factor, label, _ = UNITS[key]
    return key, factor, label


def area_columns(units: str, header: str) -> list[Column]:
    """One area column per shown unit (m² and ha by default), headed ``header (unit)``."""
    return [Column(f"{header} ({UNITS[u][1]})", f"area:{u}") for u in unit_columns(units)]


def areas_in(value_m2: float, units: str, prefix: str = "area") -> dict[str, float | None]:
    """``{prefix}_m2``, ``{prefix}_ha`` and ``{prefix}_<units>``; None where the area is unknown."""
    key, factor, _ = unit_factor(units)
    v = float(value_m2)
    ok = math.isfinite(v)
    out: dict[str, float | None] = {f"{prefix}_m2": v if ok else None, f"{prefix}_ha": v / 1e4 if ok else None}
    if key not in ("m2", "ha"):
        out[f"{prefix}_{key}"] = v / factor if ok else None
    return out


def finite(x: float) -> float | None:
    """A float for JSON: None for NaN/inf."""
    x = float(x)
    return x if math.isfinite(x) else None


class TableReport:
    """``format``/``to_*``/``write`` on top of ``_table(units)`` and ``to_dict(units)``."""

    def _table(self, units: str) -> tuple[str, list[Column], list[list[Any]], list[str]]:
        raise NotImplementedError

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        raise NotImplementedError

    def format(self, fmt: str = "table", units: str = "m2") -> str:
        """``fmt`` is table, csv, json or markdown."""
        if fmt == "json":
            return json.dumps(self.to_dict(units), indent=2, ensure_ascii=False) + "\n"
        if fmt not in ("table", "csv", "markdown"):
            raise InputError(f"unknown format {fmt!r}; use table, csv, json or markdown")
        title, cols, rows, footer = self._table(units)
        if fmt == "csv":
            return render_table("csv", cols, rows)  # type: ignore[arg-type]
        return render_table(fmt, cols, rows, title=title, footer=footer)  # type: ignore[arg-type]

    def to_text(self, units: str = "m2") -> str:
        return self.format("table", units)

    def to_csv(self, units: str = "m2") -> str:
        return self.format("csv", units)

    def to_json(self, units: str = "m2") -> str:
        return self.format("json", units)

    def to_markdown(self, units: str = "m2") -> str:
        return self.format("markdown", units)

    def write(self, path: str | Path, fmt: str | None = None, units: str = "m2") -> Path:
        """Write atomically; the format follows ``fmt`` or the suffix (.csv, .json, .md, else table)."""
        path = Path(path)
        fmt = fmt or {".csv": "csv", ".json": "json", ".md": "markdown"}.get(path.suffix.lower(), "table")
        text = self.format(fmt, units)
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path
