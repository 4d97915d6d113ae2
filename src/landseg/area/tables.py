"""Tables of results: units, columns, and rendering as text, CSV, Markdown and JSON.

The one column/report base of landseg's table-shaped results: the area measures, the accuracy
assessment (:mod:`landseg.accuracy`), the change matrices (:mod:`landseg.change`) and the planning
indicators (:mod:`landseg.area.indicators`) all derive from :class:`Report` and render through
:func:`render_table`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landseg.errors import InputError
from landseg.io.csvfile import csv_float, csv_text
from landseg.io.files import write_text_atomic

UNITS: dict[str, tuple[float, str, int]] = {
    # name: (m² per unit, label, decimals shown)
    "m2": (1.0, "m²", 2),
    "ha": (1e4, "ha", 4),
    "km2": (1e6, "km²", 6),
    "ft2": (0.09290304, "ft²", 1),  # international foot
    "acre": (4046.8564224, "acre", 4),  # international acre
}


def unit_key(units: str) -> str:
    """The key of a unit name (``m²`` -> ``m2``); unknown names raise :class:`InputError`."""
    key = (units or "m2").lower().replace("²", "2")
    if key not in UNITS:
        raise InputError(f"unknown unit {units!r}; use one of {', '.join(UNITS)}")
    return key


def unit_info(units: str) -> tuple[float, str, int]:
    """(m² per unit, label, decimals shown) of a unit name (m2, ha, km2, ft2, acre)."""
    return UNITS[unit_key(units)]


def unit_label(units: str) -> tuple[str, str]:
    """(unit key, label shown in column headers) of a unit name; unknown names raise :class:`InputError`."""
    key = unit_key(units)
    return key, unit_info(key)[1]


def find_by(items: Sequence[Any], attr: str, value: Any) -> Any:
    """The first of ``items`` whose ``attr`` equals ``value``; :class:`KeyError` if none does."""
    for item in items:
        if getattr(item, attr) == value:
            return item
    raise KeyError(value)


def unit_columns(units: str) -> list[str]:
    """Area units shown in tables: m² and ha by default, else the one requested."""
    key = unit_key(units)
    return ["m2", "ha"] if key == "m2" else [key]


def area_text(value_m2: float, units: str) -> str:
    """An area in ``units`` for a text line, with the unit's decimals and label (``625.00 m²``, ``0.000625 km²``);
    'n/a' where unknown. Every area written in a sentence goes through it, so ``--units`` holds everywhere."""
    factor, label, dec = unit_info(units)
    v = float(value_m2)
    return f"{v / factor:,.{dec}f} {label}" if math.isfinite(v) else "n/a"


def finite(x: float) -> float | None:
    """A float for JSON: None for NaN/inf."""
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class Col:
    """A table column: its header, how its cells are formatted, its CSV key."""

    header: str
    kind: str  # str | int | px | num | bool | area:<unit> | pct (a 0-1 share)
    key: str = ""  # CSV header (machine-friendly); defaults to a slug of the header

    def csv_key(self) -> str:
        """The column's CSV header: ``key``, or a slug of the header."""
        if self.key:
            return self.key
        h = self.header.replace("m²", "m2").replace("km²", "km2").replace("ft²", "ft2")
        h = h.replace(" (", "_").replace(")", "").replace(" ", "_").replace("±", "pm")
        return h + ("_pct" if self.kind == "pct" else "")


def _cell(value: Any, kind: str, for_csv: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "" if for_csv else "n/a"
    if kind == "str":
        return str(value)
    if kind == "int":
        return str(int(value)) if for_csv else f"{int(value):,}"
    if kind == "bool":
        return ("true" if value else "false") if for_csv else ("yes" if value else "no")
    if kind == "num":
        return csv_float(value) if for_csv else f"{float(value):,.4g}"
    if kind == "px":
        return csv_float(value) if for_csv else f"{value:,.2f}"
    if kind == "pct":
        return csv_float(float(value) * 100) if for_csv else f"{value * 100:.2f} %"
    if kind.startswith("area:"):
        factor, _, dec = unit_info(kind[5:])
        v = float(value) / factor
        return csv_float(v) if for_csv else f"{v:,.{dec}f}"
    raise ValueError(kind)


def render_table(fmt: str, cols: Sequence[Col], rows: Sequence[Sequence[Any]], *, title: str = "",
                 footer: Sequence[str] = ()) -> str:
    """Render rows as an aligned text table, a Markdown table or CSV (no title/footer in CSV)."""
    if fmt == "csv":  # floats rounded by the one CSV rule (landseg.io.csvfile)
        return csv_text([c.csv_key() for c in cols], ([_cell(v, c.kind, True) for v, c in zip(r, cols)] for r in rows))
    cells = [[_cell(v, c.kind, False) for v, c in zip(r, cols)] for r in rows]
    if fmt == "markdown":
        lines = [f"**{title}**", ""] if title else []
        lines.append("| " + " | ".join(c.header for c in cols) + " |")
        lines.append("|" + "|".join("---" if c.kind == "str" else "---:" for c in cols) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in cells]
        if footer:
            lines += [""] + [f"{f}  " for f in footer]
        return "\n".join(lines) + "\n"
    if fmt != "table":
        raise InputError(f"unknown format {fmt!r}; use table, csv, json or markdown")
    widths = [max([len(c.header)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]

    def line(vals: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) if c.kind == "str" else v.rjust(w) for v, w, c in zip(vals, widths, cols)).rstrip()

    lines = [title] if title else []
    lines.append(line([c.header for c in cols]))
    lines.append("  ".join("-" * w for w in widths))
    lines += [line(r) for r in cells]
    lines += list(footer)
    return "\n".join(lines) + "\n"


def area_cols(units: str, prefix: str = "area") -> list[Col]:
    """Area columns in the units shown (see :func:`unit_columns`)."""
    return [Col(f"{prefix} ({UNITS[u][1]})", f"area:{u}") for u in unit_columns(units)]


def areas_in(value_m2: float, units: str, prefix: str = "area") -> dict[str, float | None]:
    """Areas for JSON: ``{prefix}_m2``, ``{prefix}_ha`` and ``{prefix}_<units>``; None where unknown (NaN)."""
    key = unit_key(units)
    v = float(value_m2)
    ok = math.isfinite(v)
    out: dict[str, float | None] = {f"{prefix}_m2": v if ok else None, f"{prefix}_ha": v / 1e4 if ok else None}
    if key not in ("m2", "ha"):
        out[f"{prefix}_{key}"] = v / UNITS[key][0] if ok else None
    return out


class Report:
    """Shared ``format``/``to_*`` helpers; subclasses provide ``_table`` and ``to_dict``.

    A report's notes (:meth:`all_notes`) end its text and Markdown renderings (``notes=False`` leaves them
    out, for a caller that writes them to stderr itself, as the CLI does in every format) and are listed
    under ``notes`` in its JSON; CSV holds the rows only.
    """

    def _table(self, units: str) -> tuple[str, list[Col], list[list[Any]], list[str]]:
        raise NotImplementedError

    def to_dict(self, units: str = "m2") -> dict[str, Any]:
        """The report as JSON-ready data (areas in ``units``)."""
        raise NotImplementedError

    def all_notes(self) -> list[str]:
        """The notes of this report (what the reader should know: ignored options, skipped inputs...)."""
        return list(getattr(self, "notes", []))

    def _rendered(self, fmt: str, units: str, notes: bool) -> str:
        title, cols, rows, footer = self._table(units)
        footer = footer + ([f"note: {n}" for n in self.all_notes()] if notes else [])
        return render_table(fmt, cols, rows, title=title, footer=footer)

    def to_text(self, units: str = "m2", notes: bool = True) -> str:
        """The report as a plain-text table (notes at its end unless ``notes=False``)."""
        return self._rendered("table", units, notes)

    def to_markdown(self, units: str = "m2", notes: bool = True) -> str:
        """The report as a Markdown table (notes at its end unless ``notes=False``)."""
        return self._rendered("markdown", units, notes)

    def to_csv(self, units: str = "m2") -> str:
        """The report's rows as CSV."""
        _, cols, rows, _ = self._table(units)
        return render_table("csv", cols, rows)

    def to_json(self, units: str = "m2") -> str:
        """The report as JSON text (:meth:`to_dict`)."""
        return json.dumps(self.to_dict(units), indent=2, ensure_ascii=False) + "\n"

    def format(self, fmt: str = "table", units: str = "m2", notes: bool = True) -> str:
        """``fmt`` is table, csv, json or markdown; ``notes=False`` leaves the notes out of table and markdown."""
        if fmt == "json":
            return self.to_json(units)
        if fmt == "csv":
            return self.to_csv(units)
        if fmt == "markdown":
            return self.to_markdown(units, notes)
        if fmt == "table":
            return self.to_text(units, notes)
        raise InputError(f"unknown format {fmt!r}; use table, csv, json or markdown")

    def write(self, path: str | Path, fmt: str | None = None, units: str = "m2") -> Path:
        """Write atomically; the format follows ``fmt`` or the suffix (.csv, .json, .md, else table)."""
        path = Path(path)
        fmt = fmt or {".csv": "csv", ".json": "json", ".md": "markdown"}.get(path.suffix.lower(), "table")
        text = self.format(fmt, units)
        return write_text_atomic(path, text)
