"""Running totals kept in the outbox's control values, and item counts that stay cheap at a million.

Intake requests are counted by outcome (``relay_intake_requests_total``): one small upsert a
request, in control values, so no schema change is needed and `relay status` in another process
reads them with the rest of the control values. The agent id (heartbeats) is kept there too.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Mapping

from relay.store.db import Database
from relay.store.held import COUNT_SENDING
from relay.store.models import STATES

INTAKE_REQUESTS = "intake_requests."  # control key prefix: intake_requests.<outcome> -> count
# What an intake request came to (see relay/delivery/tally.py for the mapping from answers).
REQUEST_OUTCOMES = ("delivered", "rejected", "unavailable", "refused", "error")
AGENT_ID = "agent_id"


def state_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Items per state. ``count(*)`` of a whole table walks b-tree pages without stepping rows, and
    a count of one state walks only that state's stretch of the state index, so sent (the bulk of a
    large outbox) is the total minus the rest: the cost follows the backlog, not the history (about
    9 ms for a million items on this machine's kind, where GROUP BY state took 65 ms)."""
    total = int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    counts: dict[str, int] = dict.fromkeys(STATES, 0)
    for state in STATES:
        if state != "sent":
            counts[state] = int(conn.execute("SELECT count(*) FROM items INDEXED BY items_state WHERE state = ?",
                                             (state,)).fetchone()[0])
    counts["sent"] = total - sum(counts.values())
    sending = int(conn.execute(COUNT_SENDING).fetchone()[0])  # held on their batch (schema 4)
    counts["pending"] -= sending
    counts["sending"] += sending
    return counts


class StateCountCache:
    """The last counts by state, kept until the database changes: a scrape every few seconds of an
    outbox where nothing moved (a site cut off from its intake, a quiet night) costs two pragma
    reads. Changes by other connections show in ``PRAGMA data_version``, this connection's own in
    ``total_changes``; either one moving means a recount. Use it under the database's lock."""

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._counts: dict[str, int] = {}

    def counts(self, conn: sqlite3.Connection) -> dict[str, int]:
        key = (int(conn.execute("PRAGMA data_version").fetchone()[0]), conn.total_changes)
        if key != self._key:
            self._counts = state_counts(conn)
            self._key = key
        return dict(self._counts)


def intake_requests(control: Mapping[str, str]) -> dict[str, int]:
    """The request counts by outcome, from the control values (every known outcome, 0 when none)."""
    counts = dict.fromkeys(REQUEST_OUTCOMES, 0)
    for key, value in control.items():
        if key.startswith(INTAKE_REQUESTS):
            counts[key[len(INTAKE_REQUESTS):]] = int(value or 0)
    return counts


class Tallies:
    """The outbox's running totals (mixed into ``Outbox``)."""

    db: Database

    def count_intake_request(self, outcome: str, *, later: bool = False) -> None:
        """One more request with ``outcome``. ``later``: written by the next write transaction (the
        answer's, for the sender) rather than by a durable commit of its own; a count, not a result,
        so a kill in between may lose it."""
        if outcome not in REQUEST_OUTCOMES:
            raise ValueError(f"unknown request outcome {outcome!r}; one of {', '.join(REQUEST_OUTCOMES)}")
        sql = ("INSERT INTO control (key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET "
               "value = CAST(value AS INTEGER) + 1")
        if later:
            self.db.ride_along(sql, (INTAKE_REQUESTS + outcome,))
            return
        with self.db.transaction() as conn:
            conn.execute(sql, (INTAKE_REQUESTS + outcome,))

    def agent_id(self) -> str:
        """This outbox's agent id: made once, then the same across restarts (heartbeats name it)."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT value FROM control WHERE key = ?", (AGENT_ID,)).fetchone()
            if row and row[0]:
                return str(row[0])
            new = str(uuid.uuid4())
            conn.execute("INSERT INTO control (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                         "value = excluded.value", (AGENT_ID, new))
            return new
