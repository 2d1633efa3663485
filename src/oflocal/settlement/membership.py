"""Which settlement period a redemption belongs to, without writing to the redemption.

Every event counts its periods: ``event.open_period`` is the number of the period now
open (1 before the first close). A redemption copies it when it is written
(``redemption.open_period``) and belongs to

    the first period numbered at least ``open_period`` whose cut-off is at or after
    the redemption's time.

A function of the row and the (append-only) list of periods, so a redemption is in
one period at most, and closing a period writes nothing per redemption: it counts.

Why none is missed: the copy and the close of the same event exclude each other. Each
event has a lock of its own (PostgreSQL: a transaction-level advisory lock on
``(EVENT_LOCK_SPACE, event id)``). A close takes it exclusively before it bumps
``event.open_period`` (:func:`hold_redemptions`); a redemption takes it shared in the
very INSERT that copies the number (:data:`OPEN_PERIOD_NOW`, the database function
``oflocal_open_period``, migration 0009), and reads the number after it holds the lock,
in a statement of its own (a VOLATILE function's statements see what committed before
they started, not what the INSERT's older snapshot saw). Both hold it until they end.
So a redemption that copied number N holds the lock until it commits, and close N
waits for it and counts it; one written after close N took the lock waits for the
close to commit and copies N + 1. Database triggers (migration 0004) refuse a copy that
is not the event's current number, a number that is not one more than the last, and
the undo of a settled redemption, so a stale copy could never be stored silently.
SQLite runs one writer at a time, so there the exclusion is given.

A close holds only its own event's redemptions, for the moment of the close (under a
second at a million redemptions); booths of other events in the same database never
wait for it. The lock queues fairly (a close waiting for it holds back new redemptions
of its event, which then wait behind it), unlike a row lock, which a steady stream of
share lockers could keep a close waiting behind forever. A close waits at most
``LOCK_WAIT`` for writers in flight (an abandoned transaction must not freeze every
booth of the event behind it), then gives up. Advisory locks taken with ``_xact_`` end
with the transaction, so all of this works the same through PgBouncer in transaction
mode (docs/deployment.md).

Undone redemptions are in no period: a close counts the live ones, and an undo is
refused once a redemption is settled (:func:`hold_closes` makes undo and close of the
same event wait for each other on PostgreSQL).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Table, and_, bindparam, or_, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from oflocal.events.models import Event
from oflocal.settlement.models import SettlementPeriod
from oflocal.vouchers.models import Redemption

_event = cast(Table, Event.__table__)

# The first key of every event's settlement lock ("oflc"); the second is the event id.
# Migration 0009 writes the same number into oflocal_open_period().
EVENT_LOCK_SPACE = 0x6F666C63

LOCK_WAIT = "5s"  # how long a close waits for redemptions in flight (PostgreSQL)


class _OpenPeriodNow(FunctionElement[int]):
    """The open period of the event ``:event_id``, read by a redemption's INSERT.

    PostgreSQL: ``oflocal_open_period(:event_id)``, which first shares the event's lock
    (held until the redemption commits) and then reads the number. SQLite: the plain
    subquery (its write transactions exclude each other already)."""

    type = Integer()
    inherit_cache = True
    name = "oflocal_open_period"


@compiles(_OpenPeriodNow)
def _open_period_subquery(element: _OpenPeriodNow, compiler: SQLCompiler, **kw: Any) -> str:
    number = select(_event.c.open_period).where(_event.c.id == bindparam("event_id"))
    return compiler.process(number.scalar_subquery(), **kw)


@compiles(_OpenPeriodNow, "postgresql")
def _open_period_locked(element: _OpenPeriodNow, compiler: SQLCompiler, **kw: Any) -> str:
    return f"oflocal_open_period({compiler.process(bindparam('event_id'), **kw)})"


# For the INSERT of a redemption: the event's open period, read in the INSERT itself,
# under the event's settlement lock (see the module's docstring). The redemption's
# transaction holds that lock from this INSERT until it ends.
OPEN_PERIOD_NOW = _OpenPeriodNow()


def hold_redemptions(session: Session, event_id: int) -> None:
    """Wait for the event's redemptions and undos in flight to commit; hold its new ones
    until this transaction ends (PostgreSQL; a SQLite write transaction holds everything
    already). Other events' redemptions are not held. After ``LOCK_WAIT`` the statement
    fails with lock_not_available (55P03) and the transaction rolls back: see
    close.close_period."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": LOCK_WAIT})
    session.execute(text("SELECT pg_advisory_xact_lock(:space, :event)"),
                    {"space": EVENT_LOCK_SPACE, "event": event_id})
    session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))  # the server's own again


def hold_closes(session: Session, entry_id: int) -> None:
    """For an undo of the redemption entry ``entry_id``, before looking: share its event's
    lock as a redemption does, so a close of that event waits for this transaction, or
    this one waits for the close to commit (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock_shared(:space, event_id) FROM journal_entry "
                 "WHERE id = :entry"),
            {"space": EVENT_LOCK_SPACE, "entry": entry_id},
        )


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
