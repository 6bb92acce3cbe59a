"""Translation at ingest (INTERFACE §10): a CSV row and the ``[translate]`` settings -> the HL7 ELR
message sent in its place, or the reason it cannot be one.

The seam is ``RowTranslation``: made once per file header, called once per row inside the file's
transaction. The row stays the item's content (its hash, duplicates and the window are unchanged);
the message is its wire form. MSH-7 is the time of ingest, so a retry sends the same bytes.
Also the start-up check: an HL7-only intake with CSV sources and translation off is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from relay.config import Config, TranslateConfig
from relay.errors import ConfigError
from relay.formats.elr import ElrSettings, ElrTranslator, NotTranslatable
from relay.formats.json_reader import BodyRejected
from relay.hashing import decode_values
from relay.store.models import NewItem

ITEM_KIND = "hl7"  # a translated row goes out as an HL7 item, in HL7 batches


def elr_settings(config: TranslateConfig) -> ElrSettings:
    return ElrSettings(
        sending_application=config.sending_application, sending_facility=config.sending_facility,
        receiving_application=config.receiving_application, receiving_facility=config.receiving_facility,
        processing_id=config.processing_id, timezone=config.timezone,
    )


@dataclass(frozen=True, slots=True)
class Refused:
    """A row that cannot become a valid message: ``reason`` in plain words, for rejected-rows.csv."""

    reason: str


class RowTranslation:
    """Rows under one header -> their messages (``str``) or ``Refused``."""

    def __init__(self, header: Sequence[str], config: TranslateConfig) -> None:
        self._translator = ElrTranslator(header, elr_settings(config))

    def __call__(self, values: Sequence[str], *, tracking_id: str | None, content_hash: str,
                 now: float) -> str | Refused:
        try:
            return self._translator.translate(values, tracking_id=tracking_id, content_hash=content_hash, now=now)
        except NotTranslatable as exc:
            return Refused(f"cannot become an HL7 ELR message: {exc.reason}")


def translation_for(config: TranslateConfig | None, header: Sequence[str]) -> RowTranslation | None:
    """The translation of a CSV file's rows, or None when translation is off."""
    if config is None or not config.enabled:
        return None
    return RowTranslation(header, config)


def check_translation(config: Config) -> None:
    """A ConfigError when the intake takes HL7 only, CSV comes in, and translation is off."""
    if config.intake.format != "hl7" or config.translate.enabled:
        return
    csv_sources = [f"watched folder {watch.folder}" for watch in config.watches
                   if getattr(watch, "format", "auto") != "hl7"]
    if not csv_sources:
        return
    raise ConfigError(
        f"{config.source or 'the configuration'}: intake.format is \"hl7\", so the intake takes HL7 v2 messages "
        f"only, but {'; '.join(csv_sources)} takes CSV files and translation is off. relay refuses to start "
        "rather than keep results it could never send. Add [translate] with to = \"hl7-elr-2.5.1\" to send each "
        "CSV row as an HL7 ELR message, or set format = \"hl7\" on the folder if it only ever holds HL7 files."
    )


def translate_items(items: list[NewItem], config: TranslateConfig | None, intake_format: str,
                    now: float) -> list[NewItem]:
    """Items of a request body as they are to be stored: with translation on, each row (a CSV row or a
    flat JSON record) carries its ELR message; with an HL7-only intake, anything that cannot go as HL7
    refuses the body (BodyRejected, nothing stored)."""
    on = config is not None and config.enabled
    if not on and intake_format != "hl7":
        return items
    out: list[NewItem] = []
    problems: list[str] = []
    translations: dict[tuple[str, ...], RowTranslation] = {}
    for n, item in enumerate(items, start=1):
        where = f"line {item.line}" if item.line else f"item {n}"
        if item.kind == ITEM_KIND:
            out.append(item)
            continue
        if not on or item.columns is None:
            problems.append(f"{where}: relay sends HL7 v2 only (intake.format is \"hl7\") and "
                            + ("translation is off" if not on else "a JSON document that is not a flat record "
                               "cannot become an HL7 message"))
            continue
        assert config is not None
        translation = translations.get(item.columns)
        if translation is None:
            translation = translations[item.columns] = RowTranslation(item.columns, config)
        made = translation(decode_values(item.payload), tracking_id=item.tracking_id,
                           content_hash=item.content_hash, now=now)
        if isinstance(made, Refused):
            problems.append(f"{where}: {made.reason}")
        else:
            out.append(replace(item, kind=ITEM_KIND, wire=made))
    if problems:
        shown = "; ".join(problems[:10]) + ("; ..." if len(problems) > 10 else "")
        count = "1 result" if len(problems) == 1 else f"{len(problems):,} results"
        raise BodyRejected(f"{count} could not be used, so nothing was stored: {shown}")
    return out
