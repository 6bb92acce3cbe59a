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
    # readers hand out the outbox's plain value types (relay.store.models) but never touch the database
    "relay.formats": ("relay.store.outbox", "relay.store.db", "relay.store.batches", "relay.store.queries",
                      "relay.delivery", "relay.ingest", "relay.ui", "relay.agent"),
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
