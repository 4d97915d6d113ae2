"""Torch datasets over prepared tiles: random training windows with D4 augmentation and jitter."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rasterio.windows import Window
from torch.utils.data import Dataset, Sampler

from landseg.data.windows import random_window
from landseg.io.raster import open_raster, read_window


class _Handles:
    """Open rasterio datasets cached per process (DataLoader workers each get their own)."""

    def __init__(self) -> None:
        self.pid = -1
        self.open: dict[str, Any] = {}

    def get(self, path: str):
        if self.pid != os.getpid():
            self.pid, self.open = os.getpid(), {}
        ds = self.open.get(path)
        if ds is None:
            ds = self.open[path] = open_raster(path)
        return ds


def d4(image: np.ndarray, label: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Apply D4 element ``k`` (0-7: rotation k%4 by 90°, flipped if k>=4) to (C,H,W) and (H,W)."""
    image = np.rot90(image, k % 4, axes=(1, 2))
    label = np.rot90(label, k % 4, axes=(0, 1))
    if k >= 4:
        image, label = image[:, :, ::-1], label[:, ::-1]
    return image, label


def jitter(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Random brightness, contrast, per-band gain and gamma, on a uint8 (C,H,W) image."""
    x = image.astype(np.float32) / 255.0
    c = x.shape[0]
    gamma = float(np.exp(rng.uniform(-0.4, 0.4) * strength))
    x = x**gamma
    gain = 1.0 + rng.uniform(-0.3, 0.3) * strength + rng.uniform(-0.08, 0.08, size=(c, 1, 1)) * strength
    mean = x.mean(axis=(1, 2), keepdims=True)
    contrast = 1.0 + rng.uniform(-0.3, 0.3) * strength
    x = (x - mean) * contrast + mean
    x = x * gain + rng.uniform(-0.1, 0.1) * strength
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


class RandomWindows(Dataset):
    """``length`` random windows per epoch from ``tiles``, each reproducible from (seed, epoch, index).

    Index ``i`` may run past ``length``: it is window ``i % length`` of epoch ``epoch + i // length``, so
    a :class:`WindowSampler` can move persistent DataLoader workers from epoch to epoch.

    Tiles are drawn in proportion to their area. Tiles smaller than the window are padded with
    zeros and the ignore label. ``scale`` draws a zoom factor (log-uniform) per window.

    With ``sparse`` (labels that cover little of the tiles, e.g. from polygons) tiles are drawn in proportion
    to their labelled pixels and each window is centred on a labelled pixel (drawn from a per-tile grid of
    labelled-pixel counts in 32x32 blocks, made once per worker), so few windows are all ignore.
    """

    def __init__(
        self,
        root: str | Path,
        tiles: Sequence[dict[str, Any]],
        window: int,
        length: int,
        *,
        label_key: str = "label",
        seed: int = 0,
        augment: bool = True,
        jitter_strength: float = 1.0,
        scale: tuple[float, float] = (1.0, 1.0),
        ignore_index: int = 255,
        rank: int = 0,
        world_size: int = 1,
        sparse: bool = False,
    ) -> None:
        self.root = Path(root)
        self.tiles = list(tiles)
        self.window, self.length = window, length
        self.label_key, self.seed, self.augment = label_key, seed, augment
        self.jitter_strength, self.scale = jitter_strength, scale
        self.ignore_index = ignore_index
        self.rank, self.world_size = rank, world_size
        areas = np.array([t["width"] * t["height"] for t in self.tiles], dtype=np.float64)
        self.sparse = sparse
        if sparse:
            areas = np.array([labelled_pixels(t, label_key) for t in self.tiles], dtype=np.float64) + 1e-9
        self.p = areas / areas.sum()
        self._blocks: dict[str, np.ndarray] = {}
        self.epoch = 0
        self._h = _Handles()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, i = divmod(int(i), self.length)
        rng = np.random.default_rng([self.seed, self.epoch + epoch, i * self.world_size + self.rank])
        t = self.tiles[int(rng.choice(len(self.tiles), p=self.p))]
        s = self.window
        zoom = float(np.exp(rng.uniform(np.log(self.scale[0]), np.log(self.scale[1])))) if self.augment else 1.0
        src = max(8, int(round(s * zoom)))
        if self.sparse:
            r, c = self._labelled_window(t, src, rng)
        else:
            r, c = random_window(t["height"], t["width"], src, rng)
        win = Window(c, r, min(src, t["width"]), min(src, t["height"]))
        img = read_window(self._h.get(str(self.root / t["files"]["image"])), win)
        lbl = read_window(self._h.get(str(self.root / t["files"][self.label_key])), win, indexes=1)
        if img.shape[1:] != (src, src):
            img = np.pad(img, ((0, 0), (0, src - img.shape[1]), (0, src - img.shape[2])))
            lbl = np.pad(lbl, ((0, src - lbl.shape[0]), (0, src - lbl.shape[1])), constant_values=self.ignore_index)
        if self.augment:
            img, lbl = d4(img, lbl, int(rng.integers(8)))
            if self.jitter_strength > 0:
                img = jitter(img, rng, self.jitter_strength)
        x = torch.from_numpy(np.ascontiguousarray(img))
        y = torch.from_numpy(np.ascontiguousarray(lbl))
        if src != s:
            x = torch.nn.functional.interpolate(x[None].float(), size=(s, s), mode="bilinear", align_corners=False,
                                                antialias=src > s)[0].round().clamp(0, 255).to(torch.uint8)
            y = torch.nn.functional.interpolate(y[None, None].float(), size=(s, s), mode="nearest")[0, 0].to(torch.uint8)
        return x, y.long()


    def _labelled_window(self, t: dict[str, Any], size: int, rng: np.random.Generator) -> tuple[int, int]:
        """A window of ``size`` centred on a random labelled pixel of tile ``t`` (clamped to the tile)."""
        blocks = self._blocks.get(t["id"])
        if blocks is None:
            blocks = self._blocks[t["id"]] = label_blocks(self._h.get(str(self.root / t["files"][self.label_key])),
                                                          self.ignore_index)
        flat = blocks.ravel().astype(np.float64)
        if flat.sum() == 0:
            return random_window(t["height"], t["width"], size, rng)
        k = int(rng.choice(flat.size, p=flat / flat.sum()))
        by, bx = divmod(k, blocks.shape[1])
        y = min(by * BLOCK + int(rng.integers(BLOCK)), t["height"] - 1)
        x = min(bx * BLOCK + int(rng.integers(BLOCK)), t["width"] - 1)
        r = int(np.clip(y - size // 2, 0, max(t["height"] - size, 0)))
        c = int(np.clip(x - size // 2, 0, max(t["width"] - size, 0)))
        return r, c


BLOCK = 32


def labelled_pixels(tile: dict[str, Any], label_key: str = "label") -> int:
    """Labelled (not ignore) pixels of a prepared tile, from its manifest record."""
    return int(sum((tile.get("class_counts") or {}).get(label_key, [])))


def labelled_share(tiles: Sequence[dict[str, Any]], label_key: str = "label") -> float:
    """Share of the tiles' pixels that are labelled."""
    total = sum(t["width"] * t["height"] for t in tiles)
    return sum(labelled_pixels(t, label_key) for t in tiles) / max(total, 1)


def label_blocks(ds: Any, ignore: int) -> np.ndarray:
    """Labelled-pixel counts per BLOCK x BLOCK block of a label raster, read strip by strip."""
    nby, nbx = -(-ds.height // BLOCK), -(-ds.width // BLOCK)
    out = np.zeros((nby, nbx), np.int64)
    for by in range(0, nby, 16):
        r0 = by * BLOCK
        h = min(16 * BLOCK, ds.height - r0)
        a = ds.read(1, window=Window(0, r0, ds.width, h)) != ignore
        a = np.pad(a, ((0, -(-h // BLOCK) * BLOCK - h), (0, nbx * BLOCK - ds.width)))
        out[by: by + a.shape[0] // BLOCK] = a.reshape(a.shape[0] // BLOCK, BLOCK, nbx, BLOCK).sum(axis=(1, 3))
    return out


class WindowSampler(Sampler[int]):
    """Indices ``epoch * length + start ... epoch * length + length - 1`` into a :class:`RandomWindows`.

    Set ``epoch`` (and ``start``, to resume mid-epoch) before each pass over the DataLoader; the sampler
    runs in the main process, so persistent workers draw the new epoch's windows without being restarted.
    """

    def __init__(self, length: int) -> None:
        self.length, self.epoch, self.start = length, 0, 0

    def __len__(self) -> int:
        return self.length - self.start

    def __iter__(self) -> Iterator[int]:
        base = self.epoch * self.length
        return iter(range(base + self.start, base + self.length))
