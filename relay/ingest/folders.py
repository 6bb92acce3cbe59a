"""Moving files out of a watched folder without ever overwriting anything."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from relay.formats.file_errors import FileChanged

MOVED_AWAY = "The file was replaced by another under its name before it could be moved; the new one is read afresh."


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def unique_name(folder: Path, name: str, *, with_reports: bool = True) -> str:
    """``name``, or ``stem (2).ext``, ``stem (3).ext``... whichever is free in ``folder``
    (with ``with_reports``, a name is also taken when one of its reports exists)."""
    p = Path(name)
    stem, suffix = (p.stem, p.suffix) if p.suffix else (name, "")
    candidate, n = name, 1

    def taken(f: str) -> bool:
        names = (f, f"{f}.error.txt", f"{f}.rejected-rows.csv") if with_reports else (f,)
        return any((folder / x).exists() for x in names)

    while taken(candidate):
        n += 1
        candidate = f"{stem} ({n}){suffix}"
    return candidate


def move_unique(src: Path, folder: Path, name: str | None = None, *, with_reports: bool = True,
                expected: tuple[int, int, int, int] | None = None) -> Path:
    """Move ``src`` into ``folder`` under ``name`` (or a free variant of it). Never overwrites: a
    hard link fails if the target exists; across devices the file is copied, synced, then removed.

    ``expected`` (device, inode, size, mtime): the file that was read. If ``src`` names another
    file by now (replaced under its name), nothing is moved and FileChanged is raised: the file
    that is there now was never read and stays for its own turn."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = name or src.name
    linked = _linked_already(src, folder, wanted, with_reports)
    if linked is not None:  # a move cut short between its link and its unlink (relay was killed)
        _check(src, expected)
        src.unlink()
        return linked
    for _ in range(1000):
        target = folder / unique_name(folder, wanted, with_reports=with_reports)
        _check(src, expected)
        try:
            os.link(src, target)
        except FileExistsError:
            continue  # taken meanwhile: pick the next free name
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            return _copy_then_remove(src, target, expected)
        if expected is not None and _identity(os.lstat(target)) != expected:
            target.unlink()  # our second name for a file that was never read: the file itself stays
            raise FileChanged(MOVED_AWAY)
        _check(src, expected)
        src.unlink()
        return target
    raise FileExistsError(f"no free name for {wanted} in {folder}")


def _linked_already(src: Path, folder: Path, wanted: str, with_reports: bool) -> Path | None:
    """The name ``src`` already has in ``folder`` (``wanted`` or one of the numbered variants that
    ``unique_name`` would have passed over), as a move cut short after its hard link leaves it."""
    try:
        st = os.lstat(src)
    except OSError:
        return None
    p = Path(wanted)
    stem, suffix = (p.stem, p.suffix) if p.suffix else (wanted, "")
    candidate, n = wanted, 1
    while True:
        try:
            other = os.lstat(folder / candidate)
        except OSError:
            other = None
        if other is not None and (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            return folder / candidate
        if other is None and candidate == unique_name(folder, candidate, with_reports=with_reports):
            return None  # the first free name: a cut-short move would have linked here or before
        n += 1
        candidate = f"{stem} ({n}){suffix}"


def _check(src: Path, expected: tuple[int, int, int, int] | None) -> None:
    if expected is not None and _identity(os.lstat(src)) != expected:
        raise FileChanged(MOVED_AWAY)


def _copy_then_remove(src: Path, target: Path, expected: tuple[int, int, int, int] | None = None) -> Path:
    with src.open("rb") as fin:
        if expected is not None and _identity(os.fstat(fin.fileno())) != expected:
            raise FileChanged(MOVED_AWAY)
        with open(target, "xb") as fout:  # "x": fails rather than overwrite
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
    shutil.copystat(src, target)
    _check(src, expected)
    src.unlink()
    return target


def move_entry(src: Path, folder: Path, name: str | None = None) -> Path:
    """Move something that is not a regular file (a link, FIFO, socket, device, folder) into
    ``folder`` without ever opening it or following it: a second name for the entry itself, or a
    rename within the same file system. Raises OSError where it cannot be moved (another device)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = name or src.name
    for _ in range(1000):
        target = folder / unique_name(folder, wanted, with_reports=False)
        try:
            if os.link not in os.supports_follow_symlinks:
                raise PermissionError(errno.EPERM, "a second name for a link itself is not possible here")
            os.link(src, target, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EISDIR):
                raise
            if target.exists() or target.is_symlink():
                continue
            os.rename(src, target)  # a folder: same file system, a target just seen free
            return target
        os.unlink(src)
        return target
    raise FileExistsError(f"no free name for {wanted} in {folder}")
