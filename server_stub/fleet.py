"""Agents' heartbeats (relay's INTERFACE §11): the last one of each agent, kept in SQLite.

``POST /api/agents`` takes a heartbeat, ``GET /api/agents`` lists the agents (JSON) and ``GET /fleet``
shows them on one plain page (see ``fleet_page``). An agent silent for three of its intervals is
stale. The store has its own connection (one small upsert a heartbeat, serialised by a lock), so
heartbeats never wait behind the intake's writes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from server_stub.clock import Clock
from server_stub.fleet_page import SORTS, render_page
from server_stub.responses import iso

MAX_BODY_BYTES = 256 * 1024
STALE_INTERVALS = 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    agent_id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    version TEXT NOT NULL,
    every_s REAL NOT NULL,
    received_at REAL NOT NULL,
    status TEXT NOT NULL
)
"""


class HeartbeatRejected(ValueError):
    """A heartbeat that cannot be kept; the message says why in plain words."""


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise HeartbeatRejected(f"{key} must be text of 1 to {limit} characters")
    return value.strip()


def parse_heartbeat(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HeartbeatRejected("a heartbeat is one JSON object (UTF-8)") from exc
    if not isinstance(data, dict):
        raise HeartbeatRejected("a heartbeat is one JSON object")
    every = data.get("every_s")
    if not isinstance(every, (int, float)) or isinstance(every, bool) or not 1 <= every <= 86_400:
        raise HeartbeatRejected("every_s must be a number of seconds between 1 and 86400")
    status = data.get("status")
    if not isinstance(status, dict):
        raise HeartbeatRejected("status must be a JSON object (relay's status object)")
    return {"agent_id": _text(data, "agent_id", 100), "site": _text(data, "site", 200),
            "version": _text(data, "version", 50), "every_s": float(every), "status": status}


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _count(status: dict[str, Any], key: str) -> int:
    value = status.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def agent_view(row: tuple[Any, ...], now: float) -> dict[str, Any]:
    """One agent as the API and the page show it. Ages come from the agent's own clock at its last
    heartbeat (a machine whose clock is off still shows true ages)."""
    agent_id, site, version, every_s, received_at, status_text = row
    try:
        status = json.loads(status_text)
    except ValueError:
        status = {}
    waiting = _count(status, "pending") + _count(status, "sending")
    agent_now, oldest = _epoch(status.get("now")), _epoch(status.get("oldest_pending_at"))
    age = max(0.0, agent_now - oldest) if waiting and agent_now is not None and oldest is not None else None
    silent = max(0.0, now - received_at)
    reasons = status.get("unhealthy_reasons")
    return {
        "agent_id": agent_id,
        "site": site,
        "version": version,
        "every_s": every_s,
        "last_heartbeat_at": iso(received_at),
        "silent_s": round(silent, 1),
        "stale": silent > STALE_INTERVALS * every_s,
        "pending": waiting,
        "oldest_pending_age_s": None if age is None else round(age, 1),
        "failed": _count(status, "failed"),
        "dead": _count(status, "dead"),
        "paused": bool(status.get("paused")),
        "paused_reason": status.get("paused_reason") if status.get("paused") else None,
        "healthy": status.get("healthy") is not False,
        "unhealthy_reasons": [str(r) for r in reasons] if isinstance(reasons, list) else [],
        "last_success_at": status.get("last_success_at"),
    }


class FleetStore:
    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def keep(self, beat: dict[str, Any], received_at: float) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO agents (agent_id, site, version, every_s, received_at, status) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (agent_id) DO UPDATE SET site = excluded.site, version = excluded.version, "
                "every_s = excluded.every_s, received_at = excluded.received_at, status = excluded.status",
                (beat["agent_id"], beat["site"], beat["version"], beat["every_s"], received_at,
                 json.dumps(beat["status"], separators=(",", ":"))),
            )

    def rows(self) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(
                "SELECT agent_id, site, version, every_s, received_at, status FROM agents ORDER BY site, agent_id"
            ).fetchall()


def sort_agents(agents: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    if sort == "oldest":  # the longest wait first; agents with nothing waiting last
        return sorted(agents, key=lambda a: -(a["oldest_pending_age_s"] if a["oldest_pending_age_s"] is not None
                                              else -1.0))
    if sort == "heartbeat":  # the longest silent first
        return sorted(agents, key=lambda a: -a["silent_s"])
    if sort == "pending":
        return sorted(agents, key=lambda a: -a["pending"])
    return sorted(agents, key=lambda a: (a["site"].lower(), a["agent_id"]))


class Fleet:
    """The endpoints; ``authorized`` is the intake's check (a heartbeat carries its credential)."""

    def __init__(self, store: FleetStore, clock: Clock, authorized: Any) -> None:
        self.store = store
        self.clock = clock
        self.authorized = authorized

    async def _agents(self, request: Request) -> tuple[list[dict[str, Any]], str]:
        sort = request.query_params.get("sort", "site")
        if sort not in SORTS:
            sort = "site"
        rows = await asyncio.to_thread(self.store.rows)
        now = self.clock.now()
        return sort_agents([agent_view(r, now) for r in rows], sort), sort

    async def post(self, request: Request) -> Response:
        if not self.authorized(request):
            return JSONResponse({"message": "Missing or invalid credentials"}, 401, {"WWW-Authenticate": "Bearer"})
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"message": f"a heartbeat is at most {MAX_BODY_BYTES} bytes"}, 413)
        try:
            beat = parse_heartbeat(body)
        except HeartbeatRejected as exc:
            return JSONResponse({"message": str(exc)}, 400)
        await asyncio.to_thread(self.store.keep, beat, self.clock.now())
        return JSONResponse({"agent_id": beat["agent_id"], "received_at": iso(self.clock.now())})

    async def list(self, request: Request) -> Response:
        agents, _ = await self._agents(request)
        return JSONResponse({"now": iso(self.clock.now()), "agents": agents})

    async def page(self, request: Request) -> Response:
        agents, sort = await self._agents(request)
        return HTMLResponse(render_page(agents, sort, self.clock.now()))
