import csv
import os
import subprocess
import sys

import pytest
from loopback import free_port
from synthetic import potsdam_download

from landseg.cli import main
from landseg.errors import ConfigError
from landseg.models.checkpoint import load_checkpoint
from landseg.train_config import make_config

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
    run = tmp_path / "run"  # its wall time is measured by benchmarks/bench_small_train.py, not asserted here
    assert main(["train", str(dataset), "--out", str(run), "--epochs", "4", "--windows-per-epoch", "160",
                 "--lr", "0.01", *FAST]) == 0
    rows = read_csv(run / "metrics.csv")
    assert len(rows) == 4
    assert float(rows[-1]["val_oa"]) >= 0.95, rows[-1]
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


DDP_SCRIPT = r'''
import hashlib, json, os, sys
from pathlib import Path
import torch
from landseg import train as T
from landseg.data.dataset import RandomWindows
from landseg.cli import main

rec = Path(sys.argv[1])
rank = int(os.environ["RANK"])
seen = []
draw = RandomWindows.__getitem__

def recording(self, i):
    x, y = draw(self, i)
    seen.append([self.epoch, int(i), hashlib.sha1(x.numpy().tobytes()).hexdigest()])
    return x, y

RandomWindows.__getitem__ = recording
fit = T.Trainer.fit

def fit_and_dump(self):
    out = fit(self)
    torch.save({k: v.detach().clone() for k, v in self.model.state_dict().items()}, rec / f"rank{rank}.pt")
    (rec / f"rank{rank}.json").write_text(json.dumps({"windows": seen, "ddp": type(self.net).__name__}))
    return out

T.Trainer.fit = fit_and_dump
sys.exit(main(sys.argv[2:]))
'''


def test_ddp_replicas_agree_split_the_windows_and_equal_one_process(dataset, tmp_path):
    """2 gloo processes: identical replicas, disjoint windows per rank, and the weights of one process that
    averages the gradients of the two ranks' batches (what DDP computes; BatchNorm statistics stay per rank)."""
    import hashlib
    import json

    import torch

    from landseg import train as T
    from landseg.data.dataset import RandomWindows

    rec = tmp_path / "rec"
    rec.mkdir()
    script = tmp_path / "ddp_record.py"
    script.write_text(DDP_SCRIPT)
    run = tmp_path / "ddp"
    train_args = ["train", str(dataset), "--out", str(run), "--epochs", "1", "--windows-per-epoch", "64", *EXACT]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), str(script), str(rec), *train_args]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    info = [json.loads((rec / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["ddp"] for i in info] == ["DistributedDataParallel"] * 2
    w = [torch.load(rec / f"rank{r}.pt") for r in (0, 1)]
    params = [n for n, _ in T.build_model({"name": "unet", "in_channels": 3, "num_classes": 6, "width": 8,
                                            "depth": 3}).named_parameters()]
    for n in params:  # replicas: every parameter identical on both ranks
        assert torch.equal(w[0][n], w[1][n]), n
    hashes = [{h for _, _, h in i["windows"]} for i in info]
    assert len(info[0]["windows"]) == len(info[1]["windows"]) == 32
    assert not hashes[0] & hashes[1], "both ranks drew the same windows"

    # the reference: one process, the same two half-batches per step, gradients averaged
    old = {k: os.environ.pop(k, None) for k in ("RANK", "WORLD_SIZE")}
    try:
        cfg = make_config({"model": "tiny", "window": 64, "batch_size": 8, "epochs": 1, "windows_per_epoch": 64,
                           "num_workers": 0, "precision": "fp32", "device": "cpu", "seed": 1},
                          sets=["val_window=128", "val_overlap=32", "scale_min=1", "scale_max=1"])
        tr = T.Trainer(dataset, tmp_path / "ref", cfg)
    finally:
        os.environ.update({k: v for k, v in old.items() if v is not None})
    dss = [RandomWindows(tr.root, tr.train_tiles, cfg.window, 32, label_key=cfg.label, seed=cfg.seed,
                         augment=cfg.augment, jitter_strength=cfg.jitter, scale=(1.0, 1.0),
                         ignore_index=tr.table.ignore_index, rank=r, world_size=2) for r in (0, 1)]
    for r in (0, 1):  # each rank drew exactly its own share of the window stream
        want = [hashlib.sha1(dss[r][i][0].numpy().tobytes()).hexdigest() for i in range(32)]
        assert [h for _, _, h in info[r]["windows"]] == want
    model = tr.model
    model.train()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the ranks ran (OMP_NUM_THREADS=1): the same float summation order
    steps = 4
    for step in range(steps):
        for g in tr.opt.param_groups:
            g["lr"] = T.lr_at(cfg, step / steps)
        tr.opt.zero_grad(set_to_none=True)
        for ds in dss:
            xs, ys = zip(*(ds[i] for i in range(8 * step, 8 * step + 8)))
            x = ((torch.stack(xs).float() - tr.mean) / tr.std).contiguous(memory_format=torch.channels_last)
            y = torch.stack(ys)
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y, ignore_index=tr.table.ignore_index)
            loss = loss + cfg.dice_weight * T.dice_loss(logits, y, tr.table.ignore_index)
            (loss / 2).backward()
        tr.opt.step()
    torch.set_num_threads(threads)
    ref = model.state_dict()
    moved = max(float((ref[n] - start[n]).abs().max()) for n in params)
    diff = max(float((w[0][n] - ref[n]).abs().max()) for n in params)
    assert moved > 1e-3 and diff <= 1e-6, (diff, moved)  # with 1 thread each the sums are the same: diff is 0


def test_isprs_gpu_preset_builds_a_valid_config():
    cfg = make_config({}, preset="isprs-gpu")
    assert (cfg.model, cfg.window, cfg.batch_size, cfg.optimizer) == ("effnet-lite2-unet", 512, 16, "adamw")
    assert cfg.num_workers == 8 and cfg.class_weights == "sqrt-inverse" and cfg.precision == "auto"
    assert make_config({"epochs": 3}, preset="isprs-gpu", sets=["batch_size=4"]).batch_size == 4  # overrides win


def test_dice_loss_equals_the_one_hot_form():
    import torch
    import torch.nn.functional as F

    from landseg.train import dice_loss

    def one_hot_dice(logits, target, ignore_index):
        probs = logits.float().softmax(1)
        valid = (target != ignore_index).unsqueeze(1)
        onehot = F.one_hot(target.clamp(max=logits.shape[1] - 1), logits.shape[1]).permute(0, 3, 1, 2) * valid
        probs = probs * valid
        present = onehot.sum((0, 2, 3)) > 0
        dice = (2 * (probs * onehot).sum((0, 2, 3)) + 1.0) / (probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + 1.0)
        return (1 - dice[present]).mean()

    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 4, (2, 16, 16), generator=g)  # class 4 absent
    target[:, :3] = 255
    grads = []
    for fn in (dice_loss, one_hot_dice):
        logits = torch.randn(2, 5, 16, 16, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
        logits = logits.contiguous(memory_format=torch.channels_last).requires_grad_()
        loss = fn(logits, target, 255)
        loss.backward()
        grads.append((loss.detach(), logits.grad.float()))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-6) and torch.allclose(grads[0][1], grads[1][1], atol=1e-6)


def test_persistent_loader_workers_follow_the_epochs(dataset, tmp_path):
    """One worker process kept for the whole run draws each epoch's own windows: the same run as in-process
    loading, and the stream index epoch * length + i is window i of that epoch."""
    from landseg.data.dataset import RandomWindows, WindowSampler
    from landseg.data.prepare import load_manifest

    args = ["train", str(dataset), "--epochs", "2", "--windows-per-epoch", "32", *EXACT]
    assert main([*args, "--out", str(tmp_path / "w0")]) == 0
    assert main([*args, "--out", str(tmp_path / "w1"), "--num-workers", "1"]) == 0  # last one wins
    assert _strip_time(read_csv(tmp_path / "w0" / "metrics.csv")) == _strip_time(read_csv(tmp_path / "w1" / "metrics.csv"))
    assert load_checkpoint(tmp_path / "w1" / "last.safetensors").train["epoch"] == 2
    manifest = load_manifest(dataset)
    tiles = [t for t in manifest["tiles"] if t["split"] == "train"]
    ds = RandomWindows(manifest["root"], tiles, 64, 8, seed=1)
    later = RandomWindows(manifest["root"], tiles, 64, 8, seed=1)
    later.epoch = 3
    assert all((ds[3 * 8 + i][0] == later[i][0]).all() for i in (0, 7))
    sampler = WindowSampler(8)
    sampler.epoch, sampler.start = 2, 5
    assert list(sampler) == [21, 22, 23] and len(sampler) == 3


@pytest.mark.parametrize("which,keep", [("image.tif", 0.5), ("image.tif", 0.05), ("label.tif", 0.5)])
def test_truncated_prepared_tile_is_named_by_train_and_evaluate(dataset, tmp_path, capsys, tiny_checkpoint, which, keep):
    """Issue 23.7: a truncated tile raster ended `train` and `evaluate` in a rasterio traceback; now one line naming
    the file and what to do, before any epoch (train) or any tile (evaluate)."""
    import os

    ds = _copy(dataset, tmp_path)
    bad = ds / "tiles" / "2_10" / which
    os.truncate(bad, int(os.path.getsize(bad) * keep))
    assert main(["train", str(ds), "--out", str(tmp_path / "run"), "--epochs", "1", "--windows-per-epoch", "8",
                 *FAST]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2_10/" + which in err and "--overwrite" in err and "Traceback" not in err, err
    assert not (tmp_path / "run" / "last.safetensors").exists()
    assert main(["evaluate", str(tiny_checkpoint()), str(ds), "--split", "train", "--out", str(tmp_path / "ev"),
                 "--window", "64", "--overlap", "16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2_10/" + which in err and "Traceback" not in err, err
    assert main(["evaluate", str(tiny_checkpoint()), str(ds), "--split", "val", "--out", str(tmp_path / "ev"),
                 "--window", "64", "--overlap", "16"]) == 0  # the intact split is still evaluated


def test_progress_within_an_epoch_reaches_stderr_without_a_terminal(dataset, tmp_path, capfd, monkeypatch):
    """Issue 23 item 26: with stderr not a terminal (a log, CI) nothing showed until the first epoch ended."""
    from landseg import train as T

    monkeypatch.setattr(T, "PROGRESS_EVERY_S", 0.0)  # throttle off: a line per batch
    run = tmp_path / "run"
    assert main(["train", str(dataset), "--out", str(run), "--epochs", "1", "--windows-per-epoch", "32", *FAST]) == 0
    err = capfd.readouterr().err
    assert "epoch 1/1: started (4 batches of 8 windows)" in err
    for k in range(1, 5):
        assert f"epoch 1/1: {k}/4 batches ({k / 4:.0%}), loss " in err


def test_epoch_progress_lines_are_throttled():
    import io

    from landseg.train import EpochProgress

    out = io.StringIO()
    log = EpochProgress("epoch 2/5", 100, 8, enabled=True, every=3600, stream=out)
    for k in range(1, 101):
        log.update(k, lambda: 0.5)
    lines = out.getvalue().splitlines()
    assert lines[0] == "epoch 2/5: started (100 batches of 8 windows)"
    assert len(lines) == 2 and lines[1].startswith("epoch 2/5: 1/100 batches (1%), loss 0.500, ")
    quiet = io.StringIO()
    EpochProgress("epoch 1/1", 4, 8, enabled=False, stream=quiet).update(1, lambda: 0.1)  # a terminal: tqdm's bar
    assert quiet.getvalue() == ""
