"""Headless Chromium opens a generated report: the overlay rendered, the area table shows the numbers.

Needs Debian's ``chromium`` (``/usr/bin/chromium``; ``make browser-deps`` installs it) and the
``playwright`` Python package (no browser download: Playwright drives the system Chromium).
"""

import io
import json
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")


def _variance(png: bytes) -> float:
    from PIL import Image

    return float(np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float32).std())


def test_report_renders_in_chromium(tmp_path, tiny_checkpoint):
    from test_report import make_predict_folder

    from landseg.report import write_report

    folder, lab = make_predict_folder(tmp_path, tiny_checkpoint())
    html = tmp_path / "report.html"
    write_report(folder, html)
    areas = {c["name"]: c for c in json.loads((folder / "scene_areas.json").read_text())["classes"]}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.as_uri())
            page.wait_for_load_state("load")
            # both stacked images decoded, with the raster's size
            for sel in ("img.base", "img.overlay"):
                size = page.eval_on_selector(sel, "e => [e.complete, e.naturalWidth, e.naturalHeight]")
                assert size == [True, 240, 200], (sel, size)
            stack = page.locator(".stack").first
            assert stack.bounding_box()["width"] > 400
            shot = stack.screenshot()
            assert _variance(shot) > 20, "overlay looks blank"
            # the slider drives the overlay's opacity
            page.eval_on_selector("input.opacity", "e => { e.value = 0; e.dispatchEvent(new Event('input')); }")
            assert page.eval_on_selector("img.overlay", "e => getComputedStyle(e).opacity") == "0"
            no_overlay = stack.screenshot()
            assert no_overlay != shot
            page.eval_on_selector("input.opacity", "e => { e.value = 55; e.dispatchEvent(new Event('input')); }")
            # the area table shows the computed numbers
            for name in ("building", "tree", "impervious_surface"):
                text = page.inner_text(f'table.areas td.area-m2[data-class="{name}"]')
                assert text == f"{areas[name]['area_m2']:,.2f}"
                assert areas[name]["area_m2"] == pytest.approx((lab == ["impervious_surface", "building", "low_vegetation",
                                                                         "tree", "car", "clutter"].index(name)).sum() * 0.0025)
            assert page.locator("ul.legend li").count() == 6
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            assert errors == []
            assert all(u.startswith(("file:", "data:")) for u in requests), requests
        finally:
            browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000
