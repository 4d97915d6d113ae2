"""Class areas of a raster: label kinds, tables, errors, real Potsdam labels."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from areahelpers import classmap

from landseg.area import class_areas
from landseg.classes import ISPRS
from landseg.errors import ClassTableError, InputError


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
    with pytest.raises(ClassTableError, match="float32 pixels hold fractional values"):  # whole floats are classes
        class_areas(make_geotiff(np.full((4, 4), 1.5, np.float32), name="f.tif"), "isprs")
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
