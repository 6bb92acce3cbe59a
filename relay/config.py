"""Configuration: read TOML -> validate against schemas/config.schema.json -> frozen value.

Defaults live in the schema (its ``default`` keywords), so the file, the docs and the settings
window agree. Validation errors name the file and the key. Relative paths resolve against the
folder that holds the file. Secrets are never read from the file.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import tomllib
from dataclasses import dataclass, field
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema

from relay import destination_config
from relay.destination_config import DestinationConfig
from relay.errors import ConfigError
from relay.paths import app_paths, repo_schemas_dir

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SECRET_KEYS = {("intake", "token"), ("intake", "key"), ("intake", "password"), ("intake", "secret")}
# query parameters that carry a credential in a URL (Azure Functions' ?code=, signed URLs, ...)
SECRET_PARAMS = {"code", "key", "token", "secret", "password", "sig", "apikey", "api_key", "access_token"}
MAX_FILE_BYTES = 1024 * 1024

log = logging.getLogger("relay")


@dataclass(frozen=True)
class OAuthConfig:
    """``[intake.oauth]``: server-to-server tokens by RFC 7523 client assertion (auth = "oauth-jwt")."""

    token_url: str
    scope: str
    client_id: str
    key_id: str | None = None
    audience: str | None = None
    key_file: Path | None = None

    @property
    def kid(self) -> str:
        return self.key_id or self.client_id

    @property
    def aud(self) -> str:
        return self.audience or urlsplit(self.token_url).hostname or self.token_url


@dataclass(frozen=True)
class IntakeConfig:
    url: str | None
    client: str
    format: str
    auth: str
    batch_max_items: int
    timeout_s: float
    ca_file: Path | None = None
    max_in_flight: int = 2
    oauth: OAuthConfig | None = None
    destination: DestinationConfig = field(default_factory=DestinationConfig)  # s3 / sftp / mllp settings (§9)


@dataclass(frozen=True)
class StoreConfig:
    path: Path


@dataclass(frozen=True)
class WatchConfig:
    folder: Path
    pattern: str
    processed_folder: Path
    rejected_folder: Path
    client: str | None
    tracking_column: str | None
    settle_s: float
    poll: bool
    format: str = "auto"  # auto | csv | hl7
    patterns: tuple[str, ...] = ()  # every pattern (``pattern`` is the first), matched without regard to case


@dataclass(frozen=True)
class ListenerConfig:
    enabled: bool
    host: str
    port: int
    token: str | None
    max_body_bytes: int
    body_timeout_s: float = 60.0


@dataclass(frozen=True)
class MllpConfig:
    """The MLLP listener for HL7 v2 (INTERFACE §8)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2575
    allow_from: tuple[str, ...] = ()
    client: str | None = None


@dataclass(frozen=True)
class TranslateConfig:
    """``[translate]``: CSV rows become HL7 v2.5.1 ELR messages at ingest (INTERFACE §10)."""

    to: str = "none"  # none | hl7-elr-2.5.1
    sending_application: str = "relay"
    sending_facility: str | None = None  # None: the row's testing lab name and CLIA
    receiving_application: str = "APHL^2.16.840.1.113883.3.8589^ISO"
    receiving_facility: str = "APHL^2.16.840.1.113883.3.8589^ISO"
    processing_id: str = "P"
    timezone: str | None = None  # IANA name for dates without an offset; None: this machine's

    @property
    def enabled(self) -> bool:
        return self.to != "none"


@dataclass(frozen=True)
class DeliveryConfig:
    retry_initial_s: float
    retry_max_s: float
    expire_after_days: float
    dedupe_window_days: float
    retention_days: float
    unavailable_max_s: float
    probe_interval_s: float


@dataclass(frozen=True)
class HealthConfig:
    max_pending_age_s: float = 3600.0
    max_silence_s: float = 3600.0
    disk_reserve_bytes: int = 524_288_000


@dataclass(frozen=True)
class HeartbeatConfig:
    url: str | None = None
    every_s: float = 300.0
    site: str | None = None  # None: this machine's name


@dataclass(frozen=True)
class MaintenanceWindow:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time | None  # None means 24:00
    timezone: str
    text: str = ""

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class Config:
    source: Path | None
    intake: IntakeConfig
    store: StoreConfig
    watches: tuple[WatchConfig, ...] = ()
    listener: ListenerConfig = field(default=None)  # type: ignore[assignment]
    delivery: DeliveryConfig = field(default=None)  # type: ignore[assignment]
    maintenance: tuple[MaintenanceWindow, ...] = ()
    mllp: MllpConfig = field(default_factory=MllpConfig)
    translate: TranslateConfig = field(default_factory=TranslateConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    heartbeat: HeartbeatConfig = field(default_factory=HeartbeatConfig)

    def watch_for(self, path: Path) -> WatchConfig | None:
        """The watched folder that holds ``path``, if any."""
        resolved = path.resolve()
        for watch in self.watches:
            if resolved.parent == watch.folder.resolve():
                return watch
        return None

    def client_for(self, watch: WatchConfig | None) -> str:
        return (watch.client if watch and watch.client else None) or self.intake.client


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    path = repo_schemas_dir() / name
    with path.open("r", encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _defaults(section: str) -> dict[str, Any]:
    props = load_schema("config.schema.json")["properties"][section]
    if props.get("type") == "array":
        props = props["items"]
    return {k: v["default"] for k, v in props["properties"].items() if "default" in v}


def _dotted(path: Any) -> str:
    parts: list[str] = []
    for p in path:
        if isinstance(p, int):
            parts[-1:] = [f"{parts[-1]}[{p + 1}]" if parts else f"[{p + 1}]"]
        else:
            parts.append(str(p))
    return ".".join(parts)


def _describe(error: jsonschema.ValidationError) -> str:
    where = _dotted(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        keys = ", ".join(f"{where}.{k}" if where else k for k in extra)
        return f"unknown key {keys}"
    if error.validator == "required":
        return f"{where or 'top level'}: {error.message}"
    if error.validator == "enum":
        choices = " | ".join(map(str, error.validator_value))
        return f"{where}: {error.instance!r} is not one of {choices}"
    if error.validator == "pattern" and where.endswith(("start", "end")):
        return f"{where}: {error.instance!r} is not a time like 09:30"
    if error.validator == "pattern" and where.startswith("translate."):
        return f"{where}: {error.instance!r} is not namespace^universal id^type (a namespace of 1 to 20 characters, no | ~ \\ or &)"
    if error.validator == "pattern" and where.endswith("days"):
        return f"{where}: {error.instance!r} is not a day list like mon-fri or sat,sun"
    return f"{where}: {error.message}" if where else error.message


def validate(data: dict[str, Any], source: str) -> None:
    """Raise ConfigError naming the file and every offending key."""
    for section, key in SECRET_KEYS:
        if isinstance(data.get(section), dict) and key in data[section]:
            raise ConfigError(
                f"{source}: {section}.{key}: secrets are not kept in the config file; "
                "store the credential with `relay token set` or set RELAY_TOKEN"
            )
    url = data.get("intake", {}).get("url") if isinstance(data.get("intake"), dict) else None
    if isinstance(url, str) and _url_holds_secret(url):
        raise ConfigError(
            f"{source}: intake.url: secrets are not kept in the config file, and this address carries one (a "
            "password or a key in it); give the address without it and store the credential with `relay token "
            "set` or set RELAY_TOKEN"
        )
    beat = data.get("heartbeat", {}).get("url") if isinstance(data.get("heartbeat"), dict) else None
    if isinstance(beat, str) and _url_holds_secret(beat):
        raise ConfigError(f"{source}: heartbeat.url: secrets are not kept in the config file, and this address "
                          "carries one; give the address without it (a heartbeat to the intake's host sends the "
                          "intake's credential)")
    validator = jsonschema.Draft202012Validator(load_schema("config.schema.json"))
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = "\n  ".join(_describe(e) for e in errors)
        raise ConfigError(f"{source}: the configuration is not valid:\n  {lines}")


def _url_holds_secret(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False  # the schema check names a malformed address
    return parts.password is not None or any(k.lower() in SECRET_PARAMS for k, _ in parse_qsl(parts.query))


def _resolve(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.replace(" ", "").lower().split(","):
        if "-" in part:
            a, b = (DAY_NAMES.index(x) for x in part.split("-"))
            i = a
            while True:
                days.add(i)
                if i == b:
                    break
                i = (i + 1) % 7
        else:
            days.add(DAY_NAMES.index(part))
    return frozenset(days)


def _parse_time(text: str) -> time | None:
    hh, mm = (int(x) for x in text.split(":"))
    if hh == 24:
        if mm:
            raise ValueError("24:MM")
        return None
    return time(hh, mm)


def _window(raw: dict[str, Any], where: str, source: str) -> MaintenanceWindow:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    merged = {**_defaults("maintenance"), **raw}
    try:
        ZoneInfo(merged["timezone"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{source}: {where}.timezone: unknown time zone {merged['timezone']!r}") from exc
    try:
        end = _parse_time(merged["end"])
    except ValueError as exc:
        raise ConfigError(f"{source}: {where}.end: {merged['end']!r} is not a time like 11:00") from exc
    start = _parse_time(merged["start"]) or time(0, 0)
    if end == start:
        raise ConfigError(f"{source}: {where}: start and end are the same time")
    text = f"{merged['days']} {merged['start']}-{merged['end']} {merged['timezone']}"
    return MaintenanceWindow(parse_days(merged["days"]), start, end, merged["timezone"], text)


def from_dict(data: dict[str, Any], source: Path | None) -> Config:
    """Build a Config from already-parsed TOML data (validated here)."""
    label = str(source) if source else "<defaults>"
    validate(data, label)
    base = source.parent if source else Path.cwd()

    intake = {**_defaults("intake"), **data.get("intake", {})}
    store = data.get("store", {})
    store_path = _resolve(base, store.get("path")) or app_paths().default_outbox
    listener = {**_defaults("listener"), **data.get("listener", {})}
    delivery = {**_defaults("delivery"), **data.get("delivery", {})}
    if delivery["retry_max_s"] < delivery["retry_initial_s"]:
        raise ConfigError(f"{label}: delivery.retry_max_s is smaller than delivery.retry_initial_s")

    watches = []
    for i, raw in enumerate(data.get("watch", [])):
        w = {**_defaults("watch"), **raw}
        folder = _resolve(base, w["folder"])
        assert folder is not None
        watches.append(
            WatchConfig(
                folder=folder,
                pattern=w["pattern"] if isinstance(w["pattern"], str) else w["pattern"][0],
                processed_folder=_resolve(base, w.get("processed_folder")) or folder / "processed",
                rejected_folder=_resolve(base, w.get("rejected_folder")) or folder / "rejected",
                client=w.get("client"),
                tracking_column=w.get("tracking_column"),
                settle_s=float(w["settle_s"]),
                poll=bool(w["poll"]),
                format=w["format"],
                patterns=(w["pattern"],) if isinstance(w["pattern"], str) else tuple(w["pattern"]),
            )
        )
    windows = tuple(_window(raw, f"maintenance[{i + 1}]", label) for i, raw in enumerate(data.get("maintenance", [])))
    health = {**_defaults("health"), **data.get("health", {})}
    heartbeat = {**_defaults("heartbeat"), **data.get("heartbeat", {})}
    return Config(
        source=source,
        intake=IntakeConfig(
            url=intake.get("url"),
            client=intake["client"],
            format=intake["format"],
            auth=intake["auth"],
            batch_max_items=int(intake["batch_max_items"]),
            timeout_s=float(intake["timeout_s"]),
            ca_file=_resolve(base, intake.get("ca_file")),
            max_in_flight=int(intake["max_in_flight"]),
            oauth=_oauth(intake, base, label),
            destination=destination_config.parse(intake, base, label),
        ),
        store=StoreConfig(path=store_path),
        watches=tuple(watches),
        listener=ListenerConfig(
            enabled=bool(listener["enabled"]),
            host=listener["host"],
            port=int(listener["port"]),
            token=listener.get("token"),
            max_body_bytes=int(listener["max_body_bytes"]),
            body_timeout_s=float(listener["body_timeout_s"]),
        ),
        delivery=DeliveryConfig(**{k: float(v) for k, v in delivery.items()}),
        maintenance=windows,
        mllp=_mllp(data.get("mllp", {}), label),
        translate=_translate(data.get("translate", {}), label),
        health=HealthConfig(max_pending_age_s=float(health["max_pending_age_s"]),
                            max_silence_s=float(health["max_silence_s"]),
                            disk_reserve_bytes=int(health["disk_reserve_bytes"])),
        heartbeat=HeartbeatConfig(url=heartbeat.get("url"), every_s=float(heartbeat["every_s"]),
                                  site=heartbeat.get("site")),
    )


def _oauth(intake: dict[str, Any], base: Path, label: str) -> OAuthConfig | None:
    raw = intake.get("oauth")
    if raw is None:
        if intake.get("auth") == "oauth-jwt":
            raise ConfigError(f'{label}: intake.oauth: required when intake.auth is "oauth-jwt" '
                              "(token_url, scope and client_id)")
        return None
    key_file = _resolve(base, raw.get("key_file"))
    if key_file is not None:
        try:
            mode = key_file.stat().st_mode
        except OSError as exc:
            raise ConfigError(f"{label}: intake.oauth.key_file: cannot read {key_file} "
                              f"({exc.strerror or exc})") from exc
        if os.name != "nt" and mode & 0o077:
            raise ConfigError(f"{label}: intake.oauth.key_file: {key_file} can be read by other users of this "
                              f"machine; make it private (chmod 600 {key_file})")
    return OAuthConfig(token_url=raw["token_url"], scope=raw["scope"], client_id=raw["client_id"],
                       key_id=raw.get("key_id"), audience=raw.get("audience"), key_file=key_file)


def _translate(raw: dict[str, Any], label: str) -> TranslateConfig:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    t = {**_defaults("translate"), **raw}
    if t.get("timezone") is not None:
        try:
            ZoneInfo(t["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"{label}: translate.timezone: unknown time zone {t['timezone']!r}") from exc
    return TranslateConfig(**t)


def _mllp(raw: dict[str, Any], label: str) -> MllpConfig:
    m = {**_defaults("mllp"), **raw}
    allow = tuple(m.get("allow_from", ()))
    for entry in allow:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ConfigError(f"{label}: mllp.allow_from: {entry!r} is not an IP address or network") from exc
    if m["enabled"] and not allow and not _loopback(m["host"]):
        raise ConfigError(f"{label}: mllp.host is {m['host']!r}, which other machines can reach: "
                          "mllp.allow_from must list the senders let in")
    return MllpConfig(enabled=bool(m["enabled"]), host=m["host"], port=int(m["port"]), allow_from=allow,
                      client=m.get("client"))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load(path: Path, *, must_exist: bool = True) -> Config:
    """Read and validate ``path``. A missing default file gives the defaults."""
    if not path.exists():
        if must_exist:
            raise ConfigError(f"{path}: the configuration file does not exist")
        return from_dict({}, None)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: the file is too large to be a relay configuration (over 1 MB)")
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the configuration file is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    config = from_dict(data, path.resolve())
    if config.listener.token and os.name != "nt" and path.stat().st_mode & 0o077:
        log.warning("%s holds listener.token and other users of this machine can read it; make it private "
                    "(chmod 600 %s)", path, path)
    return config
