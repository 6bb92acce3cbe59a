"""The command line: a thin layer over the outbox and the agent (INTERFACE §1)."""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from relay import __version__
from relay.cli_text import config_note, no_outbox, quiet_broken_pipe, shown
from relay.clock import SystemClock, iso
from relay.config import Config, load
from relay.errors import ConfigError, RelayError
from relay.paths import config_file
from relay.store.models import STATES

log = logging.getLogger("relay")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="relay", description="Store-and-forward delivery of lab results to a central intake.")
    p.add_argument("--version", action="version", version=f"relay {__version__}")
    p.add_argument("--config", metavar="FILE", help="configuration file (default: relay.toml in the user config folder)")
    p.add_argument("-v", "--verbose", action="store_true", help="log more detail to standard error")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sub.add_parser("run", help="run the agent headless until SIGINT/SIGTERM")
    g = sub.add_parser("gui", help="the tray app and queue window")
    g.add_argument("--screenshot", metavar="FILE.png", help="render the main window to a PNG and exit")
    g.add_argument("--view", choices=["pending", "failed", "dead", "discarded", "sent", "duplicates", "files"],
                   help="the view to open first")
    g.add_argument("--hidden", action="store_true", help="start in the tray only (used when starting at login)")

    s = sub.add_parser("status", help="counts per state, pause and maintenance, last delivery")
    s.add_argument("--json", action="store_true")

    li = sub.add_parser("list", help="items, newest first")
    li.add_argument("--state", choices=list(STATES))
    li.add_argument("--limit", type=int, default=50)
    li.add_argument("--search", metavar="TEXT", help="tracking id or file name")
    li.add_argument("--json", action="store_true")

    r = sub.add_parser("retry", help="put failed, dead or discarded items back to pending")
    grp = r.add_mutually_exclusive_group(required=True)
    grp.add_argument("ids", nargs="*", type=int, default=[], metavar="ID")
    grp.add_argument("--failed", action="store_true", help="every failed item")
    grp.add_argument("--dead", action="store_true", help="every dead item")
    grp.add_argument("--discarded", action="store_true", help="every discarded item")

    d = sub.add_parser("discard", help="set failed or dead items aside: not to be sent (a retry undoes it)")
    d.add_argument("ids", nargs="+", type=int, metavar="ID")
    d.add_argument("--reason", metavar="TEXT", help="why, kept in the audit log")

    rs = sub.add_parser("resend", help="send already-sent items again, on purpose")
    rs.add_argument("--force", action="store_true", help="required: confirms the intake will receive them again")
    rs.add_argument("ids", nargs="+", type=int, metavar="ID")

    ing = sub.add_parser("ingest", help="read files into the outbox once (the files stay where they are)")
    ing.add_argument("files", nargs="+", metavar="FILE")

    t = sub.add_parser("token", help="the intake credential in the OS keyring")
    t.add_argument("action", choices=["set", "clear", "keygen"],
                   help="keygen: a new oauth-jwt key pair (the private key stays in the keyring)")
    t.add_argument("--key", metavar="FILE", help="set: import this oauth-jwt private key (PEM) instead of a token")

    d = sub.add_parser("demo", help="a receiving stub and an agent with a watched folder, on this machine")
    d.add_argument("--folder", metavar="DIR", help="where the demo lives (default: ./relay-demo)")
    d.add_argument("--no-gui", action="store_true", help="show progress in the terminal even with a display")
    d.add_argument("--exit-when-done", action="store_true", help="stop once the sample files are delivered")
    a = sub.add_parser("autostart", help="start relay at login for this user")
    a.add_argument("action", choices=["enable", "disable", "status"])
    return p


def _config(args: argparse.Namespace) -> Config:
    path = config_file(args.config)
    exists = path.exists()
    config = load(path, must_exist=bool(args.config) or exists)
    if not exists and args.command not in ("run", "gui", "demo"):  # those log where they are
        print(config_note(path, exists, config.store.path), file=sys.stderr)
    return config


def _no_outbox_yet(args: argparse.Namespace, config: Config) -> bool:
    """Read-only commands never create an outbox: they say there is none yet."""
    if config.store.path.exists():
        return False
    path = config_file(args.config)
    print(no_outbox(config.store.path, path, path.exists()), file=sys.stderr if args.json else sys.stdout)
    return True


def _outbox(config: Config, *, check: bool | str = False) -> Any:
    from relay.store.outbox import Outbox

    return Outbox(config.store.path, dedupe_window_days=config.delivery.dedupe_window_days, check=check)


def cmd_status(args: argparse.Namespace) -> int:
    from relay.status import read_status

    config = _config(args)
    now = SystemClock().now()
    if _no_outbox_yet(args, config):
        if args.json:  # the same keys, all empty, from an empty outbox made aside and removed
            import tempfile

            with tempfile.TemporaryDirectory() as aside:
                empty = config.store.path
                with _outbox(replace(config, store=replace(config.store, path=Path(aside) / "empty.db"))) as outbox:
                    snap = read_status(outbox, config.maintenance, now).assessed(
                        Path(aside) / "empty.db", config.health, now).to_json()
            print(json.dumps({**snap, "outbox_exists": False, "outbox": str(empty)}, indent=2))
        return 0
    with _outbox(config) as outbox:
        status = read_status(outbox, config.maintenance, now).assessed(config.store.path, config.health, now)
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
        return 0
    print(f"relay {__version__} — outbox {shown(config.store.path)}")
    for state in STATES:
        if state == "discarded" and not status.count(state):
            continue  # only shown once a person has discarded something
        extra = ""
        if state == "pending" and status.oldest_pending_at is not None:
            extra = f"  (oldest since {iso(status.oldest_pending_at)})"
        if state in ("failed", "dead") and status.count(state):
            extra = f"  <- need a person: relay list --state {state}"
        print(f"  {state:<9} {status.count(state):>9,}{extra}")
    print(f"  duplicates skipped {status.duplicates:,}; files processed {status.files_processed:,}, "
          f"rejected {status.files_rejected:,}")
    if status.paused:
        print(f"  sending is PAUSED: {shown(status.paused_reason)}")
    elif status.maintenance_until is not None:
        print(f"  waiting: intake maintenance until {iso(status.maintenance_until)}")
    print(f"  last delivery: {iso(status.last_success_at) or 'never'}")
    for problem in status.problems:
        print(f"  problem: {shown(problem)}")
    print("  health: " + ("ok" if status.healthy else "UNHEALTHY"))
    for reason in status.unhealthy_reasons or ():
        print(f"    - {shown(reason)}")
    return 0


def _item_json(item: Any) -> dict[str, Any]:
    return {
        "id": item.id, "state": item.state, "source": item.source, "source_name": item.source_name,
        "line": item.line, "tracking_id": item.tracking_id, "attempts": item.attempts,
        "next_attempt_at": iso(item.next_attempt_at) if item.state == "pending" else None,
        "last_status": item.last_status, "last_error": item.last_error, "receipt": item.receipt,
        "received_at": iso(item.created_at), "sent_at": iso(item.sent_at), "content_hash": item.content_hash,
    }


def cmd_list(args: argparse.Namespace) -> int:
    config = _config(args)
    if _no_outbox_yet(args, config):
        if args.json:
            print("[]")
        return 0
    limit = max(1, args.limit)
    with _outbox(config) as outbox:
        items = outbox.list_items(state=args.state, limit=limit + 1, search=args.search)
        more = len(items) > limit
        total = outbox.count_items(state=args.state, search=args.search) if more else len(items)
    rows = [_item_json(i) for i in items[:limit]]
    note = (f"{len(rows):,} of {total:,} items shown, newest first; more with --limit N "
            "(or narrow with --state, --search)") if more else ""
    if args.json:
        print(json.dumps(rows, indent=2))
        if note:
            print(note, file=sys.stderr)
        return 0
    if not rows:
        print("no items" + (f" in state {args.state}" if args.state else ""))
        return 0
    print(f"{'id':>8}  {'state':<8} {'source':<28} {'tracking id':<38} {'att':>3}  {'next attempt':<25} "
          f"last error / receipt")
    for r in rows:
        src = shown(r["source_name"] or r["source"]) + (f":{r['line']}" if r["line"] else "")
        tail = shown(r["last_error"] or r["receipt"] or "")
        print(f"{r['id']:>8}  {r['state']:<8} {src[:28]:<28} {shown(r['tracking_id'] or '-')[:38]:<38} "
              f"{r['attempts']:>3}  {(r['next_attempt_at'] or '-'):<25} {tail[:80]}")
    if note:
        print(note)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    config = _config(args)
    state = "failed" if args.failed else "dead" if args.dead else "discarded" if args.discarded else None
    with _outbox(config) as outbox:
        done = outbox.retry(args.ids, state=state, now=SystemClock().now(), actor="cli")
    print(f"{len(done)} item(s) back to pending")
    return 0


def cmd_discard(args: argparse.Namespace) -> int:
    config = _config(args)
    with _outbox(config) as outbox:
        done = outbox.discard(args.ids, now=SystemClock().now(), actor="cli", reason=args.reason)
    extra = len(done) - len(set(args.ids))
    print(f"{len(done)} item(s) discarded: they will not be sent (relay retry ID... brings them back)"
          + (f"; {extra} of them travelled in the same batch as those named, whose outcome is unknown" if extra > 0 else ""))
    return 0


def cmd_resend(args: argparse.Namespace) -> int:
    if not args.force:
        print("relay: resend sends results the intake already has; add --force to confirm", file=sys.stderr)
        return 2
    config = _config(args)
    with _outbox(config) as outbox:
        done = outbox.resend(args.ids, now=SystemClock().now(), actor="cli")
    print(f"{len(done)} item(s) will be sent again")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from relay.ingest.files import ingest_file

    config = _config(args)
    from relay.delivery.fit import check_ingest  # HL7-only destinations take CSV only translated (§9)

    for name in args.files:
        check_ingest(config, Path(name).expanduser().resolve())
    rejected = missing = 0
    totals = [0, 0, 0]
    units: set[str] = set()  # what the rejected counts are: CSV rows, HL7 messages, or both
    with _outbox(config, check="auto") as outbox:
        for name in args.files:
            path = Path(name).expanduser().resolve()
            if not path.is_file():
                print(f"{shown(name)}: no such file", file=sys.stderr)
                missing += 1
                continue
            watch = config.watch_for(path)
            outcome = ingest_file(
                outbox, path, client=config.client_for(watch), source="ingest", now=SystemClock().now(),
                report_dir=path.parent, tracking_column=watch.tracking_column if watch else None,
                file_format=watch.format if watch else "auto", translate=config.translate,
            )
            print(shown(outcome.summary()))
            rejected += outcome.status == "rejected"
            if outcome.status == "accepted":
                totals[0] += outcome.accepted
                totals[1] += outcome.duplicates
                totals[2] += outcome.rows_rejected
                units.add(outcome.unit)
    if len(args.files) > 1:
        unit = " or ".join(f"{u}(s)" for u in sorted(units or {"row"}, reverse=True))
        print(f"total: {totals[0]} accepted, {totals[1]} duplicate, {totals[2]} rejected {unit}; "
              f"{rejected} file(s) rejected whole")
    return 1 if rejected or missing else 0


def cmd_token(args: argparse.Namespace) -> int:
    from relay import credentials

    if args.action == "keygen" or args.key:
        from relay.cli_keys import command

        return command(args.action, args.key, _oauth_kid(args))
    if args.action == "clear":
        removed = credentials.clear_token()
        print("credential removed" if removed else "no credential was stored")
        return 0
    if sys.stdin.isatty():
        import getpass

        token = getpass.getpass("intake credential (not shown): ")
    else:
        token = sys.stdin.readline()
    try:
        credentials.set_token(token)
    except ValueError as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 2
    print("credential stored in the OS keyring")
    return 0


def _oauth_kid(args: argparse.Namespace) -> str | None:
    """The kid the printed JWK carries: intake.oauth's key id, when a configuration names one."""
    try:
        oauth = _config(args).intake.oauth
    except ConfigError:
        return None
    return oauth.kid if oauth is not None else None


def cmd_run(args: argparse.Namespace) -> int:
    from relay.agent import run_foreground

    return run_foreground(_config(args))


def cmd_gui(args: argparse.Namespace) -> int:
    try:
        from relay.ui.app import main as gui_main
    except ImportError as exc:
        print(f"relay: the desktop app is not available in this installation ({exc})", file=sys.stderr)
        return 2
    return gui_main(_config(args), screenshot=args.screenshot, view=args.view, hidden=args.hidden)


def cmd_demo(args: argparse.Namespace) -> int:
    from relay.demo import run_demo

    return run_demo(args.folder, gui=False if args.no_gui else None, exit_when_done=args.exit_when_done)


def cmd_autostart(args: argparse.Namespace) -> int:
    from relay.autostart import command

    return command(args.action, args.config)


COMMANDS = {
    "status": cmd_status, "list": cmd_list, "retry": cmd_retry, "discard": cmd_discard, "resend": cmd_resend,
    "ingest": cmd_ingest,
    "token": cmd_token, "run": cmd_run, "gui": cmd_gui, "demo": cmd_demo, "autostart": cmd_autostart,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("run", "gui"):
        from relay.logs import setup

        setup(verbose=args.verbose, to_file=not getattr(args, "screenshot", None))
    else:
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 2
    except RelayError as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as exc:  # a damaged page met by a query the store does not translate
        print(f"relay: the outbox is damaged ({exc}); `relay run` keeps a damaged outbox aside and starts "
              "a new one", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `relay list | head`: the reader has what it wanted
        return quiet_broken_pipe()
