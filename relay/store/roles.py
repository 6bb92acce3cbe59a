"""The outbox's roles: what each caller may ask of the store, as small Protocols.

``Outbox`` is all of them at once; a caller names only the role it uses, so the sender cannot add
items, a source cannot claim batches, and the window's reader cannot write at all (it is given a
``QueryView``, an object that has the queries and nothing else). Each role is a contract: its
transitions are the state machine tested as a table in ``tests/unit/store/test_contract.py``, and
``tests/unit/store/test_roles.py`` checks that the outbox and the query view fulfil what they claim.

Who takes which role:

- sources (folder watcher, ``relay ingest``, HTTP and MLLP listeners): ``ItemSink``
- the sender: ``BatchLedger`` + ``ControlValues``
- the agent's person actions (CLI, window through the agent): ``PersonActions`` + ``ControlValues``
- status, the CLI's lists and the window's reader: ``OutboxQueries``
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from relay.items import ItemKind, NewItem
from relay.store.models import AddResult, Batch, FileRecord, Item, ItemState

if TYPE_CHECKING:
    from relay.store.batches import BuildFn
    from relay.store.file_tx import FileTransaction
    from relay.store.queries import Counts, HistoryEntry

__all__ = ["ROLES", "ActionsAndControls", "BatchLedger", "ControlValues", "ItemSink", "LedgerAndControls",
           "OutboxQueries", "PersonActions", "SinkAndQueries"]


@runtime_checkable
class ItemSink(Protocol):
    """Where sources hand what they read. Every call is one durable transaction, all or nothing.

    - ``add_items``: items from one caller; duplicates (same content hash within the dedupe window)
      are recorded against the original and not added. ``AddResult`` answers each item in order.
    - ``add_item_groups``: several callers' items in one commit (the listeners' group commit).
    - ``file_transaction``: all of one file's rows in one transaction (``with ... as tx: tx.add``);
      a file already in the ledger (same content and name) adds nothing (``tx.already_known``).
    - ``record_rejected_file`` / ``known_file`` / ``set_file_moved``: the file ledger.
    New items are ``pending``; nothing here touches an item already in the outbox.
    """

    def add_items(self, items: Sequence[NewItem], *, source: str, client: str, now: float,
                  source_name: str | None = None) -> AddResult: ...

    def add_item_groups(self, groups: Sequence[tuple[Sequence[NewItem], str, str | None]], *, source: str,
                        now: float) -> list[AddResult]: ...

    def file_transaction(self, *, name: str, path: str | None, file_hash: str, size: int, source: str,
                         client: str, columns: tuple[str, ...] | None, now: float,
                         kind: ItemKind = "row") -> FileTransaction: ...

    def record_rejected_file(self, *, name: str, path: str | None, file_hash: str, size: int, source: str,
                             reason: str, now: float) -> FileRecord: ...

    def known_file(self, file_hash: str, name: str) -> FileRecord | None: ...

    def set_file_moved(self, file_id: int, moved_to: str) -> None: ...


@runtime_checkable
class BatchLedger(Protocol):
    """The sender's side of the state machine. A batch is persisted (body + idempotency key) before
    it is sent; every answer is recorded under the lease it was claimed with (``owner``).

    - ``claim``: lease the next due batch (an open one first, else one formed from due pending items
      of one group); its items become ``sending``. None when nothing is due.
    - ``complete`` -> items ``sent``; ``complete_and_claim``: that and the next ``claim`` in one commit;
      ``backoff`` -> ``pending`` again later, same batch and key;
      ``release`` -> ``pending`` now; ``reject_items`` -> the named items ``failed``, the rest sent
      or formed again; ``fail_batch`` -> all ``failed``; ``split`` -> closed, items formed again in
      smaller batches; ``defer_items`` -> items a body could not be built from wait.
    - housekeeping: ``reclaim_expired`` (crash recovery: expired lease -> pending), ``release_owner``,
      ``expire`` (too old -> ``dead``; a batch once leased is parked, never re-keyed), ``purge``
      (content of sent items after retention), ``make_due`` / ``make_future_due`` (clock put back).
    - reads the sender needs: ``next_due_at`` (an idle sender's sleep), ``tracking_ids`` (to report).
    A transition not allowed from an item's state raises ``IllegalTransition``.
    """

    def claim(self, *, now: float, lease_s: float, owner: str, limit: int, build: BuildFn) -> Batch | None: ...

    def complete(self, batch_id: int, *, owner: str, receipt: str, status: int, now: float) -> int: ...

    def complete_and_claim(self, batch_id: int, *, owner: str, receipt: str, status: int, now: float,
                           lease_s: float, next_owner: str, limit: int, build: BuildFn) -> tuple[int, Batch | None]: ...

    def backoff(self, batch_id: int, *, owner: str, next_at: float, status: int | None, error: str,
                now: float, count_attempt: bool = True) -> None: ...

    def release(self, batch_id: int, *, owner: str, now: float) -> None: ...

    def reject_items(self, batch_id: int, *, owner: str, failures: Mapping[int, str], status: int,
                     now: float, held: Collection[int] = (), receipt: str = "already at the intake"
                     ) -> tuple[list[int], list[int]]: ...

    def defer_items(self, item_ids: Sequence[int], *, error: str, next_at: float, now: float) -> int: ...

    def fail_batch(self, batch_id: int, *, owner: str, reason: str, status: int | None, now: float) -> list[int]: ...

    def split(self, batch_id: int, *, owner: str, build: BuildFn, status: int | None, reason: str, now: float,
              parts: int = 2) -> list[int]: ...

    def reclaim_expired(self, *, now: float) -> int: ...

    def release_owner(self, owner: str, *, now: float) -> int: ...

    def expire(self, *, now: float, after_days: float) -> int: ...

    def purge(self, *, now: float, retention_days: float) -> int: ...

    def make_due(self, *, now: float) -> int: ...

    def make_future_due(self, *, now: float, items_after: float, batches_after: float) -> int: ...

    def next_due_at(self) -> float | None: ...

    def tracking_ids(self, item_ids: Sequence[int]) -> list[str | None]: ...


@runtime_checkable
class PersonActions(Protocol):
    """What a person decides, each one transaction and audited (actor, action, item, reason).

    - ``retry``: ``failed`` / ``dead`` / ``discarded`` -> ``pending`` (a parked batch's items go
      back together, the same batch and key go again); any other state named explicitly raises.
    - ``discard``: ``failed`` / ``dead`` -> ``discarded`` (nothing deleted; a retry undoes it).
    - ``resend``: ``sent`` -> ``pending`` on purpose, past duplicate suppression (not once purged).
    - ``audit``: a person's action that changes no item (pause, resume, send now).
    - ``make_due``: everything waiting for its retry time is tried now ("send now").
    Each returns the ids it moved.
    """

    def retry(self, ids: Sequence[int] = (), *, state: ItemState | None = None, now: float,
              actor: str = "person") -> list[int]: ...

    def discard(self, ids: Sequence[int], *, now: float, actor: str = "person",
                reason: str | None = None) -> list[int]: ...

    def resend(self, ids: Sequence[int], *, now: float, actor: str = "person") -> list[int]: ...

    def audit(self, action: str, *, now: float, actor: str = "person", detail: str | None = None) -> None: ...

    def make_due(self, *, now: float) -> int: ...


@runtime_checkable
class ControlValues(Protocol):
    """The small shared values of the control table (keys in ``relay.store.control``): pause (who,
    why, whether to probe), the intake's unavailable-until, the problems list, last success.

    - ``set_control``: set several at once; None deletes a key.
    - ``pause_by_intake``: record the intake's pause unless a person's pause holds (a person's pause
      is never replaced); True when this is news.
    - ``clear_intake_pause``: lift the intake's pause and a Retry-After that has passed, and only those.
    - ``count_intake_request``: one more intake request with this outcome (``relay_intake_requests_total``);
      with ``later=True`` the count is written by the next write transaction of this outbox (the
      sender's answer, a moment later) instead of a durable commit of its own.
    """

    def get_control(self, key: str) -> str | None: ...

    def get_controls(self, keys: Sequence[str]) -> dict[str, str]: ...

    def set_control(self, values: dict[str, str | None]) -> None: ...

    def pause_by_intake(self, reason: str, *, probe: bool) -> bool: ...

    def clear_intake_pause(self, *, now: float) -> bool: ...

    def count_intake_request(self, outcome: str, *, later: bool = False) -> None: ...


@runtime_checkable
class OutboxQueries(Protocol):
    """Read-only questions: they change nothing, and run on a read-only connection as well.
    Lists are newest first; ``state`` filters must be one of ``STATES`` (ValueError otherwise)."""

    def counts(self) -> Counts: ...

    def get_item(self, item_id: int) -> Item | None: ...

    def list_items(self, *, state: ItemState | None = None, limit: int = 50, offset: int = 0,
                   search: str | None = None, before_id: int | None = None) -> list[Item]: ...

    def count_items(self, *, state: ItemState | None = None, search: str | None = None) -> int: ...

    def item_wire(self, item_id: int) -> str | None: ...

    def history(self, item_id: int) -> list[HistoryEntry]: ...

    def list_files(self, *, limit: int = 50, offset: int = 0, search: str | None = None) -> list[FileRecord]: ...

    def count_files(self, *, search: str | None = None) -> int: ...

    def list_duplicates(self, *, limit: int = 50, offset: int = 0,
                        search: str | None = None) -> list[dict[str, Any]]: ...

    def count_duplicates(self, *, search: str | None = None) -> int: ...

    def get_control(self, key: str) -> str | None: ...

    def get_controls(self, keys: Sequence[str]) -> dict[str, str]: ...

    def close(self) -> None: ...


# -- what one caller takes, when it plays two roles ------------------------------------------


class LedgerAndControls(BatchLedger, ControlValues, Protocol):
    """The sender's two roles, as one object gives them (the ``Outbox``)."""


class SinkAndQueries(ItemSink, OutboxQueries, Protocol):
    """The HTTP listener: items in, and an item's state read back (``GET /items/{id}``)."""


class ActionsAndControls(PersonActions, ControlValues, Protocol):
    """What the agent's person actions use (pause, resume, retry, ...)."""


ROLES: tuple[type, ...] = (ItemSink, BatchLedger, PersonActions, ControlValues, OutboxQueries)
