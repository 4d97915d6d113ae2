"""Planning indicators per zone: shares and building counts on hand-made zones, limits, QGIS styles."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import xml.etree.ElementTree as ET

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely
from areahelpers import UTM_ORIGIN, classmap
from rasterio.transform import from_origin

from landseg.area import zone_indicators
from landseg.classes import ISPRS, ClassTable
from landseg.cli import main
from landseg.errors import InputError
from landseg.vectorize import vectorize

X0, TOP = UTM_ORIGIN[0], UTM_ORIGIN[1] + 10
IMP, BLD, LOW, TREE = 0, 1, 2, 3


def px_box(c0: float, r0: float, c1: float, r1: float) -> shapely.Polygon:
    """A box in pixel columns/rows of the 10x10 map of 1 m pixels."""
    return shapely.box(X0 + c0, TOP - r1, X0 + c1, TOP - r0)


def scene() -> np.ndarray:
    a = np.full((10, 10), IMP, np.uint8)
    a[1:3, 1:3] = BLD  # building A: 4 px, centroid (col 2, row 2): zones 1 and 3
    a[1:3, 4:9] = BLD  # building B: 10 px across the zone 1/2 border, centroid col 6.5: zone 2 only
    a[7, 1] = a[8, 2] = BLD  # building C: two diagonal pixels, one 8-connected object, centroid (2, 8): zone 1
    a[5:7, 5:10] = TREE  # 10 px, zone 2
    a[8:10, 3:10] = LOW  # 14 px: 4 in zone 1, 10 in zone 2
    a[9, 0] = 255  # nodata, zone 1
    return a


ZONES = [px_box(0, 0, 5, 10), px_box(5, 0, 10, 10), px_box(1.5, 1, 3.5, 3)]


def write_parcels(path, zones=ZONES, **columns):
    fields = {"pid": np.array([1, 2, 3][: len(zones)]), **columns}
    pyogrio.raw.write(str(path), shapely.to_wkb(np.array(zones, dtype=object)), list(fields.values()),
                      list(fields), driver="GPKG", crs="EPSG:32633", geometry_type="Polygon")
    return path


@pytest.fixture
def parcels(make_geotiff, tmp_path):
    path = classmap(make_geotiff, scene(), transform=from_origin(X0, TOP, 1, 1), nodata=255)
    zones = write_parcels(tmp_path / "parcels.gpkg", max_coverage=np.array([0.15, 0.2, np.nan]),
                          max_buildings=np.array([1.0, 1.0, 1.0]))
    return path, zones


def test_indicators_on_known_zones(parcels):
    path, zones = parcels
    r = zone_indicators(path, zones, "pid")
    # zone 1: 49 valid m² (one nodata pixel): building 4 + 2 + 2, low vegetation 4, impervious 37
    # zone 2: 50 m²: building 8, tree 10, low vegetation 10, impervious 22
    # zone 3: 4 m²: building 1.5 x 2 = 3, impervious 1
    expect = {
        1: {"building_coverage": 8 / 49, "sealed_share": 45 / 49, "green_share": 4 / 49, "tree_share": 0.0,
            "buildings": 2},
        2: {"building_coverage": 8 / 50, "sealed_share": 30 / 50, "green_share": 20 / 50, "tree_share": 10 / 50,
            "buildings": 1},
        3: {"building_coverage": 0.75, "sealed_share": 1.0, "green_share": 0.0, "tree_share": 0.0, "buildings": 1},
    }
    for zid, vals in expect.items():
        for name, v in vals.items():
            assert r.value(zid, name) == pytest.approx(v, rel=1e-12, abs=1e-12), (zid, name)
    assert [z.valid_m2 for z in r.zonal.zones] == pytest.approx([49, 50, 4])
    d = r.to_dict()
    assert d["zones"][0]["valid_m2"] == pytest.approx(49) and d["zones"][0]["zone_area_m2"] == pytest.approx(50) and d["zones"][0]["buildings"] == 2
    assert "centroid" in d["building_rule"] and "valid" in d["zone_area_rule"]
    # small objects can be left out: building C is 2 m²
    assert zone_indicators(path, zones, "pid", min_building_area=3).value(1, "buildings") == 1


def test_limits_flag_exactly(parcels):
    path, zones = parcels
    r = zone_indicators(path, zones, "pid", limits=["max_coverage:building_coverage", "max_buildings:buildings"])
    cov, bld = r.limits
    assert cov.exceeds == [True, False, None]  # 8/49 > 0.15; 0.16 <= 0.2; zone 3 has no limit
    assert bld.exceeds == [True, False, False]  # 2 > 1
    text = r.to_text()
    assert "limit max_coverage on building_coverage: 1 of 3 zones exceed it" in text
    rows = list(csv.DictReader(io.StringIO(r.to_csv())))
    assert [row["exceeds_max_coverage"] for row in rows] == ["true", "false", ""]
    assert float(rows[0]["building_coverage_pct"]) == pytest.approx(800 / 49, abs=1e-4)
    d = r.to_dict()
    assert d["limits"][0] == {"column": "max_coverage", "indicator": "building_coverage", "exceedances": 1}
    assert d["zones"][2]["limits"]["max_coverage"] == {"indicator": "building_coverage", "limit": None,
                                                       "exceeds": None}


def test_zones_without_the_limit_column_are_refused(parcels):
    path, zones = parcels
    with pytest.raises(InputError, match=r"parcels\.gpkg: no column 'max_height' for --limit; the columns are: "
                                         r"pid, max_coverage, max_buildings"):
        zone_indicators(path, zones, "pid", limits=["max_height:building_coverage"])
    with pytest.raises(InputError, match="COLUMN:INDICATOR.*building_coverage"):
        zone_indicators(path, zones, "pid", limits=["max_coverage:coverage"])


def test_table_without_roles_gives_na_with_notes(make_geotiff, tmp_path):
    bare = ClassTable("bare", ISPRS.names, ISPRS.colors)
    path = classmap(make_geotiff, scene(), table=bare, transform=from_origin(X0, TOP, 1, 1), nodata=255)
    zones = write_parcels(tmp_path / "parcels.gpkg", max_coverage=np.array([0.1, 0.1, 0.1]))
    r = zone_indicators(path, zones, "pid", limits=["max_coverage:building_coverage"])
    assert np.isnan(r.values["building_coverage"]).all() and np.isnan(r.values["buildings"]).all()
    assert r.limits[0].exceeds == [None, None, None]
    text = r.to_text()
    assert "declares no 'building' role" in text and "n/a" in text
    assert "building: not declared" in text


def test_geopackage_opens_styled(parcels, tmp_path):
    path, zones = parcels
    r = zone_indicators(path, zones, "pid", limits=["max_coverage:building_coverage"])
    out = r.write(tmp_path / "parcels_indicators.gpkg")
    meta, _, geoms, data = pyogrio.raw.read(out, layer="indicators")
    fields = dict(zip(meta["fields"], data))
    assert {"building_coverage", "sealed_share", "green_share", "tree_share", "buildings", "max_coverage",
            "exceeds_max_coverage"} <= set(fields)
    assert fields["buildings"].tolist() == [2, 1, 1]
    assert fields["building_coverage"][2] == pytest.approx(0.75)
    assert shapely.from_wkb(geoms[0]).area == pytest.approx(50)
    con = sqlite3.connect(out)
    rows = con.execute("SELECT f_table_name, f_geometry_column, styleName, styleQML, styleSLD, useAsDefault "
                       "FROM layer_styles").fetchall()
    kinds = con.execute("SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'").fetchone()
    con.close()
    assert kinds == ("attributes",)
    default = [row for row in rows if row[5]]
    assert len(default) == 1 and default[0][0] == "indicators" and default[0][1] == "geom"
    root = ET.fromstring(default[0][3])
    renderer = root.find("renderer-v2")
    assert root.tag == "qgis" and renderer.get("type") == "graduatedSymbol"
    assert renderer.get("attr") == "building_coverage"
    ranges = renderer.findall("ranges/range")
    assert (float(ranges[0].get("lower")), float(ranges[0].get("upper"))) == (0.0, 0.2) and len(ranges) == 5
    assert len(renderer.findall("symbols/symbol")) == 5
    ET.fromstring(default[0][4])  # the SLD parses too
    names = {row[2] for row in rows}
    assert {"building_coverage", "sealed_share", "green_share", "tree_share", "exceeds_max_coverage"} <= names


def test_vectorize_geopackage_has_class_colours(make_geotiff, tmp_path):
    path = classmap(make_geotiff, scene(), transform=from_origin(X0, TOP, 1, 1), nodata=255)
    out = vectorize(path, tmp_path / "polygons.gpkg").path
    con = sqlite3.connect(out)
    (name, qml, default), = con.execute("SELECT f_table_name, styleQML, useAsDefault FROM layer_styles").fetchall()
    con.close()
    assert name == "polygons" and default == 1
    renderer = ET.fromstring(qml).find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "class_name"
    cats = {c.get("value"): c.get("symbol") for c in renderer.findall("categories/category")}
    assert list(cats) == list(ISPRS.names)
    colours = {s.get("name"): s.find("layer/Option/Option[@name='color']").get("value")
               for s in renderer.findall("symbols/symbol")}
    for i, n in enumerate(ISPRS.names):
        assert colours[cats[n]] == ",".join(map(str, ISPRS.colors[i])) + ",255"
    assert len(pyogrio.list_layers(out)) >= 1


def test_cli_indicators(parcels, tmp_path, capsys):
    path, zones = parcels
    assert main(["area", str(path), "--zones", str(zones), "--zone-id", "pid", "--indicators",
                 "--limit", "max_coverage:building_coverage", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [z["limits"]["max_coverage"]["exceeds"] for z in d["zones"]] == [True, False, None]
    out = tmp_path / "ind.gpkg"
    assert main(["area", str(path), "--zones", str(zones), "--indicators", "--out", str(out)]) == 0
    assert "building coverage" in capsys.readouterr().out and out.exists()
    assert main(["area", str(path), "--indicators"]) == 2
    assert "need --zones" in capsys.readouterr().err
    assert main(["area", str(path), "--zones", str(zones), "--limit", "height:building_coverage"]) == 2
    assert "no column 'height'" in capsys.readouterr().err


@pytest.mark.parametrize("values,shown", [([40.0, 20.0, np.nan], "40.0 (pid 1)"), ([0.15, -1.0, np.nan], "-1.0 (pid 2)"),
                                          ([1.5, 0.2, 0.1], "1.5 (pid 1)")])
def test_share_limits_outside_0_1_are_refused(make_geotiff, tmp_path, capsys, values, shown):
    """Issue 23.12: a share limit written as a percentage (40 for 0.4) was accepted and shown as "4000.00 %", -1 as
    -100 %; now one line naming the column, the zones and the values, before any work."""
    path = classmap(make_geotiff, scene(), transform=from_origin(X0, TOP, 1, 1), nodata=255)
    zones = write_parcels(tmp_path / "parcels.gpkg", max_coverage=np.array(values))
    with pytest.raises(InputError, match=r"column 'max_coverage' for --limit max_coverage:building_coverage must hold "
                                         r"a share between 0 and 1"):
        zone_indicators(path, zones, "pid", limits=["max_coverage:building_coverage"])
    assert main(["area", str(path), "--zones", str(zones), "--zone-id", "pid", "--indicators",
                 "--limit", "max_coverage:building_coverage"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and shown in err and "%" not in err.split("must hold")[0], err
    # a count limit may exceed 1 but not be negative
    zones = write_parcels(tmp_path / "counts.gpkg", max_buildings=np.array([3.0, -2.0, 1.0]))
    with pytest.raises(InputError, match=r"must hold a count of 0 or more; it holds -2.0 \(pid 2\)"):
        zone_indicators(path, zones, "pid", limits=["max_buildings:buildings"])


def test_share_limits_written_as_percent_strings_are_read_as_fractions(make_geotiff, tmp_path):
    path = classmap(make_geotiff, scene(), transform=from_origin(X0, TOP, 1, 1), nodata=255)
    zones = write_parcels(tmp_path / "pct.gpkg", max_coverage=np.array(["15%", "20 %", ""], dtype=object))
    r = zone_indicators(path, zones, "pid", limits=["max_coverage:building_coverage"])
    assert r.limits[0].exceeds == [True, False, None]
    assert r.limits[0].values[:2].tolist() == [0.15, 0.2]
