"""Properties over generated input: garbage never breaks the reader; written CSV reads back."""

from __future__ import annotations

import contextlib
import csv
import io

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from relay.formats.csv_reader import CsvFile, FileRejected, Row, RowReject, parse_csv_bytes

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _drain(file: CsvFile) -> tuple[list[Row | RowReject], FileRejected | None]:
    """All items, and the FileRejected that ended iteration if any; anything else propagates."""
    items: list[Row | RowReject] = []
    try:
        for item in file:
            items.append(item)
    except FileRejected as exc:
        return items, exc
    return items, None


def _check_invariants(
    file: CsvFile, items: list[Row | RowReject], end: FileRejected | None
) -> None:
    lines = [item.line for item in items]
    assert lines == sorted(set(lines)) and all(line >= 2 for line in lines)
    rows = [i for i in items if isinstance(i, Row)]
    assert (file.rows_ok, file.rows_rejected) == (len(rows), len(items) - len(rows))
    assert all(len(r.values) == len(file.header) for r in rows)
    assert all(i.reason.startswith(f"line {i.line}: ") for i in items if isinstance(i, RowReject))
    assert (end is not None) == (not rows)
    assert file.encoding in ("utf-8", "utf-8-sig", "cp1252") and file.delimiter in ",;\t"


def _read(data: bytes) -> None:
    try:
        file = parse_csv_bytes(data)
    except FileRejected as exc:
        assert exc.reason and exc.reason.endswith(".")
        return
    items, end = _drain(file)
    _check_invariants(file, items, end)


@SETTINGS
@given(st.binary(max_size=3000))
def test_random_bytes_only_ever_raise_file_rejected(data):
    _read(data)


CSVISH = st.text(alphabet='ab ,;\t"\r\né\x81', max_size=400)


@SETTINGS
@given(CSVISH, st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))
def test_csv_like_garbage_only_ever_raises_file_rejected(text, encoding):
    _read(text.encode(encoding))


def _oracle(text: str, delimiter: str) -> list[list[str]] | None:
    """The stdlib's own strict reading of the text, or None where it finds the text malformed."""
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error:
        return None


@SETTINGS
@given(
    st.sampled_from(
        [("a,b", ","), ("a;b;c", ";"), ("a\tb", "\t"), ('"a,x";b', ";"), (" a , b ,", ",")]
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.text(alphabet='ab ,;\t"\r\né', max_size=300),
)
def test_well_formed_input_reads_exactly_as_the_csv_module_does(header, newline, body):
    header_line, delimiter = header
    text = header_line + newline + body
    records = _oracle(text, delimiter)
    assume(records is not None)  # the strict stdlib reader finds it well formed
    assert records is not None
    file = parse_csv_bytes(text.encode())
    assert file.delimiter == delimiter
    items, _ = _drain(file)
    while not "".join(records[0]).strip():
        records.pop(0)
    width = len(file.header)
    assert file.header == tuple(name.strip() for name in records[0][:width])
    expected: list[tuple[str, tuple[str, ...]]] = []
    for record in records[1:]:
        if not "".join(record).strip():
            continue
        if len(record) == width or (len(record) > width and not "".join(record[width:]).strip()):
            expected.append(("row", tuple(record[:width])))
        else:
            expected.append(("reject", tuple(record)))
    got = [("row", i.values) if isinstance(i, Row) else ("reject", i.fields) for i in items]
    assert got == expected


NAMES = st.lists(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,12}", fullmatch=True),
    min_size=2,
    max_size=8,
    unique=True,
)
VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from('\r\n\t",; '),
    max_size=30,
)


@SETTINGS
@given(
    NAMES.flatmap(
        lambda names: st.tuples(
            st.just(names),
            st.lists(st.lists(VALUES, min_size=len(names), max_size=len(names)), max_size=12),
        )
    ),
    st.sampled_from([",", ";", "\t"]),
    st.sampled_from(["\r\n", "\n"]),
    st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
)
def test_what_csv_writer_writes_reads_back_the_same(table, delimiter, newline, encoding):
    names, rows = table
    if newline == "\n":
        # csv.writer does not quote a lone CR when the line ending is LF; no reader could tell.
        assume(not any("\r" in v for row in rows for v in row))
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(names)
    writer.writerows(rows)
    text = out.getvalue()
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        assume(False)
        return
    if encoding == "cp1252":
        with contextlib.suppress(UnicodeDecodeError):
            assume(data.decode("utf-8") == text)  # some cp1252 bytes happen to be valid UTF-8
    file = parse_csv_bytes(data)
    assert file.header == tuple(names) and file.delimiter == delimiter
    items, end = _drain(file)
    expected = [tuple(row) for row in rows if "".join(row).strip()]
    assert [i.values for i in items if isinstance(i, Row)] == expected
    assert not any(isinstance(i, RowReject) for i in items)
    assert (end is not None) == (not expected)
