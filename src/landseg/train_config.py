"""Training options: :class:`TrainConfig`, its presets, and :func:`make_config` (defaults <- preset <- file
<- command line <- ``--set KEY=VALUE``), each value type- and range-checked with a message naming the key."""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from landseg.errors import ConfigError
from landseg.io.files import read_structured
from landseg.models.catalog import check_model_name, model_encoder, model_multiple


@dataclass
class TrainConfig:
    """The options of a training run (``landseg train``), with their defaults."""
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
        """The option names."""
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


def _multiple_ok(cfg: TrainConfig, name: str) -> bool:
    v, multiple = getattr(cfg, name), model_multiple(cfg.model, cfg.depth)
    return v >= multiple and v % multiple == 0


def _multiple_message(cfg: TrainConfig, name: str) -> str:
    return (f"{name} must be a positive multiple of {model_multiple(cfg.model, cfg.depth)} for model {cfg.model}, "
            f"got {getattr(cfg, name)}")


Check = tuple[Callable[[TrainConfig], bool], Callable[[TrainConfig], str]]
# What a config must satisfy beyond its types, in the order they are checked: (holds, message when it does not).
CHECKS: list[Check] = [
    (lambda c: model_encoder(c.model) is not None or c.pretrained in (None, "none"),
     lambda c: f"model {c.model} (the plain U-Net) has no pretrained weights; leave out pretrained"),
    (lambda c: not (c.encoder_lr is not None and c.encoder_lr < 0 or c.freeze_encoder_epochs < 0),
     lambda c: "encoder_lr and freeze_encoder_epochs must not be negative"),
    (lambda c: c.batch_size >= 1, lambda c: f"batch_size must be at least 1, got {c.batch_size}"),
    (lambda c: c.epochs >= 1 and c.windows_per_epoch >= 1, lambda c: "epochs and windows_per_epoch must be at least 1"),
    (lambda c: c.lr > 0, lambda c: f"lr must be positive, got {c.lr}"),
    (lambda c: c.width is None or 1 <= c.width <= 512, lambda c: f"width must be between 1 and 512, got {c.width}"),
    (lambda c: c.depth is None or 1 <= c.depth <= 8, lambda c: f"depth must be between 1 and 8, got {c.depth}"),
    (lambda c: c.time_limit is None or c.time_limit > 0,
     lambda c: f"time_limit must be a positive number of minutes, got {c.time_limit}"),
    (lambda c: c.num_workers is None or c.num_workers >= 0,
     lambda c: f"num_workers must be 0 or more, got {c.num_workers}"),
    (lambda c: c.val_max_tiles is None or c.val_max_tiles >= 1,
     lambda c: f"val_max_tiles must be at least 1, got {c.val_max_tiles}"),
    (lambda c: c.weight_decay >= 0, lambda c: f"weight_decay must be 0 or more, got {c.weight_decay}"),
    (lambda c: c.dice_weight >= 0, lambda c: f"dice_weight must be 0 or more, got {c.dice_weight}"),
    (lambda c: c.jitter >= 0, lambda c: f"jitter must be 0 or more, got {c.jitter}"),
    (lambda c: 0 <= c.warmup < 1, lambda c: f"warmup must be in [0, 1) (a share of training), got {c.warmup}"),
    (lambda c: _multiple_ok(c, "window"), lambda c: _multiple_message(c, "window")),
    (lambda c: _multiple_ok(c, "val_window"), lambda c: _multiple_message(c, "val_window")),
    (lambda c: 0 <= c.val_overlap < c.val_window, lambda c: "val_overlap must be in [0, val_window)"),
    (lambda c: c.optimizer in ("adam", "adamw") and c.schedule in ("cosine", "constant"),
     lambda c: "optimizer must be adam|adamw and schedule cosine|constant"),
    (lambda c: c.loss in ("ce", "ce+dice") and c.class_weights in ("none", "sqrt-inverse"),
     lambda c: "loss must be ce|ce+dice and class_weights none|sqrt-inverse"),
    (lambda c: c.label in ("label", "label_eroded"), lambda c: "label must be label or label_eroded"),
    (lambda c: 0 < c.scale_min <= c.scale_max, lambda c: "need 0 < scale_min <= scale_max"),
]


def _validate(cfg: TrainConfig) -> None:
    """The first of :data:`CHECKS` that ``cfg`` fails, as a :class:`ConfigError` (after the model name's check)."""
    check_model_name(cfg.model)
    for holds, message in CHECKS:
        if not holds(cfg):
            raise ConfigError(message(cfg))
