"""The programme summary: what was printed, sold, voided, redeemed, and what is left.

Figures and where they come from:

- booklets printed / sold / voided: booklet rows by state;
- face value sold, cash received: the sales (``amount_paid`` is what buyers paid, by
  any payment method); premium of the booklets sold: the sales' ``premium_total``;
- premium printed: the premium in every booklet printed (if all were sold);
- premium actually used: what workshops were paid beyond what buyers paid
  (redeemed face value − cash received, not below zero): the figure a town subsidy
  for "the gap between what buyers paid and what shops were paid out" needs;
- redeemed per workshop and per Tokyo day: live redemptions (undone ones excluded);
- outstanding liability: the ledger's voucher liability (checked against valid tickets
  by ``ledger verify``); expired (breakage): face value of tickets expired.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oflocal.errors import Refusal
from oflocal.events.models import Event, Workshop
from oflocal.ledger.accounts import liability_code
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.reports.sql import tokyo_day
from oflocal.vouchers.models import Booklet, Programme, Redemption, Sale, Ticket


@dataclass
class WorkshopRow:
    workshop_id: int
    code: str
    name: str
    tickets: int
    face: int


@dataclass
class DayRow:
    day: date
    tickets: int
    face: int


@dataclass
class ProgrammeSummary:
    programme_id: int
    programme_name: str
    event_name: str
    committee_name: str
    face_value: int
    price: int
    premium_per_booklet: int
    valid_until: date
    booklets_printed: int
    booklets_sold: int
    booklets_voided: int
    booklets_in_stock: int
    face_sold: int
    cash_received: int
    cash_by_method: dict[str, int]
    premium_printed: int
    premium_sold: int
    premium_used: int
    premium_budget: int
    redeemed_tickets: int
    redeemed_face: int
    outstanding_liability: int
    outstanding_tickets: int
    expired_tickets: int
    expired_face: int
    expiry_posted: bool
    per_workshop: list[WorkshopRow] = field(default_factory=list)
    per_day: list[DayRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["valid_until"] = self.valid_until.isoformat()
        data["per_day"] = [{**asdict(d), "day": d.day.isoformat()} for d in self.per_day]
        return data


def programme_summary(session: Session, programme_id: int) -> ProgrammeSummary:
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise Refusal("programme.not_found")
    event = session.get(Event, programme.event_id)
    assert event is not None
    dialect = session.get_bind().dialect.name

    states = dict(
        session.execute(
            select(Booklet.status, func.count())
            .where(Booklet.programme_id == programme_id)
            .group_by(Booklet.status)
        ).all()
    )
    printed = sum(int(v) for v in states.values())
    face_sold, cash, premium_sold = (
        int(v)
        for v in session.execute(
            select(
                func.coalesce(func.sum(Sale.face_total), 0),
                func.coalesce(func.sum(Sale.amount_paid), 0),
                func.coalesce(func.sum(Sale.premium_total), 0),
            ).where(Sale.programme_id == programme_id)
        ).one()
    )
    by_method = {
        method: int(total)
        for method, total in session.execute(
            select(Sale.payment_method, func.sum(Sale.amount_paid))
            .where(Sale.programme_id == programme_id)
            .group_by(Sale.payment_method)
            .order_by(Sale.payment_method)
        )
    }
    live = (Redemption.programme_id == programme_id, Redemption.undone_at.is_(None))
    per_workshop = [
        WorkshopRow(wid, code, name, int(n), int(face))
        for wid, code, name, n, face in session.execute(
            select(Workshop.id, Workshop.code, Workshop.name, func.count(),
                   func.sum(Redemption.amount))
            .join(Workshop, Workshop.id == Redemption.workshop_id)
            .where(*live)
            .group_by(Workshop.id, Workshop.code, Workshop.name)
            .order_by(Workshop.code)
        )
    ]
    day = tokyo_day(Redemption.redeemed_at, dialect)
    per_day = [
        DayRow(d if isinstance(d, date) else date.fromisoformat(str(d)), int(n), int(face))
        for d, n, face in session.execute(
            select(day, func.count(), func.sum(Redemption.amount))
            .where(*live)
            .group_by(day)
            .order_by(day)
        )
    ]
    redeemed_tickets = sum(r.tickets for r in per_workshop)
    redeemed_face = sum(r.face for r in per_workshop)
    liability = session.execute(
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(Account, Account.id == Posting.account_id)
        .where(Account.event_id == programme.event_id,
               Account.code == liability_code(programme_id))
    ).scalar_one()
    ticket_states = {
        status: (int(n), int(face))
        for status, n, face in session.execute(
            select(Ticket.status, func.count(), func.coalesce(func.sum(Ticket.denomination), 0))
            .where(Ticket.programme_id == programme_id)
            .group_by(Ticket.status)
        )
    }
    expiry_posted = session.execute(
        select(func.count())
        .select_from(JournalEntry)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(JournalEntry.kind == "expiry", Account.code == liability_code(programme_id))
    ).scalar_one() > 0
    return ProgrammeSummary(
        programme_id=programme.id,
        programme_name=programme.name,
        event_name=event.name,
        committee_name=event.committee_name,
        face_value=programme.face_value,
        price=programme.price,
        premium_per_booklet=programme.premium,
        valid_until=programme.valid_until,
        booklets_printed=printed,
        booklets_sold=int(states.get("sold", 0)),
        booklets_voided=int(states.get("voided", 0)),
        booklets_in_stock=int(states.get("printed", 0)),
        face_sold=face_sold,
        cash_received=cash,
        cash_by_method=by_method,
        premium_printed=printed * programme.premium,
        premium_sold=premium_sold,
        premium_used=max(0, redeemed_face - cash),
        premium_budget=programme.premium_budget,
        redeemed_tickets=redeemed_tickets,
        redeemed_face=redeemed_face,
        outstanding_liability=-int(liability),
        outstanding_tickets=ticket_states.get("active", (0, 0))[0],
        expired_tickets=ticket_states.get("expired", (0, 0))[0],
        expired_face=ticket_states.get("expired", (0, 0))[1],
        expiry_posted=expiry_posted,
        per_workshop=per_workshop,
        per_day=per_day,
    )


def event_programmes(session: Session, event_id: int) -> list[tuple[int, str]]:
    return [
        (pid, name)
        for pid, name in session.execute(
            select(Programme.id, Programme.name)
            .where(Programme.event_id == event_id)
            .order_by(Programme.id)
        )
    ]
