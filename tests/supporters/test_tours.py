"""Tour invitations on both databases: 200 supporters pick the last 20 places of a date
at once and exactly 20 get them; moving to another date gives the places back; a full
date changes nothing; at the door a code is checked in once and a forged one refused."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from cf_world import World, build_world
from sqlalchemy import func, insert, select, update

from oflocal import clock
from oflocal.crowdfunding.models import Pledge
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.ledger.verify import Report
from oflocal.supporters import tours
from oflocal.supporters.audit import check_fulfilment
from oflocal.supporters.models import TourBooking, TourSlot

pytestmark = pytest.mark.slow
SECRET = b"s" * 32


def _supporters(db: Database, w: World, count: int, tag: str, *, quantity: int = 1,
                state: str = "paid") -> list[tuple[str, int]]:
    """Paid pledges of the tour return, written in bulk (seeding); (email, pledge id)."""
    now = clock.now()
    rows = [{"campaign_id": w.campaign_id, "reward_id": w.limited,
             "reference": f"{tag}{i:05d}", "supporter_name": f"支援者{i}",
             "supporter_email": f"{tag.lower()}{i}@example.jp",
             "supporter_phone": "+819012345678", "lang": "ja", "quantity": quantity,
             "amount": 5000 * quantity, "shipping": 0, "total": 5000 * quantity,
             "answers": {}, "payment_method": "bank_transfer", "state": state,
             "payment_deadline": now + timedelta(days=7), "created_at": now,
             "paid_at": now if state == "paid" else None} for i in range(count)]
    with db.write() as session:
        session.execute(insert(Pledge), rows)
        found = session.execute(select(Pledge.supporter_email, Pledge.id).where(
            Pledge.supporter_email.in_([r["supporter_email"] for r in rows]))).all()
    return [(email, pid) for email, pid in found]


def _fulfilment_failures(db: Database) -> list[tuple[str, str]]:
    report = Report()
    with db.read() as session:
        check_fulfilment(session, report)
    return report.failures


@pytest.fixture
def world(db: Database) -> World:
    return build_world(db, around=clock.now(), limit=1000, per_supporter=None)


def _slot(db: Database, w: World, capacity: int, days: int = 20) -> int:
    return tours.add_slot(db, w.campaign_id, title="機屋の見学", place="一宮市",
                          starts_at=clock.now() + timedelta(days=days), capacity=capacity)


def test_200_pick_the_last_20_places_at_once(world: World) -> None:
    db = world.db
    slot = _slot(db, world, 40)
    for email, pledge_id in _supporters(db, world, 20, "A"):  # the first 20 places
        tours.book(db, email, pledge_id, slot)
    crowd = _supporters(db, world, 200, "B")
    answers: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(crowd))

    def pick(email: str, pledge_id: int) -> None:
        start.wait()
        try:
            tours.book(db, email, pledge_id, slot)
            outcome = "booked"
        except Refusal as refusal:
            outcome = refusal.code
        with lock:
            answers.append(outcome)

    threads = [threading.Thread(target=pick, args=pair) for pair in crowd]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers.count("booked") == 20
    assert answers.count("tour.full") == 180, sorted(set(answers))
    with db.read() as session:
        booked = session.execute(select(TourSlot.booked).where(TourSlot.id == slot)).scalar_one()
        seats = session.execute(select(func.sum(TourBooking.seats)).where(
            TourBooking.slot_id == slot)).scalar_one()
    assert booked == seats == 40
    assert _fulfilment_failures(db) == []  # (the bulk-seeded pledges have no payments)


def test_moving_gives_places_back_and_a_full_date_changes_nothing(world: World) -> None:
    db = world.db
    first, second, small = _slot(db, world, 5), _slot(db, world, 5, 21), _slot(db, world, 1)
    (email, pledge_id), = _supporters(db, world, 1, "C", quantity=2)
    booking = tours.book(db, email, pledge_id, first)
    assert tours.book(db, email, pledge_id, first) == booking  # again: the same
    assert tours.book(db, email, pledge_id, second) == booking
    assert {s.id: s.booked for s in tours.slots(db, world.campaign_id)} == {
        first: 0, second: 2, small: 0}
    with pytest.raises(Refusal) as full:
        tours.book(db, email, pledge_id, small)  # 2 people, 1 place
    assert full.value.code == "tour.full"
    held = tours.booking_of(db, pledge_id)
    assert held is not None and held.slot.id == second and held.seats == 2
    with db.write() as session:  # the auditor notices a count that drifted
        session.execute(update(TourSlot).where(TourSlot.id == first).values(booked=1))
    assert [n for n, _ in _fulfilment_failures(db)] == [
        "every tour date's places taken = people booked, within its places"]
    with db.write() as session:
        session.execute(update(TourSlot).where(TourSlot.id == first).values(booked=0))
    (other, unpaid), = _supporters(db, world, 1, "D", state="reserved")
    with pytest.raises(Refusal) as not_paid:
        tours.book(db, other, unpaid, first)
    assert not_paid.value.code == "tour.not_paid"
    with pytest.raises(Refusal) as not_theirs:
        tours.book(db, other, pledge_id, first)
    assert not_theirs.value.code == "pledge.not_found"


def test_the_door_checks_in_once_and_refuses_a_forged_code(world: World) -> None:
    db = world.db
    slot = _slot(db, world, 5)
    (email, pledge_id), = _supporters(db, world, 1, "E")
    booking = tours.book(db, email, pledge_id, slot)
    token = tours.door_token(SECRET, booking)
    seen = tours.check_in(db, SECRET, booking, token, actor="staff:1")
    assert seen.checked_in_at is not None and seen.name == "支援者0"
    with pytest.raises(Refusal) as again:
        tours.check_in(db, SECRET, booking, token, actor="staff:2")
    assert again.value.code == "tour.already_checked_in"
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"),
                   tours.door_token(b"x" * 32, booking)):
        with pytest.raises(Refusal) as bad:
            tours.arrival(db, SECRET, booking, forged)
        assert bad.value.code == "tour.code_invalid"
    with pytest.raises(Refusal) as moved:
        tours.book(db, email, pledge_id, _slot(db, world, 5, 22))
    assert moved.value.code == "tour.already_checked_in"
