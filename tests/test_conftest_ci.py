"""Under CI=true the browser and real-data tests fail instead of skipping (tests/conftest.py)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROBE = '''
import pytest

@pytest.mark.browser
def test_browser_without_chromium():
    pytest.skip("/usr/bin/chromium not found")

def test_needs_realdata(realdata):
    pass

@pytest.mark.slow
def test_slow_realdata(realdata):
    pass

def test_plain_skip():
    pytest.skip("not applicable here")
'''
BROWSER_MODULE = '''
import pytest
pytest.importorskip("no_such_browser_driver_module")

def test_never():
    pass
'''


def _run(tmp_path, ci, name):
    root = tmp_path / name / "a" / "tests"  # conftest's ../../shared/realdata is absent here
    root.mkdir(parents=True)
    for helper in ("conftest.py", "areahelpers.py"):  # conftest imports the shared area helpers
        shutil.copy(Path(__file__).with_name(helper), root / helper)
    (root / "test_probe.py").write_text(PROBE)
    (root / "test_probe_browser.py").write_text(BROWSER_MODULE)
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n    browser: browser\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "LANDSEG_REALDATA")}  # no real data here
    if ci:
        env["CI"] = "true"

    def run_pytest(*files):
        res = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q", *files],
                             capture_output=True, text=True, env=env, cwd=root, timeout=120)
        return res.returncode, res.stdout

    return run_pytest


def test_without_ci_missing_things_skip(tmp_path):
    code, out = _run(tmp_path, False, "local")()
    assert code == 0 and "5 skipped" in out and "failed" not in out, out


def test_under_ci_missing_chromium_or_realdata_fails(tmp_path):
    run = _run(tmp_path, True, "ci")
    code, out = run("test_probe.py")
    assert code == 1, out
    # a skip in setup (the realdata fixture) is reported as an error, one in the test body as a failure
    failed = {ln.split("::")[1].split()[0] for ln in out.splitlines() if ln.startswith(("FAILED", "ERROR"))}
    assert failed == {"test_browser_without_chromium", "test_needs_realdata"}, out
    assert "must run here, but it was skipped: real data not found" in out
    assert "1 failed, 2 skipped, 1 error" in out, out  # the slow and the plain skip stay skipped
    code, out = run("test_probe_browser.py")  # a browser module skipped at import (no playwright) fails too
    assert code != 0 and "test_probe_browser.py must run here" in out, out
