"""Label rasters: THE one decoder of class maps and colour, palette or index labels.

* :func:`read_label` / :func:`label_to_index`: whole-window decoding (data preparation, evaluation);
* :class:`LabelReader`: strip-by-strip decoding with nodata/mask handling (area measures, vectorize);
* the class-table metadata tags landseg writes into its class GeoTIFFs (:data:`CLASS_TABLE_TAG`,
  :data:`CLASS_NAMES_TAG`), read by :func:`table_from_raster` and written from :func:`class_table_tags`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import rasterio
from rasterio.enums import MaskFlags
from rasterio.windows import Window

from landseg.classes import IGNORE_INDEX, PRESETS, ClassTable
from landseg.errors import ClassTableError, InputError
from landseg.io.files import read_structured
from landseg.io.raster import open_raster, read_window

CLASS_TABLE_TAG = "LANDSEG_CLASS_TABLE"
"""GeoTIFF metadata tag in which landseg stores ``ClassTable.to_dict()`` as JSON."""

CLASS_NAMES_TAG = "CLASS_NAMES"
"""GeoTIFF metadata tag with the class names, comma-separated (for other tools)."""

UNKNOWN_CODE = 254  # LUT sentinel: a raster value outside the class table (never a class index)
MASKED_CODE = 256  # code for pixels masked out by nodata/alpha (beyond the 0-255 value range)
NBINS = 257


def load_class_table(spec: str | Path | ClassTable) -> ClassTable:
    """A preset name (``isprs``, ``dubai``) or a path to a YAML/JSON class-table file."""
    if isinstance(spec, ClassTable):
        return spec
    key = str(spec)
    if key.lower() in PRESETS:
        return PRESETS[key.lower()]
    path = Path(key)
    if not path.exists():
        raise ClassTableError(
            f"class table {key!r} is neither a preset ({', '.join(PRESETS)}) nor an existing YAML/JSON file"
        )
    try:
        data = read_structured(path)
    except Exception as exc:  # noqa: BLE001 - any read or parse error is a user error here
        raise ClassTableError(f"{path}: cannot parse class table: {exc}") from None
    if not isinstance(data, dict):
        raise ClassTableError(f"{path}: expected a mapping with a 'classes' list")
    return ClassTable.from_dict(data, source=str(path))


def _union(a: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """``a | b``, or ``a`` without ``b``."""
    return a if b is None else a | b


def class_names_tag(table: ClassTable) -> str:
    """The value of :data:`CLASS_NAMES_TAG` for a table."""
    return ",".join(table.names)


def class_table_tags(table: ClassTable) -> dict[str, str]:
    """The class-table tags of a landseg class GeoTIFF: the table as JSON and the class names."""
    return {CLASS_TABLE_TAG: json.dumps(table.to_dict()), CLASS_NAMES_TAG: class_names_tag(table)}


def label_kind(ds: rasterio.DatasetReader) -> str:
    """'rgb', 'palette' or 'index' for a label raster."""
    if ds.count >= 3:
        return "rgb"
    try:
        ds.colormap(1)
        return "palette"
    except ValueError:
        return "index"


def label_to_index(
    data: np.ndarray,
    kind: str,
    table: ClassTable,
    *,
    palette: np.ndarray | None = None,
    source: str = "label",
    unknown_to_ignore: bool = False,
    binarize: bool = False,
    stats: dict[str, int] | None = None,
) -> np.ndarray:
    """Convert label pixels read with rasterio (bands first) into class indices.

    ``binarize`` snaps each channel to 0/255 before the lookup, within
    :data:`~landseg.classes.SNAP_TOLERANCE` (for labels whose colours are all 0/255 combinations but carry
    compression noise, as some ISPRS tiles do). ``stats`` counts snapped and ignored pixels
    (:meth:`ClassTable.bands_to_index`).
    """
    if kind == "index":
        return table.check_indices(data[0], source=source, unknown_to_ignore=unknown_to_ignore)
    if kind == "palette":
        assert palette is not None
        idx = data[0]
        r, g, b = palette[idx, 0], palette[idx, 1], palette[idx, 2]
    else:
        if data.dtype != np.uint8:
            raise InputError(f"{source}: a colour label must be 8-bit, got {data.dtype}")
        r, g, b = data[0], data[1], data[2]
    return table.bands_to_index(r, g, b, source=source, unknown_to_ignore=unknown_to_ignore, binarize=binarize,
                                stats=stats)


def palette_array(ds: rasterio.DatasetReader) -> np.ndarray:
    """The raster's colour map as a (256, 3) uint8 RGB array (entries it does not define are black)."""
    cmap = ds.colormap(1)
    pal = np.zeros((256, 3), dtype=np.uint8)
    for k, v in cmap.items():
        if 0 <= k < 256:
            pal[k] = v[:3]
    return pal


def read_label(path: str | Path, table: ClassTable, *, window: Window | None = None, **kw: Any) -> np.ndarray:
    """Read a label raster (colour, palette or index) as a uint8 index array."""
    with open_raster(path) as ds:
        kind = label_kind(ds)
        data = read_window(ds, window, indexes=list(range(1, 4)) if kind == "rgb" else [1])
        pal = palette_array(ds) if kind == "palette" else None
    return label_to_index(data, kind, table, palette=pal, source=str(path), **kw)


def table_from_raster(ds: rasterio.DatasetReader) -> ClassTable | None:
    """The class table landseg embedded in a class GeoTIFF (tag :data:`CLASS_TABLE_TAG`), if any."""
    text = ds.tags().get(CLASS_TABLE_TAG)
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ClassTableError(f"{ds.name}: the {CLASS_TABLE_TAG} tag is not valid JSON ({exc})") from None
    return ClassTable.from_dict(data, source=f"{ds.name} ({CLASS_TABLE_TAG} tag)")


def resolve_table(ds: rasterio.DatasetReader, table: str | Path | ClassTable | None) -> ClassTable:
    """``table`` if given (preset, file or table), else the table embedded in the raster."""
    if table is not None:
        return load_class_table(table)
    embedded = table_from_raster(ds)
    if embedded is None:
        raise InputError(
            f"{Path(ds.name).name}: no class table: the raster is not a landseg class map with an embedded "
            "table; pass --class-table (a preset: isprs, dubai; or a YAML/JSON file)"
        )
    return embedded


CHANGE_TAG = "LANDSEG_CHANGE"
"""Tag of a transition map (``landseg change``): JSON with the two maps, the code rule and the class table."""


def change_info(ds: rasterio.DatasetReader) -> dict[str, Any] | None:
    """The :data:`CHANGE_TAG` record of a transition map, or None for any other raster."""
    text = ds.tags().get(CHANGE_TAG)
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def change_table(ds: rasterio.DatasetReader) -> ClassTable | None:
    """The class table of both dates of a transition map (None for other rasters). Maps written before the
    table was recorded name only the classes: a preset with those names stands in."""
    info = change_info(ds)
    if info is None:
        return None
    if isinstance(info.get("class_table"), dict):
        return ClassTable.from_dict(info["class_table"], source=f"{Path(ds.name).name} ({CHANGE_TAG})")
    names = tuple(info.get("classes") or ())
    for preset in PRESETS.values():
        if preset.names == names:
            return preset
    raise InputError(f"{Path(ds.name).name}: a transition map without its class table; run landseg change again")


def table_with_roles(raster: str | Path, table: str | Path | ClassTable | None,
                     roles: Sequence[str] | None) -> str | Path | ClassTable | None:
    """``table`` (or the raster's embedded one) with ``--roles ROLE=CLASS,...`` applied; ``table`` itself
    when no roles are given."""
    if not roles:
        return table
    with open_raster(raster) as ds:
        return resolve_table(ds, table).with_roles(roles)


class LabelReader:
    """Reads class indices strip by strip from a class map or label raster (index, palette, RGB).

    :meth:`codes` gives raw codes (0-255, or 256 for masked pixels) that map to class indices through
    ``lut`` (255 for nodata/ignore, 254 for values outside the table); counting raw codes first and
    mapping the counts is the fast path of :func:`class_areas`.
    """

    def __init__(self, ds: rasterio.DatasetReader, table: ClassTable, source: str | None = None, *,
                 unknown_to_ignore: bool = False) -> None:
        """``unknown_to_ignore``: values and colours outside the table count as ignore instead of raising."""
        self.ds = ds
        self.unknown_to_ignore = unknown_to_ignore
        self.table = table
        self.source = source or ds.name
        dtype = np.dtype(ds.dtypes[0])
        if dtype.kind not in "uif" or (dtype.kind == "f" and ds.count >= 3):
            raise ClassTableError(
                f"{self.source}: {dtype} data is not a class map; expected integer class indices (a landseg "
                "class GeoTIFF or an index label) or an 8-bit colour label"
            )
        self.dtype = dtype
        self.kind = label_kind(ds)
        if self.kind == "rgb" and dtype != np.uint8:
            raise ClassTableError(f"{self.source}: a colour label must be 8-bit, got {dtype}")
        flags = ds.mask_flag_enums[0]
        self.masked = MaskFlags.per_dataset in flags or MaskFlags.alpha in flags
        self.nodata = ds.nodata
        if self.nodata is not None and (not math.isfinite(self.nodata) or self.nodata != int(self.nodata)):
            self.nodata = None  # a float nodata cannot occur in integer data
        nc = table.num_classes
        lut = np.full(NBINS, UNKNOWN_CODE, dtype=np.uint8)
        self.palette: np.ndarray | None = None
        if self.kind == "palette":
            self.palette = palette_array(ds)
            colour_index = {tuple(c): i for i, c in enumerate(table.colors)}
            colour_index.update({tuple(c): IGNORE_INDEX for c in table.ignore_colors})
            for k in range(256):
                lut[k] = colour_index.get(tuple(int(v) for v in self.palette[k]), UNKNOWN_CODE)
        else:  # index values, or class indices from rgb_to_index
            lut[:nc] = np.arange(nc, dtype=np.uint8)
            lut[IGNORE_INDEX] = IGNORE_INDEX
        if self.nodata is not None and self.kind != "rgb" and 0 <= self.nodata <= 255:
            lut[int(self.nodata)] = IGNORE_INDEX
        lut[MASKED_CODE] = IGNORE_INDEX
        if unknown_to_ignore:
            lut[lut == UNKNOWN_CODE] = IGNORE_INDEX
        self.lut = lut

    def _mask(self, window: Window) -> np.ndarray | None:
        if not self.masked:
            return None
        return self.ds.read_masks(1, window=window) == 0

    def codes(self, window: Window) -> np.ndarray:
        """Raw codes of a window: uint8, or uint16 with 256 where pixels are masked/nodata."""
        if self.kind == "rgb":
            return self._rgb_codes(window)
        data = read_window(self.ds, window, indexes=1)
        off = self._mask(window)
        if data.dtype.kind == "f":
            data, off = self._float_indices(data, off)
        if data.dtype != np.uint8:
            data, off = self._byte_range(data, off)
        if off is not None and off.any():
            data = data.astype(np.uint16, copy=False)
            data[off] = MASKED_CODE
        return data

    def _rgb_codes(self, window: Window) -> np.ndarray:
        """A colour label's window as class indices; nodata and masked pixels as :data:`IGNORE_INDEX`."""
        data = read_window(self.ds, window, indexes=[1, 2, 3])
        rgb = np.moveaxis(data, 0, -1)
        off = np.zeros(rgb.shape[:2], dtype=bool)
        if self.nodata is not None:
            off |= np.all(data == self.nodata, axis=0)
        off = _union(off, self._mask(window))
        if off.any():
            rgb = rgb.copy()
            rgb[off] = self.table.colors[0]
        index = self.table.rgb_to_index(rgb, source=self.source, unknown_to_ignore=self.unknown_to_ignore)
        if off.any():
            index[off] = IGNORE_INDEX
        return index

    def _float_indices(self, data: np.ndarray, off: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Float class indices as integers: NaN/inf are nodata (added to ``off``), fractions are not classes."""
        bad = ~np.isfinite(data)
        if bad.any():
            off = _union(bad, off)
            data = np.where(bad, 0, data)
        frac = data != np.round(data)
        if frac.any():
            vals, counts = np.unique(data[frac], return_counts=True)
            raise ClassTableError(
                f"{self.source}: {int(counts.sum())} {self.dtype} pixels hold fractional values (e.g. "
                f"{', '.join(f'{v:g}' for v in vals[:4])}), which are not class indices; is this a class map?")
        return data.astype(np.int64), off

    def _byte_range(self, data: np.ndarray, off: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Wider integers as 0-255 codes: a nodata outside that range joins ``off``, other values outside it too
        with ``unknown_to_ignore`` (else :class:`ClassTableError` naming them)."""
        out_of_range = (data < 0) | (data > 255)
        if self.nodata is not None:
            is_nodata = data == self.nodata
            out_of_range &= ~is_nodata
            if not (0 <= self.nodata <= 255):
                off = _union(is_nodata, off)
        if out_of_range.any():
            if not self.unknown_to_ignore:
                vals, counts = np.unique(data[out_of_range], return_counts=True)
                self._raise_unknown(vals, counts)
            off = _union(out_of_range, off)
        return data.astype(np.uint16 if off is not None else np.uint8), off

    def index(self, window: Window) -> np.ndarray:
        """Class indices (uint8) of a window, 255 for nodata/ignore; values outside the table raise."""
        codes = self.codes(window)
        cls = self.lut[codes]
        bad = cls == UNKNOWN_CODE
        if bad.any():
            vals, counts = np.unique(codes[bad], return_counts=True)
            self._raise_unknown(vals, counts)
        return cls

    def check_counts(self, code_counts: np.ndarray) -> None:
        """Raise if any counted code is outside the table."""
        bad = np.nonzero((self.lut == UNKNOWN_CODE) & (code_counts > 0))[0]
        if bad.size:
            self._raise_unknown(bad, code_counts[bad])

    def _raise_unknown(self, values: np.ndarray, counts: np.ndarray) -> NoReturn:
        order = np.argsort(-np.asarray(counts))[:6]
        t = self.table
        if self.kind == "palette":
            assert self.palette is not None
            desc = ", ".join(f"index {int(values[i])} = {tuple(int(v) for v in self.palette[int(values[i])])}: "
                             f"{int(counts[i])} px" for i in order)
            raise ClassTableError(
                f"{self.source}: {int(np.sum(counts))} pixels have palette colours outside the {t.name!r} class "
                f"table ({desc}); pass the class table the label was drawn with (--class-table)"
            )
        nodata = f", nodata {self.nodata:g}" if self.nodata is not None else ""
        desc = ", ".join(f"{int(values[i])}: {int(counts[i])} px" for i in order)
        raise ClassTableError(
            f"{self.source}: values outside the {t.name!r} class table (valid 0-{t.num_classes - 1}, "
            f"{t.ignore_index} for ignore{nodata}): {desc}; is this a class map, and is --class-table the "
            "table it was made with? (area and vectorize take --unknown-to-ignore to leave such values out)"
        )


def class_map_tags(table: ClassTable, model_name: str = "", extra: dict[str, str] | None = None) -> dict[str, str]:
    """The tags of a class map: class table (JSON), model, class names (one tag, and ``CLASS_<i>`` each), extras."""
    tags = {CLASS_TABLE_TAG: json.dumps(table.to_dict()), "LANDSEG_MODEL": model_name,
            CLASS_NAMES_TAG: class_names_tag(table), **(extra or {})}
    tags.update({f"CLASS_{i}": n for i, n in enumerate(table.names)})
    return tags


def read_class_table(path: str | Path) -> ClassTable | None:
    """The class table embedded in the class GeoTIFF at ``path``, if any."""
    with open_raster(path) as ds:
        return table_from_raster(ds)
