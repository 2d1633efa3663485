"""The ledger's own checks (every entry balances and is closed once, all balances sum
to zero), the report every capability's checks write into, balances and the trial
balance. The ledger knows no capability: ``oflocal.audit`` composes these checks with
those of vouchers, settlement and the capabilities to come.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from oflocal.ledger.models import Account, JournalEntry, Posting


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


class TrialBalanceRow(TypedDict):
    account: str
    name: str
    kind: str
    debit: int
    credit: int
    balance: int


def trial_balance(session: Session, event_id: int) -> list[TrialBalanceRow]:
    rows = session.execute(
        select(Account.code, Account.name, Account.kind, func.coalesce(func.sum(Posting.amount), 0))
        .join(Posting, Posting.account_id == Account.id, isouter=True)
        .where(Account.event_id == event_id)
        .group_by(Account.id, Account.code, Account.name, Account.kind)
        .order_by(Account.code)
    ).all()
    return [
        TrialBalanceRow(
            account=code,
            name=name,
            kind=kind,
            debit=int(total) if total > 0 else 0,
            credit=-int(total) if total < 0 else 0,
            balance=int(total),
        )
        for code, name, kind, total in rows
    ]
