"""The elements of a file holding one JSON array (an LRS export), streamed: memory stays flat
whatever the file size, and each element comes with the line it starts on.

Only the array's structure is scanned here (strings, escapes, nesting); each element's text is
then parsed by the caller as any other JSON record, so a malformed element costs that element
alone. Text after the array's end, or an array that is never closed, is reported as an element
that is not valid JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

CHUNK_BYTES = 1 << 16
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_BLANK = frozenset(b" \t\r\n")


@dataclass(frozen=True, slots=True)
class Element:
    line: int
    text: bytes  # the element's JSON text, or what stood where one was expected
    oversized: bool = False  # longer than the limit: ``text`` holds its beginning only


def starts_with_array(stream: IO[bytes]) -> bool:
    """Whether the first non-blank byte is ``[`` (the stream is left where it was)."""
    start = stream.tell()
    try:
        while chunk := stream.read(4096):
            stripped = chunk.lstrip()
            if stripped:
                return stripped[:1] == b"["
        return False
    finally:
        stream.seek(start)


def array_elements(stream: IO[bytes], max_bytes: int) -> Iterator[Element]:
    """Each element of the array ``stream`` holds, in order."""
    scanner = _Scanner(max_bytes)
    while chunk := stream.read(CHUNK_BYTES):
        yield from scanner.feed(chunk)
    yield from scanner.finish()


class _Scanner:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.line = 1
        self.started = False  # the opening bracket was read
        self.ended = False  # the closing bracket was read
        self.depth = 0  # nesting inside the current element
        self.in_string = False
        self.escaped = False
        self.element = bytearray()
        self.element_line = 1
        self.oversized = False
        self.trailing = bytearray()

    def feed(self, chunk: bytes) -> Iterator[Element]:
        for byte in chunk:
            if byte == 0x0A:
                self.line += 1
            if self.ended or not self.started:
                self._outside(byte)
            elif self.in_string:
                self._in_string(byte)
            elif self.depth == 0 and byte in (ord(","), ord("]")):
                yield from self._separator(byte)
            elif self.element or byte not in _BLANK:
                self._in_element(byte)

    def _outside(self, byte: int) -> None:
        if byte in _BLANK:
            return
        if not self.started and byte == ord("["):
            self.started = True
        elif len(self.trailing) < 200:
            self.trailing.append(byte)

    def _in_string(self, byte: int) -> None:
        self._add(byte)
        if self.escaped:
            self.escaped = False
        elif byte == ord("\\"):
            self.escaped = True
        elif byte == ord('"'):
            self.in_string = False

    def _separator(self, byte: int) -> Iterator[Element]:
        element = self._take()
        if element is not None or byte == ord(","):
            yield element or Element(self.line, b"")
        if byte == ord("]"):
            self.ended = True

    def _in_element(self, byte: int) -> None:
        if not self.element:
            self.element_line = self.line
        if byte == ord('"'):
            self.in_string = True
        elif byte in _OPEN:
            self.depth += 1
        elif byte in _CLOSE:
            self.depth -= 1
        self._add(byte)

    def finish(self) -> Iterator[Element]:
        if self.started and not self.ended:
            element = self._take()
            yield element or Element(self.line, b"")  # an array never closed: not valid JSON
        if self.trailing or not self.started:
            yield Element(self.line, bytes(self.trailing[:200]))

    def _add(self, byte: int) -> None:
        if len(self.element) < self.max_bytes:
            self.element.append(byte)
        else:
            self.oversized = True

    def _take(self) -> Element | None:
        if not self.element and not self.oversized:
            return None
        element = Element(self.element_line, bytes(self.element), self.oversized)
        self.element.clear()
        self.oversized = False
        self.depth = 0
        return element
