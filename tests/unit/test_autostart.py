"""Start at login: the XDG entry for real in a temporary config folder, the LaunchAgent file for real
in a temporary home, and the content macOS and Windows would get, checked on any machine."""

from __future__ import annotations

import plistlib
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay import autostart
from relay.autostart import (
    desktop_entry,
    exec_line,
    launch_agent_plist,
    launch_argv,
    parse_exec,
    startup_approved,
    windows_command_line,
    xdg_autostart_file,
)
from relay.cli import main

posix_only = pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG autostart is the Linux desktop's")


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    home = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home / "autostart" / "relay.desktop"


@pytest.fixture
def cfg(tmp_path):
    folder = tmp_path / "site config"
    folder.mkdir()
    path = folder / "relay.toml"
    path.write_text('[intake]\nurl = "http://127.0.0.1:9/api/waters"\n', encoding="utf-8")
    return path


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def exec_argv(entry: Path) -> list[str]:
    lines = entry.read_text(encoding="utf-8").splitlines()
    return parse_exec(next(line[5:] for line in lines if line.startswith("Exec=")))


# --- Linux, for real ----------------------------------------------------------------------------

@posix_only
def test_enable_writes_a_desktop_entry_that_runs_this_relay(capsys, xdg, cfg):
    code, out, _ = run(capsys, "--config", str(cfg), "autostart", "enable")
    assert code == 0 and "start at login: enabled" in out and str(xdg) in out
    text = xdg.read_text(encoding="utf-8")
    assert text.startswith("[Desktop Entry]\n") and "Type=Application\n" in text and "Terminal=false\n" in text
    argv = exec_argv(xdg)
    assert argv == launch_argv(str(cfg)) and argv[-4:] == ["--config", str(cfg), "gui", "--hidden"]
    assert Path(argv[0]).is_file() or argv[1:3] == ["-m", "relay"]
    assert f'--config "{cfg}" gui --hidden' in text  # the folder name has a space: quoted, as the spec asks


@posix_only
def test_enable_twice_changes_nothing(capsys, xdg, cfg):
    assert run(capsys, "--config", str(cfg), "autostart", "enable")[0] == 0
    first = xdg.read_bytes()
    code, out, _ = run(capsys, "--config", str(cfg), "autostart", "enable")
    assert code == 0 and "(it already was)" in out
    assert xdg.read_bytes() == first
    assert [p.name for p in xdg.parent.iterdir()] == ["relay.desktop"]  # no temporary file left


@posix_only
def test_status_and_disable(capsys, xdg, cfg):
    code, out, _ = run(capsys, "--config", str(cfg), "autostart", "status")
    assert code == 0 and "start at login: disabled" in out and "would run:" in out and str(cfg) in out

    run(capsys, "--config", str(cfg), "autostart", "enable")
    code, out, _ = run(capsys, "--config", str(cfg), "autostart", "status")
    assert code == 0 and "start at login: enabled" in out and "would run" not in out
    assert f"runs: {' '.join(launch_argv(str(cfg)))}" in out.replace("'", "")

    code, out, _ = run(capsys, "autostart", "status")  # another config from here: says what differs
    assert "start at login: enabled" in out and "from here it would run" in out

    code, out, _ = run(capsys, "autostart", "disable")
    assert code == 0 and "start at login: disabled (removed" in out and not xdg.exists()
    code, out, _ = run(capsys, "autostart", "disable")
    assert code == 0 and "it was not enabled" in out
    assert "start at login: disabled" in run(capsys, "autostart", "status")[1]


@posix_only
def test_an_entry_switched_off_in_the_desktop_counts_as_disabled(capsys, xdg):
    xdg.parent.mkdir(parents=True)
    xdg.write_text("[Desktop Entry]\nType=Application\nExec=relay gui\nHidden=true\n", encoding="utf-8")
    assert "start at login: disabled" in run(capsys, "autostart", "status")[1]
    run(capsys, "autostart", "enable")
    assert "Hidden" not in xdg.read_text(encoding="utf-8")


@posix_only
def test_relay_config_from_the_environment_is_named(capsys, xdg, cfg, monkeypatch):
    monkeypatch.setenv("RELAY_CONFIG", str(cfg))
    run(capsys, "autostart", "enable")
    assert exec_argv(xdg)[-4:] == ["--config", str(cfg), "gui", "--hidden"]


@posix_only
def test_a_folder_that_cannot_be_written_is_a_plain_error(capsys, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker))
    code, _, err = run(capsys, "autostart", "enable")
    assert code == 1 and "cannot change start at login" in err


@posix_only
def test_the_installed_command_line_works(tmp_path, xdg):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(xdg.parents[1]),
           "RELAY_HOME": str(tmp_path / "relay-home")}
    out = subprocess.run([sys.executable, "-m", "relay", "autostart", "enable"], env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    argv = exec_argv(xdg)
    assert argv[-2:] == ["gui", "--hidden"]
    version = subprocess.run([*argv[:-2], "--version"], env=env, capture_output=True, text=True, timeout=60,
                             check=False)
    assert version.returncode == 0 and version.stdout.startswith("relay ")


def test_unknown_action(capsys):
    assert autostart.command("sometimes", None, platform="linux") == 2
    assert "unknown autostart action" in capsys.readouterr().err


def test_xdg_location_follows_the_environment(tmp_path):
    assert xdg_autostart_file({"XDG_CONFIG_HOME": str(tmp_path), "HOME": "/nowhere"}) == \
        tmp_path / "autostart" / "relay.desktop"
    assert xdg_autostart_file({"HOME": str(tmp_path)}) == tmp_path / ".config" / "autostart" / "relay.desktop"
    # a relative XDG_CONFIG_HOME is invalid and ignored (XDG Base Directory spec)
    assert xdg_autostart_file({"XDG_CONFIG_HOME": "rel", "HOME": str(tmp_path)}).parent.parent == tmp_path / ".config"


# --- the desktop entry's Exec quoting -----------------------------------------------------------

def test_exec_quoting_follows_the_desktop_entry_spec():
    assert exec_line(["/opt/relay/relay", "gui"]) == "/opt/relay/relay gui"
    assert exec_line(["/home/ana/My Apps/relay", "gui", "--config", "/srv/site 1/relay.toml"]) == \
        '"/home/ana/My Apps/relay" gui --config "/srv/site 1/relay.toml"'
    assert exec_line(["/opt/relay", "100%"]) == "/opt/relay 100%%"
    assert exec_line(["/opt/$HOME/r`x`", 'say "hi"']) == '"/opt/\\\\$HOME/r\\\\`x\\\\`" "say \\\\"hi\\\\""'
    assert exec_line(["C:\\odd\\path"]) == '"C:\\\\\\\\odd\\\\\\\\path"'  # four backslashes per backslash
    assert exec_line(["a", ""]) == 'a ""'


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                        max_size=20), min_size=1, max_size=5))
def test_exec_line_reads_back_as_the_same_arguments(argv):
    assert parse_exec(exec_line(argv)) == argv


def test_desktop_entry_has_one_line_per_key():
    text = desktop_entry(["/opt/relay dir/relay", "gui", "--config", "/x\ny.toml"])
    keys = [line.split("=", 1)[0] for line in text.splitlines()[1:]]
    assert keys == ["Type", "Name", "Comment", "TryExec", "Exec", "Terminal", "X-GNOME-Autostart-enabled"]
    assert parse_exec(next(line[5:] for line in text.splitlines() if line.startswith("Exec="))) == \
        ["/opt/relay dir/relay", "gui", "--config", "/x\ny.toml"]


# --- which program runs -------------------------------------------------------------------------

def test_a_frozen_build_runs_itself(tmp_path):
    exe = tmp_path / "relay" / "relay"
    assert launch_argv(None, executable=str(exe), frozen=True, platform="linux", environ={}) == [str(exe), "gui", "--hidden"]
    assert launch_argv("site.toml", executable=str(exe), frozen=True, platform="linux", environ={}) == \
        [str(exe), "--config", str(Path("site.toml").resolve()), "gui", "--hidden"]


def test_a_frozen_windows_build_prefers_its_windowless_twin(tmp_path):
    exe = tmp_path / "relay.exe"
    twin = tmp_path / "relayw.exe"
    assert launch_argv(None, executable=str(exe), frozen=True, platform="win32", environ={})[0] == str(exe)
    twin.write_bytes(b"")
    assert launch_argv(None, executable=str(exe), frozen=True, platform="win32", environ={})[0] == str(twin)


def test_from_python_the_console_script_or_python_dash_m(tmp_path):
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    assert launch_argv(None, executable=str(python), frozen=False, platform="linux", environ={}) == \
        [str(python), "-m", "relay", "gui", "--hidden"]
    (tmp_path / "bin" / "relay").write_bytes(b"")
    assert launch_argv(None, executable=str(python), frozen=False, platform="linux", environ={}) == \
        [str(tmp_path / "bin" / "relay"), "gui", "--hidden"]


def test_from_python_on_windows_pythonw_keeps_the_console_away(tmp_path):
    python = tmp_path / "python.exe"
    (tmp_path / "relay.exe").write_bytes(b"")
    assert launch_argv(None, executable=str(python), frozen=False, platform="win32", environ={}) == \
        [str(tmp_path / "relay.exe"), "gui", "--hidden"]
    (tmp_path / "pythonw.exe").write_bytes(b"")
    assert launch_argv(None, executable=str(python), frozen=False, platform="win32", environ={}) == \
        [str(tmp_path / "pythonw.exe"), "-m", "relay", "gui", "--hidden"]


# --- macOS: the LaunchAgent ---------------------------------------------------------------------

def test_launch_agent_plist_content():
    argv = ["/Applications/relay.app/Contents/MacOS/relay", "gui", "--config", "/Users/ana/Lab Config/relay.toml"]
    agent = plistlib.loads(launch_agent_plist(argv, "/Users/ana/Library/Logs/relay/login.log"))
    assert agent["Label"] == "org.relay.agent"
    assert agent["ProgramArguments"] == argv  # a list: no shell, no quoting
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] is False  # launchd never restarts it: no restart storms
    assert agent["LimitLoadToSessionType"] == "Aqua"
    assert agent["StandardErrorPath"] == agent["StandardOutPath"] == "/Users/ana/Library/Logs/relay/login.log"
    assert "StandardOutPath" not in plistlib.loads(launch_agent_plist(argv))


def test_launch_agent_file_enable_status_disable(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    plist = tmp_path / "Library" / "LaunchAgents" / "org.relay.agent.plist"
    assert autostart.command("status", None, platform="darwin") == 0
    assert "start at login: disabled" in capsys.readouterr().out

    assert autostart.command("enable", "/Users/ana/relay.toml", platform="darwin") == 0
    agent = plistlib.loads(plist.read_bytes())
    assert agent["ProgramArguments"][-4:] == ["--config", "/Users/ana/relay.toml", "gui", "--hidden"]
    log = Path(agent["StandardOutPath"])
    assert log.parent.is_dir() and log.is_relative_to(tmp_path)  # RELAY_HOME's logs folder, made for launchd
    capsys.readouterr()
    assert autostart.command("enable", "/Users/ana/relay.toml", platform="darwin") == 0
    assert "(it already was)" in capsys.readouterr().out
    assert autostart.command("status", "/Users/ana/relay.toml", platform="darwin") == 0
    out = capsys.readouterr().out
    assert "start at login: enabled" in out and "--config /Users/ana/relay.toml gui --hidden" in out

    assert autostart.command("disable", None, platform="darwin") == 0
    assert not plist.exists() and "removed" in capsys.readouterr().out


# --- Windows: the Run key value -----------------------------------------------------------------

def split_windows(line: str) -> list[str]:
    """The Microsoft C runtime's rules (CommandLineToArgvW): the program name, then the arguments."""
    assert line.startswith('"')
    end = line.index('"', 1)
    args, rest = [line[1:end]], line[end + 1:]
    current, quoted, have, i = "", False, False, 0
    while i < len(rest):
        c = rest[i]
        if c == "\\":
            n = len(rest[i:]) - len(rest[i:].lstrip("\\"))
            if i + n < len(rest) and rest[i + n] == '"':
                current += "\\" * (n // 2)
                if n % 2:
                    current += '"'
                    i += n + 1
                else:
                    i += n
                have = True
                continue
            current += "\\" * n
            i += n
            have = True
            continue
        if c == '"':
            quoted, have = not quoted, True
        elif c in " \t" and not quoted:
            if have:
                args.append(current)
            current, have = "", False
        else:
            current += c
            have = True
        i += 1
    if have:
        args.append(current)
    return args


def test_windows_command_line_quotes_paths_with_spaces():
    argv = ["C:\\Users\\Ana Peña\\AppData\\Local\\Programs\\relay\\relayw.exe", "gui", "--config",
            "C:\\Users\\Ana Peña\\AppData\\Roaming\\relay\\relay.toml"]
    line = windows_command_line(argv)
    assert line == ('"C:\\Users\\Ana Peña\\AppData\\Local\\Programs\\relay\\relayw.exe" gui --config '
                    '"C:\\Users\\Ana Peña\\AppData\\Roaming\\relay\\relay.toml"')
    assert split_windows(line) == argv


def test_windows_command_line_always_quotes_the_program():
    assert windows_command_line(["C:\\relay\\relay.exe", "gui"]) == '"C:\\relay\\relay.exe" gui'


@pytest.mark.parametrize("arg", ["C:\\Lab Data\\", 'say "hi"', "", "a\\\\b", "tab\there", "C:\\plain\\path"])
def test_windows_arguments_read_back_exactly(arg):
    argv = ["C:\\Program Files\\relay\\relay.exe", "gui", "--config", arg]
    assert split_windows(windows_command_line(argv)) == argv


def test_windows_program_path_cannot_hold_a_quote():
    with pytest.raises(ValueError):
        windows_command_line(['C:\\a"b\\relay.exe', "gui"])


def test_task_manager_switch():
    assert startup_approved(None)
    assert startup_approved(bytes([2]) + bytes(11))
    assert not startup_approved(bytes([3]) + bytes(11))
