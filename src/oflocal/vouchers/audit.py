"""The voucher identities the auditor checks, each from two sides: ledger (postings)
against the operational rows (tickets, sales, redemptions).

- voucher liability of a programme = face value of its valid (sold, unused) tickets;
- premium spent = premium of the booklets sold, never above the programme's budget,
  and the premium fund's debits from sales (at the desk, or a crowdfunding return's
  booklets handed over) = the sales' premium;
- a ticket is redeemed at most once, and ticket states agree with redemptions.
"""

from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.ledger.verify import Report
from oflocal.ledger.verify import balances as ledger_balances
from oflocal.vouchers.models import Programme, Redemption, Sale, Ticket


def check_vouchers(session: Session, report: Report) -> None:
    balances = ledger_balances(session)
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
        .where(Account.code == "premium_fund",
               JournalEntry.kind.in_(("sale", "booklet_pickup")))
    ).scalar_one()
    all_premium = session.execute(
        select(func.coalesce(func.sum(Sale.premium_total), 0))
    ).scalar_one()
    report.check(
        "premium fund debits from sales = premium of sales",
        premium_debits == all_premium,
        f"ledger {premium_debits} vs sales {all_premium}",
    )

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
