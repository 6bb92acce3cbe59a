"""Fixtures for the receiving stub's tests: a real stub on 127.0.0.1 and an httpx client."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from tests.helpers.stub_server import RunningStub, csv_body, http_client, stub_server

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
HEADER = ("Result_ID", "Patient_last_name", "Patient_first_name", "Test_result_code")


def _validator(name: str, ref: str | None = None) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    if ref is not None:
        schema = {**schema, "$ref": ref}
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


RECEIPT = _validator("receipt.schema.json")
ERROR_ANSWER = _validator("receipt.schema.json", "#/$defs/errorAnswer")
STATS = _validator("stats.schema.json")


def rows(n: int, start: int = 0, *, prefix: str = "r") -> list[list[str]]:
    """n distinct fake result rows under HEADER (tracking ids prefix-<number>)."""
    return [[f"{prefix}-{i}", f"Last{i}", f"First{i}", "260415000"] for i in range(start, start + n)]


def body(n: int = 3, start: int = 0, *, prefix: str = "r") -> bytes:
    return csv_body(HEADER, rows(n, start, prefix=prefix))


def post(
    client: httpx.Client,
    content: bytes | str,
    *,
    content_type: str | None = "text/csv",
    sender: str | None = "lab.test",
    key: str | None = None,
    headers: Mapping[str, str] | None = None,
    path: str = "/api/waters",
) -> httpx.Response:
    h: dict[str, str] = {}
    if content_type is not None:
        h["Content-Type"] = content_type
    if sender is not None:
        h["client"] = sender
    if key is not None:
        h["Idempotency-Key"] = key
    h.update(headers or {})
    return client.post(path, content=content, headers=h)


def assert_receipt(r: httpx.Response, items: int) -> dict[str, Any]:
    assert r.status_code == 201, r.text
    data = r.json()
    RECEIPT.validate(data)
    assert data["reportItemCount"] == items
    return dict(data)


def assert_error(r: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    data = r.json()
    ERROR_ANSWER.validate(data)
    assert data["httpStatus"] == status
    for word in words:
        assert word.lower() in data["message"].lower(), data["message"]
    return dict(data)


def item_errors(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [e for e in data["errors"] if e["scope"] == "item"]


@pytest.fixture(autouse=True)
def _no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A warning or error logged by the stub or uvicorn (say, an exception in the app) fails the test."""
    yield
    bad = [
        f"{r.name}: {r.getMessage()}"
        for when in ("setup", "call", "teardown")
        for r in caplog.get_records(when)  # type: ignore[arg-type]
        if r.levelno >= logging.WARNING and r.name.startswith(("uvicorn", "server_stub"))
    ]
    assert not bad, bad


@pytest.fixture
def stub() -> Iterator[RunningStub]:
    with stub_server() as s:
        yield s


@pytest.fixture
def client(stub: RunningStub) -> Iterator[httpx.Client]:
    with http_client(stub.base_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def shared_stub() -> Iterator[RunningStub]:
    """One stub for a whole module (starting and stopping one costs ~0.2 s): for tests that only
    look at answers, or at changes in the counters."""
    with stub_server() as s:
        yield s


@pytest.fixture(scope="module")
def shared_client(shared_stub: RunningStub) -> Iterator[httpx.Client]:
    with http_client(shared_stub.base_url, timeout=30) as c:
        yield c


def nothing_stored(stub: RunningStub) -> bool:
    return stub.stats()["accepted_items"] == 0 and stub.items()["total"] == 0


def flatten(values: Sequence[Sequence[int]]) -> list[int]:
    return [v for group in values for v in group]
