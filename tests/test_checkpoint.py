import os
import pickle

import pytest
import torch

from landseg.models.checkpoint import Checkpoint, load_checkpoint, read_metadata, save_checkpoint
from landseg.classes import ISPRS
from landseg.errors import CheckpointError
from landseg.models.unet import build_model

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


# -- issue #16: corrupt metadata ---------------------------------------------------------------------
def _with_metadata(path, text):
    from safetensors.torch import save_file

    save_file({"model.w": torch.zeros(2)}, str(path), metadata={"landseg": text})
    return path


@pytest.mark.parametrize("text,why", [
    ('{"format": "landseg-checkpoint-1", "arch": {"name": "unet"', "not valid JSON"),
    ("[1, 2, 3]", "not a JSON object"),
    ('{"format": "landseg-checkpoint-1", "mean": [1]}', "'arch'"),
    ('{"format": "landseg-checkpoint-1", "arch": {}, "class_table": 5, "bands": [], "mean": [], "std": []}', "class_table"),
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
