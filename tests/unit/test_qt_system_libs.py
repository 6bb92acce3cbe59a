"""scripts/qt_system_libs.py (used by scripts/setup.sh): what the Qt plugins lack, found with ldd,
and the Debian package of each missing library by Debian's naming rule."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("qt_system_libs", ROOT / "scripts" / "qt_system_libs.py")
assert spec is not None and spec.loader is not None
qsl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(qsl)

linux_tools = pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ldd") is None,
                                 reason="ldd (Linux)")


def test_debian_names_of_libraries():
    assert qsl.candidates("libxcb-icccm.so.4")[0] == "libxcb-icccm4"
    assert qsl.candidates("libxkbcommon-x11.so.0")[0] == "libxkbcommon-x11-0"
    assert qsl.candidates("libEGL.so.1")[0] == "libegl1"
    assert qsl.candidates("libgcc_s.so.1")[0] == "libgcc-s1"
    assert "libglib2.0-0" in qsl.candidates("libglib-2.0.so.0")
    assert "libglib2.0-0t64" in qsl.candidates("libglib-2.0.so.0")  # Debian 13, Ubuntu 24.04
    assert qsl.candidates("not-a-library") == []


@linux_tools
@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg (Debian, Ubuntu)")
def test_the_rule_names_the_package_dpkg_knows_for_each_x_library_qt_uses():
    """On this machine the libraries are installed: the package dpkg says ships each one is among
    the names the rule gives (the ones that come as another package's dependency aside)."""
    qt = qsl.qt_folder()
    assert qt is not None
    out = subprocess.run(["ldd", str(qt / "plugins" / "platforms" / "libqxcb.so")], capture_output=True, text=True,
                         check=True).stdout
    checked = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1] != "=>" or "/PySide6/" in parts[2]:
            continue
        soname = parts[0]
        if not soname.startswith(("libxcb", "libxkb", "libX11", "libEGL", "libGL.", "libfontconfig", "libdbus")):
            continue
        found = subprocess.run(["dpkg", "-S", f"*/{soname}"], capture_output=True, text=True, check=False).stdout
        if not found:
            continue
        package = found.split(":", 1)[0]
        assert package in qsl.candidates(soname), soname
        checked += 1
    assert checked >= 10


@linux_tools
def test_a_missing_library_is_found(tmp_path):
    """A plugin whose Qt library is not beside it: ldd says "not found", and so does the script."""
    qt = qsl.qt_folder()
    assert qt is not None
    fake = tmp_path / "Qt"
    (fake / "plugins" / "platforms").mkdir(parents=True)
    shutil.copy(qt / "plugins" / "platforms" / "libqxcb.so", fake / "plugins" / "platforms" / "libqxcb.so")
    assert "libQt6XcbQpa.so.6" in qsl.missing_libraries(fake)
