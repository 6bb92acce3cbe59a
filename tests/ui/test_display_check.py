"""Before Qt starts (which aborts the process when its X11 plugin cannot load), relay finds out
what is missing and says so in plain words."""

from __future__ import annotations

from relay.ui import display_check as dc

LDD = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f04)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f04)
"""


def test_what_ldd_could_not_find():
    assert dc.not_found(LDD) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert dc.not_found("\\tlibc.so.6 => /lib/libc.so.6 (0x1)\\n") == []


def test_only_an_x_display_uses_the_x11_plugin():
    assert dc.would_use_xcb({"DISPLAY": ":1"}) == dc.sys.platform.startswith("linux")
    assert not dc.would_use_xcb({"DISPLAY": ":1", "QT_QPA_PLATFORM": "offscreen"})
    assert not dc.would_use_xcb({"DISPLAY": ":1", "WAYLAND_DISPLAY": "wayland-0"})
    assert not dc.would_use_xcb({})


def test_the_words_name_what_is_missing():
    linux = dc.sys.platform.startswith("linux")
    said = dc.xcb_problem({"DISPLAY": ":1"}, lambda: ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    if linux:
        assert said is not None and said.startswith(
            "the desktop app cannot open a window: Qt's X11 plugin needs libxcb-icccm.so.4, libxcb-keysyms.so.1")
        assert "scripts/setup.sh" in said
    assert dc.xcb_problem({"DISPLAY": ":1"}, lambda: []) is None
    assert dc.xcb_problem({"QT_QPA_PLATFORM": "offscreen"}, lambda: ["libxcb.so.1"]) is None
