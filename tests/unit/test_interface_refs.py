"""Every "INTERFACE §N" the code cites names a section of docs/interface.md (the contract's twin)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITED = re.compile(r"INTERFACE\s+§\s*(\d+[a-z]?)")
SECTION = re.compile(r"^##\s+(\d+[a-z]?)\.\s", re.MULTILINE)


def test_every_interface_reference_in_relay_resolves_to_a_section():
    sections = set(SECTION.findall((ROOT / "docs" / "interface.md").read_text(encoding="utf-8")))
    assert {"1", "3", "3a", "5", "9"} <= sections
    cited: dict[str, list[str]] = {}
    for path in sorted((ROOT / "relay").rglob("*.py")):
        for ref in CITED.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(ref, []).append(str(path.relative_to(ROOT)))
    assert cited, "the code cites the contract somewhere"
    missing = {ref: files for ref, files in cited.items() if ref not in sections}
    assert not missing, f"cited sections that docs/interface.md does not have: {missing}"
