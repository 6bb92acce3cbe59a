"""/healthz tells the truth: 503 with its reasons when results stop moving, 200 once they move again
(the agent's clock is injected; the intake is the real stub on loopback). `relay status` shows the
same reasons."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from relay.agent import Agent
from relay.clock import FakeClock
from relay.config import from_dict
from tests.helpers.stub_server import stub_server
from tests.helpers.waiting import wait_until

TOKEN = "test-token-0123456789"


def test_healthz_turns_503_when_results_stop_moving_and_200_when_they_move_again(tmp_path):
    clock = FakeClock()
    with stub_server(token=TOKEN) as stub:
        raw = {
            "intake": {"url": stub.url, "timeout_s": 5},
            "store": {"path": str(tmp_path / "outbox.db")},
            "listener": {"enabled": True, "port": 0},
            "delivery": {"retry_initial_s": 0.05, "retry_max_s": 0.5},
            "health": {"max_pending_age_s": 3600, "max_silence_s": 3600, "disk_reserve_bytes": 0},
        }
        config = from_dict(raw, None)
        with Agent(config, clock=clock, token=lambda: TOKEN) as agent, \
                httpx.Client(base_url=agent.listener.url, timeout=30) as http:
            def post(result_id: str) -> int:
                r = http.post("/v1/results", json={"Result_ID": result_id, "Test_result_code": "260415000"})
                assert r.status_code == 202
                return int(r.json()["ids"][0])

            first = post("h-1")
            assert http.get(f"/v1/results/{first}", params={"wait": "20"}).json()["state"] == "sent"
            healthy = http.get("/healthz")
            assert healthy.status_code == 200 and healthy.json()["unhealthy_reasons"] == []

            stub.set_maintenance(7200)  # the intake answers 503: results stop moving
            second = post("h-2")
            wait_until(lambda: agent.box.get_item(second).last_status == 503)
            clock.advance(3599)
            assert http.get("/healthz").status_code == 200  # not yet: to the second
            clock.advance(2)
            stuck = http.get("/healthz")
            assert stuck.status_code == 503
            reasons = stuck.json()["unhealthy_reasons"]
            assert len(reasons) == 2
            assert reasons[0].startswith("The oldest pending result has waited 60 min")
            assert reasons[1].startswith("Nothing delivered for 60 min")
            assert stuck.json()["pending"] == 1  # the same status object, plus the reasons

            cli = subprocess.run([sys.executable, "-m", "relay", "--config", str(_toml(tmp_path, raw)), "status"],
                                 capture_output=True, text=True, timeout=60)
            assert "health: UNHEALTHY" in cli.stdout  # the CLI reads the real clock: a day later still stuck
            assert "The oldest pending result has waited" in cli.stdout

            stub.set_maintenance(0)
            agent.send_now()  # as the tray's "Send now": the same batch goes at once
            assert http.get(f"/v1/results/{second}", params={"wait": "20"}).json()["state"] == "sent"
            moving = http.get("/healthz")
            assert moving.status_code == 200 and moving.json()["healthy"] is True


def _toml(tmp_path, raw):
    lines = []
    for section, values in raw.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = tmp_path / "relay.toml"
    path.write_text("\n".join(lines) + "\n")
    return path
