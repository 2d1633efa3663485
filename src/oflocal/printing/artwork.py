"""The static artwork, drawn once per document and reused as form XObjects.

Everything that is the same on many tickets (the frame with the event name, amount,
dates and rules; each workshop's card; the cover; cut guides and crop marks; the sample
stamp) is drawn here once.  A page then only places these forms and adds what differs
per ticket: the QR code, the typed code and the serial (see pages.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from .content import GREY, INK, LIGHT, WHITE, Colour, Content
from .faces import ProgrammeFace, WorkshopFace
from .fonts import DocumentFont
from .geometry import CROP_MARK_GAP_MM, CROP_MARK_LENGTH_MM, MM, PageGeometry, Rect
from .layout import PrintLayout, rgb
from .pages import SERIAL_FORMAT
from .pdf import num

SAMPLE_TEXT = "見本 SAMPLE"
SAMPLE_COLOUR: Colour = (0.85, 0.1, 0.1)
SAMPLE_STATE = "GSsample"  # ExtGState name: translucent stamp


def jp_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def yen(amount: int) -> str:
    return f"¥{amount:,}"


def serial_text(serial: int) -> str:
    return SERIAL_FORMAT.format(serial)


@dataclass(frozen=True)
class Photo:
    """A workshop photo already in the document as an image XObject."""

    name: str
    width: int  # pixels
    height: int

    def draw(self, c: Content, x: float, y: float, side: float) -> None:
        """Fill a square, cropping the longer side (no distortion, no empty bands)."""
        scale = side / min(self.width, self.height)
        w, h = self.width * scale, self.height * scale
        c.raw(
            f"q {num(x)} {num(y)} {num(side)} {num(side)} re W n "
            f"{num(w)} 0 0 {num(h)} {num(x + (side - w) / 2)} {num(y + (side - h) / 2)} cm "
            f"/{self.name} Do Q"
        )


def rule_lines(layout: PrintLayout, programme: ProgrammeFace) -> list[str]:
    return [
        line.replace("{event}", programme.event_name).replace(
            "{committee}", programme.committee_name
        )
        for line in layout.rules
    ]


class Artwork:
    def __init__(
        self,
        programme: ProgrammeFace,
        layout: PrintLayout,
        geometry: PageGeometry,
        font: DocumentFont,
    ) -> None:
        self.programme = programme
        self.layout = layout
        self.geometry = geometry
        self.font = font
        self.accent = rgb(layout.accent_colour)

    def _content(self) -> Content:
        return Content(self.font)

    # --- tickets ---

    def ticket_frame(self, denomination: int) -> bytes:
        """Everything on a ticket that depends only on the programme and the amount."""
        s = self.geometry.slots
        p = self.programme
        c = self._content()
        band = s.band
        c.rect(band.x, band.y, band.w, band.h, fill=self.accent)
        serial_room = 0.0
        if self.layout.show_serial:
            serial_room = self.font.width(serial_text(0), s.serial_size) + 3 * MM
        c.fitted_text(
            band.x + 1.5 * MM,
            band.y + 2.3 * MM,
            p.event_name,
            7.5,
            band.w - 3 * MM - serial_room,
            colour=WHITE,
            bold=True,
        )
        left = s.left_column
        col_top = band.y
        c.fitted_text(left.x, col_top - 10.5 * MM, yen(denomination), 24, left.w, bold=True)
        c.fitted_text(left.x, col_top - 14.5 * MM, p.programme_name, 6.2, left.w, colour=GREY)
        c.fitted_text(left.x, col_top - 19.0 * MM, f"発行日 {jp_date(p.issue_date)}", 6.2, left.w)
        c.fitted_text(
            left.x,
            col_top - 22.5 * MM,
            f"使用期限 {jp_date(p.valid_until)}",
            6.8,
            left.w,
            bold=True,
        )
        ws = s.workshop
        c.line(ws.x, ws.top + 0.9 * MM, ws.right, ws.top + 0.9 * MM, colour=LIGHT, width=0.3)
        if self.layout.show_rules:
            rules = s.rules
            for i, line in enumerate(rule_lines(self.layout, p)):
                c.fitted_text(
                    rules.x,
                    rules.top - (i + 1) * 2.6 * MM + 0.5 * MM,
                    "・" + line,
                    5.6,
                    rules.w,
                    colour=GREY,
                )
        return c.data()

    def workshop_card(self, workshop: WorkshopFace | None, photo: Photo | None) -> bytes:
        """The featured workshop, in the card's own coordinates (see slots.workshop)."""
        card = self.geometry.slots.workshop
        c = self._content()
        if workshop is None:
            c.fitted_text(
                0, card.h - 3.5 * MM, "参加工房一覧は表紙をご覧ください", 6, card.w, colour=GREY
            )
            return c.data()
        x = 0.0
        if photo:
            side = min(card.h, 18 * MM)
            photo.draw(c, 0, card.h - side, side)
            x = side + 2 * MM
        width = card.w - x
        c.fitted_text(x, card.h - 2.9 * MM, workshop.name, 8, width, bold=True)
        c.fitted_text(x, card.h - 5.3 * MM, workshop.name_kana, 4.8, width, colour=GREY)
        c.fitted_text(x, card.h - 8.2 * MM, workshop.craft, 6, width, colour=self.accent)
        size = 5.4
        top = card.h - 9.3 * MM
        lines = max(0, int(top / (size * 1.3)))
        c.paragraph(x, top, workshop.introduction, size, width, lines, colour=INK)
        return c.data()

    def workshop_back(self, workshop: WorkshopFace | None, photo: Photo | None) -> bytes:
        """The back of a ticket (duplex): the workshop's whole introduction."""
        s = self.geometry.slots
        c = self._content()
        pad = 4 * MM
        width = s.width - 2 * pad
        top = s.height - pad
        c.text(pad, top - 2.5 * MM, "この券の紹介工房", 6, colour=GREY)
        if workshop is None:
            return c.data()
        text_width = width
        if photo:
            side = min(24 * MM, width * 0.4)
            photo.draw(c, s.width - pad - side, top - side, side)
            text_width = width - side - 2 * MM
        c.fitted_text(pad, top - 8 * MM, workshop.name, 11, text_width, bold=True)
        c.fitted_text(pad, top - 11.5 * MM, workshop.name_kana, 6, text_width, colour=GREY)
        c.fitted_text(pad, top - 16 * MM, workshop.craft, 7.5, text_width, colour=self.accent)
        intro_top = top - (26 * MM if photo else 19 * MM)
        size = 7.0
        bottom = pad + 5 * MM
        lines = max(0, int((intro_top - bottom) / (size * 1.4)))
        c.paragraph(pad, intro_top, workshop.introduction, size, width, lines, leading=1.4)
        c.fitted_text(
            pad, pad, self.programme.event_name, 5.5, width * 0.6, colour=GREY
        )
        return c.data()

    def sample_stamp(self, area: Rect) -> bytes:
        """「見本 SAMPLE」 diagonally across an area; translucent, so all stays legible."""
        c = self._content()
        w, h = area.w, area.h
        angle = math.atan2(h, w)
        size = math.hypot(w, h) * 0.75 / max(self.font.width(SAMPLE_TEXT, 1), 1)
        cos, sin = math.cos(angle), math.sin(angle)
        c.raw(
            f"q /{SAMPLE_STATE} gs {num(cos)} {num(sin)} {num(-sin)} {num(cos)} "
            f"{num(area.x + w / 2)} {num(area.y + h / 2)} cm"
        )
        # Filled faintly (see the ExtGState), not outlined: a stroked outline across the
        # QR code kept it from scanning at proof resolution.
        c.text(0, -size * 0.35, SAMPLE_TEXT, size, align="centre", colour=SAMPLE_COLOUR)
        c.raw("Q")
        return c.data()

    # --- cover ---

    def cover(self) -> bytes:
        g = self.geometry
        p = self.programme
        area = g.content
        c = self._content()
        band_bottom = area.top - 26 * MM
        if g.bleed is not None:  # print shop: the band runs off the top and sides
            c.rect(g.bleed.x, band_bottom, g.bleed.w, g.bleed.top - band_bottom, fill=self.accent)
        else:
            c.rect(area.x, band_bottom, area.w, 26 * MM, fill=self.accent)
        x = area.x + 5 * MM
        c.fitted_text(x, area.top - 12 * MM, p.event_name, 20, area.w - 10 * MM,
                      colour=WHITE, bold=True)
        c.fitted_text(x, area.top - 20 * MM, p.committee_name, 9, area.w - 10 * MM, colour=WHITE)

        qr = g.cover.qr
        left_w = qr.x - 8 * MM - area.x
        c.fitted_text(area.x, area.top - 38 * MM, p.programme_name, 16, left_w, bold=True)
        c.fitted_text(
            area.x,
            area.top - 52 * MM,
            f"{yen(p.price)}で{yen(p.face_value)}分",
            26,
            left_w,
            colour=self.accent,
            bold=True,
        )
        if p.face_value > p.price:
            c.fitted_text(area.x, area.top - 59 * MM,
                          f"プレミアム {yen(p.face_value - p.price)} 付き", 10, left_w)
        y = area.top - 70 * MM
        for label, value in (
            ("発行日", p.issue_date),
            ("使用開始", p.valid_from),
            ("使用期限", p.valid_until),
        ):
            c.text(area.x, y, label, 10, bold=label == "使用期限")
            c.text(area.x + 20 * MM, y, jp_date(value), 10, bold=label == "使用期限")
            y -= 6 * MM
        c.text(g.cover.code_centre, g.cover.label_baseline, "販売時にスキャン", 9, align="centre",
               bold=True)

        y = min(y - 4 * MM, g.cover.serial_baseline - 10 * MM)
        if self.layout.show_rules:
            c.text(area.x, y, "ご利用にあたって", 10, bold=True)
            y -= 6 * MM
            for line in rule_lines(self.layout, p):
                c.fitted_text(area.x + 2 * MM, y, "・" + line, 9, area.w - 2 * MM)
                y -= 5 * MM
            y -= 3 * MM
        self._workshop_list(c, Rect(area.x, area.y + 8 * MM, area.w, y - area.y - 8 * MM))
        c.fitted_text(area.x, area.y + 2 * MM, f"発行: {p.committee_name}", 8, area.w,
                      colour=GREY)
        return c.data()

    def _workshop_list(self, c: Content, area: Rect) -> None:
        workshops = self.programme.workshops
        if not workshops or area.h < 15 * MM:
            return
        c.text(area.x, area.top, f"参加工房一覧（{len(workshops)}工房）", 10, bold=True)
        body = Rect(area.x, area.y, area.w, area.h - 6 * MM)
        max_columns = max(1, int(area.w // (45 * MM)))
        size = 8.0
        while True:
            line = size * 1.45
            per_column = max(1, int(body.h // line))
            columns = math.ceil(len(workshops) / per_column)
            if columns <= max_columns or size <= 6.0:
                break
            size -= 0.5
        columns = min(columns, max_columns)
        capacity = columns * per_column
        per_column = min(per_column, math.ceil(len(workshops) / columns))  # balance columns
        entries = [f"{w.name}（{w.craft}）" if w.craft else w.name for w in workshops]
        if len(entries) > capacity:
            rest = len(entries) - capacity + 1
            entries = [*entries[: capacity - 1], f"ほか{rest}工房"]
        col_w = body.w / columns
        for i, entry in enumerate(entries):
            col, row = divmod(i, per_column)
            c.fitted_text(
                body.x + col * col_w,
                body.top - size - row * line,
                entry,
                size,
                col_w - 3 * MM,
                min_size=size * 0.8,
            )

    # --- page furniture ---

    def cut_guides(self) -> bytes:
        """Office: dashed lines on every cut. Print shop: crop marks at every cut."""
        g = self.geometry
        xs, ys = g.cut_positions()
        c = self._content()
        if g.bleed is not None:
            self._crop_marks(c, xs, ys)
            return c.data()
        for x in xs:
            c.line(x, ys[0], x, ys[-1], colour=LIGHT, width=0.35, dash=(3, 2))
        for y in ys:
            c.line(xs[0], y, xs[-1], y, colour=LIGHT, width=0.35, dash=(3, 2))
        return c.data()

    def back_marks(self) -> bytes:
        """Ticket backs: the same crop marks (the grid is symmetric, so they coincide)."""
        c = self._content()
        if self.geometry.bleed is not None:
            self._crop_marks(c, *self.geometry.cut_positions())
        return c.data()

    def trim_marks(self) -> bytes:
        """Covers: crop marks at the trim corners only; nothing in office mode."""
        g = self.geometry
        c = self._content()
        if g.bleed is not None:
            self._crop_marks(c, (g.trim.x, g.trim.right), (g.trim.y, g.trim.top))
        return c.data()

    def _crop_marks(self, c: Content, xs: tuple[float, ...], ys: tuple[float, ...]) -> None:
        """Marks outside the bleed, in registration black (all four inks)."""
        t = self.geometry.trim
        gap = CROP_MARK_GAP_MM * MM
        length = CROP_MARK_LENGTH_MM * MM
        ops = ["q 1 1 1 1 K 0.25 w"]
        for x in (t.x, t.right, *xs):
            ops.append(f"{num(x)} {num(t.top + gap)} m {num(x)} {num(t.top + gap + length)} l")
            ops.append(f"{num(x)} {num(t.y - gap)} m {num(x)} {num(t.y - gap - length)} l")
        for y in (t.y, t.top, *ys):
            ops.append(f"{num(t.x - gap)} {num(y)} m {num(t.x - gap - length)} {num(y)} l")
            ops.append(f"{num(t.right + gap)} {num(y)} m {num(t.right + gap + length)} {num(y)} l")
        ops.append("S Q")
        c.raw("\n".join(ops))

