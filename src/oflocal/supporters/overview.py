"""What a signed-in supporter sees of their pledges, across campaigns and years."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from oflocal.crowdfunding import links
from oflocal.crowdfunding.items import ITEM_NAMES, booklets_owed
from oflocal.crowdfunding.models import Campaign, Pledge, Refund, Reward
from oflocal.crowdfunding.pledge import STATE_NAMES
from oflocal.crowdfunding.public import delivery_month_label
from oflocal.db.engine import Database
from oflocal.events.models import Event

REFUND_STATE_NAMES = {
    "requested": ("返金手続き中", "being prepared"),
    "sent": ("返金を送金済み", "sent"),
    "confirmed": ("返金完了", "completed"),
    "failed": ("返金に失敗（委員会が対応します）", "failed (the committee will act)"),
    "done_by_hand": ("返金完了", "completed"),
}


@dataclass(frozen=True)
class MyPledge:
    id: int
    campaign_id: int
    number: str  # P-000012
    event_slug: str
    event_title: str
    campaign_slug: str
    campaign_title: str
    campaign_state: str
    reward_title: str
    items: list[str]
    delivery: str  # 2027年3月 / March 2027
    quantity: int
    amount: int
    shipping: int
    total: int
    method: str
    state: str
    state_label: str
    deadline: datetime | None  # while unpaid
    paid_at: datetime | None
    created_at: datetime
    answers: dict[str, Any]
    asks: list[str]  # what may still be corrected: sns_handle, wall_name, shipping
    editable: bool  # answers can be corrected (fulfilment not locked, pledge alive)
    cancellable: bool
    invited: bool  # paid, and the return includes the factory tour: a date to pick
    booklets: int  # paid, voucher booklets to collect at the venue desk (pickup.py)
    refund_state: str | None
    refund_account_path: str | None  # where to give the refund's bank account

    @property
    def campaign_path(self) -> str:
        return links.campaign_path(self.event_slug, self.campaign_slug)


def _asks(items: list[dict[str, Any]]) -> list[str]:
    asks = {"sns_thanks": "sns_handle", "wall_name": "wall_name", "goods": "shipping"}
    return [asks[i["kind"]] for i in items if i["kind"] in asks]


def my_pledges(db: Database, email: str, lang: str) -> list[MyPledge]:
    """Every pledge made with ``email``, newest first."""
    side = 0 if lang == "ja" else 1
    with db.read() as session:
        rows = session.execute(
            select(Pledge, Reward, Campaign, Event)
            .join(Reward, Reward.id == Pledge.reward_id)
            .join(Campaign, Campaign.id == Pledge.campaign_id)
            .join(Event, Event.id == Campaign.event_id)
            .where(Pledge.supporter_email == email)
            .order_by(Pledge.created_at.desc(), Pledge.id.desc())
        ).all()
        # A pledge may have two refunds (a duplicate payment's besides its own): the
        # latest one is shown, and the account form while any bank refund wants it.
        refunds: dict[int, list[Refund]] = {}
        for refund in session.execute(
                select(Refund).where(Refund.pledge_id.in_([row[0].id for row in rows]))
                .order_by(Refund.id)).scalars():
            refunds.setdefault(refund.pledge_id, []).append(refund)
        return [_mine(p, r, c, e, refunds.get(p.id, []), side) for p, r, c, e in rows]


def _mine(pledge: Pledge, reward: Reward, campaign: Campaign, event: Event,
          refunds: list[Refund], side: int) -> MyPledge:
    alive = pledge.state in ("reserved", "paid")
    refund = refunds[-1] if refunds else None
    account_path = next((links.refund_account_path(r.account_token) for r in refunds
                         if r.method == "bank_transfer" and r.account_token
                         and r.state == "requested"), None)
    return MyPledge(
        id=pledge.id, campaign_id=campaign.id, number=links.pledge_number(pledge.id),
        event_slug=event.slug,
        event_title=event.name, campaign_slug=campaign.slug, campaign_title=campaign.title,
        campaign_state=campaign.state, reward_title=reward.title,
        items=[ITEM_NAMES[i["kind"]][side] for i in reward.items],
        delivery=delivery_month_label(reward.delivery_month, "ja" if side == 0 else "en"),
        quantity=pledge.quantity, amount=pledge.amount, shipping=pledge.shipping,
        total=pledge.total, method=pledge.payment_method, state=pledge.state,
        state_label=STATE_NAMES[pledge.state][side],
        deadline=pledge.payment_deadline if pledge.state == "reserved" else None,
        paid_at=pledge.paid_at, created_at=pledge.created_at, answers=dict(pledge.answers),
        asks=_asks(list(reward.items)),
        editable=alive and campaign.fulfilment_locked_at is None and bool(_asks(reward.items)),
        cancellable=pledge.state == "reserved",
        invited=pledge.state == "paid" and any(i["kind"] == "tour_invite" for i in reward.items),
        booklets=sum(booklets_owed(reward.items, pledge.quantity).values())
        if pledge.state == "paid" else 0,
        refund_state=REFUND_STATE_NAMES[refund.state][side] if refund else None,
        refund_account_path=account_path,
    )
