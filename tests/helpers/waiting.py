"""Waiting on a condition with a bounded deadline (never waiting for time itself to pass)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 60.0, step: float = 0.02) -> T:
    """Polls ``condition`` until it returns something truthy, which is returned; fails the test when
    ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout:g} s")
