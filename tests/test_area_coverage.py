"""Exact fractional pixel coverage of polygons."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import shapely
from areahelpers import classmap, write_zones
from rasterio.transform import from_origin

from landseg.area import pixel_coverage, zonal_areas
from landseg.classes import ISPRS


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


def test_zonal_areas_match_exactextract(make_geotiff, tmp_path):
    """An independent cross-check of the hand-written exact coverage: exactextract's per-zone class
    fractions (``unique``/``frac``) times its covered pixel count (``count``) against landseg's
    fractional pixels and areas per class, for partial pixels, holes, multipolygons and zones
    crossing the raster's edges."""
    exactextract = pytest.importorskip("exactextract", reason="exactextract (test extra) is not installed: "
                                                              "pip install 'landseg[test]' for the cross-check")
    rng = np.random.default_rng(7)
    a = rng.integers(0, 6, (60, 80)).astype(np.uint8)
    x0, y0, px = 367000.3, 5808000.7, 0.5  # 30 m x 40 m, origin off the metre grid
    path = classmap(make_geotiff, a, transform=from_origin(x0, y0, px, px))
    zones = []
    for _ in range(25):  # random convex polygons anywhere over the raster, some over its edges (valid:
        # landseg repairs invalid zones with make_valid, exactextract measures them as drawn)
        cx, cy = rng.uniform(x0 - 3, x0 + 43), rng.uniform(y0 - 33, y0 + 3)
        ang = rng.uniform(0, 2 * np.pi, 6)
        r = rng.uniform(0.3, 6.0, 6)
        zones.append(shapely.MultiPoint(np.column_stack([cx + r * np.cos(ang), cy + r * np.sin(ang)])).convex_hull)
    zones.append(shapely.Polygon([(x0 + 2.1, y0 - 2.3), (x0 + 17.9, y0 - 3.1), (x0 + 15.2, y0 - 19.6), (x0 + 3.3, y0 - 16.4)],
                                 [[(x0 + 6.2, y0 - 6.1), (x0 + 12.7, y0 - 7.05), (x0 + 8.8, y0 - 13.3)]]))  # with a hole
    zones.append(shapely.MultiPolygon([shapely.box(x0 + 20.1, y0 - 5.2, x0 + 20.4, y0 - 5.05),  # within one pixel
                                       shapely.box(x0 + 25.3, y0 - 12.6, x0 + 31.7, y0 - 9.9)]))
    zones.append(shapely.box(x0 - 5.2, y0 - 31.3, x0 + 45.7, y0 - 28.15))  # across the whole raster and out
    zpath = write_zones(tmp_path / "zones.gpkg", zones, np.arange(1, len(zones) + 1))
    zr = zonal_areas(path, zpath, "pid")
    feats = [{"type": "Feature", "properties": {"pid": i + 1}, "geometry": shapely.geometry.mapping(g)}
             for i, g in enumerate(zones)]
    with rasterio.open(path) as ds:
        ee = exactextract.exact_extract(ds, feats, ["unique", "frac", "count"], include_cols=["pid"])
    assert sum(0 < z.covered_share < 1 for z in zr.zones) >= 3  # zones crossing the edges are in the test
    assert not any(z.notes for z in zr.zones if 0 < z.covered_share == 1)  # valid zones: nothing repaired
    for z, f in zip(zr.zones, ee):
        p = f["properties"]
        assert p["pid"] == z.zone_id
        expect = np.zeros(ISPRS.num_classes)
        if p["count"] > 0:
            expect[np.asarray(p["unique"], dtype=int)] = np.asarray(p["frac"]) * p["count"]
        # exactextract keeps coverage fractions in float32: agreement to ~1e-6 of a pixel per pixel
        np.testing.assert_allclose(z.class_pixels, expect, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(z.class_m2, expect * px * px, rtol=1e-6, atol=1e-5 * px * px)
