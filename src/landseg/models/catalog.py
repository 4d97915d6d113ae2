"""The named models of ``landseg train --model`` and ``landseg models``.

Names: the original U-Net presets ``small``, ``full``, ``tiny`` (also ``unet-small`` ...), and
``ENCODER-DECODER`` for the encoder-decoder family, e.g. ``effnet-lite0-unet``,
``effnet-lite0-former``, ``resnet34-unet``, ``plain-former``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from landseg.errors import ConfigError
from landseg.models.build import build_model
from landseg.models.pretrained import available_weights
from landseg.models.segmodel import DECODERS
from landseg.models.unet import PRESETS as UNET_PRESETS
from landseg.models.unet import count_parameters

ENCODER_NAMES = {
    "plain": "plain",
    "effnet-lite0": "efficientnet_lite0",
    "effnet-lite1": "efficientnet_lite1",
    "effnet-lite2": "efficientnet_lite2",
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
}
UNET_NAMES = {**{p: p for p in UNET_PRESETS}, **{f"unet-{p}": p for p in UNET_PRESETS}}
FAMILY_NAMES = {f"{e}-{d}": (enc, d) for e, enc in ENCODER_NAMES.items() for d in DECODERS}


def model_names() -> list[str]:
    """Every model name ``landseg train --model`` accepts."""
    return [*UNET_NAMES, *FAMILY_NAMES]


def check_model_name(name: str) -> None:
    """Raise :class:`ConfigError` for an unknown model name, suggesting the closest one."""
    if name not in UNET_NAMES and name not in FAMILY_NAMES:
        near = difflib.get_close_matches(str(name), model_names(), n=1)
        raise ConfigError(f"unknown model {name!r}" + (f"; did you mean {near[0]!r}?" if near else "")
                          + f" (available: {', '.join(model_names())}; see landseg models)")


def model_arch(name: str, in_channels: int, num_classes: int, width: int | None = None,
               depth: int | None = None) -> dict[str, Any]:
    """The architecture dict of a named model (``width``/``depth`` apply to the U-Net presets only)."""
    check_model_name(name)
    if name in UNET_NAMES:
        preset = UNET_PRESETS[UNET_NAMES[name]]
        return {"name": "unet", "in_channels": in_channels, "num_classes": num_classes,
                "width": width or preset["width"], "depth": depth or preset["depth"]}
    if width is not None or depth is not None:
        raise ConfigError(f"width and depth apply to the plain U-Net presets (small, full, tiny), not to {name}")
    encoder, decoder = FAMILY_NAMES[name]
    return {"name": "segmodel", "encoder": encoder, "decoder": decoder, "in_channels": in_channels,
            "num_classes": num_classes}


def model_multiple(name: str, depth: int | None = None) -> int:
    """Window sides must be multiples of this."""
    check_model_name(name)
    if name in UNET_NAMES:
        return 2 ** (depth or UNET_PRESETS[UNET_NAMES[name]]["depth"])
    return 32


def model_encoder(name: str) -> str | None:
    """The encoder of a family model (None for the U-Net presets)."""
    check_model_name(name)
    return FAMILY_NAMES[name][0] if name in FAMILY_NAMES else None


def count_flops(arch: dict[str, Any], window: int = 512) -> int:
    """FLOPs (2 x multiply-adds of convolutions and matrix products) of one ``window``² forward pass,
    counted on the meta device (no memory, no arithmetic)."""
    with torch.device("meta"):
        model = build_model(arch).eval()
        x = torch.empty(1, arch["in_channels"], window, window)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class ModelInfo:
    """One catalogue row: a model's architecture, parameter count, FLOPs and pretrained weights."""

    name: str
    arch: dict[str, Any]
    parameters: int
    flops: int
    weights: str


def describe_models(in_channels: int = 3, num_classes: int = 6, window: int = 512) -> list[ModelInfo]:
    """Every named model (U-Net aliases once) with parameters, FLOPs per window and weight source."""
    rows = []
    for name in [*UNET_PRESETS, *FAMILY_NAMES]:
        arch = model_arch(name, in_channels, num_classes)
        with torch.device("meta"):
            params = count_parameters(build_model(arch))
        encoder = arch.get("encoder", "plain")
        rows.append(ModelInfo(name, arch, params, count_flops(arch, window), available_weights(encoder)))
    return rows


def models_table(window: int = 512) -> str:
    """The catalogue as a text table (``landseg models``)."""
    rows = describe_models(window=window)
    lines = [f"{'model':<20} {'parameters':>11} {'GFLOPs/' + str(window) + '²':>13}  pretrained weights"]
    for r in rows:
        lines.append(f"{r.name:<20} {r.parameters / 1e6:>10.2f}M {r.flops / 1e9:>13.1f}  {r.weights}")
    lines.append("")
    lines.append("small/full/tiny are the original U-Net (also unet-small ...); the others are ENCODER-DECODER.")
    lines.append("FLOPs = 2 x multiply-adds of convolutions and matrix products, for 3 bands and 6 classes.")
    return "\n".join(lines)
