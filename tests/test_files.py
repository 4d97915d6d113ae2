"""io/files.py: atomic, verified outputs and the clean-up of temp files left by killed runs."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import rasterio

from landseg.errors import OutputError
from landseg.io import files
from landseg.io.files import TEMP_PATTERN, atomic_output, clean_stale, write_json_atomic
from landseg.io.raster import finalize_cog, tiled_profile


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_atomic_output_disk_full_is_output_error(tmp_path):
    dst = tmp_path / "out.csv"
    with pytest.raises(OutputError, match=r"out\.csv: cannot write the file \(No space left on device; .* free of"):
        with atomic_output(dst) as tmp:
            tmp.write_text("a,b\n")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert _leftovers(tmp_path) == []


def test_fsync_failure_keeps_the_old_file(tmp_path, monkeypatch):
    dst = tmp_path / "metrics.json"
    write_json_atomic(dst, {"old": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OutputError, match="metrics.json"):
        write_json_atomic(dst, {"new": 2})
    assert json.loads(dst.read_text()) == {"old": 1}
    assert _leftovers(tmp_path) == ["metrics.json"]


def test_verify_failure_leaves_no_file(tmp_path):
    def verify(p):
        raise OutputError(f"{p}: truncated")

    with pytest.raises(OutputError, match="truncated"):
        with atomic_output(tmp_path / "x.bin", verify=verify) as tmp:
            tmp.write_bytes(b"123")
    assert _leftovers(tmp_path) == []


def _source(tmp_path, n):
    src = tmp_path / "src.tif"
    a = np.random.default_rng(0).integers(0, 256, (1, n, n), dtype=np.uint8)
    with rasterio.open(src, "w", **tiled_profile(n, n, 1, "uint8")) as ds:
        ds.write(a)
    return src


def test_finalize_cog_truncated_copy_is_refused(tmp_path, monkeypatch):
    """A copy that GDAL reports as done but left truncated (full disk) is never renamed into place."""
    from landseg.io import raster

    src = _source(tmp_path, 300)
    out = tmp_path / "out"
    out.mkdir()
    real = raster.rio_copy

    def truncating(s, d, **kw):
        real(s, d, **kw)
        os.truncate(d, os.path.getsize(d) // 2)

    monkeypatch.setattr(raster, "rio_copy", truncating)
    with pytest.raises(OutputError, match=r"classes\.tif: the written raster cannot be read back"):
        finalize_cog(src, out / "classes.tif")
    assert _leftovers(out) == []


def test_finalize_cog_on_a_full_disk(tmp_path, tiny_disk):
    # 500x500 random bytes: GDAL's COG copy runs out of space and (without the check) returns as if done
    src = _source(tmp_path, 500)
    with pytest.raises(OutputError, match=r"classes\.tif: .*free of"):
        finalize_cog(src, tiny_disk / "classes.tif")
    assert _leftovers(tiny_disk) == []


def test_json_on_a_full_disk(tiny_disk):
    with pytest.raises(OutputError, match=r"big\.json: cannot write the file \(No space left on device"):
        write_json_atomic(tiny_disk / "big.json", {"x": "y" * 400_000})
    assert _leftovers(tiny_disk) == []


def test_temp_names_carry_the_pid(tmp_path):
    with atomic_output(tmp_path / "a.tif") as tmp:
        m = TEMP_PATTERN.match(tmp.name)
        assert m and int(m.group("pid")) == os.getpid() and tmp.name.endswith(".part.tif")
        tmp.write_bytes(b"x")


def test_clean_stale_removes_only_dead_processes_temp_files(tmp_path):
    dead = _dead_pid()
    sub = tmp_path / "tiles" / "t1"
    sub.mkdir(parents=True)
    stale = [tmp_path / f".dataset.json.{dead}-abcd1234.part.json", sub / f".image.tif.{dead}-x_y1z2w3.part.tif"]
    live = tmp_path / f".metrics.csv.{os.getpid()}-abcd1234.part.csv"
    other = [tmp_path / ".hidden", tmp_path / "image.tif", tmp_path / f".a.{dead}-short.part"]
    for p in [*stale, live, *other]:
        p.write_text("x")
    assert sorted(clean_stale(tmp_path)) == sorted(stale)
    assert all(p.exists() for p in [live, *other]) and not any(p.exists() for p in stale)


def test_killed_writer_leaves_a_temp_that_the_next_run_removes(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from landseg.io.files import atomic_output
        with atomic_output({str(tmp_path / 'out.tif')!r}) as tmp:
            tmp.write_bytes(b"half")
            print("writing", flush=True)
            time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert p.stdout.readline().strip() == "writing"
    p.send_signal(signal.SIGKILL)
    p.wait()
    left = _leftovers(tmp_path)
    assert len(left) == 1 and TEMP_PATTERN.match(left[0])
    clean_stale(tmp_path)
    assert _leftovers(tmp_path) == []


def _classmap_and_zones(folder, n_zones=3000):
    import shapely

    from landseg.io.vector import write_features

    a = np.random.default_rng(0).integers(0, 6, (300, 300)).astype(np.uint8)
    path = folder / "map.tif"
    with rasterio.open(path, "w", driver="GTiff", width=300, height=300, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=rasterio.transform.from_origin(367000, 5808000, 0.05, 0.05)) as ds:
        ds.write(a, 1)
    x0, y0 = 367000.0, 5808000.0
    boxes = [shapely.box(x0 + (i % 60) * 0.25, y0 - 15 + (i // 60) * 0.25, x0 + (i % 60) * 0.25 + 0.2,
                         y0 - 15 + (i // 60) * 0.25 + 0.2) for i in range(n_zones)]
    zones = folder / "zones.gpkg"
    write_features(zones, np.array(boxes, dtype=object), {"pid": np.arange(n_zones)},
                   rasterio.crs.CRS.from_epsg(32633).to_wkt(), layer="zones")
    return path, zones


VECTOR_AND_TABLE_WRITERS = {
    "vectorize.gpkg": ["vectorize", "{map}", "--class-table", "isprs", "--out", "{out}"],
    "vectorize.geojson": ["vectorize", "{map}", "--class-table", "isprs", "--out", "{out}"],
    "zones.gpkg": ["area", "{map}", "--class-table", "isprs", "--zones", "{zones}", "--out", "{out}"],
    "zones.geojson": ["area", "{map}", "--class-table", "isprs", "--zones", "{zones}", "--out", "{out}"],
    # text tables (CSV, Markdown, JSON share write_text_atomic); the CSV of these 3,000 zones (~198 KB with the
    # 10-digit CSV numbers) would just fit on the 200 KB disk, so the larger Markdown and JSON tables are tried
    "zones.md": ["area", "{map}", "--class-table", "isprs", "--zones", "{zones}", "--out", "{out}"],
    "zones.json": ["area", "{map}", "--class-table", "isprs", "--zones", "{zones}", "--out", "{out}"],
    "sample.gpkg": ["sample", "{map}", "--class-table", "isprs", "--n", "3000", "--out", "{out}"],
    "sample.geojson": ["sample", "{map}", "--class-table", "isprs", "--n", "3000", "--out", "{out}"],
    "model.onnx": ["export", "default", "{out}"],
}


@pytest.mark.parametrize("name", list(VECTOR_AND_TABLE_WRITERS))
def test_every_vector_and_table_writer_on_a_full_disk(tmp_path, tiny_disk, capsys, name):
    """Issue 23.6: GeoPackage/GeoJSON/CSV outputs (vectorize, area --zones --out, sample --out) and export on a full
    disk end in the one line of the rasters (path, 'No space left on device', free space), exit 2, no file left."""
    from landseg.cli import main

    path, zones = _classmap_and_zones(tmp_path)
    out = tiny_disk / name
    args = [a.format(map=path, zones=zones, out=out) for a in VECTOR_AND_TABLE_WRITERS[name]]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{out}: cannot write the file (No space left on device; " in err and "free of 200.0 KB" in err, err
    assert _leftovers(tiny_disk) == []


def test_vector_writers_refuse_a_failed_or_short_write(tmp_path, monkeypatch):
    """Injected (no root needed): an OGR error that says the disk is full, and a write that silently drops features,
    both end in OutputError naming the file; no file is left and an older file is kept."""
    import pyogrio.errors
    import pyogrio.raw

    from landseg.io import points
    from landseg.io.points import write_points

    dst = tmp_path / "s.gpkg"
    x = np.arange(5, dtype=float)
    write_points(dst, x, x, {"v": np.arange(5)}, None)
    real = pyogrio.raw.write

    def full(*a, **k):
        raise pyogrio.errors.FeatureError("failed to execute insert : database or disk is full")

    monkeypatch.setattr(points.pyogrio.raw, "write", full)
    with pytest.raises(OutputError, match=r"s\.gpkg: cannot write the file \(No space left on device; .* free of"):
        write_points(dst, x, x, {"v": np.arange(5)}, None)

    def short(path, geometry, field_data, fields, **k):
        real(path, geometry[:2], [f[:2] for f in field_data], fields, **k)

    monkeypatch.setattr(points.pyogrio.raw, "write", short)
    with pytest.raises(OutputError, match=r"s\.gpkg: the written file holds 2 features, expected 3"):
        write_points(dst, x[:3], x[:3], {"v": np.arange(3)}, None)
    assert _leftovers(tmp_path) == ["s.gpkg"]
    from landseg.io.points import read_points

    assert len(read_points(dst)[0]) == 5  # the older file is kept
