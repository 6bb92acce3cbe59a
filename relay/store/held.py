"""What a reader sees of an item while its batch is out (schema 4), as SQL expressions.

A batch's state is held on the batch row while it is out: its items keep the stored state
'pending' and read as 'sending' while the batch is open and leased; their attempts, last answer and
next try are the batch's until it is answered and they are settled (``relay/store/batches.py``).
Every reader of item states goes through these; ``t`` names the items table in the query.
"""

from __future__ import annotations

LEASED_BATCHES = "(SELECT id FROM batches WHERE state = 'open' AND lease_until IS NOT NULL)"


def _open_batch(t: str, column: str) -> str:
    return f"(SELECT b.{column} FROM batches b WHERE b.id = {t}.batch_id AND b.state = 'open')"


def state_of(t: str = "items") -> str:
    return (f"CASE WHEN {t}.state = 'pending' AND {t}.batch_id IN {LEASED_BATCHES} "
            f"THEN 'sending' ELSE {t}.state END")


def _bound(t: str, column: str, value: str) -> str:
    """``value`` (of the open batch, alias b) for a pending item bound to one, else the item's column."""
    return (f"CASE WHEN {t}.state = 'pending' AND {t}.batch_id IS NOT NULL THEN coalesce("
            f"(SELECT {value} FROM batches b WHERE b.id = {t}.batch_id AND b.state = 'open'), {t}.{column}) "
            f"ELSE {t}.{column} END")


STATE_OF_ITEM = state_of()
ATTEMPTS_OF_ITEM = (f"items.attempts + CASE WHEN items.batch_id IS NULL THEN 0 "
                    f"ELSE coalesce({_open_batch('items', 'attempts')}, 0) END")
NEXT_ATTEMPT_OF_ITEM = _bound("items", "next_attempt_at", "b.next_attempt_at")
LAST_STATUS_OF_ITEM = _bound("items", "last_status",
                             "CASE WHEN b.last_error IS NULL THEN items.last_status ELSE b.last_status END")
LAST_ERROR_OF_ITEM = _bound("items", "last_error", "coalesce(b.last_error, items.last_error)")
# Items stored 'pending' that read as 'sending' (their batch is leased): counted apart from the rest.
COUNT_SENDING = f"SELECT count(*) FROM items WHERE batch_id IN {LEASED_BATCHES} AND state = 'pending'"
