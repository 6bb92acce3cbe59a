"""The per-transport parts of ``[intake]`` (INTERFACE §9): ``[intake.s3]``, ``[intake.sftp]`` and the
checks a schema cannot say (which keys an s3:// or sftp:// address needs, names that keep the
exactly-once rule). Parsed into frozen values that ``relay.config`` hangs on ``IntakeConfig``.

Kept apart from ``relay.config`` so each transport's keys live in one place; it imports nothing
of relay but the error tree.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from relay.errors import ConfigError

DEFAULT_NAME_TEMPLATE = "{client}~{timestamp}~{key}.{ext}"
# What a name template may say. {name} (the file name itself) only in S3 metadata.
NAME_FIELDS = frozenset({"client", "timestamp", "key", "ext", "sender", "env", "batch"})
METADATA_FIELDS = NAME_FIELDS | {"name"}
FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")


@dataclass(frozen=True)
class S3Config:
    bucket: str
    prefix: str  # "" or ending in "/"
    region: str
    access_key_id: str
    endpoint_url: str | None = None
    sse: str = "none"  # aws:kms | AES256 | none
    kms_key_id: str | None = None
    name_template: str = DEFAULT_NAME_TEMPLATE
    content_type: str | None = None  # None: the batch's own (text/csv, application/hl7-v2, ...)
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SftpConfig:
    user: str
    host: str
    port: int
    path: str  # absolute on the server, or "" for the login's home folder (/~/ in the URL)
    known_hosts: Path | None = None
    host_key_sha256: tuple[str, ...] = ()
    key_file: Path | None = None
    name_template: str = DEFAULT_NAME_TEMPLATE


@dataclass(frozen=True)
class MllpConfig:
    host: str
    port: int
    tls: bool


@dataclass(frozen=True)
class DestinationConfig:
    sender: str | None = None
    env: str | None = None
    s3: S3Config | None = None
    sftp: SftpConfig | None = None
    mllp: MllpConfig | None = None


def template_fields(template: str) -> set[str]:
    """The placeholders of a name template; ValueError for a malformed one."""
    names: set[str] = set()
    for _, name, spec, conv in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conv:
            raise ValueError(f"{{{name}}} is not a placeholder relay fills")
        names.add(name)
    return names


def _check_template(template: str, where: str, allowed: frozenset[str], need_key: bool) -> list[str]:
    try:
        names = template_fields(template)
    except ValueError as exc:
        return [f"{where}: {exc}"]
    errors = [f"{where}: unknown placeholder {{{n}}} (relay fills {', '.join('{' + f + '}' for f in sorted(allowed))})"
              for n in sorted(names - allowed)]
    if need_key and "key" not in names:
        errors.append(f"{where}: the name must contain {{key}} (the batch's key), so a retry writes the same name "
                      "and two batches never share one")
    if need_key and ("/" in template or "\\" in template):
        errors.append(f"{where}: a name cannot contain / or \\ (put folders in intake.url)")
    return errors


def _resolve(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _s3(url: str, raw: dict[str, Any], errors: list[str]) -> S3Config | None:
    parts = urlsplit(url)
    if not parts.netloc:
        errors.append(f"intake.url {url!r}: an s3:// address names a bucket: s3://BUCKET/PREFIX")
    s3 = raw.get("s3")
    if not isinstance(s3, dict):
        errors.append("intake.s3: required for an s3:// intake.url (at least region and access_key_id)")
        return None
    for key in ("region", "access_key_id"):
        if not s3.get(key):
            errors.append(f"intake.s3.{key}: required for an s3:// intake.url")
    sse = s3.get("sse", "none")
    if s3.get("kms_key_id") and sse != "aws:kms":
        errors.append("intake.s3.kms_key_id: only used with sse = \"aws:kms\"")
    template = s3.get("name_template", DEFAULT_NAME_TEMPLATE)
    errors.extend(_check_template(template, "intake.s3.name_template", NAME_FIELDS, True))
    metadata = s3.get("metadata", {})
    for k, v in metadata.items():
        errors.extend(_check_template(v, f"intake.s3.metadata.{k}", METADATA_FIELDS, False))
    for n in ("sender", "env"):
        used = f"{{{n}}}" in template or any(f"{{{n}}}" in v for v in metadata.values())
        if used and not raw.get(n):
            errors.append(f"intake.{n}: the S3 name or metadata uses {{{n}}}, so intake.{n} must be set")
    prefix = unquote(parts.path).lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return S3Config(bucket=parts.netloc, prefix=prefix, region=s3.get("region", ""),
                    access_key_id=s3.get("access_key_id", ""), endpoint_url=s3.get("endpoint_url"), sse=sse,
                    kms_key_id=s3.get("kms_key_id"), name_template=template, content_type=s3.get("content_type"),
                    metadata=tuple((str(k), str(v)) for k, v in metadata.items()))


def _port(parts: Any, url: str, errors: list[str]) -> int | None:
    try:
        return int(parts.port) if parts.port is not None else None
    except ValueError:
        errors.append(f"intake.url {url!r}: the port is not a number from 1 to 65535")
        return None


def _sftp(url: str, raw: dict[str, Any], base: Path, errors: list[str]) -> SftpConfig | None:
    parts = urlsplit(url)
    port = _port(parts, url, errors) or 22
    if not parts.hostname:
        errors.append(f"intake.url {url!r}: an sftp:// address names a server: sftp://USER@HOST[:PORT]/PATH")
    if not parts.username:
        errors.append(f"intake.url {url!r}: an sftp:// address names the login: sftp://USER@HOST[:PORT]/PATH")
    path = unquote(parts.path)
    if path in ("/~", "/~/") or path.startswith("/~/"):
        path = path[3:]
    elif not path:
        errors.append(f"intake.url {url!r}: give the folder on the server (sftp://USER@HOST/PATH; /~/ for the "
                      "login's home folder)")
    sftp: dict[str, Any] = raw["sftp"] if isinstance(raw.get("sftp"), dict) else {}
    pins = sftp.get("host_key_sha256", [])
    pins = [pins] if isinstance(pins, str) else list(pins)
    if not pins and not sftp.get("known_hosts"):
        errors.append("intake.sftp.host_key_sha256 or intake.sftp.known_hosts: required for an sftp:// intake.url; "
                      "relay never accepts a server's host key unseen (`ssh-keygen -lf` on the server's "
                      "/etc/ssh/ssh_host_ed25519_key.pub prints the SHA256:... to give)")
    for pin in pins:
        if not FINGERPRINT.match(pin):
            errors.append(f"intake.sftp.host_key_sha256: {pin!r} is not a fingerprint as `ssh-keygen -lf` prints it "
                          "(SHA256: and 43 base64 characters)")
    template = sftp.get("name_template", DEFAULT_NAME_TEMPLATE)
    errors.extend(_check_template(template, "intake.sftp.name_template", NAME_FIELDS, True))
    for n in ("sender", "env"):
        if f"{{{n}}}" in template and not raw.get(n):
            errors.append(f"intake.{n}: the SFTP file name uses {{{n}}}, so intake.{n} must be set")
    return SftpConfig(user=unquote(parts.username or ""), host=parts.hostname or "", port=port,
                      path=path.rstrip("/") if path != "/" else "/",
                      known_hosts=_resolve(base, sftp.get("known_hosts")), host_key_sha256=tuple(pins),
                      key_file=_resolve(base, sftp.get("key_file")), name_template=template)


def _mllp(url: str, errors: list[str]) -> MllpConfig | None:
    parts = urlsplit(url)
    port = _port(parts, url, errors)
    if not parts.hostname or port is None:
        errors.append(f"intake.url {url!r}: an mllp:// address names a host and a port: mllp://HOST:PORT")
    if parts.path not in ("", "/"):
        errors.append(f"intake.url {url!r}: an mllp:// address has no path: mllp://HOST:PORT")
    return MllpConfig(host=parts.hostname or "", port=port or 0, tls=parts.scheme.lower() == "mllps")


def parse(intake: dict[str, Any], base: Path, label: str) -> DestinationConfig:
    """The transport settings for ``intake`` (already schema-checked); ConfigError naming every key
    that is missing or wrong for the address's scheme."""
    url = intake.get("url") or ""
    scheme = urlsplit(url).scheme.lower() if url else ""
    errors: list[str] = []
    s3 = _s3(url, intake, errors) if scheme == "s3" else None
    sftp = _sftp(url, intake, base, errors) if scheme == "sftp" else None
    mllp = _mllp(url, errors) if scheme in ("mllp", "mllps") else None
    if errors:
        lines = "\n  ".join(errors)
        raise ConfigError(f"{label}: the configuration is not valid:\n  {lines}")
    return DestinationConfig(sender=intake.get("sender"), env=intake.get("env"), s3=s3, sftp=sftp, mllp=mllp)
