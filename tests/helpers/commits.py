"""Counting an outbox's write transactions (each one durable commit)."""

from __future__ import annotations

import contextlib

from relay.store.outbox import Outbox


def count_transactions(box: Outbox) -> list[int]:
    """From now on, ``[n]`` counts the write transactions of ``box``."""
    calls = [0]
    real = box.db.transaction

    @contextlib.contextmanager
    def counted():
        calls[0] += 1
        with real() as conn:
            yield conn

    box.db.transaction = counted  # type: ignore[method-assign]
    return calls
