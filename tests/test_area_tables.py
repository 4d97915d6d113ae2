"""Area tables: strips, class selection, text/CSV/JSON/Markdown outputs, the `landseg area` CLI."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import shapely
from areahelpers import UTM_ORIGIN, classmap, write_zones

from landseg.area import class_areas
from landseg.errors import InputError


def test_strips_classes_and_formats(make_geotiff):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 6, (37, 23)).astype(np.uint8)
    path = classmap(make_geotiff, a)
    whole = class_areas(path)
    for rows in (1, 5):
        assert [c.pixels for c in class_areas(path, strip_rows=rows).classes] == [c.pixels for c in whole.classes]
    r = class_areas(path, classes="building,tree")
    assert [c.name for c in r.classes] == ["building", "tree"]
    assert r.classes[0].share == pytest.approx((a == 1).sum() / a.size)
    text = r.to_text()
    assert "total (selected)" in text and "all classes" in text and "pixel area:" in text
    rows = list(csv.DictReader(io.StringIO(r.to_csv())))
    assert rows[0]["class"] == "building" and float(rows[0]["area_m2"]) == pytest.approx((a == 1).sum() * 0.0025)
    assert float(rows[0]["area_ha"]) == pytest.approx((a == 1).sum() * 0.0025 / 1e4)
    js = json.loads(r.to_json("km2"))
    assert js["classes"][1]["area_km2"] == pytest.approx((a == 3).sum() * 0.0025 / 1e6)
    assert js["pixel_area"] == r.pixel_area
    md = r.to_markdown("acre")
    assert "| building |" in md and "(acre)" in md
    with pytest.raises(InputError, match="unknown unit"):
        r.format("table", "yards")


# ------------------------------------------------------------------------------ CLI
def run_area(argv, capsys):
    from landseg import cli

    assert cli.main(["area", *argv]) == 0
    return capsys.readouterr().out


def test_cli_area(two_class, tmp_path, capsys):
    path, _ = two_class
    out = run_area([str(path), "--classes", "building", "--format", "json"], capsys)
    data = json.loads(out)
    assert data["classes"][0]["area_m2"] == pytest.approx(9999 * 0.0025)
    assert "building" in run_area([str(path), "--objects", "building", "--units", "ha"], capsys)
    run_area([str(path), "--out", str(tmp_path / "a.csv")], capsys)
    assert (tmp_path / "a.csv").read_text().startswith("class,pixels,area_m2,area_ha,share_pct")
    zones = write_zones(tmp_path / "z.gpkg", [shapely.box(UTM_ORIGIN[0], UTM_ORIGIN[1] - 1, UTM_ORIGIN[0] + 1,
                                                          UTM_ORIGIN[1])], [5])
    text = run_area([str(path), "--zones", str(zones), "--zone-id", "pid", "--out", str(tmp_path / "za.gpkg")], capsys)
    assert "coverage rule" in text and (tmp_path / "za.gpkg").exists()
    assert "error" in run_area([str(path), "--truth", str(path)], capsys)
