"""Shared fixtures: the real-data folder, a GeoTIFF factory, the --runslow switch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).parent))  # tests/synthetic.py, tests/areahelpers.py

from areahelpers import classmap  # noqa: E402

from landseg.classes import ISPRS  # noqa: E402
from landseg.io.labels import CLASS_TABLE_TAG  # noqa: E402

REALDATA = Path(os.environ.get("LANDSEG_REALDATA") or Path(__file__).resolve().parents[2] / "shared" / "realdata")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.exists():
        pytest.skip(f"real data not found at {REALDATA}")
    return REALDATA


@pytest.fixture
def make_geotiff(tmp_path):
    """make_geotiff(array (bands,H,W) or (H,W), name=..., crs=..., transform=..., nodata=...) -> Path."""

    def factory(data, name="raster.tif", crs="EPSG:32633", transform=None, nodata=None, **extra):
        data = np.asarray(data)
        if data.ndim == 2:
            data = data[None]
        path = tmp_path / name
        prof = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                    dtype=data.dtype.name, **extra)
        if crs is not None:
            prof.update(crs=crs, transform=transform or rasterio.transform.from_origin(367000, 5808000, 0.05, 0.05))
        if nodata is not None:
            prof["nodata"] = nodata
        with rasterio.open(path, "w", **prof) as ds:
            ds.write(data)
        return path

    return factory


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """tiny_checkpoint(bands=3, pixel_size=None, table=ISPRS) -> path of a random tiny U-Net checkpoint."""
    import torch

    from landseg.classes import ISPRS
    from landseg.models.build import build_model
    from landseg.models.checkpoint import Checkpoint, save_checkpoint

    def factory(bands=3, pixel_size=None, table=ISPRS, name="tiny.safetensors", seed=0):
        torch.manual_seed(seed)
        arch = {"name": "unet", "in_channels": bands, "num_classes": table.num_classes, "width": 4, "depth": 3}
        model = build_model(arch)
        ck = Checkpoint(arch=arch, class_table=table, bands=["red", "green", "blue", "nir"][:bands],
                        mean=[120.0] * bands, std=[50.0] * bands, pixel_size=pixel_size, state_dict=model.state_dict())
        path = tmp_path / name
        save_checkpoint(ck, path)
        return path

    return factory


@pytest.fixture
def two_class(make_geotiff):
    """100x200 map at 5 cm: top half building, bottom half impervious, one ignore pixel."""
    a = np.zeros((100, 200), np.uint8)
    a[:50] = 1
    a[0, 0] = 255
    return classmap(make_geotiff, a), a


@pytest.fixture(scope="session")
def potsdam_4_13(tmp_path_factory):
    """The GDGNet masks of ISPRS Potsdam tile 4_13 stitched into a 6000x6000 5 cm class GeoTIFF: (path, array)."""
    src = REALDATA / "wangkaiwh331_GDGNet/data/potsdam/test/masks_1024"
    if not src.exists():
        pytest.skip(f"real data not found at {src}")
    big = np.zeros((6144, 6144), np.uint8)
    for k in range(36):
        with rasterio.open(src / f"top_potsdam_4_13_0_{k}.png") as ds:
            big[(k // 6) * 1024:(k // 6 + 1) * 1024, (k % 6) * 1024:(k % 6 + 1) * 1024] = ds.read(1)
    tile = big[72:6072, 72:6072].copy()
    path = tmp_path_factory.mktemp("gdgnet") / "top_potsdam_4_13_classes.tif"
    prof = dict(driver="GTiff", width=6000, height=6000, count=1, dtype="uint8", crs="EPSG:32633",
                transform=from_origin(367876.5, 5807962.6, 0.05, 0.05), tiled=True, blockxsize=512,
                blockysize=512, compress="deflate")
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(tile, 1)
        ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(ISPRS.to_dict())})
    return path, tile


@pytest.fixture
def tiny_disk(tmp_path):
    """A 200 KB tmpfs (needs root and mount); skipped where it cannot be mounted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)],
                                           capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


# -- CI: what must run may not skip ----------------------------------------------------------------
# Under CI=true (set by CI services and .ci/run) the browser, QGIS and real-data tests fail instead of
# skipping when Chromium, Playwright, QGIS or ../shared/realdata is missing: a green CI run means they ran.
# Tests skipped only for being slow (without --runslow) stay skipped.
def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _must_run(item) -> bool:
    return "browser" in item.keywords or "qgis" in item.keywords or "realdata" in getattr(item, "fixturenames", ())


def _skip_reason(rep) -> str:
    lr = rep.longrepr
    reason = str(lr[2]) if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and _ci() and _must_run(item) and not hasattr(rep, "wasxfail"):
        reason = _skip_reason(rep)
        if not reason.startswith("slow:"):
            rep.outcome = "failed"
            rep.longrepr = f"CI=true: {item.nodeid} must run here, but it was skipped: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    rep = outcome.get_result()
    path = str(getattr(collector, "path", ""))
    if rep.skipped and _ci() and "browser" in Path(path).name:
        rep.outcome = "failed"
        rep.longrepr = f"CI=true: {Path(path).name} must run here, but it was skipped: {_skip_reason(rep)}"
