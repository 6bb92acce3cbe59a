"""The delivery half of the outbox state machine: batches leased and answered.

A batch is formed once (``relay/store/forming.py``), with a fixed idempotency key and body, and
persisted. Until the intake gives a definitive answer, every retry (also after a crash) sends that
same batch again. Each method is one transaction; a transition from a state that does not allow it
raises.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection, Mapping, Sequence

from relay.errors import IllegalTransition
from relay.store.forming import DUE_OPEN_BATCH, BatchForming, BodyNotFormedAgain, BuildFailed, BuildFn, _Prepared
from relay.store.models import Batch, Rebuilder

__all__ = ["PARKED", "BatchTransitions", "BuildFailed", "BuildFn"]

log = logging.getLogger("relay.store")

DAY = 86_400.0
PARKED = 1e300  # next_attempt_at of a batch that waits for a person (its items are dead)


class BatchTransitions(BatchForming):
    # -- forming and claiming -----------------------------------------------------------------

    def claim(self, *, now: float, lease_s: float, owner: str, limit: int, build: BuildFn) -> Batch | None:
        """Lease the next due batch: an open one waiting for its retry first, else a new one
        formed from the oldest due pending items of one group (same client, columns, file)."""
        with self._forming:
            prepared = self._prepare(now=now, limit=limit, build=build)
            with self.db.transaction() as conn:
                return self._claim(conn, now=now, lease_s=lease_s, owner=owner, limit=limit, build=build,
                                   prepared=prepared)

    def _claim(self, conn: sqlite3.Connection, *, now: float, lease_s: float, owner: str, limit: int,
               build: BuildFn, prepared: _Prepared | None = None) -> Batch | None:
        row = conn.execute(DUE_OPEN_BATCH, (now, now)).fetchone()
        while row:
            batch_id = row[0]
            try:
                batch = self._batch(conn, batch_id, build)
            except BodyNotFormedAgain as exc:  # never sent with other bytes under its key: a person decides
                self._give_up_body(conn, batch_id, str(exc), now)
                row = conn.execute(DUE_OPEN_BATCH, (now, now)).fetchone()
                continue
            conn.execute(
                "UPDATE batches SET lease_owner = ?, lease_until = ?, updated_at = ?, "
                "claimed_at = coalesce(claimed_at, ?) WHERE id = ?",
                (owner, now + lease_s, now, now, batch_id),
            )
            return batch  # its items read as 'sending' from now: nothing else is written
        if prepared is None or not self._free(conn, prepared.used):  # formed here after all
            prepared = self._form_new(conn, now, limit, build)
            if prepared is None:
                return None
        # Formed already leased: one batch row, and the items bound to it in one statement.
        return self._insert(conn, prepared.spec, prepared.used, now, client=prepared.client,
                            source_name=prepared.source_name, parent=None, lease=(owner, now + lease_s),
                            keep_body=not isinstance(build, Rebuilder))

    @staticmethod
    def _leased(conn: sqlite3.Connection, batch_id: int, owner: str) -> int:
        """Checks the lease; returns the batch's attempts so far (its items' share, folded into
        them when the batch is answered)."""
        row = conn.execute("SELECT state, lease_owner, attempts FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            raise IllegalTransition(f"there is no batch {batch_id}")
        if row[0] != "open" or row[1] != owner:
            raise IllegalTransition(f"batch {batch_id} is not leased by this sender (state {row[0]})")
        return int(row[2])

    @staticmethod
    def _unbind(conn: sqlite3.Connection, batch_id: int, where: str, params: Sequence[object]) -> None:
        """Items leaving an open batch without an answer of their own keep what the batch held for
        them: its attempts, its last answer and next try (as if written on them all along)."""
        conn.execute(
            "UPDATE items SET attempts = items.attempts + b.attempts, "
            "last_status = CASE WHEN b.last_error IS NULL THEN items.last_status ELSE b.last_status END, "
            "last_error = coalesce(b.last_error, items.last_error), "
            "next_attempt_at = CASE WHEN b.attempts > 0 THEN b.next_attempt_at ELSE items.next_attempt_at END "
            f"FROM batches b WHERE b.id = ? AND items.batch_id = b.id AND {where}", (batch_id, *params))

    # -- answers --------------------------------------------------------------------------------

    def complete(self, batch_id: int, *, owner: str, receipt: str, status: int, now: float) -> int:
        """The intake acknowledged the batch: every item is sent, with the receipt."""
        with self.db.transaction() as conn:
            return self._complete(conn, batch_id, owner=owner, receipt=receipt, status=status, now=now)

    def complete_and_claim(self, batch_id: int, *, owner: str, receipt: str, status: int, now: float,
                           lease_s: float, next_owner: str, limit: int, build: BuildFn) -> tuple[int, Batch | None]:
        """``complete``, then ``claim`` (the next batch, leased to ``next_owner``) in the same durable
        commit: a sender that keeps sending pays one commit a batch, not two. A next batch that
        cannot be built is not claimed here (the next ``claim`` says why); the completion stands."""
        with self._forming:
            try:
                prepared = self._prepare(now=now, limit=limit, build=build)
            except BuildFailed:  # the next claim says why
                prepared, build_failed = None, True
            else:
                build_failed = False
            with self.db.transaction() as conn:
                count = self._complete(conn, batch_id, owner=owner, receipt=receipt, status=status, now=now)
                if build_failed:
                    return count, None
                try:
                    following = self._claim(conn, now=now, lease_s=lease_s, owner=next_owner, limit=limit,
                                            build=build, prepared=prepared)
                except BuildFailed:
                    following = None
                return count, following

    def _complete(self, conn: sqlite3.Connection, batch_id: int, *, owner: str, receipt: str, status: int,
                  now: float) -> int:
        before = self._leased(conn, batch_id, owner)
        cur = conn.execute(
            "UPDATE items SET state = 'sent', receipt = ?, last_status = ?, last_error = NULL, sent_at = ?, "
            "updated_at = ?, attempts = attempts + ? WHERE batch_id = ? AND state = 'pending'",
            (receipt, status, now, now, before + 1, batch_id),
        )
        conn.execute(
            "UPDATE batches SET state = 'done', receipt = ?, last_status = ?, attempts = attempts + 1, "
            "lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
            (receipt, status, now, batch_id),
        )
        self._event(conn, batch_id, now, "delivered", status, None)
        conn.execute("INSERT INTO control (key, value) VALUES ('last_success_at', ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (repr(now),))
        return cur.rowcount

    def backoff(self, batch_id: int, *, owner: str, next_at: float, status: int | None, error: str,
                now: float, count_attempt: bool = True) -> None:
        """Outcome unknown or intake unavailable: the same batch goes again at ``next_at``."""
        inc = 1 if count_attempt else 0
        with self.db.transaction() as conn:
            self._leased(conn, batch_id, owner)
            # The batch row alone: its items read its attempts, answer and next try (schema 4).
            conn.execute(
                "UPDATE batches SET attempts = attempts + ?, next_attempt_at = ?, last_status = ?, last_error = ?, "
                "lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
                (inc, next_at, status, error, now, batch_id),
            )
            self._event(conn, batch_id, now, "retry" if count_attempt else "deferred", status, error)

    def release(self, batch_id: int, *, owner: str, now: float) -> None:
        """Give the lease back without an attempt (stopping, pausing)."""
        with self.db.transaction() as conn:
            self._leased(conn, batch_id, owner)
            self._release(conn, batch_id, now)

    @staticmethod
    def _release(conn: sqlite3.Connection, batch_id: int, now: float) -> None:
        conn.execute("UPDATE batches SET lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
                     (now, batch_id))

    def reject_items(self, batch_id: int, *, owner: str, failures: Mapping[int, str], status: int,
                     now: float, held: Collection[int] = (), receipt: str = "already at the intake"
                     ) -> tuple[list[int], list[int]]:
        """The intake named items (1-based positions): bad ones (``failures``) fail; the ones it
        already holds (``held``) are sent, with ``receipt``; the rest go back to be re-batched under
        a new key. Returns (failed ids, requeued ids)."""
        with self.db.transaction() as conn:
            self._leased(conn, batch_id, owner)
            self._unbind(conn, batch_id, "items.state = 'pending'", ())
            members = conn.execute("SELECT position, item_id FROM batch_items WHERE batch_id = ? ORDER BY position",
                                   (batch_id,)).fetchall()
            failed, requeued = [], []
            for position, item_id in members:
                if position in held:
                    conn.execute(
                        "UPDATE items SET state = 'sent', receipt = ?, last_status = ?, last_error = NULL, "
                        "sent_at = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
                        (receipt, status, now, now, item_id))
                elif position in failures:
                    conn.execute(
                        "UPDATE items SET state = 'failed', last_status = ?, last_error = ?, attempts = attempts + 1, "
                        "batch_id = NULL, updated_at = ? WHERE id = ?",
                        (status, failures[position], now, item_id),
                    )
                    failed.append(item_id)
                else:
                    conn.execute(
                        "UPDATE items SET state = 'pending', batch_id = NULL, next_attempt_at = ?, updated_at = ? "
                        "WHERE id = ?",
                        (now, now, item_id),
                    )
                    requeued.append(item_id)
            reason = f"{len(failed)} item(s) rejected by the intake"
            if held:
                reason += f", {len(held)} already at the intake"
                conn.execute("INSERT INTO control (key, value) VALUES ('last_success_at', ?) "
                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (repr(now),))
            self._close(conn, batch_id, status, reason, now)
        return failed, requeued

    def defer_items(self, item_ids: Sequence[int], *, error: str, next_at: float, now: float) -> int:
        """Pending items whose batch could not be built: the reason on each, one more attempt, and
        the next try at ``next_at`` (as after an unknown outcome)."""
        with self.db.transaction() as conn:
            return conn.executemany(
                "UPDATE items SET last_error = ?, attempts = attempts + 1, next_attempt_at = ?, updated_at = ? "
                "WHERE id = ? AND state = 'pending' AND batch_id IS NULL",
                [(error, next_at, now, item_id) for item_id in item_ids]).rowcount

    def fail_batch(self, batch_id: int, *, owner: str, reason: str, status: int | None, now: float) -> list[int]:
        """Every item of the batch needs a person (e.g. the intake refused the whole batch)."""
        with self.db.transaction() as conn:
            before = self._leased(conn, batch_id, owner)
            ids = [r[0] for r in conn.execute("SELECT item_id FROM batch_items WHERE batch_id = ?", (batch_id,))]
            conn.execute(
                "UPDATE items SET state = 'failed', last_status = ?, last_error = ?, attempts = attempts + ?, "
                "batch_id = NULL, updated_at = ? WHERE batch_id = ?",
                (status, reason, before + 1, now, batch_id),
            )
            self._close(conn, batch_id, status, reason, now)
        return ids

    def split(self, batch_id: int, *, owner: str, build: BuildFn, status: int | None, reason: str, now: float,
              parts: int = 2) -> list[int]:
        """Close the batch and form ``parts`` smaller batches of its items, in order, due now."""
        with self.db.transaction() as conn:
            self._leased(conn, batch_id, owner)
            ids = [r[0] for r in conn.execute(
                "SELECT item_id FROM batch_items WHERE batch_id = ? ORDER BY position", (batch_id,))]
            if len(ids) < 2:
                raise IllegalTransition(f"batch {batch_id} has one item and cannot be split")
            self._unbind(conn, batch_id, "items.state = 'pending'", ())
            self._close(conn, batch_id, status, reason, now)
            conn.execute("UPDATE items SET state = 'pending', batch_id = NULL, updated_at = ? WHERE batch_id = ?",
                         (now, batch_id))
            client, source_name = conn.execute("SELECT client, payloadname FROM batches WHERE id = ?",
                                               (batch_id,)).fetchone()
            size = -(-len(ids) // parts)
            children = []
            for start in range(0, len(ids), size):
                chunk = ids[start:start + size]
                marks = ",".join("?" * len(chunk))
                members = self._members(conn, f"WHERE id IN ({marks}) ORDER BY id", chunk)
                order = {item_id: i for i, item_id in enumerate(chunk)}
                members.sort(key=lambda it: order[it.id])
                while members:  # a size-limited build may take a prefix only
                    child, taken = self._form(conn, members, build, now, client=client, source_name=source_name,
                                              parent=batch_id)
                    children.append(child)
                    members = members[taken:]
        return children

    @classmethod
    def _close(cls, conn: sqlite3.Connection, batch_id: int, status: int | None, reason: str, now: float) -> None:
        conn.execute(
            "UPDATE batches SET state = 'closed', attempts = attempts + 1, last_status = ?, last_error = ?, "
            "lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
            (status, reason, now, batch_id),
        )
        cls._event(conn, batch_id, now, "closed", status, reason)

    # -- housekeeping ---------------------------------------------------------------------------

    def reclaim_expired(self, *, now: float) -> int:
        """Leases whose holder died (crash): the batch waits for its next attempt, unchanged."""
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id FROM batches WHERE state = 'open' AND lease_until IS NOT NULL AND lease_until <= ?", (now,)
            ).fetchall()
            for (batch_id,) in rows:
                self._release(conn, batch_id, now)
                self._event(conn, batch_id, now, "lease expired", None, None)
        if rows:
            log.info("reclaimed %d batch(es) whose lease had expired", len(rows))
        return len(rows)

    def release_owner(self, owner: str, *, now: float) -> int:
        """Graceful stop: give back every lease this sender holds (``owner`` or ``owner/<claim>``)."""
        escaped = owner.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id FROM batches WHERE state = 'open' AND (lease_owner = ? OR lease_owner LIKE ? ESCAPE '\\')",
                (owner, escaped + "/%"),
            ).fetchall()
            for (batch_id,) in rows:
                self._release(conn, batch_id, now)
        return len(rows)

    def expire(self, *, now: float, after_days: float) -> int:
        """Pending or failed this long -> dead (kept for a person, never deleted)."""
        cutoff = now - after_days * DAY
        reason = f"not delivered within {after_days:g} days"
        with self.db.transaction() as conn:
            batches = conn.execute(
                "SELECT DISTINCT i.batch_id, b.claimed_at FROM items i JOIN batches b ON b.id = i.batch_id "
                "WHERE i.state = 'pending' AND i.created_at < ? AND b.state = 'open' "
                "AND b.lease_until IS NULL", (cutoff,)).fetchall()  # a leased batch's items are 'sending'
            count = 0
            for batch_id, claimed in batches:
                if claimed is None:  # never leased, so never sent: its items may go into a new batch later
                    self._unbind(conn, batch_id, "items.state = 'pending'", ())
                    count += conn.execute(
                        "UPDATE items SET state = 'dead', last_error = ?, batch_id = NULL, updated_at = ? "
                        "WHERE batch_id = ? AND state = 'pending'", (reason, now, batch_id)).rowcount
                    self._close(conn, batch_id, None, reason, now)
                    continue
                # Sent before with an unknown outcome: the intake may hold it. The batch is parked, not
                # closed, so a retry sends the same bytes under the same key (never a second copy).
                count += conn.execute(
                    "UPDATE items SET state = 'dead', last_error = ?, updated_at = ? "
                    "WHERE batch_id = ? AND state = 'pending'", (reason, now, batch_id)).rowcount
                conn.execute("UPDATE batches SET next_attempt_at = ?, updated_at = ? WHERE id = ?",
                             (PARKED, now, batch_id))
                self._event(conn, batch_id, now, "parked", None, reason)
            count += conn.execute(
                "UPDATE items SET state = 'dead', last_error = coalesce(last_error || ' — ', '') || ?, updated_at = ? "
                "WHERE state IN ('pending', 'failed') AND batch_id IS NULL AND created_at < ?",
                (reason, now, cutoff)).rowcount
        if count:
            log.info("%d item(s) expired to dead after %g days", count, after_days)
        return count

    def purge(self, *, now: float, retention_days: float) -> int:
        """Drop payloads (not hashes, not history) of items sent longer ago than the retention."""
        cutoff = now - retention_days * DAY
        due = "state = 'sent' AND purged_at IS NULL AND sent_at < ?"  # what items_purge holds, by sent_at
        with self.db.transaction() as conn:
            conn.execute(f"DELETE FROM payloads WHERE item_id IN (SELECT id FROM items INDEXED BY items_purge "
                         f"WHERE {due})", (cutoff,))
            count = conn.execute(f"UPDATE items INDEXED BY items_purge SET purged_at = ? WHERE {due}",
                                 (now, cutoff)).rowcount
            conn.execute("DELETE FROM batch_bodies WHERE batch_id IN "
                         "(SELECT id FROM batches WHERE state <> 'open' AND updated_at < ?)", (cutoff,))
        return count

    def make_due(self, *, now: float) -> int:
        """"Send now": everything waiting for a retry becomes due at once (parked batches stay)."""
        return self.make_future_due(now=now, items_after=now, batches_after=now)

    def make_future_due(self, *, now: float, items_after: float, batches_after: float) -> int:
        """Waits set by a clock that was ahead and has been put back: unbatched pending items due
        after ``items_after`` and open batches due after ``batches_after`` become due now."""
        with self.db.transaction() as conn:
            n = conn.execute("UPDATE batches SET next_attempt_at = ? WHERE state = 'open' AND next_attempt_at > ? "
                             "AND next_attempt_at < ?", (now, batches_after, PARKED)).rowcount
            n += conn.execute("UPDATE items SET next_attempt_at = ? WHERE state = 'pending' AND batch_id IS NULL "
                              "AND next_attempt_at > ?", (now, items_after)).rowcount
        return n
