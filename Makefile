# The two entry points of the README. Both create .venv and install what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
# pyproject.toml asks for torch>=2.3; the exact CPU wheel (on this machine's disk) is installed first,
# so the editable install finds torch satisfied and no CUDA wheels are pulled.
TORCH   ?= torch==2.13.0
STAMP   = $(VENV)/.landseg-installed

.PHONY: demo test test-all lint browser-deps qgis-deps bench clean qgis-plugin

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/landseg demo --out demo-out

# Outside CI a missing Chromium only skips the browser tests; under CI=true (set by .ci/run) it is an error,
# and tests/conftest.py turns those skips (and missing ../shared/realdata) into failures.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || { if [ "$$CI" = true ]; then echo "CI: chromium is required and could not be installed (run as root, or preinstall it)" >&2; exit 1; else echo "chromium not installed: browser tests will be skipped"; fi; }; }

# The QGIS plugin test needs Debian's qgis + python3-qgis (a large install: .ci/run installs them, make does not).
qgis-deps:
	@/usr/bin/python3 -c "import qgis.core" >/dev/null 2>&1 || { if [ "$$CI" = true ]; then echo "CI: QGIS (apt install qgis python3-qgis) is required for the QGIS plugin test" >&2; exit 1; else echo "QGIS not installed (apt install qgis python3-qgis): the QGIS plugin test will be skipped"; fi; }

# ruff (style, imports at the top, the layout's rules) and mypy on the pure modules, both from pyproject.toml
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools qgis
	$(BIN)/mypy

test: $(STAMP) browser-deps qgis-deps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-all: $(STAMP) browser-deps qgis-deps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider --runslow

# The QGIS Processing provider as an installable plugin zip (Plugins > Manage and Install > Install from ZIP)
qgis-plugin:
	$(PYTHON) tools/build_qgis_plugin.py --out dist

clean:
	rm -rf $(VENV) demo-out
