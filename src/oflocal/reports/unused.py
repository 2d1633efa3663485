"""Unused voucher balance (未使用残高) as of any day, read from the ledger.

The balance at the end of a Tokyo day is the voucher liability of every posting dated
before the next day began: sold face value, less redeemed, voided and expired. The
Payment Services Act's record dates (基準日) are 31 March and 30 September; an issuer
under the Act reports the balance on each and deposits half of what exceeds ¥10
million. Programmes valid under 6 months (the default) are outside the Act, but the
treasurer can still show the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.vouchers.models import Programme

DEPOSIT_THRESHOLD = 10_000_000


def record_dates(first: date, last: date) -> list[date]:
    """Every 31 March and 30 September from ``first`` to ``last`` inclusive."""
    found = []
    for year in range(first.year, last.year + 1):
        for day in (date(year, 3, 31), date(year, 9, 30)):
            if first <= day <= last:
                found.append(day)
    return found


@dataclass
class Balance:
    as_of: date
    total: int
    by_programme: list[tuple[int, str, int, bool]]  # id, name, balance, under the Act
    is_record_date: bool

    @property
    def deposit_required(self) -> int:
        """Half of the balance, when above the threshold (for programmes under the Act)."""
        under_act = sum(b for _, _, b, act in self.by_programme if act)
        return -(-under_act // 2) if under_act > DEPOSIT_THRESHOLD else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "total": self.total,
            "is_record_date": self.is_record_date,
            "deposit_required": self.deposit_required,
            "programmes": [
                {"programme_id": pid, "name": name, "balance": bal,
                 "under_payment_services_act": act}
                for pid, name, bal, act in self.by_programme
            ],
        }


def unused_balance(session: Session, event_id: int, as_of: date) -> Balance:
    """The balance at the end of ``as_of``, a day up to today: a day still to come has
    no balance yet (postings may still be made), and is no record date."""
    if session.get(Event, event_id) is None:
        raise Refusal("event.not_found")
    today = clock.tokyo_date(clock.now())
    if as_of > today:
        raise Refusal("report.date_in_future", date=as_of, today=today)
    end = clock.start_of_tokyo_day(as_of + timedelta(days=1))
    programmes = session.execute(
        select(Programme.id, Programme.name, Programme.validity_override)
        .where(Programme.event_id == event_id)
        .order_by(Programme.id)
    ).all()
    balances = dict(
        session.execute(
            select(Account.programme_id, func.sum(Posting.amount))
            .join(Posting, Posting.account_id == Account.id)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(
                Account.event_id == event_id,
                Account.programme_id.is_not(None),
                JournalEntry.occurred_at < end,
            )
            .group_by(Account.programme_id)
        ).all()
    )
    rows = [(pid, name, -int(balances.get(pid, 0)), bool(act)) for pid, name, act in programmes]
    return Balance(
        as_of=as_of,
        total=sum(r[2] for r in rows),
        by_programme=rows,
        is_record_date=(as_of.month, as_of.day) in {(3, 31), (9, 30)},
    )


def record_date_balances(
    session: Session, event_id: int, today: date | None = None
) -> list[Balance]:
    """The balance on every record date (31 March, 30 September) from the event's first
    issue date up to today."""
    first = session.execute(
        select(func.min(Programme.issue_date)).where(Programme.event_id == event_id)
    ).scalar_one()
    if first is None:
        return []
    day = today or clock.tokyo_date(clock.now())
    return [unused_balance(session, event_id, d) for d in record_dates(first, day)]


def next_record_date(day: date) -> date:
    for candidate in (date(day.year, 3, 31), date(day.year, 9, 30), date(day.year + 1, 3, 31)):
        if candidate >= day:
            return candidate
    raise AssertionError("unreachable")
