"""train_config.py: every rule of a training config refuses with its own message, first rule first."""

import dataclasses

import pytest

from landseg.errors import ConfigError
from landseg.train_config import CHECKS, make_config

BAD = [
    (dict(pretrained="x.pth", model="small"), "model small (the plain U-Net) has no pretrained weights"),
    (dict(encoder_lr=-1.0), "encoder_lr and freeze_encoder_epochs must not be negative"),
    (dict(freeze_encoder_epochs=-1), "encoder_lr and freeze_encoder_epochs must not be negative"),
    (dict(batch_size=0), "batch_size must be at least 1, got 0"),
    (dict(epochs=0), "epochs and windows_per_epoch must be at least 1"),
    (dict(windows_per_epoch=0), "epochs and windows_per_epoch must be at least 1"),
    (dict(lr=0.0), "lr must be positive, got 0.0"),
    (dict(width=600), "width must be between 1 and 512, got 600"),
    (dict(depth=9), "depth must be between 1 and 8, got 9"),
    (dict(time_limit=0.0), "time_limit must be a positive number of minutes, got 0.0"),
    (dict(num_workers=-1), "num_workers must be 0 or more, got -1"),
    (dict(val_max_tiles=0), "val_max_tiles must be at least 1, got 0"),
    (dict(weight_decay=-1.0), "weight_decay must be 0 or more, got -1.0"),
    (dict(dice_weight=-1.0), "dice_weight must be 0 or more, got -1.0"),
    (dict(jitter=-1.0), "jitter must be 0 or more, got -1.0"),
    (dict(warmup=1.0), "warmup must be in [0, 1) (a share of training), got 1.0"),
    (dict(window=100), "window must be a positive multiple of 16 for model small, got 100"),
    (dict(val_window=100), "val_window must be a positive multiple of 16 for model small, got 100"),
    (dict(val_overlap=600), "val_overlap must be in [0, val_window)"),
    (dict(optimizer="sgd"), "optimizer must be adam|adamw and schedule cosine|constant"),
    (dict(loss="x"), "loss must be ce|ce+dice and class_weights none|sqrt-inverse"),
    (dict(label="x"), "label must be label or label_eroded"),
    (dict(scale_min=2.0), "need 0 < scale_min <= scale_max"),
    (dict(batch_size=0, lr=0.0), "batch_size must be at least 1, got 0"),  # the first rule broken is named
]


@pytest.mark.parametrize("overrides, message", BAD, ids=[str(o) for o, _ in BAD])
def test_each_rule_refuses_with_its_message(overrides, message):
    with pytest.raises(ConfigError) as exc:
        make_config(overrides)
    assert str(exc.value).startswith(message), str(exc.value)


def test_every_rule_is_exercised_and_the_defaults_pass():
    make_config({})
    broken = set()
    for overrides, _ in BAD:
        cfg = dataclasses.replace(make_config({}), **overrides)
        broken |= {i for i, (holds, _) in enumerate(CHECKS) if not holds(cfg)}
    assert broken == set(range(len(CHECKS)))


def test_config_file_is_read_through_io(tmp_path):
    (tmp_path / "c.yaml").write_text("epochs: 3\n")
    (tmp_path / "c.json").write_text('{"epochs": 4}')
    (tmp_path / "bad.yaml").write_text("epochs: [\n")
    (tmp_path / "list.json").write_text("[1]")
    assert make_config({}, file=str(tmp_path / "c.yaml")).epochs == 3
    assert make_config({}, file=str(tmp_path / "c.json")).epochs == 4
    with pytest.raises(ConfigError, match="cannot parse config"):
        make_config({}, file=str(tmp_path / "bad.yaml"))
    with pytest.raises(ConfigError, match="expected a mapping of config keys"):
        make_config({}, file=str(tmp_path / "list.json"))
    with pytest.raises(ConfigError, match="config file not found"):
        make_config({}, file=str(tmp_path / "missing.yaml"))
