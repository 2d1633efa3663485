"""Small reportlab helpers shared by statements and reports: the Japanese font, a
table that continues on the next page, and streaming the finished file.

The font is the one the printing module chooses (``printing.fonts.choose_font_path``:
``OFLOCAL_FONT_PATH``, IPAex Gothic where installed), embedded as a subset; without
one, reportlab's built-in CID font HeiseiKakuGo-W5 (not embedded).
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from oflocal.printing.fonts import CID_FONT, choose_font_path

EMBEDDED_NAME = "OflocalGothic"
PAGE_W, PAGE_H = A4
MARGIN = 18 * mm
CHUNK = 64 * 1024

_lock = threading.Lock()
_font: str | None = None


def font_name() -> str:
    """Register the Japanese font once per process and return its reportlab name."""
    global _font
    with _lock:
        if _font is None:
            path = choose_font_path()
            if path is not None:
                from reportlab.pdfbase.ttfonts import TTFont

                pdfmetrics.registerFont(TTFont(EMBEDDED_NAME, path))
                _font = EMBEDDED_NAME
            else:
                from reportlab.pdfbase.cidfonts import UnicodeCIDFont

                pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
                _font = CID_FONT
        return _font


def new_canvas(out: IO[bytes], title: str) -> Canvas:
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(title)
    canvas.setAuthor("oflocal")
    return canvas


def text(canvas: Canvas, x: float, y: float, value: str, size: float = 10,
         align: str = "left") -> None:
    canvas.setFont(font_name(), size)
    if align == "right":
        canvas.drawRightString(x, y, value)
    elif align == "center":
        canvas.drawCentredString(x, y, value)
    else:
        canvas.drawString(x, y, value)


def letter_head(canvas: Canvas, *, title: str, subtitle: str, issued: str, number: str,
                reissued: str | None, addressee: str, addressee_lines: Sequence[str],
                sender_lines: Sequence[str]) -> float:
    """The top of a letter to a workshop (支払通知書, 請求書): the title, 発行日 and number
    on the right, a 再発行 stamp on a reprint, the addressee (御中) on the left and the
    committee on the right. Answers the height below it, for the letter's first line."""
    right = PAGE_W - MARGIN
    y = PAGE_H - MARGIN - 4 * mm
    text(canvas, PAGE_W / 2, y, title, 20, "center")
    text(canvas, PAGE_W / 2, y - 6 * mm, subtitle, 8, "center")
    text(canvas, right, y, f"発行日 {issued}", 9, "right")
    text(canvas, right, y - 5 * mm, f"No. {number}", 9, "right")
    if reissued is not None:
        text(canvas, right, y - 10 * mm, f"再発行 {reissued}", 9, "right")
        canvas.setLineWidth(1.2)
        canvas.rect(MARGIN, y - 2 * mm, 22 * mm, 8 * mm)
        canvas.setLineWidth(1)
        text(canvas, MARGIN + 11 * mm, y, "再発行", 12, "center")

    y -= 20 * mm
    text(canvas, MARGIN, y, f"{addressee}　御中", 14)
    canvas.line(MARGIN, y - 2 * mm, MARGIN + 95 * mm, y - 2 * mm)
    for i, line in enumerate(addressee_lines):
        text(canvas, MARGIN, y - (8 + 5 * i) * mm, line, 9)
    for i, line in enumerate(s for s in sender_lines if s):
        text(canvas, right, y - 5 * i * mm, line, 10 if i == 0 else 8.5, "right")
    return float(y - 24 * mm)


def fit_text(value: str, size: float, width: float) -> str:
    """Cut text to a width, marking the cut with …."""
    name = font_name()
    if pdfmetrics.stringWidth(value, name, size) <= width:
        return value
    while value and pdfmetrics.stringWidth(value + "…", name, size) > width:
        value = value[:-1]
    return value + "…"


class Table:
    """Rows drawn top-down; a full page starts a new one and repeats the header."""

    def __init__(
        self,
        canvas: Canvas,
        columns: Sequence[tuple[str, float, str]],  # (header, width, "left"/"right")
        *,
        size: float = 9,
        row_height: float = 5.6 * mm,
        new_page: Callable[[], float],
    ) -> None:
        self.canvas = canvas
        self.columns = columns
        self.size = size
        self.row_height = row_height
        self.new_page = new_page
        self.x = MARGIN

    def header(self, y: float) -> float:
        self.canvas.setFillGray(0.92)
        width = sum(w for _, w, _ in self.columns)
        self.canvas.rect(self.x, y - self.row_height + 1.5 * mm, width, self.row_height,
                         stroke=0, fill=1)
        self.canvas.setFillGray(0)
        self._cells(y, [h for h, _, _ in self.columns])
        return y - self.row_height

    def _cells(self, y: float, values: Sequence[str], bold: bool = False) -> None:
        x = self.x
        for (_, width, align), value in zip(self.columns, values, strict=True):
            shown = fit_text(value, self.size, width - 2 * mm)
            if align == "right":
                text(self.canvas, x + width - 1 * mm, y, shown, self.size, "right")
            else:
                text(self.canvas, x + 1 * mm, y, shown, self.size)
            x += width
        if bold:
            width = sum(w for _, w, _ in self.columns)
            self.canvas.line(self.x, y + self.row_height - 2 * mm, self.x + width,
                             y + self.row_height - 2 * mm)

    def rows(self, y: float, rows: Sequence[Sequence[str]], *, total: Sequence[str] | None = None,
             bottom: float = MARGIN + 12 * mm) -> float:
        y = self.header(y)
        for row in rows:
            if y < bottom:
                y = self.header(self.new_page())
            self._cells(y, row)
            y -= self.row_height
        if total is not None:
            if y < bottom:
                y = self.header(self.new_page())
            self._cells(y, total, bold=True)
            y -= self.row_height
        return y


def spooled(write: Callable[[IO[bytes]], Any]) -> Iterator[bytes]:
    """Run ``write(file)`` into a temporary file (in memory up to 8 MB, then on disk)
    and yield the result in 64 KB chunks: the caller streams a finished PDF/XLSX."""
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as handle:
        write(handle)
        handle.seek(0)
        while chunk := handle.read(CHUNK):
            yield chunk
