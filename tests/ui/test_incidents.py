"""One notification per incident, never one per retry (pure; time passed in)."""

from __future__ import annotations

from relay.events import CountsChanged, Delivered, ItemsFailed, SenderState
from relay.ui.incidents import CRITICAL, IncidentTracker
from tests.ui.support import T0, iso

HOUR = 3600.0


def stats(now, **over):
    base = {"pending": 0, "sending": 0, "failed": 0, "dead": 0, "paused": False, "paused_by": None,
            "paused_reason": None, "in_maintenance_window": False, "oldest_pending_at": None,
            "last_success_at": None, "problems": [], "now": iso(now)}
    base.update(over)
    return base


def titles(notices):
    return [n.title for n in notices]


def test_rejections_arriving_together_are_one_notice_with_the_total():
    t = IncidentTracker(settle_s=5)
    assert t.observe(stats(T0), T0) == []
    t.on_event(ItemsFailed(3, "Patient_DOB: not a date", T0), T0)
    assert t.observe(stats(T0, failed=3), T0 + 1) == []  # still settling: more may follow
    t.on_event(ItemsFailed(2, "Patient_DOB: not a date", T0 + 2), T0 + 2)
    notices = t.observe(stats(T0, failed=5), T0 + 6)
    assert titles(notices) == ["The intake rejected 5 results"]
    assert "Patient_DOB: not a date" in notices[0].text
    # later rejections while the first are still waiting for a person: no new notice
    t.on_event(ItemsFailed(1, "x", T0 + 60), T0 + 60)
    assert t.observe(stats(T0, failed=6), T0 + 100) == []
    assert "rejected" in t.open_incidents


def test_a_new_rejection_after_the_failed_were_dealt_with_is_a_new_incident():
    t = IncidentTracker(settle_s=5)
    t.on_event(ItemsFailed(1, "bad", T0), T0)
    assert titles(t.observe(stats(T0, failed=1), T0 + 5)) == ["The intake rejected 1 result"]
    assert t.observe(stats(T0, failed=0), T0 + 20) == []  # a person retried them
    assert "rejected" not in t.open_incidents
    t.on_event(ItemsFailed(4, "bad", T0 + 30), T0 + 30)
    assert titles(t.observe(stats(T0, failed=4), T0 + 40)) == ["The intake rejected 4 results"]


def test_retries_and_other_events_never_notify():
    t = IncidentTracker()
    for n in range(50):
        t.on_event(SenderState("waiting", "retrying after an error", T0 + n), T0 + n)
        t.on_event(CountsChanged(T0 + n), T0 + n)
        t.on_event(ItemsFailed(0, "nothing", T0 + n), T0 + n)
        assert t.observe(stats(T0 + n, pending=10, oldest_pending_at=iso(T0)), T0 + n) == []
    t.on_event(Delivered(1, 10, T0 + 60), T0 + 60)
    assert t.observe(stats(T0 + 60), T0 + 60) == []


def test_credentials_rejected_once_per_pause():
    t = IncidentTracker()
    paused = stats(T0, pending=3, paused=True, paused_by="intake",
                   paused_reason="the intake rejected relay's credentials (401): store a new one")
    first = t.observe(paused, T0)
    assert titles(first) == ["Credentials rejected"] and first[0].level == CRITICAL
    for k in range(1, 20):  # the sender probes every few minutes; still the same incident
        assert t.observe(paused, T0 + k * 300) == []
    assert t.observe(stats(T0, pending=3), T0 + 7000) == []  # resumed: incident over
    assert titles(t.observe(paused, T0 + 8000)) == ["Credentials rejected"]


def test_pause_reasons_get_their_own_titles():
    t = IncidentTracker()
    retired = stats(T0, paused=True, paused_by="intake", paused_reason="this sender has been retired (410)")
    assert titles(t.observe(retired, T0)) == ["This sender was retired at the intake"]
    t2 = IncidentTracker()
    none = stats(T0, paused=True, paused_by="intake",
                 paused_reason="no intake credential is stored: run `relay token set`")
    assert titles(t2.observe(none, T0)) == ["No credential stored"]
    t3 = IncidentTracker()
    assert t3.observe(stats(T0, paused=True, paused_by="person", paused_reason="lunch"), T0) == []


def test_no_delivery_for_an_hour_while_results_wait():
    t = IncidentTracker(stall_after_s=HOUR)
    waiting = dict(pending=20, oldest_pending_at=iso(T0), last_success_at=iso(T0 - 10))
    assert t.observe(stats(T0, **waiting), T0) == []
    assert t.observe(stats(T0 + 3000, **waiting), T0 + 3000) == []
    notices = t.observe(stats(T0 + HOUR, **waiting), T0 + HOUR)
    assert titles(notices) == ["No delivery for 1 hour"] and "20 results waiting" in notices[0].text
    assert t.observe(stats(T0 + 2 * HOUR, **waiting), T0 + 2 * HOUR) == []  # once per incident
    delivered = dict(waiting, last_success_at=iso(T0 + 2 * HOUR + 5))
    assert t.observe(stats(T0 + 2 * HOUR + 10, **delivered), T0 + 2 * HOUR + 10) == []
    assert "stalled" not in t.open_incidents


def test_no_stall_notice_during_maintenance_a_pause_or_right_after_start():
    t = IncidentTracker(stall_after_s=HOUR)
    old = dict(pending=5, oldest_pending_at=iso(T0 - 10 * HOUR), last_success_at=iso(T0 - 10 * HOUR))
    assert t.observe(stats(T0, **old), T0) == []  # relay was off; it only just started
    assert t.observe(stats(T0 + 2 * HOUR, in_maintenance_window=True, **old), T0 + 2 * HOUR) == []
    assert t.observe(stats(T0 + 2 * HOUR, paused=True, paused_by="person", **old), T0 + 2 * HOUR) == []
    # after the pause the hour starts again
    assert t.observe(stats(T0 + 2.5 * HOUR, **old), T0 + 2.5 * HOUR) == []
    assert titles(t.observe(stats(T0 + 3 * HOUR, **old), T0 + 3 * HOUR)) == ["No delivery for 1 hour"]


def test_problems_once_each_until_cleared():
    t = IncidentTracker()
    a, b = "the watched folder /srv/inbox is missing", "the disk holding the outbox is full"
    assert [n.text for n in t.observe(stats(T0, problems=[a]), T0)] == [a]
    assert [n.text for n in t.observe(stats(T0, problems=[a, b]), T0 + 1)] == [b]
    assert t.observe(stats(T0, problems=[a, b]), T0 + 2) == []
    assert t.observe(stats(T0, problems=[]), T0 + 3) == []
    assert [n.text for n in t.observe(stats(T0, problems=[a]), T0 + 4)] == [a]


def test_dead_letters_notify_on_increase_not_at_start():
    t = IncidentTracker()
    assert t.observe(stats(T0, dead=4), T0) == []  # already there when relay started: the icon says it
    notices = t.observe(stats(T0, dead=7), T0 + 1)
    assert titles(notices) == ["3 results not delivered in time"]
    assert t.observe(stats(T0, dead=9), T0 + 2) == []  # same incident until they are dealt with
    assert t.observe(stats(T0, dead=0), T0 + 3) == []
    assert titles(t.observe(stats(T0, dead=1), T0 + 4)) == ["1 result not delivered in time"]


def test_the_rejection_notice_quotes_what_the_intake_said_of_the_items_not_of_the_request():
    """The intake answered "4 of 8 items are invalid; nothing was stored" and relay then delivered
    the other 4: the notice says why the items were rejected, not that nothing was stored."""
    t = IncidentTracker(settle_s=5)
    t.on_event(ItemsFailed(4, "4 of 8 items are invalid; nothing was stored", T0), T0)
    notices = t.observe(stats(T0, failed=4, failed_reason="Patient_DOB: '19450231' is not a valid date"), T0 + 5)
    assert titles(notices) == ["The intake rejected 4 results"]
    assert "nothing was stored" not in notices[0].text
    assert notices[0].text.startswith("Patient_DOB: '19450231' is not a valid date")


def test_no_notice_about_rejected_results_a_person_already_discarded():
    t = IncidentTracker(settle_s=5)
    t.on_event(ItemsFailed(2, "bad", T0), T0)
    assert t.observe(stats(T0, failed=2), T0 + 1) == []
    assert t.observe(stats(T0, failed=0, discarded=2), T0 + 6) == []  # discarded within the settle time
    assert "rejected" not in t.open_incidents


def test_files_that_need_a_look_are_one_notice_until_seen():
    t = IncidentTracker()
    said = "results.xlsx.csv was rejected (see Files)"
    assert titles(t.observe(stats(T0, files_attention=said), T0)) == ["Some files could not be used"]
    assert t.observe(stats(T0, files_attention=said + "; 2 more"), T0 + 10) == []
    assert t.observe(stats(T0, files_attention=None), T0 + 20) == []  # seen
    assert titles(t.observe(stats(T0, files_attention=said), T0 + 30)) == ["Some files could not be used"]
