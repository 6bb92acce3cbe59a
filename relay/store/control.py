"""Keys of the outbox's control table: the values the sender, the agent and the status object share.

They live with the store (the table's owner), so delivery and status both read them from here and
delivery never imports the status module.
"""

from __future__ import annotations

from typing import Final

PAUSED_BY: Final = "paused_by"  # "person" | "intake"
PAUSED_REASON: Final = "paused_reason"
PAUSED_PROBE: Final = "paused_probe"  # "0": the intake retired this sender, only a person resumes
UNAVAILABLE_UNTIL: Final = "unavailable_until"  # the intake said 503/429 with Retry-After
PROBLEMS: Final = "problems"  # JSON list of plain-words problems (folders missing, disk full, ...)
CLOCK_FORWARD_AT: Final = "clock_forward_at"  # when the wall clock last jumped forward
LAST_SUCCESS_AT: Final = "last_success_at"

SENDER_KEYS: Final = (PAUSED_BY, PAUSED_REASON, PAUSED_PROBE, UNAVAILABLE_UNTIL)
