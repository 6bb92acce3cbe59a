"""A row's facts checked and put into HL7 form: names, addresses, phones, codes, dates.

Each function takes a ``RowView`` and the fact keys it needs, and returns HL7 text (already escaped)
or raises ``NotTranslatable`` naming the column. Lengths are the conformance lengths of the HL7 v2.5.1
ELR implementation guide for the component the value goes into.
"""

from __future__ import annotations

import re
from datetime import tzinfo

from relay.formats.elr import codes
from relay.formats.elr.columns import RowView
from relay.formats.elr.hl7text import (
    Moment,
    NotTranslatable,
    SPECIAL,
    checked,
    components,
    dtm,
    escape,
    parse_moment,
    subcomponents,
)

# Conformance lengths (ELR 2.5.1 IG) of the components filled from row values.
FAMILY, GIVEN, SUFFIX = 50, 30, 20
STREET, CITY, STATE, ZIP, COUNTY = 120, 50, 50, 12, 50
ORG_NAME, IDENTIFIER, TEXT, EMAIL, CODE = 50, 199, 199, 199, 20

_NON_DIGITS = re.compile(r"[\s().+\-]")
COUNTRY_WORDS = {"us": "USA", "usa": "USA", "united states": "USA", "united states of america": "USA"}


def required(row: RowView, fact: str, what: str) -> str:
    value = row[fact]
    if not value:
        raise NotTranslatable(f"{row.name(fact)} is empty; an HL7 ELR message needs {what}")
    return value


def text(row: RowView, fact: str, limit: int) -> str:
    """The fact's value escaped, after checking it fits ``limit`` characters."""
    value = row[fact]
    if len(value) > limit or SPECIAL.search(value) is not None:
        return checked(value, limit, row.name(fact))  # raises for a value that does not fit, naming the column
    return value


def texts(row: RowView, wanted: tuple[tuple[str, int], ...]) -> list[str]:
    """Several facts' values escaped and length-checked; the common case (nothing to escape, all
    short enough) is checked once for all of them."""
    values = [row[fact] for fact, _ in wanted]
    if SPECIAL.search("".join(values)) is None:
        for value, (_, limit) in zip(values, wanted):
            if len(value) > limit:
                break
        else:
            return values
    return [text(row, fact, limit) for fact, limit in wanted]


_NAMES = {(last, first, middle, suffix): ((last, FAMILY), (first, GIVEN), (middle, GIVEN), (suffix, SUFFIX))
          for last, first, middle, suffix in (("last", "first", "middle", "suffix"),
                                              ("prov_last", "prov_first", "prov_middle", "prov_suffix"))}
_ADDRESSES = {prefix: tuple((prefix + part, limit) for part, limit in (
    ("street", STREET), ("street2", STREET), ("city", CITY), ("state", STATE), ("zip", ZIP), ("county", COUNTY)))
    for prefix in ("", "lab_", "fac_", "prov_")}


def person_name(row: RowView, last: str, first: str, middle: str, suffix: str) -> list[str]:
    """XPN / XCN name parts: family, given, middle, suffix (escaped, length-checked)."""
    return texts(row, _NAMES[(last, first, middle, suffix)])


def address(row: RowView, prefix: str, country: str = "USA") -> str:
    """XAD: street ^ other designation ^ city ^ state ^ zip ^ country ^ ^ county (XAD-8)."""
    street, street2, city, state, zip_code, county = texts(row, _ADDRESSES[prefix])
    return components(street, street2, city, state, zip_code, country, "", county)


def country(row: RowView) -> str:
    value = row["country"]
    if not value:
        return "USA"
    found = COUNTRY_WORDS.get(value.casefold())
    if found:
        return found
    if len(value) == 3 and value.isalpha():
        return value.upper()
    raise NotTranslatable(f"{row.name('country')} {value!r} is not a three-letter country code like USA")


def phone_digits(row: RowView, fact: str) -> str:
    """Ten digits (a leading US country code 1 dropped), or '' when the column is empty."""
    value = row[fact]
    if not value:
        return ""
    digits = _NON_DIGITS.sub("", value)
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10 or not digits.isdigit():
        raise NotTranslatable(f"{row.name(fact)} {value!r} is not a ten-digit phone number")
    return digits


def phone(digits: str, use: str) -> str:
    """XTN: ^use^PH^^^area^local (HL7 tables 0201 and 0202)."""
    return components("", use, "PH", "", "", digits[:3], digits[3:]) if digits else ""


def email(row: RowView, fact: str) -> str:
    return components("", "NET", "Internet", text(row, fact, EMAIL)) if row[fact] else ""


def repeat(*values: str) -> str:
    return "~".join(v for v in values if v)


def clia(row: RowView) -> str:
    value = required(row, "lab_clia", "the testing lab's CLIA number").upper()
    if not codes.CLIA_SHAPE.fullmatch(value):
        raise NotTranslatable(f"{row.name('lab_clia')} {row['lab_clia']!r} is not a CLIA number like 05D1234567")
    return value


def npi(row: RowView) -> str:
    value = row["prov_id"]
    if value and not codes.NPI_SHAPE.fullmatch(value):
        raise NotTranslatable(f"{row.name('prov_id')} {value!r} is not a ten-digit NPI")
    return value


def provider(row: RowView) -> str:
    """XCN: NPI ^ family ^ given ^ middle ^ suffix ^^^ NPI&OID&ISO (assigning authority) ^ L (legal name)
    ^^^ NPI (identifier type)."""
    number = npi(row)
    name = person_name(row, "prov_last", "prov_first", "prov_middle", "prov_suffix")
    if not number:
        return components("", *name)
    return components(number, *name, "", "", "", subcomponents("NPI", codes.NPI_OID, "ISO"), "L",
                      "", "", "NPI")


def loinc(row: RowView, fact: str, fallback: str | None = None) -> str:
    used = fact if row[fact] or fallback is None else fallback
    value = required(row, used, "the LOINC code of the test")
    if not codes.LOINC_SHAPE.fullmatch(value):
        raise NotTranslatable(f"{row.name(used)} {value!r} is not a LOINC code like 94558-4")
    return components(value, escape(codes.LOINC_NAMES.get(value, "")), codes.LOINC)


def coded(row: RowView, fact: str, words: dict[str, str], names: dict[str, str], what: str,
          optional: bool = False) -> tuple[str, str]:
    """A SNOMED CT code given as a code or as a known word: (code, display)."""
    value = row[fact] if optional else required(row, fact, f"the {what}")
    if not value:
        return "", ""
    code = words.get(value.casefold(), value)
    if not codes.SNOMED_SHAPE.fullmatch(code):
        raise NotTranslatable(f"{row.name(fact)} {value!r} is neither a SNOMED CT code nor a known {what}")
    return code, names.get(code, "")


def _coded(row: RowView, fact: str, table: dict[str, str], default: str, expected: str) -> str:
    """A value looked up in ``table`` (case does not matter); ``default`` when the row has none."""
    value = row[fact]
    if not value:
        return default
    found = table.get(value.casefold())
    if found is None:
        raise NotTranslatable(f"{row.name(fact)} {value!r} is not {expected}")
    return found


def sex(row: RowView) -> str:
    return _coded(row, "sex", codes.SEX, "U", "one of M, F, O, A, U, N")


def race(row: RowView) -> str:
    value = row["race"]
    if not value:
        return ""
    if value in codes.RACE_NAMES:
        return components(value, codes.RACE_NAMES[value], codes.HL7_RACE)
    word = value.casefold()
    if word in codes.RACE_WORDS:
        code = codes.RACE_WORDS[word]
        return components(code, codes.RACE_NAMES[code], codes.HL7_RACE)
    null = codes.NULL_WORDS.get(word)
    if null:
        return components(null, codes.NULL_FLAVORS[null], codes.NULL_FLAVOR)
    raise NotTranslatable(f"{row.name('race')} {value!r} is not a CDC race code (like 2106-3) or UNK")


def ethnicity(row: RowView) -> str:
    value = row["ethnicity"]
    code = codes.ETHNICITY_WORDS.get(value.casefold()) if value else "U"
    if code is None:
        raise NotTranslatable(f"{row.name('ethnicity')} {value!r} is not one of H, N, U")
    return components(code, codes.ETHNICITY_NAMES[code], codes.HL7_ETHNIC_GROUP)


def status(row: RowView) -> str:
    return _coded(row, "status", codes.RESULT_STATUS, "F", "a result status (F final, C corrected)")


def yes_no(row: RowView, fact: str) -> tuple[str, str, str] | None:
    """An ask-at-order-entry Y/N/UNK answer: (code, display, code system), or None when empty."""
    value = row[fact]
    if not value:
        return None
    code = codes.YES_NO_WORDS.get(value.casefold())
    if code is None:
        raise NotTranslatable(f"{row.name(fact)} {value!r} is not Y, N or UNK")
    return code, codes.YES_NO_NAMES[code], codes.NULL_FLAVOR if code == "UNK" else codes.HL7_YES_NO


def pregnancy(row: RowView) -> tuple[str, str, str] | None:
    value = row["pregnant"]
    if not value:
        return None
    code = codes.PREGNANCY_WORDS.get(value.casefold(), value)
    if code not in codes.PREGNANCY_NAMES:
        raise NotTranslatable(f"{row.name('pregnant')} {value!r} is not Y, N, U or a SNOMED CT pregnancy code")
    return code, codes.PREGNANCY_NAMES[code], codes.SNOMED


class Dates:
    """The row's dates, read in one zone. Impossible dates (the 30th of February, a year before 1900)
    raise NotTranslatable; dates after the time of ingest are kept (machines' clocks differ).
    ``cache`` (text -> moment and its DTM) is shared by the rows of a file: they repeat their dates."""

    def __init__(self, row: RowView, zone: tzinfo | None, cache: dict[str, tuple[Moment, str]]) -> None:
        self._row = row
        self._zone = zone
        self._cache = cache

    def _read(self, fact: str) -> tuple[Moment, str] | None:
        value = self._row[fact]
        if not value:
            return None
        found = self._cache.get(value)
        if found is None:
            moment = parse_moment(value, self._row.name(fact), self._zone)
            if moment.year < 1900:
                raise NotTranslatable(f"{self._row.name(fact)} {value!r} is before 1900")
            found = self._cache[value] = (moment, dtm(moment))
        return found

    def get(self, fact: str) -> Moment | None:
        found = self._read(fact)
        return found[0] if found else None

    def dtm(self, fact: str) -> str:
        """The fact as HL7 DTM, or '' when the column is empty."""
        found = self._read(fact)
        return found[1] if found else ""
