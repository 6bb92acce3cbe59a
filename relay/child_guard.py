"""``python -m relay.child_guard MODULE ARGS...``: run MODULE as ``__main__`` in a child process
that cannot outlive its parent.

The demo starts its receiving stub this way. The parent holds the child's standard input open
and never writes to it; when the parent ends, however it ends (a crash, SIGKILL), the pipe closes,
the child reads end-of-file and stops itself with SIGTERM, so the module's own clean stop runs.
On Linux the kernel also sends SIGTERM when the parent dies (PR_SET_PDEATHSIG), in case standard
input was redirected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import runpy
import signal
import sys
import threading
from collections.abc import Callable

log = logging.getLogger("relay")

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the standard-input watch below still holds
            pass
    if os.getppid() != parent:  # the parent ended before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_stdin() -> None:
    # os.read, not sys.stdin: a daemon thread blocked inside the buffered reader holds its lock, and
    # the interpreter aborts at exit when it cannot take that lock (however the module ended).
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str], run: Callable[[list[str]], int] | None = None) -> int:
    """Guard this process, then run ``argv[0]`` as ``__main__`` with the rest as its arguments; or,
    where no module can be run by name (a frozen build), ``run(arguments)``."""
    if not argv:
        sys.stderr.write("usage: python -m relay.child_guard MODULE [ARGS...]\n")
        return 2
    parent = int(os.environ.pop("RELAY_GUARD_PARENT", os.getppid()))
    _die_with_parent(parent)
    threading.Thread(target=_watch_stdin, name="relay-parent-watch", daemon=True).start()
    if run is not None:
        return run(argv[1:])
    sys.argv = [argv[0], *argv[1:]]
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
