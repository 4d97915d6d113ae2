"""The README's screenshot of the web app's result page (docs/serve-map.png).

Usage: python tools/serve_screenshot.py [--out docs/serve-map.png] [--chromium /usr/bin/chromium]

Runs ``landseg serve``'s app with the bundled default model on the bundled Dubai sample in a temporary
data folder, fills the page's form as a user would (a 3 x 3 grid of blocks as zones with a coverage
limit, planning indicators, a 60-point reference sample) and saves the result: the map with the zones
coloured by the limit, the sample points and a zone's popup. The sample has
no georeferencing; the pixel size typed into the form (0.5 m) is an illustration, not a measured value.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import shapely
from PIL import Image

from landseg.assets import samples
from landseg.io.vector import write_features
from landseg.serve.app import create_app, model_choices

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from loopback import running_server  # noqa: E402

GSD = 0.5
LIMITS = [0.35, 0.5, 0.1, 0.15, 0.3, 0.45, 0.12, 0.2, 0.55]  # maximum building coverage of each block


def grid_zones(width: int, height: int, path: Path) -> None:
    """A 3 x 3 grid of blocks in the class map's coordinates, a GeoPackage without CRS (the map has none;
    a GeoJSON would mean EPSG:4326): a class map without georeferencing is in pixels, x = column, y = row."""
    geoms, names = [], []
    for i in range(3):
        for j in range(3):
            c0, c1 = (j * width) // 3 + 20, ((j + 1) * width) // 3 - 20
            r0, r1 = (i * height) // 3 + 20, ((i + 1) * height) // 3 - 20
            geoms.append(shapely.box(c0, r0, c1, r1))
            names.append(f"{'ABC'[i]}{j + 1}")
    write_features(path, np.array(geoms, dtype=object), {"block": np.array(names, dtype=object),
                                                         "max_cover": np.array(LIMITS)}, None, layer="blocks")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "serve-map.png"))
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    image = next(p for p in samples() if p.suffix == ".jpg")
    with tempfile.TemporaryDirectory() as tmp:
        zones = Path(tmp) / "blocks.gpkg"
        grid_zones(*Image.open(image).size, zones)
        app = create_app(model_choices(), Path(tmp) / "serve")
        with running_server(app) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(base + "/")
            page.wait_for_selector(f"#sample option[value='{image.name}']", state="attached")
            page.select_option("#sample", image.name)
            page.click("#zones-options summary")
            page.set_input_files("#zones", str(zones))
            page.fill("#zone_id", "block")
            page.check("#indicators")
            page.fill("#limits", "max_cover:building_coverage")
            page.click("#sample-options summary")
            page.fill("#sample_points", "60")
            page.click("text=Pixel size (images without georeferencing)")
            page.fill("#gsd", str(GSD))
            page.click("#start")
            page.wait_for_selector("#result[data-status=done]", timeout=600_000)
            page.wait_for_selector("#map[data-ready='1']", timeout=60_000)
            page.wait_for_timeout(500)
            job = page.evaluate("fetch('/api/jobs/' + location.hash.split('=')[1]).then(r => r.json())")
            if job["result"]["warnings"] or not page.locator("#map path.zone").count():
                raise SystemExit(f"zones not drawn: {job['result']['warnings']}")
            zone = page.locator("#map path.zone[data-zone=B2]")
            zone.scroll_into_view_if_needed()
            spot = page.evaluate("""z => {  // a spot of the zone that no sample point covers
                const b = z.getBoundingClientRect();
                for (let y = b.bottom - 15; y > b.top; y -= 7) for (let x = b.left + 20; x < b.right; x += 7)
                    if (document.elementFromPoint(x, y) === z) return [x, y];
                return null; }""", zone.element_handle())
            page.mouse.click(*spot)
            page.wait_for_selector(".leaflet-popup .zone-popup", timeout=10_000)
            page.wait_for_timeout(1500)  # the popup's fade-in and the map's pan
            box = page.evaluate("""() => {  // page coordinates: the result card from its title to the map's legend
                const a = document.getElementById('result').getBoundingClientRect();
                const b = document.getElementById('map-note').getBoundingClientRect();
                return {x: a.left + scrollX, y: a.top + scrollY, width: a.width, height: b.bottom - a.top + 8}; }""")
            page.screenshot(path=args.out, full_page=True, clip=box)
            browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
