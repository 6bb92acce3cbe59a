"""The frozen program (PyInstaller build of packaging/relay.spec) does what the installed one does.

These run only against a build: with ``RELAY_PACKAGE_SMOKE=1`` the build is made first (about a
minute on two cores); with ``RELAY_PACKAGE_SMOKE=existing`` the build in ``dist/relay`` must be
there (CI builds it with ``scripts/package.sh`` just before). Otherwise an existing ``dist/relay``
is used when it is newer than every file it was built from, and the tests are skipped, saying why,
when there is none or it is stale: the rest of the suite stays quick.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from relay import __version__
from relay.samples import write_simple_report

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
PROGRAM = DIST / "relay" / ("relay.exe" if sys.platform == "win32" else "relay")
INPUTS = ("relay", "server_stub", "schemas", "packaging", "pyproject.toml")


def newest_input() -> tuple[float, Path]:
    files = []
    for name in INPUTS:
        path = ROOT / name
        files += [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts] if path.is_dir() else [path]
    return max((p.stat().st_mtime, p) for p in files)


def build() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", str(DIST),
         "--workpath", str(ROOT / "build" / "pyinstaller"), str(ROOT / "packaging" / "relay.spec")],
        cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]


@pytest.fixture(scope="session")
def program() -> Path:
    mode = os.environ.get("RELAY_PACKAGE_SMOKE", "")
    if mode == "1":
        build()
    elif mode == "existing":
        assert PROGRAM.is_file(), f"RELAY_PACKAGE_SMOKE=existing, but there is no {PROGRAM}"
    elif not PROGRAM.is_file():
        pytest.skip(f"no frozen build at {PROGRAM.relative_to(ROOT)}: build it with `bash scripts/package.sh`, "
                    "or set RELAY_PACKAGE_SMOKE=1 to build it here")
    else:
        when, newest = newest_input()
        if when > PROGRAM.stat().st_mtime:
            pytest.skip(f"the frozen build is older than {newest.relative_to(ROOT)}: rebuild it with "
                        "`bash scripts/package.sh`, or set RELAY_PACKAGE_SMOKE=1 to build it here")
    assert PROGRAM.is_file()
    return PROGRAM


@pytest.fixture
def site(tmp_path):
    """A config, an outbox and relay's folders, all in tmp_path; the environment for the program."""
    (tmp_path / "inbox").mkdir()
    config = tmp_path / "relay.toml"
    config.write_text('[intake]\nurl = "http://127.0.0.1:9/api/waters"\n[store]\npath = "outbox.db"\n'
                      '[[watch]]\nfolder = "inbox"\n[listener]\nenabled = false\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "RELAY_", "QT_"))}
    # RELAY_TOKEN keeps the OS keyring (a Keychain prompt on a Mac) out of the way.
    env.update(RELAY_HOME=str(tmp_path / "relay-home"), XDG_CONFIG_HOME=str(tmp_path / "xdg"),
               QT_QPA_PLATFORM="offscreen", RELAY_TOKEN="frozen-smoke-test-token")
    return config, env


def run(program: Path, env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(program), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=env["RELAY_HOME"].rsplit(os.sep, 1)[0], check=False)


def png_facts(data: bytes) -> tuple[int, int, int]:
    """Width, height and how many different byte values the decoded pixel rows hold."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_version(program, site):
    _, env = site
    out = run(program, env, "--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"relay {__version__}"


def test_ingest_then_status(program, site, tmp_path):
    config, env = site
    sample = write_simple_report(tmp_path / "clinic export.csv", 25, seed=3)
    out = run(program, env, "--config", str(config), "ingest", str(sample))
    assert out.returncode == 0, out.stderr
    assert "clinic export.csv: 25 accepted, 0 duplicate, 0 rejected" in out.stdout
    assert sample.exists() and (tmp_path / "outbox.db").exists()

    out = run(program, env, "--config", str(config), "status", "--json")
    assert out.returncode == 0, out.stderr
    snap = json.loads(out.stdout)
    assert (snap["pending"], snap["sent"], snap["files_processed"], snap["paused"]) == (25, 0, 1, False)


def test_large_files_are_read_by_the_row_reading_helper(program, site, tmp_path):
    """The frozen program starts its row-reading helper as ``relay -m relay.ingest.parse_helper``
    (there is no interpreter to run the module with): the helper answers a request for a large
    file's rows, and ``relay ingest`` of large files (read by it) takes every row."""
    from relay.ingest import parse_helper

    config, env = site
    big = write_simple_report(tmp_path / "big export.csv", 1_500, seed=6)
    second = write_simple_report(tmp_path / "second.csv", 1_500, seed=6, start=1_500)
    assert big.stat().st_size >= parse_helper.MIN_BYTES
    key = (lambda st: (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))(big.stat())
    from relay.formats.csv_reader import open_csv

    data = open_csv(big)
    request = ("read", str(big), big.name, None, (key, data.file_hash, data.header, data.tracking_column))
    with subprocess.Popen([str(program), "-m", parse_helper.MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          env=env) as helper:
        assert helper.stdin is not None and helper.stdout is not None
        assert parse_helper.read_frame(helper.stdout) == ("ready",)
        parse_helper.write_frame(helper.stdin, request)
        rows, end = 0, None
        while end is None:
            frame = parse_helper.read_frame(helper.stdout)
            assert frame is not None and frame[0] in ("rows", "end"), frame
            rows += len(frame[1]) if frame[0] == "rows" else 0
            end = frame if frame[0] == "end" else None
        helper.stdin.close()
        assert helper.wait(timeout=30) == 0  # ends when its requests end
    assert rows == 1_500 and end[1:3] == (1_500, 0)

    out = run(program, env, "--config", str(config), "ingest", str(big), str(second))
    assert out.returncode == 0, out.stderr
    assert "big export.csv: 1500 accepted" in out.stdout and "second.csv: 1500 accepted" in out.stdout


def test_gui_screenshot(program, site, tmp_path):
    config, env = site
    write_simple_report(tmp_path / "a.csv", 40, seed=4)
    assert run(program, env, "--config", str(config), "ingest", str(tmp_path / "a.csv")).returncode == 0
    shot = tmp_path / "queue.png"
    out = run(program, env, "--config", str(config), "gui", "--screenshot", str(shot), timeout=120)
    assert out.returncode == 0, out.stderr
    data = shot.read_bytes()
    width, height, values = png_facts(data)
    assert width >= 600 and height >= 400, (width, height)
    assert len(data) > 20_000 and values > 32  # a drawn window, not a blank canvas


def test_demo_runs_its_stub_and_delivers(program, site, tmp_path):
    _, env = site
    out = run(program, env, "demo", "--no-gui", "--exit-when-done", "--folder", str(tmp_path / "demo"), timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "relay demo stopped" in out.stdout
    assert any((tmp_path / "demo" / "inbox" / "processed").iterdir())
    assert (tmp_path / "demo" / "stub.db").exists()  # the receiving stub ran from the frozen program


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG autostart is the Linux desktop's")
def test_autostart_names_the_frozen_program(program, site):
    config, env = site
    out = run(program, env, "--config", str(config), "autostart", "status")
    assert out.returncode == 0, out.stderr
    assert f"would run: {program} --config {config} gui --hidden" in out.stdout
