"""Results that cross a layer, as dataclasses: the JSON files are written from them (``to_dict``, one key per field,
in field order) and the readers (``landseg report``, the web app's jobs) read them back (``read``/``from_dict``)
instead of indexing dicts by keys they guess.

* :class:`PredictRecord`: ``NAME_predict.json``, what ``landseg predict`` did for one input;
* :class:`EvaluateResult`: ``metrics.json`` of ``landseg evaluate``;
* :class:`DatasetManifest`: ``dataset.json`` of a prepared dataset.

The nested parts (metrics per variant, area tables, tile records) stay the plain JSON-shaped values their
owners (:mod:`landseg.metrics`, :mod:`landseg.area`) define. No torch, no rasters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from landseg.errors import InputError
from landseg.io.files import read_json

T = TypeVar("T")


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """``cls`` from a JSON object: the keys it knows (unknown keys of newer files are left out; missing keys of
    older files take the field's default)."""
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object for {cls.__name__}, found {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def _read(cls: type[T], path: str | Path) -> T:
    """``cls`` from the JSON file ``path``; a missing or unreadable file is one clear :class:`InputError`."""
    data = read_json(path)
    try:
        return _from_dict(cls, data)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


# ============================================================================ landseg predict
@dataclass
class PredictRecord:
    """``NAME_predict.json``: what was done for one input (model, windows, resampling, timings), the domain check,
    the class areas; written last, it marks the input's outputs complete."""

    input: str = ""
    model: str = ""
    note: str = ""
    notes: list[str] = field(default_factory=list)
    size: list[int] | None = None  # width, height
    crs: str | None = None
    window: int | None = None
    overlap: int | None = None
    tta: bool = False
    windows: int | None = None
    inference_grid: list[int] | None = None
    seconds_model: float | None = None
    bands: list[int] = field(default_factory=list)
    bands_used: str = ""
    mask: str = ""
    made_from: dict[str, Any] | None = None  # input, model and option identity (:func:`landseg.predict.run_identity`)
    domain: dict[str, Any] = field(default_factory=dict)  # the domain check's figures
    warnings: list[str] = field(default_factory=list)  # the domain check's warnings, one sentence each
    areas: dict[str, Any] | None = None  # the class areas (NAME_areas.json), when they were measured
    seconds_total: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (no ``areas`` key when no areas were measured)."""
        d = dataclasses.asdict(self)
        if self.areas is None:
            del d["areas"]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictRecord:
        """From the JSON object."""
        return _from_dict(cls, data)

    @classmethod
    def read(cls, path: str | Path) -> PredictRecord:
        """From a ``NAME_predict.json`` file."""
        return _read(cls, path)


# ============================================================================ landseg evaluate
@dataclass
class EvaluateResult:
    """``metrics.json`` of ``landseg evaluate``: the four protocol variants, confusion matrices, true vs predicted
    areas, per-tile rows, and what was evaluated how."""

    format: str = ""
    landseg_version: str = ""
    created: str = ""
    model: str = ""
    dataset: str = ""
    dataset_name: str | None = None
    split: str = ""
    tiles: list[str] = field(default_factory=list)
    class_table: dict[str, Any] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    protocol: str = ""
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # :func:`landseg.metrics.variant_metrics`
    confusion: dict[str, list[list[int]]] = field(default_factory=dict)
    areas: dict[str, Any] | None = None
    per_tile: list[dict[str, Any]] = field(default_factory=list)
    tile_confusion: dict[str, dict[str, list[list[int]]]] = field(default_factory=dict)
    views: dict[str, dict[str, str]] = field(default_factory=dict)  # tile id -> view kind -> path in the folder
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (NaN metrics are written as null by :func:`landseg.evaluate_outputs.write_outputs`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluateResult:
        """From the JSON object."""
        return _from_dict(cls, data)

    @classmethod
    def read(cls, path: str | Path) -> EvaluateResult:
        """From a ``metrics.json`` file."""
        return _read(cls, path)

    @property
    def title_name(self) -> str:
        """The dataset's name, else its folder's."""
        return self.dataset_name or Path(self.dataset).name


# ============================================================================ prepared datasets
@dataclass
class DatasetManifest:
    """``dataset.json`` of a prepared dataset, written last (``complete``): class table, bands, normalisation,
    splits, class pixel counts, the tiles' records and what the dataset was made from."""

    landseg_version: str = ""
    format: int = 1
    complete: bool = False
    created: str = ""
    dataset: str | None = None
    class_table: dict[str, Any] = field(default_factory=dict)
    bands: list[str] = field(default_factory=list)
    band_count: int = 0
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    crs: str | list[str] | None = None
    pixel_size: list[float] | list[list[float]] | None = None
    split: dict[str, list[str]] = field(default_factory=dict)
    split_info: Any = None
    class_pixel_counts: dict[str, list[int]] = field(default_factory=dict)
    has_eroded_labels: bool = False
    tiles: list[dict[str, Any]] = field(default_factory=list)
    made_from: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetManifest:
        """From the JSON object (the ``root`` that :func:`landseg.data.prepare.load_manifest` adds is left out)."""
        return _from_dict(cls, data)


__all__ = ["DatasetManifest", "EvaluateResult", "PredictRecord"]
