"""The expiry run and the scheduled sweep of a campaign.

:func:`expire_reservations` gives back the stock of every reservation past its deadline
(each return in its own transaction, by the same statement a pledge runs first,
reserve.py). The ``crowdfunding.sweep`` job (queued by schedule.py at each payment
deadline, a day before it, and at the campaign's end) runs it for one campaign, queues
the payment reminders that are due, then decides the outcome once the campaign has
ended; its writes and the job's end commit together (fenced).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding import reserve
from oflocal.crowdfunding.models import Campaign, Pledge
from oflocal.crowdfunding.notices import notify
from oflocal.crowdfunding.outcome import decide_outcome
from oflocal.crowdfunding.schedule import REMIND_BEFORE, REMINDED, SWEEP
from oflocal.db.engine import Database
from oflocal.jobs.worker import JobContext, Task


def expire_reservations(db: Database, *, campaign_id: int | None = None,
                        now: datetime | None = None) -> int:
    """Expire unpaid reservations past their deadline; the quantity given back."""
    at = now or clock.now()
    query = select(Pledge.reward_id).distinct().where(
        Pledge.state == "reserved", Pledge.payment_deadline <= at)
    if campaign_id is not None:
        query = query.where(Pledge.campaign_id == campaign_id)
    with db.read() as session:
        rewards = sorted(session.execute(query).scalars())
    released = 0
    for reward_id in rewards:
        with db.write() as session:
            released += reserve.release_expired(session.connection(), reward_id, at)
    return released


def remind(session: Session, campaign_id: int, now: datetime) -> int:
    """Queue the payment reminder of every reservation paid by transfer or at a konbini
    whose deadline comes within ``REMIND_BEFORE`` (the outbox sends each one once per
    deadline: a second sweep queues nothing more). The number of pledges reminded."""
    due = session.execute(select(Pledge.id).where(
        Pledge.campaign_id == campaign_id, Pledge.state == "reserved",
        Pledge.payment_method.in_(REMINDED), Pledge.payment_deadline > now,
        Pledge.payment_deadline <= now + REMIND_BEFORE + timedelta(minutes=5),
    ).order_by(Pledge.id)).scalars().all()
    for pledge_id in due:
        notify(session, pledge_id, "payment_reminder", now)
    return len(due)


def _run(ctx: JobContext) -> None:
    campaign_id = int(ctx.payload["campaign_id"])
    with ctx.finish() as session:  # the services below join this fenced transaction
        expire_reservations(ctx.db, campaign_id=campaign_id)
        remind(session, campaign_id, clock.now())
        campaign = session.get(Campaign, campaign_id)
        if (campaign is not None and campaign.state in ("live", "waiting_payments")
                and clock.now() >= campaign.ends_at):
            decide_outcome(ctx.db, campaign_id, actor="job:crowdfunding.sweep")


SWEEP_TASK = Task(kind=SWEEP, run=_run, max_attempts=5)
