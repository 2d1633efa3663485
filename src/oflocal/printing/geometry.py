"""Where things go on the sheet, in PDF points (origin at the lower-left corner).

One place computes every rectangle: the artwork, the per-booklet page composer, the
proof and the tests all read the same numbers, so the typed code the tests extract is
looked for exactly where the composer put it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .layout import PrintLayout

MM = 72 / 25.4
PAPER_MM: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "A3": (297.0, 420.0),
    "B4": (257.0, 364.0),  # JIS B4, the B4 sold in Japan
}
MIN_TICKET_MM = (55.0, 62.0)  # the ticket artwork below needs at least this much
BLEED_MM = 3.0
SLUG_MM = 12.0  # printshop: room around the trim for bleed and crop marks
CROP_MARK_GAP_MM = BLEED_MM  # marks start outside the bleed so they are never printed in
CROP_MARK_LENGTH_MM = 6.0

QR_MODULES = 21  # version 1: every code fits (see qr.py)
QUIET_MODULES = 4
TICKET_MODULE_MM = 0.85  # 17.9 mm symbol: comfortable for phone cameras at the booth
COVER_MODULE_MM = 1.1

TICKET_PADDING_MM = 2.5
BAND_MM = 7.0
RULE_LINE_MM = 2.6


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def top(self) -> float:
        return self.y + self.h

    def mirrored(self, page_width: float) -> Rect:
        """The same rectangle seen from the back after a long-edge (left-right) flip."""
        return Rect(page_width - self.x - self.w, self.y, self.w, self.h)

    def inset(self, d: float) -> Rect:
        return Rect(self.x + d, self.y + d, self.w - 2 * d, self.h - 2 * d)


def cell_size_mm(paper: str, columns: int, rows: int, margin_mm: float) -> tuple[float, float]:
    width, height = PAPER_MM[paper]
    return (width - 2 * margin_mm) / columns, (height - 2 * margin_mm) / rows


@dataclass(frozen=True)
class TicketSlots:
    """Parts of one ticket, relative to the ticket's lower-left corner."""

    width: float
    height: float
    band: Rect  # accent band with event name (left) and serial (right)
    serial_right: float  # serial text is right-aligned here, on the band
    serial_baseline: float
    serial_size: float
    qr: Rect  # the symbol itself, without its quiet zone
    module: float
    code_size: float  # the grouped code under the QR
    code_baseline: float
    code_centre: float  # centred under the QR when it fits, else kept inside the ticket
    code_max_right: float
    left_column: Rect  # denomination, programme name, dates
    workshop: Rect  # the featured workshop card
    rules: Rect
    back_serial_right: float  # duplex backs: the serial again, bottom right
    back_serial_baseline: float

    def code_x(self, text_width: float) -> float:
        return min(self.code_centre - text_width / 2, self.code_max_right - text_width)


def ticket_slots(width: float, height: float, rule_lines: int) -> TicketSlots:
    pad = TICKET_PADDING_MM * MM
    module = TICKET_MODULE_MM * MM
    quiet = QUIET_MODULES * module
    qr_size = QR_MODULES * module

    def from_top(y: float) -> float:
        return height - y

    band = Rect(pad, from_top(pad + BAND_MM * MM), width - 2 * pad, BAND_MM * MM)
    qr_top = pad + BAND_MM * MM + quiet
    qr = Rect(width - quiet - qr_size, from_top(qr_top + qr_size), qr_size, qr_size)
    # The code's cap height ends 3 modules below the symbol: most of the quiet zone.
    code_baseline = qr.y - 3 * module - 1.4 * MM
    left = Rect(pad, code_baseline, qr.x - 2 * MM - pad, band.y - code_baseline)
    rules_h = rule_lines * RULE_LINE_MM * MM + (1.0 * MM if rule_lines else 0.0)
    rules = Rect(pad, pad, width - 2 * pad, rules_h)
    ws_top = code_baseline - 2.0 * MM
    workshop = Rect(pad, rules.top + 0.8 * MM, width - 2 * pad, ws_top - rules.top - 0.8 * MM)
    return TicketSlots(
        width=width,
        height=height,
        band=band,
        serial_right=band.right - 1.5 * MM,
        serial_baseline=band.y + 2.3 * MM,
        serial_size=7.0,
        qr=qr,
        module=module,
        code_size=6.0,
        code_baseline=code_baseline,
        code_centre=qr.x + qr_size / 2,
        code_max_right=width - pad,
        left_column=left,
        workshop=workshop,
        rules=rules,
        back_serial_right=width - 4 * MM,
        back_serial_baseline=4 * MM,
    )


MIN_WORKSHOP_CARD_MM = 12.0


@dataclass(frozen=True)
class CoverSlots:
    """Variable parts of the cover, in page coordinates."""

    qr: Rect
    module: float
    code_size: float
    code_baseline: float
    code_centre: float
    serial_baseline: float
    serial_size: float
    label_baseline: float  # 「販売時にスキャン」 above the QR


@dataclass(frozen=True)
class PageGeometry:
    media: Rect
    trim: Rect
    bleed: Rect | None  # printshop mode only
    content: Rect  # trim minus margins: where tickets and cover text go
    cells: tuple[Rect, ...]  # front cells, row by row from the top left
    slots: TicketSlots
    cover: CoverSlots

    def back_cells(self) -> tuple[Rect, ...]:
        """Back-side cells in the same order as ``cells``: each lies behind its front."""
        return tuple(cell.mirrored(self.media.w) for cell in self.cells)

    def cut_positions(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """x and y of every cut between (and around) the tickets."""
        xs = sorted({round(c.x, 3) for c in self.cells} | {round(c.right, 3) for c in self.cells})
        ys = sorted({round(c.y, 3) for c in self.cells} | {round(c.top, 3) for c in self.cells})
        return tuple(xs), tuple(ys)


def page_geometry(layout: PrintLayout) -> PageGeometry:
    paper_w, paper_h = (v * MM for v in PAPER_MM[layout.paper])
    slug = SLUG_MM * MM if layout.mode == "printshop" else 0.0
    media = Rect(0.0, 0.0, paper_w + 2 * slug, paper_h + 2 * slug)
    trim = Rect(slug, slug, paper_w, paper_h)
    bleed = trim.inset(-BLEED_MM * MM) if layout.mode == "printshop" else None
    content = trim.inset(layout.margin_mm * MM)
    cw = content.w / layout.columns
    ch = content.h / layout.rows
    cells = tuple(
        Rect(content.x + col * cw, content.top - (row + 1) * ch, cw, ch)
        for row in range(layout.rows)
        for col in range(layout.columns)
    )
    rule_lines = len(layout.rules) if layout.show_rules else 0
    return PageGeometry(
        media=media,
        trim=trim,
        bleed=bleed,
        content=content,
        cells=cells,
        slots=ticket_slots(cw, ch, rule_lines),
        cover=_cover_slots(content),
    )


def _cover_slots(content: Rect) -> CoverSlots:
    module = COVER_MODULE_MM * MM
    size = QR_MODULES * module
    quiet = QUIET_MODULES * module
    # Upper right of the page, below the title block (see artwork.cover_form).
    qr = Rect(content.right - quiet - size, content.top - 62 * MM - size, size, size)
    return CoverSlots(
        qr=qr,
        module=module,
        code_size=7.0,
        code_baseline=qr.y - 4.0 * MM,
        code_centre=qr.x + size / 2,
        serial_baseline=qr.y - 8.0 * MM,
        serial_size=9.0,
        label_baseline=qr.top + 3.0 * MM,
    )
