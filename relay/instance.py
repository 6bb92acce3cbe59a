"""One agent per outbox: an OS lock on the outbox database file itself, released when the process ends.

On POSIX the lock is ``flock`` on the database file. A lock on a separate file beside it could be
sidestepped by deleting that file (a second agent then creates a new one and locks it); the database
cannot be deleted without the running agent noticing (``Database.ensure_present``). ``flock`` locks
are independent of the POSIX record locks SQLite takes on the same file, so they do not get in its
way, and readers (`relay status`) are not held up. One caveat of POSIX record locks: closing any
descriptor of a file drops the process's record locks on it, so the lock's descriptor is closed only
after the agent's outbox connection is (``Agent.stop`` does so).

On Windows a file open in another process cannot be deleted, so the lock stays on ``<outbox>.lock``
(a byte lock there; a byte lock on the database would get in SQLite's way, Windows locks being
mandatory).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

from relay.errors import EnvironmentProblem


class InstanceLock:
    def __init__(self, outbox_path: Path) -> None:
        self.outbox = outbox_path
        self.path = outbox_path.with_name(outbox_path.name + ".lock") if sys.platform == "win32" else outbox_path
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Created as the outbox would be (only the user may read it); an existing file is kept as is.
            fd = self._open()
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot use {self.path.parent} for the outbox: {exc.strerror or exc}; "
                "check that the folder exists and relay may write there"
            ) from exc
        try:
            if sys.platform == "win32":  # pragma: no cover - Windows only
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise EnvironmentProblem(
                f"another relay is already running on the outbox {self.outbox}; "
                "stop it first (or use its window)"
            ) from exc
        if sys.platform == "win32":  # pragma: no cover - Windows only
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd = fd

    def _open(self) -> int:
        flags = getattr(os, "O_CLOEXEC", 0)
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | flags, 0o600)
        except OSError as exc:
            # An outbox relay may not write (immutable, read-only for this user) is still locked, for
            # reading: opening the outbox then says plainly that it is read-only.
            if exc.errno in (errno.EACCES, errno.EPERM) and self.path.exists():
                return os.open(self.path, os.O_RDONLY | flags)
            raise

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

