"""Runs the geomaml executable for an algorithm: progress and cancellation through
QGIS's feedback object, geomaml's own error message on failure.

The executable is, in this order: the environment variable GEOMAML_BIN (QGIS:
Settings > Options > System > Environment), the QGIS setting `geomaml/binary` (set
from the Python console with QgsSettings().setValue), or `geomaml` on PATH.
"""

import os
import queue
import re
import shutil
import subprocess
import threading

from qgis.core import QgsProcessingException, QgsSettings

SETTING = "geomaml/binary"
PROGRESS = re.compile(r"^progress: (\d+)/(\d+)$")


def executable():
    """The geomaml executable's path; raises QgsProcessingException when none."""
    for candidate, origin in (
        (os.environ.get("GEOMAML_BIN"), "GEOMAML_BIN"),
        (QgsSettings().value(SETTING, "", type=str), f"the QGIS setting {SETTING}"),
    ):
        if candidate:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
            raise QgsProcessingException(f"{origin} is {candidate!r}, which is not an executable file")
    found = shutil.which("geomaml")
    if found:
        return found
    raise QgsProcessingException(
        "the geomaml executable was not found: set GEOMAML_BIN, the QGIS setting "
        f"{SETTING}, or put geomaml on PATH. In a geomaml source tree, `make cli` (or "
        "`cargo build --release -p geomaml-cli`) builds target/release/geomaml; a plain "
        "`cargo build --release` builds only geomaml-train"
    )


def register_driver_quietly():
    """[`ensure_driver`] at plugin start, so saved projects and descriptors opened
    from the file dialog find the driver; a missing driver is only logged."""
    from qgis.core import Qgis, QgsMessageLog

    try:
        ensure_driver()
    except QgsProcessingException as e:
        QgsMessageLog.logMessage(str(e), "geomaml", Qgis.Info)


def ensure_driver():
    """Makes GDAL (and so QGIS) see the GEOMAML driver: if it is not registered,
    looks for gdal_GeoMAML.so beside the executable (target/gdalplugins for a
    build tree, `make plugin`) and registers it. Raises QgsProcessingException when
    there is none."""
    from osgeo import gdal

    if gdal.GetDriverByName("GEOMAML") is not None:
        return
    here = os.path.dirname(os.path.realpath(executable()))
    for folder in (os.path.join(here, "..", "gdalplugins"), here):
        if os.path.isfile(os.path.join(folder, "gdal_GeoMAML.so")):
            paths = [p for p in (gdal.GetConfigOption("GDAL_DRIVER_PATH"), os.path.abspath(folder)) if p]
            gdal.SetConfigOption("GDAL_DRIVER_PATH", os.pathsep.join(paths))
            gdal.AllRegister()
            if gdal.GetDriverByName("GEOMAML") is not None:
                return
    raise QgsProcessingException(
        "GDAL has no GEOMAML driver: build it with `make plugin` (it is looked for in "
        "target/gdalplugins beside the executable) or start QGIS with GDAL_DRIVER_PATH "
        "set to its folder"
    )


def failure_message(lines, code):
    """The line of geomaml's standard error that says why it failed: its
    `geomaml: ...` error (not a warning), else a usage error (`error: ...`), else
    the last line."""
    for prefix in ("geomaml:", "error:"):
        found = [
            line
            for line in lines
            if line.startswith(prefix) and not line.startswith("geomaml: warning")
        ]
        if found:
            return found[-1]
    return lines[-1] if lines else f"geomaml stopped with exit status {code}"


def run(args, feedback, span=(0.0, 100.0)):
    """Runs `geomaml ARGS`; returns its standard output (text).

    Progress lines map onto `span` of the algorithm's progress bar; other lines of
    geomaml's standard error are shown in the log. Cancelling in QGIS stops the
    process (geomaml writes outputs to a temporary name first, so a stopped run
    leaves no half-written file). A failure raises QgsProcessingException with
    geomaml's message.
    """
    command = [executable()] + [str(a) for a in args]
    feedback.pushCommandInfo(" ".join(command))
    env = dict(os.environ, GEOMAML_PROGRESS="lines")
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env=env,
    )
    lines = queue.Queue()
    stdout = []

    def pump(stream, sink):
        for line in stream:
            sink(line.rstrip("\n"))
        stream.close()

    readers = [
        threading.Thread(target=pump, args=(proc.stderr, lines.put), daemon=True),
        threading.Thread(target=pump, args=(proc.stdout, stdout.append), daemon=True),
    ]
    for t in readers:
        t.start()
    errors = []
    lo, hi = span
    while True:
        if feedback.isCanceled():
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise QgsProcessingException("cancelled: geomaml was stopped")
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            if proc.poll() is not None and not readers[0].is_alive():
                break
            continue
        m = PROGRESS.match(line)
        if m:
            done, total = int(m.group(1)), max(1, int(m.group(2)))
            feedback.setProgress(lo + (hi - lo) * done / total)
            continue
        errors.append(line)
        if line.startswith("geomaml: warning") or line.startswith("warning"):
            feedback.pushWarning(line)
        else:
            feedback.pushInfo(line)
    for t in readers:
        t.join()
    code = proc.wait()
    if code != 0:
        raise QgsProcessingException(failure_message(errors, code))
    feedback.setProgress(hi)
    return "\n".join(stdout)
