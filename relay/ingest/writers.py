"""Is a program still writing this file? One check per platform, chosen at import.

- Linux: every process's open files are links under ``/proc/<pid>/fd``; a link that leads to the
  file (same device and inode) with write access in ``/proc/<pid>/fdinfo/<fd>`` is a writer.
  Processes of other users are not visible unless relay runs with the rights to see them.
- Windows: a file another program holds open for writing cannot be opened with a share mode
  that denies writers (``CreateFileW`` with ``FILE_SHARE_READ`` only fails with a sharing violation).
- macOS (and other Unix): ``lsof`` lists the processes holding the file and their access mode.

``writers_of(paths)`` answers for several files at once (one pass over /proc on Linux) and
returns the subset still open for writing. A check that cannot run says "not held": the
settle time and the line-end rule still apply.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger("relay.ingest")

LSOF_TIMEOUT_S = 10.0
_ACCESS_MODE = 0o3  # O_RDONLY 0, O_WRONLY 1, O_RDWR 2


def _linux(paths: Iterable[Path]) -> set[Path]:
    wanted: dict[tuple[int, int], Path] = {}
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        wanted[(st.st_dev, st.st_ino)] = path
    held: set[Path] = set()
    if not wanted:
        return held
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return held
    for pid in pids:
        base = f"/proc/{pid}"
        try:
            fds = os.listdir(f"{base}/fd")
        except OSError:  # gone, or another user's process
            continue
        for fd in fds:
            try:
                st = os.stat(f"{base}/fd/{fd}")
            except OSError:
                continue
            found = wanted.get((st.st_dev, st.st_ino))
            if found is None or found in held:
                continue
            if _fd_writes(f"{base}/fdinfo/{fd}"):
                held.add(found)
    return held


def _fd_writes(fdinfo: str) -> bool:
    try:
        with open(fdinfo, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & _ACCESS_MODE in (1, 2)
    except (OSError, ValueError, IndexError):
        return False
    return False


def _windows(paths: Iterable[Path]) -> set[Path]:  # pragma: no cover - runs on Windows only
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    create = kernel32.CreateFileW
    create.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID, wintypes.DWORD,
                       wintypes.DWORD, wintypes.HANDLE]
    create.restype = wintypes.HANDLE
    close = kernel32.CloseHandle
    generic_read, share_read, open_existing, normal = 0x80000000, 0x1, 3, 0x80
    sharing_violation, lock_violation = 32, 33
    invalid = wintypes.HANDLE(-1).value
    held: set[Path] = set()
    for path in paths:
        handle = create(str(path), generic_read, share_read, None, open_existing, normal, None)
        if handle == invalid:
            if ctypes.get_last_error() in (sharing_violation, lock_violation):  # type: ignore[attr-defined]
                held.add(path)
            continue
        close(handle)
    return held


_lsof_missing_noted = False


def _lsof(paths: Iterable[Path]) -> set[Path]:  # pragma: no cover - runs on macOS only
    global _lsof_missing_noted
    lsof = shutil.which("lsof") or ("/usr/sbin/lsof" if os.path.exists("/usr/sbin/lsof") else None)
    if lsof is None:
        if not _lsof_missing_noted:
            log.warning("lsof is not available: files still open in another program cannot be told apart "
                        "(the settle time still applies)")
            _lsof_missing_noted = True
        return set()
    held: set[Path] = set()
    for path in paths:
        try:
            out = subprocess.run([lsof, "-F", "a", "--", str(path)], capture_output=True, text=True,
                                 timeout=LSOF_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if any(line[:1] == "a" and line[1:2] in ("w", "u") for line in out.stdout.splitlines()):
            held.add(path)
    return held


def _choose() -> Callable[[Iterable[Path]], set[Path]]:
    if sys.platform.startswith("linux") and os.path.isdir("/proc/self/fd"):
        return _linux
    if sys.platform == "win32":
        return _windows
    return _lsof


writers_of: Callable[[Iterable[Path]], set[Path]] = _choose()
