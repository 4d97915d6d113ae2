"""Class areas per zone: exact coverage, CRSs, invalid and outside zones, outputs, real footprints."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from areahelpers import UTM_ORIGIN, classmap, write_zones
from pyproj import Transformer
from rasterio.transform import Affine, from_origin

from landseg.area import CLASS_TABLE_TAG, class_areas, zonal_areas
from landseg.classes import ClassTable
from landseg.errors import InputError

# ------------------------------------------------------------------------------ zones


def test_zone_smaller_than_a_pixel_and_straddling_the_edge(make_geotiff, tmp_path):
    a = np.array([[0, 1], [3, 4]], np.uint8)  # 2x2 pixels of 1 m
    path = classmap(make_geotiff, a, transform=from_origin(0, 2, 1, 1))
    zones = [
        shapely.box(0.9, 0.95, 1.2, 1.05),  # 0.3 x 0.1 m around the centre: four pixels
        shapely.box(1.5, -1.0, 3.5, 1.0),  # 4 m², 1 m² of it over pixel (1, 1) (car)
        shapely.box(0.1, 1.1, 0.15, 1.3),  # 0.01 m² inside one pixel
    ]
    zr = zonal_areas(path, write_zones(tmp_path / "z.gpkg", zones, [1, 2, 3]), "pid")
    z1 = zr.zone(1)
    assert z1.zone_area_m2 == pytest.approx(0.03)
    # impervious (top-left) x 0.9-1.0, y 1.0-1.05; building x 1.0-1.2, y 1.0-1.05; tree, car below
    assert z1.class_m2[:5] == pytest.approx([0.1 * 0.05, 0.2 * 0.05, 0, 0.1 * 0.05, 0.2 * 0.05])
    assert z1.covered_share == pytest.approx(1.0)
    z2 = zr.zone(2)
    assert z2.covered_share == pytest.approx(0.125) and z2.covered_m2 == pytest.approx(0.5)
    assert z2.class_m2[4] == pytest.approx(0.5) and z2.zone_area_m2 == pytest.approx(4.0)
    assert zr.zone(3).class_m2[0] == pytest.approx(0.01)
    assert any("partly outside" in n and "2" in n for n in zr.notes)
    assert "exact fractional coverage" in zr.to_text()


def test_random_zones_match_brute_force(make_geotiff, tmp_path):
    rng = np.random.default_rng(7)
    a = rng.integers(0, 6, (20, 20)).astype(np.uint8)
    t = from_origin(500.0, 1000.0, 0.5, 0.5)
    path = classmap(make_geotiff, a, transform=t)
    zones = []
    for _ in range(12):
        cx, cy = rng.uniform(500, 510), rng.uniform(990, 1000)
        ang = np.arange(6) * np.pi / 3 + rng.uniform(0, 1.0, 6)  # star-shaped: a simple polygon
        rad = rng.uniform(0.1, 3.0, 6)
        zones.append(shapely.Polygon(np.c_[cx + rad * np.cos(ang), cy + rad * np.sin(ang)]))
    zr = zonal_areas(path, write_zones(tmp_path / "z.geojson", zones, list(range(12))), "pid", strip_rows=3)
    boxes = [[shapely.box(*(t @ (j, i + 1)), *(t @ (j + 1, i))) for j in range(20)] for i in range(20)]
    for k, zone in enumerate(zones):
        expect = np.zeros(6)
        for i in range(20):
            for j in range(20):
                expect[a[i, j]] += shapely.intersection(zone, boxes[i][j]).area
        np.testing.assert_allclose(zr.zone(k).class_m2, expect, atol=1e-9)


def test_zones_in_another_crs_invalid_and_outside(make_geotiff, tmp_path):
    path = classmap(make_geotiff, np.ones((200, 200)), transform=from_origin(*UTM_ORIGIN, 0.5, 0.5))
    utm = shapely.box(UTM_ORIGIN[0] + 10, UTM_ORIGIN[1] - 60, UTM_ORIGIN[0] + 40.5, UTM_ORIGIN[1] - 20.25)
    to_ll = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    ll = shapely.transform(shapely.segmentize(utm, 1.0), lambda c: np.column_stack(to_ll.transform(c[:, 0], c[:, 1])))
    x0, y0 = UTM_ORIGIN[0] + 50, UTM_ORIGIN[1] - 50
    bowtie = shapely.Polygon([(x0, y0), (x0 + 10, y0 + 10), (x0 + 10, y0), (x0, y0 + 10)])  # self-crossing
    far = shapely.box(0, 0, 1, 1)
    zpath = write_zones(tmp_path / "z.geojson", [
        ll, shapely.transform(bowtie, lambda c: np.column_stack(to_ll.transform(c[:, 0], c[:, 1]))),
        shapely.transform(far, lambda c: np.column_stack(to_ll.transform(c[:, 0] + 1e5, c[:, 1] + 5e6)))],
        ["a", "b", "c"], crs="EPSG:4326")
    zr = zonal_areas(path, zpath, "pid")
    assert zr.zone("a").class_m2[1] == pytest.approx(utm.area, rel=1e-6)
    assert zr.zone("b").class_m2[1] == pytest.approx(50.0, rel=1e-6)  # two triangles of 25 m²
    assert "repaired" in " ".join(zr.zone("b").notes) and any("repaired" in n and "b" in n for n in zr.notes)
    assert zr.zone("c").covered_share == 0 and any("outside the raster" in n for n in zr.notes)
    with pytest.raises(InputError, match="no field 'parcel'.*pid"):
        zonal_areas(path, zpath, "parcel")
    far_only = write_zones(tmp_path / "far.gpkg", [shapely.box(0, 0, 10, 10)], [1])
    with pytest.raises(InputError, match="none of the 1 zones"):
        zonal_areas(path, far_only, "pid")


def test_zones_on_rotated_raster_and_outputs(make_geotiff, tmp_path):
    t = Affine.translation(*UTM_ORIGIN) @ Affine.rotation(25) @ Affine.scale(0.5, -0.5)
    path = classmap(make_geotiff, np.ones((40, 40)), transform=t)
    inner = shapely.Polygon([t @ (5.3, 5.1), t @ (30.2, 7.7), t @ (20.5, 33.3)])
    zr = zonal_areas(path, write_zones(tmp_path / "z.gpkg", [inner], [9]), "pid", classes="building")
    assert zr.zone(9).class_m2[1] == pytest.approx(inner.area, rel=1e-9)
    out = zr.write(tmp_path / "out.gpkg")
    meta, _, wkb, fields = pyogrio.raw.read(out)
    names = list(meta["fields"])
    assert "building_m2" in names and "covered_share" in names and meta["crs"] == "EPSG:32633"
    assert fields[names.index("building_m2")][0] == pytest.approx(inner.area, rel=1e-9)
    assert shapely.from_wkb(wkb[0]).area == pytest.approx(inner.area)
    rows = list(csv.DictReader(io.StringIO(zr.to_csv())))
    assert rows[0]["pid"] == "9" and float(rows[0]["building_m2"]) == pytest.approx(inner.area, rel=1e-6)
    assert json.loads(zr.to_json())["coverage_rule"].startswith("exact fractional coverage")


SOLARIS = "CosmiQ_solaris/solaris/data"


def test_real_solaris_footprints(realdata, tmp_path):
    from rasterio.features import rasterize

    zones = realdata / SOLARIS / "geotiff_labels.geojson"
    meta, _, wkb, (origarea, partial) = pyogrio.raw.read(zones, columns=["origarea", "partialDec"])
    geoms = shapely.from_wkb(wkb)
    inside = origarea * partial  # the footprints are clipped to the image; origarea is before clipping
    assert origarea.sum() == pytest.approx(9056.5, abs=0.1)
    np.testing.assert_allclose(shapely.area(geoms), inside, rtol=1e-6)
    with rasterio.open(realdata / SOLARIS / "sample_geotiff.tif") as ds:
        t, crs, shape = ds.transform, ds.crs, (ds.height, ds.width)
    table = ClassTable("footprints", ("background", "building"), ((0, 0, 0), (255, 0, 0)))
    burned = rasterize([(g, 1) for g in geoms], out_shape=shape, transform=t, dtype="uint8")
    path = tmp_path / "footprints.tif"
    with rasterio.open(path, "w", driver="GTiff", width=shape[1], height=shape[0], count=1, dtype="uint8",
                       crs=crs, transform=t) as ds:
        ds.write(burned, 1)
        ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(table.to_dict())})
    r = class_areas(path)
    assert r.area_of("building") == pytest.approx(inside.sum(), rel=0.02)  # pixel-centre burning: ~1 %
    zr = zonal_areas(path, zones)
    measured = np.array([z.class_m2[1] for z in zr.zones])
    np.testing.assert_allclose([z.zone_area_m2 for z in zr.zones], inside, rtol=1e-6)
    np.testing.assert_allclose([z.covered_m2 for z in zr.zones], inside, rtol=1e-6)  # exact coverage
    assert measured.sum() == pytest.approx(inside.sum(), rel=0.02)
    assert all(z.covered_share == pytest.approx(1.0) for z in zr.zones)


# -- reliability (#14, second half) ------------------------------------------------------------
def test_point_zones_are_refused_naming_the_geometry_types(make_geotiff, tmp_path, capsys):
    from landseg.cli import main

    path = classmap(make_geotiff, np.zeros((40, 40)))
    x0, y0 = 367000.0, 5808000.0
    pts = write_zones(tmp_path / "pts.geojson", [shapely.Point(x0 + 1, y0 - 1), shapely.Point(x0 + 2, y0 - 1),
                                                 shapely.LineString([(x0, y0 - 1), (x0 + 1, y0 - 1.5)])], [1, 2, 3])
    with pytest.raises(InputError, match=r"zones must be polygons .*holds LineString \(1\), Point \(2\)"):
        zonal_areas(path, pts)
    assert main(["area", str(path), "--zones", str(pts)]) == 2
    err = capsys.readouterr().err
    assert "zones must be polygons" in err and "none of the" not in err


def test_duplicate_zone_ids_are_noted(make_geotiff, tmp_path):
    path = classmap(make_geotiff, np.zeros((40, 40)))
    x0, y0 = 367000.0, 5808000.0
    zones = write_zones(tmp_path / "z.gpkg", [shapely.box(x0, y0 - 1, x0 + 1, y0), shapely.box(x0 + 1, y0 - 1, x0 + 2, y0),
                                              shapely.box(x0, y0 - 2, x0 + 1, y0 - 1)], ["A", "A", "B"])
    res = zonal_areas(path, zones, "pid")
    assert [z.zone_id for z in res.zones] == ["A", "A", "B"]
    assert any("zone ids that occur more than once in z.gpkg (field pid): A (2x)" in n for n in res.notes), res.notes


def test_area_and_vectorize_accept_unknown_to_ignore(make_geotiff, tmp_path, capsys):
    from landseg.cli import main

    a = np.zeros((20, 20), np.uint8)
    a[:5] = 9  # not a class of the ISPRS table
    a[5:10] = 1
    path = make_geotiff(a, name="idx.tif")
    assert main(["area", str(path), "--class-table", "isprs"]) == 2
    assert "--unknown-to-ignore" in capsys.readouterr().err
    assert main(["area", str(path), "--class-table", "isprs", "--unknown-to-ignore", "--format", "json"]) == 0
    res = {c["name"]: c["pixels"] for c in json.loads(capsys.readouterr().out)["classes"]}
    assert res["building"] == 100 and res["impervious_surface"] == 200
    out = tmp_path / "v.gpkg"
    assert main(["vectorize", str(path), "--class-table", "isprs", "--out", str(out)]) == 2
    capsys.readouterr()
    assert main(["vectorize", str(path), "--class-table", "isprs", "--out", str(out), "--unknown-to-ignore"]) == 0
    rgb = np.zeros((3, 10, 10), np.uint8)
    rgb[:, :2] = 128  # a grey outside the colour table
    colour = make_geotiff(rgb, name="rgb.tif")
    assert main(["area", str(colour), "--class-table", "isprs"]) == 2
    assert "pass --unknown-to-ignore" in capsys.readouterr().err
    assert main(["area", str(colour), "--class-table", "isprs", "--unknown-to-ignore"]) == 0


@pytest.mark.parametrize("ring", ["unclosed", "two_points"])
def test_broken_zone_geometry_is_one_line_naming_the_zone(make_geotiff, tmp_path, capsys, ring):
    """Issue 23.5: a GeoJSON ring that is not closed (or of 2 points) ended in a shapely traceback; now one line
    naming the zone (by --zone-id or fid), for the CLI and the library, and no RuntimeWarning."""
    from landseg.cli import main

    path = classmap(make_geotiff, np.zeros((40, 40)))
    x0, y0 = 367000.0, 5808000.0
    coords = {"unclosed": [[x0, y0], [x0 + 1, y0], [x0 + 1, y0 - 1], [x0, y0 - 1]],
              "two_points": [[x0, y0], [x0 + 1, y0]]}[ring]
    good = [[x0, y0], [x0 + 1, y0], [x0 + 1, y0 - 1], [x0, y0]]
    fc = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:32633"}},
          "features": [{"type": "Feature", "properties": {"pid": "good"}, "geometry": {"type": "Polygon", "coordinates": [good]}},
                       {"type": "Feature", "properties": {"pid": "P-7"}, "geometry": {"type": "Polygon", "coordinates": [coords]}}]}
    zones = tmp_path / "z.geojson"
    zones.write_text(json.dumps(fc))
    with pytest.raises(InputError, match=r"z.geojson: 1 zone with a broken geometry \(pid 'P-7': .*LinearRing"):
        zonal_areas(path, zones, "pid")
    assert main(["area", str(path), "--zones", str(zones), "--zone-id", "pid"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pid 'P-7'" in err and "Traceback" not in err and "Warning" not in err, err
    assert main(["area", str(path), "--zones", str(zones)]) == 2
    assert "fid 1:" in capsys.readouterr().err
