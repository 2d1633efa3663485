"""The fulfilment identities, for the auditor (``oflocal.audit``): every tour date's
count of places taken equals the people booked on it and stays within its places; a
tour is booked, and every delivery recorded, only for a paid pledge whose return holds
that item (the unique keys already make each once per pledge)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oflocal.crowdfunding.models import Pledge, Reward
from oflocal.ledger.verify import Report
from oflocal.supporters.models import ReturnDelivery, TourBooking, TourSlot


def check_fulfilment(session: Session, report: Report) -> None:
    slots = session.execute(
        select(TourSlot.id, TourSlot.booked, TourSlot.capacity,
               func.coalesce(func.sum(TourBooking.seats), 0))
        .join(TourBooking, TourBooking.slot_id == TourSlot.id, isouter=True)
        .group_by(TourSlot.id, TourSlot.booked, TourSlot.capacity)).all()
    wrong = [s for s, booked, capacity, seats in slots if booked != seats or booked > capacity]
    report.check("every tour date's places taken = people booked, within its places",
                 not wrong, f"tour dates {wrong[:10]}")
    owed_to = session.execute(
        select(Pledge.id, Pledge.state, Reward.items)
        .join(Reward, Reward.id == Pledge.reward_id)
        .where(Pledge.id.in_(select(TourBooking.pledge_id).union(
            select(ReturnDelivery.pledge_id))))).all()
    kinds = {pid: (state, {i["kind"] for i in items}) for pid, state, items in owed_to}
    booked = session.execute(select(TourBooking.pledge_id)).scalars().all()
    delivered = session.execute(select(ReturnDelivery.pledge_id, ReturnDelivery.item)).all()
    strays = sorted({p for p in booked if "tour_invite" not in kinds[p][1]}
                    | {p for p, item in delivered if item not in kinds[p][1]})
    report.check("a return's items are delivered only to pledges whose return holds them",
                 not strays, f"pledges {strays[:10]}")
