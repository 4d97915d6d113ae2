"""Exact fractional pixel coverage of polygons."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from landseg.area import pixel_coverage


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
