"""One voucher programme at a glance: its booklets and tickets by state, the premium
spent against its budget, and its print batches.

Read only, in one read transaction, so the counts agree with each other. An unknown
programme is ``programme.not_found``. The API's programme detail maps this to JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.vouchers.models import Booklet, PrintBatch, Programme, Ticket


@dataclass(frozen=True)
class BookletCounts:
    printed: int  # every booklet ever issued in a print batch, whatever its state now
    in_stock: int  # printed, not sold, not voided
    sold: int
    voided: int


@dataclass(frozen=True)
class TicketCounts:
    in_stock: int  # in a booklet not sold yet
    active: int
    redeemed: int
    voided: int
    expired: int


@dataclass(frozen=True)
class PremiumStatus:
    budget: int
    spent: int  # premium of booklets sold, and the face value of free ones
    remaining: int
    booklets_left_within_budget: int | None  # None when the premium is ¥0 (no limit)


@dataclass(frozen=True)
class BatchLine:
    batch_id: int
    number: int
    booklet_count: int
    first_serial: int
    last_serial: int
    created_at: datetime
    created_by: str
    reason: str


@dataclass(frozen=True)
class ProgrammeOverview:
    programme: Programme
    booklets: BookletCounts
    tickets: TicketCounts
    free_booklets_given: int
    premium: PremiumStatus
    batches: list[BatchLine]  # by number


def programme_overview(db: Database, programme_id: int) -> ProgrammeOverview:
    """The programme's terms with its counts, premium status and print batches."""
    with db.read() as session:
        p = session.get(Programme, programme_id)
        if p is None:
            raise Refusal("programme.not_found")
        booklets: dict[str, int] = dict(
            session.execute(
                select(Booklet.status, func.count())
                .where(Booklet.programme_id == programme_id)
                .group_by(Booklet.status)
            ).all()
        )
        tickets: dict[str, int] = dict(
            session.execute(
                select(Ticket.status, func.count())
                .where(Ticket.programme_id == programme_id)
                .group_by(Ticket.status)
            ).all()
        )
        batches = session.execute(
            select(PrintBatch).where(PrintBatch.programme_id == programme_id)
            .order_by(PrintBatch.number)
        ).scalars().all()
        spent = p.premium_spent
        return ProgrammeOverview(
            programme=p,
            booklets=BookletCounts(
                printed=sum(booklets.values()),
                in_stock=booklets.get("printed", 0),
                sold=booklets.get("sold", 0),
                voided=booklets.get("voided", 0),
            ),
            tickets=TicketCounts(
                in_stock=tickets.get("printed", 0),
                active=tickets.get("active", 0),
                redeemed=tickets.get("redeemed", 0),
                voided=tickets.get("voided", 0),
                expired=tickets.get("expired", 0),
            ),
            free_booklets_given=p.free_sold,
            premium=PremiumStatus(
                budget=p.premium_budget,
                spent=spent,
                remaining=p.premium_budget - spent,
                booklets_left_within_budget=p.booklets_left_within_budget(),
            ),
            batches=[
                BatchLine(
                    batch_id=b.id,
                    number=b.number,
                    booklet_count=b.booklet_count,
                    first_serial=b.first_booklet_serial,
                    last_serial=b.first_booklet_serial + b.booklet_count - 1,
                    created_at=b.created_at,
                    created_by=b.created_by,
                    reason=b.reason,
                )
                for b in batches
            ],
        )
