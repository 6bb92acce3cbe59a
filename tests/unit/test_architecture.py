"""The layout's rules, checked: Qt only in relay/ui, no module importing "up", mypy clean."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RELAY = ROOT / "relay"

# area -> areas it must never import
FORBIDDEN = {
    "relay.store": ("relay.delivery", "relay.ingest", "relay.ui", "relay.agent", "relay.formats"),
    # readers hand out neutral values (relay.items) and know nothing of the store
    "relay.formats": ("relay.store", "relay.delivery", "relay.ingest", "relay.ui", "relay.agent", "relay.status"),
    "relay.items": ("relay.store", "relay.formats", "relay.delivery", "relay.ingest", "relay.ui"),
    "relay.hashing": ("relay.store", "relay.delivery", "relay.ingest", "relay.ui", "relay.formats"),
    # delivery reads the control keys from the store (relay.store.control), never from the status object
    "relay.delivery": ("relay.ingest", "relay.ui", "relay.agent", "relay.status"),
    "relay.ingest": ("relay.delivery", "relay.ui", "relay.agent"),
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules():
    for path in RELAY.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        yield ".".join(rel.parts).removesuffix(".__init__"), path


def test_qt_only_under_relay_ui():
    offenders = [name for name, path in modules()
                 if not name.startswith("relay.ui") and any(i.split(".")[0] == "PySide6" for i in imports(path))]
    assert offenders == []


def test_no_module_imports_up():
    offenders = []
    for name, path in modules():
        for area, banned in FORBIDDEN.items():
            if name == area or name.startswith(area + "."):
                offenders += [f"{name} imports {i}" for i in imports(path) if i.startswith(banned)]
    assert offenders == []


def test_server_stub_shares_no_relay_internals():
    stub = ROOT / "server_stub"
    offenders = [str(p) for p in stub.rglob("*.py") if any(i.split(".")[0] == "relay" for i in imports(p))]
    assert offenders == []


@pytest.mark.slow
def test_mypy_is_clean():
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:]


# The outbox's writing side: what relay/ui must never reach except through the agent (the facade
# whose person actions are the only writes the window makes).
WRITERS = ("relay.store.outbox", "relay.store.batches", "relay.store.forming", "relay.store.file_tx")
FACADE = "relay.agent"


def runtime_imports(path: Path) -> set[str]:
    """``imports`` less those under ``if TYPE_CHECKING:`` (names for annotations, no code)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def reachable_from(start: set[str], stop: str) -> dict[str, str]:
    """relay modules imported, directly or not, from ``start``, not looking inside ``stop``:
    module -> the module that imports it (to name the path in a failure)."""
    paths = dict(modules())
    seen: dict[str, str] = {}
    todo = list(start)
    while todo:
        name = todo.pop()
        if name == stop or name not in paths:
            continue
        for imported in runtime_imports(paths[name]):
            target = imported if imported in paths else imported.rsplit(".", 1)[0]
            if target.startswith("relay") and target not in seen and target not in start:
                seen[target] = name
                todo.append(target)
    return seen


def test_formats_know_nothing_of_the_store():
    offenders = [f"{name} imports {i}" for name, path in modules() if name.startswith("relay.formats")
                 for i in imports(path) if i == "relay.store" or i.startswith("relay.store.")]
    assert offenders == []


def test_formats_write_no_files():
    """Readers read: no open(..., "w"), no Path.write_*, no os.replace/rename in relay/formats."""
    offenders = []
    for name, path in modules():
        if not name.startswith("relay.formats"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = ast.unparse(node.func)
            modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            modes += [k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
            if (func.endswith(("write_text", "write_bytes")) or func in ("os.replace", "os.rename", "shutil.move")
                    or (func == "open" and any(set(str(m)) & set("wax+") for m in modes))):
                offenders.append(f"{name}:{node.lineno} {func}")
    assert offenders == []


def test_ui_reaches_the_outbox_writers_only_through_the_agent():
    ui = {name for name, _ in modules() if name == "relay.ui" or name.startswith("relay.ui.")}
    reached = reachable_from(ui, stop=FACADE)
    assert FACADE in reached  # the window acts through the agent...
    assert sorted(f"{m} (imported by {reached[m]})" for m in reached if m in WRITERS) == []  # ...and only so


def test_the_windows_reader_has_the_queries_only():
    from relay.store import roles
    from relay.store.query_view import QueryView

    writes = {n for role in (roles.ItemSink, roles.BatchLedger, roles.PersonActions)
              for n in vars(role) if not n.startswith("_")}
    writes |= {"set_control", "pause_by_intake", "clear_intake_pause"}
    writes -= {"known_file", "next_due_at", "tracking_ids"}  # reads the sink and the ledger need
    assert writes & set(dir(QueryView)) == set()
    assert {n for n in vars(roles.OutboxQueries) if not n.startswith("_")} <= set(dir(QueryView))
    source = (RELAY / "ui" / "reader.py").read_text(encoding="utf-8")
    assert "QueryView(" in source and "Outbox(" not in source
