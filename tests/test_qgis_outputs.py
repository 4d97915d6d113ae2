"""Outputs that read well in QGIS, checked on the files (tests/test_qgis.py checks them in a real QGIS):
the .qml legend beside class maps, no geotransform for ungeoreferenced rasters, QGIS styles in every
GeoPackage, the change palette, preview and report."""

from __future__ import annotations

import json
import sqlite3
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.errors import NotGeoreferencedWarning

from landseg.change import CHANGE_COLOURS, transition_table
from landseg.classes import DUBAI, ISPRS
from landseg.cli import main
from landseg.io.labels import CLASS_TABLE_TAG
from landseg.io.raster import ClassMapWriter, class_map_profile
from landseg.io.vector import write_features

X0, Y0, PX = 367000.0, 5808000.0, 0.5
K = ISPRS.num_classes


def _palette(qml_path):
    root = ET.parse(qml_path).getroot()
    renderer = root.find("pipe/rasterrenderer")
    assert renderer is not None and renderer.get("type") == "paletted"
    return [(int(e.get("value")), e.get("label"), e.get("color")) for e in renderer.iter("paletteEntry")]


def _tagged(make_geotiff, arr, name, **kw):
    path = make_geotiff(arr.astype(np.uint8), name=name, nodata=255,
                        transform=rasterio.transform.from_origin(X0, Y0, PX, PX), **kw)
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(ISPRS.to_dict())})
    return path


def _styles(gpkg):
    with sqlite3.connect(gpkg) as con:
        return con.execute("SELECT f_table_name, styleName, styleQML, useAsDefault FROM layer_styles").fetchall()


def test_class_map_gets_a_qml_legend_of_its_classes(tmp_path):
    prof = class_map_profile(40, 30, crs="EPSG:32633", transform=rasterio.transform.from_origin(X0, Y0, PX, PX))
    with ClassMapWriter(tmp_path / "s.tif", prof, DUBAI) as w:
        w.write(np.zeros((30, 40), np.uint8), 0, 0)
        w.finish(tmp_path / "map_classes.tif")
    entries = _palette(tmp_path / "map_classes.qml")
    assert [(v, n) for v, n, _ in entries] == list(enumerate(DUBAI.names))  # not 256 codes
    assert [c for *_, c in entries] == ["#{:02x}{:02x}{:02x}".format(*c) for c in DUBAI.colors]
    # a bare grid (no table) gets no style
    with ClassMapWriter(tmp_path / "s2.tif", prof) as w:
        w.write(np.zeros((30, 40), np.uint8), 0, 0)
        w.finish(tmp_path / "bare.tif")
    assert not (tmp_path / "bare.qml").exists()


def test_ungeoreferenced_class_map_has_no_geotransform(tmp_path):
    """An identity geotransform written to the file puts row 0 at the bottom in QGIS (upside down);
    without one QGIS shows row 0 at the top. Reading it still gives the identity transform."""
    prof = class_map_profile(40, 30)
    with ClassMapWriter(tmp_path / "s.tif", prof, ISPRS) as w:
        w.write(np.zeros((30, 40), np.uint8), 0, 0)
        w.finish(tmp_path / "plain.tif")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with rasterio.open(tmp_path / "plain.tif") as ds:
            assert ds.transform.is_identity and ds.crs is None
    assert any(issubclass(w.category, NotGeoreferencedWarning) for w in caught)


def test_predict_without_georeferencing_is_upright_and_styled(tiny_checkpoint, tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    assert main(["predict", str(tiny_checkpoint()), str(tmp_path / "photo.png"), "--out", str(tmp_path / "out"),
                 "--window", "32", "--overlap", "8", "--no-previews", "--progress-lines"]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("progress: ")]
    assert lines[0].endswith("(0%)") and lines[-1].endswith("(100%)") and len(lines) > 2  # for the QGIS plugin
    classes = tmp_path / "out" / "photo_classes.tif"
    assert [n for _, n, _ in _palette(classes.with_suffix(".qml"))] == list(ISPRS.names)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rasterio.open(classes).close()
    assert any(issubclass(w.category, NotGeoreferencedWarning) for w in caught)


def test_sample_points_styled_with_reference_drop_down(make_geotiff, tmp_path):
    arr = np.repeat(np.arange(K), 100).reshape(20, 30)
    cm = _tagged(make_geotiff, arr, "classes.tif")
    out = tmp_path / "points.gpkg"
    assert main(["sample", str(cm), "--n", "30", "--out", str(out)]) == 0
    (layer, name, qml, default), = _styles(out)
    assert layer == "reference_sample" and default == 1
    root = ET.fromstring(qml.split("\n", 1)[1])
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "map_class"
    assert [c.get("label") for c in renderer.iter("category")] == list(ISPRS.names)
    assert {s.get("type") for s in renderer.find("symbols")} == {"marker"}
    field = root.find("fieldConfiguration/field[@name='reference']")
    assert field.find("editWidget").get("type") == "ValueMap"
    assert [o.get("value") for o in field.iter("Option") if o.get("type") == "QString"] == list(ISPRS.names)


def test_zone_areas_and_indicators_carry_styles(make_geotiff, tmp_path):
    arr = np.zeros((40, 40), np.uint8)
    arr[:, :10] = 1  # building
    cm = _tagged(make_geotiff, arr, "classes.tif")
    zones = tmp_path / "zones.gpkg"
    write_features(zones, np.array([shapely.box(X0, Y0 - 20, X0 + 10, Y0), shapely.box(X0 + 10, Y0 - 20, X0 + 20, Y0)],
                                   dtype=object), {"pid": np.array([1, 2]), "cap": np.array([0.3, 0.3])}, "EPSG:32633",
                   layer="zones")
    out = tmp_path / "areas.gpkg"
    assert main(["area", str(cm), "--zones", str(zones), "--zone-id", "pid", "--out", str(out)]) == 0
    styles = {name: (qml, d) for _, name, qml, d in _styles(out)}
    assert set(styles) == {f"{n}_share" for n in ISPRS.names}
    assert styles["building_share"][1] == 1 and sum(d for _, d in styles.values()) == 1
    assert '"building_m2" / "valid_m2"' in styles["building_share"][0]
    out2 = tmp_path / "ind.gpkg"
    assert main(["area", str(cm), "--zones", str(zones), "--zone-id", "pid", "--indicators",
                 "--limit", "cap:building_coverage", "--out", str(out2)]) == 0
    qml = {name: q for _, name, q, _ in _styles(out2)}["exceeds_cap"]
    labels = [c.get("label") for c in ET.fromstring(qml.split("\n", 1)[1]).iter("category")]
    assert labels == ["over the limit", "within"]


def test_change_palette_preview_legend_and_report(make_geotiff, tmp_path):
    rng = np.random.default_rng(3)
    before = rng.integers(0, K, (60, 80))
    after = before.copy()
    after[10:30, 10:40] = 1  # -> building
    after[40:50, :] = 3  # -> tree
    bp, ap = _tagged(make_geotiff, before, "before.tif"), _tagged(make_geotiff, after, "after.tif")
    out = tmp_path / "chg"
    assert main(["change", str(bp), str(ap), "--out", str(out)]) == 0
    tr = transition_table(ISPRS)
    stable = [np.array(tr.colors[i * K + i], float) for i in range(K)]
    changes = [np.array(tr.colors[c], float) for c in range(K * K) if c // K != c % K]
    # stable classes muted (low saturation), changes strong; every change type its own colour
    assert max(c.max() - c.min() for c in stable) < 80
    assert min(c.max() - c.min() for c in changes) >= 80
    assert len({tuple(c) for c in changes}) == len(changes)
    assert tuple(changes[0]) == CHANGE_COLOURS[0]
    # the QGIS legend lists only the transitions present
    present = {int(c) for c in np.unique(before * K + after)}
    assert {v for v, _, _ in _palette(out / "transitions.qml")} == present
    from PIL import Image

    with Image.open(out / "transitions_preview.png") as im:
        assert im.width >= 800 and im.height >= 600
    assert main(["report", str(out), "--out", str(tmp_path / "change.html")]) == 0
    html = (tmp_path / "change.html").read_text()
    assert "Transition map" in html and "building (unchanged)" in html and "tree → building" in html
    assert 'data-from="tree" data-to="building"' in html
    n_changed = int(((before != after)).sum())
    assert f"{100 * n_changed / before.size:.2f} % of the compared area changed" in html


@pytest.mark.parametrize("k", [2, 15])
def test_transition_table_sizes(k):
    from landseg.classes import ClassTable

    table = ClassTable("t", tuple(f"c{i}" for i in range(k)), tuple((i * 16 % 256, 100, 200 - i) for i in range(k)))
    tr = transition_table(table)
    assert tr.num_classes == k * k and len(set(tr.colors)) == k * k
