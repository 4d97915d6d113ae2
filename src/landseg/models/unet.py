"""U-Net (Ronneberger et al. 2015) with 'same' padding and batch norm."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from landseg.errors import ConfigError


@dataclass(frozen=True)
class UNetConfig:
    """A U-Net's description: bands, classes, width of the first level and depth."""

    in_channels: int = 3
    num_classes: int = 6
    width: int = 32
    depth: int = 4

    def to_dict(self) -> dict[str, Any]:
        """The ``arch`` mapping stored in checkpoints."""
        return {"name": "unet", **asdict(self)}


PRESETS = {
    "full": {"width": 64, "depth": 4},   # the paper's model, ~31M parameters
    "small": {"width": 16, "depth": 4},  # CPU-sized, ~1.9M parameters
    "tiny": {"width": 8, "depth": 3},    # for tests
}


def conv_block(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 conv-BN-ReLU layers."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Encoder (conv blocks + max-pool) -> bottleneck -> decoder (transposed conv + skip) -> 1x1 head."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        if cfg.depth < 1 or cfg.width < 1 or cfg.in_channels < 1 or cfg.num_classes < 2:
            raise ConfigError(f"invalid U-Net configuration {cfg}")
        self.cfg = cfg
        widths = [cfg.width * 2**i for i in range(cfg.depth + 1)]
        self.down = nn.ModuleList()
        cin = cfg.in_channels
        for w in widths[:-1]:
            self.down.append(conv_block(cin, w))
            cin = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = conv_block(widths[-2], widths[-1])
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for w_hi, w_lo in zip(widths[:0:-1], widths[-2::-1]):
            self.up.append(nn.ConvTranspose2d(w_hi, w_lo, 2, stride=2))
            self.dec.append(conv_block(2 * w_lo, w_lo))
        self.head = nn.Conv2d(widths[0], cfg.num_classes, 1)

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2**self.cfg.depth

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`ConfigError` for a tensor of the wrong shape, band count or size."""
        if x.ndim != 4:
            raise ConfigError(f"the model needs a (batch, {self.cfg.in_channels}, H, W) tensor, got shape {tuple(x.shape)}")
        if x.shape[1] != self.cfg.in_channels:
            raise ConfigError(f"the model needs {self.cfg.in_channels} input bands, got {x.shape[1]}")
        m = self.multiple
        if x.shape[2] % m or x.shape[3] % m:
            raise ConfigError(f"the model needs H and W divisible by {m}, got {x.shape[2]}x{x.shape[3]}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of a normalised (N, bands, H, W) batch."""
        if not torch.jit.is_tracing() and not torch.compiler.is_compiling():
            self.check_input(x)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = dec(torch.cat([up(x), skip], dim=1))
        return self.head(x)


MAX_PARAMETERS = 2_000_000_000  # ~8 GB of fp32 weights: far above any useful model, far below an absurd one
MAX_CHANNELS = 1024  # input bands and classes alike


def unet_parameter_count(cfg: UNetConfig) -> int:
    """The parameters :class:`UNet` would have, computed without building it (no memory is allocated)."""

    def block(cin: int, cout: int) -> int:  # two 3x3 convs without bias, two batch norms (weight + bias)
        return 9 * cin * cout + 9 * cout * cout + 4 * cout

    widths = [cfg.width * 2**i for i in range(cfg.depth + 1)]
    n, cin = 0, cfg.in_channels
    for w in widths[:-1]:
        n += block(cin, w)
        cin = w
    n += block(widths[-2], widths[-1])
    for w_hi, w_lo in zip(widths[:0:-1], widths[-2::-1]):
        n += 4 * w_hi * w_lo + w_lo + block(2 * w_lo, w_lo)
    return n + widths[0] * cfg.num_classes + cfg.num_classes


def check_unet_arch(arch: Any) -> dict[str, Any]:
    """Validate a model description before anything is allocated; raises :class:`ConfigError`.

    Every key must be present with an integer in range, and the model may not exceed
    :data:`MAX_PARAMETERS` parameters (so a crafted description cannot ask for hundreds of GB).
    """
    if not isinstance(arch, dict):
        raise ConfigError(f"the architecture must be a mapping, got {type(arch).__name__}")
    arch = dict(arch)
    name = arch.pop("name", "unet")
    if not isinstance(name, str):
        raise ConfigError(f"architecture name must be a string, got {name!r}")
    if name != "unet" and not name.startswith("smp-"):
        raise ConfigError(f"unknown architecture {name!r}; available: unet, smp-<encoder>")
    need = ("in_channels", "num_classes", "width", "depth") if name == "unet" else ("in_channels", "num_classes")
    missing = [k for k in need if k not in arch]
    if missing:
        raise ConfigError(f"architecture {name!r} lacks {', '.join(missing)} (has {', '.join(sorted(arch)) or 'nothing'})")
    limits = {"in_channels": (1, MAX_CHANNELS), "num_classes": (2, MAX_CHANNELS), "width": (1, 4096), "depth": (1, 12)}
    for k in need:
        v, (lo, hi) = arch[k], limits[k]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ConfigError(f"architecture {k} must be an integer in [{lo}, {hi}], got {v!r}")
    if name == "unet":
        extra = sorted(set(arch) - set(need))
        if extra:
            raise ConfigError(f"unknown U-Net parameters {', '.join(extra)}")
        n = unet_parameter_count(UNetConfig(**arch))
        if n > MAX_PARAMETERS:
            raise ConfigError(f"a U-Net of width {arch['width']} and depth {arch['depth']} has {n:,} parameters, "
                              f"more than the {MAX_PARAMETERS:,} landseg builds; use a smaller width or depth")
    return {"name": name, **arch}


def build_unet(arch: dict[str, Any]) -> nn.Module:
    """Build a model from its description, e.g. ``{'name': 'unet', 'width': 32, ...}`` (checked first)."""
    arch = check_unet_arch(arch)
    name = arch.pop("name")
    if name == "unet":
        return UNet(UNetConfig(**arch))
    if name.startswith("smp-"):
        try:
            import segmentation_models_pytorch as smp  # noqa: PLC0415 - optional extra
        except ImportError:
            raise ConfigError(f"architecture {name!r} needs segmentation-models-pytorch "
                              "(pip install segmentation-models-pytorch)") from None
        return smp.Unet(encoder_name=name[4:], encoder_weights=None, in_channels=arch["in_channels"],
                        classes=arch["num_classes"])
    raise ConfigError(f"unknown architecture {name!r}; available: unet, smp-<encoder>")


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())
