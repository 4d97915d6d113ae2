"""Class areas, zonal areas, objects and truth comparison: answers known exactly."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from pyproj import Geod, Transformer
from rasterio.transform import Affine, from_origin
from scipy import ndimage

from landseg.area import (
    CLASS_TABLE_TAG,
    class_areas,
    compare_with_truth,
    object_stats,
    pixel_area_source,
    pixel_coverage,
    zonal_areas,
)
from landseg.classes import ISPRS, ClassTable
from landseg.errors import ClassTableError, InputError

UTM_ORIGIN = (367000.0, 5808000.0)
FT2_US = (1200 / 3937) ** 2  # m² in one US survey foot²
WGS84 = Geod(ellps="WGS84")


def classmap(make_geotiff, data, *, table=ISPRS, name="classes.tif", **kw):
    """A class GeoTIFF as predict writes it: index values, the class table in the metadata tag."""
    path = make_geotiff(np.asarray(data, dtype=np.uint8), name=name, **kw)
    if table is not None:
        with rasterio.open(path, "r+") as ds:
            ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(table.to_dict())})
    return path


def pixel_area(path, gsd=None):
    with rasterio.open(path) as ds:
        return pixel_area_source(ds, gsd)


def densified_geod_area(lons, lats, n=1001):
    """Geodesic area of a polygon whose edges are straight lines in lon/lat, densified."""
    xs, ys = [], []
    for i in range(len(lons)):
        j = (i + 1) % len(lons)
        xs.append(np.linspace(lons[i], lons[j], n, endpoint=False))
        ys.append(np.linspace(lats[i], lats[j], n, endpoint=False))
    return abs(WGS84.polygon_area_perimeter(np.concatenate(xs), np.concatenate(ys))[0])


@pytest.fixture
def two_class(make_geotiff):
    """100x200 map at 5 cm: top half building, bottom half impervious, one ignore pixel."""
    a = np.zeros((100, 200), np.uint8)
    a[:50] = 1
    a[0, 0] = 255
    return classmap(make_geotiff, a), a


# ------------------------------------------------------------------------------ pixel areas
def test_five_cm_pixels_exact(two_class):
    path, a = two_class
    r = class_areas(path)
    assert pixel_area(path).constant == pytest.approx(0.0025, rel=1e-12)
    assert r.area_of("building") == pytest.approx(9999 * 0.0025, rel=1e-12)
    assert r.area_of("impervious_surface") == pytest.approx(10000 * 0.0025, rel=1e-12)
    assert r.classes[1].pixels == 9999 and r.nodata_pixels == 1
    assert r.valid_m2 == pytest.approx(19999 * 0.0025)
    assert r.classes[0].share == pytest.approx(10000 / 19999)
    assert "EPSG:32633" in r.pixel_area and "0.0025 m²" in r.pixel_area


def test_nodata_value_is_excluded(make_geotiff):
    a = np.full((10, 10), 3, np.uint8)
    a[:, :4] = 9  # nodata, outside the table: must not be read as a class
    r = class_areas(classmap(make_geotiff, a, nodata=9))
    assert r.area_of("tree") == pytest.approx(60 * 0.0025)
    assert r.nodata_pixels == 40 and r.classes[3].share == pytest.approx(1.0)


@pytest.mark.parametrize("transform", [
    Affine.translation(*UTM_ORIGIN) @ Affine.rotation(30) @ Affine.scale(0.5, -0.5),
    Affine(0.5, 0.2, UTM_ORIGIN[0], 0.1, -0.5, UTM_ORIGIN[1]),  # skewed: |det| = 0.27
])
def test_rotated_and_skewed_transforms(make_geotiff, transform):
    path = classmap(make_geotiff, np.ones((20, 30)), transform=transform)
    det = abs(transform.a * transform.e - transform.b * transform.d)
    pa = pixel_area(path)
    assert pa.constant == pytest.approx(det, rel=1e-12)
    assert "rotated" in pa.description
    assert class_areas(path).area_of("building") == pytest.approx(600 * det, rel=1e-12)


def test_us_survey_feet(make_geotiff):
    path = classmap(make_geotiff, np.ones((10, 10)), crs="EPSG:2263", transform=from_origin(980000, 200000, 2, 2))
    pa = pixel_area(path)
    assert pa.constant == pytest.approx(4 * FT2_US, rel=1e-12)
    assert "US ft" in pa.description
    r = class_areas(path)
    assert r.area_of("building") == pytest.approx(400 * FT2_US, rel=1e-12)
    assert "ft2" in r.to_csv("ft2").splitlines()[0]
    # 400 US ft² are 400.0016 international ft²
    assert json.loads(r.to_json("ft2"))["classes"][1]["area_ft2"] == pytest.approx(400 * FT2_US / 0.09290304)


def test_geographic_grid_geodesic_area(make_geotiff):
    a = np.ones((100, 200), np.uint8)
    path = classmap(make_geotiff, a, crs="EPSG:4326", transform=from_origin(10.0, 50.0, 0.001, 0.001))
    r = class_areas(path)
    truth = densified_geod_area([10.0, 10.2, 10.2, 10.0], [50.0, 50.0, 49.9, 49.9])
    assert r.area_of("building") == pytest.approx(truth, rel=1e-9)
    pa = pixel_area(path)
    rows = pa.block(0, 100)
    assert rows.shape == (100, 1) and np.all(np.diff(rows[:, 0]) > 0)  # pixels grow towards the equator
    assert "geographic" in pa.description and "°" in pa.description


def test_rotated_geographic_grid(make_geotiff):
    t = Affine.translation(10.0, 50.0) @ Affine.rotation(20) @ Affine.scale(0.001, -0.001)
    path = classmap(make_geotiff, np.ones((40, 60)), crs="EPSG:4326", transform=t)
    corners = [t @ (0, 0), t @ (60, 0), t @ (60, 40), t @ (0, 40)]
    truth = densified_geod_area([c[0] for c in corners], [c[1] for c in corners])
    assert pixel_area(path).block(0, 40).shape == (40, 60)
    assert class_areas(path).area_of("building") == pytest.approx(truth, rel=1e-7)


def test_web_mercator_true_ground_area(make_geotiff):
    lat = 60.0
    y = 6378137.0 * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    t = from_origin(1113194.9, y, 1.0, 1.0)  # 1 m nominal pixels at 60° N
    path = classmap(make_geotiff, np.ones((100, 100)), crs="EPSG:3857", transform=t)
    area = class_areas(path).area_of("building")
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    (lon0, lon1), (lat0, lat1) = to_ll.transform([t.c, t.c + 100], [y, y - 100])
    truth = densified_geod_area([lon0, lon1, lon1, lon0], [lat0, lat0, lat1, lat1])
    assert area == pytest.approx(truth, rel=1e-7)
    # about nominal * cos²(lat): 2,500 of the 10,000 nominal m² (the ellipsoid adds ~0.3 %)
    assert area == pytest.approx(10000 * math.cos(math.radians(lat)) ** 2, rel=5e-3)
    assert "not the raw Mercator" in pixel_area(path).description


def test_no_georeferencing_needs_gsd(make_geotiff):
    path = classmap(make_geotiff, np.ones((10, 10)), crs=None)
    with pytest.raises(InputError, match="--gsd"):
        class_areas(path)
    r = class_areas(path, gsd=0.05)
    assert r.area_of("building") == pytest.approx(100 * 0.0025)
    assert "--gsd 0.05" in r.pixel_area
    counts = class_areas(path, allow_pixels_only=True)  # predict's fallback: counts and shares only
    assert counts.classes[1].pixels == 100 and counts.classes[1].share == 1.0
    assert math.isnan(counts.area_of("building")) and "pixel counts only" in counts.pixel_area
    assert json.loads(counts.to_json())["classes"][1]["area_m2"] is None
    assert "n/a" in counts.to_text() and ",100,,," in counts.to_csv()
    # a georeferenced raster keeps its own pixel size
    geo = classmap(make_geotiff, np.ones((10, 10)), name="geo.tif")
    rg = class_areas(geo, gsd=1.0)
    assert rg.area_of("building") == pytest.approx(0.25) and any("ignored" in n for n in rg.notes)


# ------------------------------------------------------------------------------ tables, label kinds, errors
def test_table_argument_colour_and_palette_labels(make_geotiff, tmp_path):
    idx = np.array([[0, 1, 1], [3, 3, 3]], np.uint8)
    rgb = np.moveaxis(ISPRS.index_to_rgb(idx), -1, 0)
    rgb_path = make_geotiff(rgb, name="rgb.tif")
    assert class_areas(rgb_path, "isprs").area_of("tree") == pytest.approx(3 * 0.0025)
    pal_path = tmp_path / "pal.png"
    with rasterio.open(pal_path, "w", driver="PNG", width=3, height=2, count=1, dtype="uint8") as ds:
        ds.write(idx[None] + 10)
        ds.write_colormap(1, {k + 10: (*c, 255) for k, c in enumerate(ISPRS.colors)})
    r = class_areas(pal_path, "isprs", gsd=0.5)
    assert [c.pixels for c in r.classes] == [1, 2, 0, 3, 0, 0]


def test_missing_table_float_raster_and_values_outside(make_geotiff):
    no_table = classmap(make_geotiff, np.ones((4, 4)), table=None)
    with pytest.raises(InputError, match="--class-table"):
        class_areas(no_table)
    with pytest.raises(ClassTableError, match="float32"):
        class_areas(make_geotiff(np.ones((4, 4), np.float32), name="f.tif"), "isprs")
    bad = np.ones((4, 4), np.uint8)
    bad[0, 0] = 7
    with pytest.raises(ClassTableError, match="7: 1 px"):
        class_areas(classmap(make_geotiff, bad, name="bad.tif"))
    wide = np.ones((4, 4), np.uint16)
    wide[1, 1] = 1000
    with pytest.raises(ClassTableError, match="1000: 1 px"):
        class_areas(make_geotiff(wide, name="wide.tif"), "isprs")
    with pytest.raises(ClassTableError, match="unknown class 'roof'"):
        class_areas(no_table, "isprs", classes="building,roof")


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


# ------------------------------------------------------------------------------ zones
def write_zones(path, geoms, ids, crs="EPSG:32633", field="pid"):
    pyogrio.raw.write(str(path), shapely.to_wkb(np.array(geoms, dtype=object)), [np.array(ids)], [field],
                      driver="GPKG" if str(path).endswith(".gpkg") else "GeoJSON", crs=crs, geometry_type="Unknown")
    return path


@pytest.mark.parametrize("geom", [
    shapely.Polygon([(0.2, 0.1), (2.7, 0.4), (1.1, 2.9)]),
    shapely.Polygon([(-0.5, -1.5), (6.3, 0.2), (4.1, 7.9), (0.4, 5.5)], [[(1.2, 1.3), (3.7, 2.2), (2.0, 4.4)]]),
    shapely.MultiPolygon([shapely.box(0.25, 0.25, 0.5, 0.75), shapely.box(2.0, 3.0, 4.0, 3.5)]),
])
def test_pixel_coverage_is_exact(geom):
    for row_off, col_off, h, w in [(0, 0, 6, 7), (2, 1, 3, 5)]:  # the second window cuts the polygon
        frac = pixel_coverage(geom, row_off, col_off, h, w)
        expect = np.array([[shapely.intersection(geom, shapely.box(j, i, j + 1, i + 1)).area
                            for j in range(col_off, col_off + w)] for i in range(row_off, row_off + h)])
        np.testing.assert_allclose(frac, expect, atol=1e-12)


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


# ------------------------------------------------------------------------------ objects
def test_objects_crossing_strip_borders(make_geotiff):
    a = np.zeros((12, 12), np.uint8)
    a[1:11, 2] = a[1:11, 8] = a[10, 2:9] = 1  # a U crossing every strip border
    a[5, 5] = 1  # a single pixel
    a[6, 6] = 1  # touches it diagonally, across the border of 1-row strips
    path = classmap(make_geotiff, a)
    for rows in (None, 1, 2, 5):
        s = object_stats(path, "building", strip_rows=rows).stats("building")
        assert s.count == 2 and s.total_m2 == pytest.approx(a.sum() * 0.0025)
        assert s.max_m2 == pytest.approx(25 * 0.0025) and s.median_m2 == pytest.approx((25 + 2) / 2 * 0.0025)
    four = object_stats(path, "building", connectivity=4, strip_rows=1).stats("building")
    assert four.count == 3
    big = object_stats(path, "building", min_area=0.01).stats("building")
    assert big.count == 1 and big.total_m2 == pytest.approx(25 * 0.0025)


def test_objects_equal_whole_raster_labelling(make_geotiff):
    rng = np.random.default_rng(3)
    a = (rng.random((60, 50)) < 0.4).astype(np.uint8) * 4  # cars on impervious
    path = classmap(make_geotiff, a)
    lab, n = ndimage.label(a == 4, structure=np.ones((3, 3)))
    sizes = np.bincount(lab.ravel())[1:] * 0.0025
    for rows in (1, 3, 7, None):
        s = object_stats(path, "car", strip_rows=rows).stats("car")
        assert s.count == n
        assert (s.total_m2, s.max_m2, s.median_m2) == pytest.approx((sizes.sum(), sizes.max(), np.median(sizes)))
    text = object_stats(path, "car,tree").to_text()
    assert "8-connected" in text and "tree" in text


# ------------------------------------------------------------------------------ truth
def test_compare_with_truth(make_geotiff):
    truth = np.zeros((10, 10), np.uint8)
    truth[:4] = 1
    truth[9, 9] = 255  # unlabelled in the truth: not compared
    pred = truth.copy()
    pred[4, :5] = 1  # 5 pixels of impervious predicted as building
    pred[9, 9] = 1
    cmp = compare_with_truth(classmap(make_geotiff, pred, name="pred.tif"),
                             classmap(make_geotiff, truth, name="truth.tif"))
    b = cmp.row("building")
    assert b.true_m2 == pytest.approx(40 * 0.0025) and b.predicted_m2 == pytest.approx(45 * 0.0025)
    assert b.error_m2 == pytest.approx(5 * 0.0025) and b.error_pct == pytest.approx(12.5)
    assert cmp.row("impervious_surface").error_pct == pytest.approx(-5 / 59 * 100)
    assert cmp.row("tree").error_pct is None
    assert cmp.compared_m2 == pytest.approx(99 * 0.0025)
    small = classmap(make_geotiff, truth[:5], name="small.tif")
    with pytest.raises(InputError, match="same|grid"):
        compare_with_truth(classmap(make_geotiff, pred, name="p2.tif"), small)


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


# ------------------------------------------------------------------------------ real data
POTSDAM_LABELS = "jung2shinho_NNModels/562_final_report_figures/images/top_potsdam_{}_label.png"
# SOURCES.md section 2 (m², rounded; their counts are off by up to 5 m² and sum to 89,991 / 90,009)
POTSDAM_AREAS = {
    "2_10": dict(building=13617, tree=6696, low_vegetation=37953, clutter=12357, car=783, impervious_surface=18585),
    "5_11": dict(building=33678, tree=11232, low_vegetation=11799, clutter=2700, car=2250, impervious_surface=28350),
}


@pytest.mark.parametrize("tile", ["2_10", "5_11"])
def test_real_potsdam_label_tiles(realdata, tile):
    png = realdata / POTSDAM_LABELS.format(tile)
    r = class_areas(png, "isprs", gsd=0.05)
    assert r.valid_m2 == pytest.approx(90000.0) and r.nodata_pixels == 0
    for name, m2 in POTSDAM_AREAS[tile].items():
        assert r.area_of(name) == pytest.approx(m2, abs=5.0)
    with rasterio.open(png) as ds:  # an independent whole-tile count through the palette
        pal = {k: v[:3] for k, v in ds.colormap(1).items()}
        counts = np.bincount(ds.read(1).ravel(), minlength=256)
    for k in np.nonzero(counts)[0]:
        name = ISPRS.names[ISPRS.colors.index(tuple(pal[k]))]
        assert r.area_of(name) == pytest.approx(counts[k] * 0.0025, rel=1e-12)


# SOURCES.md section 4, tile 4_13 (impervious, building, low veg, tree, car, clutter), m²
GDGNET_4_13 = [27309, 30007, 13076, 11541, 1965, 6102]


@pytest.fixture(scope="module")
def potsdam_4_13(tmp_path_factory):
    from conftest import REALDATA

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


def test_real_gdgnet_tile_areas_and_objects(potsdam_4_13):
    path, tile = potsdam_4_13
    r = class_areas(path)
    assert [c.area_m2 for c in r.classes] == pytest.approx(GDGNET_4_13, abs=0.5)
    assert r.valid_m2 == pytest.approx(90000.0)
    lab, n = ndimage.label(tile == 4, structure=np.ones((3, 3)))
    sizes = np.bincount(lab.ravel())[1:] * 0.0025
    s = object_stats(path, "car", strip_rows=700).stats("car")  # strip borders cut through cars
    assert s.count == n and s.total_m2 == pytest.approx(GDGNET_4_13[4], abs=0.5)
    assert (s.max_m2, s.median_m2) == pytest.approx((sizes.max(), np.median(sizes)))


def test_real_derived_truth_comparison(potsdam_4_13, realdata, tmp_path):
    path, tile = potsdam_4_13
    crop = tmp_path / "pred_4_13_y00_x00.tif"
    with rasterio.open(path) as src:
        prof = src.profile | dict(width=1000, height=1000, blockxsize=256, blockysize=256)
        with rasterio.open(crop, "w", **prof) as dst:
            dst.write(src.read(1, window=((0, 1000), (0, 1000))), 1)
            dst.update_tags(**src.tags())
    truth = realdata / "derived/potsdam_4_13_y00_x00/top_potsdam_4_13_label_y00_x00.png"
    cmp = compare_with_truth(crop, truth)  # the colour label is read with the prediction's table
    assert [c.true_m2 for c in cmp.classes] == pytest.approx([1444.5, 514.0, 163.4, 156.8, 134.1, 87.3], abs=0.06)
    assert all(c.error_m2 == 0 for c in cmp.classes) and cmp.compared_m2 == pytest.approx(2500.0)


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
