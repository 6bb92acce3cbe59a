"""Can this process open a window? When Qt's platform plugin cannot load (a system library
missing: libxcb-icccm4 and friends on a bare Linux) Qt aborts the whole process with a core dump.
So the demo asks a child process first (it keeps its terminal view and stops its stub cleanly
instead), and `relay gui` asks `ldd` about the X11 plugin (it says what is missing, in plain words).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

PROBE = (
    "import sys\n"
    "from PySide6.QtWidgets import QApplication\n"
    "app = QApplication(sys.argv[:1])\n"
    "print(app.platformName())\n"
)
TIMEOUT_S = 30.0
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def display_problem(timeout_s: float = TIMEOUT_S) -> str | None:
    """None when a QApplication starts here; otherwise what went wrong, in plain words."""
    if getattr(sys, "frozen", False):
        return None  # the frozen program carries its own libraries
    try:
        run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=timeout_s,
                             env=dict(os.environ), check=False)
    except subprocess.TimeoutExpired:
        return f"Qt did not start within {timeout_s:g} s"
    except OSError as exc:
        return f"Qt could not be started ({exc})"
    if run.returncode == 0:
        return None
    lines = [ln.strip() for ln in run.stderr.splitlines() if ln.strip()]
    said = next((ln for ln in lines if "platform plugin" in ln or "cannot" in ln.lower()), lines[-1] if lines else "")
    hint = " On Debian or Ubuntu, `bash scripts/setup.sh` installs (or names) the missing system libraries." \
        if sys.platform.startswith("linux") else ""
    return f"Qt stopped with exit status {run.returncode}{f' ({said})' if said else ''}.{hint}"


def not_found(ldd_output: str) -> list[str]:
    """The libraries `ldd` could not find."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def would_use_xcb(environ: dict[str, str] | None = None) -> bool:
    """Qt will load its X11 (xcb) plugin: Linux with an X display and no other platform asked for."""
    env = os.environ if environ is None else environ
    return (sys.platform.startswith("linux") and not getattr(sys, "frozen", False) and bool(env.get("DISPLAY"))
            and env.get("QT_QPA_PLATFORM", "xcb") in ("", "xcb") and not env.get("WAYLAND_DISPLAY"))


def xcb_missing_libraries() -> list[str]:
    """System libraries Qt's X11 plugin needs and this machine lacks (one `ldd`, ~50 ms): asked
    before Qt starts, because Qt aborts the process when the plugin cannot load."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations or shutil.which("ldd") is None:
        return []
    plugin = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.exists():
        return []
    try:
        run = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return not_found(run.stdout)


def xcb_problem(environ: dict[str, str] | None = None,
                find_missing: Callable[[], list[str]] = xcb_missing_libraries) -> str | None:
    """Plain words when Qt's X11 plugin cannot load here; None when it can (or is not used)."""
    if not would_use_xcb(environ):
        return None
    missing = find_missing()
    if not missing:
        return None
    return (f"the desktop app cannot open a window: Qt's X11 plugin needs {', '.join(missing)}, which this system "
            "lacks. Install the packages that provide them (in a checkout of relay, `bash scripts/setup.sh` finds "
            "and installs them, or prints the command).")
