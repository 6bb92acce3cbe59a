"""The documentation cannot drift: the configuration reference is what the schema generates, the
guides' links and pictures exist, and every relay command they show is one relay has."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from relay.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [DOCS / "guide-lab-staff.md", DOCS / "guide-admin.md", DOCS / "config-reference.md", ROOT / "README.md"]


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_config_docs", ROOT / "scripts" / "gen_config_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_generator()


def test_config_reference_is_generated_from_the_schema():
    committed = (DOCS / "config-reference.md").read_text(encoding="utf-8")
    assert committed == gen.render(gen.load_schema()), \
        "docs/config-reference.md is out of date: run python scripts/gen_config_docs.py"


def test_every_key_has_a_row_with_a_description():
    schema = gen.load_schema()
    text = gen.render(schema)
    for name, table, many in gen.sections(schema):
        section = text.split(f"## `[[{name}]]`" if many else f"## `[{name}]`", 1)[1].split("\n## ", 1)[0]
        for key in table["properties"]:
            row = next((line for line in section.splitlines() if line.startswith(f"| `{key}` |")), None)
            assert row is not None, f"{name}.{key} has no row"
            assert row.rstrip().rstrip("|").strip(), f"{name}.{key} has no description"
            assert gen.describe(f"{name}.{key}", table["properties"][key]), f"{name}.{key} has no description"


def test_fallback_words_only_cover_what_the_schema_lacks():
    schema = gen.load_schema()
    props = dict(gen.keys(schema))
    tables = {name: table for name, table, _ in gen.sections(schema)}
    for dotted in gen.FALLBACK:
        prop = props.get(dotted) or tables.get(dotted)
        assert prop is not None, f"FALLBACK names {dotted}, which the schema does not have"
        assert not prop.get("description"), f"the schema now describes {dotted}: drop it from FALLBACK"
    for dotted in gen.PATTERN_WORDS:
        assert "pattern" in props.get(dotted, {}), f"PATTERN_WORDS names {dotted}, which has no pattern"


def test_the_check_mode_agrees(capsys):
    assert gen.main(["gen_config_docs.py", "--check"]) == 0


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_and_pictures_exist(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("#"):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert path.exists(), f"{page.name} links to {target}, which does not exist"


def test_the_lab_staff_guide_shows_the_window():
    text = (DOCS / "guide-lab-staff.md").read_text(encoding="utf-8")
    pictures = [t for t in LINK.findall(text) if t.endswith(".png")]
    assert pictures
    for picture in pictures:
        data = (DOCS / picture).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def code_of(text: str) -> list[str]:
    """Fenced blocks (line by line, without # comments) and inline code spans."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    rest = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    lines = [line.split("#", 1)[0] for block in blocks for line in block.splitlines()]
    return lines + re.findall(r"`([^`\n]+)`", rest)


COMMAND = re.compile(r"(?:^|[\s/])relay(?:\.exe)?((?:\s+(?:-v|--verbose|--config\s+\S+))*)\s+([a-z][a-z-]*)(?:\s+([a-z]+))?")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_shown_exists(page):
    sub = next(a for a in _parser()._actions if a.dest == "command")
    commands = sub.choices
    shown = 0
    for code in code_of(page.read_text(encoding="utf-8")):
        for _, name, action in COMMAND.findall(code):
            assert name in commands, f"{page.name} shows `relay {name}`, which is not a relay command"
            choices = next((a.choices for a in commands[name]._actions if a.dest == "action"), None)
            if choices and action:
                assert action in choices, f"{page.name} shows `relay {name} {action}`"
            shown += 1
    if page.name.startswith("guide-admin"):
        assert shown >= 15
