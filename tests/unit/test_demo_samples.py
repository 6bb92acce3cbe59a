"""What the demo's banner says of its sample files holds whichever order the watcher reads them in."""

from __future__ import annotations

import pytest

from relay.demo import write_samples
from relay.errors import RelayError
from relay.ingest.files import ingest_file
from relay.store.outbox import Outbox


@pytest.mark.parametrize("order", ["by name", "reversed"])
def test_the_banner_is_true_in_either_order(tmp_path, order):
    inbox = tmp_path / "inbox"
    said = write_samples(inbox)
    (tmp_path / "reports").mkdir()
    names = sorted(said, reverse=order == "reversed")
    outcomes = {}
    with Outbox(tmp_path / "outbox.db") as box:
        for name in names:
            try:
                outcomes[name] = ingest_file(box, inbox / name, client="c", source="watch", now=1_000.0,
                                             report_dir=tmp_path / "reports")
            except RelayError as exc:  # a sample the reader cannot take at all
                pytest.fail(f"{name}: {exc}")
        pending = box.counts().by_state["pending"]
    pair = ["clinic-monday.csv", "clinic-monday (copy).csv"]
    second = max(pair, key=names.index)
    assert outcomes[second].accepted == 0 and outcomes[second].duplicates == 40
    assert "whichever of the two is read second" in said["clinic-monday (copy).csv"]
    monday_and_tuesday = outcomes["clinic-monday.csv"].accepted + outcomes["clinic-monday (copy).csv"].accepted \
        + outcomes["clinic-tuesday.csv"].accepted
    assert monday_and_tuesday == 40 + 30 - 10  # "10 of them are also in Monday's export and are sent once"
    assert outcomes["lab-with-bad-rows.csv"].accepted == 2 and outcomes["lab-with-bad-rows.csv"].rows_rejected == 1
    assert outcomes["results.xlsx.csv"].status == "rejected"
    assert pending == 74  # what the demo then delivers
