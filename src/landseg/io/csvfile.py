"""CSV text in one style for every CSV file landseg writes: one rounding rule for floats.

Floats are written with :data:`CSV_DIGITS` significant digits, and magnitudes below :data:`CSV_ZERO` as 0,
so sums of float32 pixel areas and differences of equal numbers come out as ``700.0`` and ``0.0``, not
``700.000000011`` or ``3.18e-17``. Ten significant digits keep a 10 km² area to the cm² and a share to
1e-10; NaN, ±inf and None are written as empty cells. Integers are written as they are.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

CSV_DIGITS = 10  # significant digits of every float written to a CSV file
CSV_ZERO = 1e-9  # floats of smaller magnitude are float noise around 0: written as 0


def csv_float(x: float) -> str:
    """A float as landseg writes it into CSV files (see the module docstring); '' for NaN/inf."""
    x = float(x)
    if not math.isfinite(x):
        return ""
    if abs(x) < CSV_ZERO:
        return "0.0"
    return repr(float(f"{x:.{CSV_DIGITS}g}"))


def csv_cell(value: Any) -> Any:
    """One CSV cell: floats through :func:`csv_float`, None as '', everything else unchanged."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return csv_float(value)
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text (``\\n`` line ends) of a header and rows, every float rounded by :func:`csv_float`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([csv_cell(v) for v in row] for row in rows)
    return buf.getvalue()


__all__ = ["CSV_DIGITS", "CSV_ZERO", "csv_cell", "csv_float", "csv_text"]
