"""What the command line prints is true and safe: it says which config and outbox it uses, never
creates an outbox to report on, says when it printed fewer rows than exist, ends quietly in a
closed pipe, and escapes control characters in names (INTERFACE §3a)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from relay.cli import main
from relay.cli_text import shown
from relay.paths import app_paths
from relay.samples import write_simple_report


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "relay.toml"
    path.write_text('[intake]\nurl = "http://127.0.0.1:9/api/waters"\n[store]\npath = "outbox.db"\n', encoding="utf-8")
    return path


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_read_only_commands_without_a_config_say_where_they_look_and_create_nothing(capsys):
    outbox = app_paths().default_outbox
    code, out, err = run(capsys, "status")
    assert code == 0
    assert f"no config file at {app_paths().default_config_file}" in err and str(outbox) in err
    assert f"There is no outbox yet at {outbox}" in out
    code, out, err = run(capsys, "list")
    assert code == 0 and "There is no outbox yet" in out
    code, out, err = run(capsys, "status", "--json")
    snap = json.loads(out)
    assert code == 0 and snap["outbox_exists"] is False and snap["pending"] == 0 and "no outbox yet" in err
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0 and json.loads(out) == []
    assert not outbox.exists() and not outbox.parent.exists()


def test_list_says_when_more_items_exist_than_it_printed(capsys, cfg, tmp_path):
    rows = write_simple_report(tmp_path / "a.csv", 60)
    assert run(capsys, "--config", str(cfg), "ingest", str(rows))[0] == 0
    code, out, _ = run(capsys, "--config", str(cfg), "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 1 + 50 + 1
    assert lines[-1].startswith("50 of 60 items shown") and "--limit" in lines[-1]
    code, out, _ = run(capsys, "--config", str(cfg), "list", "--limit", "60")
    assert "items shown" not in out and len(out.splitlines()) == 61
    code, out, err = run(capsys, "--config", str(cfg), "list", "--json", "--limit", "5")
    assert len(json.loads(out)) == 5 and "5 of 60 items shown" in err


@pytest.mark.skipif(os.name != "posix", reason="a shell pipe")
def test_list_into_head_ends_quietly(cfg, tmp_path, capsys):
    rows = write_simple_report(tmp_path / "a.csv", 3000)
    assert run(capsys, "--config", str(cfg), "ingest", str(rows))[0] == 0
    out = subprocess.run(f"'{sys.executable}' -m relay --config '{cfg}' list --limit 3000 | head -n 2",
                         shell=True, capture_output=True, text=True, timeout=120, check=False)
    assert len(out.stdout.splitlines()) == 2
    assert out.stderr == ""  # no BrokenPipeError traceback, no "Exception ignored"


def test_names_with_control_characters_are_escaped_on_the_terminal(capsys, cfg, tmp_path):
    name = "lab\x1b[2J\nresults\u202e.csv"
    src = write_simple_report(tmp_path / name, 2)
    code, out, _ = run(capsys, "--config", str(cfg), "ingest", str(src))
    assert code == 0 and "lab\\x1b[2J\\nresults\\u202e.csv: 2 accepted" in out
    code, out, _ = run(capsys, "--config", str(cfg), "list")
    assert "\x1b" not in out and "\u202e" not in out and "lab\\x1b[2J\\nresu" in out
    assert len(out.splitlines()) == 3


def test_shown_escapes_only_what_a_terminal_would_act_on():
    assert shown("Peña José, 2026-11-20.csv") == "Peña José, 2026-11-20.csv"
    assert shown("a\tb\rc\\d") == "a\\tb\\rc\\\\d"
    assert shown("\x7f\x85") == "\\x7f\\x85"
    assert shown(os.fsdecode(b"caf\xe9.csv")) == "caf\\xe9.csv"
    assert shown(None) == ""
