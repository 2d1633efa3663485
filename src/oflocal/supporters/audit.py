"""The fulfilment identities, for the auditor (``oflocal.audit``): every tour date's
count of places taken equals the people booked on it and stays within its places; a
tour is booked, and every delivery recorded, only for a paid pledge whose return holds
that item (the unique keys already make each once per pledge); every voucher-booklet
return collected at most once, with its sale and ledger entry."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oflocal.crowdfunding.items import booklets_owed
from oflocal.crowdfunding.models import Pledge, Reward
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.ledger.verify import Report
from oflocal.supporters.models import BookletPickup, ReturnDelivery, TourBooking, TourSlot
from oflocal.vouchers.models import Sale


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


def check_pickups(session: Session, report: Report) -> None:
    """Every voucher-booklet return collected at most once, for what its return holds,
    each through a sale paid by the pledge whose entry is in the ledger."""
    twice = session.execute(
        select(BookletPickup.pledge_id, BookletPickup.programme_id)
        .group_by(BookletPickup.pledge_id, BookletPickup.programme_id)
        .having(func.count() > 1)).all()
    report.check("every voucher-booklet return is collected at most once", not twice,
                 f"pledges {[p for p, _ in twice][:10]}")
    rows = session.execute(
        select(BookletPickup, Sale, Pledge.quantity, Pledge.state, Reward.items,
               JournalEntry.kind)
        .join(Sale, Sale.id == BookletPickup.sale_id)
        .join(Pledge, Pledge.id == BookletPickup.pledge_id)
        .join(Reward, Reward.id == Pledge.reward_id)
        .join(JournalEntry, JournalEntry.id == Sale.entry_id, isouter=True)).all()
    wrong = [p.pledge_id for p, sale, quantity, state, items, kind in rows
             if kind != "booklet_pickup" or sale.payment_method != "pledge"
             or sale.programme_id != p.programme_id
             or sale.booklet_count != p.booklet_count
             or booklets_owed(items, quantity).get(p.programme_id) != p.booklet_count]
    report.check("each booklet pickup hands over what its return holds, through its sale "
                 "and ledger entry", not wrong, f"pledges {wrong[:10]}")
    orphans = session.execute(
        select(Sale.id).where(Sale.payment_method == "pledge",
                              Sale.id.not_in(select(BookletPickup.sale_id)))).scalars().all()
    report.check("every sale paid by a pledge is a booklet pickup", not orphans,
                 f"sales {orphans[:10]}")
    income_debits = session.execute(
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(Account, Account.id == Posting.account_id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(Account.code == "crowdfunding_income", JournalEntry.kind == "booklet_pickup")
    ).scalar_one()
    price_paid = session.execute(
        select(func.coalesce(func.sum(Sale.amount_paid), 0))
        .where(Sale.payment_method == "pledge")).scalar_one()
    report.check("crowdfunding income moved to vouchers = price of the booklets collected",
                 income_debits == price_paid, f"ledger {income_debits} vs pickups {price_paid}")
