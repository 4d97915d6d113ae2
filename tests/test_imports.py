"""Import layering (issue 24, items 4 and 7), as README's "Where things live" writes it.

Run in fresh interpreters (torch, once imported by anything in this test session, stays in ``sys.modules``): the
commands that run no model never import torch (nor the web extra), neither do the packages below the library
(area/, accuracy/, io/, report/).

Read from the source (``ast``, nothing imported), each failure naming the module and line:
* no import cycles between landseg's modules;
* only io/ opens files (see :data:`OPENS` for what counts, :data:`EXCEPTIONS` for the few modules allowed to, and why);
* area/, accuracy/, io/, report/ import no torch, directly or through any landseg module they import;
* nothing in the library imports the CLI (only ``__main__`` does).
"""

from __future__ import annotations

import ast
import functools
import json
import os
import shutil
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
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
           "print('MODULES ' + ' '.join(m for m in ('torch', 'onnxruntime', 'fastapi') if m in sys.modules))\n"
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
NO_TORCH = ["landseg.area", "landseg.accuracy", "landseg.io", "landseg.report", "landseg.layout", "landseg.results"]

# Imports every module of a package in turn, in a fresh interpreter, and names the first that brought torch.
# Imports only ever add to sys.modules, so a module that pulls torch in when imported alone pulls it in here too.
IMPORT_EACH = """import importlib, pkgutil, sys
pkg = importlib.import_module(sys.argv[1])
names = [sys.argv[1]] + sorted(m.name for m in pkgutil.walk_packages(getattr(pkg, "__path__", []), sys.argv[1] + "."))
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
    folder = SRC / package.split(".")[1]
    assert int(r.stdout.split()[0]) == (len(list(folder.rglob("*.py"))) if folder.is_dir() else 1)  # every module tried


# ---------------------------------------------------------------------------- the source, read (never imported)
def _module_of(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(("landseg", *(parts[:-1] if parts[-1] == "__init__" else parts)))


SOURCES = {_module_of(p): p for p in sorted(SRC.rglob("*.py"))}


def _where(module: str, line: int) -> str:
    return f"{module} ({SOURCES[module].relative_to(SRC.parent)}:{line})" if module in SOURCES else f"{module}:{line}"


def _imports(tree: ast.AST, module: str, is_package: bool = False) -> list[tuple[str, int]]:
    """(absolute name, line) of what a module's import statements (at any depth, so function-local ones too)
    name: ``import a.b`` -> a.b; ``from a import b, c`` -> a, a.b, a.c (b may be a module or a name in a)."""
    out = []
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            out += [(base, node.lineno)] + [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return out


def _imported(tree: ast.AST, module: str) -> set[str]:
    """The absolute names a module's import statements name (see :func:`_imports`)."""
    return {name for name, _ in _imports(tree, module)}


@functools.cache
def _tree(module: str) -> ast.Module:
    return ast.parse(SOURCES[module].read_text(), str(SOURCES[module]))


def _is_package(module: str) -> bool:
    return SOURCES[module].name == "__init__.py"


def _module_prefix(name: str) -> str | None:
    """The longest prefix of a dotted name that is a landseg module (``landseg.io.files.read_json`` -> io.files)."""
    while name not in SOURCES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in SOURCES else None


def _edges(module: str) -> dict[str, int]:
    """landseg module -> line of the first import of it, for each landseg module that ``module`` imports (at any
    depth). ``from A import b``: an edge to A.b where that is a module, else to A (b is a name A defines); parent
    packages, which Python runs first anyway, count only when a name is taken from them."""
    out: dict[str, int] = {}
    package = module.split(".") if _is_package(module) else module.split(".")[:-1]
    for node in ast.walk(_tree(module)):
        targets: list[str | None] = []
        if isinstance(node, ast.Import):
            targets = [_module_prefix(a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in SOURCES else _module_prefix(base) for a in node.names]
        for t in targets:
            if t is not None and t != module:
                out.setdefault(t, node.lineno)
    return out


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The import cycles, each a list of modules that each import the next (first == last, the smallest name first).
    graphlib names one cycle at a time; the cycle's last import is then set aside to look for the next one."""
    edges = {m: set(targets) for m, targets in graph.items()}
    found = []
    while True:
        try:
            TopologicalSorter(edges).prepare()  # a module's imports are its predecessors
        except CycleError as exc:
            nodes = exc.args[1][::-1][:-1]  # graphlib lists them against the import direction
            k = nodes.index(min(nodes))
            cycle = nodes[k:] + nodes[:k] + [nodes[k]]
            found.append(cycle)
            edges[cycle[-2]].discard(cycle[-1])
        else:
            return found


def _describe_cycle(graph: dict[str, dict[str, int]], cycle: list[str]) -> str:
    return " -> ".join([cycle[0]] + [f"{b} (imported at {_where(a, graph[a][b])})" for a, b in zip(cycle, cycle[1:])])


def test_no_import_cycles():
    graph = {m: _edges(m) for m in SOURCES}
    assert sum(map(len, graph.values())) > 100  # the scan sees landseg's imports
    found = _cycles(graph)
    cycles = [_describe_cycle(graph, c) for c in found]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_cycle_finder_names_the_cycle():
    graph = {"landseg.a": {"landseg.b": 3}, "landseg.b": {"landseg.c": 5}, "landseg.c": {"landseg.a": 7},
             "landseg.d": {"landseg.a": 1}}
    (cycle,) = _cycles(graph)
    assert cycle == ["landseg.a", "landseg.b", "landseg.c", "landseg.a"]
    assert _describe_cycle(graph, cycle) == ("landseg.a -> landseg.b (imported at landseg.a:3) -> landseg.c (imported "
                                             "at landseg.b:5) -> landseg.a (imported at landseg.c:7)")
    assert _cycles({"landseg.a": {"landseg.b": 1}, "landseg.b": {}}) == []
    two = _cycles({"landseg.a": {"landseg.b": 1}, "landseg.b": {"landseg.a": 2, "landseg.c": 3},
                   "landseg.c": {"landseg.b": 4}})
    assert sorted(map(frozenset, two), key=sorted) == [frozenset({"landseg.a", "landseg.b"}),
                                                        frozenset({"landseg.b", "landseg.c"})]


def test_edges_resolve_modules_and_names():
    assert "landseg.io.files" in _edges("landseg.io.raster")  # from landseg.io.files import atomic_output
    assert "landseg.errors" in _edges("landseg.io.raster")
    assert "landseg.io" not in _edges("landseg.io.raster")  # the package runs first, but no name is taken from it


# ---------------------------------------------------------------------------- only io/ opens files
# What "opens a file" means here: the calls that read or write a file's content, by path or handle. Moving, copying
# or removing whole files (os.replace, shutil.*, Path.unlink) is bookkeeping, not counted; neither is parsing text
# already read (json.loads, yaml.safe_load of a string). Writes into the temporary path that io.files.atomic_output
# yields are io's own protocol (io names, checks and renames the file) and allowed anywhere.
OPENS = {
    "open()": "builtin open",
    ".open()": "X.open(...): Path.open, rasterio.open, PIL's Image.open, ZipFile.open",
    ".read_text()": "Path.read_text", ".read_bytes()": "Path.read_bytes",
    ".write_text()": "Path.write_text", ".write_bytes()": "Path.write_bytes",
    "json.load()": "json.load on a file handle", "json.dump()": "json.dump on a file handle",
    ".savefig()": "matplotlib writing a figure file", ".save()": "PIL/pystac .save to a file (not an io.BytesIO)",
    "torch.load()": "torch.load", "torch.save()": "torch.save",
    "import pyogrio": "vector files", "import fiona": "vector files", "import sqlite3": "SQLite/GeoPackage files",
    "import safetensors": "checkpoint files",
}
FILE_LIBRARIES = ("pyogrio", "fiona", "sqlite3", "safetensors")

# Modules outside io/ allowed one kind of opening, and why. Listed per (module, kind): another kind in the same module
# still fails, and an entry that no longer matches anything fails too (remove it).
EXCEPTIONS = {
    ("landseg.models.checkpoint", "import safetensors"): "checkpoints are torch tensors, and io/ never imports torch",
    ("landseg.models.pretrained", "import safetensors"): "ImageNet weights are torch tensors (io/ never imports torch)",
    ("landseg.models.pretrained", "torch.load()"): "ImageNet weights published as .pth (io/ never imports torch)",
    ("landseg.inference.engine", "open()"): "reads the CPU's flags from /proc/cpuinfo, not a user's file",
    ("landseg.stac", ".save()"): "pystac writes the STAC catalogue's own JSON files (it resolves the links between "
                                 "catalogue, collection and items as it writes them)",
    ("landseg.serve.jobs", "import sqlite3"): "the web app's own job store (jobs.db), not a user's data",
    ("landseg.serve.jobs", "open()"): "the web app's lock file (one server per data folder)",
    ("landseg.serve.uploads", "open()"): "the upload itself: request bytes streamed into the job folder as they "
                                         "arrive, and formats sniffed by content before any reader sees the file",
    ("landseg.serve.uploads", "json.load()"): "GeoJSON uploads sniffed by content (is it a FeatureCollection?)",
}


def _temp_names(tree: ast.AST) -> set[str]:
    """Names bound by ``with atomic_output(...) as NAME`` and to in-memory buffers (``NAME = io.BytesIO()``)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and _called(call) == "atomic_output" and isinstance(item.optional_vars,
                                                                                                   ast.Name):
                    out.add(item.optional_vars.id)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _called(node.value) == "BytesIO":
            out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return out


def _called(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _opens(tree: ast.AST) -> list[tuple[str, int, str]]:
    """(kind of :data:`OPENS`, line, source) of each place a module opens a file, beyond io's temporary outputs."""
    temps = _temp_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [(f"import {n.split('.')[0]}", node.lineno, ast.unparse(node)) for n in names
                      if n.split(".")[0] in FILE_LIBRARIES]
            continue
        if not isinstance(node, ast.Call):
            continue
        f, first = node.func, node.args[0] if node.args else None
        on_temp = (isinstance(first, ast.Name) and first.id in temps) or (
            isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in temps)
        owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else None
        name = _called(node)
        if isinstance(f, ast.Name) and name == "open":
            kind = "open()"
        elif not isinstance(f, ast.Attribute):
            continue
        elif owner in ("json", "torch") and name in ("load", "dump", "save"):
            kind = f"{owner}.{name}()"
        elif name in ("open", "read_text", "read_bytes", "write_text", "write_bytes", "savefig", "save"):
            kind = f".{name}()"
        else:
            continue
        if kind in OPENS and not on_temp:
            found.append((kind, node.lineno, ast.unparse(node)[:80]))
    return found


def _file_openers() -> tuple[list[str], set[tuple[str, str]]]:
    """Messages for each opening outside io/ not excused, and the (module, kind) pairs seen."""
    offenders, seen = [], set()
    for module in SOURCES:
        if module == "landseg.io" or module.startswith("landseg.io."):
            continue
        for kind, line, src in _opens(_tree(module)):
            seen.add((module, kind))
            if (module, kind) not in EXCEPTIONS:
                offenders.append(f"{_where(module, line)} opens a file outside io/ ({kind} {OPENS[kind]}): {src}")
    return offenders, seen


def test_only_io_opens_files():
    offenders, seen = _file_openers()
    assert not offenders, ("only io/ opens files; read and write through landseg.io (or list a real exception in "
                           "tests/test_imports.py EXCEPTIONS with its reason):\n" + "\n".join(offenders))
    stale = sorted((set(EXCEPTIONS)) - seen)
    assert not stale, f"exceptions that no longer match anything (remove them): {stale}"


def test_file_scan_sees_every_form():
    """Each form counts; the same writes into atomic_output's temporary path or a BytesIO do not."""
    forms = {"open(p)": "open()", "p.open()": ".open()", "rasterio.open(p)": ".open()", "Image.open(p)": ".open()",
             "p.read_text()": ".read_text()", "p.read_bytes()": ".read_bytes()", "p.write_text(t)": ".write_text()",
             "p.write_bytes(b)": ".write_bytes()", "json.load(fh)": "json.load()", "json.dump(d, fh)": "json.dump()",
             "fig.savefig(p)": ".savefig()", "im.save(p)": ".save()", "torch.save(m, p)": "torch.save()",
             "import pyogrio": "import pyogrio", "from pyogrio.raw import read": "import pyogrio",
             "import sqlite3": "import sqlite3", "from safetensors.torch import load_file": "import safetensors"}
    for src, kind in forms.items():
        assert [k for k, _, _ in _opens(ast.parse(src))] == [kind], src
    allowed = ("with atomic_output(p) as tmp:\n    tmp.write_text(t)\n    fig.savefig(tmp)\n    open(tmp, 'w')\n"
               "buf = io.BytesIO()\nfig.savefig(buf)\nim.save(buf, format='PNG')\njson.loads(t)\nos.replace(a, b)")
    assert _opens(ast.parse(allowed)) == []


# ---------------------------------------------------------------------------- no torch below the library
def test_packages_below_the_library_import_no_torch_even_indirectly():
    """area/, accuracy/, io/, report/ import no torch, neither directly nor through a landseg module they import
    (at any depth, function-local imports too): the chain is named."""
    graph = {m: _edges(m) for m in SOURCES}
    torch_at = {m: line for m in SOURCES for name, line in _imports(_tree(m), m, _is_package(m))
                if name == "torch" or name.startswith("torch.")}
    offenders = []
    for start in sorted(m for m in SOURCES if any(m == p or m.startswith(p + ".") for p in NO_TORCH)):
        chain = {start: [start]}
        queue = [start]
        while queue:
            v = queue.pop(0)
            if v in torch_at:
                steps = chain[v]
                via = "".join(f" -> {b} ({_where(a, graph[a][b])})" for a, b in zip(steps, steps[1:]))
                offenders.append(f"{start}{via} imports torch at {_where(v, torch_at[v])}")
                break
            for w in sorted(graph[v]):
                if w not in chain:
                    chain[w] = chain[v] + [w]
                    queue.append(w)
    assert not offenders, "torch below the library:\n" + "\n".join(offenders)


# ---------------------------------------------------------------------------- the CLI sits on top
def test_nothing_in_the_library_imports_the_cli():
    """The CLI sits on top: only ``python -m landseg`` (``__main__``) imports it."""
    offenders = [f"{_where(m, line)} imports the CLI ({name})" for m in SOURCES if m not in ("landseg.cli",
                                                                                             "landseg.__main__")
                 for name, line in _imports(_tree(m), m, _is_package(m))
                 if name == "landseg.cli" or name.startswith("landseg.cli.")]
    assert not offenders, "\n".join(offenders)
    assert "landseg.cli" in _imported(_tree("landseg.__main__"), "landseg.__main__")


def test_import_scan_sees_every_form():
    """The scan above finds the CLI however it is imported: plain, from-import, relative, inside a function."""
    forms = ["import landseg.cli", "from landseg.cli import main", "from landseg import cli", "from . import cli",
             "def f():\n    from ..cli import main"]
    modules = ["landseg.x", "landseg.x", "landseg.x", "landseg.x", "landseg.sub.x"]
    for src, module in zip(forms, modules):
        assert "landseg.cli" in _imported(ast.parse(src), module), src
