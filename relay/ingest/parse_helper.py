"""Reading a large CSV file's rows in a helper process.

Parsing and hashing rows is most of what reading a file costs, and Python threads share one
interpreter lock: while the watcher's thread parses, the senders' threads wait for it between their
SQLite calls. So the rows of a large file (``MIN_BYTES`` or more) are parsed and hashed in a helper
process, ``python -m relay.ingest.parse_helper`` (``relay -m relay.ingest.parse_helper`` in the
frozen build), on another core. The reading thread keeps everything else: the probe and header
(``open_csv_stream`` over its own handle), the file transaction, the rejected-rows report, and the
last look that the file did not change before the commit.

- The helper reads the file by its path with the same reader and answers only if it read the file
  the caller holds: the same device, inode, size and modification time as the caller's handle, the
  same SHA-256 as the caller's probe, the same header. Otherwise it answers "changed" and the file is
  read again later, as when the caller's own read sees a change.
- It sends the rows back in chunks (line, canonical values, tracking id, hash) with the rejected
  rows, then the counts; a file that is rejected whole, changed, or cannot be read gives the same
  error as reading it in the caller's thread.
- While relay stores one file, the helper reads the folder's next one into its memory
  (``AHEAD_MAX_BYTES`` at most), and answers from there when that very file is asked for.
- One helper serves one file at a time. A thread that finds it busy or not ready yet (it says
  "ready" once started; only a file of ``WAIT_BYTES`` or more waits for that), or a file under
  ``MIN_BYTES``, reads in its own thread, as does everything when the helper cannot start.
- A helper that stops mid-file raises ``HelperStopped`` (the file's transaction rolls back, and
  ``ingest_file`` reads the file again in its own thread); it is started again for the next file,
  and after ``MAX_FAILURES`` failures in a row files are read in the caller's thread from then on.
- The helper ends when relay ends, however it ends: its standard input (the requests) closes, and
  a write to relay that has ended fails.

Frames on the pipes: a 4-byte big-endian length, then a pickle (both ends are relay's own code).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import IO, Any, cast

from relay.errors import TransientError
from relay.formats.csv_reader import CsvFile, FileRejected, Row, RowReject, open_csv_stream
from relay.formats.file_errors import FileChanged

log = logging.getLogger("relay.ingest")

MIN_BYTES = 256 * 1024  # smaller files are read in the caller's thread (the helper's round trip is not worth it)
MAX_FAILURES = 3
CHUNK_ROWS = 1000
CHUNK_CHARS = 4 * 1024 * 1024
WAIT_BYTES = 4 * 1024 * 1024  # a file this large waits for a helper that is still starting...
READY_WAIT_S = 10.0  # ...this long at most (it takes a fraction of a second)
AHEAD_MAX_BYTES = 16 * 1024 * 1024  # a file read ahead is held in the helper's memory: this size at most
CHANGED = "The file changed while it was read; it is read again once it has settled."
MODULE = "relay.ingest.parse_helper"

_HEAD = struct.Struct(">I")

# (line, canonical values, tracking id, content hash): what the outbox needs of a good row
RowTuple = tuple[int, str, "str | None", str]


class HelperStopped(TransientError):
    """The helper process stopped or answered nonsense mid-file: what was read of the file is not
    to be kept (the file is read again)."""


def write_frame(out: IO[bytes], value: object) -> None:
    write_pickled(out, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def write_pickled(out: IO[bytes], data: bytes) -> None:
    out.write(_HEAD.pack(len(data)) + data)
    out.flush()


def read_frame(inp: IO[bytes], limit: int | None = None) -> Any:
    """The next frame's value; None at the end of the stream. A frame said to be over ``limit``
    bytes is not read (ValueError)."""
    head = inp.read(_HEAD.size)
    if not head:
        return None
    if len(head) != _HEAD.size:
        raise EOFError("the stream ended inside a frame")
    size = _HEAD.unpack(head)[0]
    if limit is not None and size > limit:
        raise ValueError(f"a frame of {size} bytes where {limit} at most were expected")
    data = inp.read(size)
    if len(data) != size:
        raise EOFError("the stream ended inside a frame")
    return pickle.loads(data)


# --- the helper's side -----------------------------------------------------------------------------

# what names the file read: identity (device, inode, size, mtime), SHA-256, header, tracking column
Key = tuple[tuple[int, int, int, int], str, tuple[str, ...], "str | None"]


def _key(value: Any) -> Key:
    """A key as it came through a pickle (tuples stay tuples; this only checks its shape)."""
    identity, file_hash, header, tracking = value
    return (tuple(identity), file_hash, tuple(header), tracking)


def parse(path: str, name: str, tracking_column: str | None, send: Callable[[tuple[Any, ...]], None],
          expect: Key | None = None) -> Key | None:
    """Read the file at ``path`` and ``send`` its rows in chunks, then one closing answer:
    ("end", rows_ok, rows_rejected, blank_rows[, "ahead"]), ("rejected", reason), ("changed", reason) or
    ("oserror", errno, strerror). With ``expect``, a file that is not that one is answered
    ("changed", ...) before any row. Returns the key of the file read (None when it was not read)."""
    from relay.ingest.entries import Handle, NotRegular

    try:
        try:
            handle = Handle(Path(path))
        except NotRegular:
            send(("changed", CHANGED))
            return None
        with handle:
            i = handle.identity
            identity = (i.dev, i.ino, i.size, i.mtime_ns)
            if expect is not None and identity != expect[0]:
                send(("changed", CHANGED))
                return None
            data = open_csv_stream(handle.reader, name, Path(path), tracking_column)
            key: Key = (identity, data.file_hash, data.header, data.tracking_column)
            if expect is not None and key != expect:
                send(("changed", CHANGED))
                return None
            _send_rows(data, send)
            return key
    except FileRejected as exc:
        send(("rejected", exc.reason))
    except FileChanged as exc:
        send(("changed", str(exc)))
    except OSError as exc:
        send(("oserror", exc.errno, exc.strerror or str(exc)))
    return None


def _send_rows(data: CsvFile, send: Callable[[tuple[Any, ...]], None]) -> None:
    rows: list[RowTuple] = []
    rejects: list[RowReject] = []
    chars = 0
    for record in data:
        if type(record) is Row:
            rows.append((record.line, record.canonical, record.tracking_id, record.content_hash))
            chars += len(record.canonical)
        else:
            assert isinstance(record, RowReject)
            rejects.append(record)
            chars += sum(map(len, record.fields))
        if len(rows) + len(rejects) >= CHUNK_ROWS or chars >= CHUNK_CHARS:
            send(("rows", rows, rejects))
            rows, rejects, chars = [], [], 0
    if rows or rejects:
        send(("rows", rows, rejects))
    send(("end", data.rows_ok, data.rows_rejected, data.blank_rows))


class Helper:
    """The helper's loop: ("read", path, name, tracking column, key) is answered with the file's
    frames; ("ahead", path, name, tracking column) is not answered: the file is read into memory
    (``AHEAD_MAX_BYTES`` at most) while relay stores the last one, and a "read" of that very file
    (the same key) is answered from there. Anything held is dropped at the next "read"."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        # a file read ahead: its key, its chunks of rows already pickled (about the file's size in
        # memory, not several times it as objects), and its closing answer
        self.held: tuple[Key, list[bytes], tuple[Any, ...]] | None = None

    def send(self, value: tuple[Any, ...]) -> None:
        write_frame(self.out, value)

    def handle(self, request: tuple[Any, ...]) -> None:
        if request[0] == "ahead":
            _, path, name, tracking_column = request
            self.held = None
            try:
                if os.stat(path).st_size > AHEAD_MAX_BYTES:
                    return
            except OSError:
                return
            chunks: list[bytes] = []
            closings: list[tuple[Any, ...]] = []

            def keep(frame: tuple[Any, ...]) -> None:
                if frame[0] == "rows":
                    chunks.append(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
                else:
                    closings.append(frame)

            key = parse(path, name, tracking_column, keep)
            if key is not None and closings:
                self.held = (key, chunks, closings[0])
            return
        _, path, name, tracking_column, expect = request
        expect = _key(expect)
        held, self.held = self.held, None
        if held is not None and held[0] == expect:
            for chunk in held[1]:
                write_pickled(self.out, chunk)
            closing = held[2]
            self.send(closing + ("ahead",) if closing[0] == "end" else closing)
            return
        parse(path, name, tracking_column, self.send, expect)


def serve(inp: IO[bytes], out: IO[bytes]) -> int:
    """Say it is ready, then answer requests from ``inp`` until it closes."""
    _grow_pipe(out)
    helper = Helper(out)
    try:
        helper.send(("ready",))
    except BrokenPipeError:
        return 0
    while True:
        try:
            request = read_frame(inp)
        except EOFError:
            return 0
        if request is None:
            return 0
        try:
            helper.handle(request)
        except BrokenPipeError:
            return 0
        except Exception as exc:  # a fault of relay's own code: said by its kind, never with row content
            helper.held = None
            if request[0] == "read":
                write_frame(out, ("error", type(exc).__name__))


def _grow_pipe(out: IO[bytes]) -> None:
    """A larger pipe (Linux) lets the helper parse the next chunk while the last one is still read."""
    try:
        import fcntl

        fcntl.fcntl(out.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError, ValueError):
        pass


def main() -> int:
    # No PR_SET_PDEATHSIG here: it fires when the *thread* that started the helper ends, and any
    # relay thread may start it. The end of relay closes the helper's standard input (requests),
    # and a write to relay that has ended fails: either way the helper ends.
    return serve(sys.stdin.buffer, sys.stdout.buffer)


# --- relay's side ----------------------------------------------------------------------------------


def helper_command() -> list[str]:
    """How to start the helper: this interpreter with ``-m``; the frozen program takes the same."""
    return [sys.executable, "-m", MODULE]


class ParseHelper:
    """The helper process and the one file it is reading (see the module's text)."""

    def __init__(self, command: Callable[[], list[str]] = helper_command, min_bytes: int = MIN_BYTES) -> None:
        self._command = command
        self.min_bytes = min_bytes
        self._busy = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()  # the running helper said "ready"
        self._settled = threading.Event()  # ...or ended, or said something else, first
        self._failures = 0
        self.files_read = 0  # files whose rows the helper read (for tests and figures)
        self.files_read_ahead = 0  # ... of them, read ahead while relay stored the one before

    @property
    def pid(self) -> int | None:
        """The helper process's id while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def usable(self) -> bool:
        return self._failures < MAX_FAILURES

    def start(self) -> None:
        """Start the helper ahead of the first large file, so its start-up is not waited for."""
        if not self._busy.acquire(blocking=False):
            return
        try:
            if self.usable:
                self._ensure()
        except Exception as exc:  # noqa: BLE001 - relay reads files itself then; never stops relay starting
            self._failed(f"could not start ({_plain(exc)})")
        finally:
            self._busy.release()

    def rows(self, data: CsvFile, identity: tuple[int, int, int, int],
             ahead: tuple[Path, str | None] | None = None) -> Generator[RowTuple | RowReject, None, None] | None:
        """The rows of ``data`` read by the helper, or None when ``data`` is to be read in the
        caller's thread (small, the helper busy or not usable, no path). Iterating sets ``data``'s
        counts at the end and raises what iterating ``data`` itself would raise. ``ahead``: the
        file likely to be read next (path, tracking column), read by the helper meanwhile."""
        if data.path is None or data.size < self.min_bytes or not self.usable:
            return None
        if not self._busy.acquire(blocking=False):
            return None
        try:
            proc = self._ensure()
        except Exception as exc:  # noqa: BLE001 - the file is read in the caller's thread instead
            self._busy.release()
            self._failed(f"could not start ({_plain(exc)})")
            return None
        if not self._ready.is_set():  # still starting: a small file is read here sooner than waited for
            if data.size >= WAIT_BYTES:
                self._settled.wait(READY_WAIT_S)
            if not self._ready.is_set():
                self._busy.release()
                return None
        reading = self._read(proc, data, identity, ahead)
        next(reading)  # into its try: from here, closing or dropping it lets the helper go
        return cast(Generator[RowTuple | RowReject, None, None], reading)

    def _read(self, proc: subprocess.Popen[bytes], data: CsvFile, identity: tuple[int, int, int, int],
              ahead: tuple[Path, str | None] | None) -> Generator[RowTuple | RowReject | None, None, None]:
        done = False
        try:
            yield None  # taken by ``rows``
            assert proc.stdin is not None and proc.stdout is not None
            try:
                write_frame(proc.stdin, ("read", str(data.path), data.source_name, data.tracking_column,
                                         (identity, data.file_hash, data.header, data.tracking_column)))
                if ahead is not None and self.wants(ahead[0]):
                    write_frame(proc.stdin, ("ahead", str(ahead[0]), ahead[0].name, ahead[1]))
            except OSError as exc:
                raise HelperStopped("the row reader stopped") from exc
            while True:
                try:
                    answer = read_frame(proc.stdout)
                except (EOFError, OSError, pickle.UnpicklingError) as exc:
                    raise HelperStopped("the row reader stopped") from exc
                if answer is None:
                    raise HelperStopped("the row reader stopped")
                kind = answer[0]
                if kind == "rows":
                    yield from answer[1]
                    yield from answer[2]
                    continue
                done = True
                if kind == "end":
                    data.rows_ok, data.rows_rejected, data.blank_rows = answer[1:4]
                    self._failures = 0
                    self.files_read += 1
                    self.files_read_ahead += answer[4:] == ("ahead",)
                    return
                if kind == "rejected":
                    raise FileRejected(answer[1])
                if kind == "changed":
                    raise FileChanged(answer[1])
                if kind == "oserror":
                    raise OSError(answer[1], answer[2])
                done = False
                raise HelperStopped(f"the row reader failed ({answer[1] if kind == 'error' else kind})")
        except HelperStopped as exc:
            self._stop()
            self._failed(str(exc.__cause__ or exc))
            raise
        finally:
            if not done:  # left mid-file (an error here, or the caller stopped reading): the helper
                self._stop()  # may still be sending this file's rows, so it is not used again
            self._busy.release()

    def wants(self, path: Path) -> bool:
        """Whether the helper would read ``path`` (by its size now)."""
        try:
            return self.min_bytes <= os.stat(path).st_size <= AHEAD_MAX_BYTES
        except OSError:
            return False

    def wait_ready(self, timeout: float) -> bool:
        """Start the helper if need be and wait until it is ready (tests, benchmarks). False when
        it is not usable, or ended (or did not answer within ``timeout``)."""
        self.start()
        if not self.usable or self._proc is None:
            return False
        self._settled.wait(timeout)
        return self._ready.is_set()

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._stop()  # one that ended: its pipes closed
        self._ready.clear()
        self._settled.clear()
        proc = self._proc = subprocess.Popen(
            self._command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=_child_env(), creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
        threading.Thread(target=self._await_ready, args=(proc,), name="relay-parse-helper-start", daemon=True).start()
        return proc

    def _await_ready(self, proc: subprocess.Popen[bytes]) -> None:
        """Reads the helper's first frame; only then is it asked for rows (by ``rows``)."""
        assert proc.stdout is not None
        try:
            first = read_frame(proc.stdout, limit=64)
        except Exception:  # noqa: BLE001 - anything but "ready" (stray output, garbage) is a failed start
            first = None
        if proc is not self._proc:  # stopped meanwhile
            return
        if first == ("ready",):
            self._ready.set()
        else:  # it ended, or said something else, before it was ready: not asked for anything
            with contextlib.suppress(OSError):
                proc.kill()
            self._failed("it did not start as expected")
        self._settled.set()

    def _failed(self, why: str) -> None:
        self._failures += 1
        if self.usable:
            log.warning("the row-reading helper stopped (%s); it is started again for the next file", why)
        else:
            log.warning("the row-reading helper failed %d times in a row (%s); files are read in relay's own "
                        "process from now on", self._failures, why)

    def _stop(self) -> None:
        self._ready.clear()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:  # killed first: closing its output while the start-up thread reads it would wait for that read
            proc.kill()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()

    def close(self) -> None:
        with self._busy:
            self._stop()


def _child_env() -> dict[str, str]:
    """This environment; for relay run from a source folder, that folder first on the path (an
    installed relay is found where it is installed, after the standard library, as in relay)."""
    env = dict(os.environ)
    root = Path(__file__).resolve().parent.parent.parent
    if root.name not in ("site-packages", "dist-packages") and not getattr(sys, "frozen", False):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    return env


def _plain(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc or type(exc).__name__)


_shared: ParseHelper | None = None
_shared_lock = threading.Lock()


def shared() -> ParseHelper:
    """The process's helper (started on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ParseHelper()
            atexit.register(_shared.close)
        return _shared


if __name__ == "__main__":
    sys.exit(main())
