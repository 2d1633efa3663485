"""Which event a person most likely means, when a page must pick one for them."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal.events.models import Event


def events_by_relevance(session: Session, today: date) -> list[Event]:
    """The event running today first, then those already begun (latest first), then
    those to come (soonest first): a committee setting up next year's event must not
    move the booths and the treasurer away from this year's."""
    def rank(event: Event) -> tuple[int, int]:
        if event.starts_on <= today <= event.ends_on:
            return 0, -event.starts_on.toordinal()
        if event.starts_on <= today:
            return 1, -event.starts_on.toordinal()
        return 2, event.starts_on.toordinal()

    return sorted(session.execute(select(Event)).scalars(), key=lambda e: (rank(e), -e.id))
