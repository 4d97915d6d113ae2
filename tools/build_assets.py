"""Rebuild the bundled assets in src/landseg/assets/ from ../shared/realdata and a training run.

Usage: python tools/build_assets.py [--run RUN_DIR]
  --run: copy RUN_DIR/best.safetensors as the default model (weights stored in float16).
Samples are rebuilt every time; see src/landseg/assets/SOURCES.md for what they are.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from landseg.checkpoint import load_checkpoint, save_checkpoint
from landseg.classes import ISPRS
from landseg.io.raster import read_label

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "realdata"
ASSETS = ROOT / "src" / "landseg" / "assets"
DUBAI_TILE7 = REAL / "Kaarti22_satellite-imagery" / "Semantic segmentation dataset" / "Tile 7"
SAMPLE_PART = "image_part_006"


def build_samples() -> None:
    out = ASSETS / "samples"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DUBAI_TILE7 / "images" / f"{SAMPLE_PART}.jpg", out / "dubai_tile7_part006.jpg")
    shutil.copyfile(DUBAI_TILE7 / "masks" / f"{SAMPLE_PART}.png", out / "dubai_tile7_part006_mask.png")
    # Potsdam 4_13 label crop, georeferenced as its RGB crop (EPSG:32633, 5 cm, origin from the DINO sample).
    label = read_label(REAL / "derived" / "potsdam_4_13_y00_x00" / "top_potsdam_4_13_label_y00_x00.png", ISPRS)
    with rasterio.open(REAL / "rfaulk_DINO_Soars" / "CAFe_DINO" / "sample_images" / "top_potsdam_4_13_RGB_y00_x00.tif") as ds:
        crs, transform = ds.crs, ds.transform
    assert abs(transform.a - 0.05) < 1e-9 and label.shape == (1000, 1000)
    prof = dict(driver="GTiff", width=1000, height=1000, count=1, dtype="uint8", crs=crs, transform=transform,
                nodata=255, compress="deflate", tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(out / "potsdam_4_13_label.tif", "w", **prof) as ds:
        ds.write(label[None])
        ds.write_colormap(1, ISPRS.colormap())
        ds.update_tags(LANDSEG_CLASS_TABLE=json.dumps(ISPRS.to_dict()), CLASS_NAMES=",".join(ISPRS.names))


def build_model(run: Path) -> None:
    ck = load_checkpoint(run / "best.safetensors")
    ck.state_dict = {k: (v.half() if v.is_floating_point() else v) for k, v in ck.state_dict.items()}
    save_checkpoint(ck, ASSETS / "default.safetensors")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path)
    a = ap.parse_args()
    build_samples()
    if a.run:
        build_model(a.run)
    print("assets rebuilt in", ASSETS)
