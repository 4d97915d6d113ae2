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
            page.wait_for_function("() => { const i = document.getElementById('layer-img');"
                                   " return i.complete && i.naturalWidth > 0 }", timeout=30_000)
            page.wait_for_function("() => { const i = document.getElementById('base-img');"
                                   " return i.complete && i.naturalWidth > 0 }", timeout=30_000)
            job_id = page.evaluate("location.hash").split("=", 1)[1]
            painted = page.evaluate("""() => {
                const img = document.getElementById('layer-img'), c = document.createElement('canvas');
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
            assert page.eval_on_selector("#layer-img", "i => i.style.opacity") == "0.3"
            page.locator("#opacity").fill("60")
            page.screenshot(path=str(shot), full_page=True)
            assert not problems, problems
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
