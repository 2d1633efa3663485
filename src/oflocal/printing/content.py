"""Content-stream building: the handful of drawing operations the artwork needs.

Text is laid out here (fitting, wrapping with simple Japanese line-break rules) with
the document font's own metrics, so what is measured is what is drawn.
"""

from __future__ import annotations

from typing import Literal

from .fonts import DocumentFont
from .pdf import num

Align = Literal["left", "centre", "right"]
Colour = tuple[float, float, float]

BLACK: Colour = (0.0, 0.0, 0.0)
WHITE: Colour = (1.0, 1.0, 1.0)
INK: Colour = (0.13, 0.13, 0.13)
GREY: Colour = (0.45, 0.45, 0.45)
LIGHT: Colour = (0.75, 0.75, 0.75)

# Characters that must not start a line (kinsoku shori); they hang on the line before.
NO_LINE_START = set(
    "、。，．・：；？！ー―‐〜）」』】〕〉》ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ,.)!?:;%"
)
ELLIPSIS = "…"


def colour_ops(colour: Colour, *, stroke: bool = False) -> str:
    op = "RG" if stroke else "rg"
    return f"{num(colour[0])} {num(colour[1])} {num(colour[2])} {op}"


class Content:
    def __init__(self, font: DocumentFont) -> None:
        self.font = font
        self._ops: list[str] = []

    def raw(self, ops: str) -> None:
        self._ops.append(ops)

    def data(self) -> bytes:
        return "\n".join(self._ops).encode("latin-1")

    # --- shapes ---

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        fill: Colour | None = None,
        stroke: Colour | None = None,
        line_width: float = 0.5,
    ) -> None:
        ops = ["q"]
        if fill:
            ops.append(colour_ops(fill))
        if stroke:
            ops.append(f"{colour_ops(stroke, stroke=True)} {num(line_width)} w")
        paint = "B" if fill and stroke else "f" if fill else "S"
        ops.append(f"{num(x)} {num(y)} {num(w)} {num(h)} re {paint} Q")
        self._ops.append(" ".join(ops))

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        *,
        colour: Colour = GREY,
        width: float = 0.4,
        dash: tuple[float, float] | None = None,
    ) -> None:
        dash_op = f"[{num(dash[0])} {num(dash[1])}] 0 d " if dash else ""
        self._ops.append(
            f"q {colour_ops(colour, stroke=True)} {num(width)} w {dash_op}"
            f"{num(x1)} {num(y1)} m {num(x2)} {num(y2)} l S Q"
        )

    # --- text ---

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        *,
        align: Align = "left",
        colour: Colour = INK,
        bold: bool = False,
    ) -> float:
        """Draw one line at baseline y; returns its width."""
        width = self.font.width(text, size)
        if align == "centre":
            x -= width / 2
        elif align == "right":
            x -= width
        # The Japanese gothic has no bold face: stroke the outlines as well (mode 2).
        # Text state outlives BT/ET, so the render mode is set on every line.
        mode = f"2 Tr {num(size * 0.035)} w {colour_ops(colour, stroke=True)} " if bold else "0 Tr "
        self._ops.append(
            f"BT {colour_ops(colour)} {mode}/{self.font.resource} {num(size)} Tf "
            f"{num(x)} {num(y)} Td <{self.font.encode(text)}> Tj ET"
        )
        return width

    def fitted_text(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        max_width: float,
        *,
        min_size: float | None = None,
        align: Align = "left",
        colour: Colour = INK,
        bold: bool = False,
    ) -> float:
        """One line, shrunk down to ``min_size`` to fit, then cut with an ellipsis."""
        size = fit_size(self.font, text, size, max_width, min_size or size * 0.7)
        text = truncate(self.font, text, size, max_width)
        return self.text(x, y, text, size, align=align, colour=colour, bold=bold)

    def paragraph(
        self,
        x: float,
        top: float,
        text: str,
        size: float,
        width: float,
        max_lines: int,
        *,
        leading: float = 1.3,
        colour: Colour = INK,
    ) -> int:
        """Wrapped text from ``top`` down; returns the number of lines drawn."""
        lines = wrap(self.font, text, size, width, max_lines)
        for i, line in enumerate(lines):
            self.text(x, top - size * (0.88 + i * leading), line, size, colour=colour)
        return len(lines)


def fit_size(
    font: DocumentFont, text: str, size: float, max_width: float, min_size: float
) -> float:
    width = font.width(text, size)
    if width <= max_width or width == 0:
        return size
    return max(min_size, size * max_width / width)


def truncate(font: DocumentFont, text: str, size: float, max_width: float) -> str:
    if font.width(text, size) <= max_width:
        return text
    while text and font.width(text + ELLIPSIS, size) > max_width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def wrap(font: DocumentFont, text: str, size: float, width: float, max_lines: int) -> list[str]:
    """Break text into lines of at most ``width``.

    Japanese breaks between any two characters; runs of Latin letters and digits are
    kept whole when they fit on a line.  Explicit newlines are honoured.  When the text
    needs more than ``max_lines`` the last line ends with an ellipsis.
    """
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines.extend(_wrap_paragraph(font, paragraph.strip(), size, width))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = truncate(font, lines[-1] + ELLIPSIS * 2, size, width)
    return lines


def _tokens(text: str) -> list[str]:
    """Latin words (with their trailing space) stay together; everything else is one char."""
    tokens: list[str] = []
    word = ""
    for ch in text:
        if ch.isascii() and not ch.isspace():
            word += ch
            continue
        if word:
            tokens.append(word)
            word = ""
        tokens.append(ch)
    if word:
        tokens.append(word)
    return tokens


def _wrap_paragraph(font: DocumentFont, text: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    line = ""
    for token in _tokens(text):
        candidate = line + token
        if font.width(candidate, size) <= width or not line:
            line = candidate
            continue
        if token[0] in NO_LINE_START and len(line) > 1:
            # Kinsoku by push-out: carry the last character over so that the
            # punctuation does not start a line (hanging it would overrun the box).
            lines.append(line[:-1].rstrip())
            line = line[-1] + token
            continue
        lines.append(line.rstrip())
        line = token.lstrip()
    if line:
        lines.append(line)
    # A single token longer than the line (a long URL, say) is split by width.
    result: list[str] = []
    for item in lines:
        while font.width(item, size) > width * 1.15 and len(item) > 1:
            cut = len(item)
            while cut > 1 and font.width(item[:cut], size) > width:
                cut -= 1
            result.append(item[:cut])
            item = item[cut:]
        result.append(item)
    return result
