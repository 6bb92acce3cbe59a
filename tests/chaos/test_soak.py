"""Soak: thousands of results arrive from two watched folders (with duplicate copies, overlapping
re-exports and a file met again under its own name) and from concurrent posts to the local
listener, while `relay run` is killed with SIGKILL again and again, and the intake fails, loses
replies, drops connections, goes into maintenance and is itself killed and restarted. In the end
the intake holds every result exactly once, every file is in processed/, and every post the
listener acknowledged is delivered."""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from relay.samples import simple_report_rows, write_simple_report
from tests.chaos.support import RelayRun, free_port, holds_open, listener_up, wait_until
from tests.helpers.stub_server import http_client, stub_server

TOKEN = "chaos-intake-token-0123456789"
ROUNDS = 10  # each ends with a SIGKILL of `relay run`
SEED = int(os.environ.get("RELAY_CHAOS_SEED", "20261124"))  # another seed: another run of the same soak
POSTERS = 6
MAINTENANCE_ROUND = 3
STUB_RESTART_ROUNDS = (5, 8)


def rows_of(seed: int, count: int, start: int = 0) -> list[dict[str, str]]:
    return list(simple_report_rows(count, seed, start))


class Plan:
    """What arrives, in waves, and which Result_IDs the intake must hold at the end."""

    def __init__(self, staging: Path, folders: dict[str, Path], rng: random.Random) -> None:
        staging.mkdir()
        self.expected: set[str] = set()
        files: list[tuple[Path, Path]] = []  # (staged file, watched folder)

        def stage(folder: str, name: str, seed: int, count: int, start: int = 0, encoding: str = "utf-8") -> Path:
            path = write_simple_report(staging / name, count, seed=seed, start=start, encoding=encoding)
            files.append((path, folders[folder]))
            self.expected.update(r["Result_ID"] for r in rows_of(seed, count, start))
            return path

        for seed in range(100, 110):
            original = stage("lab-a", f"lab-a-{seed}.csv", seed, 150)
            if seed < 105:  # an overlapping re-export: half old rows, half new
                stage("lab-a", f"lab-a-{seed}-reexport.csv", seed, 150, start=75)
            elif seed < 108:  # the same export saved twice under another name: every row a duplicate
                copy = staging / f"lab-a-{seed} copy.csv"
                shutil.copyfile(original, copy)
                files.append((copy, folders["lab-a"]))
        for seed in range(200, 206):  # an older system exporting Windows-1252
            stage("lab-b", f"lab-b-{seed}.csv", seed, 100, encoding="cp1252")
        self.again = staging / "again" / "lab-a-100.csv"  # met again under its own name, at the end
        self.again.parent.mkdir()
        shutil.copyfile(staging / "lab-a-100.csv", self.again)
        self.file_count = len(files) + 1

        posts: list[list[dict[str, str]]] = []
        fresh = rows_of(9000, 1200)
        i = 0
        while i < len(fresh):
            size = rng.choice((1, 2, 3))
            posts.append(fresh[i:i + size])
            i += size
        self.expected.update(r["Result_ID"] for r in fresh)
        for k in range(40):  # results a local system also posts that a file already brought
            posts.append(rows_of(100 + k % 10, 1, start=k))
        rng.shuffle(files)
        rng.shuffle(posts)
        self.post_count = len(posts)
        self.file_waves = [files[r::ROUNDS] for r in range(ROUNDS)]
        self.post_waves = [posts[r::ROUNDS] for r in range(ROUNDS)]


class Posters:
    """Local systems posting results over HTTP: each keeps its data until relay answers 202/200."""

    def __init__(self, url: str, n: int) -> None:
        self.url = url
        self.up = threading.Event()  # relay's listener answers (set and cleared by the test)
        self.queue: queue.Queue[list[dict[str, str]] | None] = queue.Queue()
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.acknowledged: set[str] = set()  # Result_IDs of posts answered 202
        self.transport_errors = 0
        self.done = 0
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._run, name=f"poster-{n}", daemon=True) for n in range(n)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        pause = threading.Event()
        with http_client(self.url, timeout=10) as http:
            while True:
                post = self.queue.get()
                if post is None:
                    return
                body = json.dumps(post).encode()
                while True:
                    if not self.up.wait(timeout=180):
                        with self.lock:
                            self.failures.append("relay's listener never came back")
                        return
                    try:
                        r = http.post("/v1/results", content=body, headers={"content-type": "application/json"})
                    except httpx.TransportError:  # relay was killed mid-request or is not up yet
                        with self.lock:
                            self.transport_errors += 1
                        pause.wait(0.02)
                        continue
                    with self.lock:
                        self.statuses[r.status_code] += 1
                    if r.status_code in (200, 202):
                        break
                    if r.status_code != 503:
                        with self.lock:
                            self.failures.append(f"{r.status_code}: {r.text[:200]}")
                        break
                    pause.wait(0.05)
                with self.lock:
                    if r.status_code == 202:
                        self.acknowledged.update(row["Result_ID"] for row in post)
                    self.done += 1

    def finish(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join(timeout=180)
        assert not any(t.is_alive() for t in self.threads), "a poster never finished"


def config_text(stub_url: str, port: int) -> str:
    return (
        f'[intake]\nurl = "{stub_url}"\nbatch_max_items = 25\ntimeout_s = 5\n'
        '[store]\npath = "outbox.db"\n'
        '[[watch]]\nfolder = "lab-a"\nsettle_s = 0.1\n'
        '[[watch]]\nfolder = "lab-b"\nsettle_s = 0.1\n'
        f'[listener]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
        "[delivery]\nretry_initial_s = 0.05\nretry_max_s = 0.5\n"
    )


def outbox_query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def unreachable(db: Path) -> int:
    """Attempts relay recorded as 'could not reach the intake'."""
    return int(outbox_query(db, "SELECT count(*) FROM batch_events WHERE kind = 'retry' "
                                "AND detail LIKE 'could not reach%'")[0][0])


def next_piece(writer: tuple[subprocess.Popen[str], int]) -> tuple[subprocess.Popen[str], int] | None:
    """Let a slow exporter write its next piece; the writer with the pieces it has left, or None."""
    proc, left = writer
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().startswith("wrote")
    return (proc, left - 1) if left > 1 else None


@pytest.mark.slow
def test_soak_sigkills_faults_maintenance_and_stub_restarts(tmp_path, figures):
    rng = random.Random(SEED)
    folders = {name: tmp_path / name for name in ("lab-a", "lab-b")}
    for folder in folders.values():
        folder.mkdir()
    plan = Plan(tmp_path / "staging", folders, rng)
    port = free_port()
    home, cfg, stderr = tmp_path / "home", tmp_path / "relay.toml", tmp_path / "relay-run.stderr"
    db = tmp_path / "outbox.db"
    kills = stub_restarts = mid_work = 0
    triggers: Counter[str] = Counter()

    def processed() -> int:
        return sum(1 for f in folders.values() if (f / "processed").is_dir() for _ in (f / "processed").iterdir())

    with stub_server(subprocess=True, token=TOKEN, fail_rate=0.2, drop_rate=0.05, latency_ms=5,
                     seed=SEED % 1000) as stub, \
            http_client(f"http://127.0.0.1:{port}") as local:
        cfg.write_text(config_text(stub.url, port), encoding="utf-8")
        posters = Posters(f"http://127.0.0.1:{port}", POSTERS)
        try:
            for round_no in range(ROUNDS):
                relay = RelayRun(cfg, home, stderr, token=TOKEN)
                wait_until(lambda: listener_up(local) or not relay.alive(), 60, "relay run answering")
                assert relay.alive(), stderr.read_text(errors="replace")[-3000:]
                posters.up.set()
                for staged, folder in plan.file_waves[round_no]:
                    staged.rename(folder / staged.name)  # renamed into place, as a careful exporter does
                for post in plan.post_waves[round_no]:
                    posters.queue.put(post)
                # where this round started: the kill comes a random way into its work
                base_requests, base_posts, base_files = stub.stats()["requests"], posters.done, processed()
                if round_no == MAINTENANCE_ROUND:
                    stub.set_maintenance(2)
                if round_no in STUB_RESTART_ROUNDS:
                    before = unreachable(db)
                    stub.kill()
                    # relay runs on while the intake is gone: wait until it has met that a few times
                    wait_until(lambda: unreachable(db) >= before + 2, 60, "relay trying a dead intake")
                    stub.restart()
                    stub_restarts += 1
                trigger = rng.choice(("at once", "requests", "posts", "files"))
                triggers[trigger] += 1
                if trigger == "requests":
                    target = base_requests + rng.randint(1, 8)
                    wait_until(lambda: stub.stats()["requests"] >= target or not relay.alive(), 60, "requests")
                elif trigger == "posts":
                    target = base_posts + rng.randint(1, max(1, len(plan.post_waves[round_no]) // 2))
                    wait_until(lambda: posters.done >= target or not relay.alive(), 60, "posts")
                elif trigger == "files":
                    target = base_files + rng.randint(1, max(1, len(plan.file_waves[round_no])))
                    wait_until(lambda: processed() >= target or not relay.alive(), 60, "files")
                assert relay.alive(), stderr.read_text(errors="replace")[-3000:]
                posters.up.clear()
                relay.kill()
                kills += 1
                in_flight = outbox_query(db, "SELECT count(*) FROM items WHERE state IN ('pending', 'sending')")[0][0]
                waiting = sum(1 for f in folders.values() for p in f.iterdir() if p.is_file())
                mid_work += bool(in_flight or waiting or posters.queue.qsize())
                for folder in folders.values():  # after every crash: each file is whole in one place
                    leftover = [p for p in folder.iterdir() if p.is_file()]
                    assert all(p.suffix == ".csv" for p in leftover), leftover

            # The last run: no more kills; it must finish everything by itself.
            relay = RelayRun(cfg, home, stderr, token=TOKEN)
            wait_until(lambda: listener_up(local), 60, "relay run answering")
            posters.up.set()
            wait_until(lambda: processed() == plan.file_count - 1, 120, "every file processed")
            plan.again.rename(folders["lab-a"] / plan.again.name)
            posters.finish()
            try:  # the same wait as for every other file (the posters' last commits run meanwhile)
                wait_until(lambda: processed() == plan.file_count, 120, "the file met again processed")
            except AssertionError as exc:  # say what relay and the folder show, for whoever reads the failure
                log = stderr.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
                left = sorted(p.name for f in folders.values() for p in f.iterdir() if p.is_file())
                raise AssertionError(f"{exc}; left in the folders: {left}; relay's last log lines:\n"
                                     + "\n".join(log)) from None
            wait_until(lambda: stub.stats()["unique_items"] >= len(plan.expected) and outbox_query(
                db, "SELECT count(*) FROM items WHERE state IN ('pending', 'sending')")[0][0] == 0,
                120, "everything delivered")
            code = relay.terminate()
        finally:
            posters.up.set()  # let any poster still waiting see the end
            if "relay" in locals() and relay.alive():
                relay.kill()
        stats = stub.stats()
        held = Counter(item["tracking_id"] for item in stub.all_items())

    states = dict(outbox_query(db, "SELECT state, count(*) FROM items GROUP BY state"))
    dup_rows = outbox_query(db, "SELECT count(*) FROM duplicates")[0][0]
    faults = sum(stats["faults"].values())
    unavailable = stats["by_status"].get("503", 0)
    missing = plan.expected - set(held)
    twice = sorted(t for t, n in held.items() if n > 1)
    log = stderr.read_text(errors="replace")
    figures(f"items {len(plan.expected):,} unique results ({sum(len(w) for w in plan.file_waves) + 1} files, "
            f"{plan.post_count:,} listener posts: {dict(posters.statuses)}, {posters.transport_errors} cut off "
            f"by kills and resent); duplicates suppressed by relay {dup_rows:,}")
    figures(f"kills {kills}, {mid_work} with work in flight (triggers {dict(triggers)}), stub restarts {stub_restarts}, intake requests "
            f"{stats['requests']:,}, fault answers seen {faults} {stats['faults']} + {unavailable} maintenance 503s, "
            f"replays {stats['replays']}")
    figures(f"missing {len(missing)}, duplicates at the intake {stats['duplicates_received']} "
            f"(unique {stats['unique_items']:,}, accepted {stats['accepted_items']:,})")

    assert code == 0, "relay run did not stop cleanly on SIGTERM"
    assert kills >= 8 and stub_restarts >= 1
    assert mid_work >= kills // 2, "most kills came when there was nothing to do; the soak proved little"
    assert not posters.failures, posters.failures[:5]
    assert faults > 0 and unavailable > 0, "no faults were injected; the soak proved nothing"
    assert not missing, f"{len(missing)} results never reached the intake"
    assert not twice and stats["duplicates_received"] == 0, f"delivered twice: {twice[:5]}"
    assert stats["unique_items"] == len(plan.expected) == stats["accepted_items"]
    assert posters.acknowledged <= set(held), "a post answered 202 was not delivered"
    assert states == {"sent": len(plan.expected)}, states
    for folder in folders.values():
        assert not [p for p in folder.iterdir() if p.is_file()], "a file was left in the inbox"
        assert not (folder / "rejected").exists() or not any((folder / "rejected").iterdir())
    assert "Traceback" not in log, log[log.index("Traceback") - 500:][:4000]


# -- the edges of a real folder: files replaced, truncated and slow-written under SIGKILLs ----------

EDGE_ROUNDS = 5

SLOW_WRITER = r"""
import sys
path, data = sys.argv[1], open(sys.argv[2], "rb").read()
cuts = sorted(int(c) for c in sys.argv[3].split(","))
with open(path, "wb") as fh:              # held open from the first byte to the last
    start = 0
    for cut in cuts + [len(data)]:
        fh.write(data[start:cut])
        fh.flush()
        start = cut
        print("wrote", cut, flush=True)
        if cut != len(data):
            sys.stdin.readline()          # the exporter pauses, often mid-row, until told to go on
"""


def csv_text(rows: list[dict[str, str]]) -> bytes:
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@pytest.mark.slow
def test_soak_files_replaced_truncated_and_slow_written_under_sigkills(tmp_path, figures):
    """Every round, while `relay run` works and is then SIGKILLed: a large file is replaced by
    another under its name (`mv b.csv big.csv` while big.csv is read), a file is truncated and
    rewritten in place, and an exporter writes a file in pieces cut mid-row, holding it open across
    the kill. In the end the intake holds every row of every file that stayed, whole, exactly once."""
    rng = random.Random(SEED + 1)
    folder, staging = tmp_path / "edge", tmp_path / "staging"
    folder.mkdir()
    staging.mkdir()
    home, cfg, stderr = tmp_path / "home", tmp_path / "relay.toml", tmp_path / "relay-run.stderr"
    db = tmp_path / "outbox.db"
    required: dict[str, dict[str, str]] = {}  # Result_ID -> the whole row, for rows that must arrive
    allowed: dict[str, dict[str, str]] = {}  # rows that may arrive (files replaced before or after a read)
    kills = 0
    replaces: Counter[str] = Counter()
    writers: list[subprocess.Popen[str]] = []
    port = free_port()

    def rows(seed: int, count: int) -> list[dict[str, str]]:
        return rows_of(seed, count)

    with stub_server(subprocess=True, token=TOKEN, fail_rate=0.1, seed=SEED % 997) as stub:
        cfg.write_text(
            f'[intake]\nurl = "{stub.url}"\nbatch_max_items = 200\ntimeout_s = 5\n[store]\npath = "outbox.db"\n'
            '[[watch]]\nfolder = "edge"\nsettle_s = 0.1\n'
            f'[listener]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
            "[delivery]\nretry_initial_s = 0.05\nretry_max_s = 0.5\n", encoding="utf-8")
        try:
            pending_writer: tuple[subprocess.Popen[str], int] | None = None
            for round_no in range(EDGE_ROUNDS):
                relay = RelayRun(cfg, home, stderr, token=TOKEN)
                with http_client(f"http://127.0.0.1:{port}") as local:
                    wait_until(lambda: listener_up(local) or not relay.alive(), 60, "relay run answering")
                assert relay.alive(), stderr.read_text(errors="replace")[-3000:]
                base = 1000 * (round_no + 1)
                # a large file replaced by another under its name, at a random moment of its reading
                first, second = rows(base + 1, rng.choice((500, 3000))), rows(base + 2, 20)
                big, small = staging / f"a{round_no}.csv", staging / f"b{round_no}.csv"
                big.write_bytes(csv_text(first))
                small.write_bytes(csv_text(second))
                tracked = staging / f"a{round_no}.tracked"  # a second name for big's inode, to see it read
                os.link(big, tracked)
                big.rename(folder / f"big{round_no}.csv")
                when = rng.choice(("before", "while", "after")) if os.path.isdir("/proc/self/fd") else "before"
                replaces[when] += 1
                if when == "while":
                    wait_until(lambda: holds_open(relay.proc.pid, tracked) or tracked.stat().st_nlink == 1
                               or not relay.alive(), 60, "relay reading the large file", step=0.001)
                elif when == "after":
                    wait_until(lambda: (folder / "processed" / f"big{round_no}.csv").exists() or not relay.alive(),
                               60, "the large file taken")
                small.rename(folder / f"big{round_no}.csv")
                allowed.update((r["Result_ID"], r) for r in first)
                required.update((r["Result_ID"], r) for r in second)
                # a file written in place, then truncated and rewritten by its exporter
                gone, final = rows(base + 3, 40), rows(base + 4, 30)
                target = folder / f"rewritten{round_no}.csv"
                target.write_bytes(csv_text(gone))
                with target.open("r+b") as fh:
                    data = csv_text(final)
                    fh.truncate(0)
                    fh.write(data[: rng.randint(len(data) // 3, len(data) - 5)])  # cut, mid-row
                    fh.flush()
                    fh.write(data[fh.tell():])
                allowed.update((r["Result_ID"], r) for r in gone)
                required.update((r["Result_ID"], r) for r in final)
                # an exporter writing slowly, in pieces cut mid-row, holding the file across the kill
                if pending_writer is None:
                    slow = rows(base + 5, 200)
                    data = csv_text(slow)
                    source = staging / f"slow{round_no}.bin"
                    source.write_bytes(data)
                    cuts = sorted(rng.sample(range(100, len(data) - 1), 3))
                    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(folder / f"slow{round_no}.csv"),
                                             str(source), ",".join(map(str, cuts))], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True)
                    writers.append(proc)
                    assert proc.stdout.readline().startswith("wrote")
                    pending_writer = (proc, 3)
                    required.update((r["Result_ID"], r) for r in slow)
                else:
                    proc = pending_writer[0]
                    pending_writer = next_piece(pending_writer)
                    if pending_writer is None:
                        proc.stdin.close()
                        assert proc.wait(30) == 0
                # the kill comes a random way into the work
                target_requests = stub.stats()["requests"] + rng.randint(0, 4)

                def idle() -> bool:  # nothing left to do this round (the slow file is still being written)
                    left = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith("slow")]
                    return not left and outbox_query(
                        db, "SELECT count(*) FROM items WHERE state IN ('pending', 'sending')")[0][0] == 0

                wait_until(lambda: stub.stats()["requests"] >= target_requests or idle() or not relay.alive(), 60,
                           "requests")
                assert relay.alive(), stderr.read_text(errors="replace")[-3000:]
                relay.kill()
                kills += 1
            while pending_writer is not None:  # the last exporter finishes while relay is down
                pending_writer = next_piece(pending_writer)
            for proc in writers:
                if proc.stdin and not proc.stdin.closed:
                    proc.stdin.close()
                assert proc.wait(30) == 0
            relay = RelayRun(cfg, home, stderr, token=TOKEN)
            wait_until(lambda: not [p for p in folder.iterdir() if p.is_file()], 120, "every file taken")
            wait_until(lambda: set(required) <= {i["tracking_id"] for i in stub.all_items()} and outbox_query(
                db, "SELECT count(*) FROM items WHERE state IN ('pending', 'sending')")[0][0] == 0,
                120, "everything delivered")
            code = relay.terminate()
        finally:
            if "relay" in locals() and relay.alive():
                relay.kill()
            for proc in writers:
                if proc.poll() is None:
                    proc.kill()
                for pipe in (proc.stdin, proc.stdout):
                    if pipe and not pipe.closed:
                        pipe.close()
                proc.wait()
        stats = stub.stats()
        items = stub.all_items()

    held = Counter(i["tracking_id"] for i in items)
    missing = set(required) - set(held)
    twice = sorted(t for t, n in held.items() if n > 1)
    cut = [i["tracking_id"] for i in items if i["row"] != {**required, **allowed}.get(i["tracking_id"])]
    figures(f"edges: {kills} kills, replacements {dict(replaces)}, {len(required):,} rows that must arrive, {len(set(held) & set(allowed)):,} "
            f"of {len(allowed):,} rows of replaced files arrived too; missing {len(missing)}, "
            f"duplicates at the intake {stats['duplicates_received']}, cut or unknown rows {len(cut)}")
    assert code == 0
    assert not missing, f"{len(missing)} rows never reached the intake"
    assert not twice and stats["duplicates_received"] == 0, f"delivered twice: {twice[:5]}"
    assert not cut, f"rows delivered cut or from nowhere: {cut[:5]}"
    assert not list(folder.rglob("*.rejected-rows.csv")), "a half-written row was read"
    assert not (folder / "rejected").exists() or not any((folder / "rejected").iterdir())
    assert "Traceback" not in stderr.read_text(errors="replace")
