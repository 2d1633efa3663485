"""The moments the membership rule has to get right, made to happen on purpose: a
redemption or an undo caught in the middle of its transaction while a period closes,
and a close caught in the middle while they arrive. Real transactions in real threads
on SQLite and PostgreSQL; each side is paused inside its transaction by the test.

What must hold: whoever started first finishes first and the other waits for it; a
redemption in flight when a close starts is in that period; one written while a close
is in flight (even if redeemed before the cut-off) is in the next one, never in none;
an undo that reaches a settled redemption is refused cleanly; a correction never gives
back an undone redemption; a close does not wait forever for a transaction left open;
a close holds only its own event's redemptions (PostgreSQL: another event's booths and
treasurer go on while it is held open). Also through PgBouncer in transaction mode.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from backends import through_pgbouncer
from oflocal import clock
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey
from oflocal.settlement import membership
from oflocal.settlement.close import _close, close_period
from oflocal.settlement.corrections import correct_redemption
from oflocal.vouchers.models import Redemption
from oflocal.vouchers.redeem import _redeem, _undo, redeem_tickets, undo_redemption
from test_settlement import World, make_world, period_numbers

pytestmark = pytest.mark.slow

WAIT = 0.6  # long enough for the other side to have finished, had it not been held


class Paused(threading.Thread):
    """Runs ``work`` inside a write transaction and holds it open until released."""

    def __init__(self, world: World, work: Callable[[Session], Any]) -> None:
        super().__init__(daemon=True)
        self.world, self.work = world, work
        self.inside, self.release = threading.Event(), threading.Event()
        self.result: Any = None

    def run(self) -> None:
        with self.world.db.write() as session:
            self.result = self.work(session)
            self.inside.set()
            assert self.release.wait(30)

    def __enter__(self) -> Paused:
        self.start()
        assert self.inside.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.join(30)


class Beside(threading.Thread):
    """Runs ``work`` in its own transaction; keeps what it returned or raised."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as error:  # handed to the test thread's caller
            self.error = error

    def waited(self) -> bool:
        """Still waiting after WAIT seconds."""
        self.join(WAIT)
        return self.is_alive()

    def outcome(self) -> Any:
        self.join(30)
        assert not self.is_alive()
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def world(db: Any, signer: Any) -> World:
    return make_world(db, signer, workshops=2, booklets=4, sold=4)


def _redeem_in(world: World, n: int, at: datetime) -> Callable[[Session], Any]:
    codes = world.take(n)
    return lambda s: _redeem(world.db, s, world.sc.workshop_ids[0], codes, at, 600)


@through_pgbouncer
def test_a_redemption_in_flight_is_in_the_period_that_closes_after_it(world: World) -> None:
    w = world
    first = w.redeem(1, 1, minutes=0)
    with Paused(w, _redeem_in(w, 2, w.at(1))) as redemption:
        close = Beside(lambda: w.close())
        assert close.waited(), "the close did not wait for the redemption in flight"
    period = close.outcome()
    assert period["ticket_count"] == 1 + 2
    assert period["face_total"] == first["total"] + redemption.result["total"]
    assert Counter(period_numbers(w.db).values()) == {1: 3}
    w.assert_verified()


@through_pgbouncer
@pytest.mark.parametrize("tickets", [1, 2])  # PostgreSQL: one statement alone, or in a transaction
def test_a_redemption_written_while_a_close_runs_goes_to_the_next_period(
    world: World, tickets: int
) -> None:
    w = world
    w.redeem(1, 1, minutes=0)
    cut = w.at(10)
    # Redeemed at minute 5, before the cut-off, but it reaches the database while the
    # close is in the middle: the close cannot see it, so it must fall to the next one.
    codes = w.take(tickets)
    with Paused(w, lambda s: _close(s, w.sc.event_id, cut, "test", clock.now())) as closing:
        redemption = Beside(lambda: redeem_tickets(
            w.db, w.signer, workshop_id=w.sc.workshop_ids[0], codes=codes, now=w.at(5)))
        assert redemption.waited(), "the redemption did not wait for the close in flight"
    assert closing.result["ticket_count"] == 1
    assert redemption.outcome().status == 201
    assert Counter(period_numbers(w.db).values()) == {1: 1, None: tickets}
    later = w.close(20)
    assert (later["number"], later["ticket_count"]) == (2, tickets)
    assert Counter(period_numbers(w.db).values()) == {1: 1, 2: tickets}
    w.assert_verified()


@through_pgbouncer
def test_an_undo_in_flight_keeps_its_redemption_out_of_the_closing_period(
    world: World,
) -> None:
    w = world
    kept = w.redeem(1, 1, minutes=0)
    undone = w.redeem(0, 2, minutes=1)
    work = lambda s: _undo(s, w.sc.workshop_ids[0], undone["redemption_id"],  # noqa: E731
                           w.at(2), 600)
    with Paused(w, work):
        close = Beside(lambda: w.close())
        assert close.waited(), "the close did not wait for the undo in flight"
    period = close.outcome()
    assert (period["ticket_count"], period["face_total"]) == (1, kept["total"])
    w.assert_verified()


@through_pgbouncer
def test_an_undo_reaching_a_closing_period_is_refused_cleanly(world: World) -> None:
    w = world
    out = w.redeem(0, 2, minutes=0)
    with Paused(w, lambda s: _close(s, w.sc.event_id, w.at(1), "test", clock.now())):
        undo = Beside(lambda: undo_redemption(
            w.db, workshop_id=w.sc.workshop_ids[0], redemption_id=out["redemption_id"],
            now=w.at(2)))
        assert undo.waited(), "the undo did not wait for the close in flight"
    with pytest.raises(Refusal) as refused:
        undo.outcome()
    assert refused.value.code == "undo.settled"
    assert Counter(period_numbers(w.db).values()) == {1: 2}
    w.assert_verified()


@through_pgbouncer
def test_a_correction_waiting_behind_a_close_sees_the_undo_that_committed_first(
    world: World,
) -> None:
    """An undo in flight holds the close; a correction of the same redemption reads it
    and then waits for the close. The undo commits, the close settles the period
    without it: the correction must see the undo and refuse (else the ticket's money
    would go back twice)."""
    w = world
    w.redeem(1, 1, minutes=0)
    undone = w.redeem(0, 1, minutes=1)
    w.redeem(0, 2, minutes=5)  # after the cut-off: pending, enough to take one ticket back
    ticket_code = undone["tickets"][0]["code"]
    with w.db.read() as s:
        redemption_id = s.execute(
            select(Redemption.id).where(Redemption.entry_id == undone["redemption_id"])
        ).scalar_one()
    work = lambda s: _undo(s, w.sc.workshop_ids[0], undone["redemption_id"],  # noqa: E731
                           w.at(2), 600)
    with Paused(w, work):
        close = Beside(lambda: w.close(2))
        assert close.waited()
        correction = Beside(lambda: correct_redemption(
            w.db, ticket_code=ticket_code, reason="wrong booth", actor="test"))
        assert correction.waited()
    close.outcome()
    with pytest.raises(Refusal) as refused:
        correction.outcome()
    assert refused.value.code == "undo.already_undone"
    # And the database refuses it too, whatever the service thought.
    with pytest.raises(DBAPIError), w.db.write() as s:
        s.execute(text(
            "INSERT INTO settlement_correction (event_id, workshop_id, amount, counter_account,"
            " reason, redemption_id, entry_id, created_at, created_by) SELECT p.event_id,"
            " r.workshop_id, -r.amount, 'breakage', 'x', r.id, r.entry_id, r.redeemed_at, 't'"
            " FROM redemption r JOIN programme p ON p.id = r.programme_id WHERE r.id = :r"),
            {"r": redemption_id})
    w.assert_verified()


@pytest.mark.parametrize("db_url", ["postgres", "pgbouncer"], indirect=True)
def test_a_close_gives_up_on_redemptions_that_do_not_finish(
    db: Database, signer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL only (SQLite writers queue on the database file, answered 503 after its
    busy timeout): a transaction left open must not freeze every booth behind a close.
    The close gives up after LOCK_WAIT, changes nothing, and the same key works later."""
    monkeypatch.setattr(membership, "LOCK_WAIT", "300ms")
    w = make_world(db, signer, workshops=2, booklets=4, sold=4)
    w.redeem(1, 1, minutes=0)
    key = IdempotencyKey("staff:1", "close-1", "same")
    with Paused(w, _redeem_in(w, 1, w.at(1))):
        with pytest.raises(Refusal) as busy:
            close_period(db, event_id=w.sc.event_id, actor="test", idem=key)
        assert busy.value.code == "settlement.close_busy" and busy.value.status == 503
        # meanwhile another booth is not held: its redemption goes through
        w.redeem(1, 1, minutes=2)
    with db.read() as s:
        assert s.execute(text("SELECT COUNT(*) FROM settlement_period")).scalar_one() == 0
    again = close_period(db, event_id=w.sc.event_id, actor="test", idem=key)
    assert again.status == 201 and again.body["ticket_count"] == 3
    w.assert_verified()


SHORT = 5.0  # seconds: far more than a redemption takes, far less than "held forever"


@pytest.mark.parametrize("db_url", ["postgres", "pgbouncer"], indirect=True)
def test_a_close_holds_only_its_own_events_redemptions(db: Database, signer: Any) -> None:
    """Two events in one database. While event A's close is held open inside its
    transaction, event B's booths redeem and undo, and B's treasurer closes B's period,
    each within a short time; A's redemption waits for A's close and then goes to A's
    next period. (SQLite serialises every write transaction, so this is PostgreSQL's.)"""
    a = make_world(db, signer, workshops=2, booklets=4, sold=4)
    b = make_world(db, signer, workshops=2, booklets=4, sold=4, slug="other-fair")
    a.redeem(1, 1, minutes=0)
    b.redeem(1, 1, minutes=0)
    late = a.take(2)
    with Paused(a, lambda s: _close(s, a.sc.event_id, a.at(10), "test", clock.now())) as closing:
        waiting = Beside(lambda: redeem_tickets(
            db, signer, workshop_id=a.sc.workshop_ids[0], codes=late, now=a.at(5)))
        started = time.monotonic()
        done = []
        for work in (
            lambda: b.redeem(0, 2, minutes=5),
            lambda: undo_redemption(db, workshop_id=b.sc.workshop_ids[0],
                                    redemption_id=b.redeem(0, 1, minutes=6)["redemption_id"],
                                    now=b.at(7)),
            lambda: b.redeem(1, 1, minutes=8),
            lambda: b.close(9),
        ):
            other = Beside(work)
            other.join(SHORT)
            assert not other.is_alive(), "event B waited for event A's close"
            done.append(other.outcome())
        took = time.monotonic() - started
        assert waiting.waited(), "A's redemption did not wait for A's close in flight"
    assert took < SHORT
    assert (done[-1]["number"], done[-1]["ticket_count"]) == (1, 1 + 2 + 1)
    assert closing.result["ticket_count"] == 1
    assert waiting.outcome().status == 201
    with db.read() as s:
        opened = s.execute(
            text("SELECT r.open_period FROM redemption r JOIN ticket t ON t.id = r.ticket_id "
                 "WHERE t.code IN :codes").bindparams(bindparam("codes", expanding=True)),
            {"codes": late},
        ).scalars().all()
    assert opened == [2, 2], "A's redemption written during A's close is in A's next period"
    later = a.close(20)
    assert (later["number"], later["ticket_count"]) == (2, 2)
    a.assert_verified()  # the auditor checks every event in the database
    with db.read() as s:  # and the lock a close takes is the one redemptions share
        source = s.execute(text("SELECT prosrc FROM pg_proc "
                                "WHERE proname = 'oflocal_open_period'")).scalar_one()
    assert f"pg_advisory_xact_lock_shared({membership.EVENT_LOCK_SPACE}, for_event)" in source
