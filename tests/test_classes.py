import json

import numpy as np
import pytest

from landseg.classes import DUBAI, ISPRS, ClassTable, pack_rgb
from landseg.errors import ClassTableError
from landseg.io.labels import load_class_table


def test_isprs_colours_are_rgb_in_the_documented_order():
    assert ISPRS.names[1] == "building" and ISPRS.colors[1] == (0, 0, 255)
    assert ISPRS.colors[ISPRS.index_of("tree")] == (0, 255, 0)
    assert ISPRS.colors[ISPRS.index_of("car")] == (255, 255, 0)


def test_round_trip_every_class():
    rng = np.random.default_rng(0)
    for table in (ISPRS, DUBAI):
        idx = rng.integers(0, table.num_classes, size=(37, 53)).astype(np.uint8)
        assert np.array_equal(table.rgb_to_index(table.index_to_rgb(idx)), idx)


def test_ignore_colours_map_to_255():
    rgb = np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)
    assert ISPRS.rgb_to_index(rgb).tolist() == [[255, 0]]
    grey = np.array([[[155, 155, 155], [60, 16, 152]]], np.uint8)
    assert DUBAI.rgb_to_index(grey).tolist() == [[255, 0]]


def test_unknown_colour_error_names_file_colour_and_count():
    rgb = np.zeros((4, 4, 3), np.uint8) + 255
    rgb[0, :3] = (9, 222, 221)
    with pytest.raises(ClassTableError, match=r"mask\.png.*3 pixels.*\(9, 222, 221\): 3 px"):
        ISPRS.rgb_to_index(rgb, source="mask.png")
    out = ISPRS.rgb_to_index(rgb, unknown_to_ignore=True)
    assert (out[0, :3] == 255).all() and (out[1:] == 0).all()


def test_lookup_matches_per_class_comparison():
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 6, size=(100, 100))
    rgb = ISPRS.index_to_rgb(idx)
    slow = np.full(idx.shape, 255)
    for i, c in enumerate(ISPRS.colors):
        slow[(rgb == c).all(-1)] = i
    assert np.array_equal(ISPRS.rgb_to_index(rgb), slow)
    assert pack_rgb(np.array([1, 2, 3], np.uint8)) == 0x010203


def test_check_indices():
    assert ISPRS.check_indices(np.array([[0, 5, 255]], np.uint8)).tolist() == [[0, 5, 255]]
    with pytest.raises(ClassTableError, match="7: 1 px"):
        ISPRS.check_indices(np.array([[0, 7]], np.uint8))


def test_custom_tables_from_yaml_and_json(tmp_path):
    y = tmp_path / "t.yaml"
    y.write_text("name: mine\nclasses:\n  - {name: water, color: '#0000ff'}\n  - {name: land, color: [0, 255, 0]}\n"
                 "ignore_colors: [[0, 0, 0]]\n")
    t = load_class_table(y)
    assert t.names == ("water", "land") and t.colors == ((0, 0, 255), (0, 255, 0))
    j = tmp_path / "t.json"
    j.write_text(json.dumps(t.to_dict()))
    assert load_class_table(j) == t
    assert ClassTable.from_dict(t.to_dict()) == t


@pytest.mark.parametrize("text,match", [
    ("classes: [{name: a, color: [0,0,0]}, {name: a, color: [1,1,1]}]", "duplicate"),
    ("classes: [{name: a, color: [0,0,0]}, {name: b, color: [0,0,0]}]", "twice"),
    ("classes: [{name: a}]", "expected"),
    ("classes: [{name: a, color: [0,0,300]}]", "0-255"),
])
def test_bad_tables(tmp_path, text, match):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ClassTableError, match=match):
        load_class_table(p)


def test_unknown_preset_or_missing_file():
    with pytest.raises(ClassTableError, match="neither a preset"):
        load_class_table("nope")
    with pytest.raises(ClassTableError, match="unknown class 'roof'"):
        ISPRS.indices_of("building,roof")
