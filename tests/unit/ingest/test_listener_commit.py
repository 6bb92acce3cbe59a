"""Group commit: concurrent posts share transactions, and one bad request cannot fail the others."""

from __future__ import annotations

import json
import sqlite3
import threading

import httpx
import pytest

from relay.clock import FakeClock
from relay.errors import EnvironmentProblem
from relay.ingest.listener_commit import GroupCommitter
from relay.store.outbox import Outbox
from tests.helpers.builders import new_item
from tests.unit.ingest.listener_support import running, wait_until


class GatedOutbox(Outbox):
    """The real outbox; its first group commit waits for the test, and every call is recorded."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.calls: list[int] = []  # requests per add_item_groups call

    def add_item_groups(self, groups, *, source, now):
        first = not self.calls
        self.calls.append(len(groups))
        if first:
            self.gate.wait(15)
        return super().add_item_groups(groups, source=source, now=now)


class PoisonOutbox(GatedOutbox):
    """Fails any transaction holding an item tracked as "poison", after really writing its rows."""

    failure: type[Exception] = sqlite3.OperationalError

    def _add_into(self, conn, items, *args):
        super()._add_into(conn, items, *args)
        if any(item.tracking_id == "poison" for item in items):
            raise self.failure("disk I/O error")


def post_concurrently(url: str, bodies: list[str]) -> tuple[list[httpx.Response], list[threading.Thread]]:
    """Start one thread per body; the answers list fills in as they come back."""
    answers: list[httpx.Response] = [None] * len(bodies)  # type: ignore[list-item]

    def one(i: int) -> None:
        with httpx.Client(timeout=30) as client:
            answers[i] = client.post(f"{url}/v1/results", content=bodies[i].encode(),
                                     headers={"content-type": "application/json"})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    return answers, threads


def test_fifty_concurrent_posts_share_commits(tmp_path):
    box = GatedOutbox(tmp_path / "outbox.db")
    with running(tmp_path, outbox=box) as rig:
        bodies = [json.dumps({"Result_ID": f"r{i}", "Test_result_code": "260415000"}) for i in range(50)]
        answers, threads = post_concurrently(rig.listener.url, bodies)
        try:
            # The first request(s) are inside the first commit (held there); the others queue behind.
            wait_until(lambda: bool(box.calls) and box.calls[0] + rig.listener.stats()["waiting"] == 50)
        finally:
            box.gate.set()
        for t in threads:
            t.join(30)
        assert [a.status_code for a in answers] == [202] * 50
        assert len(box.calls) == 2 and sum(box.calls) == 50
        assert rig.listener.stats() == {"commits": 2, "requests": 50, "waiting": 0}
        ids = sorted(a.json()["ids"][0] for a in answers)
        assert ids == list(range(1, 51))
        assert rig.count() == 50
        for answer, body in zip(answers, bodies):
            item = box.get_item(answer.json()["ids"][0])
            assert item.tracking_id == json.loads(body)["Result_ID"]
        assert len(rig.notified) == 2  # the sender is woken once per commit


def test_fifty_concurrent_posts_without_holding_are_each_stored_once(tmp_path):
    box = GatedOutbox(tmp_path / "outbox.db")
    box.gate.set()
    with running(tmp_path, outbox=box) as rig:
        bodies = [json.dumps({"Result_ID": f"r{i}"}) for i in range(50)]
        answers, threads = post_concurrently(rig.listener.url, bodies)
        for t in threads:
            t.join(30)
        assert {a.status_code for a in answers} == {202}
        assert rig.count() == 50
        assert sum(box.calls) == 50  # every request went into exactly one commit


@pytest.mark.parametrize(("failure", "status"), [(sqlite3.OperationalError, 503), (RuntimeError, 500)])
def test_a_failing_request_is_retried_alone_and_fails_alone(tmp_path, failure, status):
    box = PoisonOutbox(tmp_path / "outbox.db")
    box.failure = failure
    with running(tmp_path, outbox=box) as rig:
        first, first_threads = post_concurrently(rig.listener.url, [json.dumps({"Result_ID": "first"})])
        try:
            wait_until(lambda: box.calls == [1])
            bodies = [json.dumps([{"Result_ID": f"good{i}a"}, {"Result_ID": f"good{i}b"}]) for i in range(4)]
            bodies.insert(2, json.dumps([{"Result_ID": "fine-in-poison"}, {"Result_ID": "poison"}]))
            answers, threads = post_concurrently(rig.listener.url, bodies)
            wait_until(lambda: rig.listener.stats()["waiting"] == 5)
        finally:
            box.gate.set()
        for t in threads + first_threads:
            t.join(30)
        assert first[0].status_code == 202
        assert [a.status_code for a in answers] == [202, 202, status, 202, 202]
        assert answers[2].json()["error"]
        assert box.calls == [1, 5, 1, 1, 1, 1, 1]  # the shared try, then each alone
        assert rig.count() == 1 + 8  # nothing of the failed request, not even its good first item
        with box.db.lock:
            tracked = {r[0] for r in box.db.conn.execute("SELECT tracking_id FROM items")}
        assert "poison" not in tracked and "fine-in-poison" not in tracked
        # and the listener keeps working
        assert rig.post(json.dumps({"Result_ID": "later"})).status_code == 202


def test_all_duplicate_commits_do_not_wake_the_sender(tmp_path):
    with running(tmp_path) as rig:
        rig.post(json.dumps({"Result_ID": "a"}))
        rig.post(json.dumps({"Result_ID": "a"}))
        assert len(rig.notified) == 1


def test_committer_answers_everything_queued_before_stop_then_refuses(tmp_path):
    box = Outbox(tmp_path / "outbox.db")
    committer = GroupCommitter(box, client="c", clock=FakeClock(), notify=lambda: None)
    committer.start()
    futures = [committer.submit([new_item(i)], None) for i in range(200)]
    committer.stop()
    assert all(f.done() for f in futures)
    assert sorted(f.result().ids[0] for f in futures) == list(range(1, 201))
    with pytest.raises(EnvironmentProblem, match="stopping"):
        committer.submit([new_item(999)], None)
    box.close()
