"""Shared test settings: every test runs with relay's folders redirected into its tmp_path."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _relay_home(tmp_path, monkeypatch):
    """No test touches the real user folders or a real credential."""
    monkeypatch.setenv("RELAY_HOME", str(tmp_path / "relay-home"))
    monkeypatch.delenv("RELAY_CONFIG", raising=False)
    monkeypatch.delenv("RELAY_TOKEN", raising=False)
