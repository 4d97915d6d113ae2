"""Class tables: names, RGB colours and the ignore index, with exact colour<->index conversion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landseg.errors import ClassTableError

IGNORE_INDEX = 255
_UNKNOWN = 254  # LUT sentinel for colours outside the table (never a valid class index)

ROLES: dict[str, str] = {
    "building": "buildings",
    "sealed": "sealed surfaces (buildings and other impervious surfaces)",
    "green": "vegetation (any height)",
    "tree": "tree canopy",
    "water": "open water",
    "unknown": "cover not known (e.g. ISPRS clutter): counted in no other role, and its transitions in no gain or loss",
}
"""Optional class roles a table can declare; indicators, change and report figures use them (e.g. green -> sealed).
Edit them in the table file's ``roles`` mapping or on the command line (``--roles sealed=road,car``)."""

COVER_ROLES = ("unknown", "water", "sealed", "tree", "green")
"""The roles that partition the classes into land-cover groups for role-level transitions (``green->sealed``,
``stable tree``): each class falls in the first of these it has, else in ``other``. Trees are a group of their
own, so canopy change is stratified too; the ``green`` group is then the green classes other than trees."""


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """Pack an (..., 3) uint8 array into (...) uint32 values 0xRRGGBB."""
    rgb = np.asarray(rgb)
    return (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]


@dataclass(frozen=True)
class ClassTable:
    """An ordered set of classes. Class ``i`` has ``names[i]`` and ``colors[i]`` (RGB).

    ``ignore_colors`` are colours present in label files that mean "no label" (eroded
    boundaries, unlabelled areas); they convert to :data:`IGNORE_INDEX`.
    """

    name: str
    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    ignore_colors: tuple[tuple[int, int, int], ...] = ()
    ignore_index: int = IGNORE_INDEX
    roles: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), compare=False)
    _lut: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_classes()
        self._check_roles()

    def _check_classes(self) -> None:
        """Names and colours: one of each per class (at most 250), colours (R, G, B) of 0-255, none used twice."""
        if not self.names:
            raise ClassTableError(f"class table {self.name!r} has no classes")
        if len(self.names) != len(self.colors):
            raise ClassTableError(
                f"class table {self.name!r}: {len(self.names)} names but {len(self.colors)} colours"
            )
        if len(self.names) > 250:
            raise ClassTableError(f"class table {self.name!r}: at most 250 classes, got {len(self.names)}")
        if len(set(self.names)) != len(self.names):
            raise ClassTableError(f"class table {self.name!r}: duplicate class names {list(self.names)}")
        for c in (*self.colors, *self.ignore_colors):
            if len(c) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in c):
                raise ClassTableError(f"class table {self.name!r}: colour {c} is not an (R, G, B) triple of 0-255")
        all_colors = [tuple(c) for c in (*self.colors, *self.ignore_colors)]
        if len(set(all_colors)) != len(all_colors):
            raise ClassTableError(f"class table {self.name!r}: a colour is used twice")

    def _check_roles(self) -> None:
        """Roles: known ones, naming classes of the table; a class 'unknown' has no other role."""
        for role, members in self.roles:
            if role not in ROLES:
                raise ClassTableError(f"class table {self.name!r}: unknown role {role!r}; roles are {', '.join(ROLES)}")
            unknown = [m for m in members if m not in self.names]
            if unknown:
                raise ClassTableError(f"class table {self.name!r}: role {role!r} names unknown classes {unknown}; "
                                      f"the classes are {', '.join(self.names)}")
        unknown_role = {m for r, members in self.roles if r == "unknown" for m in members}
        clash = sorted({m for r, members in self.roles if r != "unknown" for m in members} & unknown_role)
        if clash:
            raise ClassTableError(f"class table {self.name!r}: {', '.join(clash)} cannot have the 'unknown' role and "
                                  "another role at once")

    def role(self, role: str) -> list[int]:
        """Indices of the classes with ``role`` (empty when the table does not declare it)."""
        if role not in ROLES:
            raise ClassTableError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        return [self.names.index(m) for r, members in self.roles if r == role for m in members]

    def role_map(self) -> dict[str, list[str]]:
        """The declared roles as {role: [class names]}."""
        return {r: list(m) for r, m in self.roles}

    def with_roles(self, assignments: Sequence[str] | None) -> ClassTable:
        """This table with the roles of ``assignments`` (``ROLE=CLASS[,CLASS...]``, as ``--roles`` takes them)
        replacing its own for those roles; ``ROLE=`` (nothing after ``=``) removes a role. The other roles stay."""
        if not assignments:
            return self
        given: dict[str, tuple[str, ...]] = {}
        for spec in assignments:
            role, sep, members = str(spec).partition("=")
            role = role.strip()
            if not sep or not role:
                raise ClassTableError(f"--roles {spec!r}: use ROLE=CLASS[,CLASS...], e.g. sealed=impervious_surface,car")
            if role not in ROLES:
                raise ClassTableError(f"--roles {spec!r}: unknown role {role!r}; roles are {', '.join(ROLES)}")
            names = tuple(m.strip() for m in members.split(",") if m.strip())
            bad = [m for m in names if m not in self.names]
            if bad:
                raise ClassTableError(f"--roles {spec!r}: {', '.join(bad)} not in the {self.name!r} class table; "
                                      f"its classes are {', '.join(self.names)}")
            given[role] = names
        roles = dict(self.roles)
        roles.update(given)
        kept = tuple((r, m) for r, m in roles.items() if m)
        return ClassTable(self.name, self.names, self.colors, self.ignore_colors, self.ignore_index, roles=kept)

    def cover_groups(self) -> tuple[list[str], np.ndarray]:
        """Land-cover groups of the classes for role-level transitions: (group names, group index per class).

        A class's group is the first role of :data:`COVER_ROLES` it has (unknown, water, sealed, tree, green),
        else ``other``; only groups that hold a class are listed."""
        of = []
        for i in range(self.num_classes):
            of.append(next((r for r in COVER_ROLES if i in self.role(r)), "other"))
        groups = [g for g in (*COVER_ROLES, "other") if g in of]
        return groups, np.array([groups.index(g) for g in of], dtype=np.int64)

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.names)

    def index_of(self, name: str) -> int:
        """Index of class ``name``; an unknown name raises with the valid names."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ClassTableError(
                f"unknown class {name!r}; the {self.name!r} table has: {', '.join(self.names)}"
            ) from None

    def indices_of(self, names: str | Sequence[str] | None) -> list[int]:
        """Indices for a comma-separated string or list of class names (all if None)."""
        if names is None:
            return list(range(self.num_classes))
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        return [self.index_of(n) for n in names]

    # -- conversion ---------------------------------------------------------------------
    def _color_lut(self) -> np.ndarray:
        if self._lut is None:
            lut = np.full(1 << 24, _UNKNOWN, dtype=np.uint8)
            for i, c in enumerate(self.colors):
                lut[pack_rgb(np.array(c, dtype=np.uint8))] = i
            for c in self.ignore_colors:
                lut[pack_rgb(np.array(c, dtype=np.uint8))] = self.ignore_index
            object.__setattr__(self, "_lut", lut)
        return self._lut  # type: ignore[return-value]

    def rgb_to_index(self, rgb: np.ndarray, *, source: str = "label", unknown_to_ignore: bool = False,
                     binarize: bool = False) -> np.ndarray:
        """Convert an (H, W, 3) uint8 colour label into an (H, W) uint8 index label.

        One table lookup on packed 24-bit colours. A colour outside the table raises a
        :class:`ClassTableError` naming ``source``, the colour and its pixel count, unless
        ``unknown_to_ignore`` is set, in which case such pixels become the ignore index.
        ``binarize`` snaps each channel to 0/255 first (labels whose colours are all 0/255
        combinations but carry compression noise, as some ISPRS tiles do).
        """
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[-1] != 3:
            raise ClassTableError(f"{source}: expected an RGB label (H, W, 3), got shape {rgb.shape}")
        return self.bands_to_index(rgb[..., 0], rgb[..., 1], rgb[..., 2], source=source,
                                   unknown_to_ignore=unknown_to_ignore, binarize=binarize)

    def bands_to_index(self, r: np.ndarray, g: np.ndarray, b: np.ndarray, *, source: str = "label",
                       unknown_to_ignore: bool = False, binarize: bool = False,
                       stats: dict[str, int] | None = None) -> np.ndarray:
        """:meth:`rgb_to_index` on separate (H, W) uint8 channel arrays (as rasterio reads them).

        ``binarize`` snaps a channel to 0 or 255 only within :data:`SNAP_TOLERANCE` of it (compression noise,
        Potsdam 6_7's (252, 255, 0) cars); a pixel with a channel further off is a colour outside the table.
        ``stats`` (if given) accumulates ``snapped`` (pixels changed by snapping) and ``ignored`` (colours outside
        the table made ignore by ``unknown_to_ignore``).
        """
        for ch in (r, g, b):
            if ch.dtype != np.uint8:
                raise ClassTableError(f"{source}: expected 8-bit colours, got {ch.dtype}")
        lut = self._color_lut()
        if binarize:  # 3-bit code per pixel, then an 8-entry table: no 24-bit packing needed
            code = (r >> 7) << 2
            code |= (g >> 7) << 1
            code |= b >> 7
            bits = np.arange(8)
            snapped = ((bits >> 2) & 1) * 0xFF0000 + ((bits >> 1) & 1) * 0x00FF00 + (bits & 1) * 0x0000FF
            out = lut[snapped][code]
            lo, hi = SNAP_TOLERANCE, 255 - SNAP_TOLERANCE
            far = ((r > lo) & (r < hi)) | ((g > lo) & (g < hi)) | ((b > lo) & (b < hi))
            out[far] = _UNKNOWN
            if stats is not None:
                exact = ((r == 0) | (r == 255)) & ((g == 0) | (g == 255)) & ((b == 0) | (b == 255))
                stats["snapped"] = stats.get("snapped", 0) + int((~exact & ~far).sum())
            packed = None
        else:
            packed = r.astype(np.uint32)
            packed <<= 8
            packed |= g
            packed <<= 8
            packed |= b
            out = lut[packed]
        bad = out == _UNKNOWN
        if bad.any():
            if unknown_to_ignore:
                out[bad] = self.ignore_index
                if stats is not None:
                    stats["ignored"] = stats.get("ignored", 0) + int(bad.sum())
            else:
                if packed is None:
                    packed = pack_rgb(np.stack([r, g, b], -1))
                colors, counts = np.unique(packed[bad], return_counts=True)
                order = np.argsort(-counts)[:5]
                desc = ", ".join(
                    f"({c >> 16 & 255}, {c >> 8 & 255}, {c & 255}): {n} px" for c, n in zip(colors[order], counts[order])
                )
                raise ClassTableError(
                    f"{source}: {int(bad.sum())} pixels have colours outside the {self.name!r} class table "
                    f"({len(colors)} distinct; most common {desc}). Fix the label, use another --class-table, "
                    "or pass --unknown-to-ignore to treat them as unlabelled."
                )
        return out

    def check_indices(self, index: np.ndarray, *, source: str = "label", unknown_to_ignore: bool = False) -> np.ndarray:
        """Validate an index label: values must be class indices or the ignore index."""
        index = np.asarray(index)
        if index.dtype.kind not in "ui":
            raise ClassTableError(f"{source}: an index label must be integer, got {index.dtype}")
        counts = np.bincount(index.ravel().astype(np.int64, copy=False).clip(0, 256), minlength=257)
        bad_values = [v for v in np.nonzero(counts)[0] if v >= self.num_classes and v != self.ignore_index]
        if index.min(initial=0) < 0:
            raise ClassTableError(f"{source}: negative values in an index label")
        if bad_values:
            if unknown_to_ignore:
                index = index.astype(np.uint8, copy=True)
                index[(index >= self.num_classes) & (index != self.ignore_index)] = self.ignore_index
                return index
            desc = ", ".join(f"{v}: {counts[v]} px" for v in bad_values[:5])
            raise ClassTableError(
                f"{source}: values outside the {self.name!r} table (valid 0-{self.num_classes - 1} and "
                f"{self.ignore_index} for ignore): {desc}"
            )
        return index.astype(np.uint8, copy=False)

    def index_to_rgb(self, index: np.ndarray, ignore_color: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
        """Colour an (H, W) index array; ignore/unknown values get ``ignore_color``."""
        palette = np.zeros((256, 3), dtype=np.uint8)
        palette[:] = ignore_color
        palette[: self.num_classes] = self.colors
        return palette[np.asarray(index, dtype=np.uint8)]

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        """A rasterio colour map (index -> RGBA) with the classes and a transparent ignore."""
        cmap = {i: (0, 0, 0, 0) for i in range(256)}
        for i, c in enumerate(self.colors):
            cmap[i] = (*c, 255)
        return cmap

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The table as a mapping (the YAML/JSON class-table format; roles only when declared)."""
        d: dict[str, Any] = {
            "name": self.name,
            "classes": [{"name": n, "color": list(c)} for n, c in zip(self.names, self.colors)],
            "ignore_colors": [list(c) for c in self.ignore_colors],
            "ignore_index": self.ignore_index,
        }
        if self.roles:
            d["roles"] = self.role_map()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "class table") -> ClassTable:
        """A table from its mapping (:meth:`to_dict`'s format); :class:`ClassTableError` naming ``source``."""
        try:
            classes = d["classes"]
            names = tuple(str(c["name"]) for c in classes)
            colors = tuple(_parse_color(c["color"], source) for c in classes)
            ignore = tuple(_parse_color(c, source) for c in d.get("ignore_colors", []))
            ignore_index = int(d.get("ignore_index", IGNORE_INDEX))
            roles = _parse_roles(d.get("roles") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise ClassTableError(
                f"{source}: expected {{'classes': [{{'name': ..., 'color': [r, g, b]}}, ...]}}; problem: {exc!r}"
            ) from None
        if ignore_index != IGNORE_INDEX:
            raise ClassTableError(f"{source}: ignore_index must be {IGNORE_INDEX}, got {ignore_index}")
        return cls(str(d.get("name", Path(source).stem)), names, colors, ignore, roles=roles)


def _parse_roles(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``{role: [names]}`` (a single name may be a string) as a tuple of pairs."""
    if not isinstance(value, dict):
        raise TypeError(f"roles must be a mapping of role -> [class names], got {value!r}")
    return tuple((str(r), (str(m),) if isinstance(m, str) else tuple(str(x) for x in m)) for r, m in value.items())


def _parse_color(value: Any, source: str) -> tuple[int, int, int]:
    if isinstance(value, str):
        s = value.lstrip("#")
        if len(s) != 6:
            raise ValueError(f"colour {value!r} is not #RRGGBB")
        return (int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16))
    r, g, b = (int(v) for v in value)
    return (r, g, b)


# Label colour snapping (``binarize``): a channel within this of 0 or 255 is taken as 0 or 255. Real ISPRS
# tiles need it (Potsdam 4_12 re-encoded lossily, 6_7's cars are (252, 255, 0)); a channel further off (e.g.
# grey 128) is not noise, and the pixel is a colour outside the table rather than a guess.
SNAP_TOLERANCE = 40

ISPRS = ClassTable(
    "isprs",
    ("impervious_surface", "building", "low_vegetation", "tree", "car", "clutter"),
    ((255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0), (255, 0, 0)),
    ignore_colors=((0, 0, 0),),  # eroded boundaries in the noBoundary labels
    # parked cars stand on sealed ground; clutter (bins, containers, construction, water, ...) is unknown
    roles=(("building", ("building",)), ("sealed", ("building", "impervious_surface", "car")),
           ("green", ("low_vegetation", "tree")), ("tree", ("tree",)), ("unknown", ("clutter",))),
)

# Humans in the Loop "Semantic segmentation of aerial imagery" (Dubai): the colours its masks
# really contain (they differ from the dataset's classes.json). Unlabeled grey and stray black are ignore.
DUBAI = ClassTable(
    "dubai",
    ("building", "land", "road", "vegetation", "water"),
    ((60, 16, 152), (132, 41, 246), (110, 193, 228), (254, 221, 58), (226, 169, 41)),
    ignore_colors=((155, 155, 155), (0, 0, 0)),
    roles=(("building", ("building",)), ("sealed", ("building", "road")), ("green", ("vegetation",)),
           ("water", ("water",))),  # no tree class: "vegetation" mixes trees, shrubs and lawns
)

PRESETS: dict[str, ClassTable] = {"isprs": ISPRS, "dubai": DUBAI}
