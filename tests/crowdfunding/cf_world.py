"""A campaign to test against: an event (demo.build_event), a live all-or-nothing campaign
with its legal notice complete, and three returns: limited (10, at most 3 a supporter),
free amount from ¥3,000 with thanks on social media and the supporters' wall, and goods
shipped for ¥800. Time is given to every service (``T0``), never read from the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from oflocal.audit import verify
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.models import (
    Campaign,
    Payment,
    Pledge,
    ProviderEvent,
    Refund,
    Reward,
)
from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge
from oflocal.db.engine import Database
from oflocal.demo import build_event, describe_demo_committee
from oflocal.idempotency.store import Outcome
from oflocal.ledger.models import Posting
from oflocal.ledger.verify import trial_balance
from oflocal.outbox.models import MailMessage
from oflocal.vouchers.codes import CodeSigner

T0 = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo
STARTS, ENDS = T0 - timedelta(days=1), T0 + timedelta(days=10)
LEGAL = {
    "representative": "山田太郎", "phone": "0766-00-0000",
    "price_note": "表示価格はすべて税込です。",
    "extra_charges": "グッズの送料¥800。振込手数料はご負担ください。",
    "payment_terms": "銀行振込：お申し込みから7日以内。カード：お申し込み時。",
    "delivery_terms": "各リターンに記載の月にお届けします。",
    "cancellation_terms": "入金前はいつでも取り消せます。入金後の返品はお受けできません。",
}
SHIPPING = {"recipient": "佐藤花子", "postal_code": "933-0029", "prefecture": "富山県",
            "address": "高岡市御旅屋町101", "phone": "0766-22-1234"}


@dataclass
class World:
    db: Database
    event_id: int
    campaign_id: int
    programme_id: int
    limited: int
    free: int
    goods: int


def build_world(db: Database, *, goal: int = 20_000, funding_model: str = "all_or_nothing",
                limit: int = 10, per_supporter: int | None = 3, live: bool = True,
                methods: tuple[str, ...] = ("bank_transfer", "card", "konbini", "cash"),
                slug: str = "demo", around: datetime = T0) -> World:
    """``around``: the campaign runs from a day before it to ten days after (pages served
    by a running app, whose workers read the real clock, build it around now)."""
    starts, ends = around - (T0 - STARTS), around + (ENDS - T0)
    with db.write() as session:
        scenario = build_event(session, CodeSigner(b"k" * 32), slug=slug, workshops=1,
                               booklets=0)
        describe_demo_committee(session, scenario.event_id)  # the account transfers go to
    campaign = create_campaign(
        db, event_id=scenario.event_id, slug="hitsuji", title="ひつじ団 2026", goal=goal,
        starts_at=starts, ends_at=ends, funding_model=funding_model,
        payment_methods=list(methods), story="# ひつじ団\n支援をお願いします。", now=starts,
        **LEGAL)
    limited = add_reward(db, campaign.id, title="特別工場見学", price=5000,
                         quantity_limit=limit, per_supporter_limit=per_supporter,
                         delivery_month="2026-10", items=[{"kind": "tour_invite"}])
    free = add_reward(db, campaign.id, title="応援", price=3000, free_amount=True,
                      delivery_month="2026-06",
                      items=[{"kind": "sns_thanks"}, {"kind": "wall_name"}])
    goods = add_reward(db, campaign.id, title="手ぬぐい", price=2500, shipping_fee=800,
                       delivery_month="2026-09",
                       items=[{"kind": "goods", "description": "手ぬぐい1枚"},
                              {"kind": "voucher_booklets",
                               "programme_id": scenario.programme_id, "count": 1}])
    if live:
        go_live(db, campaign.id, now=starts)
    return World(db, scenario.event_id, campaign.id, scenario.programme_id, limited.id,
                 free.id, goods.id)


def request(w: World, reward: int, *, email: str = "a@example.jp", method: str = "bank_transfer",
            quantity: int = 1, amount: int | None = None,
            answers: dict[str, Any] | None = None) -> PledgeRequest:
    if answers is None:
        answers = ({"sns_handle": "@sato", "wall_name": "佐藤"} if reward == w.free
                   else {"shipping": dict(SHIPPING)} if reward == w.goods else {})
    return PledgeRequest(campaign_id=w.campaign_id, reward_id=reward, name="佐藤花子",
                         email=email, phone="090-1234-5678", payment_method=method,
                         quantity=quantity, amount=amount, answers=answers)


def pledge(w: World, reward: int, *, now: datetime = T0, **kw: Any) -> Outcome:
    return make_pledge(w.db, request(w, reward, **kw), now=now)


def balances(db: Database, event_id: int) -> dict[str, int]:
    with db.read() as session:
        return {row["account"]: row["balance"] for row in trial_balance(session, event_id)}


def audit(db: Database) -> None:
    with db.read() as session:
        report = verify(session)
    assert report.ok, report.failures


def snapshot(db: Database) -> tuple[Any, ...]:
    """Everything a refusal must leave as it was."""
    with db.read() as session:
        counts = tuple(session.execute(select(func.count()).select_from(t)).scalar_one()
                       for t in (Pledge, Payment, Refund, ProviderEvent, MailMessage,
                                 Posting))
        rewards = tuple(session.execute(
            select(Reward.id, Reward.claimed, Reward.pledges_made, Reward.quantity_limit,
                   Reward.price).order_by(Reward.id)).all())
        pledges = tuple(session.execute(select(Pledge.id, Pledge.state).order_by(Pledge.id)))
        refunds = tuple(session.execute(select(Refund.id, Refund.state, Refund.attempts)
                                        .order_by(Refund.id)))
        campaigns = tuple(session.execute(select(Campaign.id, Campaign.state, Campaign.goal)
                                          .order_by(Campaign.id)))
    return counts, rewards, pledges, refunds, campaigns


def state_of(db: Database, pledge_id: int) -> str:
    with db.read() as session:
        return session.execute(select(Pledge.state).where(Pledge.id == pledge_id)).scalar_one()


def claimed(db: Database, reward_id: int) -> int:
    with db.read() as session:
        return session.execute(select(Reward.claimed).where(Reward.id == reward_id)).scalar_one()
