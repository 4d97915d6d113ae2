"""landseg serve end to end: headless Chromium (Debian's /usr/bin/chromium) drives the page over loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from loopback import running_server
from servescene import scene, varied_checkpoint

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
PREDICT = dict(window=64, overlap=16, batch_size=4)


@pytest.fixture(scope="module")
def playwright_api():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    return sync_api


def wait_for_map(page) -> None:
    """The result's map drawn: its data loaded, the image and class layer decoded."""
    page.wait_for_selector("#map[data-ready='1']", timeout=30_000)
    for cls in ("base-layer", "class-layer"):
        page.wait_for_function(f"() => {{ const i = document.querySelector('#map img.{cls}');"
                               " return i && i.complete && i.naturalWidth > 0 }", timeout=30_000)


def click_zone(page, zone: str) -> None:
    """Click a zone on the map where it shows (not under a sample point, not outside the map's frame)."""
    path = page.locator(f"#map path.zone[data-zone={zone}]")
    path.scroll_into_view_if_needed()
    spot = page.evaluate("""z => {
        const b = z.getBoundingClientRect(), m = document.getElementById('map').getBoundingClientRect();
        for (let y = Math.max(b.top, m.top) + 3; y < Math.min(b.bottom, m.bottom); y += 3)
            for (let x = Math.max(b.left, m.left) + 3; x < Math.min(b.right, m.right); x += 3)
                if (document.elementFromPoint(x, y) === z) return [x, y];
        return null; }""", path.element_handle())
    assert spot, f"zone {zone} shows nowhere on the map"
    page.mouse.click(*spot)


def test_upload_view_and_areas_in_the_browser(playwright_api, tmp_path, make_geotiff):
    import httpx

    from landseg.serve.app import create_app

    image = scene()
    geotiff = make_geotiff(image, name="quadrants.tif")
    truncated = tmp_path / "broken.tif"
    truncated.write_bytes(geotiff.read_bytes()[: geotiff.stat().st_size // 2])
    ckpt = varied_checkpoint(tmp_path / "varied.safetensors", image)
    app = create_app({"tiny": str(ckpt)}, tmp_path / "serve", predict_options=PREDICT)
    shot = tmp_path / "serve.png"
    with running_server(app) as base, playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            problems: list[str] = []  # script errors and failed requests, except the deliberate bad upload
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("response", lambda r: problems.append(f"{r.status} {r.request.method} {r.url}")
                    if r.status >= 400 and not (r.status == 400 and r.request.method == "POST") else None)
            page.goto(base + "/")
            page.wait_for_selector("#model option[value=tiny]", state="attached")

            # a corrupt upload: a clear message on the page, no job
            page.set_input_files("#image", str(truncated))
            page.click("#start")
            err = page.wait_for_selector("#form-error:not([hidden])", timeout=30_000)
            assert "broken.tif" in err.inner_text() and "corrupt" in err.inner_text()

            # a good one: wait for the job, then the overlay, legend, table and chart
            page.set_input_files("#image", str(geotiff))
            page.click("#start")
            page.wait_for_selector("#result[data-status=done]", timeout=120_000)
            wait_for_map(page)
            job_id = page.evaluate("location.hash").split("=", 1)[1]
            painted = page.evaluate("""() => {
                const img = document.querySelector('#map img.class-layer'), c = document.createElement('canvas');
                c.width = img.naturalWidth; c.height = img.naturalHeight;
                const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                const d = g.getImageData(0, 0, c.width, c.height).data, seen = new Set();
                let opaque = 0;
                for (let i = 0; i < d.length; i += 4) if (d[i + 3]) { opaque++; seen.add(d[i] + ',' + d[i+1] + ',' + d[i+2]); }
                return {opaque, colours: seen.size, size: [c.width, c.height]};
            }""")
            assert painted["size"] == [128, 128] and painted["opaque"] == 128 * 128
            assert painted["colours"] >= 2

            areas = httpx.get(f"{base}/api/jobs/{job_id}/files/areas_json").json()
            assert sum(c["pixels"] > 0 for c in areas["classes"]) >= 2
            for c in areas["classes"]:
                cell = page.locator(f'#area-table td.area-m2[data-class="{c["name"]}"]')
                assert float(cell.get_attribute("data-value")) == pytest.approx(c["area_m2"])
                assert cell.inner_text() == f"{c['area_m2']:,.2f}"
                px = page.locator(f'#area-table td.pixels[data-class="{c["name"]}"]')
                assert px.inner_text() == f"{c['pixels']:,}"
                share = page.locator(f'#area-table td.share[data-class="{c["name"]}"]')
                assert share.inner_text() == f"{100 * c['share']:,.2f} %"
            total = page.locator('#area-table td.area-m2[data-class="total"]').inner_text()
            assert total == f"{areas['total']['area_m2']:,.2f}" == "40.96"
            assert page.locator("#area-chart .bar-row").count() == len(areas["classes"])
            assert page.locator("#legend li").count() == 6
            hrefs = page.eval_on_selector_all("#downloads a", "as => as.map(a => a.dataset.artifact)")
            assert {"classes", "polygons", "areas_csv", "areas_json", "report"} <= set(hrefs)

            page.locator("#opacity").fill("30")
            assert page.eval_on_selector("#map img.class-layer", "i => i.style.opacity") == "0.3"
            page.locator("#opacity").fill("60")
            page.screenshot(path=str(shot), full_page=True)
            assert not problems, problems
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000


LIMITED = {  # two parcels in EPSG:32633 over the 128x128, 5 cm scene; max_cov: A can never keep it, B always does
    "type": "FeatureCollection",
    "crs": {"type": "name", "properties": {"name": "EPSG:32633"}},
    "features": [
        {"type": "Feature", "properties": {"parcel": "A", "max_cov": 0.0}, "geometry": {"type": "Polygon", "coordinates": [[
            [367000.5, 5807996.0], [367003.0, 5807996.0], [367003.0, 5807999.0], [367000.5, 5807999.0],
            [367000.5, 5807996.0]]]}},
        {"type": "Feature", "properties": {"parcel": "B", "max_cov": 1.0}, "geometry": {"type": "Polygon", "coordinates": [[
            [367004.0, 5807994.0], [367006.0, 5807994.0], [367006.0, 5807997.0], [367004.0, 5807997.0],
            [367004.0, 5807994.0]]]}},
    ],
}


def test_map_with_zones_limits_sample_change_and_offline_docs(playwright_api, tmp_path, make_geotiff):
    """The result page's map: image, classes, zones coloured by a limit breach, a zone's popup, the sample's
    points; a change job of two images; the model stays chosen; /docs works; nothing is fetched elsewhere."""
    import json

    from landseg.serve.app import create_app

    geotiff = make_geotiff(scene(), name="quadrants.tif")
    later = make_geotiff(scene(flip=True), name="later.tif")
    zones = tmp_path / "parcels.geojson"
    zones.write_text(json.dumps(LIMITED))
    ckpt = varied_checkpoint(tmp_path / "varied.safetensors", scene())
    app = create_app({"tiny": str(ckpt), "second": str(ckpt)}, tmp_path / "serve", predict_options=PREDICT)
    shot = tmp_path / "map.png"
    with running_server(app) as base, playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            requests: list[str] = []
            problems: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(base + "/")
            page.wait_for_selector("#model option[value=second]", state="attached")
            page.select_option("#model", "second")
            page.set_input_files("#image", str(geotiff))
            page.click("#zones-options summary")
            page.set_input_files("#zones", str(zones))
            page.fill("#zone_id", "parcel")
            page.check("#indicators")
            page.fill("#limits", "max_cov:building_coverage")
            page.click("#sample-options summary")
            page.fill("#sample_points", "40")
            page.fill("#seed", "2")
            page.click("#start")
            page.wait_for_selector("#result[data-status=done]", timeout=120_000)
            wait_for_map(page)
            assert page.input_value("#model") == "second"  # the chosen model stays selected for the next job
            job = page.evaluate("fetch('/api/jobs/' + location.hash.split('=')[1]).then(r => r.json())")
            assert job["model"] == "second" and job["result"]["warnings"] == []

            # zones: two SVG paths, coloured by the limit (A over it, B within), a popup with the figures
            zones_drawn = page.locator("#map path.zone")
            assert zones_drawn.count() == 2
            assert page.input_value("#colour-by") == "limit:max_cov"
            assert page.get_attribute("#map path.zone[data-zone=A]", "fill") == "#d7301f"
            assert page.get_attribute("#map path.zone[data-zone=B]", "fill") == "#4daf4a"
            click_zone(page, "A")
            popup = page.wait_for_selector(".leaflet-popup .zone-popup[data-zone=A]", timeout=10_000)
            text = popup.inner_text()
            ind = job["result"]["indicators"]["zones"][0]
            assert "over the limit" in text and "building coverage" in text
            assert f"{100 * ind['sealed_share']:,.2f} %" in text
            assert f"{job['result']['zones']['zones'][0]['zone_area_m2']:,.2f} m²" in text
            # the indicator table and the legend of the colouring
            assert page.locator("#indicators-table tbody tr").count() == 2
            assert "over the limit" in page.locator("#zone-legend").inner_text()

            page.click("#indicators-table tbody tr[data-zone=B]")  # a row of the table opens its zone on the map
            assert "within" in page.wait_for_selector(".leaflet-popup .zone-popup[data-zone=B]", timeout=10_000).inner_text()

            # the sample: 40 points drawn (circle markers), as many as the GeoPackage holds
            assert page.locator("#map path.sample-point").count() == 40
            assert job["result"]["sample"]["n_drawn"] == 40
            assert page.locator("#sample-table tbody tr").count() == 6
            page.select_option("#colour-by", "building_coverage")
            assert page.get_attribute("#map path.zone[data-zone=A]", "fill") in ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
            # the planning table's shares (canopy, 3-30-300, ...) colour the zones too, each zone by its own row
            plan = job["result"]["planning"]
            modes = page.eval_on_selector_all("#colour-by option", "os => os.map(o => o.value)")
            plan_modes = [m for m in modes if m.startswith("plan:")]
            assert plan and plan["zones"] and plan_modes, (modes, plan)
            ramp = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]
            for mode in plan_modes:
                page.select_option("#colour-by", mode)
                for zid in ("A", "B"):
                    v = next(z for z in plan["zones"] if str(z["id"]) == zid)[mode[5:]]
                    want = ramp[min(4, int(5 * v))] if isinstance(v, (int, float)) else "#bdbdbd"
                    assert page.get_attribute(f"#map path.zone[data-zone={zid}]", "fill") == want, (mode, zid, v)
            page.select_option("#colour-by", "limit:max_cov")
            page.click("#indicators-table tbody tr[data-zone=A]")
            page.wait_for_selector(".leaflet-popup .zone-popup[data-zone=A]", timeout=10_000)
            page.wait_for_timeout(500)  # the popup's fade-in
            page.screenshot(path=str(shot), full_page=True)

            # a change job of two images, with the same zones; the model is still the chosen one
            page.click("#kind-change")
            page.set_input_files("#image", str(geotiff))
            page.set_input_files("#image2", str(later))
            page.set_input_files("#zones", str(zones))
            page.fill("#zone_id", "parcel")
            page.click("#start")
            page.wait_for_function("() => document.getElementById('result').dataset.status === 'done'"
                                   " && document.getElementById('result-title').textContent.includes('later.tif')",
                                   timeout=120_000)
            wait_for_map(page)
            assert page.input_value("#model") == "second" and page.is_checked("#kind-change")
            assert page.locator("#change-section").is_visible() and "Changed:" in page.inner_text("#change-headline")
            assert page.locator("#change-table tbody tr").count() == 6
            assert page.locator("#map path.zone").count() == 2 and page.locator("#map path.sample-point").count() == 0
            assert page.input_value("#colour-by") == "changed"
            assert not page.locator("#area-grid").is_visible() and not page.locator("#indicators-section").is_visible()
            assert page.locator("#legend li").count() == len(page.evaluate(
                "fetch('/api/jobs/' + location.hash.split('=')[1]).then(r => r.json()).then(j => j.result.legend)"))
            page.screenshot(path=str(tmp_path / "change.png"), full_page=True)

            # the API documentation, offline: Swagger UI from this server
            page.goto(base + "/docs")
            page.wait_for_selector(".swagger-ui .opblock-summary", timeout=30_000)
            assert page.locator(".swagger-ui .opblock").count() >= 5
            assert not problems, problems
            outside = [u for u in requests if not (u.startswith(base + "/") or u.startswith("data:"))]
            assert requests and not outside, outside
            assert any("/static/vendor/leaflet/leaflet.js" in u for u in requests)
            assert any("/static/vendor/swagger-ui/swagger-ui-bundle.js" in u for u in requests)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
