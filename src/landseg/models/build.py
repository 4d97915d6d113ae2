"""One entry point from a checkpoint's architecture description to a module."""

from __future__ import annotations

from typing import Any

from torch import nn

from landseg.errors import ConfigError
from landseg.models import unet
from landseg.models.segmodel import SegModel, SegModelConfig

ARCHITECTURES = ("unet", "segmodel", "smp-<encoder>")


def build_model(arch: dict[str, Any]) -> nn.Module:
    """``{'name': 'unet', ...}`` (the original U-Net), ``{'name': 'segmodel', 'encoder': ..., ...}``."""
    if not isinstance(arch, dict):
        raise ConfigError(f"an architecture is a mapping with a 'name', got {arch!r}")
    name = arch.get("name", "unet")
    if name == "segmodel":
        return SegModel(SegModelConfig.from_dict(arch))
    if name == "unet" or str(name).startswith("smp-"):
        return unet.build_model(arch)
    raise ConfigError(f"unknown architecture {name!r}; available: {', '.join(ARCHITECTURES)}")
