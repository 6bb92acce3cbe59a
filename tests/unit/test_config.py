from __future__ import annotations

from pathlib import Path

import pytest

from relay.config import load, parse_days
from relay.errors import ConfigError

EXAMPLE = """
[intake]
url = "http://127.0.0.1:8080/api/waters"
client = "simple_report.default"
format = "csv"
auth = "bearer"
batch_max_items = 500
timeout_s = 60

[store]
path = "outbox.db"

[[watch]]
folder = "inbox"
pattern = "*.csv"
settle_s = 0.5

[listener]
enabled = true
host = "127.0.0.1"
port = 8765

[delivery]
retry_initial_s = 0.5
retry_max_s = 300
expire_after_days = 14
dedupe_window_days = 30
retention_days = 30

[[maintenance]]
days = "mon-fri"
start = "09:30"
end = "11:00"
timezone = "America/New_York"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "relay.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_interface_example_loads_with_paths_relative_to_the_file(tmp_path):
    cfg = load(write(tmp_path, EXAMPLE))
    assert cfg.store.path == tmp_path / "outbox.db"
    w = cfg.watches[0]
    assert w.folder == tmp_path / "inbox" and w.processed_folder == tmp_path / "inbox" / "processed"
    assert w.rejected_folder == tmp_path / "inbox" / "rejected" and w.settle_s == 0.5
    assert cfg.delivery.retry_initial_s == 0.5
    assert cfg.maintenance[0].days == frozenset(range(5))


def test_defaults_come_from_the_schema(tmp_path):
    cfg = load(write(tmp_path, ""))
    assert (cfg.intake.client, cfg.intake.format, cfg.intake.batch_max_items) == ("simple_report.default", "csv", 500)
    assert cfg.listener.host == "127.0.0.1" and cfg.listener.port == 8765
    assert cfg.store.path.name == "outbox.db"


@pytest.mark.parametrize("text, fragment", [
    ('[intake]\nurl = "http://x"\nbogus = 1\n', "unknown key intake.bogus"),
    ("[nonsense]\n", "unknown key nonsense"),
    ("[intake]\nbatch_max_items = 20000\n", "intake.batch_max_items"),
    ('[intake]\nformat = "xml"\n', "intake.format: 'xml' is not one of csv | ndjson | json"),
    ('[[watch]]\npattern = "*.csv"\n', "'folder' is a required property"),
    ('[[watch]]\nfolder = "in"\nsettle = 2\n', "unknown key watch[1].settle"),
    ('[[maintenance]]\nstart = "9:30"\nend = "11:00"\n', "maintenance[1].start: '9:30' is not a time"),
    ('[[maintenance]]\nstart = "09:30"\nend = "11:00"\ntimezone = "Mars/Base"\n', "unknown time zone"),
    ('[intake]\ntoken = "abc"\n', "secrets are not kept in the config file"),
    ("[intake\n", "not valid TOML"),
    ('[delivery]\nretry_initial_s = 10\nretry_max_s = 1\n', "retry_max_s"),
])
def test_errors_name_the_file_and_the_key(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml")


def test_not_utf8_is_a_clear_error(tmp_path):
    p = tmp_path / "relay.toml"
    p.write_bytes(b"[intake]\nclient = \"\xff\xfe\"\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(p)


def test_day_lists():
    assert parse_days("mon-fri") == frozenset({0, 1, 2, 3, 4})
    assert parse_days("sat,sun") == frozenset({5, 6})
    assert parse_days("fri-mon") == frozenset({4, 5, 6, 0})
