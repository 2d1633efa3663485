"""The programme summary as a PDF: the figures, then redemptions per day and per
workshop as charts and tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import IO

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from oflocal import clock
from oflocal.format import ja_date, yen
from oflocal.reports.charts import pdf_columns, pdf_rows
from oflocal.reports.pdfkit import MARGIN, PAGE_H, PAGE_W, Table, new_canvas, spooled, text
from oflocal.reports.summary import ProgrammeSummary

METHODS_JA = {"cash": "現金", "card": "カード", "qr": "QR決済", "bank": "振込", "free": "無料配布",
             "pledge": "クラファン返礼"}


def summary_figures(s: ProgrammeSummary) -> list[tuple[str, str]]:
    """The summary's figures in the order the treasurer reads them (label, value)."""
    rows = [
        ("印刷した冊子 Booklets printed", f"{s.booklets_printed:,} 冊"),
        ("販売した冊子 Booklets sold", f"{s.booklets_sold:,} 冊"),
        ("無効にした冊子 Booklets voided", f"{s.booklets_voided:,} 冊"),
        ("未販売の在庫 Booklets in stock", f"{s.booklets_in_stock:,} 冊"),
        ("販売額面 Face value sold", yen(s.face_sold)),
        ("受領額 Cash received", yen(s.cash_received)),
    ]
    rows += [(f"　うち{METHODS_JA.get(m, m)}", yen(v)) for m, v in s.cash_by_method.items()]
    rows += [
        ("プレミアム（印刷分） Premium printed", yen(s.premium_printed)),
        ("プレミアム（販売分） Premium of booklets sold", yen(s.premium_sold)),
        ("プレミアム（実際の使用額） Premium actually used", yen(s.premium_used)),
        ("プレミアム予算 Premium budget", yen(s.premium_budget)),
        ("利用済み Redeemed", f"{s.redeemed_tickets:,} 枚　{yen(s.redeemed_face)}"),
        *([("訂正で取り消した利用 Withdrawn by a correction",
            f"{s.withdrawn_tickets:,} 枚　{yen(s.withdrawn_face)}")]
          if s.withdrawn_tickets else []),
        ("未使用残高 Outstanding liability",
         f"{s.outstanding_tickets:,} 枚　{yen(s.outstanding_liability)}"),
        ("失効 Expired (breakage)", f"{s.expired_tickets:,} 枚　{yen(s.expired_face)}"
         + ("" if s.expiry_posted else "（未計上）")),
    ]
    return rows


def _footer(canvas: Canvas, s: ProgrammeSummary, page: int) -> None:
    text(canvas, MARGIN, MARGIN - 6 * mm, f"{s.committee_name}　{s.programme_name}", 7)
    text(canvas, PAGE_W - MARGIN, MARGIN - 6 * mm, str(page), 7, "right")


def write_summary_pdf(out: IO[bytes], s: ProgrammeSummary, *, issued: date | None = None) -> None:
    canvas = new_canvas(out, f"商品券 集計 {s.programme_name}")
    page = 1

    def new_page() -> float:
        nonlocal page
        _footer(canvas, s, page)
        canvas.showPage()
        page += 1
        return float(PAGE_H - MARGIN - 4 * mm)

    y = PAGE_H - MARGIN - 4 * mm
    text(canvas, MARGIN, y, "商品券 集計表 Programme summary", 16)
    text(canvas, PAGE_W - MARGIN, y, f"作成日 {ja_date(issued or clock.tokyo_date(clock.now()))}",
         9, "right")
    y -= 8 * mm
    text(canvas, MARGIN, y, f"{s.event_name}　{s.programme_name}", 10)
    y -= 5 * mm
    text(canvas, MARGIN, y, f"冊子 {yen(s.face_value)}（販売価格 {yen(s.price)}）"
         f"　使用期限 {ja_date(s.valid_until)}", 9)
    y -= 8 * mm
    table = Table(canvas, [("項目", 110 * mm, "left"), ("数値", 60 * mm, "right")],
                  new_page=new_page)
    y = table.rows(y, [list(r) for r in summary_figures(s)])

    y = new_page()
    text(canvas, MARGIN, y, "日別の利用 Redemptions per day", 12)
    bars = [(f"{d.day.month}/{d.day.day}", d.face) for d in s.per_day]
    pdf_columns(canvas, bars, MARGIN, y - 75 * mm, PAGE_W - 2 * MARGIN, 70 * mm)
    y -= 85 * mm
    days = Table(canvas, [("利用日", 80 * mm, "left"), ("枚数", 40 * mm, "right"),
                          ("金額", 50 * mm, "right")], new_page=new_page)
    days.rows(y, [[ja_date(d.day), f"{d.tickets:,}", yen(d.face)] for d in s.per_day],
              total=["合計", f"{sum(d.tickets for d in s.per_day):,}",
                     yen(sum(d.face for d in s.per_day))])

    y = new_page()
    text(canvas, MARGIN, y, "工房別の利用 Redemptions per workshop", 12)
    y -= 6 * mm
    for start in range(0, len(s.per_workshop), 50):
        chunk = s.per_workshop[start:start + 50]
        if start:
            y = new_page()
        y = pdf_rows(canvas, [(f"{w.code} {w.name}", w.face) for w in chunk], MARGIN, y,
                     PAGE_W - 2 * MARGIN)
    y = new_page()
    workshops = Table(canvas, [("工房", 100 * mm, "left"), ("枚数", 30 * mm, "right"),
                               ("金額", 40 * mm, "right")], new_page=new_page)
    workshops.rows(
        y, [[f"{w.code} {w.name}", f"{w.tickets:,}", yen(w.face)] for w in s.per_workshop],
        total=["合計", f"{s.redeemed_tickets:,}", yen(s.redeemed_face)],
    )
    _footer(canvas, s, page)
    canvas.showPage()
    canvas.save()


def summary_pdf(s: ProgrammeSummary) -> Iterator[bytes]:
    return spooled(lambda out: write_summary_pdf(out, s))
