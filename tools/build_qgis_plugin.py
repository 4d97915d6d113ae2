"""Build the installable QGIS plugin zip (``make qgis-plugin``): dist/landseg_provider-VERSION.zip.

The zip holds one top-level folder ``landseg_provider/`` (what QGIS's "Install from ZIP" expects),
the plugin's files from qgis/landseg_provider without caches, and metadata.txt with the version of
the landseg package it was built from.
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "qgis" / "landseg_provider"


def version() -> str:
    m = re.search(r'^__version__ = "([^"]+)"', (ROOT / "src" / "landseg" / "__init__.py").read_text(), re.M)
    if not m:
        raise SystemExit("src/landseg/__init__.py: no __version__ found")
    return m.group(1)


def build(out_dir: Path) -> Path:
    ver = version()
    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / f"landseg_provider-{ver}.zip"
    tmp = dst.with_name(dst.name + ".part")
    files = sorted(p for p in PLUGIN.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix not in (".pyc", ".pyo"))
    if not (PLUGIN / "metadata.txt").exists() or not (PLUGIN / "__init__.py").exists():
        raise SystemExit(f"{PLUGIN}: metadata.txt and __init__.py are required")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for p in files:
            arc = f"landseg_provider/{p.relative_to(PLUGIN).as_posix()}"
            data = p.read_bytes()
            if p.name == "metadata.txt":
                data = re.sub(rb"^version=.*$", f"version={ver}".encode(), data, flags=re.M)
            z.writestr(arc, data)
    tmp.replace(dst)
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default dist/)")
    args = ap.parse_args(argv)
    print(build(Path(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
