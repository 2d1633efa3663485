"""Bar charts of redemptions, as SVG for the pages and drawn on a PDF canvas.

No JavaScript and no chart library: a bar chart of at most a few hundred bars is a
few rectangles, and the same numbers then read the same on screen and on paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from oflocal.format import yen
from oflocal.reports.pdfkit import fit_text, text

Bar = tuple[str, int]  # label, value (yen)
BAR_COLOUR = "#2f6f9f"


def _nice_max(value: int) -> int:
    """A round upper bound for the axis: 1, 2 or 5 × a power of ten."""
    if value <= 0:
        return 1
    power = 1
    while power * 10 <= value:
        power *= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def svg_columns(bars: Sequence[Bar], *, title: str, width: int = 720, height: int = 260) -> str:
    """Vertical bars (e.g. per day), labels under the bars."""
    left, bottom, top = 70, 50, 30
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = _nice_max(max((v for _, v in bars), default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f'<title>{escape(title)}</title>',
        f'<text x="{left}" y="18" font-size="14">{escape(title)}</text>',
    ]
    for i in range(5):
        value = peak * i // 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{escape(yen(value))}</text>')
    n = max(len(bars), 1)
    slot = plot_w / n
    for i, (label, value) in enumerate(bars):
        h = plot_h * value / peak
        x = left + i * slot + slot * 0.15
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{BAR_COLOUR}"><title>{escape(label)}: {escape(yen(value))}</title></rect>'
        )
        if n <= 31 or i % max(1, n // 15) == 0:
            parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{top + plot_h + 16}" '
                         f'font-size="11" text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_rows(bars: Sequence[Bar], *, title: str, width: int = 720, row: int = 18) -> str:
    """Horizontal bars (e.g. per workshop), one row each, labels on the left."""
    left, top = 190, 30
    plot_w = width - left - 90
    height = top + row * max(len(bars), 1) + 10
    peak = _nice_max(max((v for _, v in bars), default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f'<title>{escape(title)}</title>',
        f'<text x="0" y="18" font-size="14">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(bars):
        y = top + i * row
        w = plot_w * value / peak
        short = label if len(label) <= 14 else label[:13] + "…"
        parts.append(f'<text x="{left - 6}" y="{y + row * 0.7:.1f}" font-size="11" '
                     f'text-anchor="end">{escape(short)}</text>')
        parts.append(
            f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 4}" '
            f'fill="{BAR_COLOUR}"><title>{escape(label)}: {escape(yen(value))}</title></rect>'
        )
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + row * 0.7:.1f}" '
                     f'font-size="11">{escape(yen(value))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def pdf_columns(canvas: Canvas, bars: Sequence[Bar], x: float, y: float, width: float,
                height: float) -> None:
    """Vertical bars with their bottom-left corner at (x, y)."""
    left = 22 * mm
    plot_w, plot_h = width - left, height - 8 * mm
    base_y = y + 8 * mm
    peak = _nice_max(max((v for _, v in bars), default=0))
    canvas.setStrokeGray(0.85)
    for i in range(5):
        gy = base_y + plot_h * i / 4
        canvas.line(x + left, gy, x + width, gy)
        text(canvas, x + left - 2 * mm, gy - 1.2 * mm, yen(peak * i // 4), 7, "right")
    canvas.setStrokeGray(0)
    n = max(len(bars), 1)
    slot = plot_w / n
    canvas.setFillColorRGB(0.18, 0.44, 0.62)
    for i, (_, value) in enumerate(bars):
        canvas.rect(x + left + i * slot + slot * 0.15, base_y, slot * 0.7,
                    plot_h * value / peak, stroke=0, fill=1)
    canvas.setFillGray(0)
    for i, (label, _) in enumerate(bars):
        if n <= 16 or i % max(1, n // 12) == 0:
            text(canvas, x + left + i * slot + slot / 2, y + 3 * mm, label, 6.5, "center")


def pdf_rows(canvas: Canvas, bars: Sequence[Bar], x: float, top: float, width: float,
             row: float = 4.2 * mm) -> float:
    """Horizontal bars from ``top`` down; returns the y below the last row."""
    left = 45 * mm
    plot_w = width - left - 22 * mm
    peak = _nice_max(max((v for _, v in bars), default=0))
    y = top
    for label, value in bars:
        text(canvas, x + left - 2 * mm, y - row * 0.7, fit_text(label, 7, left - 3 * mm), 7,
             "right")
        w = plot_w * value / peak
        canvas.setFillColorRGB(0.18, 0.44, 0.62)
        canvas.rect(x + left, y - row + 0.6 * mm, w, row - 1.2 * mm, stroke=0, fill=1)
        canvas.setFillGray(0)
        text(canvas, x + left + w + 1.5 * mm, y - row * 0.7, yen(value), 7)
        y -= row
    return y
