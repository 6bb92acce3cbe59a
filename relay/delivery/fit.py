"""Can the destination carry what the sources give it? Checked once, at start (INTERFACE §9).

Judged by what each source produces, not by intake.format alone: the MLLP listener and folders of
HL7 files produce HL7 items; CSV folders produce rows, or HL7 items when [translate] is on; a folder
with format "auto" may hold either; the local listener takes both and refuses at its door what
cannot be sent (so it never stops a start). HL7 items always go as HL7 batches; rows go in the
intake.format batches, so they can be sent only when that format is not "hl7" and the destination
carries it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from relay.config import Config, WatchConfig
from relay.delivery.destinations import SCHEMES, Destination, scheme_of
from relay.errors import ConfigError

HL7 = "hl7"
ROWS = "rows"


def carried_by(config: Config) -> frozenset[str]:
    """The batch formats the destination of ``config`` carries, read from its class (nothing is
    opened); every format when intake.url is unset or not one relay speaks (that is said elsewhere)."""
    scheme = scheme_of(config.intake.url or "")
    if scheme not in SCHEMES:
        return frozenset({"csv", "ndjson", "json", "hl7"})
    module, name = SCHEMES[scheme]
    formats: frozenset[str] = getattr(importlib.import_module(module), name).formats
    return formats


def rows_carried(config: Config, formats: frozenset[str]) -> bool:
    return config.intake.format != HL7 and config.intake.format in formats


def listener_format(config: Config, formats: frozenset[str]) -> str:
    """The intake format the local listener takes bodies for: "hl7" (rows and JSON refused at the
    door unless translated) when rows could not be sent."""
    return config.intake.format if rows_carried(config, formats) else HL7


def watch_kinds(watch: WatchConfig, config: Config) -> set[str]:
    """What a watched folder produces."""
    return format_kinds(watch.format, config)


def format_kinds(file_format: str, config: Config) -> set[str]:
    """What files read as ``file_format`` (auto | csv | hl7) produce."""
    kinds: set[str] = set()
    if file_format in (HL7, "auto"):
        kinds.add(HL7)
    if file_format != HL7:
        kinds.add(HL7 if config.translate.enabled else ROWS)
    return kinds


def sources_of(config: Config) -> list[str]:
    """Every source of items, named as a person finds it in the configuration."""
    named = [f"watched folder {watch.folder}" for watch in config.watches]
    listener = config.listener
    if listener is not None and listener.enabled:
        named.append(f"the local listener ({listener.host}:{listener.port})")
    mllp = getattr(config, "mllp", None)
    if mllp is not None and getattr(mllp, "enabled", False):
        named.append("the MLLP listener")
    return named


def _refusal(config: Config, formats: frozenset[str], whose: str, refuses: str = "refuses to start") -> ConfigError:
    scheme = scheme_of(config.intake.url or "")
    carried = ", ".join(sorted(formats))
    if HL7 in formats and not rows_carried(config, formats):
        fix = ("Add [translate] with to = \"hl7-elr-2.5.1\" to send each CSV row as an HL7 ELR message, or set "
               "format = \"hl7\" on a folder that only ever holds HL7 files")
        if config.intake.format != HL7 and config.intake.format not in formats:
            what = f"intake.url is an {scheme}:// address, which carries HL7 v2 messages only"
        else:
            what = "intake.format is \"hl7\", so the intake takes HL7 v2 messages only"
    else:
        what = f"intake.url is an {scheme}:// address, which carries {carried} batches only"
        fix = f"Set intake.format to one of {carried}, or send to an address that takes this format"
    return ConfigError(
        f"{config.source or 'the configuration'}: {what}, but {whose} and translation is off "
        f"(intake.format is {config.intake.format!r}): relay {refuses} rather than keep results it could "
        f"never send. {fix}.")


def check_formats(config: Config, destination: Destination | None = None) -> None:
    """A ConfigError naming the sources whose items the destination (``destination``, else the one
    intake.url names) cannot carry."""
    formats = destination.formats if destination is not None else carried_by(config)
    if rows_carried(config, formats):
        if HL7 in formats or not (config.mllp.enabled or any(HL7 in watch_kinds(w, config) for w in config.watches)):
            return
    blocked = [f"watched folder {w.folder}" for w in config.watches if ROWS in watch_kinds(w, config)
               and not rows_carried(config, formats)]
    if blocked:
        takes = " takes" if len(blocked) == 1 else " take"
        raise _refusal(config, formats, "; ".join(blocked) + takes + " CSV files")
    if HL7 not in formats:  # no destination of relay's is like this today; said plainly all the same
        hl7_sources = [f"watched folder {w.folder}" for w in config.watches if HL7 in watch_kinds(w, config)]
        hl7_sources += ["the MLLP listener"] if config.mllp.enabled else []
        raise ConfigError(f"{config.source or 'the configuration'}: intake.url carries {', '.join(sorted(formats))} "
                          f"batches only, but {'; '.join(hl7_sources)} gives HL7 v2 messages: relay refuses to "
                          "start rather than keep results it could never send.")


def check_ingest(config: Config, path: Path) -> None:
    """`relay ingest`: the same refusal for a file that would be kept as rows nobody can send."""
    watch = config.watch_for(path)
    file_format = watch.format if watch is not None else "auto"
    if ROWS not in format_kinds(file_format, config) or rows_carried(config, carried_by(config)):
        return
    if file_format == "auto" and _looks_like_hl7(path):
        return
    raise _refusal(config, carried_by(config), f"{path.name} would be read as CSV rows",
                   refuses="stores nothing of it")


def _looks_like_hl7(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(16).lstrip(b"\xef\xbb\xbf\x0b\r\n \t")
    except OSError:
        return False
    return head[:3] in (b"MSH", b"FHS", b"BHS")
