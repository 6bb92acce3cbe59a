"""The listener's fleet-health endpoints (INTERFACE §11): /healthz and /metrics.

Both read the status object through the listener's ``status`` callable (the agent's ``stats``),
off the event loop: the outbox's lock may be held through a commit.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay.errors import EnvironmentProblem
from relay.metrics import CONTENT_TYPE, render

RETRY_AFTER_S = 30


def _unreadable(exc: EnvironmentProblem) -> JSONResponse:
    return JSONResponse({"error": f"relay cannot read the outbox right now ({exc})", "healthy": False,
                         "unhealthy_reasons": [f"The outbox cannot be read: {exc}"]},
                        status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


async def healthz(request: Request) -> Response:
    """The status object; 200 when healthy, 503 when ``unhealthy_reasons`` names anything."""
    try:
        status = await run_in_threadpool(request.app.state.ctx.status)
    except EnvironmentProblem as exc:
        return _unreadable(exc)
    return JSONResponse(status, status_code=503 if status.get("unhealthy_reasons") else 200)


async def metrics(request: Request) -> Response:
    try:
        status = await run_in_threadpool(request.app.state.ctx.status)
    except EnvironmentProblem as exc:
        return _unreadable(exc)
    return Response(render(status), media_type=CONTENT_TYPE)
