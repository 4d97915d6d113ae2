"""ISPRS 2D Semantic Labeling archives (Potsdam, Vaihingen): file layout, tile ids, official splits.

The download unpacks to a folder whose sub-archives may still be zipped or already extracted;
both are read in place (zips through GDAL's ``/vsizip/``), extracted files winning over zipped ones.

Potsdam (38 tiles of 6000x6000, 5 cm, EPSG:32633)::

    2_Ortho_RGB.zip    -> 2_Ortho_RGB/top_potsdam_2_10_RGB.tif (+ .tfw)
    3_Ortho_IRRG.zip   -> 3_Ortho_IRRG/top_potsdam_2_10_IRRG.tif
    4_Ortho_RGBIR.zip  -> 4_Ortho_RGBIR/top_potsdam_2_10_RGBIR.tif
    5_Labels_all.zip   -> top_potsdam_2_10_label.tif               (at the zip root)
    5_Labels_all_noBoundary.zip -> top_potsdam_2_10_label_noBoundary.tif

Vaihingen (33 areas, 9 cm, IR-R-G, not georeferenced)::

    ISPRS_semantic_labeling_Vaihingen.zip -> top/top_mosaic_09cm_area1.tif
                                            (gts_for_participants/top_mosaic_09cm_area1.tif)
    ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip        -> top_mosaic_09cm_area1.tif
    ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE.zip -> top_mosaic_09cm_area1_noBoundary.tif

Some real label tiles are not pure colours (Potsdam 4_12 was re-encoded lossily, 6_7 codes cars as
(252, 255, 0)); ISPRS labels are therefore snapped to 0/255 per channel before the colour lookup.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from landseg.data.prepare import TileSource
from landseg.errors import InputError

POTSDAM_TRAIN = (
    "2_10 2_11 2_12 3_10 3_11 3_12 4_10 4_11 4_12 5_10 5_11 5_12 "
    "6_7 6_8 6_9 6_10 6_11 6_12 7_7 7_8 7_9 7_10 7_11 7_12"
).split()
POTSDAM_TEST = "2_13 2_14 3_13 3_14 4_13 4_14 4_15 5_13 5_14 5_15 6_13 6_14 6_15 7_13".split()
VAIHINGEN_TRAIN = [f"area{n}" for n in (1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34, 37)]
VAIHINGEN_TEST = [f"area{n}" for n in (2, 4, 6, 8, 10, 12, 14, 16, 20, 22, 24, 27, 29, 31, 33, 35, 38)]

POTSDAM_BANDS = {"rgb": ("RGB", ["red", "green", "blue"]), "irrg": ("IRRG", ["nir", "red", "green"]),
                 "rgbir": ("RGBIR", ["red", "green", "blue", "nir"])}
POTSDAM_CRS = "EPSG:32633"
POTSDAM_GSD = 0.05
VAIHINGEN_GSD = 0.09


@dataclass(frozen=True)
class Entry:
    """A .tif found in SRC: its GDAL path and the folders/zip names it sits in (lower case)."""

    path: str
    name: str
    containers: tuple[str, ...]


def scan(src: str | Path) -> list[Entry]:
    """All .tif files under ``src``, extracted or inside zips (one level of zips)."""
    src = Path(src)
    if not src.exists():
        raise InputError(f"{src}: source folder not found")
    if not src.is_dir():
        raise InputError(f"{src}: expected the folder the ISPRS download unpacks to, got a file")
    entries: dict[tuple[tuple[str, ...], str], Entry] = {}
    zipped: list[Entry] = []
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        if p.suffix.lower() in (".tif", ".tiff") and p.is_file():
            e = Entry(str(p), p.name, tuple(x.lower() for x in rel.parts[:-1]))
            entries[(e.containers, e.name)] = e
        elif p.suffix.lower() == ".zip" and p.is_file():
            try:
                with zipfile.ZipFile(p) as zf:
                    names = zf.namelist()
            except (zipfile.BadZipFile, OSError) as exc:
                raise InputError(f"{p}: not a readable zip archive ({exc}); download it again") from None
            for m in names:
                mp = PurePosixPath(m)
                if mp.suffix.lower() in (".tif", ".tiff"):
                    containers = tuple(x.lower() for x in (*rel.parts[:-1], p.stem, *mp.parts[:-1]))
                    zipped.append(Entry(f"/vsizip/{p}/{m}", mp.name, containers))
    for e in zipped:  # extracted copies win over zipped ones of the same name and folder
        key = (e.containers, e.name)
        if not any(k[1] == e.name and k[0][-1:] == e.containers[-1:] for k in entries):
            entries.setdefault(key, e)
    if not entries:
        raise InputError(f"{src}: no .tif files or zip archives holding them were found; is this the ISPRS download folder?")
    return list(entries.values())


def _split_for(tid: str, train: list[str], test: list[str]) -> str | None:
    return "train" if tid in train else "test" if tid in test else None


def potsdam_sources(src: str | Path, bands: str = "rgb") -> tuple[list[TileSource], list[str]]:
    """Tiles found in a Potsdam download; returns (sources, notes about what is missing)."""
    if bands not in POTSDAM_BANDS:
        raise InputError(f"--bands must be one of {', '.join(POTSDAM_BANDS)} for Potsdam, got {bands!r}")
    suffix = POTSDAM_BANDS[bands][0]
    entries = scan(src)
    img_re = re.compile(rf"^top_potsdam_(\d+_\d+)_{suffix}\.tif$", re.I)
    lbl_re = re.compile(r"^top_potsdam_(\d+_\d+)_label\.tif$", re.I)
    ero_re = re.compile(r"^top_potsdam_(\d+_\d+)_label_noboundary\.tif$", re.I)
    images, labels, eroded = {}, {}, {}
    for e in entries:
        for rx, d in ((img_re, images), (lbl_re, labels), (ero_re, eroded)):
            m = rx.match(e.name)
            if m:
                d.setdefault(m.group(1), e.path)
    if not images:
        other = sorted({n for e in entries for n in ("RGB", "IRRG", "RGBIR") if e.name.upper().endswith(f"_{n}.TIF")})
        hint = f" (found {', '.join(other)} images: use --bands {other[0].lower()})" if other else ""
        raise InputError(
            f"{src}: no Potsdam {suffix} images (top_potsdam_<r>_<c>_{suffix}.tif, in "
            f"{['2_Ortho_RGB', '3_Ortho_IRRG', '4_Ortho_RGBIR'][list(POTSDAM_BANDS).index(bands)]}[.zip]){hint}"
        )
    return _assemble(images, labels, eroded, POTSDAM_TRAIN, POTSDAM_TEST,
                     lambda t: f"top_potsdam_{t}_label.tif", src)


def vaihingen_sources(src: str | Path) -> tuple[list[TileSource], list[str]]:
    """Areas found in a Vaihingen download; returns (sources, notes about what is missing)."""
    entries = scan(src)
    rx = re.compile(r"^top_mosaic_09cm_(area\d+)(_noboundary)?\.tif$", re.I)
    images, labels, eroded = {}, {}, {}
    for e in entries:
        m = rx.match(e.name)
        if not m:
            continue
        tid = m.group(1).lower()
        where = " ".join(e.containers)
        if m.group(2):
            eroded.setdefault(tid, e.path)
        elif e.containers[-1:] == ("top",):
            images.setdefault(tid, e.path)
        elif "ground_truth" in where or "gts_for_participants" in where:
            if "eroded" not in where:
                labels.setdefault(tid, e.path)
    if not images:
        raise InputError(
            f"{src}: no Vaihingen images (top/top_mosaic_09cm_areaN.tif, from ISPRS_semantic_labeling_Vaihingen.zip)"
        )
    return _assemble(images, labels, eroded, VAIHINGEN_TRAIN, VAIHINGEN_TEST,
                     lambda t: f"top_mosaic_09cm_{t}.tif (ground_truth_COMPLETE)", src)


def _assemble(images, labels, eroded, train, test, label_name, src) -> tuple[list[TileSource], list[str]]:
    notes: list[str] = []
    missing_labels = sorted(set(images) - set(labels), key=_natural)
    if missing_labels:
        t = missing_labels[0]
        raise InputError(
            f"{src}: {len(missing_labels)} images have no label, e.g. {images[t]} needs {label_name(t)}; "
            "add the label archive (5_Labels_all / ground_truth_COMPLETE) or remove those images."
        )
    orphans = sorted(set(labels) - set(images), key=_natural)
    if orphans:
        notes.append(f"{len(orphans)} labels without an image were skipped: {', '.join(orphans)}")
    no_ero = sorted(set(images) - set(eroded), key=_natural)
    if no_ero:
        notes.append(f"{len(no_ero)} tiles have no eroded (noBoundary) label: {', '.join(no_ero)}")
    sources = []
    unknown = []
    for tid in sorted(images, key=_natural):
        split = _split_for(tid, train, test)
        if split is None:
            unknown.append(tid)
            continue
        sources.append(TileSource(tid, images[tid], labels[tid], eroded.get(tid), split))
    if unknown:
        notes.append(f"{len(unknown)} tiles are not in the official split and were skipped: {', '.join(unknown)}")
    for split, ids in (("train", train), ("test", test)):
        absent = [t for t in ids if t not in images]
        if absent:
            notes.append(f"{len(absent)} of the {len(ids)} official {split} tiles are absent: {', '.join(absent)}")
    return sources, notes


def _natural(s: str) -> list:
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", s)]
