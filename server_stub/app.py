"""The Starlette application: intake endpoints plus stats, items, health and admin."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server_stub.accesslog import AccessLog, close_access_logger, make_access_logger
from server_stub.clock import Clock, SystemClock
from server_stub.faults import FaultInjector
from server_stub.fleet import Fleet, FleetStore
from server_stub.intake import Intake
from server_stub.maintenance import MaintenanceSchedule
from server_stub.payload import rows_at
from server_stub.responses import iso
from server_stub.settings import Settings
from server_stub.store import Store, StoreWorker
from server_stub.tokens import TokenIssuer

log = logging.getLogger("server_stub.app")

MAX_PAGE = 1000
MAX_MAINTENANCE_S = 30 * 24 * 3600


class Stub:
    """Everything one running stub owns. ``create_app`` builds one; ``close()`` releases it (the
    app's lifespan does that when the server stops)."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.started_at = self.clock.now()
        self.access_logger = make_access_logger(settings.log)  # OSError for a bad path
        try:
            self.store = StoreWorker(settings.db)
        except BaseException:
            close_access_logger(self.access_logger)
            raise
        self.schedule = MaintenanceSchedule(settings.maintenance, self.clock)
        self.faults = FaultInjector(settings.fail_rate, settings.drop_rate, settings.seed)
        try:
            self.tokens = TokenIssuer(dict(settings.jwt_keys), settings.token_ttl_s, self.clock)
        except ValueError:
            self.store.close()
            close_access_logger(self.access_logger)
            raise
        self.intake = Intake(settings, self.clock, self.store, self.schedule, self.faults, tokens=self.tokens)
        self.fleet = Fleet(FleetStore(settings.db), self.clock, self.intake.authorized)
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.store.close()
            self.fleet.store.close()
            close_access_logger(self.access_logger)

    # --- endpoints ------------------------------------------------------------------------------

    def _denied(self, request: Request) -> Response | None:
        """Admin and item endpoints need the token too when one is set (items hold patient data)."""
        if self.intake.authorized(request):
            return None
        return JSONResponse({"message": "Missing or invalid credentials"}, 401, {"WWW-Authenticate": "Bearer"})

    def _maintenance(self) -> dict[str, Any]:
        now = self.clock.now()
        until = self.schedule.until(now)
        return {
            "maintenance_until": iso(until) if until is not None else None,
            "retry_after": max(1, math.ceil(until - now)) if until is not None else None,
        }

    async def stats(self, request: Request) -> Response:
        counters, by_client = await self.store.run(_stats_snapshot)
        by_status = {k.split(":", 1)[1]: v for k, v in sorted(counters.items()) if k.startswith("status:")}
        faults = {k.split(":", 1)[1]: v for k, v in sorted(counters.items()) if k.startswith("fault:")}
        rejected = sum(v for k, v in by_status.items() if k.startswith("4"))
        return JSONResponse({
            "requests": counters.get("requests", 0),
            "accepted_items": counters.get("accepted_items", 0),
            "unique_items": counters.get("unique_items", 0),
            "duplicates_received": counters.get("duplicates_received", 0),
            "submissions": counters.get("submissions", 0),
            "replays": counters.get("replays", 0),
            "rejected_requests": rejected,
            "by_status": by_status,
            "faults": {name: faults.get(name, 0) for name in ("fail_before", "fail_after", "drop_before", "drop_after")},
            "items_by_client": by_client,
            "idempotency_keys": counters.get("idempotency_keys", 0),
            "in_flight": self.intake.in_flight,
            "tokens": {"issued": self.tokens.issued, "refused": self.tokens.refused},
            **self._maintenance(),
        })

    async def items(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        q = request.query_params
        try:
            offset = int(q.get("offset", "0"))
            limit = int(q.get("limit", "100"))
            submission_id = int(q["submission_id"]) if "submission_id" in q else None
        except ValueError:
            return JSONResponse({"message": "offset, limit and submission_id must be integers"}, 400)
        if offset < 0 or not 1 <= limit <= MAX_PAGE:
            return JSONResponse({"message": f"offset must be >= 0 and limit between 1 and {MAX_PAGE}"}, 400)
        total, rows, bodies = await self.store.run(
            Store.items, offset, limit, tracking_id=q.get("tracking_id"), submission_id=submission_id
        )
        wanted: dict[int, set[int]] = {}
        for row in rows:
            wanted.setdefault(row["submission_id"], set()).add(row["index"])
        contents = await asyncio.to_thread(_read_rows, bodies, wanted)
        for row in rows:
            row["received_at"] = iso(row["received_at"])
            row["duplicate"] = bool(row["duplicate"])
            row["row"] = contents[row["submission_id"]].get(row["index"])
        following = offset + len(rows)
        return JSONResponse({
            "total": total,
            "offset": offset,
            "limit": limit,
            "next_offset": following if following < total else None,
            "items": rows,
        })

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({
            "ok": True,
            "service": "server_stub",
            "time": iso(self.clock.now()),
            "started_at": iso(self.started_at),
            **self._maintenance(),
        })

    async def maintenance(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        if request.method == "POST":
            try:
                body = json.loads(await request.body())
            except (ValueError, UnicodeDecodeError):
                body = None
            seconds = body.get("seconds") if isinstance(body, dict) else None
            if (not isinstance(seconds, (int, float)) or isinstance(seconds, bool)
                    or not 0 <= seconds <= MAX_MAINTENANCE_S):
                return JSONResponse(
                    {"message": f'expected {{"seconds": N}} with 0 <= N <= {MAX_MAINTENANCE_S}'}, 400
                )
            self.schedule.start_now(float(seconds))
            log.info("maintenance window set for %s s", seconds)
        return JSONResponse(self._maintenance())


def _read_rows(
    bodies: dict[int, tuple[str, bytes]], wanted: dict[int, set[int]]
) -> dict[int, dict[int, Any]]:
    return {sid: rows_at(body, ctype, wanted[sid]) for sid, (ctype, body) in bodies.items()}


def _stats_snapshot(store: Store) -> tuple[dict[str, int], dict[str, int]]:
    return store.counters(), store.items_by_client()


def create_app(settings: Settings, clock: Clock | None = None) -> Starlette:
    """Build the stub's ASGI app. The database opens now (errors surface here) and closes when the
    server's lifespan ends; ``app.state.stub.close()`` releases it if the app is never served."""
    stub = Stub(settings, clock)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            stub.close()

    routes = [
        Route("/api/waters", stub.intake.handle, methods=["POST"]),
        Route("/api/reports", stub.intake.handle, methods=["POST"]),
        Route("/api/stats", stub.stats, methods=["GET"]),
        Route("/api/items", stub.items, methods=["GET"]),
        Route("/api/admin/maintenance", stub.maintenance, methods=["GET", "POST"]),
        Route("/api/token", stub.tokens.handle, methods=["POST"]),
        Route("/healthz", stub.healthz, methods=["GET"]),
        Route("/api/agents", stub.fleet.post, methods=["POST"]),
        Route("/api/agents", stub.fleet.list, methods=["GET"]),
        Route("/fleet", stub.fleet.page, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(AccessLog, logger=stub.access_logger, clock=stub.clock)],
        lifespan=lifespan,
    )
    app.state.stub = stub
    return app
