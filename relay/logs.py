"""Logging set-up for the long-running commands: standard error plus a rotating file that only the
user can read. Log records carry item ids, hashes and counts, never row content."""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
from pathlib import Path

from relay.paths import app_paths

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every file it opens, also the new one after a rotation, is readable by the user only."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)  # noqa: SIM115


def log_file() -> Path:
    return app_paths().log_dir / "relay.log"


def setup(*, verbose: bool = False, to_file: bool = False) -> Path | None:
    level = logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):  # calling setup twice replaces relay's own handlers only
        if getattr(handler, "relay_handler", False):
            root.removeHandler(handler)
            handler.close()
    err = logging.StreamHandler()
    err.setFormatter(logging.Formatter(FORMAT))
    err.relay_handler = True  # type: ignore[attr-defined]
    root.addHandler(err)
    # uvicorn and httpx are chatty at INFO; their warnings still show.
    for name in ("httpx", "httpcore", "uvicorn", "uvicorn.access", "watchdog"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not to_file:
        return None
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        handler = _PrivateRotatingFileHandler(path, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8")
    except OSError as exc:
        logging.getLogger("relay").warning("cannot write the log file %s: %s", path, exc.strerror)
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.relay_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    return path
