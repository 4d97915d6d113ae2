"""Strata of a change sample: the from->to transitions of ``landseg change``, or their role-level groups.

A transition map holds codes ``from * K + to`` of a K-class table. Sampling it by transition gives K²
strata; by role (``--strata roles``) the classes are first put in land-cover groups
(:meth:`landseg.classes.ClassTable.cover_groups`: unknown, water, sealed, tree, green, other) and the strata are
the group transitions, ``stable green``, ``green->sealed`` and so on. The same mapping turns a point's
reference pair (class before, class after) into its reference category, so the error matrix is square.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from landseg.classes import IGNORE_INDEX, ClassTable
from landseg.errors import InputError

STRATIFICATIONS = ("transitions", "roles")


@dataclass(frozen=True)
class ChangeStrata:
    """Strata of a change sample over a ``table`` (the classes of both dates) by ``kind``."""

    table: ClassTable
    kind: str  # "transitions" or "roles"

    def __post_init__(self) -> None:
        if self.kind not in STRATIFICATIONS:
            raise InputError(f"--strata {self.kind!r}: use one of {', '.join(STRATIFICATIONS)}")

    @cached_property
    def groups(self) -> tuple[list[str], np.ndarray]:
        """(group names, group per class): the classes themselves for ``transitions``."""
        if self.kind == "transitions":
            return list(self.table.names), np.arange(self.table.num_classes)
        return self.table.cover_groups()

    @cached_property
    def names(self) -> list[str]:
        """The strata names: ``from->to`` per transition or per role group."""
        names, _ = self.groups
        if self.kind == "transitions":
            return [f"{a}->{b}" for a in names for b in names]
        return [f"stable {a}" if a == b else f"{a}->{b}" for a in names for b in names]

    def of_pair(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """Stratum (or reference category) of class pairs; -1 where either is not a class."""
        _, group = self.groups
        g = len(self.groups[0])
        b, a = np.asarray(before, dtype=np.int64), np.asarray(after, dtype=np.int64)
        k = self.table.num_classes
        ok = (b >= 0) & (b < k) & (a >= 0) & (a < k)
        out = np.full(b.shape, -1, dtype=np.int64)
        out[ok] = group[b[ok]] * g + group[a[ok]]
        return out

    @cached_property
    def _pair_of_code(self) -> np.ndarray:
        k = self.table.num_classes
        codes = np.arange(k * k)
        return self.of_pair(codes // k, codes % k)

    def code_lut(self) -> np.ndarray:
        """Transition code (``from * K + to``, 0-255) -> stratum; 255 for nodata and codes outside the table."""
        k = self.table.num_classes
        lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
        codes = np.arange(k * k)
        lut[codes] = self.of_pair(codes // k, codes % k)
        return lut

    def aggregate(self, matrix: np.ndarray) -> np.ndarray:
        """A (K, K) from->to matrix (pixels or m²) summed into the strata (flat, stratum order)."""
        return np.bincount(self._pair_of_code, weights=np.asarray(matrix, dtype=np.float64).ravel(),
                           minlength=len(self.names))

    def to_dict(self) -> dict[str, Any]:
        """The stratification as recorded in the design sidecar."""
        names, group = self.groups
        return {"stratification": self.kind, "groups": names,
                "group_of_class": {c: names[int(group[i])] for i, c in enumerate(self.table.names)},
                "class_table": self.table.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str) -> ChangeStrata:
        """The stratification a design sidecar records; a damaged record is an InputError naming ``source``."""
        try:
            return cls(ClassTable.from_dict(d["class_table"], source=source), str(d["stratification"]))
        except (KeyError, TypeError) as exc:
            raise InputError(f"{source}: not a change-sample design ({exc!r} missing); draw the sample again "
                             "with landseg sample TRANSITIONS.tif") from None


__all__ = ["STRATIFICATIONS", "ChangeStrata"]
