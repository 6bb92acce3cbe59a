"""Background work for the window: plain threads, results handed back on the GUI thread.

Two lanes, each one thread so that work in a lane happens in order:

- ``read``: questions to the store (pages of the table, counts, history). Short, many.
- ``action``: things a person asked for (retry, resend, export, saving settings, restarting the
  agent). They may take seconds; the window shows a busy indicator with the action's label and
  stays usable meanwhile.

Callbacks always run on the GUI thread. An exception in a job goes to its ``on_error`` (or, by
default, is logged with its traceback and reported through ``failed``).

A worker thread never holds the last reference to a job: the GUI thread keeps each job until its
callback has run, and the worker drops its own references before it hands the job back. So
whatever a job's callbacks hold (widgets, models) is freed on the GUI thread, where Qt needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from relay.errors import RelayError

log = logging.getLogger("relay.ui")

Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]


@dataclass
class _Job:
    fn: Callable[[], Any]
    on_done: Done | None
    on_error: Failed | None
    label: str | None
    result: Any = None
    error: BaseException | None = None


class Worker(QObject):
    busyChanged = Signal(str)  # the running action's label, or "" when no action runs
    failed = Signal(str)  # a job failed and nobody handled it: plain words for the status bar
    _finished = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._reads = ThreadPoolExecutor(1, thread_name_prefix="relay-ui-read")
        self._actions = ThreadPoolExecutor(1, thread_name_prefix="relay-ui-action")
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._in_flight = 0
        self._jobs: dict[int, _Job] = {}  # submitted and not yet delivered, by key (GUI thread owns them)
        self._next_key = 0
        self._labels: list[str] = []
        self._closed = False

    @property
    def idle(self) -> bool:
        return self._in_flight == 0

    @property
    def busy_label(self) -> str:
        return self._labels[0] if self._labels else ""

    def read(self, fn: Callable[[], Any], on_done: Done | None = None, on_error: Failed | None = None) -> None:
        self._submit(self._reads, _Job(fn, on_done, on_error, None))

    def action(self, label: str, fn: Callable[[], Any], on_done: Done | None = None,
               on_error: Failed | None = None) -> None:
        self._labels.append(label)
        self.busyChanged.emit(self.busy_label)
        self._submit(self._actions, _Job(fn, on_done, on_error, label))

    def _submit(self, pool: ThreadPoolExecutor, job: _Job) -> None:
        if self._closed:
            return
        self._in_flight += 1
        self._next_key += 1
        key = self._next_key
        self._jobs[key] = job
        pool.submit(self._run, key)

    def _run(self, key: int) -> None:  # on a worker thread
        job: _Job | None = self._jobs[key]
        assert job is not None
        try:
            job.result = job.fn()
        except BaseException as exc:  # handed to the GUI thread, where it is shown or logged
            job.error = exc
        job = None  # the GUI thread's reference is the last one
        self._finished.emit(key)

    def _deliver(self, key: int) -> None:  # on the GUI thread
        job = self._jobs.pop(key, None)
        if job is None:  # finished after shutdown() let go of it
            return
        self._in_flight -= 1
        if job.label is not None:
            self._labels.remove(job.label)
            self.busyChanged.emit(self.busy_label)
        if self._closed:
            return
        if job.error is None:
            if job.on_done is not None:
                job.on_done(job.result)
        elif job.on_error is not None:
            job.on_error(job.error)
        else:
            self.report(job.error)

    def report(self, exc: BaseException) -> None:
        """Relay's own errors are shown as they are; anything else is a bug, logged in full."""
        if isinstance(exc, RelayError):
            log.warning("%s", exc)
            self.failed.emit(str(exc))
        else:
            log.error("background job failed", exc_info=exc)
            self.failed.emit(f"Something went wrong ({type(exc).__name__}: {exc}); details are in the log.")

    def shutdown(self) -> None:
        """Wait for running jobs, drop queued ones; no callback runs afterwards."""
        self._closed = True
        self._reads.shutdown(wait=True, cancel_futures=True)
        self._actions.shutdown(wait=True, cancel_futures=True)
        self._jobs.clear()
