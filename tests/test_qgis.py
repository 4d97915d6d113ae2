"""The QGIS Processing provider (qgis/landseg_provider) in a real headless QGIS (Debian's qgis + python3-qgis).

QGIS's Python is the system one (/usr/bin/python3), not this environment's: the test writes the
inputs here, runs tests/qgis_headless.py there with QT_QPA_PLATFORM=offscreen, and compares what QGIS
reports with the landseg command line run here. The plugin runs this environment's ``landseg``
executable (the one beside sys.executable). Without QGIS the test skips, except under CI=true where
it fails (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from PIL import Image

from landseg.classes import ISPRS
from landseg.cli import main
from landseg.io.labels import class_map_tags
from landseg.io.raster import ClassMapWriter, class_map_profile
from landseg.io.vector import write_features

pytestmark = pytest.mark.qgis

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "src" / "landseg" / "assets" / "samples"
SYSTEM_PYTHON = os.environ.get("LANDSEG_QGIS_PYTHON", "/usr/bin/python3")


@pytest.fixture(scope="module")
def qgis_python() -> str:
    try:
        ok = subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=120,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        pytest.skip(f"QGIS with its Python bindings not found for {SYSTEM_PYTHON} (apt install qgis python3-qgis)")
    return SYSTEM_PYTHON


def _landseg_executable(tmp: Path) -> str:
    """This environment's landseg, behind a wrapper that keeps this run's PYTHONPATH (a source checkout)."""
    exe = Path(sys.executable).parent / "landseg"
    assert exe.exists(), f"no landseg executable beside {sys.executable}"
    wrapper = tmp / "landseg"
    path = os.environ.get("PYTHONPATH", "")
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={shlex.quote(path)} exec {shlex.quote(str(exe))} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def _classmap(tmp: Path) -> Path:
    """The bundled georeferenced Potsdam label crop as a landseg class map (COG, .qml beside it)."""
    with rasterio.open(SAMPLES / "potsdam_4_13_label.tif") as ds:
        idx, transform, crs = ds.read(1), ds.transform, ds.crs
    prof = class_map_profile(idx.shape[1], idx.shape[0], crs=crs, transform=transform, compress="deflate")
    dst = tmp / "potsdam_classes.tif"
    with ClassMapWriter(tmp / "scratch.tif", prof, ISPRS, class_map_tags(ISPRS, "label")) as w:
        w.write(idx, 0, 0)
        w.finish(dst)
    return dst


def test_plugin_in_headless_qgis(qgis_python, tmp_path, tiny_checkpoint):
    classmap = _classmap(tmp_path)
    assert classmap.with_suffix(".qml").exists()
    with rasterio.open(classmap) as ds:
        x0, y0, x1, y1 = ds.bounds
        crs, idx = ds.crs, ds.read(1)
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    zones = tmp_path / "zones.gpkg"
    write_features(zones, np.array([shapely.box(x0 + 1, ym, xm, y1 - 1), shapely.box(xm, ym, x1 - 1, y1 - 1),
                                    shapely.box(x0 + 1.3, y0 + 1, x1 - 1, ym)], dtype=object),
                   {"parcel": np.array(["A", "B", "C"], dtype=object)}, crs.to_wkt(), layer="zones")
    # the plugin as `make qgis-plugin` packs it, unpacked as QGIS's "Install from ZIP" does
    built = subprocess.run([sys.executable, str(ROOT / "tools" / "build_qgis_plugin.py"), "--out", str(tmp_path)],
                           capture_output=True, text=True, check=True).stdout.strip()
    with zipfile.ZipFile(built) as z:
        assert {n.split("/")[0] for n in z.namelist()} == {"landseg_provider"}
        z.extractall(tmp_path / "plugins")
    probes = [(10, 10), (100, 150), (180, 60)]
    cases = {"plugin_dir": str(tmp_path / "plugins"), "executable": _landseg_executable(tmp_path), "classmap": str(classmap),
             "zones": str(zones), "out": str(tmp_path / "qgis_out"), "render_size": 200, "probe_pixels": probes,
             "cancel_image": str(SAMPLES / "dubai_tile7_part003.jpg"), "cancel_out": str(tmp_path / "cancelled"),
             "cancel_after": 4.0}
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (700, 1100, 3), dtype=np.uint8)).save(tmp_path / "photo.png")  # 6 windows
    cases.update(predict_model=str(tiny_checkpoint()), predict_image=str(tmp_path / "photo.png"),
                 predict_out=str(tmp_path / "predicted"))
    # a landseg that ignores SIGINT (the kill path): it leaves a scratch folder and a .part file, as a real run
    # killed mid-write does, and keeps the finished map of an earlier run that is not its own
    stubborn = tmp_path / "stubborn_landseg"
    stubborn.write_text(f"#!{sys.executable}\n" + textwrap.dedent("""\
        import os, signal, sys, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        out = sys.argv[sys.argv.index("--out") + 1]
        os.makedirs(os.path.join(out, f".landseg-{os.getpid()}-abc123"), exist_ok=True)
        open(os.path.join(out, f".landseg-{os.getpid()}-abc123", "classes_grid.tif"), "w").close()
        open(os.path.join(out, f".x_classes.tif.{os.getpid()}-k3j9x0ab.part"), "w").close()
        print("progress: 1/10 windows (10%)", flush=True)
        time.sleep(120)
        """))
    stubborn.chmod(0o755)
    (tmp_path / "stubborn_out").mkdir()
    (tmp_path / "stubborn_out" / "earlier_classes.tif").write_text("not this run's")
    (tmp_path / "stubborn_out" / ".landseg-1-other").mkdir()  # another process's folder: not this run's to remove
    cases.update(stubborn_executable=str(stubborn), stubborn_out=str(tmp_path / "stubborn_out"))
    (tmp_path / "qgis_out").mkdir()
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    proc = subprocess.run([qgis_python, str(ROOT / "tests" / "qgis_headless.py"), str(tmp_path / "cases.json")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])

    # the provider and its algorithm ids (the contract)
    assert got["algorithms"] == sorted(f"landseg:{a}" for a in ("predict", "area", "indicators", "sample",
                                                                 "adjustedareas", "change", "vectorize"))
    # landseg:area with zones gives the command line's numbers
    assert main(["area", str(classmap), "--zones", str(zones), "--zone-id", "parcel",
                 "--out", str(tmp_path / "cli.json")]) == 0
    cli = {z["id"]: z for z in json.loads((tmp_path / "cli.json").read_text())["zones"]}
    assert got["area_valid"] and set(got["area_zones"]) == set(cli) == {"A", "B", "C"}
    for zid, z in cli.items():
        q = got["area_zones"][zid]
        assert q["zone_area_m2"] == pytest.approx(z["zone_area_m2"], rel=1e-9)
        for name in ISPRS.names:
            assert q[f"{name}_m2"] == pytest.approx(z["classes"][name]["area_m2"], rel=1e-9, abs=1e-9), (zid, name)
    assert sum(cli["C"]["classes"][n]["area_m2"] for n in ISPRS.names) > 0
    assert got["area_renderer"] == "graduatedSymbol" and got["area_legend"][0] == "0-20 %"
    assert any(p.endswith("zone_areas.gpkg|layername=zones") for p in got["area_loaded_on_completion"])

    # the sample: styled by mapped class, 'reference' through a drop-down of the class names
    assert got["sample_count"] == 40
    assert got["sample_renderer"] == ["categorizedSymbol", "map_class"]
    assert got["sample_legend"] == list(ISPRS.names)
    assert got["reference_widget"] == ["ValueMap", list(ISPRS.names)]

    # the class map: legend of class names (not 0..255), drawn in the class colours, upright
    assert got["raster_renderer"] == "paletted"
    assert [s for s in got["raster_legend"] if not s.startswith("Band 1")] == list(ISPRS.names)
    h, w = idx.shape
    for r, c in probes:
        value = idx[int((r + 0.5) * h / 200), int((c + 0.5) * w / 200)]
        assert got["render_pixels"][f"{r},{c}"] == list(ISPRS.colors[value]), (r, c, value)

    # predict: the windows' progress reached the Processing feedback; the map loads with its class legend
    assert len(set(got["predict_progress"])) >= 4 and max(got["predict_progress"]) == 100, got["predict_progress"]
    assert got["predict_legend"] == list(ISPRS.names)
    assert got["predict_loaded_on_completion"] == [str(tmp_path / "predicted" / "photo_classes.tif")]

    # cancelled mid-run: the subprocess ended, no output (complete or partial) was left
    assert "cancelled" in got["cancel"], got["cancel"]
    assert got["cancel_seconds"] < 30
    left = [p.name for p in (tmp_path / "cancelled").rglob("*")] if (tmp_path / "cancelled").exists() else []
    assert left == [], left
    # ... and a landseg that does not stop is killed after the grace time; its own scratch is removed, nothing else
    assert "did not stop within 1 s and was ended" in got["stubborn"], got["stubborn"]
    assert sorted(p.name for p in (tmp_path / "stubborn_out").iterdir()) == [".landseg-1-other", "earlier_classes.tif"]
