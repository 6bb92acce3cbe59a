"""The fleet page as a browser draws it: headless Chromium writes a PNG of three agents."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("fleet_screenshot", ROOT / "scripts" / "fleet_screenshot.py")
assert _spec and _spec.loader
shot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shot)


@pytest.mark.skipif(shot.chromium() is None, reason="chromium is not installed (Debian package chromium)")
def test_chromium_draws_the_fleet_page(tmp_path):
    png = shot.take(tmp_path / "fleet.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 800)
    assert len(data) > 20_000  # a drawn page, not a blank one
