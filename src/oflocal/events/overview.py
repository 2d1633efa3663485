"""What there is to see of events: every event, one event at a glance, its workshops.

Read only, each in its own read transaction (inside an idempotent request, the request's
open write: see ``db.engine.Database.read``). The API's event routes map these to JSON;
an unknown event is ``event.not_found``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select

from oflocal.db.engine import Database
from oflocal.events.changes import event_or_404
from oflocal.events.models import Event, Workshop
from oflocal.vouchers.models import Programme


@dataclass(frozen=True)
class ProgrammeLine:
    id: int
    name: str
    valid_until: date


@dataclass(frozen=True)
class EventOverview:
    event: Event
    workshop_count: int
    participating_count: int
    programmes: list[ProgrammeLine]  # in the order they were set up


def all_events(db: Database) -> list[Event]:
    """Every event, the latest first (by first day, then the newest)."""
    with db.read() as session:
        return list(
            session.execute(
                select(Event).order_by(Event.starts_on.desc(), Event.id.desc())
            ).scalars()
        )


def event_overview(db: Database, event_id: int) -> EventOverview:
    """One event with how many workshops it has (and how many take part) and its
    voucher programmes."""
    with db.read() as session:
        event = event_or_404(session, event_id)
        total, participating = session.execute(
            select(
                func.count(Workshop.id),
                func.coalesce(func.sum(case((Workshop.participating, 1), else_=0)), 0),
            ).where(Workshop.event_id == event_id)
        ).one()
        programmes = session.execute(
            select(Programme.id, Programme.name, Programme.valid_until)
            .where(Programme.event_id == event_id)
            .order_by(Programme.id)
        ).all()
        return EventOverview(
            event=event,
            workshop_count=int(total),
            participating_count=int(participating),
            programmes=[ProgrammeLine(id=i, name=n, valid_until=v) for i, n, v in programmes],
        )


def event_workshops(db: Database, event_id: int) -> list[Workshop]:
    """The event's workshops by code, participating or not."""
    with db.read() as session:
        event_or_404(session, event_id)
        return list(
            session.execute(
                select(Workshop).where(Workshop.event_id == event_id).order_by(Workshop.code)
            ).scalars()
        )
