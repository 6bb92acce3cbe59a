"""Writes docs/config-reference.md from schemas/config.schema.json (the single source of truth).

    python scripts/gen_config_docs.py           # rewrite the page
    python scripts/gen_config_docs.py --check   # exit 1 when the page differs from the schema

tests/unit/test_docs.py runs the check, so the page cannot drift from the schema.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "schemas" / "config.schema.json"
PAGE = ROOT / "docs" / "config-reference.md"

# Descriptions for keys the schema does not describe yet. A key listed here that gains a
# "description" in the schema makes tests/unit/test_docs.py fail, so this list only shrinks.
FALLBACK = {
    "store": "Where the outbox lives.",
    "listener": "The local listener: other programs on this machine post results to it over HTTP.",
    "listener.enabled": "Run the local listener.",
    "listener.host": "Address it listens on; keep it on loopback unless other machines must post.",
    "listener.port": "Port it listens on; 0 picks a free one.",
    "listener.max_body_bytes": "Largest request body accepted (a larger one is answered 413).",
    "delivery": "Retries, expiry and how long things are kept.",
    "delivery.retry_initial_s": "First wait before retrying a batch whose outcome is unknown (5xx, timeout, "
                                "connection error); it doubles, with jitter, up to retry_max_s.",
    "delivery.retry_max_s": "Longest wait between retries.",
    "delivery.expire_after_days": "Pending or failed this long: the item becomes dead (kept, not deleted).",
    "delivery.dedupe_window_days": "A result whose content was accepted within this many days is skipped as a "
                                   "duplicate.",
    "delivery.retention_days": "Payloads of sent items are kept this long; their hashes stay for duplicate "
                               "suppression.",
    "maintenance.days": "Days the window starts on: mon, tue, wed, thu, fri, sat, sun, ranges (mon-fri) and "
                        "lists (mon,wed,fri).",
    "maintenance.start": "Start time, HH:MM in the window's time zone.",
    "maintenance.end": "End time, HH:MM; 24:00 is midnight at the end of the day; an end at or before the "
                       "start falls on the next day.",
    "maintenance.timezone": "IANA time zone name, such as America/New_York.",
}

# Patterns a person cannot read, said in words.
PATTERN_WORDS = {
    "intake.url": "starts with `https://`, `http://`, `s3://`, `sftp://`, `mllp://` or `mllps://`",
    "heartbeat.url": "starts with `http://` or `https://`",
    "maintenance.days": "day names and ranges, comma-separated",
    "maintenance.start": "`00:00` to `23:59`",
    "maintenance.end": "`00:00` to `24:00`",
}

INTRO = """\
# Configuration reference

<!-- Generated from schemas/config.schema.json by scripts/gen_config_docs.py; do not edit by hand. -->

relay reads one TOML file: `relay.toml` in the user config folder, or the file named by
`relay --config FILE` or `RELAY_CONFIG`. Relative paths in it resolve against the folder that holds
the file. A key that is not listed here is an error that names the key and the file, and so is a
value outside its limits. Every key ending in `_s` is in seconds and takes fractions (`0.5`).
The intake credential is never in this file: see `relay token set` in the admin guide.
"""


def load_schema(path: Path = SCHEMA) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def sections(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(name, object schema of one table, whether the file may hold many of it)."""
    for name, prop in schema["properties"].items():
        if prop.get("type") == "array":
            yield name, {**prop["items"], "description": prop.get("description")}, True
        else:
            yield name, prop, False
            for key, sub in prop.get("properties", {}).items():  # nested tables such as [intake.s3]
                if _is_table(sub):
                    yield f"{name}.{key}", sub, False


def _is_table(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "object" and "properties" in prop


def keys(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dotted key (``section.key``) and its schema."""
    for name, table, _ in sections(schema):
        for key, prop in table.get("properties", {}).items():
            yield f"{name}.{key}", prop


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def _type(prop: dict[str, Any]) -> str:
    if _is_table(prop):
        return "table (its own section below)"
    if "enum" in prop:
        return "one of " + ", ".join(f"`{_toml(v)}`" for v in prop["enum"])
    names = {"integer": "integer", "number": "number", "string": "text", "boolean": "true/false",
             "array": "list of text"}
    kinds = prop.get("type", "text or list of text" if "anyOf" in prop else "")
    if isinstance(kinds, list):
        return " or ".join(names.get(k, k) for k in kinds)
    return names.get(kinds, str(kinds))


def _limits(dotted: str, prop: dict[str, Any]) -> str:
    parts = []
    if "minimum" in prop:
        parts.append(f"≥ {prop['minimum']}")
    if "exclusiveMinimum" in prop:
        parts.append(f"> {prop['exclusiveMinimum']}")
    if "maximum" in prop:
        parts.append(f"≤ {prop['maximum']}")
    if "exclusiveMaximum" in prop:
        parts.append(f"< {prop['exclusiveMaximum']}")
    if prop.get("minLength") == 1:
        parts.append("not empty")
    elif "minLength" in prop:
        parts.append(f"at least {prop['minLength']} characters")
    if "maxLength" in prop:
        parts.append(f"at most {prop['maxLength']} characters")
    if "pattern" in prop:
        parts.append(PATTERN_WORDS.get(dotted) or f"matches `{prop['pattern']}`")
    return "; ".join(parts)


def _cell(text: str) -> str:
    """Text for a table cell: pipes escaped, and angle brackets outside `code` kept from being HTML."""
    parts = text.replace("|", "\\|").replace("\n", " ").split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;").replace(">", "&gt;") for i, p in enumerate(parts))


def describe(dotted: str, prop: dict[str, Any]) -> str:
    return str(prop.get("description") or FALLBACK.get(dotted, ""))


def render(schema: dict[str, Any]) -> str:
    out = [INTRO]
    out.append("## Every key with its default\n")
    out.append("Keys without a default are commented out; `[[watch]]` and `[[maintenance]]` may appear any "
               "number of times.\n")
    out.append("```toml")
    for name, table, many in sections(schema):
        out.append(f"[[{name}]]" if many else f"[{name}]")
        required = set(table.get("required", []))
        for key, prop in table.get("properties", {}).items():
            if _is_table(prop):
                continue
            if "default" in prop:
                out.append(f"{key} = {_toml(prop['default'])}")
            else:
                out.append(f"{'' if key in required else '# '}{key} = ...{'  # required' if key in required else ''}")
        out.append("")
    out[-1] = "```\n"
    for name, table, many in sections(schema):
        out.append(f"## `[[{name}]]`\n" if many else f"## `[{name}]`\n")
        text = describe(name, table)
        if text:
            out.append(_cell(text) + "\n")
        out.append("| key | type | default | limits | description |")
        out.append("|---|---|---|---|---|")
        required = set(table.get("required", []))
        for key, prop in table.get("properties", {}).items():
            dotted = f"{name}.{key}"
            default = f"`{_toml(prop['default'])}`" if "default" in prop else ("required" if key in required else "—")
            out.append(f"| `{key}` | {_cell(_type(prop))} | {default} | {_cell(_limits(dotted, prop))} | "
                       f"{_cell(describe(dotted, prop))} |")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = render(load_schema())
    if argv[1:] == ["--check"]:
        if PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE.relative_to(ROOT)} differs from {SCHEMA.relative_to(ROOT)}: "
                  "run python scripts/gen_config_docs.py", file=sys.stderr)
            return 1
        return 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    PAGE.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
