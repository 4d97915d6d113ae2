"""The one driver of sliding-window inference: windows over a raster, blocks of predictions into a writer.

:func:`run_windows` counts the windows, shows the progress (a tqdm bar and/or a callback), runs
:func:`~landseg.inference.sliding.sliding_window` (reader thread -> model -> this thread) and hands each finished
:class:`~landseg.inference.sliding.Block` to ``write`` in a writer thread
(:func:`~landseg.inference.sliding.write_blocks`). ``landseg predict`` (and its mosaics), ``landseg evaluate`` and
training validation all predict through it; they differ only in what they read and what ``write`` does with a block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.windows import Window
from tqdm import tqdm

from landseg.inference.sliding import Block, ReadFn, Region, count_windows, sliding_window, write_blocks
from landseg.io.raster import read_window


@dataclass
class RunOptions:
    """How :func:`run_windows` slides over a raster, and how it reports progress."""

    window: int = 512
    overlap: int = 128
    batch_size: int = 4
    chunk_width: int = 8192  # widest column chunk held in memory at once (see sliding_window)
    want_probs: bool = False  # blocks carry blended probabilities (Block.probs)
    region: Region | None = None  # (row0, col0, row1, col1): predict only these pixels, with the whole grid's windows
    progress: bool = False  # a tqdm bar of windows
    desc: str = ""  # the bar's label
    on_progress: Callable[[int, int], None] | None = None  # (windows done, windows total), e.g. for a web UI
    writer_name: str = "landseg-writer"  # the writer thread's name


def raster_reader(ds: rasterio.DatasetReader) -> ReadFn:
    """The read function of an open raster: (row, col, height, width) -> its (bands, h, w) pixels."""

    def read(r: int, c: int, h: int, w: int) -> np.ndarray:
        return read_window(ds, Window(c, r, w, h))

    return read


def run_windows(read: ReadFn, height: int, width: int, model: Callable[[np.ndarray], np.ndarray], num_classes: int,
                write: Callable[[Block], None], opts: RunOptions) -> int:
    """Predict a ``height`` x ``width`` raster read by ``read`` with ``model`` window by window, handing each block
    of final predictions to ``write`` (in a writer thread); returns the number of windows run."""
    n_windows = count_windows(height, width, opts.window, opts.overlap, opts.chunk_width, opts.region)
    bar = tqdm(total=n_windows, desc=opts.desc, unit="win", disable=not opts.progress or None, leave=False)
    done = [0]

    def tick(n: int) -> None:
        bar.update(n)
        if opts.on_progress is not None:
            done[0] += n
            opts.on_progress(done[0], n_windows)

    if opts.on_progress is not None:
        opts.on_progress(0, n_windows)
    try:
        write_blocks(sliding_window(read, height, width, model, num_classes, window=opts.window, overlap=opts.overlap,
                                    batch_size=opts.batch_size, chunk_width=opts.chunk_width,
                                    want_probs=opts.want_probs, progress=tick, region=opts.region),
                     write, name=opts.writer_name)
    finally:
        bar.close()
    return n_windows
