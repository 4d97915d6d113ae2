"""Import layering (issue 24, items 4 and 7): the commands that run no model never import torch, neither do the
packages below the library (area/, accuracy/, io/, report/), and nothing in the library imports the CLI.

Each check runs in a fresh interpreter: torch, once imported by anything in this test session, stays in
``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import shapely
from areahelpers import write_zones

import landseg
from landseg.change import detect_change

SRC = Path(landseg.__file__).parent
SAMPLE = SRC / "assets" / "samples" / "potsdam_4_13_label.tif"  # real Potsdam label, 1000x1000, 5 cm, EPSG:32633
X0, TOP = 367876.5, 5807962.6  # its upper-left corner (50 m x 50 m)

# landseg's own entry point (as the console script runs it), then which heavy modules were imported on the way
RUN_CLI = ("import sys\nfrom landseg.cli import main\ncode = main(sys.argv[1:])\n"
           "print('MODULES ' + ' '.join(m for m in ('torch', 'onnxruntime') if m in sys.modules))\n"
           "raise SystemExit(code)\n")


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Tiny real inputs: the bundled label as a class map (twice, for the two-date commands), two zones that
    split it, a predict folder, a change folder and a training-run folder for ``landseg report``."""
    d = tmp_path_factory.mktemp("imports")
    zones = write_zones(d / "zones.geojson", [shapely.box(X0, TOP - 50, X0 + 25, TOP), shapely.box(X0 + 25, TOP - 50,
                                                                                                   X0 + 50, TOP)],
                        ["west", "east"])
    (d / "pred").mkdir()
    shutil.copy(SAMPLE, d / "pred" / "tile_classes.tif")
    detect_change(SAMPLE, SAMPLE, d / "change")  # a change folder (in this process: the subprocess is what counts)
    (d / "run").mkdir()
    (d / "run" / "metrics.json").write_text(json.dumps({"history": [{"epoch": 1, "train_loss": 0.9, "val_mean_f1": 0.4}]}))
    return {"MAP": str(SAMPLE), "ZONES": str(zones), "DIR": str(d), "PRED": str(d / "pred"), "RUN": str(d / "run")}


ROLES = ["building=building", "tree=tree", "green=low_vegetation,tree"]  # the label's table declares none
# argv of each command that runs no model; names in capitals are replaced by the inputs above
COMMANDS = {
    "--help": ["--help"],
    "area": ["area", "MAP"],
    "area --zones --indicators": ["area", "MAP", "--zones", "ZONES", "--indicators"],
    "area --objects": ["area", "MAP", "--objects", "building", "--format", "json"],
    "sample": ["sample", "MAP", "--n", "30", "--out", "DIR/sample.gpkg", "--overwrite"],
    "change": ["change", "MAP", "MAP", "--out", "DIR/change2", "--zones", "ZONES"],
    "green": ["green", "MAP", "MAP", "--zones", "ZONES", "--out", "DIR/green", "--roles", *ROLES],
    "3-30-300": ["3-30-300", "MAP", "--zones", "ZONES", "--roles", *ROLES],
    "vectorize": ["vectorize", "MAP", "--out", "DIR/polygons.gpkg"],
    "report (predict folder)": ["report", "PRED"],
    "report (change folder)": ["report", "DIR/change", "--out", "DIR/change.html"],
    "report (training run, no samples)": ["report", "RUN", "--samples", "0"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_commands_that_run_no_model_never_import_torch(name, inputs):
    argv = []
    for a in COMMANDS[name]:
        for key, value in inputs.items():
            a = value + a[len(key):] if a.startswith(key) else a
        argv.append(a)
    r = _python(RUN_CLI, *argv)
    assert r.returncode == 0, r.stderr
    loaded = r.stdout.strip().splitlines()[-1]
    assert loaded == "MODULES", f"landseg {' '.join(argv)} imported {loaded.split()[1:]}"


# The packages below the library: they measure, estimate, read/write and render, and never run a model.
NO_TORCH = ["landseg.area", "landseg.accuracy", "landseg.io", "landseg.report"]

# Imports every module of a package in turn, in a fresh interpreter, and names the first that brought torch.
# Imports only ever add to sys.modules, so a module that pulls torch in when imported alone pulls it in here too.
IMPORT_EACH = """import importlib, pkgutil, sys
pkg = importlib.import_module(sys.argv[1])
names = [sys.argv[1]] + sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, sys.argv[1] + "."))
for name in names:
    importlib.import_module(name)
    if "torch" in sys.modules:
        raise SystemExit(f"{name} imports torch")
print(len(names), "modules")
"""


@pytest.mark.parametrize("package", NO_TORCH)
def test_packages_below_the_library_never_import_torch(package):
    r = _python(IMPORT_EACH, package)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split()[0]) == len(list((SRC / package.split(".")[1]).rglob("*.py")))  # every module tried


def _imported(tree: ast.AST, module: str) -> set[str]:
    """The absolute names a module's import statements (at any depth, so function-local ones too) name."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                base = ".".join(module.split(".")[:-node.level] + ([base] if base else []))
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return out


def test_nothing_in_the_library_imports_the_cli():
    """The CLI sits on top: only ``python -m landseg`` (``__main__``) imports it."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(("landseg", *path.relative_to(SRC).with_suffix("").parts))
        if module in ("landseg.cli", "landseg.__main__"):
            continue
        if any(n == "landseg.cli" or n.startswith("landseg.cli.") for n in _imported(ast.parse(path.read_text()),
                                                                                   module)):
            offenders.append(module)
    assert offenders == []
    assert "landseg.cli" in _imported(ast.parse((SRC / "__main__.py").read_text()), "landseg.__main__")


def test_import_scan_sees_every_form():
    """The scan above finds the CLI however it is imported: plain, from-import, relative, inside a function."""
    forms = ["import landseg.cli", "from landseg.cli import main", "from landseg import cli", "from . import cli",
             "def f():\n    from ..cli import main"]
    modules = ["landseg.x", "landseg.x", "landseg.x", "landseg.x", "landseg.sub.x"]
    for src, module in zip(forms, modules):
        assert "landseg.cli" in _imported(ast.parse(src), module), src
