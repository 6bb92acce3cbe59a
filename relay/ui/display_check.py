"""Can this process open a window? Asked in a child process first, because when Qt's platform
plugin cannot load (a system library missing: libxcb-icccm4 and friends on a bare Linux) Qt aborts
the whole process, and the demo must keep its terminal view and stop its stub cleanly instead.
"""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = (
    "import sys\n"
    "from PySide6.QtWidgets import QApplication\n"
    "app = QApplication(sys.argv[:1])\n"
    "print(app.platformName())\n"
)
TIMEOUT_S = 30.0


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
