"""The auditor: checks every DESIGN.md identity, each from two independent sides.

Ledger side (postings) against operational side (tickets, sales, redemptions). Used by
``oflocal ledger verify``, by tests after every step, and by the treasurer any time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.settlement.audit import check_settlement
from oflocal.settlement.models import SettlementCorrection
from oflocal.vouchers.models import Programme, Redemption, Sale, Ticket


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


def _balances(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Account.code, Account.event_id, func.coalesce(func.sum(Posting.amount), 0))
        .join(Posting, Posting.account_id == Account.id, isouter=True)
        .group_by(Account.id, Account.code, Account.event_id)
    ).all()
    return {f"{event_id}/{code}": int(total) for code, event_id, total in rows}


def verify(session: Session) -> Report:
    report = Report()
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

    balances = _balances(session)
    for programme in session.execute(select(Programme)).scalars():
        key = f"{programme.event_id}/voucher_liability:P{programme.id}"
        outstanding = session.execute(
            select(func.coalesce(func.sum(Ticket.denomination), 0)).where(
                Ticket.programme_id == programme.id, Ticket.status == "active"
            )
        ).scalar_one()
        report.check(
            f"voucher liability P{programme.id} = face of valid tickets",
            -balances.get(key, 0) == outstanding,
            f"ledger {-balances.get(key, 0)} vs tickets {outstanding}",
        )
        premium_sold = session.execute(
            select(func.coalesce(func.sum(Sale.premium_total), 0)).where(
                Sale.programme_id == programme.id
            )
        ).scalar_one()
        expected = programme.booklets_sold * programme.premium
        report.check(
            f"premium spent P{programme.id} = premium of booklets sold, within budget",
            premium_sold == expected and premium_sold <= programme.premium_budget,
            f"sales {premium_sold}, counter {expected}, budget {programme.premium_budget}",
        )
    premium_debits = session.execute(
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(Account, Account.id == Posting.account_id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(Account.code == "premium_fund", JournalEntry.kind == "sale")
    ).scalar_one()
    all_premium = session.execute(
        select(func.coalesce(func.sum(Sale.premium_total), 0))
    ).scalar_one()
    report.check(
        "premium fund debits from sales = premium of sales",
        premium_debits == all_premium,
        f"ledger {premium_debits} vs sales {all_premium}",
    )

    redeemed = dict(
        session.execute(
            select(Redemption.workshop_id, func.sum(Redemption.amount))
            .where(Redemption.undone_at.is_(None))
            .group_by(Redemption.workshop_id)
        ).all()
    )
    paid = dict(
        session.execute(
            select(Account.workshop_id, func.sum(Posting.amount))
            .join(Posting, Posting.account_id == Account.id)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Account.workshop_id.is_not(None), JournalEntry.kind == "payout")
            .group_by(Account.workshop_id)
        ).all()
    )
    corrected = dict(
        session.execute(
            select(SettlementCorrection.workshop_id, func.sum(SettlementCorrection.amount))
            .group_by(SettlementCorrection.workshop_id)
        ).all()
    )
    payables = select(Account).where(Account.workshop_id.is_not(None))
    for account in session.execute(payables).scalars():
        wid = account.workshop_id
        assert wid is not None
        owed = int(redeemed.get(wid, 0)) + int(corrected.get(wid, 0)) - int(paid.get(wid, 0))
        ledger = -balances.get(f"{account.event_id}/{account.code}", 0)
        report.check(
            f"payable W{wid} = redeemed + corrections − paid, never negative",
            ledger == owed and owed >= 0,
            f"ledger {ledger} vs redeemed+corrections−paid {owed}",
        )
    check_settlement(session, report)  # settlement identities (settlement/audit.py)

    twice = session.execute(
        select(Redemption.ticket_id)
        .where(Redemption.undone_at.is_(None))
        .group_by(Redemption.ticket_id)
        .having(func.count() > 1)
    ).scalars().all()
    report.check("a ticket is redeemed at most once", not twice, f"tickets {twice[:10]}")
    # EXISTS uses the partial unique index on live redemptions; NOT IN would rescan.
    live = exists().where(Redemption.ticket_id == Ticket.id, Redemption.undone_at.is_(None))
    mismatched = session.execute(
        select(func.count())
        .select_from(Ticket)
        .where(((Ticket.status == "redeemed") & ~live) | ((Ticket.status != "redeemed") & live))
    ).scalar_one()
    report.check("ticket states agree with redemptions", mismatched == 0, f"{mismatched} tickets")
    return report


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
