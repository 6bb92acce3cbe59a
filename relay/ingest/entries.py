"""What a name in a watched folder is, and opening it safely.

Only regular files are ever opened. A symbolic link, FIFO, socket, device or folder is told apart
with ``lstat`` (which never follows a link) and opened never: opening a FIFO blocks, a device may
never end (/dev/zero), and a link may point outside the folder at a file the person who dropped it
could not read. The open itself refuses links too (``O_NOFOLLOW``) and does not block
(``O_NONBLOCK``), so a name swapped for a link or FIFO between the look and the open is still
refused; ``fstat`` of the handle then decides.

A file is known by its identity (device, inode, size, mtime): what relay read is the file it moves
only when the path still has that identity.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a folder",
}


@dataclass(frozen=True, slots=True)
class Identity:
    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Identity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def same_file(self, other: Identity) -> bool:
        return (self.dev, self.ino) == (other.dev, other.ino)


class NotRegular(Exception):
    """The name is not a regular file; ``kind`` says what it is in plain words."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def kind_of(st: os.stat_result) -> str | None:
    """None for a regular file, else what it is ("a symbolic link", "a named pipe (FIFO)", ...)."""
    if stat.S_ISREG(st.st_mode):
        return None
    return KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")


def not_regular_reason(kind: str) -> str:
    return (f"This is {kind}, not a regular file; relay reads only regular files dropped into the folder, "
            "and never opens anything else.")


_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_BINARY", 0)


class Handle:
    """One open regular file, read only through this handle; ``reader()`` gives a fresh stream
    from the start each time (the passes of a reader are sequential, never interleaved)."""

    def __init__(self, path: Path) -> None:
        before = os.lstat(path)
        kind = kind_of(before)
        if kind is not None:
            raise NotRegular(kind)
        try:
            fd = os.open(path, _FLAGS)
        except OSError as exc:
            if getattr(os, "O_NOFOLLOW", 0) and exc.errno in (40, 31):  # ELOOP / EMLINK (BSD): a link now
                raise NotRegular(KINDS[stat.S_IFLNK]) from exc
            raise
        try:
            st = os.fstat(fd)
            kind = kind_of(st)
            if kind is not None:
                raise NotRegular(kind)
            if not Identity.of(before).same_file(Identity.of(st)):  # swapped between look and open
                raise FileNotFoundError(f"{path} was replaced while it was opened")
        except BaseException:
            os.close(fd)
            raise
        self.path = path
        self.fd = fd
        self.identity = Identity.of(st)

    def reader(self) -> BinaryIO:
        os.lseek(self.fd, 0, os.SEEK_SET)
        return os.fdopen(os.dup(self.fd), "rb", buffering=0)

    def now(self) -> Identity:
        """The identity of what this handle holds, now."""
        return Identity.of(os.fstat(self.fd))

    def unchanged(self) -> bool:
        """Whether the path still names the file opened, with the size and mtime it had then."""
        try:
            at_path = Identity.of(os.lstat(self.path))
        except OSError:
            return False
        return self.now() == self.identity and at_path == self.identity

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ends_with_line_end(path: Path) -> bool:
    """Whether the file's last bytes are a line end (a trailing Ctrl-Z or spaces aside). Opened
    without following links and without blocking; anything unreadable counts as ended."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError:
        return True
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return True
        size = min(st.st_size, 4096)
        tail = os.pread(fd, size, st.st_size - size) if hasattr(os, "pread") else _tail(fd, st.st_size, size)
    except OSError:
        return True
    finally:
        os.close(fd)
    if b"\x00" in tail:  # binary: rejected as it is, nothing to wait for
        return True
    tail = tail.rstrip(b"\x1a \t")
    return not tail or tail[-1:] in (b"\n", b"\r")


def _tail(fd: int, end: int, size: int) -> bytes:
    os.lseek(fd, end - size, os.SEEK_SET)
    return os.read(fd, size)


def display_name(name: str) -> str:
    """A file name as text that can be stored, logged and written anywhere: bytes that are not
    UTF-8 (kept by Python as lone surrogates) shown as ``\\xNN``. Valid names are unchanged."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a lone surrogate that is no escaped byte (Windows names may hold one)
            return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return name
