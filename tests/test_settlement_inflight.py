"""The moments the membership rule has to get right, made to happen on purpose: a
redemption or an undo caught in the middle of its transaction while a period closes,
and a close caught in the middle while they arrive. Real transactions in real threads
on SQLite and PostgreSQL; each side is paused inside its transaction by the test.

What must hold: whoever started first finishes first and the other waits for it; a
redemption in flight when a close starts is in that period; one written while a close
is in flight (even if redeemed before the cut-off) is in the next one, never in none;
an undo that reaches a settled redemption is refused cleanly.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.errors import Refusal
from oflocal.settlement.close import _close
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


def test_a_redemption_written_while_a_close_runs_goes_to_the_next_period(
    world: World,
) -> None:
    w = world
    w.redeem(1, 1, minutes=0)
    cut = w.at(10)
    # Redeemed at minute 5, before the cut-off, but it reaches the database while the
    # close is in the middle: the close cannot see it, so it must fall to the next one.
    codes = w.take(2)
    with Paused(w, lambda s: _close(s, w.sc.event_id, cut, "test", clock.now())) as closing:
        redemption = Beside(lambda: redeem_tickets(
            w.db, w.signer, workshop_id=w.sc.workshop_ids[0], codes=codes, now=w.at(5)))
        assert redemption.waited(), "the redemption did not wait for the close in flight"
    assert closing.result["ticket_count"] == 1
    assert redemption.outcome().status == 201
    assert Counter(period_numbers(w.db).values()) == {1: 1, None: 2}
    later = w.close(20)
    assert (later["number"], later["ticket_count"]) == (2, 2)
    assert Counter(period_numbers(w.db).values()) == {1: 1, 2: 2}
    w.assert_verified()


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
