"""Issue 23, minor items: what every command says besides its data, and how it says it.

Notes reach stderr in every output format (item 14), an ignored --gsd is said by every command that
takes it (13), library warnings never stand beside an error (15), areas in sentences follow --units (25),
a cut-short class map is called truncated (19), CSV files carry no float noise (24), and messages that
name two files tell them apart (27).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from areahelpers import classmap, write_zones
from rasterio.transform import from_origin

from landseg.area.tables import Col, render_table
from landseg.classes import DUBAI, ISPRS
from landseg.cli import main
from landseg.io.csvfile import CSV_DIGITS, csv_float, csv_text
from landseg.io.labels import class_map_tags
from landseg.io.raster import finalize_cog
from landseg.train import write_metrics_csv

X0, Y0 = 367000.0, 5808000.0


@pytest.fixture
def cmap(make_geotiff):
    """A 40x40 class map of 0.5 m pixels with a nodata corner, in EPSG:32633."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 6, (40, 40)).astype(np.uint8)
    a[:10, :10] = 255
    return classmap(make_geotiff, a, name="map.tif", nodata=255, transform=from_origin(X0, Y0, 0.5, 0.5))


@pytest.fixture
def dup_zones(tmp_path):
    """Two zones with the id A (a note) and one outside the raster (a note)."""
    geoms = [shapely.box(X0, Y0 - 10, X0 + 10, Y0), shapely.box(X0 + 10, Y0 - 10, X0 + 20, Y0),
             shapely.box(X0 + 500, Y0 - 500, X0 + 510, Y0 - 490)]
    return write_zones(tmp_path / "z.gpkg", geoms, ["A", "A", "B"])


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown", "out.csv", "out.json", "out.md", "out.gpkg"])
def test_zone_notes_reach_stderr_in_every_format(cmap, dup_zones, tmp_path, capsys, fmt):
    """Item 14: the duplicate-id and outside-the-raster notes showed only in the table output."""
    args = ["area", str(cmap), "--zones", str(dup_zones), "--zone-id", "pid"]
    args += ["--out", str(tmp_path / fmt)] if fmt.startswith("out.") else ["--format", fmt]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "note: zone ids that occur more than once" in err and "note: 1 zones outside the raster" in err
    assert "note:" not in out  # stdout holds the data only; the notes are not said twice
    if fmt == "json":
        assert any("more than once" in n for n in json.loads(out)["notes"])  # JSON keeps them as data too
    if fmt in ("out.md",):
        assert "note: zone ids that occur more than once" in (tmp_path / fmt).read_text()  # a written report keeps them


@pytest.mark.parametrize("command", ["area", "area-csv", "vectorize", "sample", "change", "truth", "reference"])
def test_gsd_on_a_georeferenced_map_is_said_by_every_command(cmap, tmp_path, capsys, command):
    """Item 13: --gsd was silently ignored on a georeferenced raster (the note sat in the table footer only)."""
    gsd = ["--gsd", "2"]
    pts = tmp_path / "p.gpkg"
    args = {
        "area": ["area", str(cmap), *gsd],
        "area-csv": ["area", str(cmap), *gsd, "--format", "csv"],
        "vectorize": ["vectorize", str(cmap), "--out", str(tmp_path / "v.gpkg"), *gsd],
        "sample": ["sample", str(cmap), "--n", "30", "--min-per-class", "5", "--out", str(pts), *gsd],
        "change": ["change", str(cmap), str(cmap), "--out", str(tmp_path / "ch"), *gsd],
        "truth": ["area", str(cmap), "--truth", str(cmap), *gsd],
        "reference": ["area", str(cmap), "--reference", str(pts), *gsd],
    }[command]
    if command == "reference":
        assert main(["sample", str(cmap), "--n", "30", "--min-per-class", "5", "--out", str(pts),
                     "--truth", str(cmap)]) == 0
        capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "note: --gsd 2 ignored: map.tif is georeferenced" in err


def test_areas_in_sentences_follow_units(cmap, capsys):
    """Item 25: with --units km2 the nodata line was still in m²."""
    assert main(["area", str(cmap), "--units", "km2"]) == 0
    out = capsys.readouterr().out
    assert "nodata/ignore: 100 pixels (0.000025 km²), not in the shares" in out
    assert main(["area", str(cmap), "--truth", str(cmap), "--units", "ha"]) == 0
    assert "compared over 0.0375 ha valid in both" in capsys.readouterr().out


def test_library_warnings_do_not_stand_beside_an_error(make_geotiff, tmp_path, capsys):
    """Item 15: a zones file in metres read as WGS84 degrees: shapely's RuntimeWarning printed with the error."""
    cm = classmap(make_geotiff, np.zeros((20, 20), np.uint8), name="m.tif", transform=from_origin(X0, Y0, 0.5, 0.5))
    bad = tmp_path / "bad.geojson"  # GeoJSON without a CRS is WGS84; these are UTM metres, and one ring is a bow tie
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"pid": "Y"}, "geometry": {"type": "Polygon", "coordinates": [[
            [X0, Y0 - 50], [X0 + 50, Y0], [X0 + 50, Y0 - 50], [X0, Y0], [X0, Y0 - 50]]]}}]}))
    # a real process: pytest would otherwise catch the warnings itself
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-m", "landseg", "area", str(cm), "--zones", str(bad), "--zone-id", "pid"],
                       capture_output=True, text=True, env=env, timeout=120)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1 and err[0].startswith("landseg area: error: "), r.stderr


def test_library_warnings_after_success_are_one_line_each(cmap, capsys, monkeypatch):
    from landseg import measure

    real = measure.measure_areas

    def noisy(*a, **kw):
        import warnings
        warnings.warn("invalid value encountered in something", RuntimeWarning, stacklevel=1)
        return real(*a, **kw)

    monkeypatch.setattr("landseg.measure.measure_areas", noisy)  # cli imports it when area runs
    assert main(["area", str(cmap)]) == 0
    err = capsys.readouterr().err
    assert err.strip() == "landseg area: warning: RuntimeWarning: invalid value encountered in something"


def test_cut_short_class_map_is_called_truncated(tmp_path, make_geotiff, capsys):
    """Item 19: a class map cut to 3 KB opened with its tags gone: "no class table embedded"."""
    raw = make_geotiff(np.random.default_rng(1).integers(0, 6, (200, 200)).astype(np.uint8), name="raw.tif",
                       nodata=255, transform=from_origin(X0, Y0, 0.5, 0.5))
    with rasterio.open(raw, "r+") as ds:
        ds.update_tags(**class_map_tags(ISPRS, "default", {"LANDSEG_NOTE": "x" * 500}))
    run = tmp_path / "run"
    run.mkdir()
    finalize_cog(Path(raw), run / "scene_classes.tif", overview_resampling="mode")
    cut = tmp_path / "cut.tif"
    shutil.copy(run / "scene_classes.tif", cut)
    with open(run / "scene_classes.tif", "r+b") as f:
        f.truncate(3000)
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "scene_classes.tif: the file is truncated or corrupt (3,000 bytes, but its pixel data reach byte" in err
    assert "class table" not in err
    with open(cut, "r+b") as f:
        f.truncate(cut.stat().st_size - 10)  # the last bytes of the last block gone
    assert main(["area", str(cut)]) == 2
    assert "cut.tif: the file is truncated or corrupt" in capsys.readouterr().err


def test_csv_floats_have_one_rounding_rule(tmp_path):
    """Item 24: CSVs carried float noise (700.000000011, 3.18e-17)."""
    assert csv_float(700.000000011) == "700.0" and csv_float(3.18e-17) == "0.0" and csv_float(-3e-12) == "0.0"
    assert csv_float(0.1 + 0.2) == "0.3" and csv_float(1563.25) == "1563.25" and csv_float(2.5e-9) == "2.5e-09"
    assert csv_float(float("nan")) == "" and csv_float(123456789012.345) == "123456789000.0"
    assert len(csv_float(1 / 3).replace("0.", "")) == CSV_DIGITS
    # every writer goes through it: result tables (area, zones, accuracy, change, indicators) ...
    text = render_table("csv", [Col("a (m²)", "area:m2"), Col("s", "pct"), Col("n", "num"), Col("p", "px")],
                        [[700.000000011, 0.3 - 0.1 - 0.2 + 1e-18, 3.18e-17, 12.000000000001]])
    assert text.splitlines()[1] == "700.0,0.0,0.0,12.0"
    # ... the evaluation and change CSVs, and the training metrics
    assert csv_text(["x", "y", "z"], [[1, 0.1 + 0.2, None]]) == "x,y,z\n1,0.3,\n"
    write_metrics_csv([{"epoch": 1, "train_loss": 0.1 + 0.2, "lr": 3.18e-17}, {"epoch": 2, "val_oa": 2 / 3}],
                      tmp_path / "m.csv")
    rows = list(csv.DictReader(open(tmp_path / "m.csv")))
    assert rows[0] == {"epoch": "1", "train_loss": "0.3", "lr": "0.0", "val_oa": ""}
    assert rows[1]["val_oa"] == "0.6666666667"


def test_change_csv_has_no_float_noise(make_geotiff, tmp_path):
    a = np.tile(np.arange(6, dtype=np.uint8), (30, 5))
    tr = from_origin(X0, Y0, 0.1, 0.1)  # 0.1 m pixels: 0.010000000000000002 m² in floats
    m = classmap(make_geotiff, a, name="a.tif", transform=tr)
    assert main(["change", str(m), str(m), "--out", str(tmp_path / "o")]) == 0
    for line in (tmp_path / "o" / "transitions.csv").read_text().splitlines()[1:]:
        for cell in line.split(",")[3:]:
            assert len(cell.replace("-", "").replace(".", "").lstrip("0")) <= CSV_DIGITS, line


def test_two_files_of_the_same_name_are_told_apart(make_geotiff, tmp_path, capsys):
    """Item 27: "a.tif and a.tif have different class tables"."""
    (tmp_path / "y2020").mkdir()
    (tmp_path / "y2021").mkdir()
    a = np.zeros((10, 10), np.uint8)
    before = classmap(make_geotiff, a, name="y2020/classes.tif")
    after = classmap(make_geotiff, a, name="y2021/classes.tif", table=DUBAI)
    assert main(["change", str(before), str(after), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "y2020/classes.tif and y2021/classes.tif have different class tables" in err
    assert main(["area", str(before), "--truth", str(after)]) == 2
    assert "y2021/classes.tif: its class table" in capsys.readouterr().err
