"""The class-table tags of a class GeoTIFF: written from one helper, read back by the one decoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from landseg.classes import ISPRS
from landseg.errors import ClassTableError, InputError
from landseg.io.labels import (
    CLASS_NAMES_TAG,
    CLASS_TABLE_TAG,
    class_table_tags,
    resolve_table,
    table_from_raster,
)


def test_class_table_tags_round_trip(make_geotiff):
    path = make_geotiff(np.zeros((2, 2), np.uint8), name="c.tif")
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(**class_table_tags(ISPRS))
    with rasterio.open(path) as ds:
        assert ds.tags()[CLASS_NAMES_TAG].split(",") == list(ISPRS.names)
        assert json.loads(ds.tags()[CLASS_TABLE_TAG])["name"] == "isprs"
        assert table_from_raster(ds).names == ISPRS.names
        assert resolve_table(ds, None).names == ISPRS.names


def test_missing_and_broken_table_tag(make_geotiff):
    path = make_geotiff(np.zeros((2, 2), np.uint8), name="c.tif")
    with rasterio.open(path) as ds:
        assert table_from_raster(ds) is None
        with pytest.raises(InputError, match="--class-table"):
            resolve_table(ds, None)
        assert resolve_table(ds, "isprs").names == ISPRS.names
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(**{CLASS_TABLE_TAG: "{not json"})
    with rasterio.open(path) as ds, pytest.raises(ClassTableError, match="not valid JSON"):
        table_from_raster(ds)
