"""Training options: :class:`TrainConfig`, its presets, and :func:`make_config` (defaults <- preset <- file
<- command line <- ``--set KEY=VALUE``), each value type- and range-checked with a message naming the key."""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from landseg.errors import ConfigError
from landseg.io.files import read_structured
from landseg.models.catalog import check_model_name, model_encoder, model_multiple


@dataclass
class TrainConfig:
    model: str = "small"             # small | full | tiny (U-Net) or ENCODER-DECODER, see `landseg models`
    width: int | None = None         # overrides the preset
    depth: int | None = None
    window: int = 256
    batch_size: int = 8
    epochs: int = 30
    windows_per_epoch: int = 1024
    lr: float = 2e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"         # adamw | adam
    schedule: str = "cosine"         # cosine (with warm-up) | constant
    warmup: float = 0.03             # share of training spent warming up
    loss: str = "ce+dice"            # ce | ce+dice
    dice_weight: float = 0.5
    class_weights: str = "none"      # none | sqrt-inverse
    label: str = "label"             # label | label_eroded
    augment: bool = True
    jitter: float = 0.3              # photometric jitter strength (brightness/contrast/gamma), 0 disables
    scale_min: float = 1.0           # random zoom range, e.g. 0.75-1.33 for data of mixed resolution
    scale_max: float = 1.0
    val_window: int = 512
    val_overlap: int = 64
    val_max_tiles: int | None = None
    device: str = "auto"
    precision: str = "auto"          # auto | fp32 | bf16 | fp16
    num_workers: int | None = None
    seed: int = 0
    time_limit: float | None = None  # minutes; the lr schedule follows elapsed time too
    pretrained: str | None = None    # encoder weights: None = the model's default, 'none', or a file
    encoder_lr: float | None = None  # encoder lr as a share of lr (default 0.1 with pretrained weights)
    freeze_encoder_epochs: int = 0   # epochs with the encoder frozen (lr 0, BatchNorm statistics fixed)
    init: str | None = None          # start from a trained model: 'default', a run folder or a checkpoint file

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]


ORIGINAL = dict(model="full", window=256, batch_size=5, epochs=5, lr=5e-4, optimizer="adam", schedule="constant",
                loss="ce", jitter=0.0, scale_min=1.0, scale_max=1.0, weight_decay=0.0, warmup=0.0)
# ISPRS Potsdam / Vaihingen on one GPU with the ImageNet-pretrained EfficientNet-Lite2 encoder: 512² windows
# (the 5 cm / 9 cm scenes need context), batch 16, 60 x 4,000 windows, AdamW 1e-3 (encoder 0.1x), class
# weights for the rare clutter/car classes, bf16 (fp16 on GPUs without bf16) autocast, 8 loader workers.
ISPRS_GPU = dict(model="effnet-lite2-unet", window=512, batch_size=16, epochs=60, windows_per_epoch=4000,
                 lr=1e-3, weight_decay=1e-4, optimizer="adamw", schedule="cosine", warmup=0.03, loss="ce+dice",
                 class_weights="sqrt-inverse", jitter=0.3, precision="auto", num_workers=8, val_window=1024,
                 val_overlap=128)
CONFIG_PRESETS = {"default": {}, "original": ORIGINAL, "isprs-gpu": ISPRS_GPU}


def make_config(overrides: dict[str, Any], preset: str = "default", file: str | None = None,
                sets: Sequence[str] = ()) -> TrainConfig:
    """Defaults <- preset <- config file <- command-line overrides <- ``KEY=VALUE`` items (``--set``).

    Unknown keys name the nearest valid one.
    """
    overrides = dict(overrides)
    for item in sets:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        overrides[k.strip().replace("-", "_")] = yaml.safe_load(v)
    if preset not in CONFIG_PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; available: {', '.join(CONFIG_PRESETS)}")
    values: dict[str, Any] = dict(CONFIG_PRESETS[preset])
    if file:
        values.update(_read_config_file(file))
    values.update({k: v for k, v in overrides.items() if v is not None})
    keys = TrainConfig.keys()
    for k in values:
        if k not in keys:
            near = difflib.get_close_matches(k, keys, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; valid keys: {', '.join(keys)}"
            raise ConfigError(f"unknown config key {k!r}" + hint)
    cfg = TrainConfig(**{k: _typed(k, v) for k, v in values.items()})
    _validate(cfg)
    return cfg


def _typed(key: str, value: Any) -> Any:
    """``value`` checked against the type of field ``key`` (int, float, bool, str, optionally None)."""
    hint = typing.get_type_hints(TrainConfig)[key]
    args = typing.get_args(hint) or (hint,)
    if value is None and type(None) in args:
        return None
    want = next(a for a in args if a is not type(None))
    ok = (isinstance(value, bool) if want is bool else
          isinstance(value, int) and not isinstance(value, bool) if want is int else
          isinstance(value, (int, float)) and not isinstance(value, bool) if want is float else
          isinstance(value, want))
    if want is float and ok and not math.isfinite(value):
        ok = False
    if not ok:
        names = {int: "a whole number", float: "a finite number", bool: "true or false", str: "a string"}
        opt = " (or null)" if type(None) in args else ""
        raise ConfigError(f"config key {key!r} expects {names.get(want, want.__name__)}{opt}, got {value!r} "
                          f"({type(value).__name__}); e.g. --set {key}={_example(want)}")
    return float(value) if want is float else value


def _example(t: type) -> str:
    return {int: "8", float: "0.5", bool: "true", str: "text"}.get(t, "...")


def _read_config_file(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: config file not found")
    try:
        data = read_structured(p)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"{p}: cannot parse config: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of config keys")
    return data


def _validate(cfg: TrainConfig) -> None:
    def bad(msg: str) -> None:
        raise ConfigError(msg)

    check_model_name(cfg.model)
    if model_encoder(cfg.model) is None and cfg.pretrained not in (None, "none"):
        bad(f"model {cfg.model} (the plain U-Net) has no pretrained weights; leave out pretrained")
    if cfg.encoder_lr is not None and cfg.encoder_lr < 0 or cfg.freeze_encoder_epochs < 0:
        bad("encoder_lr and freeze_encoder_epochs must not be negative")
    if cfg.batch_size < 1:
        bad(f"batch_size must be at least 1, got {cfg.batch_size}")
    if cfg.epochs < 1 or cfg.windows_per_epoch < 1:
        bad("epochs and windows_per_epoch must be at least 1")
    if cfg.lr <= 0:
        bad(f"lr must be positive, got {cfg.lr}")
    if cfg.width is not None and not 1 <= cfg.width <= 512:
        bad(f"width must be between 1 and 512, got {cfg.width}")
    if cfg.depth is not None and not 1 <= cfg.depth <= 8:
        bad(f"depth must be between 1 and 8, got {cfg.depth}")
    if cfg.time_limit is not None and cfg.time_limit <= 0:
        bad(f"time_limit must be a positive number of minutes, got {cfg.time_limit}")
    if cfg.num_workers is not None and cfg.num_workers < 0:
        bad(f"num_workers must be 0 or more, got {cfg.num_workers}")
    if cfg.val_max_tiles is not None and cfg.val_max_tiles < 1:
        bad(f"val_max_tiles must be at least 1, got {cfg.val_max_tiles}")
    for name in ("weight_decay", "dice_weight", "jitter"):
        if getattr(cfg, name) < 0:
            bad(f"{name} must be 0 or more, got {getattr(cfg, name)}")
    if not 0 <= cfg.warmup < 1:
        bad(f"warmup must be in [0, 1) (a share of training), got {cfg.warmup}")
    multiple = model_multiple(cfg.model, cfg.depth)
    for name in ("window", "val_window"):
        v = getattr(cfg, name)
        if v < multiple or v % multiple:
            bad(f"{name} must be a positive multiple of {multiple} for model {cfg.model}, got {v}")
    if not 0 <= cfg.val_overlap < cfg.val_window:
        bad("val_overlap must be in [0, val_window)")
    if cfg.optimizer not in ("adam", "adamw") or cfg.schedule not in ("cosine", "constant"):
        bad("optimizer must be adam|adamw and schedule cosine|constant")
    if cfg.loss not in ("ce", "ce+dice") or cfg.class_weights not in ("none", "sqrt-inverse"):
        bad("loss must be ce|ce+dice and class_weights none|sqrt-inverse")
    if cfg.label not in ("label", "label_eroded"):
        bad("label must be label or label_eroded")
    if not 0 < cfg.scale_min <= cfg.scale_max:
        bad("need 0 < scale_min <= scale_max")
