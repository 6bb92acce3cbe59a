"""Errors a format reader raises about the file as a whole."""

from __future__ import annotations

from relay.errors import PermanentError, TransientError


class FileRejected(PermanentError):
    """The whole file cannot be used.

    ``reason`` (also ``str(exc)``) is one sentence in plain words for lab staff, for example
    "The file is empty." It never contains row content.
    """

    reason: str

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FileChanged(TransientError):
    """The file's bytes changed between the first pass and the second (it is still being written).

    Nothing read from it may be kept; read it again once it has settled.
    """

    reason: str

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
