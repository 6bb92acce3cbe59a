"""The first pass over a text file's raw bytes: hash, size, encoding, and "is this text at all?".

The pass streams the bytes once in fixed-size chunks, so memory does not grow with the file. The
second pass (``Text``) decodes the same bytes as a text stream and re-hashes them as they go
by, so a file that changed in between is noticed instead of half-read.
"""

from __future__ import annotations

import codecs
import hashlib
import io
from dataclasses import dataclass
from typing import BinaryIO

from relay.formats.file_errors import FileChanged, FileRejected

CHUNK_BYTES = 1 << 20
UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

# Control bytes that do not occur in text (tab, LF, CR are text; NUL is caught on its own).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 13)) + b"\x7f"
_SNIFF_BYTES = 1024
_MAX_CONTROL_SHARE = 0.05

# Signatures of files people drop by mistake: xlsx/docx/zip, old .xls/.doc, PDF, images, gzip.
_SIGNATURES = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    b"%PDF-",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"\x1f\x8b",
)

BINARY_REASON = (
    "This looks like a binary file (for example a spreadsheet saved as .xlsx), not a CSV export."
)
UTF16_REASON = (
    'The file is saved as UTF-16 (Excel\'s "Unicode Text"); save it as "CSV UTF-8" instead.'
)
EMPTY_REASON = "The file is empty."
CHANGED_REASON = (
    "The file changed while it was being read; it will be read again once it is complete."
)

# Windows-1252 leaves five bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) undefined. Real exports still
# contain them now and then; decode them as Latin-1 so nothing is lost and nothing raises.
LATIN1_FALLBACK = "relay.latin1-fallback"


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        return exc.object[exc.start : exc.end].decode("latin-1"), exc.end
    raise exc


codecs.register_error(LATIN1_FALLBACK, _latin1_fallback)


@dataclass(frozen=True, slots=True)
class Probe:
    """What the first pass learned about the bytes."""

    file_hash: str  # sha256 hex of all the bytes
    size: int
    encoding: str  # "utf-8", "utf-8-sig" or "cp1252"
    skip: int  # bytes to skip before decoding (a UTF-8 BOM in front of Windows-1252 text)


def _looks_binary(head: bytes) -> bool:
    if head.startswith(_SIGNATURES):
        return True
    # A trailing Ctrl-Z is the end-of-file mark of old DOS tools, not binary content.
    sample = head[:_SNIFF_BYTES].rstrip(b"\x1a")
    if not sample:
        return False
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls / len(sample) > _MAX_CONTROL_SHARE


def probe(stream: BinaryIO) -> Probe:
    """Read ``stream`` to its end once; raise FileRejected if it is empty or not text."""
    digest = hashlib.sha256()
    size = 0
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    utf8 = True
    has_text = False
    bom = False
    first = True
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
        if first:
            first = False
            if chunk.startswith(_UTF16_BOMS):
                raise FileRejected(UTF16_REASON)
            bom = chunk.startswith(UTF8_BOM)
            body = chunk[len(UTF8_BOM) :] if bom else chunk
            if _looks_binary(body):
                raise FileRejected(BINARY_REASON)
        else:
            body = chunk
        if b"\x00" in chunk:
            raise FileRejected(BINARY_REASON)
        if not has_text:
            has_text = bool(body.strip())
        if utf8:
            try:
                decoder.decode(chunk, False)
            except UnicodeDecodeError:
                utf8 = False
    if not has_text:
        raise FileRejected(EMPTY_REASON)
    if utf8:
        try:
            decoder.decode(b"", True)
        except UnicodeDecodeError:
            utf8 = False
    if utf8:
        encoding = "utf-8-sig" if bom else "utf-8"
        skip = 0
    else:
        encoding = "cp1252"
        skip = len(UTF8_BOM) if bom else 0
    return Probe(digest.hexdigest(), size, encoding, skip)


class _HashingReader(io.RawIOBase):
    """Passes bytes through and hashes them, so the second pass can prove it saw the same file."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        n: int = self._inner.readinto(view)  # type: ignore[attr-defined]
        self.digest.update(view[:n])
        self.size += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class Text:
    """The second pass: the file decoded as text, lines split on CR, LF or CRLF, kept as read.

    A UnicodeDecodeError from ``stream`` means the bytes are no longer those probed: the caller
    turns it into FileChanged.
    """

    def __init__(self, stream: BinaryIO, found: Probe) -> None:
        self._found = found
        self._raw = _HashingReader(stream)
        buffered = io.BufferedReader(self._raw, buffer_size=1 << 16)
        if found.skip:
            buffered.read(found.skip)
        errors = LATIN1_FALLBACK if found.encoding == "cp1252" else "strict"
        self.stream = io.TextIOWrapper(buffered, encoding=found.encoding, errors=errors, newline="")

    def verify(self) -> None:
        """At the end of the text: raise FileChanged unless exactly the probed bytes were read."""
        if self.stream.read(1):
            raise FileChanged(CHANGED_REASON)
        if (
            self._raw.size != self._found.size
            or self._raw.digest.hexdigest() != self._found.file_hash
        ):
            raise FileChanged(CHANGED_REASON)

    def close(self) -> None:
        self.stream.close()
