"""The local listener's request bodies: read whole within a time limit, never over the size limit,
and large ones one at a time (memory stays bounded however many large posts arrive at once)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing

from starlette.requests import Request

LARGE_BODY_BYTES = 1024 * 1024  # bodies over this are read, parsed and stored one at a time
BODY_TIMEOUT_S = 60.0  # the whole body must arrive within this (a body that never ends is refused)


class Refused(Exception):
    """An answer other than success, decided while handling a request."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


PARSER = ThreadPoolExecutor(1, thread_name_prefix="relay-listener-parse")


class LargeSlot:
    """The one turn for a large body: memory stays bounded however many large posts come at once
    (each needs about two to three times its size while it is parsed and stored)."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore = semaphore
        self.held = False

    async def take(self) -> None:
        if not self.held:
            await self._semaphore.acquire()
            self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._semaphore.release()


def _too_large(limit: int) -> Refused:
    return Refused(413, f"the body is larger than the {limit:,} bytes the listener takes; send fewer results "
                         "per request", {"Connection": "close"})


async def read_body(request: Request, limit: int, timeout_s: float, slot: LargeSlot,
                    buffered: bool = False) -> bytes | bytearray:
    """The body, refused as soon as it is known to be over the limit (never buffering more), or
    when it has not all arrived within ``timeout_s``. A large body first waits for its turn.

    With ``buffered`` (JSON, whose reader takes a ``bytearray``), a large body of declared length is
    read into one buffer made at that size: its
    pieces are not all kept until joined, so it is never in memory twice, nor left behind as freed
    pieces in the allocator's heap when the next body comes."""
    declared = request.headers.get("content-length")
    buffer: bytearray | None = None
    if declared is not None and declared.strip().isdigit():
        if int(declared) > limit:
            raise _too_large(limit)
        if int(declared) > LARGE_BODY_BYTES:
            await slot.take()
            if buffered:
                buffer = bytearray(int(declared))
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async with aclosing(request.stream()) as stream:
                async for chunk in stream:
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(limit)
                    if size > LARGE_BODY_BYTES and not slot.held:
                        await slot.take()
                    if buffer is not None and size <= len(buffer):
                        buffer[size - len(chunk):size] = chunk
                    else:
                        chunks.append(chunk)
    except TimeoutError:
        raise Refused(408, f"the request body did not arrive within {timeout_s:g} seconds; nothing was stored",
                       {"Connection": "close"}) from None
    if buffer is not None:
        if chunks or size != len(buffer):  # the body did not match its declared length
            return b"".join([bytes(buffer[:min(size, len(buffer))]), *chunks])
        return buffer
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
