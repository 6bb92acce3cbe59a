"""Exponential backoff with full jitter, as tenacity computes it."""

from __future__ import annotations

from tenacity import RetryCallState, wait_random_exponential


class Backoff:
    """Exponential backoff with full jitter between ``initial`` and ``cap`` (tenacity's strategy)."""

    def __init__(self, initial: float, cap: float) -> None:
        self._wait = wait_random_exponential(multiplier=initial, max=cap, min=initial)

    def __call__(self, attempt: int) -> float:
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(1, attempt)
        return float(self._wait(state))
