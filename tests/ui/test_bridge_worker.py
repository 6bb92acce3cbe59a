"""The bridge hands the core's events to the GUI thread; the worker runs jobs off it."""

from __future__ import annotations

import threading

import pytest

from relay.errors import EnvironmentProblem
from relay.events import CountsChanged, Delivered, EventBus, ItemsFailed, Problem, SenderState
from relay.ui.bridge import Bridge
from relay.ui.worker import Worker

pytestmark = pytest.mark.gui


def test_events_from_a_background_thread_arrive_on_the_gui_thread(qtbot):
    bus = EventBus()
    bridge = Bridge()
    bridge.attach(bus)
    seen: list[tuple[str, object, bool]] = []
    gui = threading.current_thread()
    bridge.delivered.connect(lambda e: seen.append(("delivered", e, threading.current_thread() is gui)))
    bridge.itemsFailed.connect(lambda e: seen.append(("failed", e, threading.current_thread() is gui)))
    bridge.senderState.connect(lambda e: seen.append(("state", e, threading.current_thread() is gui)))
    bridge.problem.connect(lambda e: seen.append(("problem", e, threading.current_thread() is gui)))
    every: list[object] = []
    bridge.anyEvent.connect(every.append)
    events = [Delivered(1, 10, 1.0), ItemsFailed(2, "bad", 2.0), SenderState("sending"), Problem("k", "gone"),
              CountsChanged(3.0)]
    t = threading.Thread(target=lambda: [bus.emit(e) for e in events])
    t.start()
    t.join()
    assert seen == []  # nothing ran on the emitting thread
    qtbot.waitUntil(lambda: len(every) == len(events))
    assert every == events
    assert [(k, e) for k, e, _ in seen] == [("delivered", events[0]), ("failed", events[1]), ("state", events[2]),
                                           ("problem", events[3])]
    assert all(on_gui for _, _, on_gui in seen)


def test_attach_moves_to_another_bus_and_detach_stops(qtbot):
    a, b = EventBus(), EventBus()
    bridge = Bridge()
    got: list[object] = []
    bridge.anyEvent.connect(got.append)
    bridge.attach(a)
    bridge.attach(b)
    a.emit(CountsChanged(1.0))
    b.emit(CountsChanged(2.0))
    qtbot.waitUntil(lambda: len(got) == 1)
    bridge.detach()
    b.emit(CountsChanged(3.0))
    qtbot.wait(50)
    assert got == [CountsChanged(2.0)]


def test_worker_runs_jobs_off_the_gui_thread_and_answers_on_it(qtbot):
    worker = Worker()
    gui = threading.current_thread()
    where: list[bool] = []
    results: list[object] = []

    def job():
        where.append(threading.current_thread() is gui)
        return 42

    worker.read(job, lambda r: results.append((r, threading.current_thread() is gui)))
    qtbot.waitUntil(lambda: worker.idle)
    assert where == [False] and results == [(42, True)]
    worker.shutdown()


def test_worker_errors_labels_and_order(qtbot):
    worker = Worker()
    labels: list[str] = []
    failures: list[str] = []
    worker.busyChanged.connect(labels.append)
    worker.failed.connect(failures.append)
    gate = threading.Event()
    order: list[int] = []
    worker.action("Retrying 3 results", lambda: (gate.wait(5), order.append(1)))
    worker.action("Exporting", lambda: order.append(2))
    assert worker.busy_label == "Retrying 3 results" and not worker.idle
    gate.set()
    qtbot.waitUntil(lambda: worker.idle)
    assert order == [1, 2]  # actions run one at a time, in order
    assert labels == ["Retrying 3 results", "Retrying 3 results", "Exporting", ""]

    errors: list[BaseException] = []

    def boom():
        raise EnvironmentProblem("the disk is full")

    worker.action("x", boom, on_error=errors.append)
    worker.read(boom)  # nobody handles it: reported
    qtbot.waitUntil(lambda: worker.idle)
    assert [str(e) for e in errors] == ["the disk is full"]
    assert failures == ["the disk is full"]
    worker.shutdown()
    worker.read(lambda: 1)  # after shutdown: ignored, not an error
    assert worker.idle
