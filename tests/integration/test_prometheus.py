"""Debian's real Prometheus scrapes relay on loopback, and its query API answers
relay_items{state="pending"}. Also: the alert rules in the repository pass `promtool check rules`."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from relay.agent import Agent
from relay.config import from_dict
from tests.helpers.builders import new_item
from tests.helpers.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "prometheus" / "relay-rules.yml"
PROMETHEUS = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
PROMTOOL = shutil.which("promtool")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed (Debian package prometheus)")
def test_prometheus_scrapes_relay_and_answers_for_pending_items(tmp_path):
    config = from_dict({"store": {"path": str(tmp_path / "outbox.db")}, "listener": {"enabled": True, "port": 0}},
                       None)
    with Agent(config) as agent:
        agent.box.add_items([new_item(n) for n in range(4)], source="t", client="c", now=agent.clock.now())
        target = agent.listener.url.removeprefix("http://")
        port = free_port()
        (tmp_path / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {RULES}\n"
            "scrape_configs:\n  - job_name: relay\n"
            f"    static_configs:\n      - targets: ['{target}']\n        labels:\n          site: test-site\n")
        assert PROMETHEUS is not None
        log = (tmp_path / "prometheus.log").open("wb")
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as api:
                def pending() -> float | None:
                    if proc.poll() is not None:
                        raise AssertionError(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()[-2000:]}")
                    try:
                        data = api.get("/api/v1/query", params={"query": 'relay_items{state="pending"}'}).json()
                    except httpx.HTTPError:
                        return None  # not listening yet
                    result = data.get("data", {}).get("result", [])
                    return float(result[0]["value"][1]) if result else None

                assert wait_until(pending, timeout=90, step=0.2) == 4
                (series,) = api.get("/api/v1/query", params={"query": "relay_build_info"}).json()["data"]["result"]
                assert series["metric"]["site"] == "test-site" and series["metric"]["version"]
                groups = api.get("/api/v1/rules").json()["data"]["groups"]
                assert {r["name"] for g in groups for r in g["rules"]} >= {"RelayHeartbeatMissing",
                                                                           "RelayOldestPendingTooOld"}
        finally:
            proc.kill()
            proc.wait(timeout=30)
            log.close()


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package prometheus)")
def test_the_alert_rules_pass_promtool():
    assert PROMTOOL is not None
    out = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 2 rules found" in out.stdout
