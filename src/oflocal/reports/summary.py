"""The programme summary: what was printed, sold, voided, redeemed, and what is left.

Figures and where they come from:

- booklets printed / sold / voided: booklet rows by state;
- face value sold, cash received: the sales (``amount_paid`` is what buyers paid, by
  any payment method); premium of the booklets sold: the sales' ``premium_total``;
- premium printed: the premium in every booklet printed (if all were sold);
- premium actually used: the part of the face value redeemed (and not withdrawn by a
  correction) that the premium fund paid for. Each ticket was bought at its sale's
  price, so a ticket's premium share is its face value × the sale's premium ÷ the
  sale's face value (a ¥13,000 booklet sold for ¥10,000: 3/13 of every ticket; a
  booklet given free: all of it), summed per sale and rounded down to the yen: the
  figure a town subsidy for "the gap between what buyers paid and what shops were paid
  out" needs (DOMAIN-JAPAN.md, tax notes). It is not redeemed − cash received: buyers
  paid for tickets still unused too;
- redeemed per workshop: live redemptions (undone ones excluded) as settled, that is
  with corrections applied: a ticket moved to another workshop counts there, a ticket
  withdrawn to breakage ("not honoured") counts nowhere and is shown as withdrawn;
  per Tokyo day: the same redemptions (a withdrawn ticket not among them) by the day
  they were used, so the days add up to the redeemed total;
- outstanding liability: the ledger's voucher liability (checked against valid tickets
  by ``ledger verify``); expired (breakage): face value of tickets expired.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from oflocal.errors import Refusal
from oflocal.events.models import Event, Workshop
from oflocal.ledger.accounts import liability_code
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.reports.sql import tokyo_day
from oflocal.settlement.models import SettlementCorrection
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
    withdrawn_tickets: int
    withdrawn_face: int
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
    per_workshop, withdrawn = _settled_per_workshop(session, programme_id)
    day = tokyo_day(Redemption.redeemed_at, dialect)
    per_day = [
        DayRow(d if isinstance(d, date) else date.fromisoformat(str(d)), int(n), int(face))
        for d, n, face in session.execute(
            select(day, func.count(), func.sum(Redemption.amount))
            .where(*live, Redemption.id.not_in(_withdrawn()))
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
        premium_used=premium_used(session, programme_id),
        premium_budget=programme.premium_budget,
        redeemed_tickets=redeemed_tickets,
        redeemed_face=redeemed_face,
        withdrawn_tickets=withdrawn[0],
        withdrawn_face=withdrawn[1],
        outstanding_liability=-int(liability),
        outstanding_tickets=ticket_states.get("active", (0, 0))[0],
        expired_tickets=ticket_states.get("expired", (0, 0))[0],
        expired_face=ticket_states.get("expired", (0, 0))[1],
        expiry_posted=expiry_posted,
        per_workshop=per_workshop,
        per_day=per_day,
    )


def _settled_per_workshop(
    session: Session, programme_id: int
) -> tuple[list[WorkshopRow], tuple[int, int]]:
    """Live redemptions per workshop with corrections applied (tickets moved between
    workshops, tickets withdrawn to breakage), and the withdrawn (tickets, face)."""
    counts: dict[int, list[int]] = {}
    for wid, n, face in session.execute(
        select(Redemption.workshop_id, func.count(), func.sum(Redemption.amount))
        .where(Redemption.programme_id == programme_id, Redemption.undone_at.is_(None))
        .group_by(Redemption.workshop_id)
    ):
        counts[int(wid)] = [int(n), int(face)]
    withdrawn = [0, 0]
    for wid, amount, counter, face in session.execute(
        select(SettlementCorrection.workshop_id, SettlementCorrection.amount,
               SettlementCorrection.counter_account, Redemption.amount)
        .join(Redemption, Redemption.id == SettlementCorrection.redemption_id)
        .where(Redemption.programme_id == programme_id)
    ):
        sign = 1 if amount > 0 else -1
        row = counts.setdefault(int(wid), [0, 0])
        row[0] += sign
        row[1] += sign * int(face)
        if sign < 0 and counter == "breakage":
            withdrawn[0] += 1
            withdrawn[1] += int(face)
    workshops = {
        w.id: w for w in session.execute(
            select(Workshop).where(Workshop.id.in_(list(counts)))).scalars()
    }
    rows = [
        WorkshopRow(wid, workshops[wid].code, workshops[wid].name, n, face)
        for wid, (n, face) in counts.items()
        if n or face
    ]
    rows.sort(key=lambda r: r.code)
    return rows, (withdrawn[0], withdrawn[1])


def _withdrawn() -> Select[int | None]:
    """The redemptions a correction withdrew to breakage (not honoured): no use."""
    return (
        select(SettlementCorrection.redemption_id)
        .where(SettlementCorrection.redemption_id.is_not(None),
               SettlementCorrection.amount < 0,
               SettlementCorrection.counter_account == "breakage")
    )


def premium_used(session: Session, programme_id: int) -> int:
    """The premium fund's share of the face value redeemed and not withdrawn: per sale,
    redeemed face × premium ÷ face sold, rounded down (see the module's docstring)."""
    total = 0
    for redeemed, premium, face in session.execute(
        select(func.sum(Redemption.amount), Sale.premium_total, Sale.face_total)
        .join(Ticket, Ticket.id == Redemption.ticket_id)
        .join(Booklet, Booklet.id == Ticket.booklet_id)
        .join(Sale, Sale.id == Booklet.sale_id)
        .where(Redemption.programme_id == programme_id, Redemption.undone_at.is_(None),
               Redemption.id.not_in(_withdrawn()))
        .group_by(Sale.id, Sale.premium_total, Sale.face_total)
    ):
        total += int(redeemed) * int(premium) // int(face)
    return total


def event_programmes(session: Session, event_id: int) -> list[tuple[int, str]]:
    return [
        (pid, name)
        for pid, name in session.execute(
            select(Programme.id, Programme.name)
            .where(Programme.event_id == event_id)
            .order_by(Programme.id)
        )
    ]
