"""The encoder-decoder family: encoder -> decoder -> head, described by a plain dict.

``{"name": "segmodel", "encoder": "efficientnet_lite0", "decoder": "unet", "in_channels": 3,
"num_classes": 6, "encoder_width": 16, "decoder_width": 16, "window": 8}`` rebuilds the same
network anywhere; checkpoints store it, so a saved model never needs the pretrained weight files.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from landseg.errors import ConfigError
from landseg.models.decoders import SegmentationHead, UNetDecoder
from landseg.models.efficientnet import VARIANTS as EFFICIENTNETS
from landseg.models.efficientnet import EfficientNetLiteEncoder
from landseg.models.former import FormerDecoder
from landseg.models.plain import PlainEncoder
from landseg.models.resnet import VARIANTS as RESNETS
from landseg.models.resnet import ResNetEncoder

ENCODERS: tuple[str, ...] = ("plain", *EFFICIENTNETS, *RESNETS)
DECODERS: tuple[str, ...] = ("unet", "former")
DEFAULT_DECODER_WIDTH = {"unet": 16, "former": 64}
MAX_IN_CHANNELS, MAX_CLASSES = 64, 255


@dataclass(frozen=True)
class SegModelConfig:
    """An encoder/decoder model's description (the checkpoint's ``arch`` with name ``segmodel``)."""

    encoder: str
    decoder: str = "unet"
    in_channels: int = 3
    num_classes: int = 6
    encoder_width: int = 16      # the plain encoder's first width (ignored by pretrained encoders)
    decoder_width: int = 0       # 0: the decoder's default (unet 16: channels 256..16; former 64)
    window: int = 8              # attention window of the former decoder

    def __post_init__(self) -> None:
        def near(value: str, valid: tuple[str, ...]) -> str:
            m = difflib.get_close_matches(value, valid, n=1)
            return (f"; did you mean {m[0]!r}?" if m else "") + f" (valid: {', '.join(valid)})"

        if self.encoder not in ENCODERS:
            raise ConfigError(f"unknown encoder {self.encoder!r}{near(str(self.encoder), ENCODERS)}")
        if self.decoder not in DECODERS:
            raise ConfigError(f"unknown decoder {self.decoder!r}{near(str(self.decoder), DECODERS)}")
        bounds = {"in_channels": (1, MAX_IN_CHANNELS), "num_classes": (2, MAX_CLASSES), "encoder_width": (4, 64),
                  "decoder_width": (0, 64 if self.decoder == "unet" else 512), "window": (2, 32)}
        for key, (lo, hi) in bounds.items():
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ConfigError(f"{key} must be an integer in [{lo}, {hi}], got {v!r}")
        if self.decoder_width and self.decoder_width < 4:
            raise ConfigError(f"decoder_width must be 0 (default) or at least 4, got {self.decoder_width}")

    @classmethod
    def from_dict(cls, arch: dict[str, Any]) -> SegModelConfig:
        """Validate an ``arch`` mapping; unknown keys or values raise :class:`ConfigError`."""
        arch = {k: v for k, v in arch.items() if k != "name"}
        valid = [f.name for f in fields(cls)]
        for k in arch:
            if k not in valid:
                raise ConfigError(f"unknown segmodel key {k!r} (valid: {', '.join(valid)})")
        if "encoder" not in arch:
            raise ConfigError(f"a segmodel needs an encoder (valid: {', '.join(ENCODERS)})")
        return cls(**arch)

    def to_dict(self) -> dict[str, Any]:
        """The ``arch`` mapping stored in checkpoints."""
        return {"name": "segmodel", **asdict(self)}


def make_encoder(cfg: SegModelConfig) -> nn.Module:
    """The encoder named by ``cfg`` (plain, EfficientNet-Lite or ResNet)."""
    if cfg.encoder == "plain":
        return PlainEncoder(cfg.in_channels, cfg.encoder_width)
    if cfg.encoder in EFFICIENTNETS:
        return EfficientNetLiteEncoder(cfg.encoder, cfg.in_channels)
    return ResNetEncoder(cfg.encoder, cfg.in_channels)


DECODER_BUILDERS: dict[str, Callable[[list[int], SegModelConfig], nn.Module]] = {
    "unet": lambda ch, cfg: UNetDecoder(ch, cfg.decoder_width or DEFAULT_DECODER_WIDTH["unet"]),
    "former": lambda ch, cfg: FormerDecoder(ch, cfg.decoder_width or DEFAULT_DECODER_WIDTH["former"], cfg.window),
}


class SegModel(nn.Module):
    """Encoder (features at strides 2-32) -> decoder -> head (logits at the input resolution)."""

    multiple = 32

    def __init__(self, cfg: SegModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = make_encoder(cfg)
        self.decoder = DECODER_BUILDERS[cfg.decoder](list(self.encoder.out_channels), cfg)
        self.head = SegmentationHead(self.decoder.out_channels, cfg.num_classes, self.decoder.stride)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`ConfigError` for a tensor of the wrong shape or band count."""
        c = self.cfg.in_channels
        if x.ndim != 4:
            raise ConfigError(f"the model needs a (batch, {c}, H, W) tensor, got shape {tuple(x.shape)}")
        if x.shape[1] != c:
            raise ConfigError(f"the model needs {c} input bands, got {x.shape[1]}")
        if x.shape[2] % self.multiple or x.shape[3] % self.multiple:
            raise ConfigError(f"the model needs H and W divisible by {self.multiple}, got {x.shape[2]}x{x.shape[3]}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of a normalised (N, bands, H, W) batch."""
        if not torch.jit.is_tracing() and not torch.compiler.is_compiling():
            self.check_input(x)
        return self.head(self.decoder(self.encoder(x)))
