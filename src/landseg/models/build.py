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
        return unet.build_unet(arch)
    raise ConfigError(f"unknown architecture {name!r}; available: {', '.join(ARCHITECTURES)}")


def check_arch(arch: Any) -> dict[str, Any]:
    """Validate any architecture description before anything is allocated; raises :class:`ConfigError`.

    U-Nets are bounded by :func:`landseg.models.unet.check_unet_arch` (parameter count computed without
    building); family models by :class:`SegModelConfig` (named encoder/decoder, bounded widths).
    Returns the description with its ``in_channels`` and ``num_classes``.
    """
    if not isinstance(arch, dict):
        raise ConfigError(f"the architecture must be a mapping, got {type(arch).__name__}")
    if arch.get("name") == "segmodel":
        return {**SegModelConfig.from_dict(arch).to_dict(), "name": "segmodel"}
    return unet.check_unet_arch(arch)
