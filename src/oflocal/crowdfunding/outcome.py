"""A campaign's outcome, decided once. Read this file to know how a campaign ends.

After the end, expired reservations give their stock back; while a bank-transfer or
konbini pledge may still be paid (a reservation inside its deadline) the campaign is
**waiting for payments** and the decision waits for the last deadline. Then, once, with
the campaign's row locked and its state moved by a conditional UPDATE:

- **succeeded** (all-in always; all-or-nothing when the paid pledges reach the goal):
  one entry moves the paid pledges from pledges held to crowdfunding income, and books
  what providers kept of the campaign's payments as an expense (payment fees, out of the
  provider receivable);
- **failed** (all-or-nothing below the goal): every paid pledge becomes ``refund_due``
  with a refund record and a notice, its stock given back; the fees providers kept are
  booked as an expense all the same.

Deciding again answers the first decision. Payments arriving after it are refunded
(payments.py); they never change a decided outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding import reserve
from oflocal.crowdfunding.models import DECIDED, Campaign, Payment, Pledge, Reward
from oflocal.crowdfunding.notices import notify
from oflocal.crowdfunding.payments import _book_fee, request_refund
from oflocal.crowdfunding.schedule import schedule_sweep
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once
from oflocal.ledger.accounts import account_ids
from oflocal.ledger.journal import post_entry


def decide_outcome(db: Database, campaign_id: int, *, actor: str = "system",
                   idem: IdempotencyKey | None = None, now: datetime | None = None) -> Outcome:
    """Decide the campaign's outcome if it can be decided now (see the module doc)."""
    at = now or clock.now()

    def work(session: Session) -> dict[str, Any]:
        return _decide(db, session, campaign_id, actor, at)

    return run_once(db, idem, work, status=200)


def outcome_body(campaign: Campaign) -> dict[str, Any]:
    return {
        "campaign_id": campaign.id,
        "state": campaign.state,
        "decided_at": campaign.decided_at.isoformat() if campaign.decided_at else None,
        "moved_to_income": campaign.moved_to_income,
        "fees": campaign.fees,
        "entry_id": campaign.outcome_entry_id,
    }


def raised(session: Session, campaign_id: int) -> tuple[int, int, int]:
    """(support counted towards the goal, totals paid, paid pledges) of paid pledges."""
    row = session.execute(
        select(func.coalesce(func.sum(Pledge.amount), 0), func.coalesce(func.sum(Pledge.total), 0),
               func.count())
        .where(Pledge.campaign_id == campaign_id, Pledge.state == "paid")
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _decide(db: Database, session: Session, campaign_id: int, actor: str,
            now: datetime) -> dict[str, Any]:
    campaign = session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise Refusal("campaign.not_found")
    if campaign.state in DECIDED:
        return {**outcome_body(campaign), "already_decided": True}
    if campaign.state == "draft":
        raise Refusal("campaign.not_live")
    if now < campaign.ends_at:
        raise Refusal("campaign.not_ended", ends=campaign.ends_at)
    conn = session.connection()
    rewards = session.execute(
        select(Reward.id).where(Reward.campaign_id == campaign_id).order_by(Reward.id)
    ).scalars().all()
    for reward_id in rewards:
        reserve.release_expired(conn, reward_id, now)
    last_deadline = session.execute(
        select(func.max(Pledge.payment_deadline))
        .where(Pledge.campaign_id == campaign_id, Pledge.state == "reserved")
    ).scalar_one()
    if last_deadline is not None:  # someone may still pay: decide after the last deadline
        if campaign.state != "waiting_payments":
            campaign.state = "waiting_payments"
        schedule_sweep(db, session, campaign_id, last_deadline)
        session.flush()
        return {**outcome_body(campaign), "waiting_until": last_deadline.isoformat()}

    support, totals, count = raised(session, campaign_id)
    fees = int(session.execute(
        select(func.coalesce(func.sum(Payment.fee), 0)).where(Payment.campaign_id == campaign_id)
    ).scalar_one())
    success = campaign.funding_model == "all_in" or support >= campaign.goal
    state = "succeeded" if success else "failed"
    decided = affected(session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.state.in_(("live", "waiting_payments")))
        .values(state=state, decided_at=now, moved_to_income=totals if success else 0,
                fees=fees)
        .execution_options(synchronize_session=False)
    ))
    if decided != 1:  # cannot happen under the row lock; never guess
        raise AssertionError(f"campaign {campaign_id} changed under its lock")
    entry_id = None
    once = f"campaign:{campaign_id}:outcome"
    if success and (totals or fees):
        accounts = account_ids(session, campaign.event_id, "pledges_held", "crowdfunding_income",
                               "payment_fees", "provider_receivable")
        entry_id = post_entry(
            session, event_id=campaign.event_id, kind="campaign_success",
            lines=[(accounts["pledges_held"], totals), (accounts["crowdfunding_income"], -totals),
                   (accounts["payment_fees"], fees), (accounts["provider_receivable"], -fees)],
            occurred_at=now, memo=f"campaign {campaign.slug} succeeded ({count} pledges)",
            actor=actor, once_key=once,
        )
    elif not success:
        _refund_everyone(session, campaign_id, now)
        if fees:
            entry_id = _book_fee(session, campaign.event_id, fees, now,
                                 f"fees of failed campaign {campaign.slug}", actor, once)
    if entry_id is not None:
        session.execute(update(Campaign).where(Campaign.id == campaign_id)
                        .values(outcome_entry_id=entry_id)
                        .execution_options(synchronize_session=False))
    session.refresh(campaign)
    return {**outcome_body(campaign), "raised": support, "goal": campaign.goal,
            "paid_pledges": count}


def _refund_everyone(session: Session, campaign_id: int, now: datetime) -> None:
    """All-or-nothing missed its goal: every paid pledge's money goes back."""
    conn = session.connection()
    paid = session.execute(
        select(Pledge, Payment.id, Payment.source)
        .join(Payment, (Payment.pledge_id == Pledge.id) & Payment.duplicate.is_(False))
        .where(Pledge.campaign_id == campaign_id, Pledge.state == "paid")
        .order_by(Pledge.id)
        .with_for_update(of=Pledge)
    ).all()
    for pledge, payment_id, source in paid:
        moved = affected(conn.execute(
            update(Pledge).where(Pledge.id == pledge.id, Pledge.state == "paid")
            .values(state="refund_due").execution_options(synchronize_session=False)
        ))
        if moved != 1:
            raise AssertionError(f"pledge {pledge.id} changed under its lock")
        reserve.give_back(conn, pledge.reward_id, pledge.quantity)
        request_refund(session, pledge, payment_id, pledge.total, source, "campaign_failed", now)
        notify(session, pledge.id, "campaign_failed_refund", now, total=pledge.total)
