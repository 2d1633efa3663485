"""Pledging: a supporter backs a campaign by choosing a return. Read this file to know how
a pledge works.

The pledge is checked (campaign live and open now, payment method offered, amount, the
answers the return's items ask for), then, in one write transaction: the return's
expired reservations give their stock back, one guarded UPDATE claims the quantity
(reserve.py: no row, sold out), the supporter's own holding is checked against the
per-supporter limit (exact: the claim holds the return's row), and the pledge is written
``reserved`` with its payment deadline and transfer reference, with its "pledge received"
notice and the sweep that expires it if unpaid. A refusal rolls all of it back. Every
pledge request carries an Idempotency-Key: a double tap makes one pledge.

No money moves at a pledge: the journal sees it when it is paid (payments.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding import reserve
from oflocal.crowdfunding.items import check_answers, clean_email, clean_phone
from oflocal.crowdfunding.models import Campaign, Pledge, Reward
from oflocal.crowdfunding.notices import notify
from oflocal.crowdfunding.schedule import REMIND_BEFORE, REMINDED, schedule_sweep
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once

MAX_QUANTITY = 100


@dataclass(frozen=True)
class PledgeRequest:
    campaign_id: int
    reward_id: int
    name: str
    email: str
    phone: str
    payment_method: str
    quantity: int = 1
    amount: int | None = None  # a free-amount return: what the supporter gives
    answers: dict[str, Any] = field(default_factory=dict)
    lang: str = "ja"


def make_pledge(
    db: Database,
    request: PledgeRequest,
    *,
    idem: IdempotencyKey | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Reserve a return for a supporter. Refusals raise :class:`Refusal`, change nothing."""
    at = now or clock.now()
    # What needs no database is checked before the transaction.
    name = request.name.strip()
    if not name or len(name) > 120:
        raise Refusal("pledge.invalid", detail="name: 1 to 120 characters")
    email = clean_email(request.email)
    phone = clean_phone(request.phone)
    if type(request.quantity) is not int or not 1 <= request.quantity <= MAX_QUANTITY:
        raise Refusal("pledge.invalid", detail=f"quantity: 1 to {MAX_QUANTITY}")
    if request.lang not in ("ja", "en"):
        raise Refusal("pledge.invalid", detail="lang: ja or en")

    def work(session: Session) -> dict[str, Any]:
        return _pledge(db, session, request, name, email, phone, at)

    return run_once(db, idem, work)


def _pledge(db: Database, session: Session, request: PledgeRequest, name: str, email: str,
            phone: str, now: datetime) -> dict[str, Any]:
    row = session.execute(
        select(Reward, Campaign).join(Campaign, Campaign.id == Reward.campaign_id)
        .where(Reward.id == request.reward_id)
        # Shared: an outcome being decided (it locks the campaign for update) sees this
        # pledge, or this pledge sees the campaign decided.
        .with_for_update(read=True, of=Campaign)
    ).first()
    if row is None or row.Reward.campaign_id != request.campaign_id:
        if session.get(Campaign, request.campaign_id) is None:
            raise Refusal("campaign.not_found")
        raise Refusal("reward.not_found")
    reward, campaign = row.Reward, row.Campaign
    if campaign.state != "live" or not campaign.starts_at <= now < campaign.ends_at:
        raise Refusal("campaign.not_open", starts=campaign.starts_at, ends=campaign.ends_at)
    if request.payment_method not in campaign.payment_methods:
        raise Refusal("pledge.method_unavailable", method=request.payment_method)
    q = request.quantity
    amount = _amount(reward, q, request.amount)
    answers = check_answers(reward.items, request.answers)
    shipping = reward.shipping_fee if any(i["kind"] == "goods" for i in reward.items) else 0

    conn = session.connection()
    reserve.release_expired(conn, reward.id, now)
    serial = reserve.claim(conn, reward.id, q)
    if serial is None:
        raise Refusal("reward.sold_out", left=reserve.left(conn, reward.id) or 0)
    if reward.per_supporter_limit is not None:
        held = reserve.held_by(conn, reward.id, email)
        if held + q > reward.per_supporter_limit:
            raise Refusal("reward.per_supporter_limit", limit=reward.per_supporter_limit,
                          held=held)
    deadline = reserve.payment_deadline(request.payment_method, now, campaign.payment_days)
    pledge = Pledge(
        campaign_id=campaign.id, reward_id=reward.id,
        reference=reserve.transfer_reference(reward.number, serial),
        supporter_name=name, supporter_email=email, supporter_phone=phone,
        lang=request.lang, quantity=q, amount=amount, shipping=shipping,
        total=amount + shipping, answers=answers, payment_method=request.payment_method,
        state="reserved", payment_deadline=deadline, created_at=now,
    )
    session.add(pledge)
    session.flush()
    notify(session, pledge.id, "pledge_received", now, reference=pledge.reference,
           total=pledge.total, deadline=deadline.isoformat(),
           method=request.payment_method)
    schedule_sweep(db, session, campaign.id, deadline)
    if request.payment_method in REMINDED and deadline - now > REMIND_BEFORE:
        schedule_sweep(db, session, campaign.id, deadline - REMIND_BEFORE)  # the reminder
    return {
        "pledge_id": pledge.id,
        "campaign_id": campaign.id,
        "reward_id": reward.id,
        "reference": pledge.reference,
        "state": "reserved",
        "quantity": q,
        "amount": amount,
        "shipping": shipping,
        "total": pledge.total,
        "payment_method": request.payment_method,
        "payment_deadline": deadline.isoformat(),
        "created_at": now.isoformat(),
    }


def _amount(reward: Reward, quantity: int, given: int | None) -> int:
    base = reward.price * quantity
    if given is not None and type(given) is not int:
        raise Refusal("pledge.invalid", detail="amount: whole yen")
    if reward.free_amount:
        if given is None:
            return base
        if given < base:
            raise Refusal("pledge.amount_below_minimum", minimum=base)
        return given
    if given is not None and given != base:
        raise Refusal("pledge.amount_mismatch", expected=base, given=given)
    return base


STATE_NAMES = {
    "reserved": ("入金待ち", "awaiting payment"),
    "paid": ("入金済み", "paid"),
    "expired": ("期限切れ", "expired"),
    "cancelled": ("取消済み", "cancelled"),
    "refund_due": ("返金待ち", "to be refunded"),
    "refunded": ("返金済み", "refunded"),
}


def cancel_pledge(db: Database, pledge_id: int, *, idem: IdempotencyKey | None = None,
                  now: datetime | None = None) -> Outcome:
    """The supporter withdraws an unpaid pledge: its stock comes back at once."""
    at = now or clock.now()

    def work(session: Session) -> dict[str, Any]:
        pledge = session.get(Pledge, pledge_id, with_for_update=True)
        if pledge is None:
            raise Refusal("pledge.not_found")
        if pledge.state != "reserved":
            ja, en = STATE_NAMES[pledge.state]
            raise Refusal("pledge.not_cancellable", state=ja, state_en=en)
        done = affected(session.execute(
            update(Pledge).where(Pledge.id == pledge_id, Pledge.state == "reserved")
            .values(state="cancelled", ended_at=at).execution_options(synchronize_session=False)
        ))
        if done != 1:  # cannot happen under the row lock; never guess
            raise AssertionError(f"pledge {pledge_id} changed under its lock")
        reserve.give_back(session.connection(), pledge.reward_id, pledge.quantity)
        return {"pledge_id": pledge_id, "state": "cancelled", "cancelled_at": at.isoformat()}

    return run_once(db, idem, work, status=200)
