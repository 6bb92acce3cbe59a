"""Start relay's desktop app at login, for the current user, without admin rights.

- Linux (and other XDG desktops): ``$XDG_CONFIG_HOME/autostart/relay.desktop``.
- macOS: the LaunchAgent ``~/Library/LaunchAgents/org.relay.agent.plist`` (started once at login;
  never restarted by launchd, so a program that cannot start does not loop).
- Windows: the value ``relay`` under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``.

What each entry holds is built by pure functions (``desktop_entry``, ``launch_agent_plist``,
``windows_command_line``) so it can be checked on any machine; the platform calls stay thin.
Locations follow the environment (``XDG_CONFIG_HOME``, ``HOME``), so tests redirect them.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from relay.paths import app_paths

LABEL = "org.relay.agent"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
APPROVED_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
RUN_VALUE = "relay"


# --- the command that runs at login -------------------------------------------------------------

def launch_argv(config: str | None, *, executable: str | None = None, frozen: bool | None = None,
                platform: str | None = None, environ: Mapping[str, str] | None = None,
                exists: Callable[[Path], bool] = Path.is_file) -> list[str]:
    """The program and arguments that start the desktop app: ``relay gui [--config FILE]``.

    A frozen build runs itself (on Windows its windowless twin ``relayw.exe`` when present). From a
    Python installation: on Windows ``pythonw.exe -m relay`` (no console window), elsewhere the
    ``relay`` script beside the interpreter, else ``python -m relay``. ``--config`` is added when a
    config file was named (``--config`` or ``RELAY_CONFIG``), as an absolute path.
    """
    env = os.environ if environ is None else environ
    exe = Path(executable or sys.executable)
    is_frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    plat = platform or sys.platform
    windows = plat == "win32"
    if is_frozen:
        twin = exe.with_name("relayw.exe")
        argv = [str(twin if windows and exists(twin) else exe)]
    else:
        pythonw = exe.with_name("pythonw.exe")
        script = exe.with_name("relay.exe" if windows else "relay")
        if windows and exists(pythonw):
            argv = [str(pythonw), "-m", "relay"]
        elif exists(script):
            argv = [str(script)]
        else:
            argv = [str(exe), "-m", "relay"]
    named = config or env.get("RELAY_CONFIG")
    if named:  # a global option: it goes before the command
        argv += ["--config", str(Path(named).expanduser().resolve())]
    argv += ["gui", "--hidden"]  # at login: the tray icon only, the window opens from it
    return argv


# --- Linux: XDG desktop entry -------------------------------------------------------------------

_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def _exec_arg(arg: str) -> str:
    """One argument of a desktop entry's Exec key (quoting rules of the Desktop Entry spec)."""
    if not arg:
        return '""'
    if _EXEC_RESERVED & set(arg):
        arg = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    return arg.replace("%", "%%")  # % starts a field code, even inside quotes


def _desktop_string(value: str) -> str:
    """A desktop entry string value: backslash, newline, tab and CR are escaped."""
    return (value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r"))


def exec_line(argv: Sequence[str]) -> str:
    """The value of ``Exec=`` for ``argv`` (already escaped as a desktop entry string)."""
    return _desktop_string(" ".join(_exec_arg(a) for a in argv))


def parse_exec(value: str) -> list[str]:
    """The arguments of an ``Exec=`` value as written in the file (the reverse of ``exec_line``)."""
    escapes = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r", "s": " "}
    text, i = "", 0
    while i < len(value):  # the string-level escapes first, as the spec orders it
        if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in escapes:
            text += escapes[value[i + 1]]
            i += 2
        else:
            text += value[i]
            i += 1
    args: list[str] = []
    current: str | None = None
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
                current = (current or "") + text[i + 1]
                i += 1
            elif c == '"':
                quoted = False
            else:
                current = (current or "") + c
        elif c == '"':
            quoted, current = True, current or ""
        elif c in " \t\n":
            if current is not None:
                args.append(current)
            current = None
        else:
            current = (current or "") + c
        i += 1
    if current is not None:
        args.append(current)
    return [a.replace("%%", "%") for a in args]


def desktop_entry(argv: Sequence[str]) -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=relay\n"
        "Comment=Delivers lab results to the central intake\n"
        f"TryExec={_desktop_string(argv[0])}\n"
        f"Exec={exec_line(argv)}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def xdg_autostart_file(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME", "")
    if not base or not os.path.isabs(base):  # the spec says a relative value is ignored
        base = os.path.join(env.get("HOME") or str(Path.home()), ".config")
    return Path(base) / "autostart" / "relay.desktop"


# --- macOS: LaunchAgent -------------------------------------------------------------------------

def launch_agent_plist(argv: Sequence[str], log_file: str | None = None) -> bytes:
    """The LaunchAgent: run once at login in the user's GUI session; launchd never restarts it."""
    agent: dict[str, object] = {
        "Label": LABEL,
        "ProgramArguments": list(argv),
        "RunAtLoad": True,
        "KeepAlive": False,
        "LimitLoadToSessionType": "Aqua",
        "ProcessType": "Interactive",
    }
    if log_file:
        agent["StandardOutPath"] = log_file
        agent["StandardErrorPath"] = log_file
    return plistlib.dumps(agent, fmt=plistlib.FMT_XML, sort_keys=False)


def launch_agent_file(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("HOME") or str(Path.home())) / "Library" / "LaunchAgents" / f"{LABEL}.plist"


# --- Windows: Run key ---------------------------------------------------------------------------

def windows_command_line(argv: Sequence[str]) -> str:
    """The Run value: the program path always in quotes, then arguments as the C runtime parses them."""
    program, *args = argv
    if '"' in program:
        raise ValueError(f"a Windows program path cannot contain a quote: {program!r}")
    return " ".join([f'"{program}"', *(subprocess.list2cmdline([a]) if a else '""' for a in args)])


def startup_approved(data: object) -> bool:
    """Task Manager's on/off switch for a Run entry (``StartupApproved\\Run``): odd first byte = off."""
    return not (isinstance(data, (bytes, bytearray)) and len(data) > 0 and data[0] & 1)


# --- the entries --------------------------------------------------------------------------------

class Entry(Protocol):
    where: str

    def current(self) -> str | None:
        """What is registered now, as a person reads it; None when nothing is."""

    def describe(self, argv: Sequence[str]) -> str:
        """``argv`` as this entry would record it."""

    def install(self, argv: Sequence[str]) -> bool:
        """Register ``argv``; False when exactly that was already registered."""

    def remove(self) -> bool:
        """Unregister; False when nothing was registered."""

    def note(self) -> str | None:
        """Anything else a person should know (say, switched off elsewhere)."""


def _write_if_changed(path: Path, data: bytes) -> bool:
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


class XdgEntry:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def current(self) -> str | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        lines = text.splitlines()
        if any(line.strip() in ("Hidden=true", "X-GNOME-Autostart-enabled=false") for line in lines):
            return None
        value = next((line[5:] for line in lines if line.startswith("Exec=")), "")
        return shlex.join(parse_exec(value))

    def describe(self, argv: Sequence[str]) -> str:
        return shlex.join(argv)

    def install(self, argv: Sequence[str]) -> bool:
        return _write_if_changed(self.path, desktop_entry(argv).encode("utf-8"))

    def remove(self) -> bool:
        return _unlink(self.path)

    def note(self) -> str | None:
        return None


class LaunchAgentEntry:
    def __init__(self, path: Path, log_file: Path | None) -> None:
        self.path = path
        self.log_file = log_file
        self.where = str(path)

    def current(self) -> str | None:
        try:
            agent = plistlib.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (plistlib.InvalidFileException, ValueError):
            return "(unreadable LaunchAgent)"
        if agent.get("Disabled") or not agent.get("RunAtLoad"):
            return None
        return shlex.join(str(a) for a in agent.get("ProgramArguments", []))

    def describe(self, argv: Sequence[str]) -> str:
        return shlex.join(argv)

    def install(self, argv: Sequence[str]) -> bool:
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)  # launchd does not create folders
        log = str(self.log_file) if self.log_file is not None else None
        return _write_if_changed(self.path, launch_agent_plist(argv, log))

    def remove(self) -> bool:
        return _unlink(self.path)  # takes effect at the next login; a running relay keeps running

    def note(self) -> str | None:
        return None


class RunKeyEntry:  # pragma: no cover - Windows only
    where = "HKEY_CURRENT_USER\\" + RUN_KEY + " (value " + RUN_VALUE + ")"

    def __init__(self) -> None:
        import winreg

        self.winreg: Any = winreg

    def _read(self, key_path: str) -> object:
        w = self.winreg
        try:
            with w.OpenKey(w.HKEY_CURRENT_USER, key_path, 0, w.KEY_READ) as key:
                return w.QueryValueEx(key, RUN_VALUE)[0]
        except FileNotFoundError:
            return None

    def current(self) -> str | None:
        value = self._read(RUN_KEY)
        return str(value) if value else None

    def describe(self, argv: Sequence[str]) -> str:
        return windows_command_line(argv)

    def install(self, argv: Sequence[str]) -> bool:
        w = self.winreg
        line = windows_command_line(argv)
        changed = self.current() != line
        if changed:
            with w.CreateKeyEx(w.HKEY_CURRENT_USER, RUN_KEY, 0, w.KEY_SET_VALUE) as key:
                w.SetValueEx(key, RUN_VALUE, 0, w.REG_SZ, line)
        if not startup_approved(self._read(APPROVED_KEY)):  # enabling means on, also in Task Manager
            with w.OpenKey(w.HKEY_CURRENT_USER, APPROVED_KEY, 0, w.KEY_SET_VALUE) as key:
                w.DeleteValue(key, RUN_VALUE)
            changed = True
        return changed

    def remove(self) -> bool:
        w = self.winreg
        try:
            with w.OpenKey(w.HKEY_CURRENT_USER, RUN_KEY, 0, w.KEY_SET_VALUE) as key:
                w.DeleteValue(key, RUN_VALUE)
        except FileNotFoundError:
            return False
        return True

    def note(self) -> str | None:
        if self.current() and not startup_approved(self._read(APPROVED_KEY)):
            return "it is switched off in Task Manager's Startup apps; `relay autostart enable` switches it on"
        return None


def entry_for(platform: str | None = None, environ: Mapping[str, str] | None = None) -> Entry:
    env = dict(os.environ if environ is None else environ)
    plat = platform or sys.platform
    if plat == "win32":
        return RunKeyEntry()
    if plat == "darwin":
        return LaunchAgentEntry(launch_agent_file(env), app_paths(env).log_dir / "login.log")
    return XdgEntry(xdg_autostart_file(env))


# --- relay autostart enable|disable|status ------------------------------------------------------

def command(action: str, config: str | None, *, platform: str | None = None,
            environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    try:
        entry = entry_for(platform, env)
        argv = launch_argv(config, platform=platform, environ=env)
        wanted = entry.describe(argv)
        if action == "enable":
            changed = entry.install(argv)
            print("start at login: enabled" + ("" if changed else " (it already was)"))
            print(f"  runs: {wanted}")
            print(f"  entry: {entry.where}")
            if env.get("RELAY_HOME"):
                print("  note: RELAY_HOME is set here, but a program started at login will not see it; "
                      "name the outbox in the config file ([store] path) so both use the same one")
        elif action == "disable":
            removed = entry.remove()
            print("start at login: disabled" + (f" (removed {entry.where})" if removed else " (it was not enabled)"))
        elif action == "status":
            current = entry.current()
            if current is None:
                print("start at login: disabled")
                print(f"  `relay autostart enable` would run: {wanted}")
            else:
                print("start at login: enabled")
                print(f"  runs: {current}")
                if current != wanted:
                    print(f"  from here it would run: {wanted}  (`relay autostart enable` updates it)")
            print(f"  entry: {entry.where}")
            note = entry.note()
            if note:
                print(f"  note: {note}")
        else:
            print(f"relay: unknown autostart action {action!r} (enable, disable or status)", file=sys.stderr)
            return 2
    except OSError as exc:
        print(f"relay: cannot change start at login: {exc}", file=sys.stderr)
        return 1
    return 0
