"""From a source layout (ISPRS Potsdam, ISPRS Vaihingen, image/mask folders) to a prepared dataset.

:func:`ingest` finds the tiles of a source, assigns the splits and runs :func:`prepare_dataset`;
it is the library call behind ``landseg prepare``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from landseg.data import folder, isprs
from landseg.data.prepare import PrepareOptions, assign_splits, prepare_dataset
from landseg.data.vector import vector_sources
from landseg.errors import InputError
from landseg.io.labels import load_class_table
from landseg.io.raster import open_raster

KINDS = ("potsdam", "vaihingen", "folder", "vector")


def ingest(
    kind: str,
    src: str | Path,
    dest: str | Path,
    *,
    bands: str | None = None,
    class_table: str | None = None,
    test: Sequence[str] = (),
    val: Sequence[str] = (),
    test_list: str | None = None,
    val_list: str | None = None,
    val_fraction: float = 0.15,
    seed: int = 0,
    export_patches: int | None = None,
    unknown_to_ignore: bool = False,
    gsd: float | None = None,
    overwrite: bool = False,
    on_note: Callable[[str], None] | None = None,
    labels: str | None = None,
    class_field: str | None = None,
    background: str | None = None,
) -> dict[str, Any]:
    """Prepare ``src`` of layout ``kind`` into ``dest`` and return the manifest.

    ``on_note`` receives what was noticed about the source (missing tiles, naming variants) before
    the work starts.
    """
    test, val = list(test), list(val)
    if test_list:
        test += folder.read_list(test_list)
    if val_list:
        val += folder.read_list(val_list)
    if kind == "potsdam":
        bands = bands or "rgb"
        sources, notes = isprs.potsdam_sources(src, bands)
        names = isprs.POTSDAM_BANDS[bands][1]
        table = load_class_table(class_table or "isprs")
        extra: dict[str, Any] = dict(expected_band_count=len(names), binarize_labels=True,
                                     default_crs=isprs.POTSDAM_CRS, gsd=gsd or isprs.POTSDAM_GSD)
        info: dict[str, Any] = {"scheme": "official ISPRS Potsdam split (24 train / 14 test tiles, as torchgeo and "
                                          "mmsegmentation)"}
    elif kind == "vaihingen":
        if bands not in (None, "irrg"):
            raise InputError(f"Vaihingen imagery is IRRG (near-infrared, red, green); --bands {bands} is not available")
        sources, notes = isprs.vaihingen_sources(src)
        names = isprs.POTSDAM_BANDS["irrg"][1]
        table = load_class_table(class_table or "isprs")
        extra = dict(expected_band_count=3, binarize_labels=True, gsd=gsd or isprs.VAIHINGEN_GSD)
        info = {"scheme": "official ISPRS Vaihingen split (16 train / 17 test areas)"}
    elif kind == "vector":
        if not class_table or not labels or not class_field:
            raise InputError("prepare vector needs --labels FILE, --class-field FIELD and --class-table (a preset or a "
                             "YAML/JSON file)")
        table = load_class_table(class_table)
        sources = vector_sources(src, dest, labels, class_field, table, background, on_note)
        notes = []
        names = [b.strip() for b in bands.split(",")] if bands else []
        extra = dict(gsd=gsd, expected_band_count=len(names) or None)
        info = {"scheme": "patterns", "test": test, "labels": str(labels), "class_field": class_field,
                "background": background}
    elif kind == "folder":
        if not class_table:
            raise InputError("prepare folder needs --class-table (a preset: isprs, dubai; or a YAML/JSON file)")
        table = load_class_table(class_table)
        sources, notes = folder.folder_sources(src)
        names = [b.strip() for b in bands.split(",")] if bands else []
        if names and (not all(names) or len(set(names)) != len(names)):
            raise InputError(f"--bands expects distinct comma-separated band names (e.g. red,green,blue), got {bands!r}")
        extra = dict(gsd=gsd, expected_band_count=len(names) or None)
        info = {"scheme": "patterns", "test": test}
    else:
        raise InputError(f"unknown source layout {kind!r}; expected one of {', '.join(KINDS)}")
    if kind in ("folder", "vector"):
        split = assign_splits([s.tile_id for s in sources], test=test, val=val, val_fraction=val_fraction, seed=seed)
    else:
        train_ids = [s.tile_id for s in sources if s.split == "train"]
        inner = assign_splits(train_ids, val=val, val_fraction=val_fraction, seed=seed)
        split = {s.tile_id: inner.get(s.tile_id, s.split) for s in sources}
    for s in sources:
        s.split = split[s.tile_id]
    info.update(val=val or f"random {val_fraction:.0%} of training tiles, seed {seed}",
                val_fraction=val_fraction, seed=seed)
    if not names:
        with open_raster(sources[0].image) as ds:
            names = (["red", "green", "blue", "nir"][: ds.count] if ds.count in (3, 4)
                     else [f"b{i + 1}" for i in range(ds.count)])
    for note in notes:
        if on_note is not None:
            on_note(note)
    opts = PrepareOptions(
        dataset=kind, table=table, bands=names, unknown_to_ignore=unknown_to_ignore,
        export_patches=export_patches, overwrite=overwrite, split_info=info, **extra,
    )
    return prepare_dataset(sources, dest, opts)
