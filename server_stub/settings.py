"""The stub's settings: one frozen value, built from the command line or directly in tests."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from server_stub.maintenance import RecurringWindow
from server_stub.payload import RejectRule

MAX_BODY_BYTES = 50 * 1000 * 1000
MAX_ITEMS = 10_000


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    db: str = ":memory:"  # a file path keeps everything across restarts
    token: str | None = None
    maintenance: tuple[RecurringWindow, ...] = ()
    fail_rate: float = 0.0
    drop_rate: float = 0.0
    latency_ms: float = 0.0
    seed: int | None = None
    required_columns: tuple[str, ...] = ()
    reject_when: tuple[RejectRule, ...] = ()
    reject_duplicates: bool = False
    log: str | None = None  # access log file; None: standard error
    max_body_bytes: int = MAX_BODY_BYTES
    max_items: int = MAX_ITEMS
    jwt_keys: tuple[tuple[str, str], ...] = ()  # (client, public key PEM): POST /api/token issues tokens
    token_ttl_s: float = 300.0  # lifetime of the access tokens it issues

    def __post_init__(self) -> None:
        for name in ("fail_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        if self.max_body_bytes < 1 or self.max_items < 1:
            raise ValueError("max_body_bytes and max_items must be positive")
        if self.token_ttl_s <= 0:
            raise ValueError("token_ttl_s must be positive")


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text}")
    return value


def _window(text: str) -> RecurringWindow:
    try:
        return RecurringWindow.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _reject(text: str) -> RejectRule:
    try:
        return RejectRule.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _jwt_key(text: str) -> tuple[str, str]:
    client, sep, path = text.partition("=")
    if not sep or not client.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"expected CLIENT=PEMFILE, not {text!r}")
    try:
        with open(path.strip(), encoding="ascii") as fh:
            return client.strip(), fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read the public key {path.strip()!r}: {exc}") from None


def _columns(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.split(",") if c.strip())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m server_stub",
        description="A receiving intake for relay: speaks the ReportStream-style sender API on loopback.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to bind; 0 picks a free one (default 8080)")
    p.add_argument("--db", default=":memory:", help="SQLite file; default: in memory, gone at exit")
    p.add_argument("--token", help="require 'Authorization: Bearer TOKEN' or 'x-functions-key: TOKEN'")
    p.add_argument("--maintenance", action="append", type=_window, default=[], metavar="'DAYS HH:MM-HH:MM ZONE'",
                   help="recurring maintenance window, e.g. 'mon-fri 09:30-11:00 America/New_York' (repeatable)")
    p.add_argument("--fail-rate", type=_rate, default=0.0, metavar="P",
                   help="fail this share of intake requests: half answer 500 before storing, "
                        "half store and answer 504")
    p.add_argument("--drop-rate", type=_rate, default=0.0, metavar="P",
                   help="close the connection without an answer for this share of intake requests")
    p.add_argument("--latency", type=float, default=0.0, metavar="MS", help="delay every intake answer")
    p.add_argument("--seed", type=int, help="seed for the injected faults")
    p.add_argument("--required-columns", type=_columns, default=(), metavar="A,B,...",
                   help="items without a value in any of these columns are invalid")
    p.add_argument("--reject-when", action="append", type=_reject, default=[], metavar="FIELD=REGEX",
                   help="items whose FIELD matches REGEX (re.search) are invalid (repeatable)")
    p.add_argument("--reject-duplicates", action="store_true",
                   help="answer 400 when every item of a request was received before")
    p.add_argument("--log", help="append one JSON line per request to this file (default: standard error)")
    p.add_argument("--max-body-bytes", type=int, default=MAX_BODY_BYTES, metavar="N",
                   help=f"answer 413 to bodies over N bytes (default {MAX_BODY_BYTES})")
    p.add_argument("--max-items", type=int, default=MAX_ITEMS, metavar="N",
                   help=f"answer 413 to requests of more than N items (default {MAX_ITEMS})")
    p.add_argument("--jwt-key", action="append", type=_jwt_key, default=[], metavar="CLIENT=PEMFILE",
                   help="register CLIENT's public key (PEM) for POST /api/token; the intake then takes the "
                        "access tokens it issues (repeatable)")
    p.add_argument("--token-ttl", type=float, default=300.0, metavar="S",
                   help="lifetime of issued access tokens in seconds (default 300)")
    return p


def settings_from_args(argv: Sequence[str] | None = None) -> Settings:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.latency < 0:
        parser.error("--latency must not be negative")
    try:
        return Settings(
            host=ns.host,
            port=ns.port,
            db=ns.db,
            token=ns.token,
            maintenance=tuple(ns.maintenance),
            fail_rate=ns.fail_rate,
            drop_rate=ns.drop_rate,
            latency_ms=ns.latency,
            seed=ns.seed,
            required_columns=tuple(ns.required_columns),
            reject_when=tuple(ns.reject_when),
            reject_duplicates=ns.reject_duplicates,
            log=ns.log,
            max_body_bytes=ns.max_body_bytes,
            max_items=ns.max_items,
            jwt_keys=tuple(ns.jwt_key),
            token_ttl_s=ns.token_ttl,
        )
    except ValueError as exc:
        parser.error(str(exc))
