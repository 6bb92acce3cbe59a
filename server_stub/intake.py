"""``POST /api/waters`` and ``POST /api/reports``: the checks, idempotency, faults and storing.

Order of a request: maintenance (503) -> credentials (401) -> Idempotency-Key (409 while the same
key is in flight) -> latency -> body (413 over the size limit; the early answers read and drop it) -> stored answer for the key (replay,
or 422 for a different body) -> injected failure "before" -> client header, content type, parse,
validation, duplicates, store -> injected failure "after". Answers from the last stage (2xx and
4xx) are final and recorded durably for the key; earlier ones (401, 409, 413 by size, 503, 500)
depend on the moment and are not, so a retry with the same key is evaluated afresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from server_stub.accesslog import LOG_INFO_KEY
from server_stub.clock import Clock
from server_stub.faults import FaultInjector, FaultPlan, When
from server_stub.maintenance import MaintenanceSchedule
from server_stub.payload import CONTENT_TYPES, Batch, PayloadError, Rules, parse
from server_stub.responses import ALL_DUPLICATES, duplicate_warnings, dumps, error_answer, item_errors, iso, receipt
from server_stub.settings import Settings
from server_stub.store import Store, StoreWorker, Submission, SubmitOutcome
from server_stub.tokens import TokenIssuer
from server_stub.transport import DropConnection

MAX_KEY_LENGTH = 255
# An oversized body is still read (and thrown away) up to this many bytes.
_DRAIN_LIMIT = 256 * 1000 * 1000


def _json(status: int, body: dict[str, Any] | str, headers: Mapping[str, str] | None = None) -> Response:
    text = body if isinstance(body, str) else dumps(body)
    return Response(text, status_code=status, headers=dict(headers or {}), media_type="application/json")


class Intake:
    """The intake endpoint (one instance per app; keeps the in-flight idempotency keys)."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        store: StoreWorker,
        schedule: MaintenanceSchedule,
        faults: FaultInjector,
        tokens: TokenIssuer | None = None,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._clock = clock
        self._store = store
        self._schedule = schedule
        self._faults = faults
        self._rules = Rules(settings.required_columns, settings.reject_when, settings.max_items)
        self._in_flight: set[str] = set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def handle(self, request: Request) -> Response:
        info: dict[str, Any] = request.scope.setdefault(LOG_INFO_KEY, {})
        counters: dict[str, int] = {"requests": 1}
        response = await self._answer(request, info, counters)
        label = "dropped" if isinstance(response, DropConnection) else str(response.status_code)
        counters[f"status:{label}"] = 1
        await self._store.run(Store.count_request, counters)
        return response

    # --- stages ---------------------------------------------------------------------------------

    def _error(self, status: int, message: str, **kw: Any) -> dict[str, Any]:
        return error_answer(status, message, timestamp=self._clock.now(), **kw)

    async def _delay(self) -> None:
        if self._settings.latency_ms > 0:
            await asyncio.sleep(self._settings.latency_ms / 1000)

    def authorized(self, request: Request) -> bool:
        token = self._settings.token
        issuer = self._tokens if self._tokens is not None and self._tokens.enabled else None
        if token is None and issuer is None:
            return True
        offered = []
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            offered.append(credential.strip())
        if "x-functions-key" in request.headers:
            offered.append(request.headers["x-functions-key"].strip())
        ok = False
        if token is not None:
            expected = token.encode("utf-8")
            for value in offered:  # compare every offer in constant time; no early exit
                ok |= hmac.compare_digest(value.encode("latin-1"), expected)
        if issuer is not None:  # an access token from POST /api/token
            ok |= any(issuer.valid(value) for value in offered)
        return ok

    async def _answer(self, request: Request, info: dict[str, Any], counters: dict[str, int]) -> Response:
        plan = self._faults.draw()
        until = self._schedule.until()
        if until is not None:
            retry_after = max(1, math.ceil(until - self._clock.now()))
            body = self._error(503, f"The intake is in a maintenance window until {iso(until)}")
            return await self._early(request, _json(503, body, {"Retry-After": str(retry_after)}))
        if not self.authorized(request):
            message = "Missing or invalid credentials: send 'Authorization: Bearer <token>' or 'x-functions-key'"
            return await self._early(request, _json(401, self._error(401, message), {"WWW-Authenticate": "Bearer"}))
        key = request.headers.get("idempotency-key")
        if key is not None:
            if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
                message = f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable ASCII characters"
                return await self._early(request, _json(400, self._error(400, message, scope="parameter")))
            info["idempotency_key"] = key
            # Checked and taken with no await in between, so two requests cannot both pass.
            if key in self._in_flight:
                message = "A request with this Idempotency-Key is still being processed; retry later"
                answer = _json(409, self._error(409, message, scope="parameter"), {"Retry-After": "1"})
                return await self._early(request, answer)
            self._in_flight.add(key)
        try:
            return await self._answer_body(request, key, plan, info, counters)
        finally:
            if key is not None:
                self._in_flight.discard(key)

    async def _early(self, request: Request, response: Response) -> Response:
        """An answer given before the body matters. The body is still read and thrown away, so a
        client busy sending a large batch reads the answer whatever the server does with unread
        bodies (a server that closes the connection would make it a reset instead)."""
        try:
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
                if total > _DRAIN_LIMIT:
                    break
        except ClientDisconnect:
            pass
        await self._delay()
        return response

    async def _answer_body(
        self, request: Request, key: str | None, plan: FaultPlan, info: dict[str, Any], counters: dict[str, int]
    ) -> Response:
        await self._delay()
        try:
            body = await self._read_body(request)
        except PayloadError as exc:
            return _json(exc.status, self._error(exc.status, exc.message))
        except ClientDisconnect:
            return Response(status_code=499)  # nobody is listening any more
        fingerprint = hashlib.sha256(
            b"\n".join([request.headers.get("content-type", "").encode("latin-1"),
                        request.headers.get("client", "").encode("latin-1"), body])
        ).hexdigest()
        if key is not None:
            stored = await self._store.run(Store.answer, key)
            if stored is not None and stored.fingerprint != fingerprint:
                return _json(422, self._error(422, "This Idempotency-Key was already used for a different "
                                                   "request body", scope="parameter"))
            if stored is not None:
                fault = self._fault(plan, "before", counters)
                if fault is not None:
                    return fault
                counters["replays"] = 1
                info["replay"] = True
                replay = _json(stored.status, stored.body, {"Idempotent-Replayed": "true"})
                return self._fault(plan, "after", counters) or replay
        fault = self._fault(plan, "before", counters)
        if fault is not None:
            return fault
        status, text = await self._evaluate(request, body, key, fingerprint, info)
        return self._fault(plan, "after", counters) or _json(status, text)

    def _fault(self, plan: FaultPlan, when: When, counters: dict[str, int]) -> Response | None:
        kind = plan.at(when)
        if kind is None:
            return None
        counters[f"fault:{kind}_{when}"] = 1
        if kind == "drop":
            return DropConnection()
        if when == "before":
            return _json(500, self._error(500, "Injected failure: the intake could not process the request"))
        return _json(504, self._error(504, "Gateway timeout: no answer from the intake in time"))

    async def _read_body(self, request: Request) -> bytes:
        limit = self._settings.max_body_bytes
        length = request.headers.get("content-length", "")
        declared_too_big = length.isdigit() and int(length) > limit
        data = bytearray()
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total <= limit and not declared_too_big:
                data += chunk
            elif total > _DRAIN_LIMIT:
                break  # stop reading; the connection will be closed after the answer
        if declared_too_big or total > limit:
            # The rest of an oversized body was read and thrown away, so the client gets to read
            # the 413 rather than a broken pipe.
            raise PayloadError(413, f"The request body is larger than {limit} bytes; send smaller batches")
        return bytes(data)

    async def _evaluate(
        self, request: Request, body: bytes, key: str | None, fingerprint: str, info: dict[str, Any]
    ) -> tuple[int, str]:
        """The final answer for a request that got this far; recorded for its idempotency key."""
        now = self._clock.now()
        report_id = str(uuid.uuid4())
        client = request.headers.get("client", "").strip()
        content_type = request.headers.get("content-type", "").strip().lower()
        batch: Batch | None = None
        if not client:
            answer = self._error(400, "Expected a 'client' request header naming the sender", scope="parameter")
        elif content_type not in CONTENT_TYPES:
            shown = request.headers.get("content-type")
            answer = self._error(415, f"Unsupported Content-Type {shown!r}: use exactly one of "
                                      f"{', '.join(CONTENT_TYPES)}, without parameters", sender=client)
        else:
            try:
                batch = await asyncio.to_thread(parse, body, content_type, self._rules)
            except PayloadError as exc:
                answer = self._error(exc.status, exc.message, sender=client, report_id=report_id)
            else:
                info["items"] = batch.count
                if batch.problems:
                    answer = self._error(
                        400, f"{len(batch.problems)} of {batch.count} items are invalid; nothing was stored",
                        sender=client, report_id=report_id, item_count=batch.count,
                        errors=item_errors(batch.problems),
                    )
                    batch = None
        if batch is None:
            status = int(answer["httpStatus"])
            text = dumps(answer)
            if key is not None:
                await self._store.run(Store.save_answer, key, fingerprint, status, text, now)
            return status, text
        return await self._store_batch(request, body, batch, report_id, client, content_type, key, fingerprint, now)

    async def _store_batch(
        self, request: Request, body: bytes, batch: Batch, report_id: str, client: str, content_type: str,
        key: str | None, fingerprint: str, now: float,
    ) -> tuple[int, str]:
        payload_name = request.headers.get("payloadname")
        items = batch.items

        def respond(outcome: SubmitOutcome) -> tuple[int, str]:
            if not outcome.stored:
                return 400, dumps(self._error(400, ALL_DUPLICATES, sender=client, report_id=report_id,
                                              item_count=len(items)))
            return 201, dumps(receipt(
                report_id=report_id, submission_id=outcome.submission_id or 0, sender=client, timestamp=now,
                item_count=len(items), payload_name=payload_name,
                warnings=duplicate_warnings(items, outcome.duplicate_indices),
                duplicate_count=len(outcome.duplicate_indices),
            ))

        submission = Submission(
            report_id=report_id, client=client, content_type=content_type, payload_name=payload_name,
            idempotency_key=key, fingerprint=fingerprint, received_at=now, items=items,
            reject_duplicates=self._settings.reject_duplicates, body=body,
        )
        return await self._store.run(Store.submit, submission, respond)
