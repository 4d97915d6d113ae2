"""A model's domain: what its training imagery looked like, and how far an input is from it.

A checkpoint's ``domain`` record (JSON in its header) holds the pixel size of the training imagery (exact
from georeferencing, or an estimate with its spread and method), the meaning of its bands (``rgb``,
``irrg``, ``rgbi`` ...), per-band statistics of the training images (mean, std and a coarse 16-bin
histogram of the 0-255 values), the class names and a one-line description of the data. Checkpoints
written before the record existed load with every field "unknown".

:class:`InputStats` accumulates the same statistics of an input while predict reads its windows, plus
the model's confidence from the blended probabilities; :func:`check_domain` compares them with the
record and returns the figures and the warnings. The thresholds are calibrated on real imagery
(``benchmarks/bench_domain.py``; figures in BENCHMARKS.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from landseg.errors import CheckpointError, InputError

HIST_BINS = 16  # coarse histogram: 16 bins of 16 grey levels each
BAND_MEANINGS: dict[str, tuple[str, ...]] = {
    "rgb": ("red", "green", "blue"),
    "irrg": ("nir", "red", "green"),
    "rgbi": ("red", "green", "blue", "nir"),
    "irgb": ("nir", "red", "green", "blue"),
    "bgr": ("blue", "green", "red"),
}
_BAND_ALIASES = {"r": "red", "red": "red", "g": "green", "green": "green", "b": "blue", "blue": "blue",
                 "nir": "nir", "ir": "nir", "infrared": "nir", "near-infrared": "nir", "near infrared": "nir",
                 "nearinfrared": "nir", "near_infrared": "nir"}

COLOUR_LEVELS = 16  # joint colour histogram of the first three bands: 16 levels each, 4096 cells
COLOUR_MIN_DENSITY = 1e-5  # a colour cell is "seen in training" when it holds at least this share of the pixels

# Thresholds (calibrated on real data, see BENCHMARKS.md "Domain check"):
UNSEEN_THRESHOLD = 0.12  # warn when more than this share of the input's pixels has colours unseen in training
CONFIDENCE_LOW = 0.5  # a pixel whose blended max-probability is below this counts as low-confidence
LOW_SHARE_THRESHOLD = 0.15  # warn when more than this share of the pixels is low-confidence
PIXEL_SIZE_FACTOR = 2.0  # warn when the input's pixel size differs from the model's estimate by more


def band_meaning(names: Sequence[str]) -> str:
    """``rgb``/``irrg``/... for a list of band names (``red``, ``nir`` ...); ``unknown`` if they do not say."""
    canon = tuple(_BAND_ALIASES.get(str(n).strip().lower(), "?") for n in names)
    for meaning, bands in BAND_MEANINGS.items():
        if canon == bands:
            return meaning
    return "unknown"


def parse_band_meaning(text: str, count: int | None = None) -> str:
    """A user's ``--input-bands`` value: a meaning (``irrg``) or band names (``nir,red,green``)."""
    t = text.strip().lower()
    meaning = t if t in BAND_MEANINGS else band_meaning(t.split(",")) if "," in t else "unknown"
    if meaning == "unknown":
        raise InputError(f"--input-bands {text!r}: expected one of {', '.join(BAND_MEANINGS)} or band names such as "
                         "nir,red,green")
    if count is not None and len(BAND_MEANINGS[meaning]) != count:
        raise InputError(f"--input-bands {text}: {len(BAND_MEANINGS[meaning])} bands, but the input has {count}")
    return meaning


def histogram(values: np.ndarray) -> np.ndarray:
    """(bands, HIST_BINS) counts of uint8 values (bands, N)."""
    v = np.asarray(values, dtype=np.uint8) >> 4
    out = np.zeros((v.shape[0], HIST_BINS), np.int64)
    for b in range(v.shape[0]):
        out[b] = np.bincount(v[b].ravel(), minlength=HIST_BINS)
    return out


def stats_from_histograms(hist256: np.ndarray) -> dict[str, Any]:
    """Mean, std and the coarse shares per band from exact 256-bin histograms (bands, 256)."""
    h = np.asarray(hist256, np.float64)
    n = np.maximum(h.sum(axis=1), 1)
    v = np.arange(256, dtype=np.float64)
    mean = (h * v).sum(axis=1) / n
    std = np.sqrt(np.maximum((h * v**2).sum(axis=1) / n - mean**2, 0))
    coarse = h.reshape(h.shape[0], HIST_BINS, 256 // HIST_BINS).sum(axis=2) / n[:, None]
    return {"mean": [round(float(x), 3) for x in mean], "std": [round(float(x), 3) for x in std],
            "hist": [[round(float(x), 6) for x in row] for row in coarse]}


def wasserstein(p: Sequence[float], q: Sequence[float]) -> float:
    """Wasserstein-1 distance in grey levels between two coarse histograms (shares over HIST_BINS bins)."""
    a, b = np.asarray(p, np.float64), np.asarray(q, np.float64)
    a, b = a / max(a.sum(), 1e-12), b / max(b.sum(), 1e-12)
    return float(np.abs(np.cumsum(a - b)).sum() * (256 / HIST_BINS))


@dataclass
class Domain:
    """The domain record of a checkpoint (see the module docstring); ``None`` fields are unknown."""

    pixel_size: float | None = None  # metres
    pixel_size_range: list[float] | None = None  # [low, high] of an estimate
    pixel_size_method: str = "unknown"
    band_meaning: str = "unknown"
    band_mean: list[float] | None = None
    band_std: list[float] | None = None
    band_hist: list[list[float]] | None = None  # per band, HIST_BINS shares summing to 1
    colour_cells: list[int] | None = None  # joint colour cells (see colour_cell) seen in the training images
    classes: list[str] = field(default_factory=list)
    description: str = "unknown"

    @property
    def known(self) -> bool:
        """Whether the record holds training-image statistics (else nothing can be compared)."""
        return self.band_hist is not None

    def to_dict(self) -> dict[str, Any]:
        """The record as stored in a checkpoint's metadata."""
        return {"pixel_size": self.pixel_size, "pixel_size_range": self.pixel_size_range,
                "pixel_size_method": self.pixel_size_method, "band_meaning": self.band_meaning,
                "band_mean": self.band_mean, "band_std": self.band_std, "band_hist": self.band_hist,
                "colour_cells": self.colour_cells,
                "classes": list(self.classes), "description": self.description}

    @classmethod
    def from_dict(cls, d: Any, *, bands: int, path: Any = "") -> Domain:
        """Validate a stored record; anything malformed raises :class:`CheckpointError` naming the field."""

        def bad(what: str) -> CheckpointError:
            return CheckpointError(f"{path}: corrupt domain record: {what}; the file is damaged or was edited "
                                   "(remove the 'domain' entry to load it without one)")

        if not isinstance(d, dict):
            raise bad(f"expected a JSON object, got {type(d).__name__}")
        problem = _pixel_size_problem(d) or _band_problem(d, bands) or _text_problem(d)
        if problem:
            raise bad(problem)
        ps, rng, meaning = d.get("pixel_size"), d.get("pixel_size_range"), d.get("band_meaning", "unknown")
        hist, cells, classes = d.get("band_hist"), d.get("colour_cells"), d.get("classes", [])
        return cls(pixel_size=ps, pixel_size_range=rng, pixel_size_method=d.get("pixel_size_method", "unknown"),
                   band_meaning=meaning, band_mean=d.get("band_mean"), band_std=d.get("band_std"), band_hist=hist,
                   colour_cells=cells,
                   classes=classes, description=d.get("description", "unknown"))

    def summary_lines(self) -> list[str]:
        """Human lines for ``landseg models MODEL`` and the model card."""
        if self.pixel_size is None:
            ps = "unknown"
        else:
            ps = f"{self.pixel_size:g} m"
            if self.pixel_size_range:
                ps += f" (range {self.pixel_size_range[0]:g}-{self.pixel_size_range[1]:g} m)"
            ps += f"; {self.pixel_size_method}"
        stats = "unknown"
        if self.band_mean is not None and self.band_std is not None:
            stats = "; ".join(f"{m:.1f} ± {s:.1f}" for m, s in zip(self.band_mean, self.band_std))
        return [f"data: {self.description}", f"pixel size: {ps}", f"band meaning: {self.band_meaning}",
                f"band mean ± std (0-255): {stats}", f"classes: {', '.join(self.classes) or 'unknown'}"]


def _pixel_size_problem(d: dict[str, Any]) -> str | None:
    """What is wrong with a domain record's pixel size fields, if anything."""
    ps = d.get("pixel_size")
    if ps is not None and (not _num(ps) or ps <= 0):
        return f"pixel_size must be a positive number of metres or null, got {ps!r}"
    rng = d.get("pixel_size_range")
    if rng is not None and (not isinstance(rng, list) or len(rng) != 2 or not all(_num(x) and x > 0 for x in rng)):
        return f"pixel_size_range must be [low, high] in metres or null, got {rng!r}"
    return None


def _band_problem(d: dict[str, Any], bands: int) -> str | None:
    """What is wrong with a domain record's band fields (meaning, statistics, histograms, colours), if anything."""
    meaning = d.get("band_meaning", "unknown")
    if meaning != "unknown" and (meaning not in BAND_MEANINGS or len(BAND_MEANINGS[meaning]) != bands):
        return f"band_meaning {meaning!r} does not describe the model's {bands} bands"
    for key in ("band_mean", "band_std"):
        v = d.get(key)
        if v is not None and (not isinstance(v, list) or len(v) != bands or not all(_num(x) for x in v)):
            return f"{key} must list {bands} numbers, got {v!r}"
    hist = d.get("band_hist")
    if hist is not None and not (isinstance(hist, list) and len(hist) == bands and all(
            isinstance(r, list) and len(r) == HIST_BINS and all(_num(x) and x >= 0 for x in r)
            and abs(sum(r) - 1) < 1e-3 for r in hist)):
        return f"band_hist must hold {bands} lists of {HIST_BINS} shares summing to 1"
    cells = d.get("colour_cells")
    if cells is not None and (not isinstance(cells, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c < COLOUR_LEVELS**3 for c in cells)):
        return f"colour_cells must be a list of cell numbers 0-{COLOUR_LEVELS**3 - 1}"
    return None


def _text_problem(d: dict[str, Any]) -> str | None:
    """What is wrong with a domain record's class names and texts, if anything."""
    classes = d.get("classes", [])
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        return f"classes must be a list of names, got {classes!r}"
    for key in ("pixel_size_method", "description"):
        if not isinstance(d.get(key, "unknown"), str):
            return f"{key} must be text"
    return None


def colour_cell(window: np.ndarray) -> np.ndarray:
    """The joint colour cell of each pixel of a uint8 (bands, ...) array from its first three bands (one band:
    grey levels only)."""
    shift = 8 - int(np.log2(COLOUR_LEVELS))
    b = [window[min(i, window.shape[0] - 1)].astype(np.int64) >> shift for i in range(3)]
    return (b[0] * COLOUR_LEVELS + b[1]) * COLOUR_LEVELS + b[2]


def colour_counts(window: np.ndarray) -> np.ndarray:
    """Pixel counts per joint colour cell of a uint8 (bands, ...) array."""
    return np.bincount(colour_cell(window).ravel(), minlength=COLOUR_LEVELS**3)


def seen_cells(counts: np.ndarray) -> list[int]:
    """The cells holding at least COLOUR_MIN_DENSITY of the pixels."""
    c = np.asarray(counts, np.float64)
    return [int(i) for i in np.flatnonzero(c >= COLOUR_MIN_DENSITY * max(c.sum(), 1))]


def record_from_counts(hist256: np.ndarray, cells: np.ndarray, **kw: Any) -> Domain:
    """A domain record from the training images' exact band histograms and joint colour counts."""
    s = stats_from_histograms(hist256)
    return Domain(band_mean=s["mean"], band_std=s["std"], band_hist=s["hist"], colour_cells=seen_cells(cells), **kw)


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


class InputStats:
    """Statistics of an input gathered while predict reads and blends it (one pass, bounded memory).

    ``add_pixels`` takes the model's input windows (uint8, bands x h x w, after band mapping) with their
    valid-pixel mask; overlapping windows count their shared pixels more than once, which weights the
    statistics but does not bias them. ``add_confidence`` takes the blended max-probability of the final
    pixels (each counted once).
    """

    def __init__(self, bands: int) -> None:
        self.hist = np.zeros((bands, 256), np.int64)
        self.cells = np.zeros(COLOUR_LEVELS**3, np.int64)
        self.conf_sum = 0.0
        self.conf_low = 0
        self.conf_n = 0
        self.conf_hist = np.zeros(10, np.int64)

    def add_pixels(self, window: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Add a window's pixels (bands, H, W) to the band and colour histograms; ``valid`` masks nodata."""
        a = window.reshape(window.shape[0], -1)
        if valid is not None:
            a = a[:, valid.ravel()]
        for b in range(a.shape[0]):
            self.hist[b] += np.bincount(a[b], minlength=256)
        self.cells += colour_counts(a)

    def add_confidence(self, maxprob: np.ndarray) -> None:
        """Add the blended maximum probabilities of predicted pixels."""
        p = np.asarray(maxprob, np.float64).ravel()
        self.conf_sum += float(p.sum())
        self.conf_low += int((p < CONFIDENCE_LOW).sum())
        self.conf_n += p.size
        self.conf_hist += np.bincount(np.minimum((p * 10).astype(np.int64), 9), minlength=10)


def check_domain(domain: Domain, stats: InputStats, *, input_meaning: str, meaning_source: str,
                 input_pixel_size: float | None, band_map: list[int] | None) -> dict[str, Any]:
    """The measured figures and the warnings (one sentence each; empty when the input looks like the
    training data). Returns ``{"figures": {...}, "warnings": [...]}``."""
    warnings: list[str] = []
    fig: dict[str, Any] = {"model_band_meaning": domain.band_meaning, "input_band_meaning": input_meaning,
                           "input_band_meaning_from": meaning_source, "band_map": band_map,
                           "model_pixel_size": domain.pixel_size, "input_pixel_size": input_pixel_size,
                           "model_description": domain.description}
    if stats.hist.sum() > 0:
        s = stats_from_histograms(stats.hist)
        fig.update(input_mean=s["mean"], input_std=s["std"], input_hist=s["hist"])
        if domain.band_hist is not None:
            fig["band_distance"] = [round(wasserstein(p, q), 2) for p, q in zip(s["hist"], domain.band_hist)]
        if domain.colour_cells is not None:
            seen = np.zeros(COLOUR_LEVELS**3, bool)
            seen[domain.colour_cells] = True
            unseen = float(stats.cells[~seen].sum() / max(stats.cells.sum(), 1))
            fig.update(unseen_colour_share=round(unseen, 4), unseen_colour_threshold=UNSEEN_THRESHOLD)
            if unseen > UNSEEN_THRESHOLD:
                warnings.append(
                    f"{unseen:.0%} of the pixels have colours the model never saw in training (threshold "
                    f"{UNSEEN_THRESHOLD:.0%}; e.g. other bands such as near-infrared, or another sensor), so the map may "
                    "be wrong; check it, or adapt the model to this imagery (landseg train --init)")
    if stats.conf_n:
        mean_conf = stats.conf_sum / stats.conf_n
        low = stats.conf_low / stats.conf_n
        fig.update(mean_confidence=round(mean_conf, 4), low_confidence_share=round(low, 4),
                   low_confidence_below=CONFIDENCE_LOW, low_share_threshold=LOW_SHARE_THRESHOLD,
                   confidence_histogram=[int(x) for x in stats.conf_hist])
        if low > LOW_SHARE_THRESHOLD:
            warnings.append(f"the model is unsure on {low:.0%} of the pixels (max probability below "
                            f"{CONFIDENCE_LOW:g}; mean {mean_conf:.2f}; threshold {LOW_SHARE_THRESHOLD:.0%}), so the "
                            "map may be wrong there")
    if domain.pixel_size is not None and input_pixel_size is not None:
        f = input_pixel_size / domain.pixel_size
        fig["pixel_size_ratio"] = round(f, 4)
        if max(f, 1 / f) > PIXEL_SIZE_FACTOR:
            warnings.append(f"the input's pixels are {input_pixel_size:.3g} m but the model was trained on about "
                            f"{domain.pixel_size:g} m pixels ({max(f, 1 / f):.1f}x {'larger' if f > 1 else 'smaller'}; "
                            f"{domain.pixel_size_method}); objects look a different size to it")
    return {"figures": fig, "warnings": warnings}
