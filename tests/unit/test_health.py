"""The health rules (INTERFACE §11), to the second: a pure function of (status, config, now)."""

from __future__ import annotations

import pytest

from relay.clock import FakeClock, iso
from relay.config import HealthConfig, from_dict
from relay.health import assess, unhealthy_reasons
from relay.store.outbox import Outbox
from relay.status import snapshot
from tests.helpers.builders import new_item

T0 = 1_767_225_600.0
CFG = HealthConfig(max_pending_age_s=3600, max_silence_s=3600, disk_reserve_bytes=100 * 1024 * 1024)


def status(**kw):
    base = {"pending": 0, "sending": 0, "paused": False, "paused_by": None, "paused_reason": None,
            "problems": [], "disk_free_bytes": 10 * 1024**3, "oldest_pending_at": None, "last_success_at": None}
    return {**base, **kw}


def test_nothing_pending_nothing_wrong_is_healthy():
    assert unhealthy_reasons(status(), CFG, T0) == []
    assert unhealthy_reasons(status(last_success_at=iso(T0 - 10 * 86400)), CFG, T0) == []  # quiet, not stuck


def test_paused_by_the_intake_is_unhealthy_but_a_persons_pause_is_not():
    intake = status(paused=True, paused_by="intake", paused_reason="the intake rejected relay's credentials (401)")
    assert unhealthy_reasons(intake, CFG, T0) == ["Sending is paused: the intake rejected relay's credentials (401)"]
    assert unhealthy_reasons(status(paused=True, paused_by="person", paused_reason="lab move"), CFG, T0) == []


def test_every_problem_is_a_reason_in_its_own_words():
    problems = ["The watched folder /srv/in is missing or unreachable.", "the outbox cannot grow: the disk is full"]
    assert unhealthy_reasons(status(problems=problems), CFG, T0) == problems


def test_free_disk_under_the_reserve():
    assert unhealthy_reasons(status(disk_free_bytes=100 * 1024 * 1024), CFG, T0) == []
    (reason,) = unhealthy_reasons(status(disk_free_bytes=100 * 1024 * 1024 - 1), CFG, T0)
    assert "100 MB free, under the reserve of 100 MB" in reason
    assert unhealthy_reasons(status(disk_free_bytes=None), CFG, T0) == []  # unknown is not a verdict


def test_oldest_pending_age_limit_to_the_second():
    # delivered a minute ago, so only the age rule can speak
    s = status(pending=3, oldest_pending_at=iso(T0), last_success_at=iso(T0 + 3540))
    assert unhealthy_reasons(s, CFG, T0 + 3600) == []
    (reason,) = unhealthy_reasons(s, CFG, T0 + 3601)
    assert reason.startswith("The oldest pending result has waited 60 min")


def test_silence_counts_from_the_last_delivery_while_results_wait():
    s = status(pending=1, oldest_pending_at=iso(T0 + 3000), last_success_at=iso(T0 + 100))
    # delivered after the oldest came? no: counted from the oldest's arrival (T0+3000)
    assert unhealthy_reasons(s, HealthConfig(max_pending_age_s=1e9), T0 + 6600) == []
    (reason,) = unhealthy_reasons(s, HealthConfig(max_pending_age_s=1e9), T0 + 6601)
    assert "since the oldest pending result came" in reason
    # a delivery after the oldest arrived restarts the count (results are moving, slowly)
    moving = status(pending=1, oldest_pending_at=iso(T0), last_success_at=iso(T0 + 5000))
    assert unhealthy_reasons(moving, HealthConfig(max_pending_age_s=1e9), T0 + 8600) == []
    (reason,) = unhealthy_reasons(moving, HealthConfig(max_pending_age_s=1e9), T0 + 8601)
    assert "while results are pending" in reason
    # items in flight count as waiting too
    sending = status(sending=2, oldest_pending_at=iso(T0))
    assert len(unhealthy_reasons(sending, CFG, T0 + 3601)) == 2


def test_assess_adds_disk_facts_and_the_verdict_to_a_real_snapshot(tmp_path):
    clock = FakeClock(T0)
    with Outbox(tmp_path / "outbox.db") as box:
        box.add_items([new_item(1), new_item(2)], source="test", client="c", now=clock.now())
        clock.advance(3601)
        snap = assess(snapshot(box, (), clock.now()), box.path, CFG, clock.now())
    assert snap["disk_free_bytes"] > 0 and snap["outbox_bytes"] > 0
    assert snap["healthy"] is False and len(snap["unhealthy_reasons"]) == 2


@pytest.mark.parametrize("text", ["[health]\nmax_pending_age_s = 0\n", "[health]\nsurprise = 1\n",
                                  "[heartbeat]\nurl = \"ftp://x\"\n", "[heartbeat]\nevery_s = 1\n"])
def test_bad_health_and_heartbeat_keys_are_named(tmp_path, text):
    import tomllib

    from relay.errors import ConfigError

    with pytest.raises(ConfigError, match="health|heartbeat"):
        from_dict(tomllib.loads(text), tmp_path / "relay.toml")


def test_health_and_heartbeat_defaults_and_values(tmp_path):
    assert from_dict({}, None).health == HealthConfig(3600, 3600, 524_288_000)
    cfg = from_dict({"health": {"max_silence_s": 60}, "heartbeat": {"url": "https://i.example/api/agents",
                                                                    "site": "Clinic 7"}}, None)
    assert cfg.health.max_silence_s == 60 and cfg.heartbeat.every_s == 300 and cfg.heartbeat.site == "Clinic 7"


def test_a_secret_in_the_heartbeat_address_is_refused():
    from relay.errors import ConfigError

    with pytest.raises(ConfigError, match="heartbeat.url: secrets"):
        from_dict({"heartbeat": {"url": "https://i.example/api/agents?code=abc"}}, None)
