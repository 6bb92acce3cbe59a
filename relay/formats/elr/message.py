"""One CSV row -> one HL7 v2.5.1 ORU^R01 ELR message (MSH, SFT, PID, ORC, OBR, OBX..., SPM).

The layout follows the HL7 v2.5.1 ELR implementation guide (PHLabReport-NoAck profile) the way
SimpleReport's public converter fills it for the same CSV columns: one order (ORC + OBR) for the
ordered test, the result OBX first, then one OBX per ask-at-order-entry answer, then the specimen.
Segments are separated by CR. ``ElrTranslator`` is made once per header; ``translate`` is called
per row and raises ``NotTranslatable`` with a reason for lab staff when the row cannot become a
valid message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from relay import __version__
from relay.formats.elr import codes, facts
from relay.formats.elr.columns import Columns, RowView
from relay.formats.elr.hl7text import (
    ENCODING_CHARACTERS,
    IS_LIMIT,
    Moment,
    NotTranslatable,
    components,
    dtm,
    escape,
    segment,
    shortened,
    subcomponents,
)

PROFILE = "PHLabReport-NoAck^phLabResultsELRv251^2.16.840.1.113883.9.11^ISO"
MESSAGE_TYPE = "ORU^R01^ORU_R01"
VERSION = "2.5.1"
SEGMENT_SEP = "\r"
# An HD written as in the config: up to three components, none holding a separator of its own.
HD_TEXT = re.compile(r"[^|^~\\&]*(\^[^|^~\\&]*){0,2}")
CONTROL_ID_LIMIT = 199
MEMO_LIMIT = 4096  # entries kept per kind of cached value
LAB_FACTS = ("lab_name", "lab_clia", "lab_street", "lab_street2", "lab_city", "lab_state", "lab_zip", "lab_county",
             "lab_phone")
PROVIDER_FACTS = ("prov_id", "prov_last", "prov_first", "prov_middle", "prov_suffix", "prov_phone")
PROVIDER_ADDRESS = ("prov_street", "prov_street2", "prov_city", "prov_state", "prov_zip", "prov_county")
FACILITY_FACTS = (*LAB_FACTS, "prov_phone", "fac_name", "fac_street", "fac_street2", "fac_city", "fac_state",
                  "fac_zip", "fac_county", "fac_phone", "fac_email")
ANSWER_FACTS = ("employed", "first_test", "symptomatic", "congregate", "hospitalized", "icu", "pregnant", "onset")
T = TypeVar("T")
_MISSING = object()


@dataclass(frozen=True)
class ElrSettings:
    """The ``[translate]`` settings a message is made with (see docs/interface.md §10)."""

    sending_application: str = "relay"
    sending_facility: str | None = None  # None: the row's testing lab name ^ CLIA ^ CLIA
    receiving_application: str = "APHL^2.16.840.1.113883.3.8589^ISO"
    receiving_facility: str = "APHL^2.16.840.1.113883.3.8589^ISO"
    processing_id: str = "P"
    timezone: str | None = None  # IANA name for dates written without an offset; None: this machine's

    def __post_init__(self) -> None:
        for key in ("sending_application", "sending_facility", "receiving_application", "receiving_facility"):
            value = getattr(self, key)
            if value is not None and not HD_TEXT.fullmatch(value):
                raise ValueError(f"translate.{key} {value!r} must be namespace^universal id^type, "
                                 "without | ~ \\ or &")
            if value is not None and len(value.split("^")[0]) > IS_LIMIT:
                raise ValueError(f"translate.{key}: the namespace (before the first ^) may have at most "
                                 f"{IS_LIMIT} characters")
        if self.processing_id not in ("P", "T", "D"):
            raise ValueError(f"translate.processing_id {self.processing_id!r} is not one of P, T, D")
        if self.timezone is not None:
            ZoneInfo(self.timezone)  # raises for an unknown zone

    def zone(self) -> tzinfo | None:
        return ZoneInfo(self.timezone) if self.timezone else None


def control_id(tracking_id: str | None, content_hash: str) -> str:
    """MSH-10: the row's tracking id where there is one (and it fits), else from the content hash."""
    if tracking_id and len(tracking_id) <= CONTROL_ID_LIMIT:
        return tracking_id
    return "relay-" + content_hash[:32]


class ElrTranslator:
    """Rows under one header -> ELR messages."""

    def __init__(self, header: Sequence[str], settings: ElrSettings | None = None) -> None:
        self.settings = settings or ElrSettings()
        self.columns = Columns(header)
        self._zone = self.settings.zone()
        app = self.settings.sending_application.split("^")
        self._assigner = (app + ["", "", ""])[:3]  # who assigns order and specimen ids: relay's MSH-3
        self._sft = segment("SFT", ["relay", __version__, "relay", __version__])
        self._msh_tail = "|".join((self.settings.processing_id, VERSION, "", "", "NE", "NE", "USA", "UNICODE UTF-8",
                                   "", "", PROFILE))
        # The rows of one file mostly share their lab, provider, facility, dates and time of ingest:
        # what is made from those values is kept (bounded), so a row costs little more than its patient.
        self._memo: dict[tuple[str, ...], Any] = {}
        self._moments: dict[str, tuple[Moment, str]] = {}
        self._made: tuple[float, str] = (-1.0, "")

    def cached(self, key: tuple[str, ...], make: Callable[[], T]) -> T:
        found = self._memo.get(key, _MISSING)
        if found is _MISSING:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            found = self._memo[key] = make()
        return cast(T, found)

    def translate(self, values: Sequence[str], *, tracking_id: str | None, content_hash: str, now: float) -> str:
        """The message for one row (values in header order), made at ``now`` (epoch seconds)."""
        row = self.columns.view(values)
        if self._made[0] != now:
            made = datetime.fromtimestamp(now, self._zone) if self._zone else datetime.fromtimestamp(now).astimezone()
            self._made = (now, dtm(made))
        if len(self._moments) >= MEMO_LIMIT:
            self._moments.clear()
        o = _Row(row, control_id(tracking_id, content_hash), self)
        return SEGMENT_SEP.join([
            self._msh(o, self._made[1]),
            self._sft,
            self._pid(o),
            self._orc(o),
            self._obr(o),
            self._result(o),
            *self._answers(o),
            self._spm(o),
        ])

    # -- segments (field lists start at field 1; MSH's at MSH-2) ---------------------------------

    def _msh(self, o: _Row, made: str) -> str:
        s = self.settings
        facility = s.sending_facility if s.sending_facility is not None else o.lab.facility
        head = "|".join(("MSH", ENCODING_CHARACTERS, s.sending_application, facility, s.receiving_application,
                         s.receiving_facility))
        # MSH-7 and MSH-10 change from row to row; the rest is the same for all of them.
        return f"{head}|{made}||{MESSAGE_TYPE}|{escape(o.ids)}|{self._msh_tail}"

    def _ei(self, ids: str, sep: str = "^") -> str:
        """EI: the id, assigned by relay's sending application (MSH-3)."""
        ns, oid, kind = self._assigner
        return sep.join((escape(ids), ns, oid, kind)).rstrip(sep)

    def _pid(self, o: _Row) -> str:
        row = o.row
        if row["patient_id"]:
            identifier = components(facts.text(row, "patient_id", facts.IDENTIFIER), "", "",
                                    subcomponents("", o.lab.clia, "CLIA"), "PT")
        else:
            identifier = components(escape(o.ids), "", "", subcomponents(*self._assigner), "PI")
        facts.required(row, "last", "the patient's last name")
        name = components(*facts.person_name(row, "last", "first", "middle", "suffix"), "", "", "L")
        dob = o.dates.get("dob")
        if isinstance(dob, datetime):
            dob = dob.date()
        collected = o.collected.date() if isinstance(o.collected, datetime) else o.collected
        if dob is not None and dob > collected:
            raise NotTranslatable(f"{row.name('dob')} {row['dob']!r} is after the specimen was collected")
        fields = [
            "1", "", identifier, "", name, "", dtm(dob) if dob is not None else "", facts.sex(row), "",
            facts.race(row), facts.address(row, "", facts.country(row)), "",
            facts.repeat(facts.phone(facts.phone_digits(row, "phone"), "PRN"), facts.email(row, "email")),
            "", "", "", "", "", "", "", "", facts.ethnicity(row),
        ]
        if row["tribal"]:
            fields += [""] * 16 + ["^" * 8 + facts.text(row, "tribal", facts.TEXT)]  # PID-39, CWE-9 original text
        return segment("PID", fields)

    def _orc(self, o: _Row) -> str:
        row = o.row
        facility = self.cached(("facility", *[row[f] for f in FACILITY_FACTS]), lambda: self._facility(o))
        provider_address = self.cached(("provider address", *[row[f] for f in PROVIDER_ADDRESS]),
                                       lambda: facts.address(row, "prov_"))
        return segment("ORC", [
            "RE", "", self._ei(o.ids), "", "", "", "", "", "", "", "", o.provider, "",
            facts.phone(o.provider_phone, "WPN"), "", "", "", "", "", "", *facility, provider_address,
        ])

    @staticmethod
    def _facility(o: _Row) -> tuple[str, str, str]:
        """ORC-21 to ORC-23: the ordering facility, with the testing lab's values where it has none."""
        row = o.row
        facility_phone = facts.phone_digits(row, "fac_phone") or o.lab.phone or o.provider_phone
        facility_email = facts.email(row, "fac_email")
        if not facility_phone and not facility_email:
            raise NotTranslatable(f"{row.name('fac_phone')} is empty (and so are the testing lab's and the "
                                  "ordering provider's); an HL7 ELR message needs the ordering facility's phone")
        name = "fac_name" if row["fac_name"] else "lab_name"
        where = "fac_" if any(row["fac_" + k] for k in ("street", "city", "state", "zip")) else "lab_"
        return (facts.text(row, name, facts.ORG_NAME), facts.address(row, where),
                facts.repeat(facts.phone(facility_phone, "WPN"), facility_email))

    def _obr(self, o: _Row) -> str:
        return segment("OBR", [
            "1", "", self._ei(o.ids), self._loinc(o.row, "test_ordered", "test_performed"), "", "", o.collected_dtm,
            o.collected_dtm, "", "", "", "", "", "", "", o.provider, facts.phone(o.provider_phone, "WPN"),
            "", "", "", "", o.released_dtm, "", "", o.status,
        ])

    def _result(self, o: _Row) -> str:
        row = o.row
        code, name = facts.coded(row, "result", codes.RESULT_WORDS, codes.RESULT_NAMES, "test result")
        method = components("", facts.text(row, "device", facts.TEXT)) if row["device"] else ""
        return segment("OBX", [
            "1", "CE", self._loinc(row, "test_performed", "test_ordered"), "",
            components(code, escape(name), codes.SNOMED), "", "", codes.ABNORMAL.get(code, ""), "", "", o.status,
            "", "", o.collected_dtm, "", "", method, "", o.tested_dtm, "", "", "", o.lab.xon, o.lab.xad,
        ])

    def _loinc(self, row: RowView, fact: str, fallback: str) -> str:
        return self.cached(("loinc", row[fact], row[fallback]), lambda: facts.loinc(row, fact, fallback))

    def _answers(self, o: _Row) -> list[str]:
        """Ask-at-order-entry answers, one OBX each, after the result (set ids 2, 3, ...). Only
        OBX-14 (the collection time) differs between rows with the same answers and lab."""
        row = o.row
        key = ("answers", *o.lab.key, *[row[fact] for fact in ANSWER_FACTS])
        return [head + o.collected_dtm + tail for head, tail in self.cached(key, lambda: self._make_answers(o))]

    def _make_answers(self, o: _Row) -> list[tuple[str, str]]:
        row = o.row
        answers: list[tuple[tuple[str, str], str, str]] = []
        for question, fact in ((codes.AOE_EMPLOYED_IN_HEALTHCARE, "employed"), (codes.AOE_FIRST_TEST, "first_test"),
                               (codes.AOE_SYMPTOMATIC, "symptomatic"), (codes.AOE_RESIDENT_CONGREGATE, "congregate"),
                               (codes.AOE_HOSPITALIZED, "hospitalized"), (codes.AOE_ICU, "icu")):
            found = facts.yes_no(row, fact)
            if found:
                answers.append((question, "CE", components(*found)))
        pregnant = facts.pregnancy(row)
        if pregnant:
            answers.append((codes.AOE_PREGNANT, "CE", components(*pregnant)))
        onset = o.dates.get("onset")
        if onset is not None:
            answers.append((codes.AOE_SYMPTOM_ONSET, "DT", dtm(onset.date() if isinstance(onset, datetime) else onset)))
        tail = "|" + "|".join(["", "", "", "", "", "", "", "", o.lab.xon, o.lab.xad]).rstrip("|")
        return [
            ("|".join(["OBX", str(n), kind, components(question[0], question[1], codes.LOINC), "", value, "", "", "",
                       "", "", "F", "", "", ""]), tail)
            for n, (question, kind, value) in enumerate(answers, start=2)
        ]

    def _spm(self, o: _Row) -> str:
        row = o.row
        kind = self.cached(("specimen", row["specimen"], row["site"]), lambda: self._specimen(row))
        specimen_id = self._ei(o.ids, "&")
        received = o.dates.get("received_at")
        return segment("SPM", [
            "1", components(specimen_id, specimen_id), "", kind, "", "", "",
            self._site(row), "", "", "", "", "", "", "", "",
            components(o.collected_dtm, o.collected_dtm), dtm(received) if received is not None else o.collected_dtm,
        ])


    @staticmethod
    def _specimen(row: RowView) -> str:
        code, name = facts.coded(row, "specimen", codes.SPECIMEN_WORDS, codes.SPECIMEN_NAMES, "specimen type")
        return components(code, escape(name), codes.SNOMED)

    @staticmethod
    def _site(row: RowView) -> str:
        site, _ = facts.coded(row, "site", {}, {}, "specimen source site", optional=True)
        return components(site, "", codes.SNOMED) if site else ""


class _Row:
    """What several segments of one row's message share, worked out once."""

    __slots__ = ("collected", "collected_dtm", "dates", "ids", "lab", "provider", "provider_phone", "released_dtm",
                 "row", "status", "tested_dtm")

    def __init__(self, row: RowView, ids: str, translator: ElrTranslator) -> None:
        self.row = row
        self.ids = ids
        self.dates = dates = facts.Dates(row, translator._zone, translator._moments)
        lab_key = ("lab", *[row[f] for f in LAB_FACTS])
        self.lab = translator.cached(lab_key, lambda: _Lab(row, lab_key))
        fact = "collected" if row["collected"] else "ordered_at"
        collected = dates.get(fact)
        if collected is None:
            raise NotTranslatable(f"{row.name('collected')} is empty; an HL7 ELR message needs the date the "
                                  "specimen was collected")
        self.collected = collected
        self.collected_dtm = dates.dtm(fact)
        self.tested_dtm = dates.dtm("tested_at") or self.collected_dtm
        self.released_dtm = dates.dtm("released_at") or self.tested_dtm
        self.status = facts.status(row)
        self.provider, self.provider_phone = translator.cached(
            ("provider", *[row[f] for f in PROVIDER_FACTS]),
            lambda: (facts.provider(row), facts.phone_digits(row, "prov_phone")))


class _Lab:
    """The performing (testing) lab: OBX-23/24, MSH-4 by default, the patient id's assigner."""

    __slots__ = ("clia", "facility", "key", "phone", "xad", "xon")

    def __init__(self, row: RowView, key: tuple[str, ...]) -> None:
        self.key = key
        name = facts.required(row, "lab_name", "the testing lab's name")
        self.clia = facts.clia(row)
        escaped = facts.text(row, "lab_name", facts.ORG_NAME)
        # XON: name ^ L (legal name) ^^^^ CLIA&OID&ISO (assigning authority) ^ XX ^^^ CLIA number
        self.xon = components(escaped, "L", "", "", "", subcomponents("CLIA", codes.CLIA_OID, "ISO"), "XX", "", "",
                              self.clia)
        self.facility = components(shortened(name, IS_LIMIT), self.clia, "CLIA")  # MSH-4 by default
        self.xad = facts.address(row, "lab_")
        self.phone = facts.phone_digits(row, "lab_phone")
