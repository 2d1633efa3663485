"""The campaign report on one A4 page, for the committee's meeting."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from reportlab.lib.units import mm

from oflocal.crowdfunding.items import ITEM_NAMES
from oflocal.format import yen
from oflocal.reports.charts import pdf_columns, pdf_rows
from oflocal.reports.pdfkit import MARGIN, PAGE_H, PAGE_W, new_canvas, spooled, text
from oflocal.supporters.report import CampaignReport


def write_report_pdf(out: IO[bytes], r: CampaignReport) -> None:
    canvas = new_canvas(out, f"{r.title} 報告")
    y = PAGE_H - MARGIN
    text(canvas, MARGIN, y, f"{r.title}　支援の報告", 15)
    text(canvas, PAGE_W - MARGIN, y, f"{r.made_on:%Y年%m月%d日} 現在", 9, "right")
    y -= 10 * mm
    figures = [("目標", r.goal), ("申込額", r.pledged), ("入金額", r.paid),
               ("返金額", r.refunded), ("決済手数料", r.fees), ("差引", r.net)]
    width = (PAGE_W - 2 * MARGIN) / len(figures)
    for i, (label, value) in enumerate(figures):
        text(canvas, MARGIN + i * width, y, label, 8)
        text(canvas, MARGIN + i * width, y - 5 * mm, yen(value), 11)
    y -= 16 * mm
    text(canvas, MARGIN, y, "入金額（日別）", 10)
    bars = [(f"{d:%m/%d}", v) for d, v in r.by_day[-31:]]
    pdf_columns(canvas, bars, MARGIN, y - 58 * mm, PAGE_W - 2 * MARGIN, 54 * mm)
    y -= 66 * mm
    text(canvas, MARGIN, y, f"支援者 {r.supporters}名（新規 {r.new}名・継続 {r.returning}名）", 10)
    y -= 6 * mm
    text(canvas, MARGIN, y, "リターン別（入金額）", 9)
    y = pdf_rows(canvas, [(f"{t}（{n}件）", v) for t, n, v in r.by_return[:12]], MARGIN,
                 y - 2 * mm, PAGE_W - 2 * MARGIN)
    y -= 6 * mm
    text(canvas, MARGIN, y, "都道府県別（お届け先の郵便番号から）", 9)
    y -= 5 * mm
    line = "　".join(f"{p} {n}" for p, n in r.by_prefecture[:16])
    text(canvas, MARGIN, y, line[:90], 8)
    y -= 9 * mm
    text(canvas, MARGIN, y, "リターンのお届け", 9)
    for kind, done, owed in r.delivery:
        y -= 5 * mm
        text(canvas, MARGIN + 4 * mm, y, f"{ITEM_NAMES[kind][0]}：{done} / {owed}", 8)
    canvas.showPage()
    canvas.save()


def report_pdf(r: CampaignReport) -> Iterator[bytes]:
    return spooled(lambda out: write_report_pdf(out, r))
