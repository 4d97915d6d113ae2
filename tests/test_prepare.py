import json
import os
import zipfile

import numpy as np
import pytest
import rasterio
from synthetic import eroded, potsdam_download, synth_scene, vaihingen_download

from landseg.cli import main
from landseg.data import isprs
from landseg.data.prepare import load_manifest
from landseg.errors import InputError

TILES = ["2_10", "2_11", "3_10", "6_7", "2_13", "4_13"]


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds.crs, ds.transform


@pytest.mark.parametrize("zipped", [True, False])
def test_prepare_potsdam(tmp_path, zipped, capsys):
    src = potsdam_download(tmp_path / "Potsdam", TILES, size=96, zipped=zipped)
    if zipped:
        assert sorted(p.name for p in src.iterdir()) == [
            "2_Ortho_RGB.zip", "3_Ortho_IRRG.zip", "4_Ortho_RGBIR.zip", "5_Labels_all.zip", "5_Labels_all_noBoundary.zip"]
        with zipfile.ZipFile(src / "5_Labels_all.zip") as zf:
            assert "top_potsdam_2_10_label.tif" in zf.namelist()
    dest = tmp_path / "prepared"
    assert main(["prepare", "potsdam", str(src), str(dest), "--val", "3_10"]) == 0
    m = load_manifest(dest)
    assert m["split"]["test"] == ["2_13", "4_13"]
    assert m["split"]["val"] == ["3_10"] and sorted(m["split"]["train"]) == ["2_10", "2_11", "6_7"]
    assert m["bands"] == ["red", "green", "blue"] and m["crs"] == "EPSG:32633" and m["pixel_size"] == [0.05, 0.05]
    assert m["has_eroded_labels"]
    tile = next(t for t in m["tiles"] if t["id"] == "2_11")
    lab, crs, tr = _read(dest / tile["files"]["label"])
    truth = synth_scene(96, 96, 211)
    assert np.array_equal(lab, truth)
    ero, _, _ = _read(dest / tile["files"]["label_eroded"])
    assert np.array_equal(ero, eroded(truth))
    assert crs == "EPSG:32633" and tr.a == pytest.approx(0.05)
    assert tile["class_counts"]["label"] == np.bincount(truth.ravel(), minlength=6).tolist()
    total = np.sum([t["class_counts"]["label"] for t in m["tiles"] if t["split"] == "train"], axis=0)
    assert m["class_pixel_counts"]["train"] == total.tolist()
    out = capsys.readouterr().out
    assert "split: train 3, val 1, test 2" in out


def test_prepare_potsdam_bands_and_notes(tmp_path, capsys):
    src = potsdam_download(tmp_path / "P", ["2_10", "2_11", "9_9"], size=64)
    dest = tmp_path / "d"
    assert main(["prepare", "potsdam", str(src), str(dest), "--bands", "rgbir"]) == 0
    m = load_manifest(dest)
    assert m["band_count"] == 4 and m["bands"][-1] == "nir"
    err = capsys.readouterr().err
    assert "not in the official split" in err and "9_9" in err
    assert "official test tiles are absent" in err


def test_prepare_vaihingen(tmp_path):
    src = vaihingen_download(tmp_path / "V", [1, 3, 5, 2], size=80)
    dest = tmp_path / "d"
    assert main(["prepare", "vaihingen", str(src), str(dest)]) == 0
    m = load_manifest(dest)
    assert m["bands"] == ["nir", "red", "green"]
    assert m["split"]["test"] == ["area2"] and len(m["split"]["val"]) == 1
    assert m["pixel_size"] == [0.09, 0.09] and m["crs"] is None
    t = next(t for t in m["tiles"] if t["id"] == "area5")
    lab, _, _ = _read(dest / t["files"]["label"])
    assert np.array_equal(lab, synth_scene(80, 80 + 17 * 2, 5005))


def test_official_split_sizes():
    assert len(isprs.POTSDAM_TRAIN) == 24 and len(isprs.POTSDAM_TEST) == 14
    assert len(isprs.VAIHINGEN_TRAIN) == 16 and len(isprs.VAIHINGEN_TEST) == 17
    assert not set(isprs.POTSDAM_TRAIN) & set(isprs.POTSDAM_TEST)


def test_noisy_isprs_label_colours_are_snapped(tmp_path):
    """Potsdam 4_12 / 6_7 carry near-colours such as (252, 255, 0) for cars."""
    src = potsdam_download(tmp_path / "P", ["6_7"], size=64, zipped=False)
    lbl = src / "5_Labels_all" / "top_potsdam_6_7_label.tif"
    with rasterio.open(lbl, "r+") as ds:
        a = ds.read()
        a[a == 255] = 252
        ds.write(a)
    assert main(["prepare", "potsdam", str(src), str(tmp_path / "d")]) == 0
    m = load_manifest(tmp_path / "d")
    assert m["tiles"][0]["class_counts"]["label"] == np.bincount(synth_scene(64, 64, 607).ravel(), minlength=6).tolist()


def test_resume_skips_finished_tiles_and_completes(tmp_path, monkeypatch):
    src = potsdam_download(tmp_path / "P", ["2_10", "2_11", "2_13"], size=64)
    dest = tmp_path / "d"
    from landseg.data import prepare as prep

    real = prep.prepare_tile
    calls = []

    def flaky(s, d, o):
        calls.append(s.tile_id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(s, d, o)

    monkeypatch.setattr(prep, "prepare_tile", flaky)
    assert main(["prepare", "potsdam", str(src), str(dest)]) == 130
    assert not (dest / "dataset.json").exists()
    with pytest.raises(InputError, match="interrupted prepare"):
        load_manifest(dest)
    assert not list((dest / "tiles" / calls[1]).glob("tile.json"))
    monkeypatch.setattr(prep, "prepare_tile", real)
    done = dest / "tiles" / calls[0] / "tile.json"
    mtime = done.stat().st_mtime_ns
    assert main(["prepare", "potsdam", str(src), str(dest)]) == 0
    assert done.stat().st_mtime_ns == mtime
    assert load_manifest(dest)["complete"]


def test_export_patches(tmp_path):
    src = potsdam_download(tmp_path / "P", ["2_10", "2_13"], size=100)
    dest = tmp_path / "d"
    assert main(["prepare", "potsdam", str(src), str(dest), "--export-patches", "64", "--val-fraction", "0"]) == 0
    pngs = sorted((dest / "patches" / "train" / "images").glob("*.png"))
    assert len(pngs) == 4 and (dest / "patches" / "test" / "labels" / "2_13_36_36.png").exists()


# -- bad input -------------------------------------------------------------------------
def _err(capsys, argv):
    code = main(argv)
    return code, capsys.readouterr().err


def test_missing_or_empty_src(tmp_path, capsys):
    code, err = _err(capsys, ["prepare", "potsdam", str(tmp_path / "nope"), str(tmp_path / "d")])
    assert code == 2 and "not found" in err
    (tmp_path / "empty").mkdir()
    code, err = _err(capsys, ["prepare", "potsdam", str(tmp_path / "empty"), str(tmp_path / "d")])
    assert code == 2 and "no .tif files" in err


def test_image_without_label(tmp_path, capsys):
    src = potsdam_download(tmp_path / "P", ["2_10"], size=64, zipped=False)
    os.remove(src / "5_Labels_all" / "top_potsdam_2_10_label.tif")
    code, err = _err(capsys, ["prepare", "potsdam", str(src), str(tmp_path / "d")])
    assert code == 2 and "top_potsdam_2_10_RGB.tif needs top_potsdam_2_10_label.tif" in err


def test_size_mismatch(tmp_path, capsys):
    src = potsdam_download(tmp_path / "P", ["2_10"], size=64, zipped=False)
    p = src / "5_Labels_all" / "top_potsdam_2_10_label.tif"
    with rasterio.open(p, "w", driver="GTiff", width=60, height=64, count=3, dtype="uint8") as ds:
        ds.write(np.zeros((3, 64, 60), np.uint8))
    code, err = _err(capsys, ["prepare", "potsdam", str(src), str(tmp_path / "d")])
    assert code == 2 and "is 64x64 but its label" in err and "60x64" in err


def test_colours_outside_table(tmp_path, capsys):
    src = tmp_path / "own"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(src / "images" / "a.png")
    m = np.zeros((40, 40, 3), np.uint8) + 255
    m[:2, :5] = (10, 20, 30)
    Image.fromarray(m).save(src / "masks" / "a.png")
    code, err = _err(capsys, ["prepare", "folder", str(src), str(tmp_path / "d"), "--class-table", "isprs"])
    assert code == 2 and "a.png" in err and "(10, 20, 30): 10 px" in err
    assert main(["prepare", "folder", str(src), str(tmp_path / "d"), "--class-table", "isprs", "--unknown-to-ignore"]) == 0


def test_corrupt_tiff(tmp_path, capsys):
    src = potsdam_download(tmp_path / "P", ["2_10"], size=64, zipped=False)
    p = src / "2_Ortho_RGB" / "2_Ortho_RGB" / "top_potsdam_2_10_RGB.tif"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    code, err = _err(capsys, ["prepare", "potsdam", str(src), str(tmp_path / "d")])
    assert code == 2 and "top_potsdam_2_10_RGB.tif" in err and ("corrupt" in err or "not a readable" in err)
    assert not (tmp_path / "d" / "dataset.json").exists()


def test_wrong_band_count(tmp_path, capsys):
    src = potsdam_download(tmp_path / "P", ["2_10"], size=64, zipped=False)
    # an RGB file where RGBIR is expected
    rgb = src / "2_Ortho_RGB" / "2_Ortho_RGB" / "top_potsdam_2_10_RGB.tif"
    tgt = src / "4_Ortho_RGBIR" / "4_Ortho_RGBIR" / "top_potsdam_2_10_RGBIR.tif"
    tgt.write_bytes(rgb.read_bytes())
    code, err = _err(capsys, ["prepare", "potsdam", str(src), str(tmp_path / "d"), "--bands", "rgbir"])
    assert code == 2 and "expected 4 bands" in err and "found 3" in err


def test_dest_not_writable(tmp_path, capsys):
    src = potsdam_download(tmp_path / "P", ["2_10"], size=64)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = _err(capsys, ["prepare", "potsdam", str(src), str(blocker / "d")])
    assert code == 2 and "not writable" in err


# -- real data ---------------------------------------------------------------------------
def test_prepare_real_dubai(realdata, tmp_path):
    src = realdata / "Kaarti22_satellite-imagery" / "Semantic segmentation dataset"
    dest = tmp_path / "dubai"
    assert main(["prepare", "folder", str(src), str(dest), "--class-table", "dubai", "--test", "Tile_7__*"]) == 0
    m = load_manifest(dest)
    assert len(m["tiles"]) == 63 and len(m["split"]["test"]) == 9
    assert all(t.startswith("Tile_7__") for t in m["split"]["test"])
    from PIL import Image

    from landseg.classes import DUBAI

    # class counts equal the masks' own colours (Tile 2 masks are palette PNGs)
    for tid in ("Tile_2__image_part_003", "Tile_5__image_part_001"):
        t = next(t for t in m["tiles"] if t["id"] == tid)
        rgb = np.asarray(Image.open(t["source"]["label"]).convert("RGB"))
        want = [int((rgb == c).all(-1).sum()) for c in DUBAI.colors]
        assert t["class_counts"]["label"] == want
        assert t["label_kinds"]["label"] == ("palette" if tid.startswith("Tile_2") else "rgb")


def test_prepare_real_potsdam_crops(realdata, tmp_path):
    src = realdata / "arghadeep25_Building-Footprint-Extraction-from-High-Resolution-Satellite-Images" / "datasets" / "isprs"
    dest = tmp_path / "p"
    assert main(["prepare", "folder", str(src), str(dest), "--class-table", "isprs", "--test", "top_potsdam_4_13_RGB"]) == 0
    m = load_manifest(dest)
    t = next(t for t in m["tiles"] if t["id"] == "top_potsdam_4_13_RGB")
    c = np.array(t["class_counts"]["label"], float)
    share = dict(zip(["impervious_surface", "building", "low_vegetation", "tree", "car", "clutter"], 100 * c / c.sum()))
    # SOURCES.md: 4_13 building 33.3 / tree 12.8 / low veg 14.6 / clutter 6.8 / car 2.2 / impervious 30.4 %
    for k, v in {"building": 33.3, "tree": 12.8, "low_vegetation": 14.6, "clutter": 6.8, "car": 2.2,
                 "impervious_surface": 30.4}.items():
        assert share[k] == pytest.approx(v, abs=0.06)


# -- output failures and leftovers ------------------------------------------------------
def _temp_files(dest):
    from landseg.io.files import TEMP_PATTERN

    return [p for p in dest.rglob(".*") if TEMP_PATTERN.match(p.name)]


def test_truncated_tile_raster_is_not_kept(tmp_path, capsys, monkeypatch):
    """A tile GeoTIFF that GDAL closed without error but truncated (full disk) fails the run."""
    from landseg.io import files

    src = potsdam_download(tmp_path / "P", ["2_10"], size=300, zipped=False)
    dest = tmp_path / "d"
    real = files.fsync_file

    def truncate_images(path):
        if ".image.tif." in str(path):
            os.truncate(path, os.path.getsize(path) // 2)
        real(path)

    monkeypatch.setattr(files, "fsync_file", truncate_images)
    code, err = _err(capsys, ["prepare", "potsdam", str(src), str(dest)])
    assert code == 2 and "tiles/2_10/image.tif: the written raster cannot be read back" in err
    assert not (dest / "tiles" / "2_10" / "image.tif").exists() and not (dest / "tiles" / "2_10" / "tile.json").exists()
    assert not (dest / "dataset.json").exists() and _temp_files(dest) == []


def test_prepare_on_a_full_disk(tmp_path, tiny_disk, capsys):
    src = potsdam_download(tmp_path / "P", ["2_10"], size=300, zipped=False)
    code, err = _err(capsys, ["prepare", "potsdam", str(src), str(tiny_disk / "d")])
    assert code == 2 and "free of" in err and "Traceback" not in err, err
    assert not (tiny_disk / "d" / "dataset.json").exists() and _temp_files(tiny_disk) == []
    assert not list(tiny_disk.rglob("*.tif"))


def test_rerun_removes_temp_files_of_a_killed_run(tmp_path):
    import subprocess
    import sys

    src = potsdam_download(tmp_path / "P", ["2_10", "2_13"], size=64)
    dest = tmp_path / "d"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (dest / "tiles" / "2_10").mkdir(parents=True)
    planted = [dest / "tiles" / "2_10" / f".image.tif.{dead.pid}-abcdefgh.part.tif",
               dest / f".dataset.json.{dead.pid}-12345678.part.json"]
    for p in planted:
        p.write_bytes(b"half a file")
    assert main(["prepare", "potsdam", str(src), str(dest)]) == 0
    assert _temp_files(dest) == []


# -- reruns into an existing DEST ----------------------------------------------------------
def test_rerun_with_other_settings_is_refused(tmp_path, capsys):
    src = potsdam_download(tmp_path / "P", ["2_10", "2_13"], size=64, zipped=False)
    dest = tmp_path / "d"
    assert main(["prepare", "potsdam", str(src), str(dest)]) == 0
    m = load_manifest(dest)
    assert m["made_from"]["settings"]["bands"] == ["red", "green", "blue"]
    assert m["made_from"]["sources"]["2_10"]["image"]["name"] == "top_potsdam_2_10_RGB.tif"
    code, err = _err(capsys, ["prepare", "potsdam", str(src), str(dest), "--bands", "irrg"])
    assert code == 2 and "bands: was red,green,blue, now nir,red,green" in err and "--overwrite" in err, err
    code, err = _err(capsys, ["prepare", "potsdam", str(src), str(dest), "--gsd", "0.1"])
    assert code == 2 and "gsd: was 0.05, now 0.1" in err
    assert load_manifest(dest)["bands"] == ["red", "green", "blue"]  # the refused runs left it intact
    assert main(["prepare", "potsdam", str(src), str(dest), "--bands", "irrg", "--overwrite"]) == 0
    assert load_manifest(dest)["bands"] == ["nir", "red", "green"]
    assert main(["prepare", "potsdam", str(src), str(dest), "--bands", "irrg"]) == 0  # same settings: reused


def test_rerun_with_changed_source_file_is_refused(tmp_path, capsys):
    src = potsdam_download(tmp_path / "P", ["2_10", "2_13"], size=64, zipped=False)
    dest = tmp_path / "d"
    assert main(["prepare", "potsdam", str(src), str(dest)]) == 0
    img = src / "2_Ortho_RGB" / "2_Ortho_RGB" / "top_potsdam_2_10_RGB.tif"
    with rasterio.open(img) as ds:
        prof, data = ds.profile, ds.read()
    with rasterio.open(img, "w", **{**prof, "compress": "deflate"}) as ds:
        ds.write(data)
    code, err = _err(capsys, ["prepare", "potsdam", str(src), str(dest)])
    assert code == 2 and "tile 2_10 image: was top_potsdam_2_10_RGB.tif (" in err, err


def test_rerun_with_other_class_table_in_tiles_is_refused(tmp_path, capsys):
    """An interrupted run (tile.json but no dataset.json) made with another class table is not reused."""
    src = potsdam_download(tmp_path / "P", ["2_10", "2_13"], size=64, zipped=False)
    dest = tmp_path / "d"
    assert main(["prepare", "potsdam", str(src), str(dest)]) == 0
    (dest / "dataset.json").unlink()
    tj = dest / "tiles" / "2_10" / "tile.json"
    rec = json.loads(tj.read_text())
    rec["made_from"]["settings"]["class_table"]["classes"][1]["color"] = [0, 0, 254]
    tj.write_text(json.dumps(rec))
    code, err = _err(capsys, ["prepare", "potsdam", str(src), str(dest)])
    assert code == 2 and "class_table: was 'isprs' (" in err and "building (0, 0, 254)" in err, err


def test_corrupt_stored_zip_member_is_refused(tmp_path, capsys):
    src = potsdam_download(tmp_path / "P", ["2_10", "2_13"], size=64)
    zpath = src / "2_Ortho_RGB.zip"
    member = "2_Ortho_RGB/top_potsdam_2_10_RGB.tif"
    with zipfile.ZipFile(zpath) as zf:
        info = zf.getinfo(member)
        assert info.compress_type == zipfile.ZIP_STORED
    raw = bytearray(zpath.read_bytes())
    start = info.header_offset + 30 + int.from_bytes(raw[info.header_offset + 26: info.header_offset + 28], "little") \
        + int.from_bytes(raw[info.header_offset + 28: info.header_offset + 30], "little")
    raw[start + info.file_size // 2] ^= 0xFF  # one pixel byte: GDAL still reads the file
    zpath.write_bytes(bytes(raw))
    with rasterio.open(f"/vsizip/{zpath}/{member}") as ds:
        ds.read()
    code, err = _err(capsys, ["prepare", "potsdam", str(src), str(tmp_path / "d")])
    assert code == 2 and f"{zpath}: member {member} is corrupt (Bad CRC-32" in err, err
    assert not (tmp_path / "d" / "dataset.json").exists()


# -- folder mode details ------------------------------------------------------------------
def _folder(tmp_path, masks=("a.png",), bands=3):
    from PIL import Image

    src = tmp_path / "own"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    Image.fromarray(np.zeros((40, 40, bands), np.uint8).squeeze()).save(src / "images" / "a.png")
    for name in masks:
        Image.fromarray(np.zeros((40, 40, 3), np.uint8) + 255).save(src / "masks" / name)
    return src


def test_folder_bands_must_match_the_images(tmp_path, capsys):
    src = _folder(tmp_path)
    code, err = _err(capsys, ["prepare", "folder", str(src), str(tmp_path / "d"), "--class-table", "isprs",
                              "--bands", "red,green"])
    assert code == 2 and "expected 2 bands for --bands red,green, found 3" in err, err
    code, err = _err(capsys, ["prepare", "folder", str(src), str(tmp_path / "d"), "--class-table", "isprs",
                              "--bands", "red,,blue"])
    assert code == 2 and "distinct comma-separated band names" in err
    assert main(["prepare", "folder", str(src), str(tmp_path / "d"), "--class-table", "isprs",
                 "--bands", "red,green,blue"]) == 0


def test_folder_ambiguous_masks_are_refused(tmp_path, capsys):
    src = _folder(tmp_path, masks=("a.png", "a_mask.png"))
    code, err = _err(capsys, ["prepare", "folder", str(src), str(tmp_path / "d"), "--class-table", "isprs"])
    assert code == 2 and "matches 2 masks: a.png, a_mask.png" in err, err


# -- issue #16: prepare --test-list / --val-list --------------------------------------------------------
def test_test_list_file_puts_those_tiles_in_test(tmp_path, capsys):
    from PIL import Image
    from synthetic import colour, synth_image

    src = tmp_path / "own"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    ids = ["area_01", "area_02", "area_03", "area_04", "area_05", "north_1", "north_2"]
    for i, tid in enumerate(ids):
        lab = synth_scene(48, 48, 300 + i)
        Image.fromarray(synth_image(lab, i).transpose(1, 2, 0)).save(src / "images" / f"{tid}.png")
        Image.fromarray(colour(lab).transpose(1, 2, 0)).save(src / "masks" / f"{tid}.png")
    lst = tmp_path / "test.txt"
    lst.write_text("# held-out areas\narea_02\n\nnorth_*   # a glob\n")
    vlst = tmp_path / "val.txt"
    vlst.write_text("area_05\n")
    dest = tmp_path / "d"
    assert main(["prepare", "folder", str(src), str(dest), "--class-table", "isprs", "--test-list", str(lst),
                 "--val-list", str(vlst)]) == 0
    m = load_manifest(dest)
    assert sorted(m["split"]["test"]) == ["area_02", "north_1", "north_2"]
    assert m["split"]["val"] == ["area_05"]
    assert sorted(m["split"]["train"]) == ["area_01", "area_03", "area_04"]
    assert {t["id"]: t["split"] for t in m["tiles"]}["north_2"] == "test"
    assert "split: train 3, val 1, test 3" in capsys.readouterr().out
    code = main(["prepare", "folder", str(src), str(tmp_path / "d2"), "--class-table", "isprs", "--test-list",
                 str(tmp_path / "missing.txt")])
    assert code == 2 and "missing.txt: split list not found" in capsys.readouterr().err


def test_label_snapping_has_a_tolerance_and_is_reported(tmp_path, capsys):
    src = potsdam_download(tmp_path / "P", ["2_10"], size=64, zipped=False)
    label = src / "5_Labels_all" / "top_potsdam_2_10_label.tif"
    with rasterio.open(label, "r+") as ds:
        a = ds.read()
        a[:, 0, :10] = np.array([252, 255, 0])[:, None]  # Potsdam 6_7's car colour: noise, snapped
        a[:, 1, :3] = np.array([128, 128, 128])[:, None]  # grey: not a table colour, not noise
        a[:, 2, :2] = np.array([60, 20, 30])[:, None]  # dark red: used to be snapped silently to black = ignore
        ds.write(a)
    dest = tmp_path / "d"
    assert main(["prepare", "potsdam", str(src), str(dest)]) == 2
    err = capsys.readouterr().err
    assert "5 pixels have colours outside the 'isprs' class table" in err and "(128, 128, 128): 3 px" in err
    assert main(["prepare", "potsdam", str(src), str(dest), "--unknown-to-ignore"]) == 0
    out = capsys.readouterr().out
    rec = json.loads((dest / "tiles" / "2_10" / "tile.json").read_text())
    assert rec["label_fixes"]["label"] == {"snapped": 10, "ignored": 5}
    assert "tile 2_10 label: 10 pixels snapped to table colours (channels within 40 of 0/255), 5 off-table" in out
    with rasterio.open(dest / "tiles" / "2_10" / "label.tif") as ds:
        lab = ds.read(1)
    assert (lab[0, :10] == 4).all() and (lab[1, :3] == 255).all() and (lab[2, :2] == 255).all()


@pytest.mark.parametrize("opt", ["--test", "--val"])
def test_split_pattern_that_matches_nothing_is_refused(tmp_path, capsys, opt):
    """Issue 23 item 18: `prepare folder --test 'nosuch*'` silently gave an empty test split."""
    src = _folder(tmp_path)
    code, err = _err(capsys, ["prepare", "folder", str(src), str(tmp_path / "d"), "--class-table", "isprs",
                              opt, "a", opt, "nosuch*"])
    assert code == 2 and "pattern 'nosuch*' matches none of the 1 tiles it applies to (a)" in err, err
    assert not (tmp_path / "d" / "dataset.json").exists()
    lst = tmp_path / "list.txt"
    lst.write_text("A\n")  # case-sensitive
    code, err = _err(capsys, ["prepare", "folder", str(src), str(tmp_path / "d"), "--class-table", "isprs",
                              f"{opt}-list", str(lst)])
    assert code == 2 and "pattern 'A' matches none" in err


# -- issue #24: one ingest function per source layout, one shared options object ------------------------
def test_each_layout_is_one_function_with_shared_options(tmp_path):
    from landseg.data.ingest import INGEST, KINDS, IngestOptions, ingest_folder

    assert list(KINDS) == list(INGEST) == ["potsdam", "vaihingen", "folder", "vector"]
    src = _folder(tmp_path, masks=("a.png", "b_mask.png"))  # b_mask.png has no image: a note
    lst = tmp_path / "val.txt"
    lst.write_text("a\n")
    notes: list[str] = []
    m = ingest_folder(src, tmp_path / "d", IngestOptions(class_table="isprs", val_list=str(lst), on_note=notes.append))
    assert m["split"]["val"] == ["a"] and m["split_info"]["val"] == ["a"] and m["dataset"] == "folder"
    assert m["bands"] == ["red", "green", "blue"]
    assert len(notes) == 1 and "1 masks in" in notes[0] and "b_mask.png" in notes[0]
    with pytest.raises(InputError, match="missing.txt: split list not found"):  # list files are read first
        IngestOptions(class_table="isprs", test_list=str(tmp_path / "missing.txt"))
    with pytest.raises(InputError, match="prepare folder needs --class-table"):
        ingest_folder(src, tmp_path / "d2", IngestOptions())
