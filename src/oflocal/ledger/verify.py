"""The ledger's own checks (every entry balances and is closed once, all balances sum
to zero), the report every capability's checks write into, balances and the trial
balance. The ledger knows no capability: ``oflocal.audit`` composes these checks with
those of vouchers, settlement and the capabilities to come.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypedDict

from sqlalchemy import and_, case, func, not_, or_, select, true
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from oflocal.ledger.journal import OPENING_KIND, business_day_sql
from oflocal.ledger.models import Account, JournalEntry, Posting

# The entry a reversal reverses (outer-joined in by the queries that need it).
ReversedEntry = aliased(JournalEntry)


def is_opening_sql() -> ColumnElement[Any]:
    """An entry that brings a balance forward from last year, or reverses one; the query
    must outer-join ``ReversedEntry`` on ``JournalEntry.reverses_entry_id``."""
    # never NULL (an entry that reverses nothing has no ReversedEntry row): NOT NULL is NULL
    return or_(JournalEntry.kind == OPENING_KIND,
               func.coalesce(ReversedEntry.kind, "") == OPENING_KIND)


@dataclass
class Report:
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append((name, ok, detail))

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    @property
    def failures(self) -> list[tuple[str, str]]:
        return [(name, detail) for name, ok, detail in self.checks if not ok]


def balances(session: Session) -> dict[str, int]:
    """Every account's balance, by "<event id>/<account code>" (debit +, credit −)."""
    rows = session.execute(
        select(Account.code, Account.event_id, func.coalesce(func.sum(Posting.amount), 0))
        .join(Posting, Posting.account_id == Account.id, isouter=True)
        .group_by(Account.id, Account.code, Account.event_id)
    ).all()
    return {f"{event_id}/{code}": int(total) for code, event_id, total in rows}


def check_ledger(session: Session, report: Report) -> None:
    unbalanced = session.execute(
        select(Posting.entry_id).group_by(Posting.entry_id).having(func.sum(Posting.amount) != 0)
    ).scalars().all()
    report.check("every entry balances", not unbalanced, f"entries {unbalanced[:10]}")
    badly_closed = session.execute(
        select(JournalEntry.id)
        .join(Posting, Posting.entry_id == JournalEntry.id, isouter=True)
        .group_by(JournalEntry.id)
        .having(
            (func.count(Posting.id) < 2)
            | (func.sum(case((Posting.closes_entry, 1), else_=0)) != 1)
        )
    ).scalars().all()
    report.check(
        "every entry has ≥2 postings and one close", not badly_closed, f"{badly_closed[:10]}"
    )
    grand = session.execute(select(func.coalesce(func.sum(Posting.amount), 0))).scalar_one()
    report.check("sum of all balances is zero", grand == 0, f"sum {grand}")


# Account classes as a Japanese accountant reads them, English beside; the normal side
# of each class (資産・費用 debit, 負債・純資産・収益 credit).
KIND_JA = {"asset": "資産", "liability": "負債", "equity": "純資産", "income": "収益",
           "expense": "費用"}
KIND_ORDER = ("asset", "liability", "equity", "income", "expense")
DEBIT_NORMAL = frozenset({"asset", "expense"})


def kind_label(kind: str) -> str:
    """「資産 Asset」: the class in Japanese with English beside."""
    return f"{KIND_JA.get(kind, kind)} {kind.capitalize()}"


class TrialBalanceRow(TypedDict):
    account: str
    name: str
    kind: str
    kind_label: str
    opening: int  # balance before the period (debit +, credit −)
    debit: int  # total of the debit postings in the period
    credit: int  # total of the credit postings in the period (positive)
    closing: int  # opening + debit − credit
    balance: int  # = closing (kept for callers that read the balance)


def trial_balance(session: Session, event_id: int, start: date | None = None,
                  end: date | None = None) -> list[TrialBalanceRow]:
    """Every account of the event for the business days ``start``..``end`` (both
    included; ``None``: from the first entry, up to now; an entry's day is its business
    date, else the Tokyo day it was recorded): the balance brought forward, the totals of
    the debit and of the credit postings in the period, and the closing balance. The
    treasurer's opening balances (開始残高, and their reversals) up to ``end`` are in the
    opening column, never among the period's debits and credits. Accounts in class
    order (資産, 負債, 純資産, 収益, 費用), then by code (:func:`code_order`). The debit
    and credit totals are equal, as the journal's are; so are the sums of the closings (zero)."""
    # Split by business day (a payout on its transfer date), not by when it was recorded.
    day = business_day_sql(session.get_bind().dialect.name)
    postings = (
        select(Posting.account_id, Posting.amount, day.label("day"),
               is_opening_sql().label("opening"))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .outerjoin(ReversedEntry, ReversedEntry.id == JournalEntry.reverses_entry_id)
        .where(JournalEntry.event_id == event_id)
    )
    if end is not None:
        postings = postings.where(day <= end)
    sub = postings.subquery()
    # A balance brought forward (開始残高) is opening whatever its day within the period:
    # it is dated the first day of the fiscal year, and is last year's money, not a
    # movement of this one. So is the reversal of one (a corrected opening balance).
    before_s = or_(sub.c.opening, sub.c.day < start) if start is not None else sub.c.opening
    inside_s = and_(not_(sub.c.opening), sub.c.day >= start if start is not None else true())
    opening = func.coalesce(func.sum(case((before_s, sub.c.amount), else_=0)), 0)
    debit = func.coalesce(
        func.sum(case((and_(inside_s, sub.c.amount > 0), sub.c.amount), else_=0)), 0)
    credit = func.coalesce(
        func.sum(case((and_(inside_s, sub.c.amount < 0), -sub.c.amount), else_=0)), 0)
    rows = session.execute(
        select(Account.code, Account.name, Account.kind, opening, debit, credit)
        .join(sub, sub.c.account_id == Account.id, isouter=True)
        .where(Account.event_id == event_id)
        .group_by(Account.id, Account.code, Account.name, Account.kind)
        .order_by(Account.code)
    ).all()
    order = {kind: i for i, kind in enumerate(KIND_ORDER)}
    result = [
        TrialBalanceRow(
            account=code, name=name, kind=kind, kind_label=kind_label(kind),
            opening=int(o), debit=int(d), credit=int(c),
            closing=int(o) + int(d) - int(c), balance=int(o) + int(d) - int(c),
        )
        for code, name, kind, o, d, c in rows
    ]
    result.sort(key=lambda r: (order.get(r["kind"], len(order)), code_order(r["account"])))
    return result


def code_order(code: str) -> tuple[str | int, ...]:
    """An account code's place in a list: numbers by value, so payable:W2 comes before
    payable:W10 (40 workshops read W1, W2, … W40, not W1, W10, W11, …)."""
    return tuple(int(part) if part.isdigit() else part
                 for part in re.split(r"(\d+)", code))


def normal_balance(row: TrialBalanceRow, field_name: str = "closing") -> int:
    """A balance on its class's normal side: 資産・費用 debit − credit, the others
    credit − debit (a liability of ¥1,500 shows 1,500, an overdrawn bank −…)."""
    value = int(row[field_name])  # type: ignore[literal-required]
    return value if row["kind"] in DEBIT_NORMAL else -value
