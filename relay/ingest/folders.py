"""Moving files out of a watched folder without ever overwriting anything."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


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


def move_unique(src: Path, folder: Path, name: str | None = None, *, with_reports: bool = True) -> Path:
    """Move ``src`` into ``folder`` under ``name`` (or a free variant of it). Never overwrites: a
    hard link fails if the target exists; across devices the file is copied, synced, then removed."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = name or src.name
    for _ in range(1000):
        target = folder / unique_name(folder, wanted, with_reports=with_reports)
        try:
            os.link(src, target)
        except FileExistsError:
            continue  # taken meanwhile: pick the next free name
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            return _copy_then_remove(src, target)
        src.unlink()
        return target
    raise FileExistsError(f"no free name for {wanted} in {folder}")


def _copy_then_remove(src: Path, target: Path) -> Path:
    with src.open("rb") as fin, open(target, "xb") as fout:  # "x": fails rather than overwrite
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())
    shutil.copystat(src, target)
    src.unlink()
    return target
