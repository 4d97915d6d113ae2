"""Stratified accuracy and error-adjusted areas: the Olofsson et al. (2014) worked example, bad inputs,
and interval coverage on a real Potsdam tile."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from landseg.accuracy import allocate, draw_ranks, locate_ranks, stratified_estimate
from landseg.area import CLASS_TABLE_TAG
from landseg.classes import ISPRS, ClassTable
from landseg.cli import main
from landseg.io.points import read_points, write_points

# Olofsson et al. 2014, section 5 (Tables 4-9): 30 m Landsat strata and the sample's reference labels
NAMES = ("deforestation", "forest_gain", "stable_forest", "stable_nonforest")
PIXELS = np.array([200_000, 150_000, 3_200_000, 6_450_000])
COUNTS = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])
HA_PER_PIXEL = 0.09


def test_paper_example_matrix():
    e = stratified_estimate(COUNTS, PIXELS, PIXELS.sum() * HA_PER_PIXEL)
    assert round(e.adjusted_area[0]) == 21_158
    assert round(e.ci_area[0]) == 6_158
    assert round(e.overall, 3) == 0.947
    assert round(e.users[0], 2) == 0.88 and round(e.producers[0], 2) == 0.75
    # the rest of the paper's Table 9 / text: user's 0.88 ± 0.07, producer's 0.75 ± 0.21
    assert round(e.ci_users[0], 2) == 0.07 and round(e.ci_producers[0], 2) == 0.21
    assert e.proportions.sum() == pytest.approx(1.0)
    assert e.adjusted_area.sum() == pytest.approx(PIXELS.sum() * HA_PER_PIXEL)
    assert e.mapped_area[0] == pytest.approx(18_000)  # 200,000 px x 0.09 ha


def test_single_unit_stratum_gives_nan_se_and_a_note():
    counts = COUNTS.copy()
    counts[1] = [0, 1, 0, 0]
    e = stratified_estimate(counts, PIXELS, 1.0)
    assert np.isnan(e.se_users[1]) and np.isfinite(e.se_users[0])
    assert np.isnan(e.se_overall) and np.isnan(e.se_area).all()
    assert e.notes and "one sample unit" in e.notes[0]
    with pytest.raises(ValueError, match="no sample units"):
        stratified_estimate(np.where(np.arange(4)[:, None] == 1, 0, COUNTS), PIXELS)


def _paper_map(tmp_path):
    """A 1000 x 10000 class map of 30 m pixels whose strata hold exactly the paper's pixel counts."""
    table = ClassTable("olofsson", NAMES, ((255, 0, 0), (0, 0, 255), (0, 128, 0), (230, 230, 180)))
    rows = PIXELS // 10_000  # 20 / 15 / 320 / 645 rows
    path = tmp_path / "paper_map.tif"
    prof = dict(driver="GTiff", width=10_000, height=1000, count=1, dtype="uint8", crs="EPSG:32633",
                transform=from_origin(300_000, 5_000_000, 30, 30), tiled=True, compress="deflate", nodata=255)
    with rasterio.open(path, "w", **prof) as ds:
        ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(table.to_dict())})
        r = 0
        for cls, n in enumerate(rows):
            ds.write(np.full((int(n), 10_000), cls, np.uint8), 1, window=Window(0, r, 10_000, int(n)))
            r += int(n)
    starts = np.concatenate([[0], np.cumsum(rows)[:-1]])
    return path, table, starts


def _paper_points(path, starts, reference_of=lambda names, j: names[j], extra=(), blank=lambda h, k: False):
    xs, ys, refs, strata = [], [], [], []
    for h, row in enumerate(COUNTS):
        k = 0
        for j, n in enumerate(row):
            for _ in range(n):
                r, c = int(starts[h]) + k // 5000, (k % 5000) * 2
                xs.append(300_000 + (c + 0.5) * 30)
                ys.append(5_000_000 - (r + 0.5) * 30)
                refs.append("" if blank(h, k) else reference_of(NAMES, j))
                strata.append(h)
                k += 1
    for x, y, ref, h in extra:
        xs.append(x), ys.append(y), refs.append(ref), strata.append(h)
    write_points(path, np.array(xs), np.array(ys), {"reference": np.array(refs, dtype=object),
                                                    "map_index": np.array(strata, dtype=np.int32)},
                 rasterio.crs.CRS.from_epsg(32633).to_wkt())
    return path


def test_paper_example_end_to_end(tmp_path, capsys):
    cmap, _, starts = _paper_map(tmp_path)
    pts = _paper_points(tmp_path / "points.gpkg", starts, extra=[(300_015.0, 4_999_985.0, "", 0)])
    assert main(["area", str(cmap), "--reference", str(pts), "--units", "ha", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    defo = out["classes"][0]
    assert defo["name"] == "deforestation" and defo["mapped_pixels"] == 200_000
    assert round(defo["adjusted_ha"]) == 21_158 and round(defo["ci95_ha"]) == 6_158
    assert round(out["overall_accuracy"]["value"], 3) == 0.947
    assert round(defo["users_accuracy"], 2) == 0.88 and round(defo["producers_accuracy"], 2) == 0.75
    assert out["points"] == {"total": 641, "labelled": 640, "unlabelled": 1}
    assert out["error_matrix"]["counts"] == COUNTS.tolist()
    for fmt in ("table", "csv", "markdown"):
        assert main(["area", str(cmap), "--reference", str(pts), "--units", "ha", "--format", fmt]) == 0
        text = capsys.readouterr().out
        assert "deforestation" in text
    assert "21,157.76" in text or "21,158" in text  # markdown table, ha with 4 decimals


def test_reference_as_indices(tmp_path, capsys):
    cmap, _, starts = _paper_map(tmp_path)
    pts = _paper_points(tmp_path / "points.gpkg", starts, reference_of=lambda names, j: str(j))
    assert main(["area", str(cmap), "--reference", str(pts), "--units", "ha", "--format", "json"]) == 0
    assert round(json.loads(capsys.readouterr().out)["classes"][0]["adjusted_ha"]) == 21_158


@pytest.mark.parametrize("case, message", [
    ("outside", "1 of 641 points lie outside"),
    ("unknown", "reference values not in the 'olofsson' class table: 'forest'"),
    ("empty_stratum", "no labelled points in the mapped stratum forest_gain"),
])
def test_bad_reference_samples(tmp_path, capsys, case, message):
    cmap, _, starts = _paper_map(tmp_path)
    if case == "outside":
        pts = _paper_points(tmp_path / "p.gpkg", starts, extra=[(100.0, 100.0, "deforestation", 0)])
    elif case == "unknown":
        pts = _paper_points(tmp_path / "p.gpkg", starts, extra=[(300_015.0, 4_999_985.0, "forest", 0)])
    else:
        pts = _paper_points(tmp_path / "p.gpkg", starts, blank=lambda h, k: h == 1)
    assert main(["area", str(cmap), "--reference", str(pts)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    if case == "unknown":
        assert "deforestation, forest_gain" in err


def test_single_point_stratum_is_flagged(tmp_path, capsys):
    cmap, _, starts = _paper_map(tmp_path)
    pts = _paper_points(tmp_path / "p.gpkg", starts, blank=lambda h, k: h == 1 and k > 0)
    assert main(["area", str(cmap), "--reference", str(pts), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert any("single labelled point" in n and "forest_gain" in n for n in out["notes"])
    assert out["classes"][1]["users_se"] is None and out["overall_accuracy"]["se"] is None
    assert out["classes"][0]["users_se"] is not None


# ---------------------------------------------------------------------------------------------- coverage
def _potsdam_truth(realdata):
    from landseg.area import LabelReader
    from landseg.io.raster import open_raster

    path = realdata / "jung2shinho_NNModels" / "562_final_report_figures" / "images" / "top_potsdam_2_10_label.png"
    if not path.exists():
        pytest.skip(f"full Potsdam label tile not found: {path}")
    with open_raster(path) as ds:
        return LabelReader(ds, ISPRS, str(path)).index(Window(0, 0, ds.width, ds.height))


def _corrupt(truth, seed=1, block=100):
    """Flip building->impervious in 30 % of 100 px blocks, tree->low_vegetation in 25 % of blocks."""
    rng = np.random.default_rng(seed)
    h, w = truth.shape
    blocks = rng.random((2, -(-h // block), -(-w // block)))
    grid = [np.kron(b, np.ones((block, block)))[:h, :w] for b in blocks]
    out = truth.copy()
    b, imp, tree, low = (ISPRS.index_of(n) for n in ("building", "impervious_surface", "tree", "low_vegetation"))
    out[(truth == b) & (grid[0] < 0.30)] = imp
    out[(truth == tree) & (grid[1] < 0.25)] = low
    return out


def test_interval_coverage_on_real_tile(realdata):
    """Repeated stratified samples of a corrupted Potsdam tile: the 95 % intervals of the adjusted areas
    hold the true area in 93-97 % of repeats, the adjusted area is unbiased, the mapped area is not."""
    truth = _potsdam_truth(realdata)
    cmap = _corrupt(truth)
    k = ISPRS.num_classes
    valid = (truth < k) & (cmap < k)
    joint = np.bincount(cmap[valid].astype(np.int64) * k + truth[valid], minlength=k * k).reshape(k, k)
    sizes = joint.sum(axis=1)
    true_area = joint.sum(axis=0) * 0.0025  # m²
    alloc = allocate(sizes, 1000, 50)
    assert alloc.sum() == 1000 and alloc.min() >= 50
    # the pixel draw of `landseg sample` on the array itself, once: ranks -> pixels in their strata
    ranks = draw_ranks(sizes, alloc, seed=0)
    masked = np.where(valid, cmap, 255)
    found = np.array(list(locate_ranks(((r, masked[r:r + 700]) for r in range(0, 6000, 700)), ranks)))
    assert len(found) == 1000 and (masked[found[:, 1], found[:, 2]] == found[:, 0]).all()
    # many repeats: a stratified sample of a stratum is a multivariate hypergeometric draw of its reference mix
    rng = np.random.default_rng(12345)
    repeats = 1000
    adj, se = np.zeros((repeats, k)), np.zeros((repeats, k))
    for t in range(repeats):
        counts = np.stack([rng.multivariate_hypergeometric(joint[h], alloc[h]) for h in range(k)])
        e = stratified_estimate(counts, sizes, sizes.sum() * 0.0025)
        adj[t], se[t] = e.adjusted_area, e.se_area
    check = [ISPRS.index_of(n) for n in ("impervious_surface", "building", "low_vegetation", "tree")]
    covered = np.abs(adj - true_area) <= 1.96 * se
    for j in check:
        assert 0.93 <= covered[:, j].mean() <= 0.97, (ISPRS.names[j], covered[:, j].mean())
        assert abs(adj[:, j].mean() - true_area[j]) < 3 * adj[:, j].std() / np.sqrt(repeats)
        assert abs(adj[:, j].mean() - true_area[j]) < se[:, j].mean()
    mapped = sizes * 0.0025
    b = ISPRS.index_of("building")
    assert true_area[b] - mapped[b] > 1.96 * se[:, b].mean() * 3  # the raw map is far outside its own interval


def test_repeated_points_are_one_sample_unit(tmp_path, capsys):
    """Issue 23 item 16: duplicated reference points were counted as independent samples without a note."""
    cmap, _, starts = _paper_map(tmp_path)
    pts = _paper_points(tmp_path / "p.gpkg", starts)
    assert main(["area", str(cmap), "--reference", str(pts), "--format", "json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    # the first 30 deforestation points appended again (a layer pasted twice): same pixels, same labels
    x, y, f, crs = read_points(pts)
    twice = tmp_path / "twice.gpkg"
    write_points(twice, np.r_[x, x[:30]], np.r_[y, y[:30]],
                 {"reference": np.r_[f["reference"], f["reference"][:30]].astype(object),
                  "map_index": np.r_[f["map_index"], f["map_index"][:30]].astype(np.int32)}, crs)
    assert main(["area", str(cmap), "--reference", str(twice), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    res = json.loads(out)
    assert res["error_matrix"]["counts"] == plain["error_matrix"]["counts"] == COUNTS.tolist()
    assert res["classes"][0]["users_ci95"] == pytest.approx(plain["classes"][0]["users_ci95"])
    assert "note: 30 points repeat the map pixel of another point (features 641, 642" in err
    # a repeat labelled with another class is refused, naming the features
    refs = np.r_[f["reference"], ["forest_gain"]].astype(object)
    write_points(twice, np.r_[x, x[:1]], np.r_[y, y[:1]],
                 {"reference": refs, "map_index": np.r_[f["map_index"], f["map_index"][:1]].astype(np.int32)}, crs)
    assert main(["area", str(cmap), "--reference", str(twice)]) == 2
    assert "features 1, 641 (row 0, col 0): deforestation, forest_gain" in capsys.readouterr().err


def test_accuracy_intervals_are_not_degenerate_at_0_and_100_percent():
    """Issue 23 item 21: a class with 10 points all wrong showed "0.00 % ± 0.00 %"."""
    counts = np.array([[0, 10, 0], [2, 38, 2], [0, 3, 45]])  # stratum 0: 10 points, none correct
    e = stratified_estimate(counts, np.array([1_000, 20_000, 30_000]), 1.0, ["car", "tree", "road"])
    assert e.users[0] == 0 and e.se_users[0] == 0  # Olofsson's variance degenerates here ...
    lo, hi = e.users_interval[0]
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-4) and e.users_method[0] == "wilson"  # ... Wilson's does not
    assert e.producers[0] == 0 and e.producers_method[0] == "wilson" and e.producers_interval[0, 1] > 0
    assert e.users_method[1] == "normal" and e.users_interval[1] == pytest.approx(
        [e.users[1] - 1.96 * e.se_users[1], e.users[1] + 1.96 * e.se_users[1]])
    assert any("Wilson score intervals" in n and "user's car" in n for n in e.notes)
    all_right = stratified_estimate(np.diag([10, 10]), np.array([1, 1]))
    assert all_right.overall == 1 and all_right.overall_method == "wilson"
    assert all_right.overall_interval[0] == pytest.approx(0.8389, abs=1e-4) and all_right.overall_interval[1] == 1
    assert all(m == "wilson" for m in all_right.users_method) and all_right.users_interval[0, 0] == pytest.approx(
        0.7225, abs=1e-4)
    # the paper's example keeps its normal intervals (user's 0.88 ± 0.07, producer's 0.75 ± 0.21)
    paper = stratified_estimate(COUNTS, PIXELS, 1.0)
    assert set(paper.users_method) == set(paper.producers_method) == {"normal"} and paper.overall_method == "normal"
    assert paper.users_interval[0] == pytest.approx([0.88 - 0.07, 0.88 + 0.07], abs=0.006)


def test_degenerate_interval_in_cli_report(tmp_path, make_geotiff, capsys):
    cls = np.zeros((40, 40), np.uint8)
    cls[:, 20:] = 1
    cmap = make_geotiff(cls, name="m.tif", nodata=255)
    with rasterio.open(cmap, "r+") as ds:
        ds.update_tags(**{CLASS_TABLE_TAG: json.dumps(ISPRS.to_dict())})
    truth = np.zeros_like(cls)  # every building pixel is impervious in truth: user's accuracy of building is 0
    tpath = make_geotiff(truth, name="t.tif", nodata=255)
    pts = tmp_path / "p.gpkg"
    assert main(["sample", str(cmap), "--n", "20", "--min-per-class", "10", "--out", str(pts), "--truth", str(tpath)]) == 0
    capsys.readouterr()
    assert main(["area", str(cmap), "--reference", str(pts), "--format", "json"]) == 0
    b = json.loads(capsys.readouterr().out)["classes"][1]
    assert b["users_accuracy"] == 0 and b["users_ci95"] is None and b["users_ci95_method"] == "wilson"
    assert b["users_ci95_low"] == 0 and b["users_ci95_high"] == pytest.approx(0.2775, abs=1e-4)
    assert main(["area", str(cmap), "--reference", str(pts)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("building"))
    assert re.search(r"0\.00 %\s+0\.00 %\s+27\.75 %", row), row
