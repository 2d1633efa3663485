"""The treasurer's own entries (会計伝票): money that does not go through tickets.

Each is one voucher and one balanced journal entry (``ledger.journal.post_entry``), two
postings: the amount on the debit account and on the credit account. What a treasurer
does decides which accounts may be used (:data:`KINDS`):

==================  =====================  ======================================
kind                借方 (debit)            貸方 (credit)
==================  =====================  ======================================
cash_deposit        bank                   cash
account_transfer    bank / cash / provider  bank / cash / provider (another one)
subsidy             bank / cash            premium_fund or subsidy_income
sponsorship         bank / cash            premium_fund or sponsorship_income
other_receipt       bank / cash            deposits_received or other_income
expense             bank_fees / other_expenses / payment_fees    bank / cash
overpayment_refund  deposits_received / other_income / subsidy_income /
                    sponsorship_income                            bank / cash
opening_balance     bank / cash            opening_equity (前期繰越正味財産)
==================  =====================  ======================================

Whether a subsidy or a sponsorship adds to the premium fund (it pays for the vouchers'
premium) or is the committee's income is the committee's choice, made per voucher.

An opening balance (開始残高) is the money a bank account or the cash box holds from last
year, set against the committee's net assets brought forward. It is dated the first day
of a fiscal year (1 April), and each account has at most one that is not reversed per
event (:func:`_check_opening`, under the event's lock): a wrong one is reversed (the
reversal keeps its date unless told otherwise) and entered again. The trial balance
shows it in the opening column and the annual report as 前期繰越金, not as a receipt.

A voucher carries its business date (the day it happened, in Tokyo; not after today)
beside the moment it was recorded, a voucher number unique in its event (given, or the
next free number assigned), a description, who paid or was paid, and optionally a
receipt (``treasury.receipts``). Vouchers are never edited or deleted: a mistake is put
right by :func:`reverse_voucher`, a new voucher with the mirror entry, once per voucher.
Retries are the caller's: the API's Idempotency-Key and the page's form key run these
functions at most once (``idempotency.store.run_once``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.ledger.accounts import OPENING_EQUITY, account_ids
from oflocal.ledger.journal import post_entry, reverse_entry
from oflocal.ledger.models import Account
from oflocal.settlement.settings import lock_event
from oflocal.treasury.models import TreasuryAttachment, TreasuryEntry
from oflocal.treasury.receipts import CheckedReceipt, Receipt, check_receipt

MAX_AMOUNT = 100_000_000
MONEY = ("bank", "cash")
ASSETS = ("bank", "cash", "provider_receivable")
VOUCHER_NO = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,19}")


@dataclass(frozen=True)
class Kind:
    ja: str
    en: str
    debit: tuple[str, ...]
    credit: tuple[str, ...]
    debit_default: str | None
    credit_default: str | None


KINDS: dict[str, Kind] = {
    "cash_deposit": Kind("現金の預け入れ", "Cash deposited in the bank",
                         ("bank",), ("cash",), "bank", "cash"),
    "subsidy": Kind("補助金の受け入れ", "Subsidy received", MONEY,
                    ("premium_fund", "subsidy_income"), "bank", None),
    "sponsorship": Kind("協賛金の受け入れ", "Sponsorship received", MONEY,
                        ("premium_fund", "sponsorship_income"), "bank", None),
    "other_receipt": Kind("その他の入金", "Other money received", MONEY,
                          ("deposits_received", "other_income"), "bank", None),
    "expense": Kind("経費の支払", "Expense paid",
                    ("bank_fees", "other_expenses", "payment_fees"), MONEY, None, "bank"),
    "account_transfer": Kind("口座間の振替", "Transfer between accounts", ASSETS, ASSETS,
                             None, None),
    "overpayment_refund": Kind(
        "過入金の返金", "Refund of an over-payment",
        ("deposits_received", "other_income", "subsidy_income", "sponsorship_income"),
        MONEY, "deposits_received", "bank"),
    "opening_balance": Kind("開始残高（前期繰越）", "Opening balance (brought forward)",
                            MONEY, (OPENING_EQUITY,), None, OPENING_EQUITY),
}
REVERSAL = Kind("取消（反対仕訳）", "Reversal", (), (), None, None)


def kind_of(code: str) -> Kind:
    return REVERSAL if code == "reversal" else KINDS[code]


@dataclass(frozen=True)
class EntryRequest:
    event_id: int
    kind: str
    amount: int
    business_date: date
    description: str
    counterparty: str = ""
    voucher_no: str | None = None
    debit: str | None = None  # account codes; None takes the kind's default
    credit: str | None = None


def _check_date(day: date, now: datetime) -> None:
    today = clock.tokyo_date(now)
    if day > today:
        raise Refusal("treasury.date_invalid", date=today)


def _accounts(kind: Kind, debit: str | None, credit: str | None) -> tuple[str, str]:
    chosen = []
    for side, side_ja, given, allowed, default in (
            ("debit", "借方", debit, kind.debit, kind.debit_default),
            ("credit", "貸方", credit, kind.credit, kind.credit_default)):
        code = (given or "").strip() or default
        if code not in allowed:
            raise Refusal("treasury.account_not_allowed", account=code or "—", side=side,
                          side_ja=side_ja, allowed=", ".join(allowed))
        chosen.append(code)
    if chosen[0] == chosen[1]:
        raise Refusal("treasury.account_not_allowed", account=chosen[0], side="credit",
                      side_ja="貸方", allowed=", ".join(c for c in kind.credit
                                                     if c != chosen[0]))
    return chosen[0], chosen[1]


def check_request(req: EntryRequest, now: datetime) -> tuple[str, str, str | None]:
    """Everything that can be refused before the database is touched: the accounts, the
    amount, the date, the description and the voucher number's form."""
    if req.kind not in KINDS:
        raise Refusal("treasury.kind_unknown", kind=req.kind[:40])
    debit, credit = _accounts(KINDS[req.kind], req.debit, req.credit)
    if type(req.amount) is not int or not 1 <= req.amount <= MAX_AMOUNT:
        raise Refusal("treasury.amount_invalid", limit=f"{MAX_AMOUNT:,}")
    _check_date(req.business_date, now)
    if req.kind == "opening_balance":
        first = fiscal_year_start(req.business_date)
        if req.business_date != first:
            raise Refusal("treasury.opening_date_invalid", date=first)
    if not req.description.strip():
        raise Refusal("treasury.description_missing")
    voucher_no = (req.voucher_no or "").strip() or None
    if voucher_no is not None and not VOUCHER_NO.fullmatch(voucher_no):
        raise Refusal("treasury.voucher_no_invalid", voucher_no=voucher_no[:40])
    return debit, credit, voucher_no


def fiscal_year_start(day: date) -> date:
    """1 April of the Japanese fiscal year (April – March) that holds ``day``."""
    return date(day.year if day.month >= 4 else day.year - 1, 4, 1)


def _check_opening(session: Session, event_id: int, account_id: int, name: str) -> None:
    """At most one opening balance per account per event that is not reversed (called
    under the event's lock, so two at once cannot both pass)."""
    reversal = aliased(TreasuryEntry)
    found = session.execute(
        select(TreasuryEntry.voucher_no)
        .outerjoin(reversal, reversal.reverses_id == TreasuryEntry.id)
        .where(TreasuryEntry.event_id == event_id, TreasuryEntry.kind == "opening_balance",
               TreasuryEntry.debit_account_id == account_id, reversal.id.is_(None))
    ).scalar()
    if found is not None:
        raise Refusal("treasury.opening_exists", account=name, voucher_no=found)


def _voucher_no(session: Session, event_id: int, given: str | None) -> str:
    """The given number if free, else the next number after the highest plain number of
    the event (0001, 0002, ...). Called under the event's lock."""
    used = set(session.execute(
        select(TreasuryEntry.voucher_no).where(TreasuryEntry.event_id == event_id)
    ).scalars())
    if given is not None:
        if given in used:
            raise Refusal("treasury.voucher_no_taken", voucher_no=given)
        return given
    n = max((int(v) for v in used if v.isdigit()), default=0) + 1
    while f"{n:04d}" in used:
        n += 1
    return f"{n:04d}"


def _memo(voucher_no: str, kind: Kind, description: str, counterparty: str) -> str:
    who = f"（{counterparty}）" if counterparty else ""
    return f"伝票{voucher_no} {kind.ja}{who}: {description}"


def record_entry(db: Database, req: EntryRequest, *, actor: str,
                 receipt: Receipt | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Post one voucher and its entry; answer the voucher as :func:`entry_view` does."""
    at = now or clock.now()
    debit, credit, given_no = check_request(req, at)
    checked: CheckedReceipt | None = check_receipt(receipt) if receipt is not None else None
    description, counterparty = req.description.strip()[:300], req.counterparty.strip()[:120]
    with db.write() as session:
        lock_event(session, req.event_id)
        ids = account_ids(session, req.event_id, debit, credit)
        if req.kind == "opening_balance":
            name = session.get(Account, ids[debit])
            _check_opening(session, req.event_id, ids[debit], name.name if name else debit)
        voucher_no = _voucher_no(session, req.event_id, given_no)
        kind = KINDS[req.kind]
        entry_id = post_entry(
            session, event_id=req.event_id, kind=req.kind,
            lines=[(ids[debit], req.amount), (ids[credit], -req.amount)], occurred_at=at,
            memo=_memo(voucher_no, kind, description, counterparty), actor=actor,
            business_date=req.business_date)
        attachment = None
        if checked is not None:
            attachment = TreasuryAttachment(
                event_id=req.event_id, filename=checked.filename,
                content_type=checked.content_type, byte_size=len(checked.data),
                sha256=checked.sha256, uploaded_at=at, uploaded_by=actor[:60],
                data=checked.data)
            session.add(attachment)
            session.flush()
        voucher = TreasuryEntry(
            event_id=req.event_id, voucher_no=voucher_no, kind=req.kind,
            business_date=req.business_date, amount=req.amount,
            debit_account_id=ids[debit], credit_account_id=ids[credit],
            description=description, counterparty=counterparty, entry_id=entry_id,
            attachment_id=attachment.id if attachment else None, recorded_at=at,
            recorded_by=actor[:60])
        session.add(voucher)
        session.flush()
        return entry_view(session, voucher.id)


def reverse_voucher(db: Database, voucher_id: int, *, reason: str, actor: str,
                    business_date: date | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """Reverse a voucher by a new one with the mirror entry; once, and never a reversal.
    Dated today unless told otherwise; an opening balance's reversal is dated as the
    opening balance (it corrects the balance brought forward, not this year's money)."""
    at = now or clock.now()
    reason = reason.strip()
    if not reason:
        raise Refusal("treasury.reason_missing")
    if business_date is not None:
        _check_date(business_date, at)
    with db.write() as session:
        original = session.get(TreasuryEntry, voucher_id)
        if original is None:
            raise Refusal("treasury.entry_not_found")
        lock_event(session, original.event_id)
        day = business_date or (original.business_date if original.kind == "opening_balance"
                                else clock.tokyo_date(at))
        if original.kind == "reversal":
            raise Refusal("treasury.reversal_final")
        if day < original.business_date:  # a correction cannot predate what it corrects
            raise Refusal("treasury.reversal_before_original", date=original.business_date)
        done = session.execute(select(TreasuryEntry.voucher_no).where(
            TreasuryEntry.reverses_id == voucher_id)).scalar_one_or_none()
        if done is not None:
            raise Refusal("treasury.already_reversed", voucher_no=done)
        voucher_no = _voucher_no(session, original.event_id, None)
        # Japanese only, as the journal's 摘要 reads it; an English page says "Reversal"
        # from the kind and names the voucher from reverses_id.
        description = f"{original.voucher_no}の取消: {reason}"
        entry_id = reverse_entry(
            session, original.entry_id, kind="reversal", occurred_at=at, actor=actor,
            memo=_memo(voucher_no, REVERSAL, description, original.counterparty),
            business_date=day)
        voucher = TreasuryEntry(
            event_id=original.event_id, voucher_no=voucher_no, kind="reversal",
            business_date=day, amount=original.amount,
            debit_account_id=original.credit_account_id,
            credit_account_id=original.debit_account_id, description=description[:300],
            counterparty=original.counterparty, entry_id=entry_id, reverses_id=original.id,
            recorded_at=at, recorded_by=actor[:60])
        session.add(voucher)
        session.flush()
        return entry_view(session, voucher.id)


# ------------------------------------------------------------------------- reading

_Debit, _Credit = aliased(Account), aliased(Account)
_Reversal = aliased(TreasuryEntry)


def names_of(session: Session, scopes: set[str]) -> dict[str, str]:
    """Who recorded something, as people read it: a staff member's display name for
    ``staff:N``; anything else (``cli:yamada``) as it was recorded."""
    staff = {s: int(s[6:]) for s in scopes if s.startswith("staff:") and s[6:].isdigit()}
    names: dict[int, str] = {}
    if staff:
        names = {id_: name for id_, name in session.execute(
            select(StaffUser.id, StaffUser.display_name).where(
                StaffUser.id.in_(set(staff.values()))))}
    return {s: names.get(staff[s], s) if s in staff else s for s in scopes}


def _rows(session: Session, *where: Any) -> list[dict[str, Any]]:
    rows = session.execute(
        select(TreasuryEntry, _Debit.code, _Debit.name, _Credit.code, _Credit.name,
               TreasuryAttachment.filename, TreasuryAttachment.content_type,
               TreasuryAttachment.byte_size, TreasuryAttachment.sha256,
               _Reversal.id, _Reversal.voucher_no)
        .join(_Debit, _Debit.id == TreasuryEntry.debit_account_id)
        .join(_Credit, _Credit.id == TreasuryEntry.credit_account_id)
        .outerjoin(TreasuryAttachment, TreasuryAttachment.id == TreasuryEntry.attachment_id)
        .outerjoin(_Reversal, _Reversal.reverses_id == TreasuryEntry.id)
        .where(*where)
        .order_by(TreasuryEntry.business_date.desc(), TreasuryEntry.id.desc())
    ).all()
    names = names_of(session, {row[0].recorded_by for row in rows})
    out = []
    for (v, dcode, dname, ccode, cname, fname, ctype, size, sha, rid, rno) in rows:
        kind = kind_of(v.kind)
        out.append({
            "id": v.id, "event_id": v.event_id, "voucher_no": v.voucher_no, "kind": v.kind,
            "kind_ja": kind.ja, "kind_en": kind.en,
            "business_date": v.business_date.isoformat(), "amount": v.amount,
            "debit_account": dcode, "debit_name": dname,
            "credit_account": ccode, "credit_name": cname,
            "description": v.description, "counterparty": v.counterparty,
            "entry_id": v.entry_id, "recorded_at": v.recorded_at.isoformat(),
            "recorded_by": v.recorded_by, "recorded_by_name": names[v.recorded_by],
            "attachment": None if fname is None else {
                "filename": fname, "content_type": ctype, "byte_size": size, "sha256": sha},
            "reverses_id": v.reverses_id, "reversed_by_id": rid,
            "reversed_by_voucher_no": rno,
        })
    return out


def entry_view(session: Session, voucher_id: int) -> dict[str, Any]:
    found = _rows(session, TreasuryEntry.id == voucher_id)
    if not found:
        raise Refusal("treasury.entry_not_found")
    return found[0]


def list_entries(session: Session, event_id: int) -> list[dict[str, Any]]:
    """The event's vouchers, the latest business day first."""
    return _rows(session, TreasuryEntry.event_id == event_id)


def receipt_of(session: Session, voucher_id: int) -> TreasuryAttachment:
    voucher = session.get(TreasuryEntry, voucher_id)
    if voucher is None:
        raise Refusal("treasury.entry_not_found")
    if voucher.attachment_id is None:
        raise Refusal("treasury.attachment_not_found")
    attachment = session.get(TreasuryAttachment, voucher.attachment_id)
    assert attachment is not None
    _ = attachment.data  # load the deferred bytes inside the session
    return attachment


def account_choices(session: Session, event_id: int) -> dict[str, str]:
    """Names of the accounts the kinds may use, by code (for forms)."""
    codes = {c for k in KINDS.values() for c in (*k.debit, *k.credit)}
    rows = session.execute(select(Account.code, Account.name).where(
        Account.event_id == event_id, Account.code.in_(codes)).order_by(Account.id))
    return {code: name for code, name in rows}
