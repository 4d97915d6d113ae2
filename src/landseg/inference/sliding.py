"""Sliding-window inference with smooth blending, in bounded memory.

The raster is virtually padded by ``overlap // 2`` pixels of reflection on every side, so edge
pixels see context, and covered by a regular grid of ``window``-sized windows with ``overlap``
(the last row/column aligned to the end: no pixel dropped). Each window's class probabilities are
weighted by a separable raised-cosine window and summed; a pixel's class is the argmax of the sum.

Memory: output columns are processed in chunks of at most ``chunk_width`` pixels, top to bottom.
Only a band of ``classes x window x chunk`` accumulators is alive; rows are emitted as soon as no
later window touches them. Windows that straddle two chunks are computed for each (exactly the
same result as one pass over the whole width).

Reading, model compute and emitting run in three threads (reader -> model -> writer queues), so
I/O overlaps compute.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import numpy as np

from landseg.data.windows import axis_starts
from landseg.errors import ConfigError

ReadFn = Callable[[int, int, int, int], np.ndarray]  # (row, col, height, width) -> (bands, h, w) uint8


@dataclass
class Block:
    """Final predictions for raster rows [row, row+h) and columns [col, col+w)."""

    row: int
    col: int
    classes: np.ndarray  # (h, w) uint8
    probs: np.ndarray | None  # (classes, h, w) float32 in [0, 1], if requested


def blend_weights(size: int) -> np.ndarray:
    """Separable raised-cosine weights, strictly positive (edge pixels of a lone window still count)."""
    w = np.sin(np.pi * (np.arange(size) + 0.5) / size) ** 2
    w = np.maximum(w, 1e-3).astype(np.float32)
    return np.outer(w, w)


def read_padded(read: ReadFn, height: int, width: int, r: int, c: int, size: int) -> np.ndarray:
    """Window at raster offset (r, c) (may be negative / past the end) filled by reflection."""
    r0, c0 = max(r, 0), max(c, 0)
    r1, c1 = min(r + size, height), min(c + size, width)
    data = read(r0, c0, r1 - r0, c1 - c0)
    pads = ((0, 0), (r0 - r, r + size - r1), (c0 - c, c + size - c1))
    if any(p for pair in pads for p in pair):
        small = min(data.shape[1], data.shape[2]) < 2
        data = np.pad(data, pads, mode="symmetric" if small else "reflect")
    return data


def check_window(window: int, overlap: int, batch_size: int = 1) -> None:
    """Validate sliding-window options; raises :class:`ConfigError` naming the option and its valid range."""
    if window % 32 or window < 32:
        raise ConfigError(f"--window must be a positive multiple of 32, got {window}")
    if not 0 <= overlap < window:
        raise ConfigError(f"--overlap must be between 0 and the window size ({window}), got {overlap}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")


def fitted_window(height: int, width: int, window: int, overlap: int) -> tuple[int, int]:
    """The (window, overlap) slid over a ``height`` x ``width`` raster: the given ones, or, for a raster that one
    window of the given size holds, one window of the smallest multiple of 32 that holds it, its margin only the
    rounding up to 32. A 224-pixel patch is then read as one 224-pixel window, as training saw it, instead of being
    mirrored out to 512 pixels, mirrored copies that the model takes for real surroundings: on 100 Vaihingen
    patches that padding cost 0.03 building IoU (BENCHMARKS.md, "Ten minutes on 50 Vaihingen patches")."""
    size = max(height, width)
    fitted = -(-size // 32) * 32
    if fitted > window:
        return window, overlap
    return fitted, fitted - size


Region = tuple[int, int, int, int]  # (row0, col0, row1, col1) of the raster, end exclusive


def plan(height: int, width: int, window: int, overlap: int, chunk_width: int = 8192, region: Region | None = None):
    """Window rows/columns (virtual, padded coordinates), the margin and the column chunks.

    With ``region`` the chunks cover only its columns (each with the windows of the full raster's grid
    that touch it); :func:`region_rows` gives the window rows that touch its rows.
    """
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in [0, window), got {overlap} for window {window}")
    m = overlap // 2
    stride = window - overlap
    rows = axis_starts(height + 2 * m, window, stride)
    cols = axis_starts(width + 2 * m, window, stride)
    chunk_width = max(chunk_width, window)
    _, rx0, _, rx1 = region or (0, 0, height, width)
    chunks = []
    for x0 in range(rx0, rx1, chunk_width):
        x1 = min(x0 + chunk_width, rx1)
        cc = [c for c in cols if c < x1 + m and c + window > x0 + m]
        chunks.append((x0, x1, cc))
    return m, rows, chunks


def region_rows(rows: list[int], m: int, window: int, height: int, region: Region | None) -> list[int]:
    """Indexes of the window rows (starts ``rows``, margin ``m``) that touch the region's rows (all without one)."""
    y0, _, y1, _ = region or (0, 0, height, 0)
    return [i for i, r in enumerate(rows) if r < y1 + m and r + window > y0 + m]


def check_region(height: int, width: int, region: Region | None) -> None:
    """Raise :class:`ValueError` unless ``region`` (if any) lies inside the ``height`` x ``width`` raster."""
    if region is not None:
        y0, x0, y1, x1 = region
        if not (0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
            raise ValueError(f"region {region} is not inside the {height}x{width} raster")


def count_windows(height: int, width: int, window: int, overlap: int, chunk_width: int = 8192,
                  region: Region | None = None) -> int:
    """How many windows :func:`sliding_window` runs for these options (the progress total)."""
    window, overlap = fitted_window(height, width, window, overlap)
    m, rows, chunks = plan(height, width, window, overlap, chunk_width, region)
    return len(region_rows(rows, m, window, height, region)) * sum(len(cc) for _, _, cc in chunks)


_END = object()


def prefetched(items: Iterable[Any], size: int, name: str = "landseg-reader") -> Generator[Any, None, None]:
    """``items`` produced in a reader thread at most ``size`` ahead of the consumer (so reading overlaps the
    model); an error in the reader is raised here once the items before it are consumed."""
    q_in: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            it = iter(items)
            while not stop.is_set():
                item = next(it, _END)
                if item is _END:
                    return
                q_in.put(item)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            errors.append(exc)
        finally:
            q_in.put(_END)

    th = threading.Thread(target=reader, name=name, daemon=True)
    th.start()
    try:
        while (item := q_in.get()) is not _END:
            yield item
        if errors:
            raise errors[0]
    finally:
        stop.set()
        while th.is_alive():
            try:
                q_in.get(timeout=0.05)
            except queue.Empty:
                pass
        th.join()


class _Band:
    """The accumulators of one column chunk: summed weighted probabilities (and weights) of a window-high band
    of rows, whose finished top rows are emitted and shifted out as the window rows go down."""

    def __init__(self, num_classes: int, window: int, cols: list[int], want_probs: bool):
        self.x0 = cols[0]
        width = cols[-1] + window - self.x0
        self.window = window
        self.acc = np.zeros((num_classes, window, width), np.float32)
        self.wsum = np.zeros((window, width), np.float32) if want_probs else None

    def add(self, probs: np.ndarray, weights: np.ndarray, col: int) -> None:
        """Add one window's probabilities (weighted) at its column ``col``."""
        c = col - self.x0
        self.acc[:, :, c : c + self.window] += probs * weights
        if self.wsum is not None:
            self.wsum[:, c : c + self.window] += weights

    def emit(self, rows: slice, cols: slice, raster_row: int, raster_col: int) -> Block:
        """The final block of band rows ``rows`` and band columns ``cols``, at raster (row, col)."""
        sl = self.acc[:, rows, cols]
        block_probs = None if self.wsum is None else sl / self.wsum[rows, cols]
        return Block(raster_row, raster_col, sl.argmax(axis=0).astype(np.uint8), block_probs)

    def shift(self, n: int) -> None:
        """Drop the band's top ``n`` rows (done) and clear the rows that come in at the bottom."""
        keep = max(self.window - n, 0)
        if n < self.window:
            self.acc[:, :keep] = self.acc[:, n:]
            if self.wsum is not None:
                self.wsum[:keep] = self.wsum[n:]
        self.acc[:, keep:] = 0
        if self.wsum is not None:
            self.wsum[keep:] = 0


def sliding_window(
    read: ReadFn,
    height: int,
    width: int,
    model: Callable[[np.ndarray], np.ndarray],
    num_classes: int,
    *,
    window: int = 512,
    overlap: int = 128,
    batch_size: int = 4,
    chunk_width: int = 8192,
    want_probs: bool = False,
    progress: Callable[[int], None] | None = None,
    prefetch: int = 2,
    region: Region | None = None,
) -> Iterator[Block]:
    """Yield :class:`Block` s of final predictions covering the raster exactly once (windows of
    :func:`fitted_window`: a raster that one window holds is read in one window of its own size).

    With ``region`` (row0, col0, row1, col1) only the windows of the whole raster's grid that touch the
    region are computed and only its pixels are yielded (raster coordinates): each pixel sums the same
    windows, in the same order, as in the whole-raster run, so a raster cut into regions (tiles of a
    mosaic, one per worker) is predicted exactly as in one piece.
    """
    check_region(height, width, region)
    window, overlap = fitted_window(height, width, window, overlap)
    m, rows, chunks = plan(height, width, window, overlap, chunk_width, region)
    weights = blend_weights(window)
    y0, _, y1, _ = region or (0, 0, height, width)
    row_ids = region_rows(rows, m, window, height, region)
    tasks = [(ci, ri, rows[ri], c) for ci, (_, _, cc) in enumerate(chunks) for ri in row_ids for c in cc]
    batches = ((batch, np.stack([read_padded(read, height, width, r - m, c - m, window) for _, _, r, c in batch]))
               for batch in (tasks[i : i + batch_size] for i in range(0, len(tasks), batch_size)))
    band: _Band  # of the current column chunk, made with its first window
    key: tuple[int, int] | None = None
    remaining = 0
    with closing(prefetched(batches, prefetch)) as items:
        for batch, arr in items:
            for (ci, ri, r, c), p in zip(batch, model(arr)):
                x0, x1, cc = chunks[ci]
                if key != (ci, ri):
                    if key is None or key[0] != ci:
                        band = _Band(num_classes, window, cc, want_probs)
                    key, remaining = (ci, ri), len(cc)
                band.add(p, weights, c)
                remaining -= 1
                if progress:
                    progress(1)
                if remaining == 0:  # window row done: rows [r, next_r) are final
                    next_r = rows[ri + 1] if ri + 1 < len(rows) else height + 2 * m
                    rr0, rr1 = max(r, m, y0 + m), min(next_r, height + m, y1 + m)  # raster rows + m
                    if rr1 > rr0:
                        yield band.emit(slice(rr0 - r, rr1 - r), slice(x0 + m - band.x0, x1 + m - band.x0),
                                        rr0 - m, x0)
                    band.shift(next_r - r)


def write_blocks(blocks: Iterable[Block], write: Callable[[Block], None], *, maxsize: int = 4,
                 name: str = "landseg-writer") -> None:
    """Hand each block to ``write`` in a writer thread (bounded queue of ``maxsize``), so writing
    overlaps the model; an error in ``write`` stops the blocks and is raised here."""
    q: queue.Queue = queue.Queue(maxsize=maxsize)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while (blk := q.get()) is not None:
                write(blk)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)
            while q.get() is not None:
                pass

    th = threading.Thread(target=writer, name=name, daemon=True)
    th.start()
    try:
        for blk in blocks:
            q.put(blk)
            if errors:
                break
    finally:
        q.put(None)
        th.join()
        close = getattr(blocks, "close", None)
        if close is not None:  # a generator left early: let it stop its own threads now
            close()
    if errors:
        raise errors[0]


def predict_array(image: np.ndarray, model: Callable[[np.ndarray], np.ndarray], num_classes: int, **kw) -> np.ndarray:
    """Class map of an in-memory (bands, H, W) image with the same engine as rasters."""
    _, h, w = image.shape
    out = np.empty((h, w), np.uint8)

    def read(r: int, c: int, hh: int, ww: int) -> np.ndarray:
        return image[:, r : r + hh, c : c + ww]

    for b in sliding_window(read, h, w, model, num_classes, **kw):
        out[b.row : b.row + b.classes.shape[0], b.col : b.col + b.classes.shape[1]] = b.classes
    return out
