"""The stub's fleet endpoints: heartbeats kept (SQLite), agents listed, stale after three intervals,
the page sorted by oldest pending age. The stub's clock is injected."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from server_stub import ManualClock
from tests.helpers.stub_server import http_client, stub_server

TOKEN = "fleet-token-0123456789"
T0 = 1_796_558_400.0  # 2026-12-06T12:00:00Z


def beat(agent_id: str, site: str, *, every_s: float = 60, agent_now: float = T0, oldest_age: float | None = None,
         **status: Any) -> dict[str, Any]:
    from datetime import datetime, timezone

    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")

    body = {"pending": 0, "sending": 0, "sent": 10, "failed": 0, "dead": 0, "paused": False, "paused_reason": None,
            "now": iso(agent_now), "oldest_pending_at": None, "healthy": True, "unhealthy_reasons": [], **status}
    if oldest_age is not None:
        body["oldest_pending_at"] = iso(agent_now - oldest_age)
    return {"agent_id": agent_id, "site": site, "version": "0.1.0", "every_s": every_s,
            "sent_at": iso(agent_now), "status": body}


class Table(HTMLParser):
    """The page's body rows, as the text of their cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.refresh: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "meta" and a.get("http-equiv") == "refresh":
            self.refresh = a.get("content")
        if tag == "tbody":
            self._in_body = True
        if self._in_body and tag == "tr":
            self.rows.append([])
        if self._in_body and tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "tbody":
            self._in_body = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data + " ")


@pytest.fixture
def fleet():
    clock = ManualClock(T0)
    with stub_server(token=TOKEN, clock=clock) as stub:
        with http_client(stub.base_url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            yield stub, http, clock


def test_heartbeats_are_kept_and_listed_with_stale_after_three_intervals(fleet):
    stub, http, clock = fleet
    assert http.post("/api/agents", json=beat("a-1", "Clinic North", pending=4, oldest_age=600)).status_code == 200
    clock.advance(30)
    assert http.post("/api/agents", json=beat("a-2", "Clinic South", every_s=300)).status_code == 200
    clock.advance(151)  # a-1 silent 181 s > 3 x 60 s; a-2 silent 151 s < 900 s
    agents = {a["agent_id"]: a for a in http.get("/api/agents").json()["agents"]}
    assert agents["a-1"]["stale"] is True and agents["a-2"]["stale"] is False
    assert agents["a-1"]["pending"] == 4 and agents["a-1"]["oldest_pending_age_s"] == 600
    assert agents["a-2"]["oldest_pending_age_s"] is None
    # a new heartbeat replaces the last one: the agent is fresh again
    http.post("/api/agents", json=beat("a-1", "Clinic North", agent_now=T0 + 181))
    (again,) = [a for a in http.get("/api/agents").json()["agents"] if a["agent_id"] == "a-1"]
    assert again["stale"] is False and again["pending"] == 0 and again["silent_s"] == 0


def test_heartbeats_survive_a_restart_of_the_stub(tmp_path):
    db = tmp_path / "stub.db"
    with stub_server(db=str(db)) as stub:
        with http_client(stub.base_url, timeout=30) as http:
            http.post("/api/agents", json=beat("a-1", "Clinic North")).raise_for_status()
    with stub_server(db=str(db)) as stub:
        with http_client(stub.base_url, timeout=30) as http:
            assert [a["site"] for a in http.get("/api/agents").json()["agents"]] == ["Clinic North"]


@pytest.mark.parametrize(("payload", "words"), [
    (b"not json", "one JSON object"),
    (b"[1, 2]", "one JSON object"),
    (b'{"agent_id": "a", "site": "s", "version": "1", "every_s": 0, "status": {}}', "every_s"),
    (b'{"agent_id": "", "site": "s", "version": "1", "every_s": 60, "status": {}}', "agent_id"),
    (b'{"agent_id": "a", "site": "s", "version": "1", "every_s": 60, "status": []}', "status"),
])
def test_a_bad_heartbeat_is_a_plain_400(fleet, payload, words):
    _, http, _ = fleet
    r = http.post("/api/agents", content=payload, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and words in r.json()["message"]
    assert http.get("/api/agents").json()["agents"] == []


def test_a_heartbeat_needs_the_intakes_credential(fleet):
    stub, _, _ = fleet
    with http_client(stub.base_url, timeout=30) as anonymous:
        assert anonymous.post("/api/agents", json=beat("a-1", "x")).status_code == 401
        assert anonymous.post("/api/agents", json=beat("a-1", "x"),
                              headers={"x-functions-key": TOKEN}).status_code == 200


def test_the_fleet_page_shows_one_row_per_agent_sorted_by_oldest_pending_age(fleet):
    _, http, clock = fleet
    http.post("/api/agents", json=beat("a-1", "Clinic <North>", pending=2, oldest_age=120))
    http.post("/api/agents", json=beat("a-2", "Clinic South", pending=9, oldest_age=7300, healthy=False,
                                       unhealthy_reasons=["The oldest pending result has waited 2 h 1 min"]))
    http.post("/api/agents", json=beat("a-3", "Lab East", paused=True, failed=3, dead=1,
                                       paused_reason="the intake rejected relay's credentials (401)"))
    clock.advance(60)
    page = http.get("/fleet", params={"sort": "oldest"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text and "Clinic &lt;North&gt;" in page.text
    table = Table()
    table.feed(page.text)
    assert table.refresh == "30"
    sites = [row[0].split(" a-")[0] for row in table.rows]
    assert sites == ["Clinic South", "Clinic <North>", "Lab East"]
    south, north, east = table.rows
    assert south[3] == "9" and south[4] == "2 h 1 min" and "unhealthy" in south[7]
    assert east[5] == "3" and east[6] == "1" and "paused" in east[7] and "credentials (401)" in east[7]
    by_site = [row[0].split(" a-")[0] for row in _rows(http, "site")]
    assert by_site == ["Clinic <North>", "Clinic South", "Lab East"]
    clock.advance(200)  # every agent silent 260 s > 3 x 60 s
    assert all("stale" in row[7] for row in _rows(http, "site"))


def _rows(http, sort: str) -> list[list[str]]:
    table = Table()
    table.feed(http.get("/fleet", params={"sort": sort}).text)
    return table.rows
