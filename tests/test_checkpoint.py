import os
import pickle

import pytest
import torch

from landseg.classes import ISPRS
from landseg.errors import CheckpointError
from landseg.models.build import build_model
from landseg.models.checkpoint import Checkpoint, load_checkpoint, read_metadata, save_checkpoint

ARCH = {"name": "unet", "in_channels": 3, "num_classes": 6, "width": 4, "depth": 3}


def make_ckpt(**kw) -> Checkpoint:
    torch.manual_seed(0)
    m = build_model(ARCH)
    return Checkpoint(arch=ARCH, class_table=ISPRS, bands=["red", "green", "blue"], mean=[1.0, 2.0, 3.0],
                      std=[4.0, 5.0, 6.0], pixel_size=0.05, state_dict=m.state_dict(), train={"epoch": 3}, **kw)


def test_round_trip(tmp_path):
    ck = make_ckpt()
    p = tmp_path / "m.safetensors"
    save_checkpoint(ck, p)
    back = load_checkpoint(p)
    assert back.arch == ARCH and back.class_table == ISPRS and back.pixel_size == 0.05 and back.train["epoch"] == 3
    for k, v in ck.state_dict.items():
        assert torch.equal(v, back.state_dict[k])
    x = torch.randn(1, 3, 32, 32)
    m1 = build_model(ARCH)
    m1.load_state_dict(ck.state_dict)
    assert torch.allclose(m1.eval()(x), back.build().eval()(x))
    assert read_metadata(p)["bands"] == ["red", "green", "blue"]


def test_optimizer_and_rng_state_round_trip(tmp_path):
    ck = make_ckpt()
    model = build_model(ARCH)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(1, 3, 16, 16)).mean().backward()
    opt.step()
    ck.optim_state, ck.rng_state = opt.state_dict(), {"torch": torch.get_rng_state()}
    save_checkpoint(ck, tmp_path / "s.safetensors")
    back = load_checkpoint(tmp_path / "s.safetensors", with_training_state=True)
    opt2 = torch.optim.AdamW(build_model(ARCH).parameters(), lr=1e-3)
    opt2.load_state_dict(back.optim_state)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert s1.keys() == s2.keys()
    assert all(torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"]) for k in s1)
    assert torch.equal(back.rng_state["torch"], ck.rng_state["torch"])


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/landseg-pwned-marker",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = "/tmp/landseg-pwned-marker"
    if os.path.exists(marker):
        os.remove(marker)
    for name, writer in (("evil.pt", lambda f: torch.save({"x": Evil()}, f)),
                         ("evil.safetensors", lambda f: pickle.dump(Evil(), open(f, "wb")))):
        p = tmp_path / name
        writer(p)
        with pytest.raises(CheckpointError, match="not a landseg checkpoint"):
            load_checkpoint(p)
    assert not os.path.exists(marker)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a landseg checkpoint"):
        load_checkpoint(tmp_path / "other.safetensors")
    (tmp_path / "run").mkdir()
    with pytest.raises(CheckpointError, match="no best.safetensors"):
        load_checkpoint(tmp_path / "run")


def test_truncated_checkpoint_write_is_not_kept(tiny_checkpoint, tmp_path, monkeypatch):
    from landseg.errors import OutputError
    from landseg.models import checkpoint

    good = load_checkpoint(tiny_checkpoint())
    real = checkpoint.save_file

    def truncating(tensors, path, metadata=None):
        real(tensors, path, metadata=metadata)
        os.truncate(path, os.path.getsize(path) - 100)

    monkeypatch.setattr(checkpoint, "save_file", truncating)
    out = tmp_path / "run" / "best.safetensors"
    with pytest.raises(OutputError, match=r"best\.safetensors: the written checkpoint cannot be read back"):
        save_checkpoint(good, out)
    assert list(out.parent.iterdir()) == []


# -- crafted metadata ------------------------------------------------------------------------
def _craft(tmp_path, tiny_checkpoint, edit=None, raw=None, tensors=None):
    """A checkpoint whose metadata is ``edit``-ed (or replaced by ``raw`` text) after a valid save."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    src = tiny_checkpoint()
    with safe_open(str(src), framework="pt") as f:
        meta = json.loads(f.metadata()["landseg"])
    if edit:
        edit(meta)
    out = tmp_path / "crafted.safetensors"
    save_file(tensors if tensors is not None else load_file(str(src)), str(out),
              metadata={"landseg": raw if raw is not None else json.dumps(meta)})
    return out


@pytest.mark.parametrize("edit, raw, match", [
    (None, "{not json", "metadata is not valid JSON"),
    (None, "[1, 2]", "must be a JSON object"),
    (lambda m: m["arch"].pop("width"), None, "lacks width"),
    (lambda m: m.pop("arch"), None, "lacks arch"),
    (lambda m: m["arch"].update(width=4096, depth=12), None, r"parameters, more than the 2,000,000,000"),
    (lambda m: m["arch"].update(width=4000, depth=6), None, r"parameters, more than"),
    (lambda m: m["arch"].update(num_classes=10**9), None, r"num_classes must be an integer in \[2, 1024\]"),
    (lambda m: m["arch"].update(depth="4"), None, "depth must be an integer"),
    (lambda m: m["arch"].update(num_classes=7), None, "predicts 7 classes but its class table has 6"),
    (lambda m: m.update(bands=["red"]), None, "bands must list 3 values"),
    (lambda m: m.update(std=[1, 0, 1]), None, "std must be positive"),
    (lambda m: m.update(pixel_size=-0.05), None, "pixel size must be a positive number"),
    (lambda m: m.update(pixel_size=float("nan")), None, "pixel size must be a positive number"),
    (lambda m: m.update(pixel_size=0), None, "pixel size must be a positive number"),
    (lambda m: m["arch"].update(width=8), None, "stored weights do not match the described architecture"),
])
def test_crafted_metadata_is_refused(tmp_path, tiny_checkpoint, edit, raw, match):
    import time

    path = _craft(tmp_path, tiny_checkpoint, edit, raw)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match=match) as exc:
        load_checkpoint(path)
    assert "crafted.safetensors" in str(exc.value) and time.perf_counter() - t0 < 2


def test_missing_weight_tensor_is_refused(tmp_path, tiny_checkpoint):
    from safetensors.torch import load_file

    tensors = load_file(str(tiny_checkpoint()))
    tensors.pop(next(k for k in tensors if k.endswith("head.weight")))
    path = _craft(tmp_path, tiny_checkpoint, tensors=tensors)
    with pytest.raises(CheckpointError, match="missing 1 tensors, e.g. head.weight"):
        load_checkpoint(path)


# -- issue #16: corrupt metadata ---------------------------------------------------------------------
def _with_metadata(path, text):
    from safetensors.torch import save_file

    save_file({"model.w": torch.zeros(2)}, str(path), metadata={"landseg": text})
    return path


@pytest.mark.parametrize("text,why", [
    ('{"format": "landseg-checkpoint-1", "arch": {"name": "unet"', "not valid JSON"),
    ("[1, 2, 3]", "not a JSON object"),
    ('{"format": "landseg-checkpoint-1", "mean": [1]}', "lacks arch"),
    ('{"format": "landseg-checkpoint-1", "arch": {"name": "unet", "in_channels": 3, "num_classes": 6, "width": 8, '
     '"depth": 3}, "class_table": 5, "bands": ["r", "g", "b"], "mean": [0, 0, 0], "std": [1, 1, 1]}', "class_table"),
])
def test_corrupt_metadata_is_a_clear_checkpoint_error(tmp_path, capsys, text, why):
    p = _with_metadata(tmp_path / "bad.safetensors", text)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(p)
    msg = str(info.value)
    assert str(p) in msg and "corrupt landseg metadata" in msg and why in msg
    from landseg.cli import main

    assert main(["export", str(p), str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "corrupt landseg metadata" in err and "Traceback" not in err
