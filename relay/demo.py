"""`relay demo`: a receiving stub on loopback, an agent pointed at it, and a watched folder with
sample files (generated, SimpleReport layout: some duplicates, a file with bad rows, one bad file).

Opens the desktop app when there is a display; otherwise shows live progress in the terminal.
Ctrl-C stops both cleanly.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from relay.demo_hl7 import CONFIG as CONFIG_HL7
from relay.demo_hl7 import send_over_mllp, write_hl7_samples
from relay.samples import write_simple_report

DEMO_TOKEN_ENV = "RELAY_TOKEN"


def _config_text(url: str) -> str:
    return (
        "# relay demo configuration (written by `relay demo`)\n"
        "[intake]\n"
        f'url = "{url}"\n'
        'client = "simple_report.default"\n'
        "batch_max_items = 50\n"
        "timeout_s = 10\n\n"
        "[store]\n"
        'path = "outbox.db"\n\n'
        "[[watch]]\n"
        'folder = "inbox"\n'
        "settle_s = 1\n\n"
        + CONFIG_HL7 +
        "[listener]\n"
        "enabled = true\n"
        'host = "127.0.0.1"\n'
        "port = 0\n\n"
        "[delivery]\n"
        "retry_initial_s = 0.5\n"
        "retry_max_s = 10\n\n"
        "[heartbeat]\n"
        f'url = "{url.rsplit("/api/", 1)[0]}/api/agents"\n'
        "every_s = 30\n"
        'site = "relay demo"\n'
    )


def write_samples(inbox: Path) -> dict[str, str]:
    """The sample files, and what a person should expect from each."""
    inbox.mkdir(parents=True, exist_ok=True)
    write_simple_report(inbox / "clinic-monday.csv", 40, seed=1)
    write_simple_report(inbox / "clinic-tuesday.csv", 30, seed=1, start=30)  # rows 30..59: 10 overlap
    shutil.copyfile(inbox / "clinic-monday.csv", inbox / "clinic-monday (copy).csv")
    write_simple_report(inbox / "school-site-old-export.csv", 12, seed=5, encoding="cp1252")
    with (inbox / "lab-with-bad-rows.csv").open("w", encoding="utf-8", newline="") as fh:
        fh.write("Result_ID,Patient_last_name,Patient_first_name,Test_result_code,Test_date\r\n")
        fh.write("7d4c7f0e-1f5c-4c1e-9a55-1d2b3c4d5e60,Rivera,Ana,260415000,20261120\r\n")
        fh.write("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,Chen\r\n")  # too few fields
        fh.write("5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9,Okafor,Chidi,260373001,20261121\r\n")
    (inbox / "results.xlsx.csv").write_bytes(b"PK\x03\x04" + os.urandom(600))  # a spreadsheet, not CSV
    # Which of two files with the same rows is read first is up to the watcher, so the words
    # below hold in either order.
    return {
        "clinic-monday.csv": "40 results",
        "clinic-monday (copy).csv": "the same export saved twice: whichever of the two is read second has "
                                    "every row skipped as a duplicate",
        "clinic-tuesday.csv": "30 results; 10 of them are also in Monday's export and are sent once",
        "school-site-old-export.csv": "an old Windows-1252 export (Peña, José)",
        "lab-with-bad-rows.csv": "2 good rows delivered; 1 bad row reported in rejected/",
        "results.xlsx.csv": "a spreadsheet saved with the wrong name: rejected with a reason",
    }


def start_stub(folder: Path, token: str) -> tuple[subprocess.Popen[str], str]:
    """The receiving stub in a child process that cannot outlive this one (``relay.child_guard``:
    it ends when our end of its standard input closes, which happens however we end). It has a
    process group of its own, so a Ctrl-C in the terminal reaches the demo, which stops the agent
    first and the stub after it."""
    env = dict(os.environ, RELAY_GUARD_PARENT=str(os.getpid()))
    said = folder / "stub-output.log"  # what the stub says on its standard error, this run's only
    with said.open("wb") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "relay.child_guard", "server_stub", "--host", "127.0.0.1", "--port", "0",
             "--db", str(folder / "stub.db"), f"--token={token}",  # "=": a token may begin with "-"
             "--log", str(folder / "stub-requests.log")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True, env=env,
            **_own_group(),
        )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        stop_stub(proc)
        tail = said.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"the receiving stub did not start ({line or 'no output'}; exit code "
                           f"{proc.returncode}; {said}: {' | '.join(tail) or 'empty'})")
    return proc, line.removeprefix("listening on ")


def _own_group() -> dict[str, Any]:
    if os.name == "posix":
        return {"start_new_session": True}
    return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}


def stop_stub(stub: subprocess.Popen[str]) -> None:
    if stub.stdin is not None:
        stub.stdin.close()  # the stub's guard stops it cleanly on end-of-file
    stub.terminate()
    try:
        stub.wait(10)
    except subprocess.TimeoutExpired:
        stub.kill()
        stub.wait()
    if stub.stdout is not None:
        stub.stdout.close()


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return False
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _line(snap: dict[str, Any]) -> str:
    state = "paused: " + str(snap["paused_reason"]) if snap["paused"] else (
        f"waiting until {snap['maintenance_until']}" if snap["maintenance_until"] else "running")
    return (f"pending {snap['pending']:>4} · sent {snap['sent']:>4} · failed {snap['failed']:>3} · "
            f"duplicates skipped {snap['duplicates']:>3} · files {snap['files_processed']} processed, "
            f"{snap['files_rejected']} rejected · {state}")


def run_demo(folder: str | None = None, *, gui: bool | None = None, exit_when_done: bool = False,
             timeout_s: float = 300.0) -> int:
    from relay.agent import Agent
    from relay.config import load

    base = Path(folder or "relay-demo").resolve()
    fresh = not (base / "relay.toml").exists()
    base.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    stub, stub_url = start_stub(base, token)
    os.environ[DEMO_TOKEN_ENV] = token  # the demo's agent uses the stub's token, not the keyring
    try:
        (base / "relay.toml").write_text(_config_text(stub_url + "/api/waters"), encoding="utf-8")
        expectations = write_samples(base / "inbox") if fresh else {}
        expectations.update(write_hl7_samples(base / "hl7-inbox") if fresh else {})
        config = load(base / "relay.toml")
        print(f"relay demo in {base}")
        print(f"  receiving stub: {stub_url}  (what it holds: {stub_url}/api/stats)")
        print(f"  fleet page (heartbeats): {stub_url}/fleet")
        print(f"  drop CSV files into: {base / 'inbox'}")
        print(f"  processed files go to inbox/processed, bad ones to inbox/rejected with a reason")
        print(f"  drop HL7 v2 files (*.hl7) into: {base / 'hl7-inbox'}")
        for name, what in expectations.items():
            print(f"    {name}: {what}")
        print("  stop with Ctrl-C")
        if gui if gui is not None else (has_display() and not exit_when_done):
            try:
                from relay.ui.app import main as gui_main
                from relay.ui.display_check import display_problem
            except ImportError as exc:
                print(f"  (desktop app not available: {exc}; showing progress here)")
            else:
                problem = display_problem()
                if problem is None:
                    code = gui_main(config)
                    print("relay demo stopped", flush=True)
                    return code
                print(f"  (the desktop app cannot open a window here: {problem}; showing progress here)")
        return _terminal(Agent(config), exit_when_done, timeout_s)
    finally:
        stop_stub(stub)


def _terminal(agent: Any, exit_when_done: bool, timeout_s: float) -> int:
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    agent.start()
    if agent.listener is not None:
        print(f"  local listener for other programs: {agent.listener.url}/v1/results")
    mllp = next((s for s in agent.sources if type(s).__name__ == "MllpListener"), None)
    if mllp is not None:  # a small HL7 sender, as a LIS would be
        acks = send_over_mllp(mllp.port)
        print(f"  MLLP listener for HL7 v2: 127.0.0.1:{mllp.port}; sent {len(acks)} HL7 results over MLLP, "
              f"ACKs: {', '.join(code for code, _ in acks)}")
    started = time.monotonic()
    last = ""
    code = 0
    try:
        while not stop.wait(1.0):
            snap = agent.stats()
            line = _line(snap)
            if line != last:
                print(line, flush=True)
                last = line
            done = snap["pending"] == 0 and snap["sending"] == 0 and snap["files_processed"] >= 5
            if exit_when_done and done:
                break
            if exit_when_done and time.monotonic() - started > timeout_s:
                print("relay demo: not everything was delivered in time", file=sys.stderr)
                code = 1
                break
    finally:
        agent.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("relay demo stopped")
    return code
