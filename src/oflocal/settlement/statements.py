"""Payment statements (支払通知書): one page (or more) per workshop, as PDF and CSV.

A statement shows the committee, the workshop and its invoice registration number,
the period, the tickets by denomination, corrections (with the code of the ticket a
correction concerns), the fee and its rule, the net amount, the transfer date (paid),
the planned one (a Zengin file was made for it) or 未定, the masked bank account and
its holder's name, and a per-day breakdown. The CSV has the same figures, one row per
item, so the totals can be summed in Excel.

Issue date: the first PDF of a workshop's statement records its 発行日
(``settlement_statement_issue``, :func:`record_issues`); every later print keeps that
date and is marked 再発行 with the day it was printed.

Qualified invoice (インボイス): when the committee is registered (the event has an
invoice number), the fee it deducts is its taxable sale (10 %) to the workshop, and the
statement is the qualified invoice for it: the committee's registration number, the
transaction (換金手数料 of the period, with the fee on tickets a correction moved to the
workshop) and its date (the period's cut-off day), the fee for the 10 % rate (tax
included) and the consumption tax in it, and the recipient (the workshop, 御中). The tax
is computed once per statement (one invoice) for its one rate: fee × 10 / 110, fractions
of a yen cut off (:func:`consumption_tax`), as the invoice rules allow one rounding per
invoice per rate.

Qualified return invoice (適格返還請求書): a correction this period settles that moved a
ticket away from the workshop gave back the fee charged on it; the statement through
which it is given back is then also the return invoice (settlement.invoicing): per
ticket the date of the original sale and of the return, the fee returned, and for the
10 % rate the total returned and the consumption tax on it, computed once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import IO, Any

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.format import ja_date, shown_moment, tokyo_minute, yen
from oflocal.reports.csvout import encode_rows, text_cell
from oflocal.reports.pdfkit import (
    MARGIN,
    PAGE_H,
    PAGE_W,
    Table,
    letter_head,
    new_canvas,
    spooled,
    text,
)
from oflocal.settlement.invoicing import (
    TAX_RATE_PERCENT,
    MovedFee,
    consumption_tax,
    return_total,
)
from oflocal.settlement.kana import letter_kana
from oflocal.settlement.models import SettlementLine, SettlementStatementIssue
from oflocal.settlement.queries import Statement, get_period
from oflocal.vouchers.codes import grouped

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
KIND_FEE_TAX = "手数料の消費税"  # only when the committee is registered for invoices
KIND_NET = "支払額"
KIND_NOTE = "訂正の説明"
KIND_FEE_RETURN = "手数料の返還"  # the return invoice, only when registered
KIND_FEE_RETURN_TAX = "返還手数料の消費税"


def charged_fee(st: Statement) -> int:
    """The fee the statement invoices: the period's, and the one on tickets moved to
    the workshop by corrections this period settles (tax included)."""
    return st.fee + sum(m.fee for m in st.moved_in_fees)


def is_invoice(st: Statement) -> bool:
    """Whether the statement is also the committee's qualified invoice for its fee."""
    return bool(st.committee_invoice_number) and charged_fee(st) > 0


def is_return_invoice(st: Statement) -> bool:
    """Whether the statement is also the return invoice for fees it gives back."""
    return bool(st.committee_invoice_number) and bool(st.fee_returns)


def record_issues(db: Database, period_id: int, workshop_id: int | None, *, actor: str,
                  now: datetime | None = None) -> frozenset[int]:
    """Record the first issue of the period's statements (one workshop's when given) that
    were never issued; returns the workshops issued now (their print is no reprint).
    Concurrent first prints: one records, the other reads it (unique key)."""
    at = now or clock.now()
    with db.write() as session:
        get_period(session, period_id)
        query = select(SettlementLine.workshop_id).where(SettlementLine.period_id == period_id)
        if workshop_id is not None:
            query = query.where(SettlementLine.workshop_id == workshop_id)
        workshops = list(session.execute(query).scalars())
        if not workshops:
            return frozenset()
        fresh: set[int] = set()
        for workshop in workshops:
            insert = _insert(session)(SettlementStatementIssue).values(
                period_id=period_id, workshop_id=workshop, issued_on=clock.tokyo_date(at),
                issued_at=at, issued_by=actor[:60],
            ).on_conflict_do_nothing(index_elements=["period_id", "workshop_id"]).returning(
                SettlementStatementIssue.workshop_id)
            fresh.update(session.execute(insert).scalars())
        return frozenset(fresh)


def _insert(session: Session) -> Any:
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert


def owed_back_rows(st: Statement) -> list[tuple[str, int]]:
    """Notes on tickets moved with their fee and on money the workshop owes back
    (corrections.statement_notes): explanations, not added into the net."""
    return list(st.owed_back_notes)


def period_label(previous: datetime | None, cutoff: datetime) -> str:
    """対象期間 as the rest of the letter writes dates: 2026年12月8日 10:47 (Tokyo)."""
    start = f"{shown_moment(previous, 'ja')} より後" if previous else "開始"
    return f"{start} 〜 {shown_moment(cutoff, 'ja')}"


def transfer_label(day: date | None) -> str:
    return ja_date(day) if day else "未定（支払前）"


def transfer_line(st: Statement) -> str:
    """振込日 once paid; 振込予定日 once a Zengin file was made for a date; else 未定."""
    if st.transfer_date is None and st.planned_transfer_date is not None:
        return f"振込予定日：{ja_date(st.planned_transfer_date)}（全銀ファイル作成済み）"
    return f"振込日：{transfer_label(st.transfer_date)}"


def correction_label(reason: str, ticket_code: str | None) -> str:
    """A correction's reason and the ticket it concerns, its code as printed on it."""
    return f"{reason}（券 {grouped(ticket_code)}）" if ticket_code else reason


def return_label(r: MovedFee) -> str:
    """One fee given back, as the return invoice and the CSV state it."""
    return (f"券 {grouped(r.ticket_code)} 額面{yen(r.face)}の換金手数料 "
            f"元の取引日 {r.original_on.isoformat()} 返還日 {r.corrected_on.isoformat()}")


def payee_label(st: Statement) -> str:
    holder = f" 名義 {st.account_holder}" if st.account_holder else ""
    return f"{st.bank_name} {st.branch_name} {st.account}{holder}".strip()


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
        if st.transfer_date:
            transfer = st.transfer_date.isoformat()
        elif st.planned_transfer_date:
            transfer = f"{st.planned_transfer_date.isoformat()}（予定）"
        else:
            transfer = ""
        tail: list[object] = [transfer, payee_label(st)]
        for denomination, count, face in st.denominations:
            yield [*head, KIND_DENOMINATION, f"{denomination:,}円券", count, face, *tail]
        for day, count, face in st.days:
            yield [*head, KIND_DAY, day.isoformat(), count, face, *tail]
        for reason, amount, code in st.corrections:
            yield [*head, KIND_CORRECTION, text_cell(correction_label(reason, code)), "",
                   amount, *tail]
        yield [*head, KIND_FACE, "", st.ticket_count, st.face_total, *tail]
        yield [*head, KIND_ADJUSTMENT, "", "", st.adjustment, *tail]
        yield [*head, KIND_FEE, st.fee_rule.describe_ja(), "", -st.fee, *tail]
        if is_invoice(st):
            charged = charged_fee(st)
            moved = (f"（うち訂正で移された券の手数料{charged - st.fee:,}円）"
                     if charged != st.fee else "")
            yield [*head, KIND_FEE_TAX,
                   f"{TAX_RATE_PERCENT}%対象 税込{charged:,}円{moved} 登録番号 "
                   f"{st.committee_invoice_number}", "", consumption_tax(charged), *tail]
        yield [*head, KIND_NET, "", "", st.net, *tail]
        if is_return_invoice(st):
            for r in st.fee_returns:
                yield [*head, KIND_FEE_RETURN, text_cell(return_label(r)), 1, r.fee, *tail]
            total, tax = return_total(st.fee_returns)
            yield [*head, KIND_FEE_RETURN_TAX,
                   f"{TAX_RATE_PERCENT}%対象 返還額 税込{total:,}円 登録番号 "
                   f"{st.committee_invoice_number}", "", tax, *tail]
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
    """Draw one workshop's statement, on as many pages as its per-day list needs.
    ``issued`` is the day of this print: the 発行日 unless the statement was issued
    before (then it keeps its first date, and a reprint says 再発行 and this day)."""
    page = 1
    subtitle = "Payment statement"
    if is_invoice(st) and is_return_invoice(st):
        subtitle = ("（換金手数料の適格請求書・適格返還請求書を兼ねます） "
                    "Statement, invoice, return invoice")
    elif is_invoice(st):
        subtitle = "（換金手数料の適格請求書を兼ねます） Payment statement and invoice"
    elif is_return_invoice(st):
        subtitle = ("（換金手数料の適格返還請求書を兼ねます） "
                    "Payment statement and return invoice")
    y = letter_head(
        canvas, title="支払通知書", subtitle=subtitle,
        issued=ja_date(st.first_issued_on or issued),
        number=f"{st.period_number}-{st.workshop_code}",
        reissued=ja_date(issued) if st.reissue else None, addressee=st.workshop_name,
        addressee_lines=[f"工房コード {st.workshop_code}",
                         *([f"登録番号 {st.invoice_number}"] if st.invoice_number else [])],
        sender_lines=[st.committee_name, st.committee_address, st.committee_phone,
                      *([f"登録番号 {st.committee_invoice_number}"]
                        if st.committee_invoice_number else [])])
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
    text(canvas, MARGIN, y, transfer_line(st), 9.5)
    y -= 5.5 * mm
    text(canvas, MARGIN, y, f"振込先：{st.bank_name} {st.branch_name} {st.account}", 9.5)
    if st.account_holder:
        y -= 5.5 * mm
        text(canvas, MARGIN, y, f"口座名義：{letter_kana(st.account_holder)}", 9.5)

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
    for reason, amount, code in st.corrections:
        rows.append([f"訂正：{correction_label(reason, code)}", "", yen(amount)])
    rows.append([f"換金手数料（{st.fee_rule.describe_ja()}）", "", yen(-st.fee)])
    y = summary.rows(y, rows, total=["お支払額", "", yen(st.net)])
    notes = owed_back_rows(st)
    if notes:
        y -= 6 * mm
        explained = Table(canvas, [("訂正の説明・お知らせ", 130 * mm, "left"),
                                   ("金額", 30 * mm, "right")], new_page=new_page)
        y = explained.rows(y, [[note, yen(amount)] for note, amount in notes])

    if is_invoice(st):
        y = _draw_invoice(canvas, st, y - 8 * mm, new_page)
    if is_return_invoice(st):
        y = draw_return_invoice(
            canvas, seller=st.committee_name, number=str(st.committee_invoice_number),
            recipient=st.workshop_name, returns=st.fee_returns, y=y - 8 * mm,
            new_page=new_page,
            through=f"第{st.period_number}回精算のお支払額で調整（訂正の説明のとおり）")

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


def _draw_invoice(canvas: Canvas, st: Statement, y: float, new_page: Any) -> float:
    """The qualified-invoice part: what the fee the committee deducts is, with its tax."""
    if y < MARGIN + 45 * mm:
        y = new_page()
    text(canvas, MARGIN, y, "適格請求書（換金手数料） Qualified invoice for the fee", 11)
    y -= 6 * mm
    charged = charged_fee(st)
    tax = consumption_tax(charged)
    lines = [
        f"適格請求書発行事業者：{st.committee_name}　登録番号 {st.committee_invoice_number}",
        f"交付を受ける事業者：{st.workshop_name} 御中",
        f"取引年月日：{ja_date(clock.tokyo_date(st.cutoff_at))}（第{st.period_number}回精算の締め日。"
        f"対象期間 {period_label(st.previous_cutoff_at, st.cutoff_at)}）",
        "取引内容：商品券換金手数料（お支払額から差し引き）",
    ]
    if st.moved_in_fees:
        codes = "、".join(grouped(m.ticket_code) for m in st.moved_in_fees)
        lines.append(f"　うち訂正で移された券の手数料 {yen(charged - st.fee)}（券 {codes}）")
    for line in lines:
        text(canvas, MARGIN, y, line, 9)
        y -= 5 * mm
    y -= 1 * mm
    table = Table(canvas, [("税率区分", 95 * mm, "left"), ("税込金額", 25 * mm, "right"),
                           ("うち消費税等", 40 * mm, "right")], new_page=new_page)
    y = table.rows(y, [[f"{TAX_RATE_PERCENT}%対象", yen(charged), yen(tax)]])
    y -= 1 * mm
    text(canvas, MARGIN, y,
         "消費税等は本書ごとに税込金額×10/110で計算し、1円未満を切り捨てています。", 7.5)
    return float(y)


def draw_return_invoice(canvas: Canvas, *, seller: str, number: str, recipient: str,
                        returns: list[MovedFee], y: float, new_page: Any,
                        through: str) -> float:
    """The qualified return invoice (適格返還請求書) for fees given back: the seller and
    its number, the recipient, each ticket with the date of the original sale and of the
    return, and for the 10 % rate the total returned and the tax on it (one rounding).
    ``through``: how the money is given back (a payout, a repayment invoice)."""
    if y < MARGIN + 50 * mm:
        y = new_page()
    text(canvas, MARGIN, y,
         "適格返還請求書（換金手数料の返還） Qualified return invoice for the fee", 11)
    y -= 6 * mm
    for line in (f"適格請求書発行事業者：{seller}　登録番号 {number}",
                 f"交付を受ける事業者：{recipient} 御中",
                 "返還の内容：精算後の訂正で券を移した（取り消した）ため、その券の精算で"
                 "差し引いた換金手数料をお返しします",
                 f"返還の方法：{through}"):
        text(canvas, MARGIN, y, line, 9)
        y -= 5 * mm
    y -= 1 * mm
    per_ticket = Table(canvas, [("券（額面）", 66 * mm, "left"),
                                ("元の取引年月日", 32 * mm, "left"),
                                ("返還年月日", 32 * mm, "left"),
                                ("返還額（税込）", 30 * mm, "right")], new_page=new_page)
    y = per_ticket.rows(y, [[f"{grouped(r.ticket_code)}（{yen(r.face)}）", ja_date(r.original_on),
                             ja_date(r.corrected_on), yen(r.fee)] for r in returns])
    y -= 2 * mm
    total, tax = return_total(returns)
    by_rate = Table(canvas, [("税率区分", 95 * mm, "left"), ("返還額（税込）", 25 * mm, "right"),
                             ("うち消費税等", 40 * mm, "right")], new_page=new_page)
    y = by_rate.rows(y, [[f"{TAX_RATE_PERCENT}%対象", yen(total), yen(tax)]])
    y -= 1 * mm
    text(canvas, MARGIN, y,
         "元の取引年月日は手数料を差し引いた精算の締め日、返還年月日は訂正の日です。"
         "消費税等は返還額×10/110（1円未満切り捨て）。", 7.5)
    return float(y)


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
