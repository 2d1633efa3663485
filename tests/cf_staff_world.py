"""A campaign for the staff-side tests (pages, API, CLI, browser), in real time: the web
handlers read the clock. ``build`` makes an event (demo.build_event), a campaign with its
legal notice complete and two returns: a limited tour (5, at most 2 a supporter) and a
free-amount thanks; ``ended=True`` makes one that ran from 10 days ago to an hour ago
(the outcome can be decided), with the pledges made while it ran."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from PIL import Image
from sqlalchemy import func, select

from oflocal import clock
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.models import Payment, Pledge, Refund, Reward
from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge
from oflocal.db.engine import Database
from oflocal.demo import build_event, describe_demo_committee
from oflocal.ledger.models import Posting
from oflocal.outbox.models import MailMessage
from oflocal.vouchers.codes import CodeSigner

LEGAL = {
    "representative": "山田太郎", "phone": "0766-00-0000",
    "price_note": "表示価格はすべて税込です。",
    "extra_charges": "振込手数料はご負担ください。",
    "payment_terms": "銀行振込：お申し込みから7日以内。",
    "delivery_terms": "各リターンに記載の月にお届けします。",
    "cancellation_terms": "入金前はいつでも取り消せます。",
}


@dataclass
class World:
    db: Database
    event_id: int
    campaign_id: int
    programme_id: int
    limited: int
    free: int
    starts: datetime
    ends: datetime
    pledges: list[int] = field(default_factory=list)

    def pledge(self, reward: int | None = None, *, email: str = "a@example.jp",
               method: str = "bank_transfer", quantity: int = 1,
               at: datetime | None = None) -> dict[str, Any]:
        reward = reward or self.limited
        answers = {"sns_handle": "@sato", "wall_name": "佐藤"} if reward == self.free else {}
        body = make_pledge(self.db, PledgeRequest(
            campaign_id=self.campaign_id, reward_id=reward, name="佐藤花子", email=email,
            phone="090-1234-5678", payment_method=method, quantity=quantity,
            answers=answers), now=at or (self.starts + timedelta(hours=1))
            if self.ends < clock.now() else at or clock.now()).body
        self.pledges.append(body["pledge_id"])
        return body


def build(db: Database, *, ended: bool = False, live: bool = True, goal: int = 10_000,
          legal: bool = True, slug: str = "cfs") -> World:
    now = clock.now()
    with db.write() as session:
        scenario = build_event(session, CodeSigner(b"k" * 32), slug=slug, workshops=1,
                               booklets=0)
        describe_demo_committee(session, scenario.event_id)  # the account transfers go to
    starts = now - timedelta(days=10) if ended else now - timedelta(hours=1)
    ends = now - timedelta(hours=1) if ended else now + timedelta(days=20)
    campaign = create_campaign(
        db, event_id=scenario.event_id, slug="hitsuji", title="ひつじ団 2026", goal=goal,
        starts_at=starts, ends_at=ends, payment_methods=["bank_transfer", "cash"],
        story="# ひつじ団\n\n支援を**お願い**します。", now=starts, **(LEGAL if legal else {}))
    limited = add_reward(db, campaign.id, title="特別工場見学", price=5000, quantity_limit=5,
                         per_supporter_limit=2, delivery_month="2026-10",
                         items=[{"kind": "tour_invite"}])
    free = add_reward(db, campaign.id, title="応援", price=3000, free_amount=True,
                      delivery_month="2026-06",
                      items=[{"kind": "sns_thanks"}, {"kind": "wall_name"}])
    if live:
        go_live(db, campaign.id, now=starts)
    return World(db, scenario.event_id, campaign.id, scenario.programme_id, limited.id,
                 free.id, starts, ends)


def snapshot(db: Database) -> tuple[Any, ...]:
    """Everything a refusal must leave as it was."""
    from oflocal.crowdfunding.models import Campaign

    with db.read() as session:
        counts = tuple(session.execute(select(func.count()).select_from(t)).scalar_one()
                       for t in (Pledge, Payment, Refund, MailMessage, Posting, Reward))
        rows = tuple(session.execute(select(Pledge.id, Pledge.state).order_by(Pledge.id)))
        refunds = tuple(session.execute(select(Refund.id, Refund.state, Refund.attempts)
                                        .order_by(Refund.id)))
        campaigns = tuple(session.execute(
            select(Campaign.id, Campaign.state, Campaign.goal, Campaign.title, Campaign.story)
            .order_by(Campaign.id)))
        rewards = tuple(session.execute(select(Reward.id, Reward.title, Reward.quantity_limit,
                                               Reward.claimed).order_by(Reward.id)))
    return counts, rows, refunds, campaigns, rewards


def idempotency_world(db: Database) -> dict[str, int]:
    """What tests/test_idempotent_routes.py's crowdfunding cases act on: a draft with its
    legal notice, a return and a picture (edit, go live, pictures), a reserved pledge (a
    payment), an ended campaign nobody decided (the outcome), a failed one's refunds in
    the states each step starts from, and a decided one with nothing to refund (close)."""
    from oflocal.crowdfunding.images import add_image
    from oflocal.crowdfunding.outcome import decide_outcome
    from oflocal.crowdfunding.payments import mark_paid
    from oflocal.crowdfunding.refunds import mark_refund_sent

    draft = build(db, live=False, slug="cf-draft")
    live = build(db, slug="cf-live")
    pledge = live.pledge()
    undecided = build(db, ended=True, slug="cf-ended")
    failed = build(db, ended=True, goal=1_000_000, slug="cf-failed")
    paid_at = failed.starts + (failed.ends - failed.starts) / 2
    for i in range(4):
        body = failed.pledge(email=f"r{i}@example.jp", at=failed.starts + timedelta(hours=i))
        mark_paid(db, body["pledge_id"], source="bank", amount=body["total"], actor="t",
                  now=paid_at)
    decide_outcome(db, failed.campaign_id, actor="t")
    with db.read() as session:
        refunds = session.execute(select(Refund.id).where(
            Refund.campaign_id == failed.campaign_id).order_by(Refund.id)).scalars().all()
    for refund_id in refunds[1:3]:
        mark_refund_sent(db, refund_id, actor="t")
    png = io.BytesIO()
    Image.new("RGB", (8, 6), "teal").save(png, "PNG")
    image = add_image(db, draft.campaign_id, png.getvalue(), alt="工房の外観")
    # Ended with no pledge: failed with nothing to refund, so it can close.
    closable = create_campaign(db, event_id=undecided.event_id, slug="closable", title="閉",
                               goal=10_000, starts_at=undecided.starts,
                               ends_at=undecided.ends, now=undecided.starts, **LEGAL)
    add_reward(db, closable.id, title="お礼", price=1000, delivery_month="2026-10",
               items=[{"kind": "sns_thanks"}])
    go_live(db, closable.id, now=undecided.starts)
    decide_outcome(db, closable.id, actor="t")
    return {"event": draft.event_id, "draft": draft.campaign_id, "reward": draft.limited,
            "pledge": pledge["pledge_id"], "undecided": undecided.campaign_id,
            "to_send": refunds[0], "to_confirm": refunds[1], "to_fail": refunds[2],
            "by_hand": refunds[3], "image": image.id, "closable": closable.id,
            "png": base64.b64encode(png.getvalue()).decode()}
