"""The settings form's data: what the form shows, how its values go back into relay.toml, and
which field each validation error belongs to. Pure (no Qt).

Only the keys the form edits change; every other section and key of the file is kept as it was.
Validation is relay's own: the JSON Schema (``relay.config.validate``), then ``from_dict`` for
what a schema cannot say (time zones, start = end).
"""

from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay.config import Config, from_dict, load_schema, validate
from relay.errors import ConfigError

INTAKE_KEYS = ("url", "client", "format", "auth", "batch_max_items")
WINDOW_KEYS = ("days", "start", "end", "timezone")


@dataclass
class FormValues:
    url: str = ""
    client: str = ""
    format: str = "csv"
    auth: str = "bearer"
    batch_max_items: int = 500
    folders: list[str] = field(default_factory=list)
    windows: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class FieldError:
    key: str  # "intake.url", "watch[2].folder", "maintenance[1].timezone", or "" for the file as a whole
    message: str

    @property
    def section(self) -> str:
        return re.split(r"[.\[]", self.key, maxsplit=1)[0] if self.key else ""


def default(section: str, key: str) -> Any:
    props = load_schema("config.schema.json")["properties"][section]
    if props.get("type") == "array":
        props = props["items"]
    return props["properties"].get(key, {}).get("default")


def read_raw(path: Path) -> dict[str, Any]:
    """The file as tomllib reads it ({} when it does not exist yet)."""
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as TOML ({exc})") from exc


def form_from_raw(raw: dict[str, Any]) -> FormValues:
    intake = raw.get("intake", {})
    return FormValues(
        url=str(intake.get("url", "")),
        client=str(intake.get("client", default("intake", "client"))),
        format=str(intake.get("format", default("intake", "format"))),
        auth=str(intake.get("auth", default("intake", "auth"))),
        batch_max_items=int(intake.get("batch_max_items", default("intake", "batch_max_items"))),
        folders=[str(w.get("folder", "")) for w in raw.get("watch", []) if isinstance(w, dict)],
        windows=[{k: str(w[k]) for k in WINDOW_KEYS if k in w} for w in raw.get("maintenance", [])
                 if isinstance(w, dict)],
    )


def apply_form(raw: dict[str, Any], form: FormValues) -> dict[str, Any]:
    """A new file content: ``raw`` with the form's values in place, everything else untouched.
    A key is written when the file had it or when its value differs from the default."""
    data = copy.deepcopy(raw)
    intake = dict(data.get("intake", {}))
    values: dict[str, Any] = {
        "url": form.url.strip(), "client": form.client.strip(), "format": form.format, "auth": form.auth,
        "batch_max_items": int(form.batch_max_items),
    }
    for key, value in values.items():
        if key == "url" and not value:
            intake.pop("url", None)
        elif key in intake or value != default("intake", key):
            intake[key] = value
    if intake:
        data["intake"] = intake
    else:
        data.pop("intake", None)

    by_folder = {str(w.get("folder")): w for w in raw.get("watch", []) if isinstance(w, dict)}
    watches = []
    for folder in form.folders:
        folder = folder.strip()
        if folder:
            watches.append(copy.deepcopy(by_folder.get(folder, {"folder": folder})))
    if watches:
        data["watch"] = watches
    else:
        data.pop("watch", None)

    windows = []
    for row in form.windows:
        entry = {k: str(row.get(k, "")).strip() for k in WINDOW_KEYS}
        entry = {k: v for k, v in entry.items() if v}
        if entry:
            windows.append(entry)
    if windows:
        data["maintenance"] = windows
    else:
        data.pop("maintenance", None)
    return data


_KEY = re.compile(r"^((?:[A-Za-z_]\w*)(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*): (.+)$")


ADDRESS_HELP = ("the address must start with https:// (an intake that takes POSTs; http:// on a trusted "
                "network only), s3://BUCKET/PREFIX (an S3 bucket), sftp://USER@HOST:PORT/PATH (an SFTP folder), "
                "mllp://HOST:PORT (HL7 v2 messages over MLLP) or mllps://HOST:PORT (MLLP over TLS)")


def _friendly(key: str, message: str) -> str:
    if key == "intake.url" and "does not match" in message:
        return ADDRESS_HELP
    if message.endswith(("is too short", "should be non-empty")):
        return "must not be empty"
    if "is greater than the maximum of" in message:
        return "is larger than allowed (" + message.rsplit("maximum of", 1)[1].strip() + " at most)"
    if "is less than the minimum of" in message:
        return "is smaller than allowed (at least " + message.rsplit("minimum of", 1)[1].strip() + ")"
    return message


def field_errors(exc: ConfigError, source: str) -> list[FieldError]:
    """Split relay's validation message into (key, message) pairs."""
    text = str(exc)
    if text.startswith(source + ": "):
        text = text[len(source) + 2:]
    lines = text.split("\n")
    if lines[0].strip() == "the configuration is not valid:":
        lines = lines[1:]
    out = []
    for line in (x.strip() for x in lines):
        if not line:
            continue
        if line.startswith("unknown key "):
            for key in line[len("unknown key "):].split(", "):
                out.append(FieldError(key, "is not a setting relay knows"))
            continue
        m = _KEY.match(line)
        if m and m.group(1) != "top level":
            out.append(FieldError(m.group(1), _friendly(m.group(1), m.group(2))))
        else:
            out.append(FieldError("", line))
    return out


def check(data: dict[str, Any], path: Path) -> tuple[Config | None, list[FieldError]]:
    """Validate a would-be file content; returns the Config it gives, or the errors by field."""
    source = str(path)
    try:
        validate(data, source)
        return from_dict(data, path), []
    except ConfigError as exc:
        return None, field_errors(exc, source)
