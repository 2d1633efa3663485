"""Tour invitations (特別工場見学へのご招待): dates with places, picked first come.

The committee adds dates (a factory, a time, how many people). A paid supporter whose
return contains ``tour_invite`` picks one on their page, for the pledge's quantity of
people. A booking takes its places with one guarded statement
(``booked + seats <= capacity``, also a check constraint), so a full date is never
overbooked however many pick at once; moving to another date gives the old places back
in the same transaction.

At the door, the invitation's QR code holds a link with the booking's MAC; a staff
member's phone opens it and records the arrival, once: a second scan says when.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from oflocal import clock
from oflocal.crowdfunding.models import Campaign, Pledge, Reward
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.supporters.models import TourBooking, TourSlot


def add_slot(db: Database, campaign_id: int, *, title: str, place: str, starts_at: datetime,
             capacity: int, now: datetime | None = None) -> int:
    if not title.strip() or len(title) > 200 or len(place) > 300:
        raise Refusal("tour.invalid", detail="title 1–200 characters, place at most 300")
    if not 1 <= capacity <= 10_000:
        raise Refusal("tour.invalid", detail="capacity: 1–10,000 people")
    with db.write() as session:
        if session.get(Campaign, campaign_id) is None:
            raise Refusal("campaign.not_found")
        slot = TourSlot(campaign_id=campaign_id, title=title.strip(), place=place.strip(),
                        starts_at=starts_at, capacity=capacity, booked=0,
                        created_at=now or clock.now())
        session.add(slot)
        session.flush()
        return slot.id


@dataclass(frozen=True)
class SlotView:
    id: int
    title: str
    place: str
    starts_at: datetime
    capacity: int
    booked: int

    @property
    def left(self) -> int:
        return self.capacity - self.booked


def slots(db: Database, campaign_id: int) -> list[SlotView]:
    with db.read() as session:
        rows = session.execute(select(TourSlot).where(TourSlot.campaign_id == campaign_id)
                               .order_by(TourSlot.starts_at, TourSlot.id)).scalars().all()
        return [SlotView(r.id, r.title, r.place, r.starts_at, r.capacity, r.booked)
                for r in rows]


def _invited(db: Database, email: str, pledge_id: int) -> Pledge:
    with db.read() as session:
        row = session.execute(
            select(Pledge, Reward).join(Reward, Reward.id == Pledge.reward_id)
            .where(Pledge.id == pledge_id, Pledge.supporter_email == email)).first()
        if row is None:
            raise Refusal("pledge.not_found")
        pledge, reward = row
        session.expunge(pledge)
    if not any(item["kind"] == "tour_invite" for item in reward.items):
        raise Refusal("tour.not_invited")
    if pledge.state != "paid":
        raise Refusal("tour.not_paid")
    return pledge


def book(db: Database, email: str, pledge_id: int, slot_id: int, *,
         now: datetime | None = None) -> int:
    """Book (or move) the invitation of ``email``'s pledge to ``slot_id``; answers the
    booking's id. ``tour.full`` when the date has fewer places left than the pledge's
    people; then nothing changes, not even a booking held on another date."""
    at = now or clock.now()
    pledge = _invited(db, email, pledge_id)
    seats = pledge.quantity
    try:
        with db.write() as session:
            slot = session.get(TourSlot, slot_id)
            if slot is None or slot.campaign_id != pledge.campaign_id:
                raise Refusal("tour.slot_not_found")
            if slot.starts_at <= at:
                raise Refusal("tour.slot_past")
            held = session.execute(select(TourBooking).where(
                TourBooking.pledge_id == pledge_id).with_for_update()).scalar_one_or_none()
            if held is not None and held.slot_id == slot_id:
                return held.id
            if held is not None and held.checked_in_at is not None:
                raise Refusal("tour.already_checked_in", when=held.checked_in_at)
            taken = affected(session.execute(
                update(TourSlot)
                .where(TourSlot.id == slot_id, TourSlot.booked + seats <= TourSlot.capacity)
                .values(booked=TourSlot.booked + seats)
                .execution_options(synchronize_session=False)))
            if taken != 1:
                raise Refusal("tour.full", left=max(slot.capacity - slot.booked, 0))
            if held is not None:
                session.execute(update(TourSlot).where(TourSlot.id == held.slot_id)
                                .values(booked=TourSlot.booked - held.seats)
                                .execution_options(synchronize_session=False))
                held.slot_id, held.booked_at = slot_id, at
                return held.id
            booking = TourBooking(slot_id=slot_id, pledge_id=pledge_id, seats=seats,
                                  booked_at=at)
            session.add(booking)
            session.flush()
            return booking.id
    except IntegrityError:  # the same pledge booked at once from two tabs: one counts
        raise Refusal("tour.try_again") from None


@dataclass(frozen=True)
class MyBooking:
    booking_id: int
    slot: SlotView
    seats: int
    checked_in_at: datetime | None


def booking_of(db: Database, pledge_id: int) -> MyBooking | None:
    with db.read() as session:
        row = session.execute(
            select(TourBooking, TourSlot).join(TourSlot, TourSlot.id == TourBooking.slot_id)
            .where(TourBooking.pledge_id == pledge_id)).first()
    if row is None:
        return None
    b, s = row
    return MyBooking(b.id, SlotView(s.id, s.title, s.place, s.starts_at, s.capacity, s.booked),
                     b.seats, b.checked_in_at)


# --------------------------------------------------------------------------- at the door


def door_token(secret: bytes, booking_id: int) -> str:
    mac = hmac.new(secret, f"tour-door:{booking_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:16]).decode().rstrip("=")


def door_path(secret: bytes, booking_id: int) -> str:
    return f"/door/tour/{booking_id}/{door_token(secret, booking_id)}"


@dataclass(frozen=True)
class Arrival:
    name: str
    seats: int
    slot: SlotView
    checked_in_at: datetime | None
    checked_in_by: str | None


def arrival(db: Database, secret: bytes, booking_id: int, token: str) -> Arrival:
    """The invitation a scanned code names; ``tour.code_invalid`` for a forged one."""
    if not hmac.compare_digest(token, door_token(secret, booking_id)):
        raise Refusal("tour.code_invalid")
    with db.read() as session:
        row = session.execute(
            select(TourBooking, TourSlot, Pledge.supporter_name)
            .join(TourSlot, TourSlot.id == TourBooking.slot_id)
            .join(Pledge, Pledge.id == TourBooking.pledge_id)
            .where(TourBooking.id == booking_id)).first()
    if row is None:
        raise Refusal("tour.code_invalid")
    b, s, name = row
    return Arrival(name, b.seats, SlotView(s.id, s.title, s.place, s.starts_at, s.capacity,
                                           s.booked), b.checked_in_at, b.checked_in_by)


def check_in(db: Database, secret: bytes, booking_id: int, token: str, *, actor: str,
             now: datetime | None = None) -> Arrival:
    """Record the arrival once; a second scan is refused with when and by whom."""
    arrival(db, secret, booking_id, token)
    at = now or clock.now()
    with db.write() as session:
        done = affected(session.execute(
            update(TourBooking).where(TourBooking.id == booking_id,
                                      TourBooking.checked_in_at.is_(None))
            .values(checked_in_at=at, checked_in_by=actor)
            .execution_options(synchronize_session=False)))
    seen = arrival(db, secret, booking_id, token)
    if done != 1:
        raise Refusal("tour.already_checked_in", when=seen.checked_in_at)
    return seen
