"""Settings values back into relay.toml: the TOML writer's round trip, keeping what the form does
not edit, and validation errors by field (no Qt needed)."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time, timezone

import pytest

from relay.config import load
from relay.ui.config_edit import ADDRESS_HELP, FormValues, apply_form, check, form_from_raw, read_raw
from relay.ui.toml_write import dumps, write_file

FILE = r'''# relay settings for the lab
[intake]
url = "https://intake.example.org/api/waters"  # production
client = "lab.north"
timeout_s = 30
ca_file = "certs\\intake-ca.pem"

[store]
path = "outbox.db"

[[watch]]
folder = "inbox"
pattern = "*.CSV"
client = "lab.north.er"
settle_s = 0.5

[[watch]]
folder = "/mnt/share/exports"
poll = true

[listener]
enabled = false
port = 9000

[delivery]
retry_max_s = 120
expire_after_days = 10.5

[[maintenance]]
days = "mon-fri"
start = "09:30"
end = "11:00"
timezone = "America/New_York"
'''


def test_dumps_round_trips_through_tomllib():
    data = {
        "title": 'quotes " and \\ backslashes, tab\t, newline\n, unicode Peña 🧪, control \x01',
        "n": 3, "x": 0.25, "big": 1e300, "neg": -2.5, "whole": 2.0, "yes": True, "no": False,
        "list": [1, 2, 3], "words": ["a", "b c"], "when": datetime(2026, 1, 5, 14, 0, tzinfo=timezone.utc),
        "day": date(2026, 1, 5), "at": time(9, 30),
        "intake": {"url": "http://127.0.0.1:8080/api/waters", "batch_max_items": 500},
        "odd keys": {"with space": 1, "dotted.key": 2, "ünï": 3},
        "watch": [{"folder": r"C:\lab\inbox", "poll": True}, {"folder": "b", "settle_s": 2.5}],
        "nested": {"inner": {"deep": {"v": 1}}, "arr": [{"k": 1}, {"k": 2, "sub": {"z": "q"}}]},
        "empty": {},
    }
    assert tomllib.loads(dumps(data)) == data


def test_dumps_rejects_what_toml_cannot_hold():
    with pytest.raises(TypeError):
        dumps({"x": object()})
    with pytest.raises(TypeError):
        dumps({"x": [1, {"a": 1}]})


def test_apply_form_changes_only_what_the_form_edits(tmp_path):
    path = tmp_path / "relay.toml"
    path.write_text(FILE, encoding="utf-8")
    raw = read_raw(path)
    form = form_from_raw(raw)
    assert form.url == "https://intake.example.org/api/waters"
    assert form.folders == ["inbox", "/mnt/share/exports"]
    assert form.windows == [{"days": "mon-fri", "start": "09:30", "end": "11:00", "timezone": "America/New_York"}]
    assert (form.format, form.auth, form.batch_max_items) == ("csv", "bearer", 500)  # schema defaults

    form.batch_max_items = 200
    form.folders = ["/mnt/share/exports", "new-folder"]  # one removed, one added, order changed
    form.windows.append({"days": "sun", "start": "02:00", "end": "04:00", "timezone": "UTC"})
    data = apply_form(raw, form)
    assert data["intake"] == {"url": "https://intake.example.org/api/waters", "client": "lab.north",
                              "timeout_s": 30, "ca_file": "certs\\intake-ca.pem", "batch_max_items": 200}
    assert "format" not in data["intake"] and "auth" not in data["intake"]  # defaults stay implicit
    assert data["watch"] == [{"folder": "/mnt/share/exports", "poll": True}, {"folder": "new-folder"}]
    assert data["listener"] == {"enabled": False, "port": 9000}
    assert data["delivery"] == {"retry_max_s": 120, "expire_after_days": 10.5}
    assert data["store"] == {"path": "outbox.db"}
    assert len(data["maintenance"]) == 2
    assert raw["watch"][0]["folder"] == "inbox"  # the original is not modified

    write_file(path, data)
    assert tomllib.loads(path.read_text(encoding="utf-8")) == data
    assert (tmp_path / "relay.toml.bak").read_text(encoding="utf-8") == FILE
    config = load(path)
    assert config.intake.batch_max_items == 200 and config.intake.timeout_s == 30
    assert [w.folder for w in config.watches] == [tmp_path / "/mnt/share/exports", tmp_path / "new-folder"]
    assert len(config.maintenance) == 2 and config.listener.port == 9000


def test_removing_every_folder_and_window_removes_the_sections(tmp_path):
    raw = tomllib.loads(FILE)
    data = apply_form(raw, FormValues(url="", client="lab.north", folders=[], windows=[]))
    assert "watch" not in data and "maintenance" not in data and "url" not in data["intake"]


def test_check_names_the_fields(tmp_path):
    path = tmp_path / "relay.toml"
    raw = tomllib.loads(FILE)
    form = form_from_raw(raw)
    form.url = "ftp://intake.example.org"
    form.client = ""
    form.windows = [{"days": "weekdays", "start": "9:30", "end": "11:00", "timezone": "UTC"}]
    config, errors = check(apply_form(raw, form), path)
    assert config is None
    by_key = {e.key: e.message for e in errors}
    assert by_key["intake.url"] == ADDRESS_HELP
    for scheme in ("https://", "s3://", "sftp://", "mllp://", "mllps://"):
        assert scheme in ADDRESS_HELP
    assert by_key["intake.client"] == "must not be empty"
    assert "not a day list" in by_key["maintenance[1].days"]
    assert "not a time like 09:30" in by_key["maintenance[1].start"]
    assert {e.section for e in errors} == {"intake", "maintenance"}


def test_check_catches_what_the_schema_cannot(tmp_path):
    raw = tomllib.loads(FILE)
    form = form_from_raw(raw)
    form.windows = [{"days": "mon", "start": "09:00", "end": "10:00", "timezone": "Mars/Olympus_Mons"}]
    config, errors = check(apply_form(raw, form), tmp_path / "relay.toml")
    assert config is None
    assert [(e.key, e.message) for e in errors] == [("maintenance[1].timezone",
                                                     "unknown time zone 'Mars/Olympus_Mons'")]
    form.windows = []
    config, errors = check(apply_form(raw, form), tmp_path / "relay.toml")
    assert errors == [] and config is not None and config.intake.client == "lab.north"


def test_written_files_are_private_and_no_temporary_is_left(tmp_path):
    path = tmp_path / "relay.toml"
    path.write_text("[listener]\ntoken = \"0123456789abcdef0123\"\n", encoding="utf-8")
    path.chmod(0o644)
    write_file(path, {"intake": {"client": "x"}})
    assert path.stat().st_mode & 0o777 == 0o600  # the file may hold the listener's token
    assert (tmp_path / "relay.toml.bak").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relay.toml", "relay.toml.bak"]
    fresh = tmp_path / "sub" / "new.toml"
    assert write_file(fresh, {"a": 1}) is None and tomllib.loads(fresh.read_text()) == {"a": 1}
    assert fresh.stat().st_mode & 0o777 == 0o600
