"""Injected faults for intake requests, reproducible with a seed.

Every intake request draws the same number of random values in arrival order, so one client sending
sequentially sees the same faults on every run with the same seed.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Literal

When = Literal["before", "after"]


@dataclass(frozen=True)
class FaultPlan:
    """What goes wrong with one request. ``fail``: answer 500 before storing, or store and answer
    504 (reply lost). ``drop``: close the connection without an answer, before or after storing.
    A drop wins over a failure at the same moment."""

    fail: When | None = None
    drop: When | None = None

    def at(self, when: When) -> Literal["fail", "drop"] | None:
        if self.drop == when:
            return "drop"
        if self.fail == when:
            return "fail"
        return None


NO_FAULT = FaultPlan()


class FaultInjector:
    def __init__(self, fail_rate: float = 0.0, drop_rate: float = 0.0, seed: int | None = None) -> None:
        for name, rate in (("fail rate", fail_rate), ("drop rate", drop_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {rate}")
        self.fail_rate = fail_rate
        self.drop_rate = drop_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.fail_rate > 0 or self.drop_rate > 0

    def draw(self) -> FaultPlan:
        if not self.active:
            return NO_FAULT
        with self._lock:
            fail, fail_when, drop, drop_when = (self._rng.random() for _ in range(4))
        return FaultPlan(
            fail=("before" if fail_when < 0.5 else "after") if fail < self.fail_rate else None,
            drop=("before" if drop_when < 0.5 else "after") if drop < self.drop_rate else None,
        )
