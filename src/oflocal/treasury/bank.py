"""Bank reconciliation (銀行残高照合): the bank account by the ledger against the passbook.

Every posting on the event's ``bank`` account is a line the passbook should show one
day. The treasurer ticks the lines seen in the passbook (:func:`set_ticks`); the lines
not ticked are the *unmatched items*: payouts recorded but not yet taken from the
account, deposits in transit. As of a day, with the balance typed from the passbook:

    difference  = ledger balance − passbook balance
    unexplained = difference − (sum of the unmatched items)

``unexplained`` is 0 when every difference is explained; otherwise the passbook shows
something the books do not (a bank charge, interest: record it as a voucher, then tick
it) or a line was ticked wrongly. A line's day is its voucher's business date, or for
other entries the Tokyo day it was recorded. :func:`record_reconciliation` keeps the
comparison as it was made (append-only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.ledger.accounts import account_ids
from oflocal.ledger.models import JournalEntry, Posting
from oflocal.reports.journal_text import description_ja
from oflocal.settlement.settings import lock_event
from oflocal.treasury.entries import names_of
from oflocal.treasury.models import BankReconciliation, BankTick, TreasuryEntry

MAX_BALANCE = 10_000_000_000


@dataclass(frozen=True)
class BankLine:
    posting_id: int
    entry_id: int
    day: date
    kind: str
    memo: str
    amount: int  # + into the account, − out of it
    ticked: bool
    voucher_no: str | None


def bank_lines(session: Session, event_id: int, as_of: date | None = None) -> list[BankLine]:
    """The bank account's postings, by day (and as of a day, up to it)."""
    bank = account_ids(session, event_id, "bank")["bank"]
    rows = session.execute(
        select(Posting.id, Posting.entry_id, Posting.amount, JournalEntry.kind,
               JournalEntry.memo, JournalEntry.occurred_at, JournalEntry.business_date,
               TreasuryEntry.voucher_no, BankTick.id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .outerjoin(TreasuryEntry, TreasuryEntry.entry_id == JournalEntry.id)
        .outerjoin(BankTick, BankTick.posting_id == Posting.id)
        .where(Posting.account_id == bank)
    ).all()
    lines = [
        BankLine(pid, eid, day or clock.tokyo_date(at), kind, memo, int(amount),
                 tick is not None, vno)
        for pid, eid, amount, kind, memo, at, day, vno, tick in rows
    ]
    lines.sort(key=lambda line: (line.day, line.posting_id))
    return [line for line in lines if as_of is None or line.day <= as_of]


def _check_as_of(as_of: date) -> None:
    today = clock.tokyo_date(clock.now())
    if as_of > today:
        raise Refusal("treasury.date_invalid", date=today)


def _check_balance(balance: int) -> None:
    if type(balance) is not int or abs(balance) > MAX_BALANCE:
        raise Refusal("bank.balance_invalid")


def reconciliation(session: Session, event_id: int, as_of: date,
                   passbook_balance: int | None = None) -> dict[str, Any]:
    """The comparison as of a day: every line up to it, the unmatched ones, and with a
    passbook balance, the difference and what is left unexplained."""
    _check_as_of(as_of)
    lines = bank_lines(session, event_id, as_of)
    ledger_balance = sum(line.amount for line in lines)
    unmatched = [line for line in lines if not line.ticked]
    unmatched_total = sum(line.amount for line in unmatched)
    result: dict[str, Any] = {
        "event_id": event_id, "as_of": as_of.isoformat(), "ledger_balance": ledger_balance,
        "lines": [_line(line) for line in lines],
        "unmatched": [_line(line) for line in unmatched],
        "unmatched_total": unmatched_total, "unmatched_count": len(unmatched),
        "passbook_balance": None, "difference": None, "unexplained": None,
    }
    if passbook_balance is not None:
        _check_balance(passbook_balance)
        difference = ledger_balance - passbook_balance
        result.update(passbook_balance=passbook_balance, difference=difference,
                      unexplained=difference - unmatched_total)
    return result


def _line(line: BankLine) -> dict[str, Any]:
    return {"posting_id": line.posting_id, "entry_id": line.entry_id,
            "day": line.day.isoformat(), "kind": line.kind, "memo": line.memo,
            # the 摘要 in Japanese, as the journal export reads it (pledge 7 (bank) →
            # 支援 7 の入金（銀行振込）); the memo stays as it was written
            "description": description_ja(line.kind, line.memo),
            "amount": line.amount, "ticked": line.ticked, "voucher_no": line.voucher_no}


def set_ticks(db: Database, event_id: int, posting_ids: list[int], *, seen: bool, actor: str,
              now: datetime | None = None) -> dict[str, Any]:
    """Mark bank lines as seen in the passbook (``seen``) or not. Marking twice is the
    same as once. Every id must be a line of the event's bank account."""
    at = now or clock.now()
    wanted = sorted(set(posting_ids))
    with db.write() as session:
        lock_event(session, event_id)
        bank = account_ids(session, event_id, "bank")["bank"]
        found = set(session.execute(select(Posting.id).where(
            Posting.id.in_(wanted), Posting.account_id == bank)).scalars())
        if missing := [p for p in wanted if p not in found]:
            raise Refusal("bank.posting_not_found", posting_id=missing[0])
        already = set(session.execute(select(BankTick.posting_id).where(
            BankTick.posting_id.in_(wanted))).scalars())
        if seen:
            session.add_all(BankTick(event_id=event_id, posting_id=p, ticked_at=at,
                                     ticked_by=actor[:60]) for p in wanted if p not in already)
        elif already:
            session.execute(delete(BankTick).where(BankTick.posting_id.in_(already)))
        session.flush()
        ticked = set(session.execute(select(BankTick.posting_id).where(
            BankTick.event_id == event_id)).scalars())
    return {"event_id": event_id, "seen": seen, "posting_ids": wanted,
            "ticked_count": len(ticked)}


def record_reconciliation(db: Database, event_id: int, *, as_of: date, passbook_balance: int,
                          actor: str, note: str = "",
                          now: datetime | None = None) -> dict[str, Any]:
    """Keep the comparison as of a day as a record (date, balances, difference, who)."""
    at = now or clock.now()
    _check_balance(passbook_balance)
    with db.write() as session:
        lock_event(session, event_id)
        shown = reconciliation(session, event_id, as_of, passbook_balance)
        record = BankReconciliation(
            event_id=event_id, as_of=as_of, passbook_balance=passbook_balance,
            ledger_balance=shown["ledger_balance"], unmatched_total=shown["unmatched_total"],
            unmatched_count=shown["unmatched_count"], difference=shown["difference"],
            unexplained=shown["unexplained"], note=note.strip()[:300], recorded_at=at,
            recorded_by=actor[:60])
        session.add(record)
        session.flush()
        name = names_of(session, {record.recorded_by})[record.recorded_by]
        return {**_record(record), "recorded_by_name": name, "unmatched": shown["unmatched"]}


def _record(r: BankReconciliation) -> dict[str, Any]:
    return {"id": r.id, "event_id": r.event_id, "as_of": r.as_of.isoformat(),
            "passbook_balance": r.passbook_balance, "ledger_balance": r.ledger_balance,
            "unmatched_total": r.unmatched_total, "unmatched_count": r.unmatched_count,
            "difference": r.difference, "unexplained": r.unexplained, "note": r.note,
            "recorded_at": r.recorded_at.isoformat(), "recorded_by": r.recorded_by}


def list_reconciliations(session: Session, event_id: int) -> list[dict[str, Any]]:
    records = [_record(r) for r in session.execute(
        select(BankReconciliation).where(BankReconciliation.event_id == event_id)
        .order_by(BankReconciliation.id.desc())).scalars()]
    names = names_of(session, {r["recorded_by"] for r in records})
    return [{**r, "recorded_by_name": names[r["recorded_by"]]} for r in records]
