"""Vectorising class maps: whole objects across strip borders, valid polygons, areas in m²."""

from __future__ import annotations

import json

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from scipy import ndimage

from landseg.area import class_areas
from landseg.classes import ISPRS
from landseg.errors import InputError
from landseg.io.labels import CLASS_TABLE_TAG
from landseg.vectorize import vectorize


def classmap(make_geotiff, data, name="classes.tif", **kw):
    path = make_geotiff(np.asarray(data, dtype=np.uint8), name=name, **kw)
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(ISPRS.to_dict())})
    return path


def read(path):
    meta, _, wkb, fields = pyogrio.raw.read(path)
    return meta, shapely.from_wkb(wkb), dict(zip(meta["fields"], fields))


def test_objects_crossing_strip_borders_are_merged(make_geotiff, tmp_path):
    rng = np.random.default_rng(5)
    a = (rng.random((45, 40)) < 0.5).astype(np.uint8)
    a[5:40, 3] = 1  # a long object through every strip
    path = classmap(make_geotiff, a)
    n4 = ndimage.label(a == 1)[1]
    whole = None
    for rows in (None, 1, 4, 9):
        res = vectorize(path, tmp_path / f"v{rows}.gpkg", classes="building", strip_rows=rows)
        meta, geoms, f = read(res.path)
        assert res.features == len(geoms) == n4 == res.counts["building"]
        assert shapely.is_valid(geoms).all() and (shapely.get_type_id(geoms) == 3).all()
        assert f["area_m2"].sum() == pytest.approx((a == 1).sum() * 0.0025)
        np.testing.assert_allclose(f["area_m2"], shapely.area(geoms), rtol=1e-6)  # float coordinates
        assert set(f["class_name"]) == {"building"} and set(f["class"]) == {1}
        key = sorted(np.round(f["area_m2"], 6))
        whole = whole or key
        assert key == whole
    assert meta["crs"] == "EPSG:32633"


def test_ring_across_strips_keeps_its_hole(make_geotiff, tmp_path):
    a = np.full((10, 10), 2, np.uint8)
    a[2:8, 2:8] = 3
    a[4:6, 4:6] = 2  # low vegetation inside the tree ring
    path = classmap(make_geotiff, a)
    res = vectorize(path, tmp_path / "ring.geojson", strip_rows=1)
    meta, geoms, f = read(res.path)
    tree = geoms[f["class_name"] == "tree"]
    assert len(tree) == 1 and shapely.get_num_interior_rings(tree[0]) == 1
    assert f["area_m2"][f["class_name"] == "tree"][0] == pytest.approx(32 * 0.0025)
    assert res.counts["low_vegetation"] == 2  # the outside and the island
    x0, y0 = 367000.0, 5808000.0
    assert tree[0].exterior.bounds == pytest.approx((x0 + 0.1, y0 - 0.4, x0 + 0.4, y0 - 0.1))


def test_geographic_areas_match_class_areas(make_geotiff, tmp_path):
    a = np.zeros((30, 40), np.uint8)
    a[3:25, 5:30] = 1
    a[10:12, 32:38] = 1
    path = classmap(make_geotiff, a, crs="EPSG:4326", transform=from_origin(10.0, 50.0, 1e-4, 1e-4))
    res = vectorize(path, tmp_path / "g.gpkg", classes="building", strip_rows=7)
    _, _, f = read(res.path)
    assert f["area_m2"].sum() == pytest.approx(class_areas(path).area_of("building"), rel=1e-6)


def test_simplify_min_area_and_bad_output(make_geotiff, tmp_path):
    a = np.zeros((20, 20), np.uint8)
    a[2:15, 2:15] = 1
    a[14:18, 14] = 1  # a tail: detail to simplify
    a[18, 1] = 1  # a one-pixel object
    path = classmap(make_geotiff, a)
    res = vectorize(path, tmp_path / "s.gpkg", classes="building", min_area=0.01, simplify=0.2)
    _, geoms, f = read(res.path)
    assert len(geoms) == 1 and shapely.is_valid(geoms).all()
    assert f["area_m2"][0] == pytest.approx((13 * 13 + 3) * 0.0025)  # measured before simplifying
    assert shapely.get_num_coordinates(geoms[0]) < 9
    with pytest.raises(InputError, match=".shp"):
        vectorize(path, tmp_path / "x.shp")
    assert not list(tmp_path.glob(".x.shp*"))


def test_empty_selection_writes_an_empty_layer(make_geotiff, tmp_path):
    path = classmap(make_geotiff, np.zeros((5, 5)))
    res = vectorize(path, tmp_path / "e.gpkg", classes="car")
    assert res.features == 0 and len(read(res.path)[1]) == 0


def test_cli_vectorize(make_geotiff, tmp_path, capsys):
    from landseg import cli

    a = np.zeros((8, 8), np.uint8)
    a[2:6, 2:6] = 1
    path = classmap(make_geotiff, a)
    out = tmp_path / "cli.gpkg"
    argv = [str(path), "--out", str(out), "--classes", "building"]
    assert cli.main(["vectorize", *argv]) == 0
    assert "1 polygons" in capsys.readouterr().out
    assert read(out)[2]["area_m2"][0] == pytest.approx(16 * 0.0025)


def test_real_solaris_footprints_round_trip(realdata, make_geotiff, tmp_path):
    from rasterio.features import rasterize

    data = realdata / "CosmiQ_solaris/solaris/data"
    _, _, wkb, _ = pyogrio.raw.read(data / "geotiff_labels.geojson", read_geometry=True, columns=[])
    geoms = shapely.from_wkb(wkb)
    with rasterio.open(data / "sample_geotiff.tif") as ds:
        t, crs, shape = ds.transform, ds.crs, (ds.height, ds.width)
    burned = rasterize([(g, 1) for g in geoms], out_shape=shape, transform=t, dtype="uint8")
    path = classmap(make_geotiff, burned, crs=crs, transform=t)
    res = vectorize(path, tmp_path / "fp.gpkg", classes="building", strip_rows=100)
    _, polys, f = read(res.path)
    assert f["area_m2"].sum() == pytest.approx(burned.sum() * 0.25)
    assert f["area_m2"].sum() == pytest.approx(shapely.area(geoms).sum(), rel=0.02)
    assert len(polys) == ndimage.label(burned)[1]


def test_simplified_polygons_carry_their_own_area_beside_the_regions(make_geotiff, tmp_path, capsys):
    """Issue 23 item 22: with --simplify, area_m2 was the raster region's area, not the written polygon's."""
    yy, xx = np.mgrid[:60, :60]
    a = (((yy - 30) ** 2 + (xx - 30) ** 2) < 400).astype(np.uint8)  # a pixelated disk
    path = classmap(make_geotiff, a, transform=from_origin(367000, 5808000, 0.5, 0.5))
    res = vectorize(path, tmp_path / "s.gpkg", classes="building", simplify=1.0)
    meta, geoms, f = read(res.path)
    assert list(meta["fields"]) == ["class", "class_name", "area_m2", "polygon_area_m2"]
    region = int(a.sum()) * 0.25
    assert f["area_m2"][0] == pytest.approx(region)  # the raster region (pixels x pixel area)
    assert f["polygon_area_m2"][0] == pytest.approx(shapely.area(geoms[0]))  # the written polygon itself
    assert abs(f["polygon_area_m2"][0] - region) > 1.0  # simplification moved it
    assert res.polygon_area_m2["building"] == pytest.approx(f["polygon_area_m2"][0])
    assert any("polygon_area_m2 that of the simplified polygon" in n for n in res.notes)
    plain = vectorize(path, tmp_path / "p.gpkg", classes="building")  # without --simplify both are the same
    _, pg, pf = read(plain.path)
    assert pf["polygon_area_m2"][0] == pytest.approx(pf["area_m2"][0]) == pytest.approx(shapely.area(pg[0]))
