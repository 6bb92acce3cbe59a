"""The local listener's HTTP face (INTERFACE §6): a Starlette app over the outbox.

Every answer is JSON. Bad input is a 4xx with a plain message and nothing stored; a 202 or 200
to a post is sent only after its items are durably committed. Messages and logs name items,
lines and fields, never values: bodies carry patient data.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from relay.clock import iso
from relay.config import TranslateConfig
from relay.errors import EnvironmentProblem, OutboxGone
from relay.formats.json_reader import BodyRejected
from relay.formats.reader import read_items, reader_for
from relay.ingest.listener_body import BODY_TIMEOUT_S, PARSER, LargeSlot, Refused, read_body
from relay.ingest.listener_commit import GroupCommitter
from relay.ingest.listener_health import healthz, metrics
from relay.ingest.translate import translate_items
from relay.status import Status
from relay.store.models import AddResult, Item, NewItem
from relay.store.roles import OutboxQueries

log = logging.getLogger("relay.ingest")

CONTENT_TYPES = {
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "text/csv": "csv",
    "application/hl7-v2": "hl7",  # INTERFACE §8: text decoded per MSH-18, whatever the charset parameter says
}
FINAL_STATES = ("sent", "failed", "dead", "discarded")
MAX_WAIT_S = 30.0
POLL_S = 0.15  # how often a waiting GET looks at the item again
RETRY_AFTER_S = 30  # told to callers when the outbox cannot take their results
INLINE_PARSE_BYTES = 64 * 1024  # larger bodies are parsed off the event loop
MAX_NAME = 255
_NAME = re.compile(r"[\x20-\x7e]+")  # payloadname is sent on to the intake as a header: plain ASCII
_ID = re.compile(r"[0-9]+")


@dataclass
class Context:
    """What the endpoints work with."""

    queries: OutboxQueries  # GET /items/{id} reads; items go in through the committer (an item sink)
    committer: GroupCommitter
    intake_format: str
    max_body_bytes: int
    status: Callable[[], Status]  # /healthz answers its JSON
    stopping: threading.Event
    tracking_column: str | None = None
    translate: TranslateConfig | None = None  # CSV rows and flat records become ELR messages (§10)
    now: Callable[[], float] = time.time
    body_timeout_s: float = BODY_TIMEOUT_S
    on_problem: Callable[[str, str | None], None] | None = None
    large_bodies: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))


_Refused = Refused


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


# -- reading and parsing a post -------------------------------------------------------------------


def _kind(request: Request) -> str:
    raw = request.headers.get("content-type")
    if not raw:
        raise _Refused(415, "the request has no Content-Type; send application/json, application/x-ndjson "
                            "or text/csv")
    media, _, params = raw.partition(";")
    kind = CONTENT_TYPES.get(media.strip().lower())
    if kind is None:
        raise _Refused(415, f"the Content-Type {media.strip()[:80]!r} is not taken here; send application/json, "
                            "application/x-ndjson or text/csv")
    for param in params.split(";"):
        key, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if key.strip().lower() == "charset" and kind not in ("csv", "hl7") and charset not in ("utf-8", "utf8"):
            raise _Refused(415, f"JSON is taken only as UTF-8, not {charset[:40]!r}")
    return kind


def _payload_name(request: Request) -> str | None:
    raw = request.headers.get("payloadname")
    if raw is None or not raw.strip():
        return None
    name = raw.strip()
    if len(name) > MAX_NAME or not _NAME.fullmatch(name):
        raise _Refused(400, f"the payloadname header must be plain ASCII text of at most {MAX_NAME} characters")
    return name


def parse_body(data: bytes | bytearray | list[bytes | bytearray], kind: str, intake_format: str, tracking_column: str | None) -> list[NewItem]:
    """Items from a body (through the reader seam: ``relay.formats.reader``); raises BodyRejected
    with plain words. A one-element list is emptied as it is read (the body is not held twice)."""
    return read_items(reader_for(kind, intake_format=intake_format, tracking_column=tracking_column), data)


def _items_of(data: bytes | bytearray | list[bytes | bytearray], kind: str, intake_format: str, tracking_column: str | None,
              translate: TranslateConfig | None, now: float) -> list[NewItem]:
    """The body's items as stored: rows carry their ELR message when translation is on."""
    return translate_items(parse_body(data, kind, intake_format, tracking_column), translate, intake_format, now)


# -- endpoints ------------------------------------------------------------------------------------


async def post_results(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    slot = LargeSlot(ctx.large_bodies)
    try:
        kind = _kind(request)
        name = _payload_name(request)
        data = await read_body(request, ctx.max_body_bytes, ctx.body_timeout_s, slot,
                               buffered=kind in ("json", "ndjson"))
        inline = len(data) <= INLINE_PARSE_BYTES
        # The body is handed over in a list the parse takes it out of: nothing here holds it, so it
        # is let go of as soon as the parse no longer needs it (JSON: once its last piece is decoded).
        args = ([data], kind, ctx.intake_format, ctx.tracking_column, ctx.translate, ctx.now())
        del data
        try:
            if inline:
                items = _items_of(*args)
            else:
                # Large bodies are parsed one at a time in one thread: the memory freed by one is
                # reused by the next instead of piling up in many threads' allocation arenas.
                items = await asyncio.get_running_loop().run_in_executor(PARSER, _items_of, *args)
        except BodyRejected as exc:
            raise _Refused(400, exc.reason) from exc
        finally:
            del args
        result = await _store(ctx, items, name)
        del items
    except _Refused as refused:
        log.info("listener: post refused with %d: %s", refused.status, refused.message)
        return error(refused.status, refused.message, refused.headers)
    except ClientDisconnect:
        log.info("listener: the caller went away before sending the whole body; nothing stored")
        return error(400, "the request body ended early; nothing was stored")
    finally:
        slot.release()
    status = 202 if result.accepted else 200
    log.debug("listener: %d new item(s), %d duplicate(s) from a %s post (ids %s)",
              result.accepted, result.duplicates, kind, _id_span(result.ids))
    return JSONResponse({"ids": result.ids, "duplicates": result.duplicates}, status_code=status)


async def _store(ctx: Context, items: list[NewItem], name: str | None) -> AddResult:
    try:
        return await asyncio.wrap_future(ctx.committer.submit(items, name))
    except EnvironmentProblem as exc:
        log.warning("listener: answering 503, the outbox cannot take results: %s", exc)
        if isinstance(exc, OutboxGone) and ctx.on_problem is not None:
            ctx.on_problem("outbox:gone", str(exc))
        raise _Refused(503, f"relay cannot store results right now ({exc}); nothing was stored, keep the data "
                            "and send it again later", {"Retry-After": str(RETRY_AFTER_S)}) from exc


def _id_span(ids: list[int]) -> str:
    if not ids:
        return "-"
    return str(ids[0]) if len(ids) == 1 else f"{min(ids)}..{max(ids)}"


def item_answer(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "state": item.state,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "receipt": item.receipt,
        "tracking_id": item.tracking_id,
        "received_at": iso(item.created_at),
        "sent_at": iso(item.sent_at),
    }


def _wait_seconds(request: Request) -> float | None:
    raw = request.query_params.get("wait")
    if raw is None:
        return None
    try:
        wait = float(raw)
    except ValueError:
        wait = math.nan
    if not (0 < wait <= MAX_WAIT_S):  # also refuses NaN
        raise _Refused(400, f"wait must be a number of seconds above 0 and at most {MAX_WAIT_S:g}")
    return wait


async def get_result(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    raw = request.path_params["item_id"]
    try:
        if not _ID.fullmatch(raw):
            raise _Refused(400, "the id in the address must be a whole number, like /v1/results/42")
        if len(raw.lstrip("0")) > 19:  # beyond SQLite's integers (and too long for int() to read)
            raise _Refused(404, "there is no item with that id")
        item_id = int(raw)
        wait = _wait_seconds(request)
        item = await _load(ctx, item_id)
        if wait is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while item.state not in FINAL_STATES and not ctx.stopping.is_set():
                left = deadline - loop.time()
                if left <= 0:
                    break
                await asyncio.sleep(min(POLL_S, left))
                item = await _load(ctx, item_id)
    except _Refused as refused:
        return error(refused.status, refused.message, refused.headers)
    return JSONResponse(item_answer(item))


async def _load(ctx: Context, item_id: int) -> Item:
    if item_id >= 2**63:  # beyond SQLite's integers: there is no such item
        raise _Refused(404, f"there is no item {item_id}")
    try:
        # The store's lock may be held through a commit's fsync: wait for it off the event loop.
        item = await run_in_threadpool(ctx.queries.get_item, item_id)
    except EnvironmentProblem as exc:
        raise _Refused(503, f"relay cannot read the outbox right now ({exc})",
                       {"Retry-After": str(RETRY_AFTER_S)}) from exc
    if item is None:
        raise _Refused(404, f"there is no item {item_id}")
    return item


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        return error(404, f"there is nothing at {request.url.path[:200]}; the listener answers "
                          "POST /v1/results, GET /v1/results/{id} and GET /healthz", headers)
    if exc.status_code == 405:
        return error(405, f"{request.method[:20]} is not allowed here; use {headers.get('Allow', 'another method')}",
                     headers)
    return error(exc.status_code, str(exc.detail), headers)


async def _bug(request: Request, exc: Exception) -> Response:
    log.error("listener: %s %s failed unexpectedly", request.method, request.url.path[:200], exc_info=exc)
    return error(500, "relay failed to handle this request; the error is in its log")


class TokenGate:
    """When a token is configured, every request needs ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode("utf-8")

    def _allowed(self, scope: Scope) -> bool:
        for key, value in scope["headers"]:
            if key == b"authorization":
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            response = error(401, "this listener needs the header Authorization: Bearer <token>, with the token "
                                  "from relay's listener settings", {"WWW-Authenticate": 'Bearer realm="relay"'})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class HostGate:
    """On loopback, only requests addressed to this machine (Host: 127.0.0.1, localhost, [::1], or the
    configured host) are answered: a web page whose own name was made to point at 127.0.0.1 (DNS
    rebinding) cannot post results or read them back through a browser."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    def _allowed(self, scope: Scope) -> bool:
        for key, value in scope["headers"]:
            if key == b"host":
                text = value.decode("latin-1").strip().lower()
                name = text[1:text.find("]")] if text.startswith("[") else text.rsplit(":", 1)[0]
                return name in self.hosts
        return True  # HTTP/1.0 without a Host header: not a browser

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            response = error(403, "this listener answers only requests addressed to this machine "
                                  "(http://127.0.0.1 or http://localhost)")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def build_app(ctx: Context, token: str | None, hosts: frozenset[str] | None = None) -> ASGIApp:
    app = Starlette(
        routes=[
            Route("/v1/results", post_results, methods=["POST"]),
            Route("/v1/results/{item_id}", get_result, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _bug},
    )
    app.router.redirect_slashes = False  # a redirect would not be a JSON answer
    app.state.ctx = ctx
    gated: ASGIApp = TokenGate(app, token) if token else app
    return HostGate(gated, hosts) if hosts else gated
