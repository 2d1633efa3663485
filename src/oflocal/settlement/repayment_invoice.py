"""The 請求書 (invoice) asking a workshop to pay back what corrections after payment took
back from it (corrections.py: ``settle_by = 'repayment'``).

Issuing one (:func:`issue_invoice`) freezes what it bills: the workshop's corrections it
was asked to pay back that no invoice holds yet, each billed once; money the workshop
already paid back beyond what earlier invoices billed is deducted (入金済み), so an
invoice never asks for money that came in before it. It gets the next number of its
event (R0001-W03: serial and workshop code), its 発行日 (the Tokyo day it was issued), a
due date (default: the end of the next month, 翌月末), and the committee's bank account
to pay into as it is then (the settlement settings' account: a later change does not
rewrite an issued invoice). Rows are never changed (migration 0021's triggers).

Printing: the first PDF is the original; every later one says 再発行 with the day it was
printed and keeps the 発行日, as statements do (:func:`record_print`).

What it shows: the committee (name, address, phone, registration number), the workshop
(御中), number, dates, the amount billed (not subject to consumption tax: giving back
an over-payment is no sale), the corrections with the ticket each concerns, its face
value and the fee given back on it, the deduction, where to pay, and — when the
committee is registered and a ticket's fee is given back — the qualified return
invoice for those fees (settlement.invoicing), since this invoice is the document
through which the fee is returned.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Event, Workshop
from oflocal.format import ja_date, yen
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once
from oflocal.ledger.accounts import receivable_code
from oflocal.ledger.models import Account, JournalEntry, Posting
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
from oflocal.settlement.banks import lookup_bank, lookup_branch
from oflocal.settlement.corrections import owed_back_by_workshop
from oflocal.settlement.invoicing import MovedFee, fees_returned, return_total
from oflocal.settlement.kana import letter_kana
from oflocal.settlement.models import (
    RepaymentInvoice,
    RepaymentInvoiceItem,
    RepaymentInvoicePrint,
    SettlementCorrection,
)
from oflocal.settlement.rules import ACCOUNT_TYPES_JA
from oflocal.settlement.settings import lock_event
from oflocal.settlement.statements import draw_return_invoice
from oflocal.vouchers.codes import grouped
from oflocal.vouchers.models import Redemption, Ticket


def default_due_date(issued: date) -> date:
    """翌月末: the last day of the month after the issue date."""
    year, month = (issued.year + 1, 1) if issued.month == 12 else (issued.year, issued.month + 1)
    return date(year, month, calendar.monthrange(year, month)[1])


def _workshop(session: Session, workshop_id: int) -> Workshop:
    workshop = session.get(Workshop, workshop_id)
    if workshop is None:
        raise Refusal("workshop.not_found")
    return workshop


def _not_invoiced(session: Session, workshop_id: int) -> list[SettlementCorrection]:
    """The workshop's corrections it was asked to pay back that no invoice bills yet."""
    return list(session.execute(
        select(SettlementCorrection)
        .where(SettlementCorrection.workshop_id == workshop_id,
               SettlementCorrection.settle_by == "repayment",
               SettlementCorrection.id.not_in(select(RepaymentInvoiceItem.correction_id)))
        .order_by(SettlementCorrection.id)
    ).scalars())


def repaid_total(session: Session, workshop: Workshop) -> int:
    """What the workshop has paid back so far (its receivable credited by repayments)."""
    return -int(session.execute(
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(Account, Account.id == Posting.account_id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(Account.event_id == workshop.event_id,
               Account.code == receivable_code(workshop.id),
               JournalEntry.kind == "repayment")
    ).scalar_one())


def _invoiced_total(session: Session, workshop_id: int) -> int:
    """What the workshop's invoices billed before deductions (their items)."""
    return int(session.execute(
        select(func.coalesce(func.sum(RepaymentInvoice.items_total), 0))
        .where(RepaymentInvoice.workshop_id == workshop_id)
    ).scalar_one())


@dataclass(frozen=True)
class Billable:
    corrections: list[SettlementCorrection]
    items_total: int
    received_before: int  # paid back already beyond what earlier invoices billed

    @property
    def amount(self) -> int:
        return self.items_total - self.received_before


def billable(session: Session, workshop: Workshop) -> Billable:
    """What a new invoice of the workshop would bill now."""
    corrections = _not_invoiced(session, workshop.id)
    items_total = -sum(c.amount for c in corrections)
    ahead = max(0, repaid_total(session, workshop) - _invoiced_total(session, workshop.id))
    return Billable(corrections, items_total, min(items_total, ahead))


def issue_invoice(db: Database, *, workshop_id: int, actor: str, due_date: date | None = None,
                  now: datetime | None = None, idem: IdempotencyKey | None = None) -> Outcome:
    """Issue the workshop's next repayment invoice for what it was asked to pay back and
    no invoice bills yet. Refused when there is nothing to bill, when the committee's
    bank account is not set, or when the due date is before today (Tokyo)."""
    at = now or clock.now()
    today = clock.tokyo_date(at)
    due = due_date or default_due_date(today)
    if due < today:
        raise Refusal("settlement.invoice_due_invalid", date=today)

    def work(session: Session) -> dict[str, Any]:
        workshop = _workshop(session, workshop_id)
        lock_event(session, workshop.event_id)
        event = session.get(Event, workshop.event_id)
        assert event is not None
        if not (event.payer_bank_code and event.payer_branch_code
                and event.payer_account_number):
            raise Refusal("settlement.invoice_bank_missing")
        bill = billable(session, workshop)
        if not bill.corrections or bill.amount <= 0:
            raise Refusal("settlement.invoice_nothing_to_bill", workshop=workshop.name)
        serial = int(session.execute(
            select(func.coalesce(func.max(RepaymentInvoice.serial), 0))
            .where(RepaymentInvoice.event_id == workshop.event_id)
        ).scalar_one()) + 1
        invoice = RepaymentInvoice(
            event_id=workshop.event_id, workshop_id=workshop.id, serial=serial,
            number=f"R{serial:04d}-{workshop.code}"[:30], issued_on=today, issued_at=at,
            issued_by=actor[:60], due_date=due, items_total=bill.items_total,
            received_before=bill.received_before, amount=bill.amount,
            bank_code=event.payer_bank_code, branch_code=event.payer_branch_code,
            account_type=event.payer_account_type or 1,
            account_number=event.payer_account_number,
            account_holder_kana=event.zengin_requester_kana or "")
        session.add(invoice)
        session.flush()
        session.add_all(RepaymentInvoiceItem(invoice_id=invoice.id, correction_id=c.id)
                        for c in bill.corrections)
        session.flush()
        return invoice_view(session, invoice.id)

    return run_once(db, idem, work, status=201)


def record_print(db: Database, invoice_id: int, *, actor: str,
                 now: datetime | None = None) -> bool:
    """Record the invoice's first PDF; returns whether this print is the first (the
    original). Two first prints at once: one records, the other is a reprint."""
    at = now or clock.now()
    with db.write() as session:
        if session.get(RepaymentInvoice, invoice_id) is None:
            raise Refusal("settlement.invoice_not_found")
        dialect = session.get_bind().dialect.name
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        made = session.execute(
            insert(RepaymentInvoicePrint).values(
                invoice_id=invoice_id, printed_on=clock.tokyo_date(at), printed_at=at,
                printed_by=actor[:60])
            .on_conflict_do_nothing(index_elements=["invoice_id"])
            .returning(RepaymentInvoicePrint.id)
        ).scalars().first()
        return made is not None


# ------------------------------------------------------------------------- reading


def _items(session: Session, invoice_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(SettlementCorrection, Ticket.code, Redemption.amount)
        .join(RepaymentInvoiceItem, RepaymentInvoiceItem.correction_id == SettlementCorrection.id)
        .outerjoin(Redemption, Redemption.id == SettlementCorrection.redemption_id)
        .outerjoin(Ticket, Ticket.id == Redemption.ticket_id)
        .where(RepaymentInvoiceItem.invoice_id == invoice_id)
        .order_by(SettlementCorrection.id)
    ).all()
    return [{
        "correction_id": c.id,
        "corrected_on": clock.tokyo_date(c.created_at).isoformat(),
        "reason": c.reason,
        "ticket_code": code,
        "face": int(face) if face is not None else None,
        "fee_returned": int(face) + c.amount if face is not None else 0,
        "amount": -c.amount,
    } for c, code, face in rows]


def _returns(session: Session, invoice_id: int) -> list[MovedFee]:
    return fees_returned(session, SettlementCorrection.id.in_(
        select(RepaymentInvoiceItem.correction_id)
        .where(RepaymentInvoiceItem.invoice_id == invoice_id)))


def _outstanding(session: Session, invoice: RepaymentInvoice, workshop: Workshop) -> int:
    """What is still to be paid on this invoice: repayments go to the workshop's invoices
    oldest first (after what was deducted on each)."""
    billed_up_to = int(session.execute(
        select(func.coalesce(func.sum(RepaymentInvoice.items_total), 0))
        .where(RepaymentInvoice.workshop_id == invoice.workshop_id,
               RepaymentInvoice.serial <= invoice.serial)
    ).scalar_one())
    return max(0, min(invoice.amount, billed_up_to - repaid_total(session, workshop)))


def invoice_view(session: Session, invoice_id: int) -> dict[str, Any]:
    invoice = session.get(RepaymentInvoice, invoice_id)
    if invoice is None:
        raise Refusal("settlement.invoice_not_found")
    workshop = _workshop(session, invoice.workshop_id)
    printed = session.execute(
        select(RepaymentInvoicePrint.printed_on)
        .where(RepaymentInvoicePrint.invoice_id == invoice_id)).scalar_one_or_none()
    returns = _returns(session, invoice_id)
    total, tax = return_total(returns)
    bank = lookup_bank(invoice.bank_code)
    branch = lookup_branch(invoice.bank_code, invoice.branch_code)
    return {
        "id": invoice.id, "event_id": invoice.event_id, "workshop_id": workshop.id,
        "workshop_code": workshop.code, "workshop_name": workshop.name,
        "number": invoice.number, "issued_on": invoice.issued_on.isoformat(),
        "issued_at": invoice.issued_at.isoformat(), "issued_by": invoice.issued_by,
        "due_date": invoice.due_date.isoformat(), "items_total": invoice.items_total,
        "received_before": invoice.received_before, "amount": invoice.amount,
        "outstanding": _outstanding(session, invoice, workshop),
        "first_printed_on": printed.isoformat() if printed else None,
        "items": _items(session, invoice_id),
        "pay_to": {
            "bank_code": invoice.bank_code, "bank_name": bank.name if bank else "",
            "branch_code": invoice.branch_code, "branch_name": branch.name if branch else "",
            "account_type": invoice.account_type, "account_number": invoice.account_number,
            "account_holder_kana": invoice.account_holder_kana,
        },
        "fee_returns": [{"ticket_code": r.ticket_code, "face": r.face, "fee": r.fee,
                         "original_on": r.original_on.isoformat(),
                         "returned_on": r.corrected_on.isoformat()} for r in returns],
        "fee_return_total": total, "fee_return_tax": tax,
    }


def list_invoices(session: Session, event_id: int) -> list[dict[str, Any]]:
    """The event's repayment invoices, the latest first."""
    ids = session.execute(
        select(RepaymentInvoice.id).where(RepaymentInvoice.event_id == event_id)
        .order_by(RepaymentInvoice.serial.desc())).scalars().all()
    return [invoice_view(session, i) for i in ids]


def workshop_invoices(session: Session, workshop_id: int) -> list[dict[str, Any]]:
    """One workshop's repayment invoices, the latest first (its own view of them)."""
    ids = session.execute(
        select(RepaymentInvoice.id).where(RepaymentInvoice.workshop_id == workshop_id)
        .order_by(RepaymentInvoice.serial.desc())).scalars().all()
    return [invoice_view(session, i) for i in ids]


def workshop_invoice_view(session: Session, invoice_id: int,
                          workshop_id: int) -> dict[str, Any]:
    """The invoice if it is this workshop's; another workshop's is not found (its number
    says nothing to them)."""
    invoice = session.get(RepaymentInvoice, invoice_id)
    if invoice is None or invoice.workshop_id != workshop_id:
        raise Refusal("settlement.invoice_not_found")
    return invoice_view(session, invoice_id)


def owed_back_with_invoices(session: Session, event_id: int) -> list[dict[str, Any]]:
    """corrections.owed_back_by_workshop, with what a new invoice would bill now."""
    rows = owed_back_by_workshop(session, event_id)
    for row in rows:
        row["to_invoice"] = billable(session, _workshop(session, row["workshop_id"])).amount
    return rows


# ----------------------------------------------------------------------------- PDF


@dataclass
class InvoiceDocument:
    view: dict[str, Any]
    committee_name: str
    committee_address: str
    committee_phone: str
    committee_invoice_number: str | None
    workshop_invoice_number: str | None
    returns: list[MovedFee] = field(default_factory=list)


def invoice_document(session: Session, invoice_id: int) -> InvoiceDocument:
    view = invoice_view(session, invoice_id)
    event = session.get(Event, view["event_id"])
    workshop = session.get(Workshop, view["workshop_id"])
    assert event is not None and workshop is not None
    return InvoiceDocument(view, event.committee_name, event.committee_address,
                           event.committee_phone, event.invoice_number,
                           workshop.invoice_number, _returns(session, invoice_id))


def draw_invoice(canvas: Canvas, doc: InvoiceDocument, *, printed: date,
                 reprint: bool) -> None:
    v = doc.view
    page = 1
    right = PAGE_W - MARGIN

    def footer() -> None:
        canvas.setStrokeGray(0.6)
        canvas.line(MARGIN, MARGIN, PAGE_W - MARGIN, MARGIN)
        canvas.setStrokeGray(0)
        text(canvas, MARGIN, MARGIN - 5 * mm, doc.committee_name, 7)
        text(canvas, right, MARGIN - 5 * mm, f"請求書 No. {v['number']}　{page}", 7, "right")

    def new_page() -> float:
        nonlocal page
        footer()
        canvas.showPage()
        page += 1
        top = float(PAGE_H - MARGIN)
        text(canvas, MARGIN, top, f"請求書（続き） No. {v['number']}　{v['workshop_name']}", 10)
        return float(top - 10 * mm)

    y = letter_head(
        canvas, title="請求書", subtitle="Invoice: repayment of an amount paid",
        issued=ja_date(date.fromisoformat(v["issued_on"])), number=v["number"],
        reissued=ja_date(printed) if reprint else None, addressee=v["workshop_name"],
        addressee_lines=[f"工房コード {v['workshop_code']}",
                         *([f"登録番号 {doc.workshop_invoice_number}"]
                           if doc.workshop_invoice_number else [])],
        sender_lines=[doc.committee_name, doc.committee_address, doc.committee_phone,
                      *([f"登録番号 {doc.committee_invoice_number}"]
                        if doc.committee_invoice_number else [])])
    text(canvas, MARGIN, y, "精算後の訂正により、お支払い済みの換金代金の一部のご返金を、"
                            "下記のとおりご請求申し上げます。", 10)
    y -= 13 * mm
    canvas.setLineWidth(1.2)
    canvas.rect(MARGIN, y - 3 * mm, 110 * mm, 12 * mm)
    canvas.setLineWidth(1)
    text(canvas, MARGIN + 3 * mm, y, "ご請求金額", 11)
    text(canvas, MARGIN + 106 * mm, y, yen(v["amount"]), 16, "right")
    text(canvas, MARGIN + 113 * mm, y, "（不課税：お支払い済み代金の返金）", 8)
    y -= 12 * mm
    text(canvas, MARGIN, y, f"お支払期限：{ja_date(date.fromisoformat(v['due_date']))}", 10)
    pay = v["pay_to"]
    kind = ACCOUNT_TYPES_JA.get(pay["account_type"], "")
    y -= 6 * mm
    bank = f"{pay['bank_name'] or pay['bank_code']}（{pay['bank_code']}）"
    branch = f"{pay['branch_name'] or pay['branch_code']}（{pay['branch_code']}）"
    text(canvas, MARGIN, y, f"お振込先：{bank} {branch} {kind} {pay['account_number']}", 10)
    if pay["account_holder_kana"]:
        y -= 5.5 * mm
        text(canvas, MARGIN, y, f"口座名義：{letter_kana(pay['account_holder_kana'])}", 10)

    y -= 11 * mm
    text(canvas, MARGIN, y, "明細", 11)
    y -= 6 * mm
    items = Table(canvas, [("訂正日", 27 * mm, "left"), ("内容", 87 * mm, "left"),
                           ("額面", 18 * mm, "right"), ("手数料戻し", 20 * mm, "right"),
                           ("ご請求額", 22 * mm, "right")], new_page=new_page)
    rows = []
    for it in v["items"]:
        what = it["reason"]
        if it["ticket_code"]:
            what = f"券 {grouped(it['ticket_code'])}：{what}"
        rows.append([ja_date(date.fromisoformat(it["corrected_on"])), what,
                     yen(it["face"]) if it["face"] is not None else "",
                     yen(-it["fee_returned"]) if it["fee_returned"] else "", yen(it["amount"])])
    if v["received_before"]:
        rows.append(["", "小計", "", "", yen(v["items_total"])])
        rows.append(["", "入金済み（この請求書の発行前にいただいた分）", "", "",
                     yen(-v["received_before"])])
    y = items.rows(y, rows, total=["", "ご請求金額", "", "", yen(v["amount"])])
    y -= 2 * mm
    text(canvas, MARGIN, y, "ご請求額＝額面−手数料戻し：券の精算で差し引いた換金手数料は"
                            "お返しし、差し引いてご請求しています。", 7.5)
    if doc.committee_invoice_number and doc.returns:
        y = draw_return_invoice(
            canvas, seller=doc.committee_name, number=doc.committee_invoice_number,
            recipient=v["workshop_name"], returns=doc.returns, y=y - 9 * mm,
            new_page=new_page, through=f"本請求書のご請求額から差し引き（No. {v['number']}）")
    y -= 10 * mm
    if y < MARGIN + 20 * mm:
        y = new_page()
    text(canvas, MARGIN, y, "ご不明な点は上記の委員会までお問い合わせください。", 8.5)
    footer()
    canvas.showPage()


def write_invoice_pdf(out: IO[bytes], doc: InvoiceDocument, *, printed: date | None = None,
                      reprint: bool = False) -> None:
    canvas = new_canvas(out, f"請求書 {doc.view['number']}")
    draw_invoice(canvas, doc, printed=printed or clock.tokyo_date(clock.now()), reprint=reprint)
    canvas.save()


def invoice_pdf(doc: InvoiceDocument, *, printed: date | None = None,
                reprint: bool = False) -> Iterator[bytes]:
    return spooled(lambda out: write_invoice_pdf(out, doc, printed=printed, reprint=reprint))
