"""Run the real receiving stub (``server_stub``) on 127.0.0.1 for a test.

    with stub_server() as stub:                       # in a thread of this process
        httpx.post(stub.url, content=..., headers=...)
        assert stub.stats()["accepted_items"] == 3

    with stub_server(subprocess=True, fail_rate=0.2, seed=7) as stub:   # python -m server_stub
        ...
        stub.kill()        # SIGKILL, as a crash would
        stub.restart()     # same port, same database

Options (all optional) are the stub's own: ``token``, ``maintenance`` (list of
"DAYS HH:MM-HH:MM ZONE"), ``fail_rate``, ``drop_rate``, ``latency_ms``, ``seed``,
``required_columns`` (list), ``reject_when`` (list of "FIELD=REGEX"), ``reject_duplicates``,
``db`` (a path; default: a temporary file, so ``restart`` keeps everything), ``log`` (access-log file;
default: beside the database, see ``log_path``),
``max_body_bytes``, ``max_items``, ``jwt_keys`` (list of (client, public key PEM)), ``token_ttl_s``. In thread mode ``clock=`` takes an object with ``now()`` (epoch
seconds), e.g. ``server_stub.ManualClock``, to drive maintenance windows without sleeping.

``http_client(stub.base_url)`` gives a plain-HTTP httpx client that is quick to create.

``RunningStub`` exposes ``base_url``, ``url`` (``.../api/waters``), ``stats()``, ``items()``,
``all_items()``, ``set_maintenance(seconds)``, ``wait_for(predicate)``, ``stop()``, and in subprocess
mode ``kill()``, ``restart()`` and ``returncode``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import ssl
import subprocess as sp
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from server_stub import Clock, Settings, create_app
from server_stub.maintenance import RecurringWindow
from server_stub.payload import RejectRule
from server_stub.server import StubServer, bind_socket, make_config, socket_url

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0


def http_client(base_url: str, **kwargs: Any) -> httpx.Client:
    """An httpx client for plain HTTP on loopback. (httpx loads the CA bundle for every client,
    ~0.2 s here; an empty TLS context, never used over http://, skips that.)"""
    return httpx.Client(base_url=base_url, verify=_UNUSED_TLS, **kwargs)


_UNUSED_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class RunningStub:
    """A stub serving on 127.0.0.1; see the module docstring."""

    def __init__(self, *, subprocess: bool = False, clock: Clock | None = None, **options: Any) -> None:
        if subprocess and clock is not None:
            raise ValueError("clock= works only in thread mode (the subprocess uses the real clock)")
        self._subprocess = subprocess
        self._clock = clock
        self._options = dict(options)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if self._options.get("db") is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="stub-")
            self._options["db"] = str(Path(self._tmp.name) / "stub.db")
        self.db = Path(self._options["db"])
        if self._options.get("log") is None:  # keep test output clean; the lines are in log_path
            self._options["log"] = str(self.db.with_name(self.db.name + ".access.log"))
        self.log_path = Path(self._options["log"])
        self.token: str | None = self._options.get("token")
        self.base_url = ""
        self._port = 0
        self._server: StubServer | None = None
        self._thread: threading.Thread | None = None
        self._proc: sp.Popen[str] | None = None
        self._stderr_path = self.db.with_name(self.db.name + ".stderr")
        self._client: httpx.Client | None = None
        self._returncode: int | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.base_url + "/api/waters"

    def start(self) -> RunningStub:
        try:
            if self._subprocess:
                self._start_process()
            else:
                self._start_thread()
        except BaseException:
            self.stop()
            raise
        self._client = http_client(self.base_url, headers=self._auth(), timeout=30)
        return self

    def stop(self) -> None:
        """Stop the stub (SIGTERM for a subprocess) and release everything."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
            self._server = self._thread = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=15)
                except sp.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._returncode = self._proc.returncode
            self._close_pipes()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def kill(self) -> None:
        """SIGKILL the subprocess (no clean shutdown), as a crash would."""
        proc = self._require_process()
        proc.kill()
        proc.wait()
        self._close_pipes(keep=True)

    def restart(self) -> None:
        """Start the subprocess again (killing it first if it still runs) on the same port and db."""
        proc = self._require_process()
        if proc.poll() is None:
            self.kill()
        self._start_process()

    @property
    def returncode(self) -> int | None:
        """The subprocess's exit status (None while it runs)."""
        if self._proc is None:
            return self._returncode
        return self._proc.poll()

    def __enter__(self) -> RunningStub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- queries --------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return self._get("/api/stats")

    def items(self, offset: int = 0, limit: int = 1000, **filters: Any) -> dict[str, Any]:
        """One page of ``GET /api/items`` (keys: total, offset, limit, next_offset, items)."""
        return self._get("/api/items", params={"offset": offset, "limit": limit, **filters})

    def all_items(self, **filters: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = self.items(offset=offset, **filters)
            out.extend(page["items"])
            offset = page["next_offset"]
        return out

    def set_maintenance(self, seconds: float) -> dict[str, Any]:
        """Start a maintenance window of ``seconds`` now (0 ends it)."""
        client = self._require_client()
        r = client.post("/api/admin/maintenance", json={"seconds": seconds})
        r.raise_for_status()
        return dict(r.json())

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        """Poll ``stats()`` until ``predicate(stats)`` holds; returns those stats (TimeoutError if not)."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if predicate(stats):
                return stats
            if time.monotonic() > deadline:
                raise TimeoutError(f"stub stats never matched: {stats}")
            time.sleep(0.02)  # polling a real server for a condition, not waiting for time to pass

    # --- internals ------------------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _require_client(self) -> httpx.Client:
        if self._client is None:
            raise RuntimeError("the stub is not running")
        return self._client

    def _require_process(self) -> sp.Popen[str]:
        if self._proc is None:
            raise RuntimeError("kill/restart/returncode need subprocess=True")
        return self._proc

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self._require_client().get(path, params=params)
        r.raise_for_status()
        return dict(r.json())

    def _settings(self) -> Settings:
        o = self._options
        return Settings(
            host="127.0.0.1",
            port=0,
            db=str(o["db"]),
            token=o.get("token"),
            maintenance=tuple(RecurringWindow.parse(w) for w in o.get("maintenance", ())),
            fail_rate=float(o.get("fail_rate", 0.0)),
            drop_rate=float(o.get("drop_rate", 0.0)),
            latency_ms=float(o.get("latency_ms", 0.0)),
            seed=o.get("seed"),
            required_columns=tuple(o.get("required_columns", ())),
            reject_when=tuple(RejectRule.parse(r) for r in o.get("reject_when", ())),
            reject_duplicates=bool(o.get("reject_duplicates", False)),
            log=o.get("log"),
            **{k: o[k] for k in ("max_body_bytes", "max_items") if k in o},
            jwt_keys=tuple(o.get("jwt_keys", ())),
            token_ttl_s=float(o.get("token_ttl_s", 300.0)),
        )

    def _start_thread(self) -> None:
        unknown = set(self._options) - set(Settings.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown stub options: {sorted(unknown)}")
        settings = self._settings()
        app = create_app(settings, clock=self._clock)
        sock = bind_socket("127.0.0.1", 0)
        started = threading.Event()
        server = StubServer(make_config(app), on_started=started.set)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="stub-server", daemon=True)
        thread.start()
        if not started.wait(START_TIMEOUT_S):
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
            raise RuntimeError("the stub did not start")
        self.base_url = socket_url(sock)
        self._server, self._thread = server, thread

    def _args(self) -> list[str]:
        o = self._options
        args = ["--host", "127.0.0.1", "--port", str(self._port), "--db", str(o["db"])]
        flags: dict[str, str] = {"token": "--token", "fail_rate": "--fail-rate", "drop_rate": "--drop-rate",
                                 "latency_ms": "--latency", "seed": "--seed", "log": "--log",
                                 "max_body_bytes": "--max-body-bytes", "max_items": "--max-items"}
        for key, value in o.items():
            if key == "db" or value is None:
                continue
            if key in flags:
                args.append(f"{flags[key]}={value}")  # one word: a value may begin with "-"
            elif key == "maintenance":
                for window in value:
                    args += ["--maintenance", window]
            elif key == "reject_when":
                for rule in value:
                    args += ["--reject-when", rule]
            elif key == "required_columns":
                args += ["--required-columns", ",".join(value)]
            elif key == "reject_duplicates":
                args += ["--reject-duplicates"] if value else []
            elif key == "token_ttl_s":
                args += ["--token-ttl", str(value)]
            elif key == "jwt_keys":
                for n, (client, pem) in enumerate(value):
                    path = self.db.with_name(f"{self.db.name}.jwt-key-{n}.pem")
                    path.write_text(pem, encoding="ascii")
                    args += ["--jwt-key", f"{client}={path}"]
            else:
                raise TypeError(f"unknown stub option {key!r}")
        return args

    def _start_process(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        with open(self._stderr_path, "ab") as stderr:
            proc = sp.Popen([sys.executable, "-m", "server_stub", *self._args()], cwd=REPO, env=env,
                            stdout=sp.PIPE, stderr=stderr, stdin=sp.DEVNULL, text=True)
        self._proc = proc
        line = _read_line(proc, START_TIMEOUT_S)
        if not line.startswith("listening on "):
            proc.kill()
            proc.wait()
            self._close_pipes()
            raise RuntimeError(f"the stub did not start ({line!r}); stderr:\n{self._stderr_tail()}")
        self.base_url = line.split()[-1]
        self._port = int(self.base_url.rsplit(":", 1)[1])

    def _close_pipes(self, keep: bool = False) -> None:
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        if not keep:
            self._proc = None

    def _stderr_tail(self) -> str:
        try:
            return self._stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def _read_line(proc: sp.Popen[str], timeout: float) -> str:
    """The subprocess's first stdout line, or '' if none comes in time."""
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True)
    reader.start()
    try:
        return lines.get(timeout=timeout).strip()
    except queue.Empty:
        return ""


@contextlib.contextmanager
def stub_server(*, subprocess: bool = False, clock: Clock | None = None, **options: Any) -> Iterator[RunningStub]:
    """Run the stub for the duration of a ``with`` block; see the module docstring."""
    stub = RunningStub(subprocess=subprocess, clock=clock, **options).start()
    try:
        yield stub
    finally:
        stub.stop()


def csv_body(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    """A CSV body (header line + rows, LF line ends, quoting where needed), UTF-8."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
