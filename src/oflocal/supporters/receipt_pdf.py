"""The receipt (領収書) on one A5 page, from :class:`receipt.ReceiptFacts`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from reportlab.lib.pagesizes import A5, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from oflocal.format import yen
from oflocal.reports.pdfkit import fit_text, spooled, text
from oflocal.supporters.receipt import ReceiptFacts

PAGE_W, PAGE_H = landscape(A5)
LEFT, RIGHT = 16 * mm, PAGE_W - 16 * mm


def _day(value: object) -> str:
    return f"{value:%Y年%m月%d日}"


def write_receipt_pdf(out: IO[bytes], r: ReceiptFacts) -> None:
    canvas = Canvas(out, pagesize=(PAGE_W, PAGE_H), pageCompression=1)
    canvas.setTitle(f"領収書 {r.number}")
    canvas.setAuthor(r.committee or "oflocal")
    y = PAGE_H - 20 * mm
    text(canvas, PAGE_W / 2, y, "領　収　書", 20, "center")
    text(canvas, RIGHT, y + 2 * mm, f"No. {r.number}", 9, "right")
    text(canvas, RIGHT, y - 3 * mm, f"発行日 {_day(r.issued_on)}", 9, "right")
    y -= 16 * mm
    text(canvas, LEFT, y, fit_text(f"{r.to_name} 様", 14, 110 * mm), 14)
    canvas.line(LEFT, y - 2 * mm, LEFT + 110 * mm, y - 2 * mm)
    y -= 16 * mm
    canvas.setFillGray(0.93)
    canvas.rect(LEFT, y - 4 * mm, RIGHT - LEFT, 13 * mm, stroke=0, fill=1)
    canvas.setFillGray(0)
    text(canvas, LEFT + 4 * mm, y, "金額", 11)
    text(canvas, PAGE_W / 2, y, f"{yen(r.amount)}－", 18, "center")
    y -= 12 * mm
    text(canvas, LEFT, y, fit_text(f"但し　{r.purpose}", 10, RIGHT - LEFT), 10)
    y -= 6 * mm
    text(canvas, LEFT, y, "上記正に領収いたしました。", 10)
    y -= 10 * mm
    lines = [f"内訳　ご支援額 {yen(r.support)}"
             + (f"　送料 {yen(r.shipping)}" if r.shipping else ""),
             f"お支払い方法　{r.method}　　領収日　{_day(r.received_on)}"]
    for line in lines:
        text(canvas, LEFT, y, line, 9)
        y -= 5 * mm
    if r.stamp_note:
        text(canvas, LEFT, y, "電子交付のため収入印紙は貼付しておりません。", 8)
    y = 34 * mm
    issuer = [r.committee, r.representative and f"代表　{r.representative}", r.address,
              r.phone and f"電話　{r.phone}", r.email]
    for line in (part for part in issuer if part):
        text(canvas, RIGHT, y, fit_text(line, 9, 95 * mm), 9, "right")
        y -= 5 * mm
    canvas.showPage()
    canvas.save()


def receipt_pdf(r: ReceiptFacts) -> Iterator[bytes]:
    return spooled(lambda out: write_receipt_pdf(out, r))
