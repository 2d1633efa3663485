"""From the database to what the print engine draws (faces), streamed batch by batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from itertools import groupby
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Event, Workshop
from oflocal.printing.faces import BookletFace, ProgrammeFace, TicketFace, WorkshopFace
from oflocal.printing.layout import PrintLayout
from oflocal.printing.proof import render_first_sheet_png
from oflocal.printing.samples import sample_booklets
from oflocal.vouchers.models import Booklet, Programme, Ticket


def workshop_faces(session: Session, event_id: int) -> dict[int, WorkshopFace]:
    rows = session.execute(
        select(Workshop)
        .options(undefer(Workshop.image))
        .where(Workshop.event_id == event_id, Workshop.participating.is_(True))
        .order_by(Workshop.code)
    ).scalars()
    return {
        w.id: WorkshopFace(w.name, w.name_kana, w.craft, w.introduction, w.image) for w in rows
    }


def programme_face(
    session: Session, programme_id: int, *, sample: bool = False
) -> tuple[ProgrammeFace, dict[int, WorkshopFace], PrintLayout]:
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise Refusal("programme.not_found")
    event = session.get(Event, programme.event_id)
    assert event is not None
    workshops = workshop_faces(session, event.id)
    face = ProgrammeFace(
        event_name=event.name,
        committee_name=event.committee_name,
        programme_name=programme.name,
        price=programme.price,
        face_value=programme.face_value,
        issue_date=programme.issue_date,
        valid_from=programme.valid_from,
        valid_until=programme.valid_until,
        workshops=tuple(workshops.values()),
        sample=sample,
    )
    layout = PrintLayout.model_validate(programme.print_layout or {})
    return face, workshops, layout


def booklet_faces(
    session: Session,
    workshops: dict[int, WorkshopFace],
    *,
    batch_id: int | None = None,
    booklet_ids: list[int] | None = None,
    chunk: int = 2000,
) -> Iterator[BookletFace]:
    """Booklets in serial order with their tickets, read in chunks (bounded memory)."""
    query = (
        select(Booklet.serial, Booklet.code, Ticket.serial, Ticket.code, Ticket.denomination,
               Ticket.featured_workshop_id)
        .join(Ticket, Ticket.booklet_id == Booklet.id)
        .order_by(Booklet.serial, Ticket.serial)
    )
    if batch_id is not None:
        query = query.where(Booklet.batch_id == batch_id)
    if booklet_ids is not None:
        query = query.where(Booklet.id.in_(booklet_ids))
    rows = session.execute(query.execution_options(yield_per=chunk))
    for (serial, code), tickets in groupby(rows, key=lambda r: (r[0], r[1])):
        yield BookletFace(
            serial=serial,
            code=code,
            tickets=tuple(
                TicketFace(t_serial, t_code, denomination, workshops.get(wid) if wid else None)
                for _, _, t_serial, t_code, denomination, wid in tickets
            ),
        )


def proof_png(db: Database, programme_id: int, *, layout: PrintLayout | None = None,
              terms: Mapping[str, Any] | None = None, dpi: int = 110) -> bytes:
    """The proof: a sample booklet's cover and first sheet, as the print run would make it.

    ``layout`` and ``terms`` (name, price, face_value, denominations, issue_date,
    valid_from, valid_until) try out settings before they are saved; the samples are
    signed with a throwaway key, so nothing in the image can ever be redeemed.
    """
    with db.read() as session:
        face, workshops, saved = programme_face(session, programme_id, sample=True)
        programme = session.get(Programme, programme_id)
        assert programme is not None
        denominations = list(programme.denominations)
    terms = dict(terms or {})
    denominations = list(terms.pop("denominations", denominations))
    renamed = {"name": "programme_name"}
    face = dataclasses.replace(face, **{renamed.get(k, k): v for k, v in terms.items()})
    booklets = sample_booklets(programme_id, denominations, list(workshops.values()))
    return render_first_sheet_png(face, booklets, layout or saved, dpi=dpi)
