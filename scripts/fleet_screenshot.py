"""Screenshot of the stub's fleet page with three sample agents (one stale, one paused), taken by
headless Chromium: docs/screenshots/fleet.png.

    .venv/bin/python scripts/fleet_screenshot.py [--out FILE.png]

The stub runs in this process on 127.0.0.1 with a clock the script moves (no waiting), and gets
the heartbeats a relay agent posts. Every name and number is made up.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server_stub import ManualClock, Settings, create_app  # noqa: E402
from server_stub.server import StubServer, bind_socket, make_config, socket_url  # noqa: E402

START = datetime(2026, 12, 7, 14, 0, tzinfo=timezone.utc).timestamp()
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def heartbeat(agent_id: str, site: str, now: float, *, every_s: float = 300, pending: int = 0,
              oldest_age: float | None = None, failed: int = 0, dead: int = 0, paused_reason: str | None = None,
              reasons: tuple[str, ...] = ()) -> dict[str, Any]:
    status = {"pending": pending, "sending": 0, "sent": 18_240, "failed": failed, "dead": dead, "discarded": 0,
              "paused": paused_reason is not None, "paused_by": "intake" if paused_reason else None,
              "paused_reason": paused_reason, "now": _iso(now),
              "oldest_pending_at": _iso(now - oldest_age) if oldest_age is not None else None,
              "last_success_at": _iso(now - 60), "healthy": not reasons, "unhealthy_reasons": list(reasons)}
    return {"agent_id": agent_id, "site": site, "version": "0.1.0", "every_s": every_s, "sent_at": _iso(now),
            "status": status}


def fill(http: httpx.Client, clock: ManualClock) -> None:
    """Three agents: one fine, one paused by the intake, one silent for 47 minutes (stale)."""
    http.post("/api/agents", json=heartbeat(
        "6f1c2a4e-2b8d-4c1e-9a0f-3d5e7b9c1a20", "St. Mary's Outreach Lab", clock.now(), pending=41, oldest_age=380,
        failed=2)).raise_for_status()
    clock.advance(47 * 60)
    paused = "the intake rejected relay's credentials (401): store a new one with `relay token set` or in Settings"
    http.post("/api/agents", json=heartbeat(
        "b3e9d7c1-5a2f-4e8b-8c6d-1f0a2b3c4d5e", "North Valley Lab", clock.now(), pending=212, oldest_age=6720,
        paused_reason=paused, reasons=(f"Sending is paused: {paused}",
                                       "The oldest pending result has waited 1 h 52 min, longer than 60 min"),
    )).raise_for_status()
    clock.advance(40)
    http.post("/api/agents", json=heartbeat(
        "0a8b7c6d-1e2f-4a3b-9c8d-7e6f5a4b3c2d", "Riverside Clinic", clock.now(), pending=3, oldest_age=45,
    )).raise_for_status()
    clock.advance(20)


def take(out: Path, *, timeout_s: float = 120) -> Path:
    """Serve the page, fill it, and have Chromium write ``out``; returns ``out``."""
    browser = chromium()
    if browser is None:
        raise RuntimeError("chromium is not installed")
    clock = ManualClock(START)
    with tempfile.TemporaryDirectory(prefix="fleet-shot-") as tmp:
        app = create_app(Settings(db=str(Path(tmp) / "stub.db"), log=str(Path(tmp) / "access.log")), clock=clock)
        sock = bind_socket("127.0.0.1", 0)
        started = threading.Event()
        server = StubServer(make_config(app), on_started=started.set)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            if not started.wait(20):
                raise RuntimeError("the stub did not start")
            base = socket_url(sock)
            with httpx.Client(base_url=base, timeout=30) as http:
                fill(http, clock)
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={Path(tmp) / 'chromium'}",
                            f"--screenshot={out}", "--window-size=1280,800", f"{base}/fleet?sort=oldest"],
                           check=True, capture_output=True, timeout=timeout_s)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            sock.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "fleet.png")
    args = ap.parse_args()
    print(take(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
