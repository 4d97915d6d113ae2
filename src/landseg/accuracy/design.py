"""Stratified random sampling of a class map: allocation, then pixel draws in bounded memory.

Allocation follows Olofsson et al. (2014, section 5.1.1): proportional to the strata's mapped
area, with a floor of ``min_per_class`` units for every stratum, so rare classes get enough points
for their user's accuracy (and the error-adjusted area of classes they hide) to be estimable.

Drawing never holds the raster: a first pass counts the strata, then for each stratum ``n_h``
distinct occurrence ranks in ``[0, N_h)`` are drawn (Floyd's algorithm inside numpy's
``Generator.choice``: memory in the sample size, not in ``N_h``), and a second pass over the same
strips turns the ranks into pixel positions. Ranks are counted in raster order, so the draw does
not depend on the strip height.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

DEFAULT_MIN_PER_CLASS = 50


def allocate(stratum_sizes: np.ndarray, n: int, min_per_class: int | None = None) -> np.ndarray:
    """Sample units per stratum: proportional to ``stratum_sizes`` with a floor per stratum.

    The floor is ``min_per_class`` (default 50), lowered to ``n // strata`` when the floors alone
    would exceed ``n``; no stratum gets more units than it has pixels; empty strata get none. The
    result sums to ``min(n, total pixels)``; rounding is by largest remainder, ties to the lower index.
    """
    size = np.asarray(stratum_sizes, dtype=np.float64)
    live = size > 0
    if n < 1:
        raise ValueError(f"the sample size must be at least 1, got {n}")
    k = int(live.sum())
    if k == 0:
        return np.zeros(size.shape, dtype=np.int64)
    n = int(min(n, size.sum()))
    floor = DEFAULT_MIN_PER_CLASS if min_per_class is None else int(min_per_class)
    floor = min(max(floor, 0), n // k)
    cap = size.astype(np.int64)
    fixed = np.zeros(size.shape, dtype=bool)  # strata pinned to their floor or their cap
    alloc = np.zeros(size.shape, dtype=np.float64)
    for _ in range(2 * len(size) + 1):
        alloc[fixed] = np.minimum(np.maximum(alloc[fixed], 0), cap[fixed])
        free = live & ~fixed
        rest = n - alloc[fixed].sum()
        alloc[free] = rest * size[free] / size[free].sum() if free.any() else 0.0
        low = free & (alloc < np.minimum(floor, cap))
        high = free & (alloc > cap)
        if not (low.any() or high.any()):
            break
        alloc[low] = np.minimum(floor, cap[low])
        alloc[high] = cap[high]
        fixed |= low | high
    return _round_to_total(alloc, n, cap)


def allocation_notes(stratum_sizes: np.ndarray, n: int, min_per_class: int | None, allocation: np.ndarray,
                     names: list[str]) -> list[str]:
    """What the user should know about an allocation: a per-class floor that could not be met, and why."""
    size = np.asarray(stratum_sizes, dtype=np.int64)
    alloc = np.asarray(allocation, dtype=np.int64)
    live = size > 0
    k = int(live.sum())
    floor = DEFAULT_MIN_PER_CLASS if min_per_class is None else int(min_per_class)
    if k == 0 or floor <= 0:
        return []
    opt = "the default --min-per-class" if min_per_class is None else "--min-per-class"
    notes = []
    short = live & (alloc < floor) & (size >= floor)
    if short.any():
        got = alloc[short]
        span = f"{got.min()}" if got.min() == got.max() else f"{got.min()}-{got.max()}"
        notes.append(f"{opt} {floor} cannot be met: {int(alloc.sum())} points over {k} mapped classes; "
                     f"{int(short.sum())} classes get only {span} points each ({', '.join(np.array(names)[short])}); "
                     f"draw at least {floor * k} points (--n) to give every class {floor}")
    tiny = live & (size < floor)
    if tiny.any():
        notes.append(f"{int(tiny.sum())} mapped classes hold fewer pixels than {opt} {floor}, so all their pixels "
                     "are drawn: " + ", ".join(f"{names[i]} ({int(size[i])} px)" for i in np.nonzero(tiny)[0]))
    return notes


def _round_to_total(alloc: np.ndarray, n: int, cap: np.ndarray) -> np.ndarray:
    out = np.floor(alloc + 1e-9).astype(np.int64)
    short = n - int(out.sum())
    order = np.argsort(-(alloc - out), kind="stable")
    for i in order:
        if short <= 0:
            break
        if out[i] < cap[i]:
            out[i] += 1
            short -= 1
    return out


def draw_ranks(stratum_sizes: np.ndarray, allocation: np.ndarray, seed: int) -> list[np.ndarray]:
    """For each stratum, ``allocation[h]`` distinct sorted occurrence ranks in ``[0, size[h])``."""
    rng = np.random.default_rng(seed)
    out = []
    for size, k in zip(np.asarray(stratum_sizes, dtype=np.int64), np.asarray(allocation, dtype=np.int64)):
        if k <= 0:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        out.append(np.sort(rng.choice(int(size), size=int(k), replace=False, shuffle=False)).astype(np.int64))
    return out


def locate_ranks(strips: Iterable[tuple[int, np.ndarray]], ranks: list[np.ndarray]) -> Iterator[tuple[int, int, int]]:
    """Turn occurrence ranks into pixels: yields ``(stratum, row, col)`` in raster order per strip.

    ``strips`` yields ``(row_offset, class indices of full-width rows)`` in raster order, the same
    strips that were counted; pixel ``k`` of stratum h in raster order has rank k.
    """
    seen = np.zeros(len(ranks), dtype=np.int64)
    pos = np.zeros(len(ranks), dtype=np.int64)  # next rank to place per stratum
    for row_off, cls in strips:
        width = cls.shape[1]
        flat = cls.ravel()
        counts = np.bincount(flat, minlength=256)[: len(ranks)]
        for h, r in enumerate(ranks):
            end = seen[h] + counts[h]
            stop = int(np.searchsorted(r, end))
            if stop > pos[h]:
                where = np.flatnonzero(flat == h)[r[pos[h]:stop] - seen[h]]
                for p in where:
                    yield h, row_off + int(p) // width, int(p) % width
                pos[h] = stop
            seen[h] = end


def count_strata(strips: Iterable[tuple[int, np.ndarray]], k: int) -> np.ndarray:
    """Pixels per class index ``0..k-1`` over ``strips`` (ignore/nodata 255 left out)."""
    total = np.zeros(256, dtype=np.int64)
    for _, cls in strips:
        total += np.bincount(cls.ravel(), minlength=256)
    return total[:k]


StripSource = Callable[[], Iterator[tuple[int, np.ndarray]]]
