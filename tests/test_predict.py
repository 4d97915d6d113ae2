import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from loopback import free_port
from rasterio.transform import from_origin

from landseg.classes import ISPRS
from landseg.cli import main
from landseg.errors import InputError
from landseg.layout import PredictPaths
from landseg.models.checkpoint import load_checkpoint
from landseg.predict import PredictOptions, predict_raster

COLORS = np.array(ISPRS.colors, np.float32)


def colour_engine(batch: np.ndarray) -> np.ndarray:
    """Known per-pixel answer: the ISPRS class whose colour is nearest (a fixed 1x1 'model')."""
    x = batch.astype(np.float32)
    d = ((x[:, None] - COLORS[None, :, :, None, None]) ** 2).sum(2)
    e = np.exp(-(d - d.min(1, keepdims=True)) / 500)
    return e / e.sum(1, keepdims=True)


def scene(h, w, seed=0, block=1):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, 6, (h // block + 1, w // block + 1)).repeat(block, 0).repeat(block, 1)[:h, :w]
    img = np.moveaxis(ISPRS.index_to_rgb(lab), -1, 0)
    return lab.astype(np.uint8), img


@pytest.fixture
def ckpt(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint())


@pytest.mark.parametrize("h,w", [(512, 512), (300, 517), (1100, 700)])
def test_stitched_output_equals_per_pixel_answer(make_geotiff, ckpt, tmp_path, h, w):
    lab, img = scene(h, w, seed=h)
    tr = from_origin(367000.0, 5808000.0, 0.05, 0.05)
    src = make_geotiff(img, name=f"s{h}.tif", transform=tr)
    opts = PredictOptions(window=256, overlap=64, batch_size=3, progress=False, chunk_width=384)
    rec = predict_raster(colour_engine, ckpt, src, tmp_path / "out", opts)
    with rasterio.open(rec["classes"]) as ds:
        out = ds.read(1)
        assert ds.crs == "EPSG:32633" and ds.transform == tr and ds.nodata == 255
        assert ds.colormap(1)[1] == (0, 0, 255, 255) and ds.colormap(1)[255][3] == 0
        assert json.loads(ds.tags()["LANDSEG_CLASS_TABLE"])["classes"][1]["name"] == "building"
        assert ds.tags()["CLASS_NAMES"].split(",")[3] == "tree"
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.block_shapes[0] == (512, 512)  # internal COG tiles
        if max(h, w) > 1024:
            assert ds.overviews(1)
    assert np.array_equal(out, lab)
    paths = PredictPaths.of(src, tmp_path / "out")
    assert paths.preview.exists() and paths.overlay.exists() and paths.record.exists()


def test_nodata_stays_nodata(make_geotiff, ckpt, tmp_path):
    lab, img = scene(200, 240, seed=1)
    img[:, :, :30] = 0
    src = make_geotiff(img, nodata=0)
    rec = predict_raster(colour_engine, ckpt, src, tmp_path / "o", PredictOptions(window=128, overlap=32, progress=False))
    with rasterio.open(rec["classes"]) as ds:
        out = ds.read(1)
    assert (out[:, :30] == 255).all()
    assert np.array_equal(out[:, 30:], lab[:, 30:])


def test_alpha_band_is_the_mask(make_geotiff, ckpt, tmp_path):
    lab, img = scene(100, 100, seed=2)
    alpha = np.full((1, 100, 100), 255, np.uint8)
    alpha[0, 60:] = 0
    src = make_geotiff(np.concatenate([img, alpha]), name="rgba.tif", photometric="RGB", alpha="YES")
    rec = predict_raster(colour_engine, ckpt, src, tmp_path / "o", PredictOptions(window=64, overlap=16, progress=False))
    with rasterio.open(rec["classes"]) as ds:
        out = ds.read(1)
    assert (out[60:] == 255).all() and np.array_equal(out[:60], lab[:60])


def test_probabilities_output(make_geotiff, ckpt, tmp_path):
    lab, img = scene(96, 96, seed=3)
    src = make_geotiff(img)
    predict_raster(colour_engine, ckpt, src, tmp_path / "o",
                   PredictOptions(window=64, overlap=16, probs=True, progress=False))
    with rasterio.open(PredictPaths.of(src, tmp_path / "o").probs) as ds:
        p = ds.read()
    assert p.shape == (6, 96, 96) and np.array_equal(p.argmax(0), lab)
    assert np.abs(p.astype(int).sum(0) - 255).max() <= 6


def test_resampled_to_model_pixel_size_and_back(make_geotiff, tiny_checkpoint, tmp_path):
    ck = load_checkpoint(tiny_checkpoint(pixel_size=0.05))
    lab, img = scene(240, 240, seed=4, block=16)
    src = make_geotiff(img, transform=from_origin(367000, 5808000, 0.10, 0.10))
    rec = predict_raster(colour_engine, ck, src, tmp_path / "o", PredictOptions(window=128, overlap=32, progress=False))
    assert "resampled to 480x480" in rec["note"] and rec["inference_grid"] == [480, 480]
    with rasterio.open(rec["classes"]) as ds:
        out = ds.read(1)
        assert ds.shape == (240, 240) and ds.transform.a == pytest.approx(0.10)
    assert (out == lab).mean() > 0.97  # only block borders may move by a pixel
    # no georeferencing: --gsd enables the same; without it a clear note
    png = tmp_path / "plain.png"
    from PIL import Image

    Image.fromarray(np.moveaxis(img, 0, -1)).save(png)
    rec = predict_raster(colour_engine, ck, png, tmp_path / "o2", PredictOptions(window=128, overlap=32, progress=False,
                                                                                gsd=0.10))
    assert "resampled" in rec["note"]
    with rasterio.open(rec["classes"]) as ds:
        assert ds.crs is None and (ds.read(1) == lab).mean() > 0.97
    rec = predict_raster(colour_engine, ck, png, tmp_path / "o3", PredictOptions(window=128, overlap=32, progress=False))
    assert "no georeferencing and no --gsd" in rec["note"]


def test_tta_keeps_a_symmetric_answer(make_geotiff, ckpt, tmp_path):
    lab, img = scene(64, 96, seed=5)
    src = make_geotiff(img)
    rec = predict_raster(colour_engine, ckpt, src, tmp_path / "o", PredictOptions(window=64, overlap=16, tta=True,
                                                                                progress=False))
    with rasterio.open(rec["classes"]) as ds:
        assert np.array_equal(ds.read(1), lab)


def test_cli_predict_skips_complete_outputs_and_reports_bad_inputs(make_geotiff, tiny_checkpoint, tmp_path, capsys):
    model = tiny_checkpoint()
    _, img = scene(80, 80, seed=6)
    good = make_geotiff(img, name="good.tif")
    u16 = make_geotiff(img.astype(np.uint16) * 200, name="u16.tif")
    one = make_geotiff(img[:1], name="oneband.tif")
    empty = make_geotiff(np.zeros_like(img), name="allnodata.tif", nodata=0)
    trunc = tmp_path / "trunc.tif"
    trunc.write_bytes(good.read_bytes()[:300])
    out = tmp_path / "out"
    code = main(["predict", str(model), str(good), str(u16), str(one), str(empty), str(trunc), "--out", str(out),
                 "--window", "64", "--overlap", "16"])
    err = capsys.readouterr().err
    assert code == 2 and "4 of 5 inputs failed" in err
    assert "uint16 pixels, but the model expects 8-bit" in err and "--input-range" in err
    assert "needs 3 bands, this raster has 1" in err
    assert "every pixel is nodata" in err
    assert "trunc.tif" in err
    assert (out / "good_classes.tif").exists()
    assert not list(out.glob("u16_*")) and not list(out.glob("trunc_*"))
    assert main(["predict", str(model), str(good), "--out", str(out), "--window", "64", "--overlap", "16"]) == 0
    assert "already done" in capsys.readouterr().out  # same input, model and options
    assert main(["predict", str(model), str(u16), "--out", str(out), "--input-range", "0,51000",
                 "--window", "64", "--overlap", "16"]) == 0


def test_cli_model_and_output_errors(make_geotiff, tmp_path, capsys):
    _, img = scene(40, 40)
    src = make_geotiff(img)
    notmodel = tmp_path / "model.pt"
    notmodel.write_bytes(b"\x80\x04junk")
    assert main(["predict", str(notmodel), str(src), "--out", str(tmp_path / "o")]) == 2
    assert "not a landseg checkpoint" in capsys.readouterr().err
    blocker = tmp_path / "f"
    blocker.write_text("")
    assert main(["predict", str(notmodel), str(src), "--out", str(blocker / "o")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_interrupted_run_leaves_nothing_complete(make_geotiff, ckpt, tmp_path):
    _, img = scene(200, 200)
    src = make_geotiff(img)
    calls = []

    def dying(b):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return colour_engine(b)

    with pytest.raises(KeyboardInterrupt):
        predict_raster(dying, ckpt, src, tmp_path / "o", PredictOptions(window=64, overlap=16, batch_size=1,
                                                                       progress=False))
    assert not list((tmp_path / "o").glob("*_classes.tif"))
    assert not [p for p in (tmp_path / "o").iterdir() if not p.name.startswith(".")]


@pytest.mark.parametrize("step", ["write_raster_style", "write_raster_previews", "_write_areas", "write_json_atomic"])
def test_interrupted_after_maps_are_in_place_leaves_no_outputs(make_geotiff, ckpt, tmp_path, monkeypatch, step):
    """Ctrl+C (or the QGIS plugin's cancel) after the class map was renamed into place, before the record: none of
    this run's outputs stay (a class map without its record would look finished), nor its scratch folder."""
    import landseg.predict as pr

    _, img = scene(200, 200)
    src = make_geotiff(img)
    out = tmp_path / "o"
    real = getattr(pr, step)

    def interrupted(*a, **k):
        if step == "write_json_atomic":
            assert (out / "raster_classes.tif").exists() and (out / "raster_areas.json").exists()
        raise KeyboardInterrupt

    monkeypatch.setattr(pr, step, interrupted)
    opts = PredictOptions(window=64, overlap=16, batch_size=1, progress=False, confidence=True, probs=True)
    with pytest.raises(KeyboardInterrupt):
        predict_raster(colour_engine, ckpt, src, out, opts)
    assert sorted(p.name for p in out.iterdir()) == []
    monkeypatch.setattr(pr, step, real)
    rec = predict_raster(colour_engine, ckpt, src, out, opts)  # the rerun completes from nothing
    assert not rec.get("skipped") and (out / "raster_predict.json").exists()
    assert {p.name for p in out.iterdir()} >= {"raster_classes.tif", "raster_classes.qml", "raster_probs.tif"}


# -- real GeoTIFFs ---------------------------------------------------------------------------
def test_real_geotiffs(realdata, tiny_checkpoint, tmp_path, capsys):
    model = tiny_checkpoint()
    files = {
        "utm": realdata / "rfaulk_DINO_Soars/CAFe_DINO/sample_images/top_potsdam_4_13_RGB_y00_x00.tif",
        "mercator": realdata / "rasterio_rasterio/tests/data/cogeo.tif",
        "landsat": realdata / "rasterio_rasterio/tests/data/RGB.byte.tif",
        "pan": realdata / "CosmiQ_solaris/solaris/data/sample_geotiff.tif",
    }
    out = tmp_path / "out"
    code = main(["predict", str(model), *map(str, files.values()), "--out", str(out), "--window", "256", "--overlap", "32"])
    err = capsys.readouterr().err
    assert code == 2 and "sample_geotiff.tif: the model needs 3 bands, this raster has 1" in err
    for key in ("utm", "mercator", "landsat"):
        with rasterio.open(files[key]) as s, rasterio.open(out / f"{files[key].stem}_classes.tif") as o:
            assert o.crs == s.crs and o.transform == s.transform and o.shape == s.shape
            if key == "landsat":  # the nodata collar stays nodata
                cls = o.read(1)
                collar = s.dataset_mask() == 0
                assert collar.any() and (cls[collar] == 255).all() and (cls[~collar] < 6).all()


# -- engines and ranks -------------------------------------------------------------------------
def test_onnx_agrees_with_torch(make_geotiff, tiny_checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    model = tiny_checkpoint(seed=1)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (3, 300, 260)).astype(np.uint8)
    src = make_geotiff(img)
    assert main(["export", str(model), str(tmp_path / "m.onnx")]) == 0
    for engine in ("torch", "onnx"):
        assert main(["predict", str(model), str(src), "--out", str(tmp_path / engine), "--engine", engine,
                     "--precision", "fp32", "--window", "128", "--overlap", "32"]) == 0
    with rasterio.open(tmp_path / "torch" / "raster_classes.tif") as a, rasterio.open(tmp_path / "onnx" / "raster_classes.tif") as b:
        agree = (a.read(1) == b.read(1)).mean()
    assert agree >= 0.999


def test_two_ranks_equal_one_process(make_geotiff, tiny_checkpoint, tmp_path):
    model = tiny_checkpoint()
    inputs = []
    for i in range(3):
        _, img = scene(90 + 10 * i, 100, seed=10 + i)
        inputs.append(str(make_geotiff(img, name=f"in{i}.tif")))
    args = ["predict", str(model), *inputs, "--window", "64", "--overlap", "16", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    port = free_port()
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                          "127.0.0.1", "--master_port", str(port), "-m", "landseg", *args, "--out", str(tmp_path / "multi")],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    for i in range(3):
        with rasterio.open(tmp_path / "single" / f"in{i}_classes.tif") as a, \
                rasterio.open(tmp_path / "multi" / f"in{i}_classes.tif") as b:
            assert np.array_equal(a.read(1), b.read(1))


# -- issue #16: tests that fail when the mechanism is removed ---------------------------------------
from landseg.assets import DEFAULT_MODEL, samples  # noqa: E402

needs_default = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="bundled default model not built")


@pytest.fixture(scope="module")
def real_batch():
    """Two 128x128 crops of the bundled Dubai sample: a trained model predicts several classes on them."""
    from PIL import Image

    rgb = np.asarray(Image.open(samples()[0]).convert("RGB"))
    crops = [rgb[600:728, 600:728], rgb[1200:1328, 300:428]]
    return np.ascontiguousarray(np.stack([np.moveaxis(c, -1, 0) for c in crops]))


@needs_default
def test_trained_model_onnx_export_file_is_used_and_agrees(real_batch, make_geotiff, tmp_path, capsys):
    """`landseg export` writes a file that ONNX Runtime loads; its probabilities equal torch's (fp32) within 1e-4,
    and `predict --engine onnx` uses that file (it is not re-exported) and writes the same probabilities."""
    pytest.importorskip("onnxruntime")
    from landseg.inference.engine import OnnxEngine, TorchEngine

    ck = load_checkpoint("default")
    out = tmp_path / "out"
    out.mkdir()
    onnx_file = out / "default.onnx"  # where predict --engine onnx looks for this model's export
    assert main(["export", "default", str(onnx_file)]) == 0
    assert "exported" in capsys.readouterr().out
    stamp = onnx_file.stat().st_mtime_ns, onnx_file.stat().st_ino
    torch_p = TorchEngine(ck, "cpu", "fp32")(real_batch)
    onnx_p = OnnxEngine(ck, str(onnx_file))(real_batch)
    assert onnx_p.shape == torch_p.shape == (2, 5, 128, 128)
    cls = torch_p.argmax(1)
    shares = np.bincount(cls.ravel(), minlength=5) / cls.size
    assert (shares > 0.03).sum() >= 3, shares  # non-degenerate: at least 3 classes predicted
    assert np.abs(onnx_p - torch_p).max() < 1e-4
    img = np.concatenate([real_batch[0], real_batch[1]], axis=2)  # 128 x 256
    src = make_geotiff(img, name="crop.tif")
    for engine in ("torch", "onnx"):
        assert main(["predict", "default", str(src), "--out", str(out / engine if engine == "torch" else out),
                     "--engine", engine, "--precision", "fp32", "--window", "128", "--overlap", "32", "--probs",
                     "--no-previews", "--device", "cpu"]) == 0
    assert (onnx_file.stat().st_mtime_ns, onnx_file.stat().st_ino) == stamp  # the exported file was used as is
    with rasterio.open(out / "torch" / "crop_probs.tif") as a, rasterio.open(out / "crop_probs.tif") as b:
        pa, pb = a.read().astype(int), b.read().astype(int)
    assert np.abs(pa - pb).max() <= 1  # uint8-scaled probabilities: at most one rounding step apart


@needs_default
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_agrees_with_fp32(real_batch, precision):
    import torch

    from landseg.inference.engine import TorchEngine

    ck = load_checkpoint("default")
    ref = TorchEngine(ck, "cpu", "fp32")(real_batch)
    eng = TorchEngine(ck, "cpu", precision)
    assert eng.dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    try:
        got = eng(real_batch)
    except RuntimeError as exc:  # an older CPU autocast without this dtype
        pytest.skip(f"{precision} autocast not supported on this CPU: {exc}")
    assert got.dtype == np.float32 and np.allclose(got.sum(1), 1, atol=1e-4)
    diff = np.abs(got - ref)
    assert diff.max() > 1e-4  # it really ran in reduced precision
    # measured on a Xeon with AMX: bf16 mean 6e-4, 99th percentile 5e-3, max 0.017, argmax 99.8 %; fp16 8x less.
    # A CPU without native bf16 (an AMD EPYC without AVX-512, 2026-12) emulates it with coarser intermediate
    # rounding: bf16 mean 2.6e-3, 99th percentile 0.030, max 0.095 -- bounds twice those, argmax bound the same.
    from landseg.inference.engine import cpu_has_fast_bf16
    mean_b, q99_b, max_b = (0.005, 0.03, 0.15) if cpu_has_fast_bf16() else (0.01, 0.06, 0.25)
    q99 = np.quantile(diff, 0.99)
    assert diff.mean() < mean_b and q99 < q99_b and diff.max() < max_b, (diff.mean(), q99, diff.max())
    assert (got.argmax(1) == ref.argmax(1)).mean() > 0.99


def test_auto_precision_follows_the_cpu(monkeypatch, tiny_checkpoint):
    import torch

    from landseg.inference import engine as E

    cpu = torch.device("cpu")
    for fast, want in ((True, torch.bfloat16), (False, None)):
        monkeypatch.setattr(E, "cpu_has_fast_bf16", lambda fast=fast: fast)
        assert E.autocast_dtype(cpu, "auto") is want
        assert E.TorchEngine(load_checkpoint(tiny_checkpoint()), "cpu", "auto").dtype is want
        assert E.autocast_dtype(cpu, "fp32") is None and E.autocast_dtype(cpu, "bf16") is torch.bfloat16
    monkeypatch.undo()
    for text, want in (("flags : fpu avx512f avx512_bf16\n", True), ("flags : fpu amx_bf16 amx_tile\n", True),
                       ("flags : fpu avx2 avx512f\n", False)):
        monkeypatch.setattr(E, "open", lambda *a, text=text, **k: __import__("io").StringIO(text), raising=False)
        assert E.cpu_has_fast_bf16() is want
    with pytest.raises(Exception, match="precision must be"):
        E.autocast_dtype(cpu, "int8")


def test_each_rank_predicts_only_its_share(make_geotiff, tiny_checkpoint, tmp_path, monkeypatch):
    from landseg.predict import predict_files

    model = str(tiny_checkpoint())
    inputs = []
    for i in range(3):
        _, img = scene(64, 64, seed=20 + i)
        inputs.append(make_geotiff(img, name=f"in{i}.tif"))
    opts = PredictOptions(window=64, overlap=16, progress=False, previews=False, areas=False)
    done = {}
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        said = []
        assert predict_files(model, inputs, tmp_path / f"r{rank}", opts, device="cpu", echo=said.append) == []
        done[rank] = sorted(p.name for p in (tmp_path / f"r{rank}").glob("*_classes.tif"))
        assert len(said) == len(done[rank])
    assert done[0] == ["in0_classes.tif", "in2_classes.tif"] and done[1] == ["in1_classes.tif"]
    assert sorted(done[0] + done[1]) == [f"in{i}_classes.tif" for i in range(3)]


def test_overwrite_reruns_instead_of_skipping(make_geotiff, tiny_checkpoint, tmp_path, capsys):
    model = tiny_checkpoint()
    _, img = scene(64, 64, seed=30)
    src = make_geotiff(img, name="a.tif")
    out = tmp_path / "o"
    args = ["predict", str(model), str(src), "--out", str(out), "--window", "64", "--overlap", "16", "--no-previews"]
    assert main(args) == 0
    cls = out / "a_classes.tif"
    with rasterio.open(cls) as ds:
        first = ds.read(1)
    with rasterio.open(cls, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:  # tamper: a rerun must rewrite it, a skip must leave it
        ds.write(np.full_like(first, 7), 1)
    capsys.readouterr()
    assert main(args) == 0
    assert "already done" in capsys.readouterr().out
    with rasterio.open(cls) as ds:
        assert (ds.read(1) == 7).all()
    assert main([*args, "--overwrite"]) == 0
    assert "already done" not in capsys.readouterr().out
    with rasterio.open(cls) as ds:
        assert np.array_equal(ds.read(1), first)


def test_input_range_parsing(capsys, make_geotiff, tiny_checkpoint, tmp_path):
    from landseg.cli import parse_range
    from landseg.errors import ConfigError

    assert parse_range(None) is None and parse_range("") is None
    assert parse_range("0,51000") == (0.0, 51000.0)
    assert parse_range(" -1e3 , 2.5 ") == (-1000.0, 2.5)
    for bad in ("5,1", "1,1", "a,b", "1", "1,2,3", "nan,1", "1,nan", ","):
        with pytest.raises(ConfigError, match="MIN,MAX with MIN < MAX"):
            parse_range(bad)
    _, img = scene(40, 40)
    src = make_geotiff(img)
    assert main(["predict", str(tiny_checkpoint()), str(src), "--out", str(tmp_path / "o"), "--input-range", "9,2"]) == 2
    assert "--input-range expects MIN,MAX with MIN < MAX, got '9,2'" in capsys.readouterr().err


# -- reliability (#14, second half) ------------------------------------------------------------
def test_same_file_name_in_two_folders_gets_two_outputs(make_geotiff, tiny_checkpoint, tmp_path, capsys):
    model = tiny_checkpoint()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, img1 = scene(64, 64, seed=1)
    _, img2 = scene(64, 64, seed=2)
    a = make_geotiff(img1, name="a/x.tif")
    b = make_geotiff(img2, name="b/x.tif")
    out = tmp_path / "out"
    assert main(["predict", str(model), str(a), str(b), "--out", str(out), "--window", "64", "--overlap", "0"]) == 0
    with rasterio.open(out / "a_x_classes.tif") as da, rasterio.open(out / "b_x_classes.tif") as db:
        assert not np.array_equal(da.read(1), db.read(1))
    assert "already done" not in capsys.readouterr().out
    png = tmp_path / "a" / "x.png"
    png.write_bytes(b"")
    assert main(["predict", str(model), str(a), str(png), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "x.tif and" in err and "x.png would write the same outputs" in err


def test_nan_and_inf_in_float_inputs_are_nodata(make_geotiff, ckpt, tmp_path):
    lab, img = scene(96, 96, seed=3)
    f = img.astype(np.float32)
    f[:, :10, :] = np.nan  # no nodata declared: GDAL's mask does not see these
    f[0, 50, 50] = np.inf
    f[1, 60, 60] = -np.inf
    src = make_geotiff(f, name="float.tif")
    rec = predict_raster(colour_engine, ckpt, src, tmp_path / "o",
                         PredictOptions(window=64, overlap=16, progress=False, input_range=(0, 255)))
    with rasterio.open(rec["classes"]) as ds:
        cls = ds.read(1)
    assert (cls[:10] == 255).all() and cls[50, 50] == 255 and cls[60, 60] == 255
    keep = np.ones_like(cls, bool)
    keep[:10] = False
    keep[50, 50] = keep[60, 60] = False
    assert np.array_equal(cls[keep], lab[keep])
    f[:] = np.nan
    allnan = make_geotiff(f, name="allnan.tif")
    with pytest.raises(Exception, match="every pixel is nodata"):
        predict_raster(colour_engine, ckpt, allnan, tmp_path / "o", PredictOptions(progress=False, input_range=(0, 255)))


def test_nan_in_a_float_class_raster_is_nodata_for_area_and_vectorize(make_geotiff, tmp_path, capsys):
    a = np.zeros((40, 40), np.float32)
    a[:20] = 1
    a[:5] = np.nan
    a[39, 39] = np.inf
    path = make_geotiff(a, name="fcls.tif")
    assert main(["area", str(path), "--class-table", "isprs", "--format", "json"]) == 0
    res = json.loads(capsys.readouterr().out)
    text = json.dumps(res)
    px = 0.05 * 0.05
    counted = {c["name"]: c for c in res["classes"]}
    assert abs(counted["building"]["area_m2"] - 15 * 40 * px) < 1e-6, text
    assert abs(counted["impervious_surface"]["area_m2"] - (20 * 40 - 1) * px) < 1e-6, text
    a[10, 10] = 2.5
    bad = make_geotiff(a, name="frac.tif")
    assert main(["area", str(bad), "--class-table", "isprs"]) == 2
    assert "fractional values" in capsys.readouterr().err
    out = tmp_path / "v.gpkg"
    assert main(["vectorize", str(path), "--class-table", "isprs", "--out", str(out)]) == 0


def test_resampling_and_pixel_budgets_are_checked_before_any_work(realdata, make_geotiff, tiny_checkpoint, tmp_path,
                                                                  capsys):
    model = tiny_checkpoint(pixel_size=0.05)
    landsat = realdata / "rasterio_rasterio/tests/data/RGB.byte.tif"  # 300 m pixels
    out = tmp_path / "out"
    assert main(["predict", str(model), str(landsat), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "RGB.byte.tif: pixel size 300 m (from its georeferencing) against the model's 0.05 m" in err
    assert "upsampled 6e+03x" in err and "--max-scale 8" in err and "--gsd" in err
    _, img = scene(512, 512)
    png = tmp_path / "tile.png"
    with rasterio.open(png, "w", driver="PNG", width=512, height=512, count=3, dtype="uint8") as ds:
        ds.write(img)
    assert main(["predict", str(model), str(png), "--out", str(out), "--gsd", "10"]) == 2
    assert "pixel size 10 m (from --gsd)" in capsys.readouterr().err
    assert main(["predict", str(model), str(png), "--out", str(out), "--gsd", "0.3", "--max-scale", "4"]) == 2
    assert "be upsampled 6x (to 3072x3072 pixels), beyond --max-scale 4" in capsys.readouterr().err
    sparse = tmp_path / "sparse.tif"  # a few KB on disk, declares 100000 x 100000 pixels
    with rasterio.open(sparse, "w", driver="GTiff", width=100_000, height=100_000, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(0, 0, 0.05, 0.05), tiled=True, blockxsize=1024, blockysize=1024, SPARSE_OK=True):
        pass
    assert sparse.stat().st_size < 1_000_000
    assert main(["predict", str(tiny_checkpoint(name="nops.safetensors")), str(sparse), "--out", str(out)]) == 2
    assert "100000x100000 = 10,000,000,000 pixels to predict, more than the limit of 2,000,000,000 (--max-pixels)" \
        in capsys.readouterr().err
    assert not [p for p in out.iterdir() if not p.name.startswith(".")]


def test_an_unexpected_error_in_one_input_does_not_stop_the_others(make_geotiff, tiny_checkpoint, tmp_path, capsys,
                                                                   monkeypatch):
    from rasterio.errors import RasterioIOError

    import landseg.predict as pr

    model = tiny_checkpoint()
    _, img = scene(64, 64)
    files = [make_geotiff(img, name=f"{n}.tif") for n in ("a", "boom", "c", "gdal")]
    real = pr._check_has_data

    def flaky(ds, src, *rest):
        if src.stem == "boom":
            raise ValueError("unexpected")
        if src.stem == "gdal":
            raise RasterioIOError("Read failed")
        return real(ds, src, *rest)

    monkeypatch.setattr(pr, "_check_has_data", flaky)
    out = tmp_path / "out"
    assert main(["predict", str(model), *map(str, files), "--out", str(out), "--window", "64", "--overlap", "0"]) == 2
    err = capsys.readouterr().err
    assert "boom.tif: failed with ValueError: unexpected" in err and "gdal.tif: failed with RasterioIOError" in err
    assert err.strip().endswith(f"2 of 4 inputs failed: {files[1]}, {files[3]}")
    assert (out / "a_classes.tif").exists() and (out / "c_classes.tif").exists()

    def interrupt(ds, src, *rest):
        raise KeyboardInterrupt

    monkeypatch.setattr(pr, "_check_has_data", interrupt)
    assert main(["predict", str(model), *map(str, files), "--out", str(out), "--overwrite"]) == 130


def test_kill_9_mid_run_leaves_nothing_that_the_rerun_keeps(make_geotiff, tiny_checkpoint, tmp_path, capsys):
    import signal
    import time

    model = tiny_checkpoint()
    _, img = scene(1536, 1536, block=16)
    src = make_geotiff(img, name="big.tif")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "landseg", "predict", str(model), str(src), "--out", str(out),
                             "--window", "64", "--overlap", "16", "--batch-size", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob(".landseg-*")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "the run ended before it could be killed; make the input bigger"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    left = [p.name for p in out.iterdir()]
    assert any(n.startswith(f".landseg-{proc.pid}-") for n in left), left
    part = out / f".big_classes.tif.{proc.pid}-abcdefgh.part.tif"  # as atomic_output names its temp files
    part.write_bytes(b"x")
    (out / "big_classes.tif").write_bytes(b"stale")  # a class map without its completion marker: not done
    assert main(["predict", str(model), str(src), "--out", str(out), "--window", "256", "--overlap", "32"]) == 0
    assert "already done" not in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"big_{k}" for k in ("classes.tif", "classes.qml", "preview.png", "overlay.png", "areas.csv", "areas.json",
                             "predict.json"))
    with rasterio.open(out / "big_classes.tif") as ds:
        assert ds.shape == (1536, 1536)
    assert main(["predict", str(model), str(src), "--out", str(out), "--window", "256", "--overlap", "32"]) == 0
    assert "already done" in capsys.readouterr().out  # same input, model and options


def test_predict_on_a_full_disk_says_which_path_and_how_much_space(make_geotiff, tiny_checkpoint, tiny_disk, capsys):
    model = tiny_checkpoint()
    img = np.random.default_rng(0).integers(0, 256, (3, 700, 700), dtype=np.uint8)  # incompressible
    src = make_geotiff(img, name="big.tif")
    code = main(["predict", str(model), str(src), "--out", str(tiny_disk / "out"), "--window", "128",
                 "--overlap", "0", "--probs"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "landseg predict: error: " in err and "free of 200.0 KB" in err and str(tiny_disk / "out") in err
    assert "1 of 1 inputs failed" in err
    assert not list((tiny_disk / "out").iterdir())  # no temp folder, no partial file


def test_corrupt_onnx_in_the_output_folder_is_exported_again(make_geotiff, tiny_checkpoint, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    model = tiny_checkpoint()
    _, img = scene(64, 64)
    src = make_geotiff(img)
    out = tmp_path / "out"
    out.mkdir()
    (out / "tiny.onnx").write_bytes(b"\x08\x07junk, as left by a killed copy")
    assert main(["predict", str(model), str(src), "--out", str(out), "--engine", "onnx", "--window", "64",
                 "--overlap", "0"]) == 0, capsys.readouterr().err
    assert (out / "tiny.onnx").stat().st_size > 1000 and (out / "raster_classes.tif").exists()
    five = type(ISPRS).from_dict({**ISPRS.to_dict(), "classes": ISPRS.to_dict()["classes"][:5],
                                  "roles": {r: m for r, m in ISPRS.role_map().items() if r != "unknown"}})  # no clutter
    other = tiny_checkpoint(table=five, name="tiny5.safetensors")
    (out / "tiny5.onnx").write_bytes((out / "tiny.onnx").read_bytes())  # an export of another model: not used
    assert main(["predict", str(other), str(src), "--out", str(out), "--engine", "onnx", "--overwrite",
                 "--window", "64", "--overlap", "0"]) == 0, capsys.readouterr().err


def test_band_roles_alpha_is_a_mask_only_when_it_looks_like_one(make_geotiff, ckpt, tmp_path, capsys):
    """Issue 23.2: a 4-band 8-bit GeoTIFF written with GDAL's defaults tags band 4 alpha. An RGBI image whose NIR is 0
    in some rows must not lose those rows silently: auto refuses and asks, --mask nodata predicts everything,
    --mask alpha masks them; a real 0/255 alpha is the mask in auto; which bands and mask were used is recorded."""
    lab, img = scene(96, 96, seed=5)
    nir = np.full((96, 96), 120, np.uint8)
    nir[:30] = 0
    rgbi = make_geotiff(np.concatenate([img, nir[None]]), name="rgbi.tif")
    with rasterio.open(rgbi) as ds:
        assert ds.colorinterp[3].name == "alpha"  # the trap: GDAL's default tagging
    opts = dict(window=64, overlap=16, progress=False, previews=False)
    with pytest.raises(InputError, match="band 4 is tagged alpha.*--mask alpha.*--mask nodata"):
        predict_raster(colour_engine, ckpt, rgbi, tmp_path / "auto", PredictOptions(**opts))
    rec = predict_raster(colour_engine, ckpt, rgbi, tmp_path / "nd", PredictOptions(**opts, mask="nodata"))
    cls = rasterio.open(rec["classes"]).read(1)
    assert np.array_equal(cls, lab)  # nothing lost
    saved = json.loads(PredictPaths.of(rgbi, tmp_path / "nd").record.read_text())
    assert saved["bands"] == [1, 2, 3] and "band 4 is tagged alpha but not used" in saved["mask"]
    rec = predict_raster(colour_engine, ckpt, rgbi, tmp_path / "al", PredictOptions(**opts, mask="alpha"))
    cls = rasterio.open(rec["classes"]).read(1)
    assert (cls[:30] == 255).all() and np.array_equal(cls[30:], lab[30:])
    # a real alpha (0/255) is the mask in auto, and the CLI says so
    alpha = np.where(nir > 0, 255, 0).astype(np.uint8)
    rgba = make_geotiff(np.concatenate([img, alpha[None]]), name="rgba.tif")
    assert main(["predict", str(ckpt.path), str(rgba), "--out", str(tmp_path / "rgba"), "--no-previews",
                 "--window", "64", "--overlap", "16"]) == 0
    assert "nodata mask: alpha band 4" in capsys.readouterr().out
    cls = rasterio.open(PredictPaths.of(rgba, tmp_path / "rgba").classes).read(1)
    assert (cls[:30] == 255).all() and (cls[30:] != 255).all()
    # the CLI refuses the RGBI file in one line (exit 2), and --mask none keeps every pixel
    assert main(["predict", str(ckpt.path), str(rgbi), "--out", str(tmp_path / "cli"), "--no-previews"]) == 2
    assert "--mask nodata" in capsys.readouterr().err
    rec = predict_raster(colour_engine, ckpt, rgba, tmp_path / "none", PredictOptions(**opts, mask="none"))
    assert (rasterio.open(rec["classes"]).read(1) != 255).all()


def test_an_alpha_tagged_band_that_feeds_the_model_is_not_a_mask(make_geotiff, tiny_checkpoint, tmp_path):
    """A 4-band model on an RGBI file tagged RGBA: band 4 is model input, so its zeros are not nodata."""
    ck = load_checkpoint(tiny_checkpoint(bands=4))
    img = np.random.default_rng(0).integers(1, 255, (4, 64, 64)).astype(np.uint8)
    img[3, :20] = 0
    src = make_geotiff(img, name="rgbi4.tif")

    def engine(batch):
        return np.ones((batch.shape[0], 6, *batch.shape[2:]), np.float32) / 6

    rec = predict_raster(engine, ck, src, tmp_path / "o", PredictOptions(window=64, overlap=16, progress=False,
                                                                          previews=False))
    assert (rasterio.open(rec["classes"]).read(1) != 255).all()
    assert "feeds the model" in json.loads(PredictPaths.of(src, tmp_path / "o").record.read_text())["mask"]


def test_a_changed_input_model_or_option_is_predicted_again(make_geotiff, tiny_checkpoint, tmp_path, capsys):
    """Issue 23.4: `x.tif` replaced by another image of the same size (even with its old mtime) is not "already
    done"; nor is a run with another model or with options that shape the output; an unchanged rerun is."""
    model, other = tiny_checkpoint(), tiny_checkpoint(name="other.safetensors", seed=1)
    lab, img = scene(96, 96, seed=1)
    src = make_geotiff(img, name="x.tif")
    out = tmp_path / "o"
    args = ["predict", str(model), str(src), "--out", str(out), "--window", "64", "--overlap", "16", "--no-previews"]
    assert main(args) == 0
    rec = json.loads((out / "x_predict.json").read_text())
    assert set(rec["made_from"]["input"]) == {"size", "mtime_ns", "fingerprint"}
    capsys.readouterr()
    assert main(args) == 0
    assert "already done" in capsys.readouterr().out
    first = (out / "x_areas.csv").read_text()
    st = os.stat(src)
    make_geotiff(np.ascontiguousarray(img[:, ::-1, ::-1]) // 2, name="x.tif")  # same size, other pixels
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime (cp -p, rsync -t)
    assert os.path.getsize(src) == st.st_size
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "already done" not in text and "predicted again: the input file changed (fingerprint)" in text, text
    assert (out / "x_areas.csv").read_text() != first
    from landseg.inference.engine import cpu_has_fast_bf16

    # the precision that differs from what 'auto' chooses on this CPU (bf16 where it is fast, else fp32)
    other_precision = (["--precision", "fp32"], "-> 'TorchEngine cpu fp32'") if cpu_has_fast_bf16() else \
        (["--precision", "bf16"], "-> 'TorchEngine cpu bfloat16'")
    for extra, why in ((["--window", "96"], "options changed: window 64 -> 96"), (["--tta"], "tta False -> True"),
                       (["--mask", "none"], "mask 'auto' -> 'none'"), other_precision):
        assert main([*args, *extra]) == 0
        assert why in capsys.readouterr().out
    assert main([*args[:1], str(other), *args[2:]]) == 0
    assert "the model changed" in capsys.readouterr().out
    assert main([*args[:1], str(other), *args[2:]]) == 0
    assert "already done" in capsys.readouterr().out


def test_predict_record_names_final_files_and_says_an_ignored_gsd(make_geotiff, tiny_checkpoint, tmp_path, capsys):
    """Issue 23 items 23 and 13: predict.json named a deleted temp file as its areas raster; --gsd on a
    georeferenced input was ignored without a word."""
    src = make_geotiff(np.random.default_rng(0).integers(0, 255, (3, 64, 64)).astype(np.uint8), name="geo.tif")
    out = tmp_path / "o"
    assert main(["predict", str(tiny_checkpoint()), str(src), "--out", str(out), "--window", "64", "--overlap", "0",
                 "--gsd", "0.3"]) == 0
    err = capsys.readouterr().err
    assert "note: " in err and "--gsd 0.3 ignored: geo.tif is georeferenced" in err
    rec = json.loads((out / "geo_predict.json").read_text())
    assert rec["areas"]["raster"] == str(out / "geo_classes.tif")

    def paths(o):
        if isinstance(o, dict):
            return [p for v in o.values() for p in paths(v)]
        if isinstance(o, list):
            return [p for v in o for p in paths(v)]
        return [o] if isinstance(o, str) and ("/" in o or o.endswith((".tif", ".csv", ".json"))) else []

    assert all(Path(p).exists() for p in paths(rec)), paths(rec)  # no path in the record points at a removed file
    assert rec["notes"] == ["--gsd 0.3 ignored: geo.tif is georeferenced; its own pixel size is used"]
