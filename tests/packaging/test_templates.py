"""The installer pieces that cannot run here agree with the program: the macOS LaunchAgent template
is what `relay autostart` writes, and the Windows installer only calls commands relay has."""

from __future__ import annotations

import plistlib
import re
import shlex
from pathlib import Path

import pytest

from relay.autostart import launch_agent_plist
from relay.cli import _parser

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def test_launch_agent_template_matches_relay_autostart():
    template = plistlib.loads((PACKAGING / "macos" / "org.relay.agent.plist").read_bytes())
    assert template == plistlib.loads(launch_agent_plist(["/Applications/relay.app/Contents/MacOS/relay", "gui"]))


def iss_lines(section: str) -> list[str]:
    text = (PACKAGING / "windows" / "relay.iss").read_text(encoding="utf-8")
    body = re.search(rf"^\[{section}\]\n(.*?)(?=^\[|\Z)", text, re.DOTALL | re.MULTILINE)
    assert body, section
    return [line for line in body.group(1).splitlines() if line and not line.startswith(";")]


def test_installer_is_per_user():
    setup = dict(line.split("=", 1) for line in iss_lines("Setup"))
    assert setup["PrivilegesRequired"] == "lowest"
    assert setup["DefaultDirName"].startswith("{localappdata}\\")
    assert setup["DefaultDirName"] != "{localappdata}\\relay"  # that is where relay keeps its data


@pytest.mark.parametrize("section", ["Run", "UninstallRun", "Icons"])
def test_installer_runs_only_commands_relay_has(section):
    for line in iss_lines(section):
        params = re.search(r'Parameters: "([^"]*)"', line)
        program = re.search(r'Filename: "\{app\}\\(\w+)\.exe"', line)
        assert params and program, line
        assert program.group(1) in ("relay", "relayw")  # the two programs packaging/relay.spec makes on Windows
        _parser().parse_args(shlex.split(params.group(1)))  # exits on anything the command line does not know


def test_spec_makes_both_windows_programs():
    spec = (PACKAGING / "relay.spec").read_text(encoding="utf-8")
    assert 'program("relay", ' in spec and 'program("relayw", ' in spec
