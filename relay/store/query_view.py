"""The outbox seen through its queries only: what the window's reader (and any other reader in
another connection) is given. It has no write method at all, and its connection is read-only."""

from __future__ import annotations

from pathlib import Path

from relay.store.db import Database
from relay.store.queries import Queries


class QueryView(Queries):
    """``relay.store.roles.OutboxQueries`` on a read-only connection of its own.

    Raises ``EnvironmentProblem`` when the file cannot be opened (not there yet, not readable)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.db = Database(self.path, check=False, readonly=True)
        self._columns_by_id: dict[int, tuple[str, ...]] = {}

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> QueryView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
