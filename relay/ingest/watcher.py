"""Watched folders: lab staff drop CSV exports in; relay takes each file once it is complete.

The watchdog handler only notices (it queues paths). One consumer decides readiness: a file is
taken once its size and modification time have stayed the same for ``settle_s`` (or at once when it
was renamed into the folder, from inside it or from another folder: a rename is atomic), no program holds it open for writing (``writers``), and, when its
last row has no line end, once it has stood still for ``max(30 s, 10 x settle_s)``. A start-up scan
and a periodic rescan make OS events a hint, not the truth. Items are committed first; only then is
the file moved (to processed/, or to rejected/ with its reason), and only if its name still names
the file that was read. A crash between the two is healed by the file ledger: the same file met
again adds nothing and is just moved.

Only regular files are opened (``entries``): links, FIFOs, sockets, devices and folders whose names
match are moved to rejected/ unopened, or shown once as a problem. A file that cannot be taken never
holds up the others: it is reported and tried again later while the rest go on. Names that match no
pattern are listed once as ignored.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import queue
import stat
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
from relay.ingest import parse_helper
from relay.ingest.entries import display_name, ends_with_line_end, kind_of
from relay.ingest.files import FileOutcome, ingest_file
from relay.ingest.folders import move_entry, move_unique, unique_name
from relay.ingest import writers
from relay.store.roles import ItemSink

log = logging.getLogger("relay.ingest")

RESCAN_S = 30.0
TICK_S = 0.25
NO_LINE_END_MIN_S = 30.0  # a file whose last row has no line end waits max(this, 10 x settle_s)
RETRY_FAILED_S = 30.0  # a file that could not be taken (an error) is tried again after this
IGNORED_PREFIXES = ("~$", ".")
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".error.txt", ".rejected-rows.csv")


def ignored(name: str) -> bool:
    """Names never taken and never listed: work in progress of other programs, and relay's reports."""
    lower = name.lower()
    return lower.startswith(IGNORED_PREFIXES) or lower.endswith(IGNORED_SUFFIXES)


def matches(name: str, patterns: tuple[str, ...]) -> bool:
    """Case-insensitive: ``*.csv`` takes ``RESULTS.CSV``."""
    folded = name.casefold()
    return any(fnmatch.fnmatchcase(folded, p.casefold()) for p in patterns)


@dataclass
class _Candidate:
    size: int | None = None
    mtime_ns: int | None = None
    since: float = 0.0
    renamed: bool = False
    retry_at: float = 0.0  # after a failure: not before then


def _os_observer() -> BaseObserver:
    """The OS's own events. On Linux, a file moved in from another folder comes as a move (not as
    "created"): a rename is atomic, so such a file is whole and is taken at once, like one renamed
    inside the folder; a copy from another disk still comes as created and written, and settles."""
    if sys.platform.startswith("linux"):
        from watchdog.observers.inotify import InotifyObserver

        return InotifyObserver(generate_full_events=True)
    return Observer()


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
        outbox: ItemSink,
        *,
        client: str,
        clock: Clock,
        on_new_work: Callable[[], None] = lambda: None,
        on_problem: Callable[[str, str | None], None] = lambda key, text: None,
        on_file: Callable[[FileOutcome], None] = lambda outcome: None,
        translate: TranslateConfig | None = None,
        on_ignored: Callable[[list[str]], None] = lambda names: None,
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
        self.on_ignored = on_ignored
        self.patterns = watch.patterns or (watch.pattern,)
        self._own_folders = {watch.processed_folder, watch.rejected_folder}
        self.problem_key = f"watch:{watch.folder}"
        self._ignored: set[str] = set()
        self._file_problems: set[str] = set()
        self._stuck: dict[str, tuple[int, int]] = {}  # not regular files that could not be moved
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
        parse_helper.shared().start()  # ready before the first large file (relay.ingest.parse_helper)
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
        kinds: list[Callable[[], BaseObserver]] = [PollingObserver] if self.watch.poll else [_os_observer, PollingObserver]
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
        self._note_ignored({display_name(e.name) for e in entries if self._is_ignored(e)})
        self._clear_file_problems({e.name for e in entries})

    def _is_ignored(self, entry: Path) -> bool:
        if ignored(entry.name) or matches(entry.name, self.patterns) or entry in self._own_folders:
            return False
        try:
            return stat.S_ISREG(os.lstat(entry).st_mode)
        except OSError:
            return False

    def _note_ignored(self, names: set[str]) -> None:
        if names != self._ignored:
            for name in sorted(names - self._ignored):
                log.info("watched folder %s: %s matches no pattern (%s); left where it is",
                         self.folder, name, ", ".join(self.patterns))
            self._ignored = names
            self.on_ignored(sorted(names))

    def _clear_file_problems(self, present: set[str]) -> None:
        for name in [n for n in self._stuck if n not in present]:
            del self._stuck[name]
        for name in list(self._file_problems):
            if name not in present:
                self._file_problems.discard(name)
                self.on_problem(self._file_key(name), None)

    def _file_key(self, name: str) -> str:
        return f"file:{self.folder}/{display_name(name)}"

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
        if path.parent != self.folder or ignored(path.name) or path in self._own_folders:
            return
        if not matches(path.name, self.patterns):
            if path.name not in self._ignored and self._is_ignored(path):
                self._note_ignored(self._ignored | {display_name(path.name)})
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
        ready: list[Path] = []
        handled = 0
        for path, cand in sorted(self._candidates.items(), key=lambda kv: kv[1].since):
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                del self._candidates[path]
                continue
            except OSError:
                continue
            if now < cand.retry_at:
                continue
            if kind_of(st) is not None:  # a link, FIFO, device, folder: never opened, set aside now
                del self._candidates[path]
                if self._stuck.get(path.name) != (st.st_dev, st.st_ino):
                    handled += self._set_aside(path, st)
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
            if now - cand.since < self.hold_s and not ends_with_line_end(path):
                continue  # the last row may still be being written
            ready.append(path)
        held = writers.writers_of(ready) if ready else set()
        for path in held.intersection(ready):
            log.debug("file %s is still open for writing in another program", display_name(path.name))
        ready = [path for path in ready if path not in held]
        for at, path in enumerate(ready):
            if self._stop.is_set():
                break
            cand = self._candidates[path]
            if self._take_one(path, now, ready[at + 1] if at + 1 < len(ready) else None):
                del self._candidates[path]
                handled += 1
            else:
                cand.since, cand.renamed = now, False  # try again once it has settled anew
        return handled

    @property
    def hold_s(self) -> float:
        return max(NO_LINE_END_MIN_S, 10 * self.watch.settle_s)

    def _take_one(self, path: Path, now: float, after: Path | None = None) -> bool:
        """One file (``after``: the one to be taken next, if any); an error with it is reported and
        the file tried again later, never stopping the others (only an outbox that cannot take
        anything stops the pass)."""
        try:
            taken = self._take(path, after)
        except EnvironmentProblem:
            raise
        except Exception as exc:  # noqa: BLE001 - reported, and the folder's other files go on
            if isinstance(exc, OSError):
                log.warning("file %s could not be taken: %s", display_name(path.name), exc.strerror or exc)
            else:
                log.exception("file %s could not be taken", display_name(path.name))
            self._file_problem(path.name, f"The file {display_name(path.name)} in {self.folder} could not be "
                                          f"taken ({_plain(exc)}); relay tries it again later.")
            self._candidates[path].retry_at = now + RETRY_FAILED_S
            return False
        if taken and path.name in self._file_problems:
            self._file_problems.discard(path.name)
            self.on_problem(self._file_key(path.name), None)
        return taken

    def _file_problem(self, name: str, text: str) -> None:
        self._file_problems.add(name)
        self.on_problem(self._file_key(name), text)

    def _set_aside(self, path: Path, st: os.stat_result) -> bool:
        """Something that is not a regular file: to rejected/ unopened, with what it is beside it;
        where it cannot be moved, shown once as a problem."""
        w = self.watch
        try:
            moved = move_entry(path, w.rejected_folder, unique_name(w.rejected_folder, path.name))
        except OSError as exc:
            self._stuck[path.name] = (st.st_dev, st.st_ino)
            what = kind_of(st)
            log.warning("%s in %s is %s and cannot be moved (%s)", display_name(path.name), self.folder, what,
                        exc.strerror or exc)
            self._file_problem(path.name, f"{display_name(path.name)} in {self.folder} is {what}, not a regular "
                                          f"file, and cannot be moved to {w.rejected_folder}; relay never opens "
                                          "it. Remove it from the folder.")
            return False
        outcome = ingest_file(self.outbox, moved, client=self.client, source="watch", now=self.clock.now(),
                              report_dir=w.rejected_folder, name=path.name, report_name=moved.name)
        if outcome.file_id is not None:
            self.outbox.set_file_moved(outcome.file_id, display_name(str(moved)))
        log.info("%s in %s is not a regular file: set aside in %s", display_name(path.name), self.folder,
                 w.rejected_folder)
        self.on_file(outcome)
        return True

    def _take(self, path: Path, after: Path | None = None) -> bool:
        w = self.watch
        report_name = unique_name(w.rejected_folder, path.name)
        w.rejected_folder.mkdir(parents=True, exist_ok=True)
        try:
            outcome = ingest_file(self.outbox, path, client=self.client, source="watch", now=self.clock.now(),
                                  report_dir=w.rejected_folder, tracking_column=w.tracking_column,
                                  report_name=report_name, file_format=w.format, translate=self.translate,
                                  read_ahead=None if self.translate and self.translate.enabled else after)
        except (TransientError, FileNotFoundError) as exc:
            log.info("file %s not taken yet: %s", display_name(path.name), exc)
            return False
        try:
            if outcome.status == "rejected":  # beside its report
                moved = move_unique(path, w.rejected_folder, report_name, with_reports=False,
                                    expected=outcome.identity)
            else:
                moved = move_unique(path, w.processed_folder, expected=outcome.identity)
        except (TransientError, FileNotFoundError) as exc:
            # What was read is in the outbox; the file there now is another, taken on its own turn.
            log.info("file %s was replaced after it was read: %s", display_name(path.name), exc)
            return False
        if outcome.file_id is not None:
            self.outbox.set_file_moved(outcome.file_id, display_name(str(moved)))
        log.info("file %s -> %s (%s)", display_name(path.name), moved.parent.name, outcome.status)
        self.on_file(outcome)
        if outcome.accepted:
            self.on_new_work()
        return True


def _plain(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return str(exc.strerror or exc)
    return "an unexpected error; see relay's log"
