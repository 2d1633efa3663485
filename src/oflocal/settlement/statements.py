"""Payment statements (支払通知書): one page (or more) per workshop, as PDF and CSV.

A statement shows the committee, the workshop and its invoice registration number,
the period, the tickets by denomination, corrections, the fee and its rule, the net
amount, the transfer date and the masked bank account, and a per-day breakdown.
The CSV has the same figures, one row per item, so the totals can be summed in Excel.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import IO

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from oflocal import clock
from oflocal.format import ja_date, tokyo_minute, yen
from oflocal.reports.csvout import encode_rows, text_cell
from oflocal.reports.pdfkit import MARGIN, PAGE_H, PAGE_W, Table, new_canvas, spooled, text
from oflocal.settlement.queries import Statement

CSV_HEADER = (
    "精算回", "締め日時", "工房コード", "工房名", "登録番号", "区分", "内訳", "枚数", "金額",
    "振込日", "振込先",
)
KIND_DENOMINATION = "券種"
KIND_DAY = "日別"
KIND_CORRECTION = "訂正"
KIND_FACE = "額面合計"
KIND_ADJUSTMENT = "訂正合計"
KIND_FEE = "手数料"
KIND_NET = "支払額"
KIND_NOTE = "訂正の説明"


def owed_back_rows(st: Statement) -> list[tuple[str, int]]:
    """Notes on tickets moved with their fee and on money the workshop owes back
    (corrections.statement_notes): explanations, not added into the net."""
    return list(st.owed_back_notes)


def period_label(previous: datetime | None, cutoff: datetime) -> str:
    start = f"{tokyo_minute(previous)} より後" if previous else "開始"
    return f"{start} 〜 {tokyo_minute(cutoff)}"


def transfer_label(day: date | None) -> str:
    return ja_date(day) if day else "未定（支払前）"


# ---------------------------------------------------------------------------- CSV


def csv_rows(statements: Iterable[Statement]) -> Iterator[list[object]]:
    yield list(CSV_HEADER)
    for st in statements:
        head: list[object] = [
            st.period_number,
            tokyo_minute(st.cutoff_at),
            st.workshop_code,
            text_cell(st.workshop_name),
            st.invoice_number or "",
        ]
        tail: list[object] = [
            st.transfer_date.isoformat() if st.transfer_date else "",
            f"{st.bank_name} {st.branch_name} {st.account}".strip(),
        ]
        for denomination, count, face in st.denominations:
            yield [*head, KIND_DENOMINATION, f"{denomination:,}円券", count, face, *tail]
        for day, count, face in st.days:
            yield [*head, KIND_DAY, day.isoformat(), count, face, *tail]
        for reason, amount in st.corrections:
            yield [*head, KIND_CORRECTION, text_cell(reason), "", amount, *tail]
        yield [*head, KIND_FACE, "", st.ticket_count, st.face_total, *tail]
        yield [*head, KIND_ADJUSTMENT, "", "", st.adjustment, *tail]
        yield [*head, KIND_FEE, st.fee_rule.describe_ja(), "", -st.fee, *tail]
        yield [*head, KIND_NET, "", "", st.net, *tail]
        for note, amount in owed_back_rows(st):
            yield [*head, KIND_NOTE, text_cell(note), "", amount, *tail]


def statements_csv(statements: Iterable[Statement], encoding: str = "utf-8-sig") -> Iterator[bytes]:
    return encode_rows(csv_rows(statements), encoding)


# ---------------------------------------------------------------------------- PDF


def _page_footer(canvas: Canvas, st: Statement, page: int) -> None:
    canvas.setStrokeGray(0.6)
    canvas.line(MARGIN, MARGIN, PAGE_W - MARGIN, MARGIN)
    canvas.setStrokeGray(0)
    text(canvas, MARGIN, MARGIN - 5 * mm, f"{st.committee_name}　{st.event_name}", 7)
    text(canvas, PAGE_W - MARGIN, MARGIN - 5 * mm,
         f"第{st.period_number}回精算　{st.workshop_code}　{page}", 7, "right")


def draw_statement(canvas: Canvas, st: Statement, issued: date) -> None:
    """Draw one workshop's statement, on as many pages as its per-day list needs."""
    page = 1
    right = PAGE_W - MARGIN
    y = PAGE_H - MARGIN - 4 * mm
    text(canvas, PAGE_W / 2, y, "支払通知書", 20, "center")
    text(canvas, PAGE_W / 2, y - 6 * mm, "Payment statement", 8, "center")
    text(canvas, right, y, f"発行日 {ja_date(issued)}", 9, "right")
    text(canvas, right, y - 5 * mm, f"No. {st.period_number}-{st.workshop_code}", 9, "right")

    y -= 20 * mm
    text(canvas, MARGIN, y, f"{st.workshop_name}　御中", 14)
    canvas.line(MARGIN, y - 2 * mm, MARGIN + 95 * mm, y - 2 * mm)
    lines = [f"工房コード {st.workshop_code}"]
    if st.invoice_number:
        lines.append(f"登録番号 {st.invoice_number}")
    for i, line in enumerate(lines):
        text(canvas, MARGIN, y - (8 + 5 * i) * mm, line, 9)
    sender = [st.committee_name, st.committee_address, st.committee_phone]
    for i, line in enumerate(s for s in sender if s):
        text(canvas, right, y - 5 * i * mm, line, 10 if i == 0 else 8.5, "right")

    y -= 24 * mm
    text(canvas, MARGIN, y, "下記のとおり、商品券の換金代金をお支払いいたします。", 10)
    y -= 7 * mm
    period = period_label(st.previous_cutoff_at, st.cutoff_at)
    text(canvas, MARGIN, y, f"対象期間（第{st.period_number}回精算）：{period}", 9.5)

    y -= 13 * mm
    canvas.setLineWidth(1.2)
    canvas.rect(MARGIN, y - 3 * mm, 110 * mm, 12 * mm)
    canvas.setLineWidth(1)
    text(canvas, MARGIN + 3 * mm, y, "お支払額", 11)
    text(canvas, MARGIN + 106 * mm, y, yen(st.net), 16, "right")
    y -= 12 * mm
    text(canvas, MARGIN, y, f"振込日：{transfer_label(st.transfer_date)}", 9.5)
    y -= 5.5 * mm
    text(canvas, MARGIN, y, f"振込先：{st.bank_name} {st.branch_name} {st.account}", 9.5)

    def new_page() -> float:
        nonlocal page
        _page_footer(canvas, st, page)
        canvas.showPage()
        page += 1
        top = float(PAGE_H - MARGIN)
        text(canvas, MARGIN, top,
             f"支払通知書（続き） {st.workshop_name}　第{st.period_number}回精算", 10)
        return float(top - 10 * mm)

    y -= 11 * mm
    text(canvas, MARGIN, y, "内訳", 11)
    y -= 6 * mm
    summary = Table(canvas, [("項目", 95 * mm, "left"), ("枚数", 25 * mm, "right"),
                             ("金額", 40 * mm, "right")], new_page=new_page)
    rows = [[f"商品券 {yen(d)} 券", f"{c:,}", yen(f)] for d, c, f in st.denominations]
    rows.append(["額面合計（利用分）", f"{st.ticket_count:,}", yen(st.face_total)])
    for reason, amount in st.corrections:
        rows.append([f"訂正：{reason}", "", yen(amount)])
    rows.append([f"換金手数料（{st.fee_rule.describe_ja()}）", "", yen(-st.fee)])
    y = summary.rows(y, rows, total=["お支払額", "", yen(st.net)])
    notes = owed_back_rows(st)
    if notes:
        y -= 6 * mm
        explained = Table(canvas, [("訂正の説明・お知らせ", 130 * mm, "left"),
                                   ("金額", 30 * mm, "right")], new_page=new_page)
        y = explained.rows(y, [[note, yen(amount)] for note, amount in notes])

    y -= 8 * mm
    if y < MARGIN + 40 * mm:
        y = new_page()
    text(canvas, MARGIN, y, "日別の内訳", 11)
    y -= 6 * mm
    days = Table(canvas, [("利用日", 95 * mm, "left"), ("枚数", 25 * mm, "right"),
                          ("金額", 40 * mm, "right")], new_page=new_page)
    day_rows = [[ja_date(d), f"{c:,}", yen(f)] for d, c, f in st.days]
    days.rows(y, day_rows, total=["合計", f"{st.ticket_count:,}", yen(st.face_total)])
    _page_footer(canvas, st, page)
    canvas.showPage()


def write_statements_pdf(out: IO[bytes], statements: Iterable[Statement], *,
                         issued: date | None = None) -> int:
    """Write every statement into one PDF; returns how many statements were drawn."""
    canvas = new_canvas(out, "支払通知書")
    day = issued or clock.tokyo_date(clock.now())
    count = 0
    for st in statements:
        draw_statement(canvas, st, day)
        count += 1
    if count == 0:
        text(canvas, MARGIN, PAGE_H - MARGIN, "この精算期間に支払明細はありません。", 11)
        canvas.showPage()
    canvas.save()
    return count


def statements_pdf(
    statements: Iterable[Statement], *, issued: date | None = None
) -> Iterator[bytes]:
    """The PDF as chunks (built in a spooled temporary file, then streamed)."""
    return spooled(lambda out: write_statements_pdf(out, statements, issued=issued))
