"""The elements of a JSON array body, parsed one at a time straight from its bytes.

A window of decoded text moves along the bytes: the part already read is dropped as the next piece
is decoded, so a large body is never in memory as bytes and whole text at once. Anything that is not
a plain, well-formed array of values (bytes that are not UTF-8, a parse error, trailing data, an empty
array) raises ``NotPlain``: the caller then reads the body whole, for the exact message of a whole read.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Generator
from typing import Any

__all__ = ["PIECE_BYTES", "NotPlain", "elements", "first_byte"]

PIECE_BYTES = 1024 * 1024  # bytes decoded onto the window at a time (more for an element that long)
_NON_SPACE = re.compile(r"[^ \t\r\n]")  # JSON knows only these four spaces
_NON_SPACE_BYTES = re.compile(rb"[^ \t\r\n]")


class NotPlain(Exception):
    """The body is not a plain array of values that parse: read it whole instead."""


def first_byte(data: bytes | bytearray) -> bytes:
    """The first byte that is not JSON whitespace (b"" if there is none), without copying ``data``."""
    found = _NON_SPACE_BYTES.search(data)
    return b"" if found is None else found.group()


class _Window:
    def __init__(self, data: bytes | bytearray) -> None:
        self._view = memoryview(data)
        self._fed = 0
        self._decode = codecs.getincrementaldecoder("utf-8")().decode
        self.text = ""
        self.at = 0

    def grow(self) -> bool:
        """Decode the next piece onto what is left unread; False when every byte is decoded."""
        total = len(self._view)
        if self._fed >= total:
            return False
        step = max(PIECE_BYTES, len(self.text) - self.at)  # doubles the window for a long element
        piece = self._view[self._fed:self._fed + step]
        self._fed += len(piece)
        try:
            new = self._decode(piece, self._fed >= total)
        except UnicodeDecodeError:
            raise NotPlain from None
        finally:
            piece.release()
        self.text = self.text[self.at:] + new
        self.at = 0
        return True

    def next_char(self) -> str:
        """The next character that is not whitespace ("" at the end), moved to."""
        while True:
            found = _NON_SPACE.search(self.text, self.at)
            if found is not None:
                self.at = found.start()
                return found.group()
            self.at = len(self.text)
            if not self.grow():
                return ""

    def value(self, decoder: json.JSONDecoder) -> Any:
        while True:
            try:
                value, end = decoder.raw_decode(self.text, self.at)
            except (ValueError, RecursionError):  # cut off by the window's end, or broken
                if self.grow():
                    continue
                raise NotPlain from None
            if end == len(self.text) and self.grow():  # a number may go on in the next piece
                continue
            self.at = end
            return value

    def close(self) -> None:
        self.text = ""
        self._view.release()


def elements(data: bytes | bytearray, decoder: json.JSONDecoder) -> Generator[Any, None, None]:
    """Each element of the array ``data`` holds, parsed with ``decoder`` once the caller asks for it."""
    window = _Window(data)
    try:
        if window.next_char() != "[":
            raise NotPlain
        window.at += 1
        if window.next_char() == "]":
            raise NotPlain  # empty: the whole read says so
        while True:
            yield window.value(decoder)
            mark = window.next_char()
            if mark == ",":
                window.at += 1
                window.next_char()  # raw_decode takes no leading whitespace
                continue
            if mark == "]":
                window.at += 1
                if window.next_char() == "":
                    return
            raise NotPlain
    finally:
        window.close()
