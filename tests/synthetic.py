"""Synthetic ISPRS downloads with the real names, zips, colours and georeferencing.

Scenes are drawn from class shapes (roads, buildings, trees, cars, clutter on low vegetation) and
images are coloured from the classes with noise, so a model can learn them. Used by the tests and
benchmarks; nothing here is committed as binary data.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from landseg.classes import ISPRS

# class indices in the ISPRS table
IMP, BLD, LOW, TREE, CAR, CLU = range(6)
CLASS_RGB = np.array([[190, 190, 185], [150, 80, 70], [110, 160, 80], [40, 100, 40], [30, 30, 200], [200, 60, 160]],
                     np.float32)
NIR = np.array([60, 80, 200, 220, 40, 120], np.float32)


def synth_scene(h: int, w: int, seed: int) -> np.ndarray:
    """An (h, w) class index map with realistic-ish shapes."""
    rng = np.random.default_rng(seed)
    lab = np.full((h, w), LOW, np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(max(2, h // 60)):  # roads
        if rng.random() < 0.5:
            r = rng.integers(0, h)
            lab[max(0, r - 8): r + 8, :] = IMP
        else:
            c = rng.integers(0, w)
            lab[:, max(0, c - 8): c + 8] = IMP
    for _ in range(max(2, h * w // 1200)):  # buildings
        r, c = rng.integers(0, h), rng.integers(0, w)
        bh, bw = rng.integers(12, 40, size=2)
        lab[r: r + bh, c: c + bw] = BLD
    for _ in range(max(2, h * w // 1500)):  # trees
        r, c, rad = rng.integers(0, h), rng.integers(0, w), rng.integers(5, 14)
        lab[(yy - r) ** 2 + (xx - c) ** 2 < rad**2] = TREE
    for _ in range(max(1, h * w // 5000)):  # clutter
        r, c = rng.integers(0, h), rng.integers(0, w)
        lab[r: r + rng.integers(4, 12), c: c + rng.integers(4, 12)] = CLU
    imp = np.argwhere(lab == IMP)
    for _ in range(max(1, h * w // 2000)):  # cars on roads
        if len(imp):
            r, c = imp[rng.integers(len(imp))]
            lab[r: r + 4, c: c + 8] = CAR
    return lab


def synth_image(lab: np.ndarray, seed: int, bands: str = "rgb") -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    rgb = CLASS_RGB[lab] + rng.normal(0, 12, lab.shape + (3,))
    nir = NIR[lab] + rng.normal(0, 12, lab.shape)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    stack = {"rgb": [r, g, b], "irrg": [nir, r, g], "rgbir": [r, g, b, nir]}[bands]
    return np.clip(np.stack(stack), 0, 255).astype(np.uint8)


def eroded(lab: np.ndarray, width: int = 1) -> np.ndarray:
    """Index label with class boundaries set to 255 (as the ISPRS noBoundary labels)."""
    out = lab.copy()
    edge = np.zeros(lab.shape, bool)
    edge[:-1] |= lab[:-1] != lab[1:]
    edge[1:] |= lab[:-1] != lab[1:]
    edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    edge[:, 1:] |= lab[:, :-1] != lab[:, 1:]
    out[edge] = 255
    return out


def colour(lab: np.ndarray) -> np.ndarray:
    """(3, h, w) colour label; 255 -> black."""
    return np.moveaxis(ISPRS.index_to_rgb(lab, ignore_color=(0, 0, 0)), -1, 0)


def _write_tif(path: Path, data: np.ndarray, crs=None, transform=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    prof = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype="uint8")
    if crs:
        prof.update(crs=crs, transform=transform)
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(data)


def _zip_dir(folder: Path, zpath: Path) -> None:
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(folder).as_posix())


def _pack(root: Path, staging: Path) -> Path:
    """Zip each staged sub-archive folder into ``root/<name>.zip``, as the ISPRS downloads ship."""
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    for sub in sorted(staging.iterdir()):
        _zip_dir(sub, root / f"{sub.name}.zip")
    shutil.rmtree(staging)
    return root


POTSDAM_ORIGIN = (366976.5, 5808562.6)  # tile 2_10's corner in EPSG:32633 (torchgeo's fixture)


def potsdam_download(root: Path, tiles: list[str], size: int = 192, *, zipped: bool = True) -> Path:
    """Write a Potsdam download (sub-archives zipped or extracted) for ``tiles`` such as '2_10'."""
    root = Path(root)
    staging = root / ".staging" if zipped else root
    for t in tiles:
        r, c = (int(x) for x in t.split("_"))
        seed = r * 100 + c
        lab = synth_scene(size, size, seed)
        x0 = POTSDAM_ORIGIN[0] + (c - 10) * size * 0.05
        y0 = POTSDAM_ORIGIN[1] - (r - 2) * size * 0.05
        tr = from_origin(x0, y0, 0.05, 0.05)
        for folder, suffix, bands in (("2_Ortho_RGB", "RGB", "rgb"), ("3_Ortho_IRRG", "IRRG", "irrg"),
                                      ("4_Ortho_RGBIR", "RGBIR", "rgbir")):
            _write_tif(staging / folder / folder / f"top_potsdam_{t}_{suffix}.tif", synth_image(lab, seed, bands),
                       "EPSG:32633", tr)
        _write_tif(staging / "5_Labels_all" / f"top_potsdam_{t}_label.tif", colour(lab))
        _write_tif(staging / "5_Labels_all_noBoundary" / f"top_potsdam_{t}_label_noBoundary.tif", colour(eroded(lab)))
    return _pack(root, staging) if zipped else root


def vaihingen_download(root: Path, areas: list[int], size: int = 160, *, zipped: bool = True) -> Path:
    root = Path(root)
    staging = root / ".staging" if zipped else root
    for n in areas:
        lab = synth_scene(size, size + 17 * (n % 3), 5000 + n)
        _write_tif(staging / "ISPRS_semantic_labeling_Vaihingen" / "top" / f"top_mosaic_09cm_area{n}.tif",
                   synth_image(lab, 5000 + n, "irrg"))
        _write_tif(staging / "ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE" / f"top_mosaic_09cm_area{n}.tif",
                   colour(lab))
        _write_tif(staging / "ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE"
                   / f"top_mosaic_09cm_area{n}_noBoundary.tif", colour(eroded(lab)))
    return _pack(root, staging) if zipped else root
