"""Which Debian/Ubuntu packages the Qt platform plugins in this Python environment still lack.

Run with the venv's Python (PySide6 installed). It runs `ldd` on the installed platform plugins
(xcb for an X display, which Wayland desktops also serve, and offscreen) and on the Qt libraries
relay loads, collects the shared libraries reported "not found", and maps each to the Debian
package that ships it by Debian's library naming rule (libxcb-icccm.so.4 -> libxcb-icccm4, libxkbcommon-x11.so.0 ->
libxkbcommon-x11-0, libEGL.so.1 -> libegl1), checked against `apt-cache` where its lists are
there (also the 64-bit-time "t64" renames of Debian 13 and Ubuntu 24.04). No hand-kept list of
packages, no apt-file.

Prints the packages, one a line, on standard output; libraries it could not map go to standard
error. `--missing` prints the missing libraries themselves instead. Exit 0 either way (2 when
PySide6 is not installed).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

PLUGINS = ("platforms/libqxcb.so", "platforms/libqoffscreen.so")
QT_LIBS = ("libQt6Widgets.so.6", "libQt6Gui.so.6", "libQt6Svg.so.6", "libQt6DBus.so.6")
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)
_SONAME = re.compile(r"^(lib.+?)\.so\.(\d+)(?:\.\d+)*$")


def qt_folder() -> Path | None:
    spec = importlib.util.find_spec("PySide6")  # found without importing (which may need the libraries)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "Qt"


def missing_libraries(qt: Path) -> list[str]:
    """Sonames the plugins and Qt libraries need and the system does not have, in order."""
    files = [qt / "plugins" / p for p in PLUGINS] + [qt / "lib" / name for name in QT_LIBS]
    missing: dict[str, None] = {}
    for f in files:
        if not f.exists():
            continue
        run = subprocess.run(["ldd", str(f)], capture_output=True, text=True, check=False)
        for name in _NOT_FOUND.findall(run.stdout):
            missing[name] = None
    return list(missing)


def candidates(soname: str) -> list[str]:
    """Debian package names that may ship ``soname``, likeliest first (Debian policy 8.1: the
    library's name and its soname version, a hyphen between them when the name ends in a digit;
    lower case; some libraries drop the hyphen before their API version: libglib-2.0 -> libglib2.0-0)."""
    m = _SONAME.match(soname)
    if m is None:
        return []
    base, version = m.group(1).lower().replace("_", "-"), m.group(2)
    names = [base]
    squeezed = re.sub(r"-(?=\d)", "", base)  # libglib-2.0 -> libglib2.0
    if squeezed != base:
        names.append(squeezed)
    out: list[str] = []
    for name in names:
        pkg = f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"
        out += [pkg, pkg + "t64"]
    return out


def known_to_apt(pkg: str) -> bool | None:
    """True/False when apt's lists know/don't know the package; None when there are no lists."""
    if shutil.which("apt-cache") is None:
        return None
    run = subprocess.run(["apt-cache", "policy", pkg], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        return None
    return "Candidate:" in run.stdout and "Candidate: (none)" not in run.stdout


def package_for(soname: str) -> str | None:
    names = candidates(soname)
    if not names:
        return None
    for pkg in names:
        known = known_to_apt(pkg)
        if known is None:
            return names[0]  # no lists to check against: Debian's rule alone
        if known:
            return pkg
    return None


def main(argv: list[str]) -> int:
    qt = qt_folder()
    if qt is None:
        print("PySide6 is not installed in this Python", file=sys.stderr)
        return 2
    missing = missing_libraries(qt)
    if "--missing" in argv:
        print("\n".join(missing))
        return 0
    packages: dict[str, None] = {}
    for soname in missing:
        pkg = package_for(soname)
        if pkg is None:
            print(f"no Debian package found for {soname}", file=sys.stderr)
        else:
            packages[pkg] = None
    if packages:
        print("\n".join(packages))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
