"""io/raster.py: the class-map writer (named profile, embedded class table, COG finish)."""

import json

import numpy as np
import rasterio
from rasterio.transform import from_origin

from landseg.classes import ISPRS
from landseg.io.labels import CLASS_NAMES_TAG, CLASS_TABLE_TAG, class_map_tags
from landseg.io.raster import CLASS_MAP_NODATA, ClassMapWriter, class_map_profile


def test_class_map_writer_writes_a_cog_with_the_class_table(tmp_path):
    transform = from_origin(367000, 5808000, 0.05, 0.05)
    prof = class_map_profile(300, 200, crs="EPSG:32633", transform=transform)
    data = np.random.default_rng(0).integers(0, 6, (200, 300)).astype(np.uint8)
    data[:10, :10] = CLASS_MAP_NODATA
    tags = class_map_tags(ISPRS, "model.safetensors", {"LANDSEG_NOTE": "a note"})
    with ClassMapWriter(tmp_path / "grid.tif", prof, ISPRS, tags) as w:
        w.write(data[:100], 0, 0)
        w.write(data[100:], 100, 0)
        w.finish(tmp_path / "classes.tif")
    with rasterio.open(tmp_path / "classes.tif") as ds:
        assert ds.driver == "GTiff" and ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert (ds.read(1) == data).all() and ds.nodata == CLASS_MAP_NODATA and ds.dtypes[0] == "uint8"
        assert ds.crs.to_epsg() == 32633 and ds.transform == transform
        assert ds.colormap(1)[1][:3] == tuple(ISPRS.colors[1]) and ds.descriptions[0] == "class"
        t = ds.tags()
        assert json.loads(t[CLASS_TABLE_TAG]) == ISPRS.to_dict() and t[CLASS_NAMES_TAG] == ",".join(ISPRS.names)
        assert t["LANDSEG_MODEL"] == "model.safetensors" and t["LANDSEG_NOTE"] == "a note"
        assert t["CLASS_0"] == ISPRS.names[0]


def test_bare_grid_has_no_class_table(tmp_path):
    with ClassMapWriter(tmp_path / "grid.tif", class_map_profile(64, 64)) as w:
        w.write(np.zeros((64, 64), np.uint8), 0, 0)
    with rasterio.open(tmp_path / "grid.tif") as ds:
        assert CLASS_TABLE_TAG not in ds.tags() and ds.nodata == CLASS_MAP_NODATA
