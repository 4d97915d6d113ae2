"""A user's own image/mask folders: find the pairs under SRC."""

from __future__ import annotations

import re
from pathlib import Path

from landseg.data.prepare import TileSource
from landseg.errors import InputError
from landseg.io.files import read_lines

IMAGE_DIRS = ("images", "image", "imgs", "img", "img_dir")
MASK_DIRS = ("masks", "mask", "labels", "label", "gt", "ann", "ann_dir", "annotations")
EXTS = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
_MASK_SUFFIX = re.compile(r"[_-](mask|label|labels|gt)$", re.I)


def _tile_id(rel: Path) -> str:
    parts = [p for p in rel.parts[:-1] if p.lower() not in IMAGE_DIRS] + [rel.stem]
    return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "_", p) for p in parts)


def folder_sources(src: str | Path) -> tuple[list[TileSource], list[str]]:
    """Pair every image in an ``images/`` folder with the mask of the same name in its sibling ``masks/``.

    Several such folder pairs may sit anywhere under ``src`` (e.g. ``Tile 1/images``,
    ``Tile 1/masks``). Tile ids are the path without the ``images`` part, e.g. ``Tile_1__image_part_001``.
    """
    src = Path(src)
    if not src.is_dir():
        raise InputError(f"{src}: source folder not found" if not src.exists() else f"{src}: expected a folder")
    image_dirs = sorted(d for d in [src, *src.rglob("*")] if d.is_dir() and d.name.lower() in IMAGE_DIRS)
    if not image_dirs:
        raise InputError(
            f"{src}: no image folder found; expected images/ and masks/ folders (names: "
            f"{'/'.join(IMAGE_DIRS)} and {'/'.join(MASK_DIRS)}) with matching file names"
        )
    sources, notes = [], []
    for idir in image_dirs:
        pairs, note = _pair_folder(src, idir)
        sources += pairs
        notes += [note] if note else []
    if not sources:
        raise InputError(f"{src}: the image folders hold no .tif/.png/.jpg files")
    return sources, notes


def _masks_dir(idir: Path) -> Path:
    """The masks folder beside image folder ``idir`` (names: :data:`MASK_DIRS`, any case)."""
    mdir = next((idir.parent / m for m in MASK_DIRS if (idir.parent / m).is_dir()), None)
    if mdir is None:
        mdir = next((d for d in idir.parent.iterdir() if d.is_dir() and d.name.lower() in MASK_DIRS), None)
    if mdir is None:
        raise InputError(f"{idir}: no sibling masks folder ({' / '.join(MASK_DIRS)}) next to this image folder")
    return mdir


def _pair_folder(src: Path, idir: Path) -> tuple[list[TileSource], str | None]:
    """The (image, mask) pairs of one image folder and its masks folder, and a note on masks without an image."""
    mdir = _masks_dir(idir)
    images = sorted(p for p in idir.iterdir() if p.suffix.lower() in EXTS and not p.name.startswith("."))
    masks: dict[str, list[Path]] = {}
    for p in sorted(mdir.iterdir()):
        if p.suffix.lower() in EXTS and not p.name.startswith("."):
            masks.setdefault(_MASK_SUFFIX.sub("", p.stem), []).append(p)
    sources, used = [], set()
    for img in images:
        found = masks.get(img.stem) or masks.get(_MASK_SUFFIX.sub("", img.stem)) or []
        if len(found) > 1:
            raise InputError(
                f"image {img} matches {len(found)} masks: {', '.join(p.name for p in found)} in {mdir}; "
                "keep one of them (move or rename the others) so the pairing is unambiguous"
            )
        if not found:
            raise InputError(
                f"image {img} has no mask: expected {mdir / (img.stem + '.png')} (or .tif/.jpg, "
                "optionally with a _mask/_label suffix)"
            )
        used.add(found[0])
        sources.append(TileSource(_tile_id(img.relative_to(src)), str(img), str(found[0])))
    extra = sorted({p for ps in masks.values() for p in ps} - used)
    note = (f"{len(extra)} masks in {mdir} have no image and were skipped: " + ", ".join(p.name for p in extra[:5])
            if extra else None)
    return sources, note


def read_list(path: str | Path) -> list[str]:
    """Tile ids or patterns from a text file, one per line (# comments allowed)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: split list not found")
    return [ln.split("#")[0].strip() for ln in read_lines(p) if ln.split("#")[0].strip()]
