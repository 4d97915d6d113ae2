"""From a source layout (ISPRS Potsdam, ISPRS Vaihingen, image/mask folders, vector labels) to a prepared dataset.

One function per layout (:func:`ingest_potsdam`, :func:`ingest_vaihingen`, :func:`ingest_folder`,
:func:`ingest_vector`; :data:`INGEST` maps ``landseg prepare``'s KIND to them) finds the tiles of a source, with
the options every layout shares in :class:`IngestOptions`; :func:`finish` assigns the splits and runs
:func:`prepare_dataset`. They are the library calls behind ``landseg prepare``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landseg.classes import ClassTable
from landseg.data import folder, isprs
from landseg.data.prepare import PrepareOptions, TileSource, assign_splits, prepare_dataset
from landseg.data.vector import vector_sources
from landseg.errors import InputError
from landseg.io.labels import load_class_table
from landseg.io.raster import open_raster


@dataclass
class IngestOptions:
    """What every source layout takes (``landseg prepare``'s shared options)."""

    bands: str | None = None  # --bands: a preset (potsdam: rgb, irrg, ...) or comma-separated band names
    class_table: str | None = None  # a preset (isprs, dubai) or a YAML/JSON file
    test: Sequence[str] = ()  # test tile ids or glob patterns
    val: Sequence[str] = ()  # validation tile ids or glob patterns
    test_list: str | None = None  # a file of more test ids/patterns, one per line
    val_list: str | None = None  # the same for validation
    val_fraction: float = 0.15  # share of training tiles drawn for validation when no val pattern is given
    seed: int = 0
    export_patches: int | None = None
    unknown_to_ignore: bool = False
    gsd: float | None = None
    overwrite: bool = False
    on_note: Callable[[str], None] | None = None  # receives what was noticed about the source before the work starts

    def __post_init__(self) -> None:
        """The test and validation patterns completed with those of the list files (read here, first)."""
        test, val = list(self.test), list(self.val)
        if self.test_list:
            test += folder.read_list(self.test_list)
        if self.val_list:
            val += folder.read_list(self.val_list)
        self.test, self.val = test, val


@dataclass
class _Layout:
    """What a layout found: the tiles, notes, class table, band names and layout-specific prepare options."""

    kind: str
    sources: list[TileSource]
    notes: list[str]
    table: ClassTable
    names: list[str]
    info: dict[str, Any]
    extra: dict[str, Any]


def _band_names(bands: str | None) -> list[str]:
    """Comma-separated band names (none: read from the first image later)."""
    return [b.strip() for b in bands.split(",")] if bands else []


def ingest_potsdam(src: str | Path, dest: str | Path, opts: IngestOptions) -> dict[str, Any]:
    """ISPRS Potsdam (the archives or their unpacked folders) with its official split; returns the manifest."""
    bands = opts.bands or "rgb"
    sources, notes = isprs.potsdam_sources(src, bands)
    names = isprs.POTSDAM_BANDS[bands][1]
    extra = dict(expected_band_count=len(names), binarize_labels=True, default_crs=isprs.POTSDAM_CRS,
                 gsd=opts.gsd or isprs.POTSDAM_GSD)
    info = {"scheme": "official ISPRS Potsdam split (24 train / 14 test tiles, as torchgeo and mmsegmentation)"}
    layout = _Layout("potsdam", sources, notes, load_class_table(opts.class_table or "isprs"), names, info, extra)
    return finish(layout, dest, opts)


def ingest_vaihingen(src: str | Path, dest: str | Path, opts: IngestOptions) -> dict[str, Any]:
    """ISPRS Vaihingen (IRRG) with its official split; returns the manifest."""
    if opts.bands not in (None, "irrg"):
        raise InputError(f"Vaihingen imagery is IRRG (near-infrared, red, green); --bands {opts.bands} is not available")
    sources, notes = isprs.vaihingen_sources(src)
    extra = dict(expected_band_count=3, binarize_labels=True, gsd=opts.gsd or isprs.VAIHINGEN_GSD)
    info = {"scheme": "official ISPRS Vaihingen split (16 train / 17 test areas)"}
    layout = _Layout("vaihingen", sources, notes, load_class_table(opts.class_table or "isprs"),
                     isprs.POTSDAM_BANDS["irrg"][1], info, extra)
    return finish(layout, dest, opts)


def ingest_folder(src: str | Path, dest: str | Path, opts: IngestOptions) -> dict[str, Any]:
    """A user's images/ and masks/ folders (see :func:`~landseg.data.folder.folder_sources`); returns the manifest."""
    if not opts.class_table:
        raise InputError("prepare folder needs --class-table (a preset: isprs, dubai; or a YAML/JSON file)")
    table = load_class_table(opts.class_table)
    sources, notes = folder.folder_sources(src)
    names = _band_names(opts.bands)
    if names and (not all(names) or len(set(names)) != len(names)):
        raise InputError(f"--bands expects distinct comma-separated band names (e.g. red,green,blue), got {opts.bands!r}")
    extra = dict(gsd=opts.gsd, expected_band_count=len(names) or None)
    layout = _Layout("folder", sources, notes, table, names, {"scheme": "patterns", "test": list(opts.test)}, extra)
    return finish(layout, dest, opts)


def ingest_vector(src: str | Path, dest: str | Path, opts: IngestOptions, *, labels: str | None = None,
                  class_field: str | None = None, background: str | None = None) -> dict[str, Any]:
    """Images labelled by polygons (``labels``, class in ``class_field``; see :mod:`landseg.data.vector`),
    rasterised on each image's grid; returns the manifest."""
    if not opts.class_table or not labels or not class_field:
        raise InputError("prepare vector needs --labels FILE, --class-field FIELD and --class-table (a preset or a "
                         "YAML/JSON file)")
    table = load_class_table(opts.class_table)
    sources = vector_sources(src, dest, labels, class_field, table, background, opts.on_note)
    names = _band_names(opts.bands)
    info = {"scheme": "patterns", "test": list(opts.test), "labels": str(labels), "class_field": class_field,
            "background": background}
    layout = _Layout("vector", sources, [], table, names, info, dict(gsd=opts.gsd, expected_band_count=len(names) or None))
    return finish(layout, dest, opts)


INGEST: dict[str, Callable[..., dict[str, Any]]] = {
    "potsdam": ingest_potsdam, "vaihingen": ingest_vaihingen, "folder": ingest_folder, "vector": ingest_vector,
}
KINDS = tuple(INGEST)


def finish(layout: _Layout, dest: str | Path, opts: IngestOptions) -> dict[str, Any]:
    """Assign the splits of a layout's tiles (the ISPRS layouts keep their official test split), pass on its notes
    and prepare it into ``dest``; returns the manifest."""
    test, val = list(opts.test), list(opts.val)
    sources = layout.sources
    if layout.kind in ("folder", "vector"):
        split = assign_splits([s.tile_id for s in sources], test=test, val=val, val_fraction=opts.val_fraction,
                              seed=opts.seed)
    else:
        train_ids = [s.tile_id for s in sources if s.split == "train"]
        inner = assign_splits(train_ids, val=val, val_fraction=opts.val_fraction, seed=opts.seed)
        split = {s.tile_id: inner.get(s.tile_id, s.split) for s in sources}
    for s in sources:
        s.split = split[s.tile_id]
    info = {**layout.info, "val": val or f"random {opts.val_fraction:.0%} of training tiles, seed {opts.seed}",
            "val_fraction": opts.val_fraction, "seed": opts.seed}
    names = layout.names
    if not names:
        with open_raster(sources[0].image) as ds:
            names = (["red", "green", "blue", "nir"][: ds.count] if ds.count in (3, 4)
                     else [f"b{i + 1}" for i in range(ds.count)])
    for note in layout.notes:
        if opts.on_note is not None:
            opts.on_note(note)
    popts = PrepareOptions(
        dataset=layout.kind, table=layout.table, bands=names, unknown_to_ignore=opts.unknown_to_ignore,
        export_patches=opts.export_patches, overwrite=opts.overwrite, split_info=info, **layout.extra,
    )
    return prepare_dataset(sources, dest, popts)
