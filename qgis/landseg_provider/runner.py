"""Run the landseg command line as a subprocess: stream its output into the Processing feedback,
turn its progress bars into the progress value, and stop it when the user cancels."""

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading

from processing.core.ProcessingConfig import ProcessingConfig
from qgis.core import QgsApplication, QgsProcessingException

SETTING = "LANDSEG_EXECUTABLE"
STOP_GRACE_S = 15
"""Seconds a cancelled landseg gets to stop on its own (it removes its temporary files) before it is killed."""
PERCENT = re.compile(r"^progress: .*\((\d{1,3})%\)$|(\d{1,3})%\|")
"""landseg's ``--progress-lines`` ('progress: 9/20 windows (45%)') or a tqdm bar (' 45%|████  | 9/20')."""


def configured_executable():
    """The landseg executable: the provider setting, else ``landseg`` on PATH (None if neither)."""
    value = ProcessingConfig.getSetting(SETTING)
    if value:
        return str(value)
    return shutil.which("landseg")


def find_executable():
    exe = configured_executable()
    if not exe:
        raise QgsProcessingException(
            "landseg executable not found: install landseg (pip install landseg) and set its path in "
            "Processing > Options > Providers > landseg > landseg executable, or put it on PATH")
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        raise QgsProcessingException(
            f"landseg executable {exe!r} does not exist or is not executable; set the path of the 'landseg' "
            "program of your environment (e.g. /path/to/venv/bin/landseg) in Processing > Options > Providers > landseg")
    return exe


def child_environment():
    """The environment of the subprocess: QGIS's own, without what points Python at QGIS's interpreter
    (PYTHONHOME, PYTHONPATH entries inside QGIS's installation), so the landseg environment's Python
    starts cleanly."""
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    prefixes = [os.path.realpath(p) for p in (QgsApplication.prefixPath(), sys.prefix) if p]
    prefixes = [p for p in prefixes if p not in ("/", "/usr", "/usr/local")]  # system Pythons: keep the path
    if "PYTHONPATH" in env and prefixes:
        kept = [p for p in env["PYTHONPATH"].split(os.pathsep)
                if p and not any(os.path.realpath(p).startswith(pre) for pre in prefixes)]
        if kept:
            env["PYTHONPATH"] = os.pathsep.join(kept)
        else:
            env.pop("PYTHONPATH")
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def _reader(stream, out):
    """Split the byte stream at newlines and carriage returns (progress bars redraw with '\\r')."""
    buf = b""
    while True:
        chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
        if not chunk:
            break
        buf += chunk
        parts = re.split(rb"[\r\n]", buf)
        buf = parts.pop()
        for p in parts:
            out.put(p.decode("utf-8", "replace"))
    if buf:
        out.put(buf.decode("utf-8", "replace"))
    out.put(None)


def _stop(proc):
    """Ask landseg to stop as on Ctrl+C (its temporary files and unfinished outputs are removed), then end
    it for good if it does not exit; returns whether it had to be killed."""
    try:
        if os.name == "posix":
            proc.send_signal(signal.SIGINT)
        else:
            proc.terminate()
        proc.wait(timeout=STOP_GRACE_S)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return True


def remove_scratch(folders, pid):
    """Remove the temporary folders and files that the killed landseg process ``pid`` left in ``folders``
    (landseg's ``io.files`` names them ``.landseg-PID-*`` and ``.NAME.PID-XXXXXXXX.part``); returns how many."""
    removed = 0
    for folder in folders:
        if not folder or not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            part = re.fullmatch(rf"\..+\.{pid}-[a-z0-9_]{{8}}\.part(\.[A-Za-z0-9]+)*", name)
            if not (name.startswith(f".landseg-{pid}-") or part):
                continue
            path = os.path.join(folder, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except OSError:
                    continue
            removed += 1
    return removed


def out_dirs(args):
    """The folders a landseg command line writes into: its ``--out`` (a folder, or a file's folder)."""
    args = [str(a) for a in args]
    outs = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--out"]
    return [o if os.path.isdir(o) or not os.path.splitext(o)[1] else os.path.dirname(o) or "." for o in outs]


def run_landseg(args, feedback):
    """Run ``landseg ARGS``; return its output lines. A non-zero exit raises QgsProcessingException with
    landseg's message; a cancel stops the subprocess (killed, and its temporary files in the ``--out``
    folder removed, if it does not stop within 15 s) and raises too."""
    exe = find_executable()
    cmd = [exe, *[str(a) for a in args]]
    if feedback is not None:
        feedback.pushCommandInfo(" ".join(_quote(c) for c in cmd))
    kw = {}
    if os.name == "nt":
        kw["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=child_environment(), **kw)
    lines = queue.Queue()
    thread = threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True)
    thread.start()
    output, last_progress, done = [], None, False
    while not done:
        if feedback is not None and feedback.isCanceled():
            killed = _stop(proc)
            thread.join(timeout=5)
            proc.stdout.close()
            if killed:
                remove_scratch(out_dirs(args), proc.pid)
                raise QgsProcessingException(
                    f"landseg was cancelled but did not stop within {STOP_GRACE_S:g} s and was ended; its temporary "
                    "files were removed; an output without its record (NAME_predict.json) is incomplete, and a "
                    "rerun redoes it")
            raise QgsProcessingException("landseg was cancelled; no partial output was kept")
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            done = True
            continue
        m = PERCENT.search(line)
        if m:
            pct = min(100, int(m.group(1) or m.group(2)))
            if feedback is not None and pct != last_progress:
                feedback.setProgress(pct)
                last_progress = pct
            continue
        if line.strip():
            output.append(line)
            if feedback is not None:
                feedback.pushConsoleInfo(line)
    rc = proc.wait()
    thread.join(timeout=5)
    proc.stdout.close()
    if rc != 0:
        msg = next((ln for ln in reversed(output) if ln.strip()), f"exit status {rc}")
        raise QgsProcessingException(f"landseg failed (exit status {rc}): {msg.strip()}")
    if feedback is not None:
        feedback.setProgress(100)
    return output


def _quote(s):
    return s if re.fullmatch(r"[\w@%+=:,./-]+", s) else "'" + s.replace("'", "'\\''") + "'"

