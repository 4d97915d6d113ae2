import csv
import os
import subprocess
import sys
import time

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


def test_train_removes_temp_files_of_a_killed_run(dataset, tmp_path):
    from landseg.io.files import TEMP_PATTERN

    run = tmp_path / "run"
    run.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / f".last.safetensors.{dead.pid}-abcdefgh.part.safetensors").write_bytes(b"half")
    assert main(["train", str(dataset), "--out", str(run), "--epochs", "1", "--windows-per-epoch", "16", *FAST]) == 0
    assert not [p for p in run.iterdir() if TEMP_PATTERN.match(p.name)]


def test_existing_run_needs_resume_or_overwrite(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", str(dataset), "--out", str(run), "--epochs", "1", "--windows-per-epoch", "16", *FAST]
    assert main(args) == 0
    before = {f: (run / f).read_bytes() for f in ("best.safetensors", "last.safetensors", "metrics.csv")}
    assert main([*args, "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert "already holds a training run" in err and "--resume" in err and "--overwrite" in err
    assert {f: (run / f).read_bytes() for f in before} == before
    assert main([*args, "--resume", "--overwrite"]) == 2
    assert main([*args, "--seed", "1", "--overwrite"]) == 0
    assert load_checkpoint(run / "last.safetensors").train["config"]["seed"] == 1


@pytest.mark.parametrize("item, match", [
    ("epochs=abc", r"'epochs' expects a whole number.*'abc'"),
    ("lr=fast", r"'lr' expects a finite number"),
    ("lr=.nan", r"'lr' expects a finite number"),
    ("augment=3", r"'augment' expects true or false"),
    ("batch_size=2.5", r"'batch_size' expects a whole number"),
    ("time_limit=-1", r"time_limit must be a positive"),
    ("width=100000", r"width must be between 1 and 512"),
    ("warmup=1.5", r"warmup must be in \[0, 1\)"),
])
def test_set_values_are_type_checked(item, match):
    with pytest.raises(ConfigError, match=match):
        make_config({}, sets=[item])


def test_set_values_keep_valid_types():
    cfg = make_config({}, sets=["lr=1", "time_limit=null", "augment=false"])
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.time_limit is None and cfg.augment is False


def _copy(dataset, tmp_path):
    import shutil

    shutil.copytree(dataset, tmp_path / "ds")
    return tmp_path / "ds"


def test_dataset_is_checked_against_its_tiles(dataset, tmp_path, capsys):
    import numpy as np
    import rasterio

    args = ["--out", str(tmp_path / "run"), "--epochs", "1", "--windows-per-epoch", "8", *FAST]
    ds = _copy(dataset, tmp_path)
    (ds / "tiles" / "2_11" / "tile.json").unlink()
    assert main(["train", str(ds), *args]) == 2
    assert "2_11/tile.json: tile 2_11 is listed in dataset.json but its record is missing" in capsys.readouterr().err

    import shutil
    shutil.rmtree(ds)
    ds = _copy(dataset, tmp_path)
    with rasterio.open(ds / "tiles" / "3_10" / "label.tif", "r+") as lab:
        a = lab.read()
        a[0, 5, 5] = 9
        lab.write(a)
    assert main(["train", str(ds), *args]) == 2
    err = capsys.readouterr().err
    assert "3_10/label.tif: label values [9] are not classes of the table 'isprs'" in err and "--overwrite" in err

    shutil.rmtree(ds)
    ds = _copy(dataset, tmp_path)
    img = ds / "tiles" / "2_10" / "image.tif"
    with rasterio.open(img) as src:
        prof, data = src.profile, src.read()
    with rasterio.open(img, "w", **{**prof, "count": 4}) as dst:
        dst.write(np.concatenate([data, data[:1]]))
    assert main(["train", str(ds), *args]) == 2
    assert "2_10/image.tif: 4 bands of 128x128, but dataset.json lists 3 bands" in capsys.readouterr().err
