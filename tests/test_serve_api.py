"""landseg serve: the API with FastAPI's test client, persistence across restarts, a loopback load test."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from loopback import running_server
from servescene import scene, varied_checkpoint

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from landseg.accuracy import draw_sample  # noqa: E402
from landseg.io.points import read_points, write_points  # noqa: E402
from landseg.serve.app import create_app  # noqa: E402
from landseg.serve.jobs import JobStore  # noqa: E402

PREDICT = dict(window=64, overlap=16, batch_size=4)
WINDOWS = 9  # count_windows(128, 128, 64, 16)
ZONES = {  # two parcels in EPSG:32633 over the 128x128, 5 cm raster at (367000, 5808000)
    "type": "FeatureCollection",
    "crs": {"type": "name", "properties": {"name": "EPSG:32633"}},
    "features": [
        {"type": "Feature", "properties": {"parcel": "A"}, "geometry": {"type": "Polygon", "coordinates": [[
            [367000.5, 5807996.0], [367003.0, 5807996.0], [367003.0, 5807999.0], [367000.5, 5807999.0],
            [367000.5, 5807996.0]]]}},
        {"type": "Feature", "properties": {"parcel": "B"}, "geometry": {"type": "Polygon", "coordinates": [[
            [367004.0, 5807994.0], [367006.0, 5807994.0], [367006.0, 5807997.0], [367004.0, 5807997.0],
            [367004.0, 5807994.0]]]}},
    ],
}


@pytest.fixture
def image(make_geotiff):
    data = np.random.default_rng(0).integers(0, 256, (3, 128, 128), dtype=np.uint8)
    return make_geotiff(data, name="scene.tif")


@pytest.fixture
def models(tiny_checkpoint):
    return {"tiny": str(tiny_checkpoint())}


@pytest.fixture
def make_app(tmp_path, models):
    def factory(data_dir=None, **kw):
        kw.setdefault("predict_options", PREDICT)
        kw.setdefault("allowed_hosts", ["testserver"])  # the Host name of FastAPI's test client
        return create_app(models, data_dir or tmp_path / "serve", **kw)

    return factory


@pytest.fixture
def client(make_app):
    with TestClient(make_app()) as c:
        yield c


def upload(client, path, name=None, **data):
    with open(path, "rb") as f:
        files = {"image": (name or Path(path).name, f, "application/octet-stream")}
        for field in ("zones", "reference", "image2"):
            if field in data:
                fpath = data.pop(field)
                files[field] = (Path(fpath).name, open(fpath, "rb"), "application/octet-stream")
        return client.post("/api/jobs", files=files, data=data)


def wait(client, job_id, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def assert_error(r, status, error=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "detail"} and body["detail"], body
    if error:
        assert body["error"] == error, body
    return body


# ============================================================================ the whole path
def test_upload_progress_result_downloads(client, image, tmp_path):
    zones = tmp_path / "parcels.geojson"
    zones.write_text(json.dumps(ZONES))
    r = upload(client, image, zones=zones, zone_id="parcel")
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and r.headers["location"] == f"/api/jobs/{job['id']}"
    done = wait(client, job["id"])
    assert done["status"] == "done", done["error"]
    assert done["progress"] == {"done": WINDOWS, "total": WINDOWS}
    res = done["result"]
    assert res["size"] == [128, 128] and res["crs"] == "EPSG:32633" and res["windows"] == WINDOWS
    assert res["warnings"] == [] and isinstance(res["domain_warnings"], list) and "mean_confidence" in res["domain"]
    assert "/" not in json.dumps(res["areas"]).replace("m²", "").replace(" / ", "")  # no server paths leak
    listed = client.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]] and listed[0]["status"] == "done"

    # class GeoTIFF: georeferenced like the input, classes of the model
    r = client.get(done["files"]["classes"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/tiff"
    assert 'filename="scene_classes.tif"' in r.headers["content-disposition"]
    out = tmp_path / "dl_classes.tif"
    out.write_bytes(r.content)
    with rasterio.open(out) as ds, rasterio.open(image) as src:
        assert ds.crs == src.crs and ds.transform == src.transform and ds.shape == src.shape
        classes = ds.read(1)
    assert classes.max() < 6

    # areas: JSON and CSV agree with the class map and with the job's result
    areas = client.get(done["files"]["areas_json"]).json()
    counts = np.bincount(classes.ravel(), minlength=6)
    assert [c["pixels"] for c in areas["classes"]] == counts.tolist()
    assert areas["total"]["area_m2"] == pytest.approx(128 * 128 * 0.05 ** 2)
    assert res["areas"]["classes"] == areas["classes"]
    rows = list(csv.reader(io.StringIO(client.get(done["files"]["areas_csv"]).text)))
    assert rows[0][0] == "class" and len(rows) >= 7

    # polygons: a GeoPackage in the raster's CRS covering the whole raster
    import pyogrio

    gpkg = tmp_path / "dl.gpkg"
    gpkg.write_bytes(client.get(done["files"]["polygons"]).content)
    info = pyogrio.read_info(gpkg)
    assert info["features"] >= 1 and "EPSG:32633" in str(info["crs"])
    assert res["polygons"]["features"] == info["features"]

    # zones: one row per parcel, class areas adding up to the parcel area
    zj = client.get(done["files"]["zones_json"]).json()
    assert [z["id"] for z in zj["zones"]] == ["A", "B"]
    assert zj["zones"][0]["valid_m2"] == pytest.approx(2.5 * 3.0)
    assert res["zones"]["zones"][1]["zone_area_m2"] == pytest.approx(2.0 * 3.0)
    assert res["zones"]["zones_file"] == "parcels.geojson"
    assert client.get(done["files"]["zones_csv"]).text.startswith("parcel,")
    assert client.get(done["files"]["zones_gpkg"]).content[:16] == b"SQLite format 3\x00"
    # planning indicators per zone, for the result page's table (3-30-300 included)
    plan = res["planning"]
    assert [z["id"] for z in plan["zones"]] == ["A", "B"] and plan["zone_id"] == "parcel"
    assert {"sealed_share", "canopy_share", "share_park_within_300m", "share_3_trees"} <= set(plan["zones"][0])

    # the HTML report and the images the page shows
    rep = client.get(done["files"]["report"])
    assert rep.status_code == 200 and rep.headers["content-type"].startswith("text/html")
    assert "<html" in rep.text.lower() and "attachment" in rep.headers["content-disposition"]
    for name in ("image", "layer"):
        r = client.get(done["files"][name])
        assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert r.headers["x-content-type-options"] == "nosniff"


def test_reference_points_give_adjusted_areas(client, image, tmp_path):
    first = wait(client, upload(client, image).json()["id"])
    classes = tmp_path / "scene_classes.tif"
    classes.write_bytes(client.get(first["files"]["classes"]).content)
    pts = tmp_path / "points.gpkg"
    draw_sample(classes, pts, 80, min_per_class=5, seed=1, truth=classes)  # the same model and image: same map
    done = wait(client, upload(client, image, reference=pts).json()["id"])
    assert done["status"] == "done" and done["reference_name"] == "points.gpkg"
    acc = done["result"]["accuracy"]
    assert acc["reference"] == "points.gpkg" and acc["overall_accuracy"]["value"] == pytest.approx(1.0)
    mapped = {c["name"]: c for c in acc["classes"]}
    for c in mapped.values():  # a perfect sample: adjusted = mapped, zero width intervals
        assert c["adjusted_m2"] == pytest.approx(c["mapped_m2"]) and c["ci95_m2"] == pytest.approx(0, abs=1e-9)
    assert client.get(done["files"]["accuracy_json"]).json()["points"]["labelled"] == 80
    assert client.get(done["files"]["accuracy_csv"]).text.startswith("class,")
    assert "Accuracy and error-adjusted areas" in client.get(done["files"]["report"]).text
    # points without a reference field are refused at the upload
    x, y, fields, crs = read_points(pts)
    bare = tmp_path / "bare.gpkg"
    write_points(bare, x, y, {"map_class": fields["map_class"]}, crs)
    body = assert_error(upload(client, image, reference=bare), 400, "unreadable_reference")
    assert "bare.gpkg: no 'reference' field" in body["detail"]


LIMITED = json.loads(json.dumps(ZONES))  # the parcels with a limit column (shares in [0, 1]): A at 0, B at 1
LIMITED["features"][0]["properties"]["max_cov"] = 0.0  # shares must lie in [0, 1] (issue 23.12)
LIMITED["features"][1]["properties"]["max_cov"] = 1.0


def test_indicators_limits_sample_and_the_map(client, image, tmp_path):
    from landseg.measure import AreaRequest, measure_areas
    from landseg.serve.mapdata import MAX_VERTICES  # noqa: F401 - the module the page's map comes from

    zones = tmp_path / "parcels.geojson"
    zones.write_text(json.dumps(LIMITED))
    r = upload(client, image, zones=zones, zone_id="parcel", indicators="on", limits="max_cov:building_coverage",
               sample_points="40", seed="3")
    assert r.status_code == 202, r.text
    assert r.json()["options"] == {"indicators": True, "limits": ["max_cov:building_coverage"], "sample": 40, "seed": 3,
                                   "min_per_class": None}
    done = wait(client, r.json()["id"])
    assert done["status"] == "done", done["error"]
    res = done["result"]
    assert res["warnings"] == [] and res["kind"] == "segment"
    assert {"indicators_csv", "indicators_json", "indicators_gpkg", "sample_gpkg", "map"} <= set(done["files"])

    # indicators: the numbers of `landseg area --zones --indicators --limit` on the same class map
    classes = tmp_path / "classes.tif"
    classes.write_bytes(client.get(done["files"]["classes"]).content)
    cli = measure_areas(classes, AreaRequest(zones=zones, zone_id="parcel", indicators=True,
                                             limits=["max_cov:building_coverage"]))[0][1].to_dict()
    ind = res["indicators"]
    assert ind["zones_file"] == "parcels.geojson" and "/" not in json.dumps(ind["zones_file"])
    assert [z["id"] for z in ind["zones"]] == ["A", "B"]
    for got, want in zip(ind["zones"], cli["zones"]):
        for key in ("valid_m2", "building_coverage", "sealed_share", "green_share", "tree_share", "buildings"):
            assert got[key] == pytest.approx(want[key], nan_ok=True), key
    # the tiny random model maps no building here (coverage 0 in both parcels): A's limit 0 is kept, as the CLI says
    flags = [z["limits"]["max_cov"]["exceeds"] for z in ind["zones"]]
    assert flags == [z["limits"]["max_cov"]["exceeds"] for z in cli["zones"]] == [False, False]
    assert ind["limits"] == [{"column": "max_cov", "indicator": "building_coverage", "exceedances": 0}]
    assert client.get(done["files"]["indicators_csv"]).text.startswith("parcel,")

    # the map: both parcels on the class map's pixel grid (5 cm pixels from (367000, 5808000), y down)
    m = client.get(done["files"]["map"]).json()
    assert (m["width"], m["height"], m["georeferenced"]) == (128, 128, True)
    feats = m["zones"]["features"]
    assert [(f["properties"]["k"], f["properties"]["id"]) for f in feats] == [(0, "A"), (1, "B")]
    for f, (c0, r0, c1, r1) in zip(feats, [(10, 20, 60, 80), (80, 60, 120, 120)]):
        ring = np.array(f["geometry"]["coordinates"][0])
        assert ring[:, 0].min() == pytest.approx(c0) and ring[:, 0].max() == pytest.approx(c1)
        assert ring[:, 1].min() == pytest.approx(r0) and ring[:, 1].max() == pytest.approx(r1)

    # the sample: `landseg sample --n 40 --seed 3` on the same map gives the same points, drawn at pixel centres
    pts = tmp_path / "sample.gpkg"
    pts.write_bytes(client.get(done["files"]["sample_gpkg"]).content)
    again = tmp_path / "again.gpkg"
    draw_sample(classes, again, 40, seed=3)
    x, y, fields, crs = read_points(pts)
    x2, y2, fields2, _ = read_points(again)
    assert len(x) == 40 and np.array_equal(x, x2) and np.array_equal(y, y2) and crs
    assert res["sample"]["n_drawn"] == 40 and res["sample"]["points"] == "input_sample.gpkg"
    with rasterio.open(classes) as ds:
        cmap = ds.read(1)
    points = m["points"]["features"]
    assert len(points) == 40
    names = [c["name"] for c in res["legend"]]
    for p, r_, c_ in zip(points, fields["row"], fields["col"]):
        col, row = p["geometry"]["coordinates"]
        assert (col, row) == (c_ + 0.5, r_ + 0.5)
        assert p["properties"]["map_class"] == names[cmap[int(row), int(col)]]
    xs = 367000 + 0.05 * np.array([p["geometry"]["coordinates"][0] for p in points])
    assert np.allclose(xs, x)  # the same places as the GeoPackage's map coordinates


def test_indicator_limit_and_sample_fields_are_checked(client, image, tmp_path):
    zones = tmp_path / "parcels.geojson"
    zones.write_text(json.dumps(LIMITED))
    body = assert_error(upload(client, image, indicators="1"), 400)
    assert "add a zones file" in body["detail"]
    body = assert_error(upload(client, image, zones=zones, limits="max_cov:roof_share"), 400)
    assert "roof_share" in body["detail"] and "building_coverage" in body["detail"]
    body = assert_error(upload(client, image, zones=zones, limits="max_height:building_coverage"), 400, "bad_limit")
    assert "parcels.geojson" in body["detail"] and "'max_height'" in body["detail"] and "max_cov" in body["detail"]
    assert "/" not in body["detail"].replace("parcels.geojson", "")  # no server paths
    assert "sample_points" in assert_error(upload(client, image, sample_points="0"), 400)["detail"]
    assert "sample_points" in assert_error(upload(client, image, seed="4"), 400)["detail"]
    assert assert_error(upload(client, image, kind="merge"), 400)["detail"].startswith("unknown job kind")
    assert client.get("/api/jobs").json()["jobs"] == []  # nothing was queued


def test_change_job_of_two_images(make_app, make_geotiff, tmp_path):

    zones = tmp_path / "parcels.geojson"
    zones.write_text(json.dumps(ZONES))
    image = make_geotiff(scene(), name="scene.tif")
    flipped = make_geotiff(scene(flip=True), name="later.tif")
    app = create_app({"varied": str(varied_checkpoint(tmp_path / "varied.safetensors", scene()))}, tmp_path / "serve",
                     predict_options=PREDICT, allowed_hosts=["testserver"])
    with TestClient(app) as client:
        _change_job(client, image, flipped, zones, tmp_path)


def _change_job(client, image, flipped, zones, tmp_path):
    from landseg.change import detect_change

    assert "kind=change" in assert_error(upload(client, image, image2=flipped), 400)["detail"]
    assert "image2" in assert_error(upload(client, image, kind="change"), 400)["detail"]
    r = upload(client, image, kind="change", image2=flipped, zones=zones, zone_id="parcel")
    assert r.status_code == 202, r.text
    done = wait(client, r.json()["id"])
    assert done["status"] == "done", done["error"]
    assert done["kind"] == "change" and done["name"] == "scene.tif" and done["name2"] == "later.tif"
    res = done["result"]
    assert res["windows"] == 2 * WINDOWS and res["warnings"] == []
    change = res["change"]
    assert (change["before"], change["after"]) == ("scene.tif", "later.tif")  # names, not server paths
    # the numbers of `landseg change` on the two class maps the job made
    out = client.app.state.store.job_dir(done["id"]) / "out"
    cli = detect_change(out / "before" / "input_classes.tif", out / "after" / "input2_classes.tif", tmp_path / "chg",
                        zones=zones, zone_id="parcel").to_dict()
    assert change["matrix_pixels"] == cli["matrix_pixels"] and sum(map(sum, cli["matrix_pixels"])) == 128 * 128
    assert [z["matrix_pixels"] for z in change["zones"]] == [z["matrix_pixels"] for z in cli["zones"]]
    assert change["changed_m2"] == pytest.approx(cli["changed_m2"]) and change["changed_m2"] > 0
    present = [i for i, v in enumerate(np.ravel(cli["matrix_pixels"])) if v]
    assert [c["index"] for c in res["legend"]] == present
    assert {"change_tif", "change_csv", "change_json", "image", "layer", "map"} <= set(done["files"])
    m = client.get(done["files"]["map"]).json()
    assert [f["properties"]["id"] for f in m["zones"]["features"]] == ["A", "B"] and m["points"]["features"] == []
    # the layer shows the transitions: its colours are those of the present transitions
    from PIL import Image

    layer = np.asarray(Image.open(io.BytesIO(client.get(done["files"]["layer"]).content)).convert("RGB"))
    assert {tuple(c) for c in layer.reshape(-1, 3)} == {tuple(c["color"]) for c in res["legend"]}


def test_docs_work_offline(client):
    import re

    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text and "http://" not in page.text
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(r.endswith("swagger-ui-bundle.js") for r in refs) and any(r.endswith("swagger-ui.css") for r in refs)
    for ref in refs:
        assert ref.startswith("/static/") and client.get(ref).status_code == 200, ref
    assert '"validatorUrl": null' in page.text  # no badge fetched from validator.swagger.io
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN
    from landseg.serve.app import STATIC

    for lib in ("leaflet", "swagger-ui"):  # vendored with their licence
        assert (STATIC / "vendor" / lib / "LICENSE").stat().st_size > 500


def test_a_data_folder_of_schema_1_gains_the_reference_columns(tmp_path):
    (tmp_path / "serve").mkdir()
    db = sqlite3.connect(tmp_path / "serve" / "jobs.db")
    db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, created REAL NOT NULL, started REAL, finished REAL, "
               "status TEXT NOT NULL, stage TEXT, model TEXT NOT NULL, name TEXT NOT NULL, input TEXT NOT NULL, "
               "zones TEXT, zones_name TEXT, zone_id TEXT, gsd REAL, done INTEGER DEFAULT 0, total INTEGER DEFAULT 0, "
               "error TEXT, result TEXT)")
    db.execute("INSERT INTO jobs (id, created, status, model, name, input) VALUES ('a', 1, 'done', 'm', 'n', 'i')")
    db.commit()
    db.close()
    store = JobStore(tmp_path / "serve")
    store.create({"id": "b", "model": "m", "name": "n", "input": "i", "reference": "reference.gpkg",
                  "reference_name": "pts.gpkg"})
    assert store.get("a")["reference"] is None and store.get("b")["reference_name"] == "pts.gpkg"
    assert store.get("a")["kind"] == "segment" and store.get("a")["options"] == {}  # schema 3's columns too
    store.close()


def test_jobs_queue_and_report_their_position(make_app, image):
    app = make_app()
    c = TestClient(app)  # no lifespan yet: the workers are not running, jobs wait in the queue
    ids = [upload(c, image).json()["id"] for _ in range(3)]
    assert [c.get(f"/api/jobs/{i}").json()["queue_position"] for i in ids] == [1, 2, 3]
    assert [j["queue_position"] for j in c.get("/api/jobs").json()["jobs"]] == [3, 2, 1]  # newest first
    with c:  # workers start: the queue is worked off in order
        jobs = [wait(c, i) for i in ids]
    assert [j["status"] for j in jobs] == ["done"] * 3
    assert jobs[0]["started"] <= jobs[1]["started"] <= jobs[2]["started"]


def test_predict_reports_progress(tiny_checkpoint, image, tmp_path):
    """predict_raster's on_progress: (0, total) first, then windows done, ending at total."""
    from landseg.models.engine import load_engine
    from landseg.predict import PredictOptions, predict_raster

    calls = []
    engine, ckpt = load_engine(str(tiny_checkpoint()))
    predict_raster(engine, ckpt, image, tmp_path / "out",
                   PredictOptions(**PREDICT, progress=False, on_progress=lambda d, t: calls.append((d, t))))
    assert calls[0] == (0, WINDOWS) and calls[-1] == (WINDOWS, WINDOWS)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) == WINDOWS + 1


def test_info_page_and_openapi(client):
    from landseg.assets import samples

    info = client.get("/api/info").json()
    assert [m["name"] for m in info["models"]] == ["tiny"] and info["models"][0]["bands"] == 3
    assert info["samples"] == sorted(p.name for p in samples())
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.split("<body>")[0]  # no CDN: everything from this server
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/files/{artifact}", "/api/info"} <= set(spec["paths"])
    post = spec["paths"]["/api/jobs"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"] and "413" in post["responses"]
    assert client.get("/docs").status_code == 200


def test_bundled_sample_job(client, make_geotiff, monkeypatch):
    data = np.random.default_rng(1).integers(0, 256, (3, 96, 96), dtype=np.uint8)
    sample = make_geotiff(data, name="sample.tif")
    monkeypatch.setattr("landseg.serve.app._samples", lambda: {"sample.tif": sample})
    r = client.post("/api/jobs", data={"sample": "sample.tif", "model": "tiny"})
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["id"])
    assert job["status"] == "done" and job["name"] == "sample.tif" and job["result"]["size"] == [96, 96]
    assert_error(client.post("/api/jobs", data={"sample": "../../etc/passwd"}), 400, "bad_request")


def test_plain_png_and_jpeg(client, tmp_path):
    """Images without georeferencing: pixel counts and shares, m² once a pixel size is given."""
    from PIL import Image

    rgb = np.random.default_rng(2).integers(0, 256, (80, 96, 3), dtype=np.uint8)
    png, jpg = tmp_path / "photo.png", tmp_path / "photo.jpg"
    Image.fromarray(rgb).save(png)
    Image.fromarray(rgb).save(jpg, quality=90)
    plain = wait(client, upload(client, png, sample_points="25").json()["id"])
    assert plain["status"] == "done" and plain["result"]["crs"] is None
    m = client.get(plain["files"]["map"]).json()  # the map works in pixels: no georeferencing needed
    assert (m["width"], m["height"], m["georeferenced"]) == (96, 80, False)
    cols_rows = np.array([p["geometry"]["coordinates"] for p in m["points"]["features"]])
    assert len(cols_rows) == 25 and (cols_rows % 1 == 0.5).all()
    assert cols_rows[:, 0].max() < 96 and cols_rows[:, 1].max() < 80
    areas = plain["result"]["areas"]
    assert areas["total"]["pixels"] == 80 * 96 and areas["total"]["area_m2"] is None
    assert any("no georeferencing" in w for w in plain["result"]["warnings"])
    assert "polygons" not in plain["files"] and "classes" in plain["files"]
    sized = wait(client, upload(client, jpg, gsd="0.1").json()["id"])
    assert sized["status"] == "done" and sized["result"]["warnings"] == []
    assert sized["result"]["areas"]["total"]["area_m2"] == pytest.approx(80 * 96 * 0.01)
    assert "polygons" in sized["files"]


# ============================================================================ bad input
def test_rejects_formats_by_content(client, tmp_path, image):
    fake = tmp_path / "fake.tif"
    fake.write_text("this is text, not a TIFF\n" * 10)
    body = assert_error(upload(client, fake), 415, "unsupported_format")
    assert "fake.tif" in body["detail"] and "content" in body["detail"]
    html = tmp_path / "page.png"
    html.write_bytes(b"<html><script>alert(1)</script></html>")
    assert_error(upload(client, html), 415)
    # zones: a JSON file that is not GeoJSON, and a text file called .gpkg
    notgeo = tmp_path / "zones.geojson"
    notgeo.write_text(json.dumps({"type": "Topology", "objects": {}}))
    assert_error(upload(client, image, zones=notgeo), 415, "unsupported_format")
    txt = tmp_path / "zones.gpkg"
    txt.write_text("parcel;geometry\n")
    assert_error(upload(client, image, zones=txt), 415)
    good = tmp_path / "parcels.geojson"
    good.write_text(json.dumps(ZONES))
    body = assert_error(upload(client, image, zones=good, zone_id="nope"), 400, "unreadable_zones")
    assert "parcel" in body["detail"] and str(tmp_path) not in body["detail"]
    assert client.get("/api/jobs").json()["jobs"] == []  # nothing was queued
    assert list((client.app.state.data_dir / "jobs").iterdir()) == []  # and nothing left on disk


def test_corrupt_and_unusable_images(client, image, tmp_path, make_geotiff):
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(image.read_bytes()[: image.stat().st_size * 2 // 3])
    body = assert_error(upload(client, truncated), 400, "unreadable_image")
    assert "truncated.tif" in body["detail"] and "corrupt" in body["detail"]
    assert str(tmp_path) not in body["detail"]
    gray = make_geotiff(np.zeros((1, 64, 64), np.uint8), name="gray.tif")
    assert "needs 3 bands" in assert_error(upload(client, gray), 400)["detail"]
    wide = make_geotiff(np.zeros((3, 64, 64), np.uint16), name="u16.tif")
    assert "8-bit" in assert_error(upload(client, wide), 400)["detail"]
    assert_error(upload(client, image, model="nope"), 400, "bad_request")
    assert_error(upload(client, image, gsd="-1"), 400)
    assert_error(client.post("/api/jobs", data={"model": "tiny"}), 400)  # neither image nor sample
    assert_error(client.post("/api/jobs", json={"image": "x"}), 415)  # not multipart
    with open(image, "rb") as f:
        assert_error(client.post("/api/jobs", files={"image": ("a.tif", f), "extra": ("b.tif", b"II*\x00")}), 400)
    assert client.get("/api/jobs").json()["jobs"] == []


def test_upload_limit(make_app, image, tmp_path):
    with TestClient(make_app(max_upload_mb=0.02)) as c:  # 20 KiB; the image is 48 KiB
        body = assert_error(upload(c, image), 413, "too_large")
        assert "limit" in body["detail"]

        def chunks():  # no Content-Length: the running byte count must stop it
            head = (b"--B\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.tif\"\r\n"
                    b"Content-Type: image/tiff\r\n\r\nII*\x00")
            yield head
            for _ in range(200):
                yield b"\0" * 4096
            yield b"\r\n--B--\r\n"

        r = c.post("/api/jobs", content=chunks(), headers={"content-type": "multipart/form-data; boundary=B"})
        assert_error(r, 413, "too_large")
        assert list((c.app.state.data_dir / "jobs").iterdir()) == []  # partial upload removed
        small = tmp_path / "small.tif"
        with rasterio.open(image) as src:
            prof = src.profile | {"width": 32, "height": 32}
            with rasterio.open(small, "w", **prof) as dst:
                dst.write(src.read(window=((0, 32), (0, 32))))
        assert upload(c, small).status_code == 202


def test_unknown_jobs_and_results(client, image):
    assert_error(client.get("/api/jobs/nope"), 404, "not_found")
    assert_error(client.get("/api/jobs/" + "0" * 32), 404, "not_found")
    assert_error(client.get("/api/jobs/" + "0" * 32 + "/files/classes"), 404)
    assert_error(client.get("/api/jobs/..%2F..%2Fjobs.db/files/classes"), 404)
    assert_error(client.get("/no/such/page"), 404)
    assert_error(client.delete("/api/jobs"), 405)
    assert_error(client.get("/static/../jobs.db"), 404)
    job = upload(client, image).json()
    wait(client, job["id"])
    for name in ("input.tif", "../input.tif", "..%2Finput.tif", "jobs.db", "predict", "zones_csv"):
        assert_error(client.get(f"/api/jobs/{job['id']}/files/{name}"), 404)
    assert_error(client.post(f"/api/jobs/{job['id']}/retry"), 409)


def test_path_traversal_file_name_is_harmless(client, image, tmp_path):
    r = upload(client, image, name="../../x.tif")
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["id"])
    assert job["status"] == "done" and job["name"] == "x.tif"
    data = client.app.state.data_dir
    assert sorted(p.name for p in (data / "jobs" / job["id"]).iterdir()) == ["input.tif", "out"]
    assert not any(p.name.startswith("x") for p in [*tmp_path.rglob("x*"), *data.parent.parent.glob("x*")])
    r = client.get(job["files"]["classes"])
    assert 'filename="x_classes.tif"' in r.headers["content-disposition"]
    r = upload(client, image, name='..\\..\\evil"\r\nname.tif')
    assert r.status_code == 202 and "\n" not in r.json()["name"] and "\\" not in r.json()["name"]


# ============================================================================ persistence
def test_results_survive_a_restart(make_app, image, tmp_path):
    data = tmp_path / "serve"
    with TestClient(make_app(data)) as c:
        job = wait(c, upload(c, image).json()["id"])
        classes = c.get(job["files"]["classes"]).content
    waiting = upload(TestClient(make_app(data)), image).json()  # queued by a server that never ran a worker
    # a job the store still lists as running when the server stopped (a crash mid-job)
    with TestClient(make_app(data)) as c:
        crashed = wait(c, upload(c, image).json()["id"])
    (data / "jobs" / crashed["id"] / "out" / "partial.tif").write_bytes(b"II*\x00")
    with sqlite3.connect(data / "jobs.db") as db:
        db.execute("UPDATE jobs SET status='running', stage='segmenting', done=4 WHERE id=?", (crashed["id"],))

    with TestClient(make_app(data)) as c:
        again = c.get(f"/api/jobs/{job['id']}").json()
        assert again["status"] == "done" and again["result"] == job["result"]
        assert c.get(again["files"]["classes"]).content == classes
        failed = c.get(f"/api/jobs/{crashed['id']}").json()
        assert failed["status"] == "failed" and "interrupted" in failed["error"] and failed["files"] == {}
        assert not (data / "jobs" / crashed["id"] / "out").exists()
        assert_error(c.get(f"/api/jobs/{crashed['id']}/files/classes"), 409, "not_ready")
        assert wait(c, waiting["id"])["status"] == "done"  # the queued job ran after the restart
        r = c.post(f"/api/jobs/{crashed['id']}/retry")  # and the failed one can be run again
        assert r.status_code == 202 and wait(c, crashed["id"])["status"] == "done"
        assert len(c.get("/api/jobs").json()["jobs"]) == 3


def test_one_server_per_data_folder(make_app):
    from landseg.errors import ConfigError

    with TestClient(make_app()):
        with pytest.raises(ConfigError, match="another landseg serve"):
            with TestClient(make_app()):
                pass
    with TestClient(make_app()) as c:  # free again once the first one stopped
        assert c.get("/api/info").status_code == 200


def test_stopping_cancels_a_running_job(make_app, image, monkeypatch):
    """A job still running when the server stops ends as failed, never as done."""
    import landseg.pipeline as pipeline

    started = threading.Event()
    real = pipeline.write_view_images

    def slow(*a, **kw):
        started.set()
        time.sleep(0.5)
        return real(*a, **kw)

    monkeypatch.setattr(pipeline, "write_view_images", slow)
    app = make_app()
    with TestClient(app) as c:
        job_id = upload(c, image).json()["id"]
        assert started.wait(30)
    with TestClient(make_app()) as c:  # the store closed with the app: look at the job from a new one
        job = c.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "failed" and "interrupted" in job["error"]


# ============================================================================ load (loopback)


def _rss_mb() -> float:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc/self/statm (Linux)")
def test_load_20_concurrent_uploads(make_app, make_geotiff):
    import httpx

    paths = [make_geotiff(np.random.default_rng(i).integers(0, 256, (3, 128, 128), dtype=np.uint8), name=f"img{i}.tif")
             for i in range(20)]
    with running_server(make_app(workers=2)) as base, httpx.Client(base_url=base, timeout=60) as http:
        warm = http.post("/api/jobs", files={"image": ("w.tif", paths[0].read_bytes())}).json()["id"]
        while http.get(f"/api/jobs/{warm}").json()["status"] not in ("done", "failed"):
            time.sleep(0.1)
        rss0 = _rss_mb()
        ids, errors = [], []

        def send(p: Path) -> None:
            try:
                with httpx.Client(base_url=base, timeout=60) as h:
                    r = h.post("/api/jobs", files={"image": (p.name, p.read_bytes(), "image/tiff")})
                    r.raise_for_status()
                    ids.append(r.json()["id"])
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(p,)) for p in paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors and len(set(ids)) == 20
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            statuses = [j["status"] for j in http.get("/api/jobs").json()["jobs"] if j["id"] in ids]
            if all(s in ("done", "failed") for s in statuses):
                break
            time.sleep(0.25)
        assert statuses == ["done"] * 20, statuses
        growth = _rss_mb() - rss0
    assert growth < 300, f"RSS grew by {growth:.0f} MB over 20 jobs"


# ============================================================================ reliability (#14, second half)
def test_upload_onto_a_full_disk_is_a_storage_error(make_app, tiny_disk, tmp_path):
    blob = tmp_path / "big.tif"
    blob.write_bytes(b"II*\x00" + np.random.default_rng(0).bytes(400_000))
    with TestClient(make_app(tiny_disk / "serve")) as c:
        r = upload(c, blob)
    body = assert_error(r, 507, "insufficient_storage")
    assert "No space left on device" in body["detail"] and "free of 200.0 KB" in body["detail"]
    assert "malformed" not in body["detail"]
    assert not list((tiny_disk / "serve" / "jobs").iterdir())  # the half-written job folder is gone


def test_serve_on_a_read_only_data_dir_is_a_clear_error(tmp_path, capsys, models):
    import subprocess

    from landseg.cli import main

    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], capture_output=True).returncode:
        blocker = tmp_path / "file"  # no mount here: a data dir under a file cannot be written either
        blocker.write_text("")
        ro = blocker / "serve"
    try:
        assert main(["serve", "--data-dir", str(ro / "data"), "--model", models["tiny"]]) == 2
    finally:
        subprocess.run(["umount", str(tmp_path / "ro")], capture_output=True)
    err = capsys.readouterr().err
    assert err.startswith("landseg serve: error: --data-dir: ") and "not writable" in err and "Traceback" not in err


def test_cross_origin_and_unknown_hosts_are_refused(make_app, image):
    with TestClient(make_app(allowed_hosts=["testserver", "maps.example.org"])) as c:
        assert c.get("/api/info").status_code == 200
        # DNS rebinding: a page from evil.example resolving its name to this machine
        assert_error(c.get("/api/jobs", headers={"host": "evil.example:8000"}), 421, "misdirected_request")
        assert_error(c.get("/", headers={"host": "evil.example"}), 421)
        for host in ("localhost:8000", "127.0.0.1", "[::1]:8000", "maps.example.org"):
            assert c.get("/api/info", headers={"host": host}).status_code == 200, host
        # cross-site request forgery: a POST from another origin
        with open(image, "rb") as f:
            files = {"image": ("scene.tif", f, "application/octet-stream")}
            r = c.post("/api/jobs", files=files, headers={"origin": "http://evil.example"})
        assert_error(r, 403, "forbidden")
        r = c.post("/api/jobs/0123456789abcdef0123456789abcdef/retry", headers={"sec-fetch-site": "cross-site"})
        assert_error(r, 403, "forbidden")
        r = c.post("/api/jobs/0123456789abcdef0123456789abcdef/retry", headers={"origin": "null"})
        assert_error(r, 403, "forbidden")
        assert c.get("/api/jobs").json()["jobs"] == []  # nothing was created
        with open(image, "rb") as f:  # the page itself: same origin
            r = c.post("/api/jobs", files={"image": ("scene.tif", f, "application/octet-stream")},
                       headers={"origin": "http://testserver", "sec-fetch-site": "same-origin"})
        assert r.status_code == 202, r.text


def test_token_guards_page_and_api(make_app, image):
    with TestClient(make_app(token="s3cret-token")) as c:
        assert_error(c.get("/api/info"), 401, "unauthorized")
        assert_error(c.get("/"), 401)
        assert_error(c.get("/api/info", headers={"authorization": "Bearer wrong"}), 401)
        assert c.get("/api/info", headers={"authorization": "Bearer s3cret-token"}).status_code == 200
        r = c.get("/?token=s3cret-token")
        assert r.status_code == 200 and "landseg_token=s3cret-token" in r.headers["set-cookie"]
        assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
        assert c.get("/api/info").status_code == 200  # the cookie now
        assert upload(c, image).status_code == 202


def test_serve_beyond_loopback_generates_and_prints_a_token(monkeypatch, tmp_path, capsys, models):
    import uvicorn

    from landseg.cli import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.delenv("LANDSEG_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "d"), "--model", models["tiny"]]) == 0
    token = seen["app"].state.token
    assert token and len(token) >= 24 and f"open http://0.0.0.0:8000/?token={token}" in capsys.readouterr().err
    assert main(["serve", "--data-dir", str(tmp_path / "d2"), "--model", models["tiny"]]) == 0
    assert seen["app"].state.token is None  # loopback: no token unless one is given
    monkeypatch.setenv("LANDSEG_TOKEN", "from-env")
    assert main(["serve", "--data-dir", str(tmp_path / "d3"), "--model", models["tiny"]]) == 0
    assert seen["app"].state.token == "from-env"
    assert seen["app"].state.runner.timeout == 3600 and seen["app"].state.runner.max_windows == 200_000


def test_job_budgets_pixels_windows_and_time(make_app, image):
    with TestClient(make_app(max_job_pixels=10_000)) as c:
        job = wait(c, upload(c, image).json()["id"])
    assert job["status"] == "failed" and "16,384 pixels to predict" in job["error"]
    assert "this server's --max-job-pixels" in job["error"] and "/" not in job["error"].split("pixels")[0]
    with TestClient(make_app(max_job_windows=4)) as c:
        job = wait(c, upload(c, image).json()["id"])
    assert job["status"] == "failed" and "needs 9 windows, more than this server's --max-job-windows of 4" in job["error"]
    app = make_app(job_timeout=0.001)
    with TestClient(app) as c:
        job = wait(c, upload(c, image).json()["id"])
        assert job["status"] == "failed" and "--job-timeout" in job["error"]
        app.state.runner.timeout = None  # the worker is free again: the next job runs
        assert wait(c, upload(c, image).json()["id"])["status"] == "done"


def test_the_package_data_ships_the_page_and_its_vendored_libraries():
    """Every file the page serves (static/, vendor/ included) is matched by pyproject's package-data."""
    import glob

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["landseg"]
    pkg = root / "src" / "landseg"
    shipped = {Path(p) for pat in patterns for p in glob.glob(pat, root_dir=pkg, recursive=True)}
    static = {p.relative_to(pkg) for p in (pkg / "serve" / "static").rglob("*") if p.is_file()}
    assert Path("serve/static/vendor/leaflet/leaflet.js") in static
    assert static <= shipped, sorted(map(str, static - shipped))
