"""A scene and a model that give several classes, for the web app's tests (a random model gives one class)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def scene(flip: bool = False) -> np.ndarray:
    """Four coloured quadrants with a texture: enough for a random model to give several classes
    (``flip``: the quadrants turned by 180 degrees, a second date with change everywhere)."""
    img = np.zeros((3, 128, 128), np.int32)
    for (r, c), colour in zip([(0, 0), (0, 64), (64, 0), (64, 64)], [(230, 40, 40), (40, 200, 60), (30, 30, 220), (250, 250, 250)]):
        img[:, r : r + 64, c : c + 64] = np.array(colour)[:, None, None]
    yy, xx = np.mgrid[:128, :128]
    out = (img + (xx * 7 + yy * 3) % 40 - 20).clip(0, 255).astype(np.uint8)
    return out[:, ::-1, ::-1].copy() if flip else out


def varied_checkpoint(path: Path, image: np.ndarray) -> Path:
    """A random tiny U-Net whose batch-norm statistics are fitted to ``image`` (so its output varies)."""
    import torch

    from landseg.classes import ISPRS
    from landseg.models.build import build_model
    from landseg.models.checkpoint import Checkpoint, save_checkpoint

    torch.manual_seed(0)
    arch = {"name": "unet", "in_channels": 3, "num_classes": ISPRS.num_classes, "width": 4, "depth": 3}
    model = build_model(arch).train()
    x = (torch.from_numpy(image).float()[None] - 120.0) / 50.0
    with torch.no_grad():
        for _ in range(30):
            model(x)
    save_checkpoint(Checkpoint(arch=arch, class_table=ISPRS, bands=["red", "green", "blue"], mean=[120.0] * 3,
                               std=[50.0] * 3, pixel_size=None, state_dict=model.state_dict()), path)
    return path
