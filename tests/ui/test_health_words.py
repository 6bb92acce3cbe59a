"""The tray and the window show health's reasons (the same as `relay status` and /healthz), each once."""

from __future__ import annotations

from relay.clock import FakeClock, iso
from relay.config import HealthConfig
from relay.store.outbox import Outbox
from relay.ui.reader import StoreReader
from relay.ui.status_text import ATTENTION, conditions, look
from tests.helpers.builders import new_item

T0 = 1_767_225_600.0
PAUSE = "the intake rejected relay's credentials (401)"


def test_health_reasons_are_said_once_after_what_needs_a_person():
    stats = {"now": iso(T0), "pending": 3, "failed": 1, "paused": True, "paused_by": "intake",
             "paused_reason": PAUSE, "problems": ["The watched folder /srv/in is missing or unreachable."],
             "unhealthy_reasons": [f"Sending is paused: {PAUSE}", "The watched folder /srv/in is missing or "
                                   "unreachable.", "The oldest pending result has waited 2 h 0 min, longer than 60 min"]}
    texts = [text for kind, text in conditions(stats) if kind == ATTENTION]
    assert texts == [f"Sending is paused: {PAUSE}", "The watched folder /srv/in is missing or unreachable.",
                     "1 result needs a person: 1 rejected by the intake",
                     "The oldest pending result has waited 2 h 0 min, longer than 60 min"]


def test_a_stuck_queue_alone_turns_the_tray_to_attention_with_its_reason(tmp_path):
    clock = FakeClock(T0)
    with Outbox(tmp_path / "o.db") as box:
        box.add_items([new_item(1)], source="t", client="c", now=T0)
    reader = StoreReader(tmp_path / "o.db", (), clock, HealthConfig(max_pending_age_s=600, max_silence_s=900))
    try:
        clock.advance(599)
        assert look(reader.stats()).kind != ATTENTION
        clock.advance(2)
        lk = look(reader.stats())
        assert lk.kind == ATTENTION and lk.headline == "The oldest pending result has waited 10 min 1 s, longer than 10 min"
    finally:
        reader.close()
