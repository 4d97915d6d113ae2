import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from landseg.models.checkpoint import load_checkpoint
from landseg.cli import main
from landseg.errors import ConfigError
from landseg.train import make_config
from loopback import free_port
from synthetic import potsdam_download

FAST = ["--model", "tiny", "--window", "64", "--batch-size", "8", "--num-workers", "0", "--set", "val_window=128",
        "--set", "val_overlap=32", "--set", "scale_min=1", "--set", "scale_max=1"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    src = potsdam_download(root / "P", ["2_10", "2_11", "3_10", "3_11", "4_10"], size=128)
    dest = root / "prepared"
    assert main(["prepare", "potsdam", str(src), str(dest), "--val", "4_10"]) == 0
    return dest


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_small_model_learns(dataset, tmp_path):
    t0 = time.time()
    run = tmp_path / "run"
    assert main(["train", str(dataset), "--out", str(run), "--epochs", "4", "--windows-per-epoch", "160",
                 "--lr", "0.01", *FAST]) == 0
    rows = read_csv(run / "metrics.csv")
    assert len(rows) == 4
    assert float(rows[-1]["val_oa"]) >= 0.95, rows[-1]
    assert time.time() - t0 < 60
    for f in ("best.safetensors", "last.safetensors", "learning_curve.png", "config.yaml", "metrics.json"):
        assert (run / f).exists()
    ck = load_checkpoint(run / "best.safetensors")
    assert ck.pixel_size == pytest.approx(0.05) and ck.bands == ["red", "green", "blue"]
    assert ck.train["config"]["model"] == "tiny" and "val" in ck.train["metrics"]
    assert {"train_loss", "val_loss", "val_f1_building", "val_iou_car", "train_mean_f1"} <= set(rows[0])


def test_resume_continues_step_count(dataset, tmp_path):
    run = tmp_path / "run"
    args = ["train", str(dataset), "--out", str(run), "--windows-per-epoch", "32", *FAST]
    assert main([*args, "--epochs", "1"]) == 0
    assert load_checkpoint(run / "last.safetensors").train["step"] == 4
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    last = load_checkpoint(run / "last.safetensors", with_training_state=True)
    assert last.train["step"] == 8 and last.train["epoch"] == 2 and last.optim_state
    assert [r["epoch"] for r in read_csv(run / "metrics.csv")] == ["1", "2"]


def test_same_seed_same_metrics(dataset, tmp_path):
    for name in ("a", "b"):
        assert main(["train", str(dataset), "--out", str(tmp_path / name), "--epochs", "1", "--windows-per-epoch", "32",
                     "--seed", "3", *FAST]) == 0
    strip = lambda rows: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]  # noqa: E731
    assert strip(read_csv(tmp_path / "a" / "metrics.csv")) == strip(read_csv(tmp_path / "b" / "metrics.csv"))


def test_ddp_two_cpu_processes(dataset, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "landseg", "train", str(dataset), "--out", str(run),
           "--epochs", "1", "--windows-per-epoch", "64", "--device", "cpu", *FAST]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    ck = load_checkpoint(run / "last.safetensors")
    assert ck.train["world_size"] == 2
    assert ck.train["step"] == 4  # 64 windows / (8 per batch x 2 processes)
    assert sorted(p.name for p in run.glob("*.safetensors")) == ["best.safetensors", "last.safetensors"]
    assert len(read_csv(run / "metrics.csv")) == 1


def test_config_errors(dataset, tmp_path, capsys):
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        make_config({"batch_sise": 4})
    with pytest.raises(ConfigError, match="batch_size must be at least 1"):
        make_config({"batch_size": 0})
    cfg = tmp_path / "c.yaml"
    cfg.write_text("lr: 0.1\nwindow_size: 64\n")
    assert main(["train", str(dataset), "--out", str(tmp_path / "r"), "--config", str(cfg)]) == 2
    assert "did you mean 'window'" in capsys.readouterr().err
    assert main(["train", str(dataset), "--out", str(tmp_path / "r"), "--window", "512", "--model", "tiny"]) == 2
    assert "larger than every training tile" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "not a prepared landseg dataset" in capsys.readouterr().err


def test_resume_with_other_class_table_is_refused(dataset, tmp_path, capsys):
    import json
    import shutil

    other = tmp_path / "other"
    shutil.copytree(dataset, other)
    m = json.loads((other / "dataset.json").read_text())
    m["class_table"]["classes"][0]["name"] = "road"
    (other / "dataset.json").write_text(json.dumps(m))
    run = tmp_path / "run"
    assert main(["train", str(dataset), "--out", str(run), "--epochs", "1", "--windows-per-epoch", "8", *FAST]) == 0
    assert main(["train", str(other), "--out", str(run), "--epochs", "2", "--resume", *FAST]) == 2
    assert "class table" in capsys.readouterr().err


def test_ctrl_c_saves_last_then_resume(dataset, tmp_path, monkeypatch):
    from landseg import train as T

    run = tmp_path / "run"
    real = T.Trainer._train_epoch
    calls = []

    def interrupted(self, loader):
        calls.append(1)
        if len(calls) == 2:
            self.step += 1  # part of the epoch ran
            raise KeyboardInterrupt
        return real(self, loader)

    monkeypatch.setattr(T.Trainer, "_train_epoch", interrupted)
    args = ["train", str(dataset), "--out", str(run), "--epochs", "3", "--windows-per-epoch", "16", *FAST]
    assert main(args) == 130
    last = load_checkpoint(run / "last.safetensors")
    assert last.train["epoch"] == 1 and last.train["step"] == 3
    monkeypatch.setattr(T.Trainer, "_train_epoch", real)
    assert main([*args, "--resume"]) == 0
    assert load_checkpoint(run / "last.safetensors").train["epoch"] == 3


# -- issue #16: tests that fail when the mechanism is removed ---------------------------------------
EXACT = [*FAST, "--precision", "fp32", "--device", "cpu", "--seed", "1"]


def _weights(path):
    return load_checkpoint(path).state_dict


def _assert_same_weights(a, b, atol=1e-6):
    import torch

    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=atol, rtol=0), k


def _strip_time(rows):
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory):
    run = tmp_path_factory.mktemp("straight") / "run"
    assert main(["train", str(dataset), "--out", str(run), "--epochs", "2", "--windows-per-epoch", "32", *EXACT]) == 0
    return run


@pytest.mark.parametrize("steps_before_stop", [2, 6])  # mid-epoch 1, mid-epoch 2 (4 batches per epoch)
def test_interrupted_and_resumed_equals_uninterrupted(dataset, uninterrupted, tmp_path, monkeypatch, steps_before_stop):
    """Ctrl-C after N real optimiser steps, then --resume: the same weights and metrics as one straight run."""
    from landseg import train as T

    real_lr_at = T.lr_at
    calls = []

    def lr_at(cfg, progress):  # called once per batch, before the batch's step
        calls.append(1)
        if len(calls) > steps_before_stop:
            raise KeyboardInterrupt
        return real_lr_at(cfg, progress)

    run = tmp_path / "run"
    args = ["train", str(dataset), "--out", str(run), "--epochs", "2", "--windows-per-epoch", "32", *EXACT]
    monkeypatch.setattr(T, "lr_at", lr_at)
    assert main(args) == 130
    stopped = load_checkpoint(run / "last.safetensors", with_training_state=True)
    assert stopped.train["step"] == steps_before_stop and stopped.train["batch_in_epoch"] == steps_before_stop % 4
    monkeypatch.setattr(T, "lr_at", real_lr_at)
    assert main([*args, "--resume"]) == 0
    _assert_same_weights(_weights(run / "last.safetensors"), _weights(uninterrupted / "last.safetensors"))
    _assert_same_weights(_weights(run / "best.safetensors"), _weights(uninterrupted / "best.safetensors"))
    a = load_checkpoint(run / "last.safetensors", with_training_state=True)
    b = load_checkpoint(uninterrupted / "last.safetensors", with_training_state=True)
    assert a.train["step"] == b.train["step"] == 8
    for key, value in b.optim_state["state"].items():  # Adam moments and step counts
        for name, t in value.items():
            import torch

            assert torch.allclose(torch.as_tensor(a.optim_state["state"][key][name]).float(),
                                  torch.as_tensor(t).float(), atol=1e-6), (key, name)
    assert _strip_time(read_csv(run / "metrics.csv")) == _strip_time(read_csv(uninterrupted / "metrics.csv"))
