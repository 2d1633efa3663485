"""A small streaming PDF writer.

reportlab keeps every page of a document in memory until ``save()``; a print run of
5,000 booklets would sit in RAM and nothing would reach the disk before the end.  This
writer sends each object to the output as soon as it is made and remembers only the
byte offsets (for the cross-reference table) and the page object numbers.  Objects
that depend on the whole run (fonts, the resource dictionary, the page tree) get their
numbers reserved up front and are written at the end.

The output is deterministic: no timestamps, and the trailer /ID is a digest of the
bytes written.
"""

from __future__ import annotations

import hashlib
import zlib
from array import array
from collections.abc import Iterable, Sequence
from typing import BinaryIO

from .geometry import Rect

PAGES_PER_LEAF = 64  # page tree fan-out; keeps every /Kids array short


def num(value: float) -> str:
    """A number as PDF wants it: no exponent, at most 3 decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def box(rect: Rect) -> str:
    return f"[{num(rect.x)} {num(rect.y)} {num(rect.right)} {num(rect.top)}]"


def text_string(text: str) -> str:
    """A PDF text string (document info, not page content): UTF-16BE with BOM, in hex."""
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


def refs(numbers: Iterable[int]) -> str:
    return "[" + " ".join(f"{n} 0 R" for n in numbers) + "]"


class PdfWriter:
    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._offsets = array("q", [0])  # by object number; -1: reserved, not yet written
        self._next = 1
        self._pos = 0
        self._digest = hashlib.sha256()
        self._write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

    @property
    def bytes_written(self) -> int:
        return self._pos

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._digest.update(data)
        self._pos += len(data)

    def reserve(self) -> int:
        number = self._next
        self._next += 1
        self._offsets.append(-1)
        return number

    def _start(self, number: int | None) -> int:
        number = self.reserve() if number is None else number
        if self._offsets[number] != -1:
            raise RuntimeError(f"PDF object {number} written twice")
        self._offsets[number] = self._pos
        return number

    def write_object(self, number: int | None, body: str) -> int:
        number = self._start(number)
        self._write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
        return number

    def write_stream(
        self,
        number: int | None,
        entries: str,
        data: bytes,
        *,
        compress: bool = True,
        compressed: bool = False,
    ) -> int:
        """A stream object. ``compressed`` means ``data`` is already Flate-encoded."""
        if compress and not compressed:
            data = zlib.compress(data, 6)
            compressed = True
        number = self._start(number)
        flate = " /Filter /FlateDecode" if compressed else ""
        head = f"{number} 0 obj\n<<{entries}{flate} /Length {len(data)}>>\nstream\n"
        self._write(head.encode("latin-1"))
        self._write(data)
        self._write(b"\nendstream\nendobj\n")
        return number

    def close(self, root: int, info: int | None = None) -> None:
        missing = [n for n in range(1, self._next) if self._offsets[n] == -1]
        if missing:
            raise RuntimeError(f"PDF objects reserved but never written: {missing[:10]}")
        xref = self._pos
        lines = [f"xref\n0 {self._next}\n", "0000000000 65535 f \n"]
        lines.extend(f"{self._offsets[n]:010d} 00000 n \n" for n in range(1, self._next))
        self._write("".join(lines).encode("ascii"))
        doc_id = self._digest.hexdigest()[:32].upper()
        info_entry = f" /Info {info} 0 R" if info is not None else ""
        self._write(
            (
                f"trailer\n<< /Size {self._next} /Root {root} 0 R{info_entry}"
                f" /ID [<{doc_id}> <{doc_id}>] >>\nstartxref\n{xref}\n%%EOF\n"
            ).encode("ascii")
        )
        self._out.flush()


class PageTree:
    """Pages go out one by one; their parents (leaves of ``PAGES_PER_LEAF``) at the end."""

    def __init__(self, pdf: PdfWriter) -> None:
        self._pdf = pdf
        self.root = pdf.reserve()
        self._leaves: list[tuple[int, list[int]]] = []
        self.count = 0

    def add(self, content: bytes, page_entries: str, *, compressed: bool) -> int:
        if not self._leaves or len(self._leaves[-1][1]) == PAGES_PER_LEAF:
            self._leaves.append((self._pdf.reserve(), []))
        leaf, kids = self._leaves[-1]
        contents = self._pdf.write_stream(None, "", content, compressed=compressed)
        page = self._pdf.write_object(
            None,
            f"<< /Type /Page /Parent {leaf} 0 R {page_entries} /Contents {contents} 0 R >>",
        )
        kids.append(page)
        self.count += 1
        return page

    def close(self) -> None:
        for leaf, kids in self._leaves:
            self._pdf.write_object(
                leaf,
                f"<< /Type /Pages /Parent {self.root} 0 R /Kids {refs(kids)} /Count {len(kids)} >>",
            )
        leaves: Sequence[int] = [leaf for leaf, _ in self._leaves]
        self._pdf.write_object(
            self.root, f"<< /Type /Pages /Kids {refs(leaves)} /Count {self.count} >>"
        )
