"""Watched folders: lab staff drop CSV exports in; relay takes each file once it is complete.

The watchdog handler only notices (it queues paths). One consumer decides readiness: a file is
taken once its size and modification time have stayed the same for ``settle_s`` (or at once when it
was renamed into the folder), and, on Windows, once it can be opened. A start-up scan and a periodic
rescan make OS events a hint, not the truth. Items are committed first; only then is the file moved
(to processed/, or to rejected/ with its reason). A crash between the two is healed by the file
ledger: the same file met again adds nothing and is just moved.
"""

from __future__ import annotations

import fnmatch
import logging
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from relay.clock import Clock
from relay.config import TranslateConfig, WatchConfig
from relay.errors import EnvironmentProblem, TransientError
from relay.ingest.files import FileOutcome, ingest_file
from relay.ingest.folders import move_unique, unique_name
from relay.store.outbox import Outbox

log = logging.getLogger("relay.ingest")

RESCAN_S = 30.0
TICK_S = 0.25
IGNORED_PREFIXES = ("~$", ".")
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".error.txt", ".rejected-rows.csv")


def ignored(name: str) -> bool:
    lower = name.lower()
    return lower.startswith(IGNORED_PREFIXES) or lower.endswith(IGNORED_SUFFIXES)


@dataclass
class _Candidate:
    size: int | None = None
    mtime_ns: int | None = None
    since: float = 0.0
    renamed: bool = False


class _Hints(FileSystemEventHandler):
    def __init__(self, hints: queue.SimpleQueue[tuple[str, bool]], wake: threading.Event) -> None:
        self.hints = hints
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        if event.event_type == "moved":
            self.hints.put((str(event.dest_path), True))
        elif event.event_type in ("created", "modified", "closed"):
            self.hints.put((str(event.src_path), False))
        else:
            return
        self.wake.set()


class FolderWatcher:
    def __init__(
        self,
        watch: WatchConfig,
        outbox: Outbox,
        *,
        client: str,
        clock: Clock,
        on_new_work: Callable[[], None] = lambda: None,
        on_problem: Callable[[str, str | None], None] = lambda key, text: None,
        on_file: Callable[[FileOutcome], None] = lambda outcome: None,
        translate: TranslateConfig | None = None,
    ) -> None:
        self.watch = watch
        self.translate = translate  # CSV rows become HL7 ELR messages (INTERFACE §10)
        self.folder = watch.folder
        self.outbox = outbox
        self.client = client
        self.clock = clock
        self.on_new_work = on_new_work
        self.on_problem = on_problem
        self.on_file = on_file
        self.problem_key = f"watch:{watch.folder}"
        self._candidates: dict[Path, _Candidate] = {}
        self._hints: queue.SimpleQueue[tuple[str, bool]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None
        self._next_rescan = 0.0
        self._missing = False
        self._outbox_problem = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._start_observer()
        self._thread = threading.Thread(target=self._run, name=f"relay-watch-{self.folder.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        self._stop_observer()

    def _start_observer(self) -> None:
        if not self.folder.is_dir():
            return
        handler = _Hints(self._hints, self._wake)
        kinds: list[Callable[[], BaseObserver]] = [PollingObserver] if self.watch.poll else [Observer, PollingObserver]
        for kind in kinds:
            observer = kind()
            try:
                observer.schedule(handler, str(self.folder), recursive=False)
                observer.start()
            except OSError as exc:  # inotify limits, network shares: poll instead
                log.warning("cannot watch %s with %s (%s); polling instead", self.folder, type(observer).__name__, exc)
                continue
            self._observer = observer
            return

    def _stop_observer(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
            self._observer = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.tick()
            except EnvironmentProblem as exc:
                self._outbox_problem = True
                self.on_problem(f"outbox:{self.folder}", str(exc))
                self._stop.wait(5)
            except Exception:  # a bug: logged with its traceback, the watcher keeps going
                log.exception("watcher of %s failed", self.folder)
                self._stop.wait(5)
            else:
                if self._outbox_problem:  # the outbox takes files again (the disk has room, ...)
                    self._outbox_problem = False
                    self.on_problem(f"outbox:{self.folder}", None)
            self._wake.wait(TICK_S)

    # -- one pass ---------------------------------------------------------------------------------

    def rescan(self) -> None:
        """Every matching file in the folder becomes a candidate (start-up and periodic)."""
        now = self.clock.monotonic()
        self._next_rescan = now + RESCAN_S
        try:
            entries = list(self.folder.iterdir())
        except OSError:
            self._set_missing(True)
            return
        self._set_missing(False)
        for entry in entries:
            self._consider(entry, renamed=False, now=now)

    def _set_missing(self, missing: bool) -> None:
        if missing and not self._missing:
            log.warning("watched folder %s is missing or unreachable", self.folder)
            self._stop_observer()
            self.on_problem(self.problem_key, f"The watched folder {self.folder} is missing or unreachable.")
        elif not missing and self._missing:
            log.info("watched folder %s is back", self.folder)
            self._start_observer()
            self.on_problem(self.problem_key, None)
        elif not missing and self._observer is None and not self._stop.is_set() and self._thread is not None:
            self._start_observer()
        self._missing = missing

    def _consider(self, path: Path, *, renamed: bool, now: float) -> None:
        if path.parent != self.folder or ignored(path.name) or not fnmatch.fnmatch(path.name, self.watch.pattern):
            return
        cand = self._candidates.get(path)
        if cand is None:
            self._candidates[path] = _Candidate(since=now, renamed=renamed)
        elif renamed:
            cand.renamed = True

    def tick(self) -> int:
        """Take every candidate that is ready. Returns how many files were handled."""
        now = self.clock.monotonic()
        if now >= self._next_rescan:
            self.rescan()
        while True:
            try:
                name, renamed = self._hints.get_nowait()
            except queue.Empty:
                break
            self._consider(Path(name), renamed=renamed, now=now)
        handled = 0
        for path, cand in sorted(self._candidates.items(), key=lambda kv: kv[1].since):
            if self._stop.is_set():
                break
            try:
                st = path.stat()
            except FileNotFoundError:
                del self._candidates[path]
                continue
            except OSError:
                continue
            if (st.st_size, st.st_mtime_ns) != (cand.size, cand.mtime_ns):
                first_sight = cand.size is None
                cand.size, cand.mtime_ns = st.st_size, st.st_mtime_ns
                if not (first_sight and cand.renamed):
                    cand.since = now
                    cand.renamed = False
                    if self.watch.settle_s > 0:
                        continue
            if not cand.renamed and now - cand.since < self.watch.settle_s:
                continue
            if sys.platform == "win32" and _locked(path):
                continue
            if self._take(path):
                del self._candidates[path]
                handled += 1
            else:
                cand.since, cand.renamed = now, False  # try again once it has settled anew
        return handled

    def _take(self, path: Path) -> bool:
        w = self.watch
        report_name = unique_name(w.rejected_folder, path.name)
        w.rejected_folder.mkdir(parents=True, exist_ok=True)
        try:
            outcome = ingest_file(self.outbox, path, client=self.client, source="watch", now=self.clock.now(),
                                  report_dir=w.rejected_folder, tracking_column=w.tracking_column,
                                  report_name=report_name, file_format=w.format, translate=self.translate)
        except TransientError as exc:
            log.info("file %s not taken yet: %s", path.name, exc)
            return False
        if outcome.status == "rejected":
            moved = move_unique(path, w.rejected_folder, report_name, with_reports=False)  # beside its report
        else:
            moved = move_unique(path, w.processed_folder)
        if outcome.file_id is not None:
            self.outbox.set_file_moved(outcome.file_id, str(moved))
        log.info("file %s -> %s (%s)", path.name, moved.parent.name, outcome.status)
        self.on_file(outcome)
        if outcome.accepted:
            self.on_new_work()
        return True


def _locked(path: Path) -> bool:
    """Windows: a file another program still has open for writing cannot be renamed onto itself."""
    try:
        path.rename(path)
    except OSError:
        return True
    return False
