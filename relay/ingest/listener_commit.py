"""Group commit for the local listener: concurrent posts share one durable transaction.

One committer thread takes every request waiting in the queue and writes them with a single
``Outbox.add_item_groups`` call (one fsync for all of them), then answers each. If that shared
transaction fails, nothing of it was stored, and each request is tried again alone, so that one
bad request cannot fail the others.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from relay.clock import Clock
from relay.errors import EnvironmentProblem, RelayError
from relay.store.models import AddResult, NewItem
from relay.store.outbox import Outbox

log = logging.getLogger("relay.ingest")

SOURCE = "listener"
MAX_GROUP_ITEMS = 20_000  # items in one shared transaction; a single request is never split


@dataclass
class _Job:
    items: Sequence[NewItem]
    name: str | None
    future: Future[AddResult] = field(default_factory=Future)


_STOP = object()


class GroupCommitter:
    """Stores requests' items durably, sharing transactions between requests that wait together."""

    def __init__(self, outbox: Outbox, *, client: str, clock: Clock, notify: Callable[[], None],
                 source: str = SOURCE) -> None:
        self._outbox = outbox
        self._source = source
        self._client = client
        self._clock = clock
        self._notify = notify
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = True
        self.commits = 0  # transactions that stored at least one request
        self.requests = 0  # requests stored

    @property
    def waiting(self) -> int:
        """Requests queued for the next transaction (approximate)."""
        return self._queue.qsize()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the committer is already running")
            self._closed = False
            self._thread = threading.Thread(target=self._run, name="relay-listener-commit", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Answers every request submitted so far, then ends the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._closed = True
            self._queue.put(_STOP)
        thread.join(timeout)
        if thread.is_alive():
            log.error("listener: the commit thread did not stop within %.0f s", timeout)

    def submit(self, items: Sequence[NewItem], name: str | None) -> Future[AddResult]:
        """Queue one request's items; the future holds its AddResult once durably committed."""
        job = _Job(items, name)
        with self._lock:
            if self._closed:
                raise EnvironmentProblem("the listener is stopping and takes no more results")
            self._queue.put(job)
        return job.future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            jobs: list[_Job] = []
            count = 0
            nxt: _Job | object = first
            while True:
                assert isinstance(nxt, _Job)
                # A request whose caller went away before its turn is not stored: it got no answer.
                if nxt.future.set_running_or_notify_cancel():
                    jobs.append(nxt)
                    count += len(nxt.items)
                if count >= MAX_GROUP_ITEMS:
                    break
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
            if jobs:
                self._commit(jobs)
            # Let go of the requests' items before waiting for the next: a large post's items would
            # otherwise stay in memory until another post arrives.
            del jobs, first, nxt

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            results = self._outbox.add_item_groups(
                [(job.items, self._client, job.name) for job in jobs], source=self._source, now=self._clock.now()
            )
        except Exception as exc:
            if len(jobs) > 1:
                log.warning("listener: a shared commit of %d requests failed (%s); storing each alone",
                            len(jobs), type(exc).__name__)
                for job in jobs:
                    self._commit([job])
                return
            if not isinstance(exc, RelayError):
                log.error("listener: storing a request failed unexpectedly", exc_info=exc)
            jobs[0].future.set_exception(exc)
            return
        self.commits += 1
        self.requests += len(jobs)
        accepted = sum(result.accepted for result in results)
        log.debug("listener: stored %d request(s) in one commit: %d new item(s), %d duplicate(s)",
                  len(jobs), accepted, sum(result.duplicates for result in results))
        if accepted:
            # Before answering: a caller that has its 202 knows the sender is already awake.
            try:
                self._notify()
            except Exception:  # the items are stored; a broken wake-up must not stop the listener
                log.exception("listener: waking the sender failed")
        for job, result in zip(jobs, results):
            job.items = ()  # stored: the caller's own reference is the last, freed when it answers
            job.future.set_result(result)
