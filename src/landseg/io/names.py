"""Names of files in messages that name several files: short, but never two alike."""

from __future__ import annotations

from pathlib import Path


def distinct_names(*paths: str | Path) -> list[str]:
    """How to name ``paths`` in one message: their base names when those differ, else (``a/x.tif`` and
    ``b/x.tif``) the shortest trailing parts of their paths that tell them apart, else (the same file
    given twice, or paths that differ only above the working folder) the full paths."""
    ps = [Path(p) for p in paths]
    full = [p.resolve() if p.exists() or p.is_absolute() else Path.cwd() / p for p in ps]
    for k in range(1, max((len(f.parts) for f in full), default=1) + 1):
        cand = [str(Path(*f.parts[-k:])) for f in full]
        if len(set(cand)) == len(cand):
            return [str(Path(*p.parts[-k:])) if len(p.parts) >= k else c for p, c in zip(ps, cand)]
    return [str(f) for f in full]


__all__ = ["distinct_names"]
