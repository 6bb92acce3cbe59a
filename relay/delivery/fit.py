"""Can the destination carry what the sources give it? Checked once, at start (INTERFACE §9)."""

from __future__ import annotations

from relay.config import Config
from relay.delivery.destinations import Destination, scheme_of
from relay.errors import ConfigError


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


def check_formats(config: Config, destination: Destination) -> None:
    """A ConfigError naming the sources whose items ``destination`` cannot carry."""
    fmt = config.intake.format
    if fmt in destination.formats:
        return
    scheme = scheme_of(config.intake.url or "")
    carried = ", ".join(sorted(destination.formats))
    sources = sources_of(config)
    whose = "; ".join(sources) if sources else "any source"
    raise ConfigError(
        f"{config.source or 'the configuration'}: intake.url is a {scheme}:// address, which carries {carried} "
        f"batches only, but intake.format is {fmt!r}: relay refuses to start rather than keep the results of "
        f"{whose} without ever sending them. Set intake.format to one of {carried} (CSV rows become HL7 only "
        "with [translate]), or send to an address that takes this format.")
