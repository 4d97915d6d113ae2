"""What ``landseg area`` measures on one class map: :class:`AreaRequest` (the whole map, per zone, the
planning indicators, against a reference sample or a label raster, connected objects), :func:`measure_areas`
(the reports it asks for) and :func:`format_reports` (their text).

It composes :mod:`landseg.area`, :mod:`landseg.accuracy` and :mod:`landseg.parcels` and runs no model, so
``landseg area`` starts without torch. The web app's jobs (:mod:`landseg.serve.jobs`) measure through it too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landseg import area
from landseg.accuracy import assess_accuracy
from landseg.area.indicators import DEFAULT_MIN_BUILDING_M2
from landseg.area.partial import zonal_areas_by_region
from landseg.cluster import ClusterOptions
from landseg.errors import ConfigError, OutputError
from landseg.io.labels import table_with_roles
from landseg.layout import PredictPaths
from landseg.parcels import calibrate_parcels, read_fee_tiers

__all__ = ["AreaRequest", "format_reports", "measure_areas"]


@dataclass
class AreaRequest:
    """What ``landseg area`` measures on one class map: the whole map (default), per zone (``zones``; with
    ``indicators``/``limits`` the planning indicators; with ``cluster`` by tile on Ray workers), against a
    reference sample (``reference``) or a label raster (``truth``), plus connected ``objects``."""

    table: str | Path | None = None
    gsd: float | None = None
    classes: str | None = None
    unknown_to_ignore: bool = False
    zones: str | Path | None = None
    zone_id: str | None = None
    indicators: bool = False
    limits: list[str] = field(default_factory=list)
    cluster: ClusterOptions | None = None
    reference: str | Path | None = None
    truth: str | Path | None = None
    objects: str | None = None
    min_area: float | None = None  # None: 0 for --objects, DEFAULT_MIN_BUILDING_M2 for building counts
    fee_tiers: str | Path | None = None
    roles: list[str] | None = None

    def check(self) -> None:
        """Refuse options that need another: indicators, limits and ``--ray`` need zones; fee tiers need indicators."""
        if (self.indicators or self.limits) and not self.zones:
            raise ConfigError("--indicators and --limit need --zones FILE (the zones to report on)")
        if self.cluster is not None and not self.zones:
            raise ConfigError("--ray splits per-zone areas (--zones) over workers; plain class areas run here")
        if self.fee_tiers and not self.indicators:
            raise ConfigError("--fee-tiers needs --zones FILE --indicators (the parcels whose sealed area is tiered)")


def measure_areas(classmap: str | Path, req: AreaRequest, *, units: str = "m2",
                  note: Callable[[str], None] = print) -> list[tuple[str, Any]]:
    """The reports ``req`` asks for, as (kind, result) pairs; the first is the main one.

    A reference sample's accuracy is also kept beside the class map (``NAME_accuracy.json``) for
    ``landseg report``; a folder that cannot be written only skips that (``note`` says so).
    """
    req.check()
    tiers = read_fee_tiers(req.fee_tiers) if req.fee_tiers else None
    t, gsd, cls, uti = table_with_roles(classmap, req.table, req.roles), req.gsd, req.classes, req.unknown_to_ignore
    reports: list[tuple[str, Any]] = []
    if req.zones and (req.indicators or req.limits):
        min_building = DEFAULT_MIN_BUILDING_M2 if req.min_area is None else req.min_area
        ind = area.zone_indicators(classmap, req.zones, req.zone_id, t, gsd=gsd, limits=req.limits,
                                   min_building_area=min_building)
        if req.reference or tiers:  # sealed and green m² per parcel, calibrated with a reference sample
            calibrate_parcels(ind, classmap, req.reference, tiers)
        reports.append(("indicators", ind))
    elif req.zones and req.cluster is not None:
        reports.append(("zones", zonal_areas_by_region(classmap, req.zones, req.zone_id, t, gsd=gsd, classes=cls,
                                                       cluster=req.cluster)))
    elif req.zones:
        reports.append(("zones", area.zonal_areas(classmap, req.zones, req.zone_id, t, gsd=gsd, classes=cls,
                                                  unknown_to_ignore=uti)))
    elif req.reference:
        acc = assess_accuracy(classmap, req.reference, t, gsd=gsd)
        reports.append(("accuracy", acc))
        try:  # kept beside the class map for `landseg report`; a read-only map folder is no reason to fail
            note(f"wrote {acc.write(PredictPaths.from_classes(classmap).accuracy(), 'json', units)} (shown by landseg report)")
        except OutputError as exc:
            note(f"note: accuracy not kept beside the class map for `landseg report` ({exc})")
    elif req.truth:
        reports.append(("truth", area.compare_with_truth(classmap, req.truth, t, gsd=gsd, classes=cls)))
    else:
        reports.append(("areas", area.class_areas(classmap, t, gsd=gsd, classes=cls, unknown_to_ignore=uti)))
    if req.objects:
        reports.append(("objects", area.object_stats(classmap, req.objects, t, gsd=gsd, min_area=req.min_area or 0.0,
                                                     unknown_to_ignore=uti)))
    return reports


def format_reports(reports: list[tuple[str, Any]], fmt: str, units: str, notes: bool = True) -> str:
    """One text for several reports: JSON (one object, or one per kind) or the tables one after another;
    ``notes=False`` leaves the notes out of tables (the caller writes them to stderr)."""
    if fmt == "json":
        data = {k: r.to_dict(units) for k, r in reports}
        return json.dumps(data[reports[0][0]] if len(reports) == 1 else data, indent=2, ensure_ascii=False) + "\n"
    return "\n".join(r.format(fmt, units, notes) for _, r in reports)
