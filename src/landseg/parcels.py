"""Sealed and green area per parcel with a 95 % interval, and stormwater fee tiers.

``landseg area MAP --zones PARCELS --indicators --reference POINTS [--fee-tiers TIERS.csv]``.

Calibrated estimate (the error matrix applied per parcel): a parcel's true sealed area is estimated as
``sum_i a_i q_i``, where ``a_i`` is the parcel's area mapped as class ``i`` (exact fractional coverage) and
``q_i`` the share of the reference points mapped as ``i`` that are truly sealed (a class of the ``sealed``
role) — each mapped class's area times the estimated probability that it is truly sealed. Its variance
``sum_i a_i² q_i (1 - q_i) / (n_i - 1)`` comes from the sample (:func:`landseg.accuracy.stratified_total`
with the parcel's class areas as stratum areas); the 95 % interval is ± 1.96 SE. Green likewise.

Assumptions, stated in every output: the map's errors are the same in every parcel (a pixel mapped as
``i`` is truly sealed with the same probability ``q_i`` wherever it is); the interval covers the sampling
uncertainty of ``q_i`` only, not how a parcel's own errors differ from the map-wide mix. It is exact for
a perfect map (all ``q_i`` 0 or 1: estimate = mapped, interval 0) and unbiased map-wide; for one parcel
it is as good as the assumption.

Fee tiers: a CSV with columns ``tier,min_m2,max_m2`` (``max_m2`` empty: no upper bound); a parcel is in
the tier whose ``[min_m2, max_m2)`` holds its (calibrated) sealed area; ``fee_tier_uncertain`` is true when
the 95 % interval reaches into another tier. Overlapping tiers are refused.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landseg.accuracy import stratified_total
from landseg.accuracy.assess import points_on_map
from landseg.area.indicators import ExtraColumn, IndicatorResult
from landseg.errors import InputError
from landseg.io.files import read_lines

ROLE_COLUMNS = ("sealed", "green")
CALIBRATION_RULE = ("sealed_m2 / green_m2 with --reference: sum over mapped classes of the parcel's mapped area "
                    "times the sample's share of that class truly in the role; 95 % interval from the sample "
                    "(assumes the map's errors are the same in every parcel)")


@dataclass(frozen=True)
class FeeTier:
    """A fee tier: sealed share in [low, high)."""
    name: str
    low: float
    high: float  # math.inf: no upper bound

    def holds(self, v: float) -> bool:
        """Whether ``v`` falls in this tier."""
        return self.low <= v < self.high


def read_fee_tiers(path: str | Path) -> list[FeeTier]:
    """Fee tiers from a CSV ``tier,min_m2,max_m2``; bad or overlapping tiers raise :class:`InputError`."""
    p = Path(path)
    try:
        rows = list(csv.DictReader(read_lines(p, encoding="utf-8-sig")))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read the fee tiers ({exc})") from None
    need = {"tier", "min_m2", "max_m2"}
    if not rows or not need <= set(rows[0]):
        raise InputError(f"{p}: expected a CSV with the columns tier,min_m2,max_m2 (max_m2 empty for no upper bound) "
                         f"and one row per tier; found columns {', '.join(rows[0]) if rows else '(none)'}")
    tiers = []
    for k, r in enumerate(rows, start=2):
        try:
            lo = float(r["min_m2"])
            hi = math.inf if not (r["max_m2"] or "").strip() else float(r["max_m2"])
        except ValueError:
            raise InputError(f"{p}, line {k}: min_m2/max_m2 must be numbers, found {r['min_m2']!r}, "
                             f"{r['max_m2']!r}") from None
        if not (math.isfinite(lo) and lo < hi):
            raise InputError(f"{p}, line {k}: tier {r['tier']!r} needs min_m2 < max_m2, found {lo:g} and {hi:g}")
        tiers.append(FeeTier(str(r["tier"]).strip(), lo, hi))
    tiers.sort(key=lambda t: t.low)
    for a, b in zip(tiers, tiers[1:]):
        if b.low < a.high:
            raise InputError(f"{p}: tiers {a.name!r} [{a.low:g}, {a.high:g}) and {b.name!r} [{b.low:g}, {b.high:g}) "
                             "overlap; a parcel must fall in one tier: make each min_m2 >= the previous max_m2")
    return tiers


def tier_of(value: float | None, tiers: list[FeeTier]) -> str | None:
    """The name of the tier ``value`` falls in; None for a missing value or none found."""
    if value is None or not math.isfinite(value):
        return None
    return next((t.name for t in tiers if t.holds(value)), None)


def calibrate_parcels(result: IndicatorResult, classmap: str | Path, points: str | Path | None,
                      tiers: list[FeeTier] | None = None) -> IndicatorResult:
    """Add ``sealed_m2``/``green_m2`` per parcel to ``result``'s columns: mapped, or with a filled reference
    sample of ``classmap`` calibrated with ``_low``/``_high`` bounds; and the fee tier of the sealed area."""
    table, zones = result.table, result.zonal.zones
    labelled = stratum = ref = None
    if points is not None:
        stratum, ref, _, dup_notes = points_on_map(Path(classmap), Path(points), table)
        result.notes.extend(dup_notes)
        labelled = ref >= 0
        if not labelled.any():
            raise InputError(f"{points}: no point has its reference filled; label the sample first")
        result.rules.append(CALIBRATION_RULE)
    cols: dict[str, ExtraColumn] = {}
    sealed_est: list[Any] = []
    sealed_bounds: list[tuple[float, float]] = []
    short_zones = 0
    for role in ROLE_COLUMNS:
        members = table.role(role)
        if not members:
            result.notes.append(f"the class table {table.name!r} declares no {role!r} role: {role}_m2 is n/a")
            continue
        mapped = [float(z.class_m2[members].sum()) if z.geometry is not None else None for z in zones]
        if stratum is None or ref is None or labelled is None:
            cols[f"{role}_m2"] = ExtraColumn("num", mapped)
            if role == "sealed":
                sealed_est, sealed_bounds = mapped, [(math.nan, math.nan)] * len(zones)
            continue
        y = np.isin(ref[labelled], members).astype(np.float64)
        est = [stratified_total(y, stratum[labelled], z.class_m2[:table.num_classes]) for z in zones]
        value = [t.value if math.isfinite(t.value) and m is not None else None for t, m in zip(est, mapped)]
        cols[f"{role}_m2"] = ExtraColumn("num", value)
        cols[f"{role}_m2_low"] = ExtraColumn("num", [max(t.low, 0.0) if math.isfinite(t.low) else None for t in est])
        cols[f"{role}_m2_high"] = ExtraColumn("num", [t.high if math.isfinite(t.high) else None for t in est])
        cols[f"{role}_mapped_m2"] = ExtraColumn("num", mapped)
        short_zones = max(short_zones, sum(1 for t, m in zip(est, mapped) if m and t.short))
        if role == "sealed":
            sealed_est, sealed_bounds = value, [(t.low, t.high) for t in est]
    if short_zones:
        result.notes.append(f"{short_zones} parcels hold mapped classes with fewer than 2 labelled points in the "
                            "sample: their interval (or estimate) is n/a; label more points in those classes")
    if tiers and sealed_est:
        cols["fee_tier"] = ExtraColumn("str", [tier_of(v, tiers) for v in sealed_est])
        cols["fee_tier_uncertain"] = ExtraColumn("bool", [
            None if v is None or not (math.isfinite(lo) and math.isfinite(hi)) else tier_of(max(lo, 0.0), tiers)
            != tier_of(hi, tiers) for v, (lo, hi) in zip(sealed_est, sealed_bounds)])
        result.rules.append("fee_tier: the tier whose [min_m2, max_m2) holds sealed_m2; fee_tier_uncertain: the 95 % "
                            "interval of sealed_m2 reaches into another tier")
    result.extra.update(cols)
    return result


__all__ = ["CALIBRATION_RULE", "FeeTier", "calibrate_parcels", "read_fee_tiers", "tier_of"]
