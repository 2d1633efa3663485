"""Issuing booklets in numbered print batches. Printing never makes a ticket valid.

Serials are taken from counters on the programme row under its lock, so two batches
started at once never share a number; codes are made from (programme, serial) with
the server's secret (see codes.py). :func:`issue_batch` is a batch in its own write
transaction (the API and the CLI); :func:`add_booklets` the same inside a caller's
(print jobs, reprints, the demo).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Workshop
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.models import Booklet, PrintBatch, Programme, Ticket


@dataclass(frozen=True)
class IssuedBatch:
    batch_id: int
    number: int
    first_booklet_serial: int
    booklet_count: int
    booklet_ids: list[int]
    first_booklet_code: str
    last_booklet_code: str

    @property
    def last_booklet_serial(self) -> int:
        return self.first_booklet_serial + self.booklet_count - 1


def lock_programme(session: Session, programme_id: int) -> Programme:
    programme = session.execute(
        select(Programme).where(Programme.id == programme_id).with_for_update()
    ).scalar_one_or_none()
    if programme is None:
        raise Refusal("programme.not_found")
    return programme


def add_booklets(
    session: Session,
    signer: CodeSigner,
    programme_id: int,
    count: int,
    *,
    now: datetime,
    actor: str,
    reason: str = "",
    replaces: list[int] | None = None,
) -> IssuedBatch:
    """Add ``count`` printed (not yet valid) booklets as a new batch, inside a write tx."""
    if not 1 <= count <= 20000:
        raise Refusal("request.invalid", detail="count must be between 1 and 20000")
    if replaces is not None and len(replaces) != count:
        raise ValueError("one replacement per replaced booklet")
    programme = lock_programme(session, programme_id)
    workshops = session.execute(
        select(Workshop.id)
        .where(Workshop.event_id == programme.event_id, Workshop.participating.is_(True))
        .order_by(Workshop.code)
    ).scalars().all()
    per_booklet = len(programme.denominations)
    first_booklet, first_ticket = programme.next_booklet_serial, programme.next_ticket_serial
    programme.next_booklet_serial += count
    programme.next_ticket_serial += count * per_booklet
    number = (
        session.execute(
            select(func.coalesce(func.max(PrintBatch.number), 0)).where(
                PrintBatch.programme_id == programme_id
            )
        ).scalar_one()
        + 1
    )
    batch = PrintBatch(
        programme_id=programme_id,
        number=number,
        booklet_count=count,
        first_booklet_serial=first_booklet,
        created_at=now,
        created_by=actor,
        reason=reason,
    )
    session.add(batch)
    session.flush()
    codes = [signer.make("B", programme_id, first_booklet + i) for i in range(count)]
    session.execute(
        insert(Booklet),
        [
            {
                "programme_id": programme_id,
                "batch_id": batch.id,
                "serial": first_booklet + i,
                "code": codes[i],
                "status": "printed",
                "replaces_booklet_id": replaces[i] if replaces else None,
            }
            for i in range(count)
        ],
    )
    booklet_ids = list(
        session.execute(
            select(Booklet.id).where(Booklet.batch_id == batch.id).order_by(Booklet.serial)
        ).scalars()
    )
    rows = []
    for i, booklet_id in enumerate(booklet_ids):
        for j, denomination in enumerate(programme.denominations):
            serial = first_ticket + i * per_booklet + j
            rows.append(
                {
                    "programme_id": programme_id,
                    "booklet_id": booklet_id,
                    "serial": serial,
                    "code": signer.make("T", programme_id, serial),
                    "denomination": denomination,
                    # Workshops rotate through the tickets so a booklet presents many.
                    "featured_workshop_id": workshops[(serial - 1) % len(workshops)]
                    if workshops
                    else None,
                    "status": "printed",
                }
            )
    session.execute(insert(Ticket), rows)
    return IssuedBatch(batch.id, number, first_booklet, count, booklet_ids, codes[0], codes[-1])


def issue_batch(
    db: Database,
    signer: CodeSigner,
    programme_id: int,
    count: int,
    *,
    actor: str,
    reason: str = "",
    now: datetime | None = None,
) -> IssuedBatch:
    """A new print batch of ``count`` booklets (not valid until sold), in its own write
    transaction; inside an idempotent request it joins the request's (see
    ``db.engine.Database.write``), so the batch and the Idempotency-Key commit together."""
    with db.write() as session:
        return add_booklets(session, signer, programme_id, count, now=now or clock.now(),
                            actor=actor, reason=reason)


def void_booklets(
    session: Session, booklet_ids: list[int], *, reason: str, now: datetime
) -> None:
    """Void unsold booklets (lost, damaged, reprinted). Unsold stock is not money."""
    if not reason.strip():
        raise Refusal("void.reason_required")
    booklets = session.execute(
        select(Booklet).where(Booklet.id.in_(booklet_ids)).with_for_update()
    ).scalars().all()
    if len(booklets) != len(set(booklet_ids)):
        raise Refusal("booklet.unknown", code="")
    for booklet in booklets:
        if booklet.status == "sold":
            raise Refusal("booklet.not_voidable", code=booklet.code)
        if booklet.status == "voided":
            raise Refusal("booklet.voided", code=booklet.code)
    session.execute(
        update(Booklet)
        .where(Booklet.id.in_(booklet_ids), Booklet.status == "printed")
        .values(status="voided", void_reason=reason.strip()[:300], voided_at=now)
    )
    session.execute(
        update(Ticket)
        .where(Ticket.booklet_id.in_(booklet_ids), Ticket.status == "printed")
        .values(status="voided")
    )
