"""One agent per outbox: an OS file lock beside the database, released when the process ends."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from relay.errors import EnvironmentProblem


class InstanceLock:
    def __init__(self, outbox_path: Path) -> None:
        self.path = outbox_path.with_name(outbox_path.name + ".lock")
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process lifetime
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot use {self.path.parent} for the outbox: {exc.strerror or exc}; "
                "check that the folder exists and relay may write there"
            ) from exc
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            raise EnvironmentProblem(
                f"another relay is already running on the outbox {outbox_name(self.path)}; "
                "stop it first (or use its window)"
            ) from exc
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def outbox_name(lock_path: Path) -> str:
    return str(lock_path.with_suffix(""))
