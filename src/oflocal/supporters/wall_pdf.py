"""The printable supporters' wall: a poster for the venue (A2, A1) or sheets (A4).

One layout scaled to the paper: every size is the A4 layout times the paper's width
over A4's, so a poster reads from a few metres away. Names flow in a grid, four to a
row, by return; a group that does not fit continues on the next page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from reportlab.lib.pagesizes import A1, A2, A4
from reportlab.lib.units import mm as _mm
from reportlab.pdfgen.canvas import Canvas

from oflocal.reports.pdfkit import fit_text, spooled, text
from oflocal.supporters.wall import WallGroup

mm = float(_mm)  # reportlab's units are untyped
SIZES = {"a4": A4, "a2": A2, "a1": A1}
COLUMNS = 4


def write_wall_pdf(out: IO[bytes], title: str, committee: str, groups: list[WallGroup],
                   size: str = "a4") -> None:
    width, height = (float(v) for v in SIZES[size])
    scale = width / float(A4[0])
    margin = 14 * mm * scale
    name_size, row = 11 * scale, 7 * mm * scale
    column = (width - 2 * margin) / COLUMNS
    canvas = Canvas(out, pagesize=(width, height), pageCompression=1)
    canvas.setTitle(f"{title} 支援者ウォール")
    canvas.setAuthor(committee or "oflocal")

    def new_page(first: bool = False) -> float:
        if not first:
            canvas.showPage()
        y = height - margin - 12 * mm * scale
        text(canvas, width / 2, y, fit_text(title, 20 * scale, width - 2 * margin),
             20 * scale, "center")
        y -= 9 * mm * scale
        text(canvas, width / 2, y, "ご支援いただいた皆さま　Thank you to our supporters",
             11 * scale, "center")
        text(canvas, width / 2, margin / 2, committee, 8 * scale, "center")
        return y - 12 * mm * scale

    y = new_page(first=True)
    for group in groups:
        lines = group.names + ([f"ほか匿名 {group.anonymous}名"] if group.anonymous else [])
        heading = group.reward_title
        at = 0
        while at < len(lines):
            if y - 2 * row < margin:
                y = new_page()
                heading = f"{group.reward_title}（続き）"
            text(canvas, margin, y, fit_text(heading, 14 * scale, width - 2 * margin),
                 14 * scale)
            canvas.setLineWidth(0.6 * scale)
            canvas.line(margin, y - 2 * mm * scale, width - margin, y - 2 * mm * scale)
            y -= row * 1.4
            while at < len(lines) and y >= margin + row / 2:
                for c, name in enumerate(lines[at:at + COLUMNS]):
                    text(canvas, margin + c * column, y,
                         fit_text(name, name_size, column - 3 * mm * scale), name_size)
                at += COLUMNS
                y -= row
            y -= row * 0.6
    canvas.showPage()
    canvas.save()


def wall_pdf(title: str, committee: str, groups: list[WallGroup],
             size: str = "a4") -> Iterator[bytes]:
    return spooled(lambda out: write_wall_pdf(out, title, committee, groups, size))
