"""Which settlement period a redemption belongs to, without writing to the redemption.

Every event counts its periods: ``event.open_period`` is the number of the period now
open (1 before the first close). A redemption copies it when it is written
(``redemption.open_period``) and belongs to

    the first period numbered at least ``open_period`` whose cut-off is at or after
    the redemption's time.

A function of the row and the (append-only) list of periods, so a redemption is in
one period at most, and closing a period writes nothing per redemption: it counts.

Why none is missed: the copy and the close exclude each other. A close bumps
``event.open_period`` while holding ``SHARE`` on the redemption table
(:func:`hold_redemptions`), which waits for every transaction that has written a
redemption to commit and makes new writers wait until the close commits. So a
redemption that copied number N is committed before close N counts, and one written
after close N copies N + 1: its INSERT takes its table lock before its snapshot is
taken (PostgreSQL, READ COMMITTED: each statement's snapshot comes after the locks it
needs), so it reads the bumped number. Database triggers (migration 0004) refuse a
copy that is not the event's current number, a number that is not one more than the
last, and the undo of a settled redemption, so a stale copy could never be stored
silently. SQLite runs one writer at a time, so there the exclusion is given. The table
lock holds the redemptions of every event in the database for the moment of a close
(under a second at a million redemptions): a deployment serves one committee, and a
lock queue is fair, unlike row locks, which a steady stream of key-share lockers could
keep a close waiting behind forever. A close waits at most ``LOCK_WAIT`` for writers in
flight (an abandoned transaction must not freeze every booth behind it), then gives up.

Undone redemptions are in no period: a close counts the live ones, and an undo is
refused once a redemption is settled (:func:`hold_closes` makes undo and close wait
for each other on PostgreSQL).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, or_, select, text
from sqlalchemy.orm import Session

from oflocal.events.models import Event
from oflocal.settlement.models import SettlementPeriod
from oflocal.vouchers.models import Redemption

_event = cast(Table, Event.__table__)

# For the INSERT of a redemption: the event's open period, read in the INSERT itself.
OPEN_PERIOD_NOW = (
    select(_event.c.open_period).where(_event.c.id == bindparam("event_id")).scalar_subquery()
)

LOCK_WAIT = "5s"  # how long a close waits for redemptions in flight (PostgreSQL)


def hold_redemptions(session: Session) -> None:
    """Wait for redemptions and undos in flight to commit; hold new ones until this
    transaction ends (PostgreSQL; a SQLite write transaction holds everything already).
    After ``LOCK_WAIT`` the statement fails with lock_not_available (55P03) and the
    transaction rolls back: see close.close_period."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": LOCK_WAIT})
    session.execute(text("LOCK TABLE redemption IN SHARE MODE"))
    session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))  # the server's own again


def hold_closes(session: Session) -> None:
    """Take the lock a redemption write takes anyway, before looking: a close then
    waits for this transaction, or this one waits for the close to commit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE redemption IN ROW EXCLUSIVE MODE"))


def in_period(number: Any, cutoff: Any, previous_cutoff: Any) -> ColumnElement[bool]:
    """Redemptions (live or not) belonging to period ``number``: values, or columns of
    ``settlement_period`` to join on.

    Numbers are consecutive (a trigger keeps them so), so "not in the previous period"
    is "opened in this very period, or redeemed after the previous cut-off". Before the
    first cut-off (NULL) only the first clause can hold: open periods start at 1."""
    newer = Redemption.open_period == number
    return and_(
        Redemption.open_period <= number,
        Redemption.redeemed_at <= cutoff,
        newer if previous_cutoff is None else or_(newer, Redemption.redeemed_at > previous_cutoff),
    )


def settled(last: SettlementPeriod | None) -> ColumnElement[bool]:
    """Redemptions in a period up to ``last`` (the event's last closed period): cut-offs
    only grow, so that is "opened by then and redeemed up to its cut-off"."""
    if last is None:
        return Redemption.id.is_(None)  # nothing is settled before the first close
    return and_(Redemption.open_period <= last.number, Redemption.redeemed_at <= last.cutoff_at)


def last_period(session: Session, event_id: int) -> SettlementPeriod | None:
    return session.execute(
        select(SettlementPeriod)
        .where(SettlementPeriod.event_id == event_id)
        .order_by(SettlementPeriod.number.desc())
        .limit(1)
    ).scalar_one_or_none()


def is_settled(redemption: Redemption, last: SettlementPeriod | None) -> bool:
    return last is not None and (
        redemption.open_period <= last.number and redemption.redeemed_at <= last.cutoff_at
    )
