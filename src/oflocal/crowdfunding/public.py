"""What a supporter sees of a campaign: the public view the campaign page and the public
API share, the checks a pledge form can make before the final confirmation page, and
the payment instructions of a pledge (bank transfer to the committee, cash at the desk;
card and konbini: ``provider_payments.payment_step``).

Read-only: nothing here changes the database. Pledging itself is ``pledge.make_pledge``.

A draft campaign is not public (``campaign.not_found``). "Raised" counts the support of
paid pledges (what the outcome counts); pledges awaiting payment are shown beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oflocal.crowdfunding import reserve
from oflocal.crowdfunding.items import ITEM_NAMES, check_answers, clean_email, clean_phone
from oflocal.crowdfunding.legal import LEGAL_ITEMS
from oflocal.crowdfunding.models import Campaign, Pledge, Reward
from oflocal.crowdfunding.pledge import MAX_QUANTITY, PledgeRequest, _amount
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.settings import Stripe as StripeSettings
from oflocal.settlement.zengin import PAYEE_ACCOUNT_TYPES

PUBLIC_STATES = ("live", "waiting_payments", "succeeded", "failed", "closed")
# Methods that need no payment provider: the domain takes them as they are.
OFFLINE_METHODS = ("bank_transfer", "cash")
METHOD_NAMES = {
    "bank_transfer": ("銀行振込", "bank transfer"),
    "cash": ("会場受付で現金", "cash at the desk"),
    "card": ("クレジットカード", "credit card"),
    "konbini": ("コンビニ払い", "convenience store"),
}
FUNDING_MODEL_NAMES = {
    "all_or_nothing": ("All-or-Nothing（目標達成時のみ実行）", "all-or-nothing"),
    "all_in": ("All-In（目標未達でも実行）", "all-in"),
}
# What each item asks the supporter (the keys of ``check_answers``).
ASKS = {"sns_thanks": "sns_handle", "wall_name": "wall_name", "goods": "shipping"}


def online_methods(stripe: StripeSettings) -> frozenset[str]:
    """Card and konbini need a payment provider (Stripe, settings.py): konbini its
    secret key, card also the publishable key the browser's card form needs. With no
    key set neither is offered, even when a campaign lists them."""
    ready = set()
    if stripe.enabled:
        ready.add("konbini")
    if stripe.card_ready:
        ready.add("card")
    return frozenset(ready)


def offered_methods(campaign: Campaign, stripe: StripeSettings) -> tuple[str, ...]:
    """The campaign's payment methods that can be used now, in the campaign's order."""
    ready = set(OFFLINE_METHODS) | online_methods(stripe)
    return tuple(m for m in campaign.payment_methods if m in ready)


def find_campaign(session: Session, event_slug: str, campaign_slug: str) -> tuple[Event, Campaign]:
    row = session.execute(
        select(Event, Campaign).join(Campaign, Campaign.event_id == Event.id)
        .where(Event.slug == event_slug, Campaign.slug == campaign_slug,
               Campaign.state.in_(PUBLIC_STATES))
    ).first()
    if row is None:
        raise Refusal("campaign.not_found")
    return row.Event, row.Campaign


def campaign_by_id(session: Session, campaign_id: int) -> tuple[Event, Campaign]:
    row = session.execute(
        select(Event, Campaign).join(Campaign, Campaign.event_id == Event.id)
        .where(Campaign.id == campaign_id, Campaign.state.in_(PUBLIC_STATES))
    ).first()
    if row is None:
        raise Refusal("campaign.not_found")
    return row.Event, row.Campaign


@dataclass(frozen=True)
class RewardView:
    id: int
    number: int
    title: str
    description: str
    price: int
    free_amount: bool
    shipping_fee: int
    delivery_month: str
    quantity_limit: int | None
    per_supporter_limit: int | None
    left: int | None  # None: unlimited
    sold_out: bool
    items: list[dict[str, Any]]
    asks: list[str]  # sns_handle, wall_name, shipping

    def item_names(self, lang: str) -> list[str]:
        return [ITEM_NAMES[i["kind"]][0 if lang == "ja" else 1] for i in self.items]


@dataclass(frozen=True)
class CampaignView:
    campaign: Campaign
    event: Event
    raised: int
    awaiting: int
    supporters: int
    percent: int
    open_now: bool
    days_left: int
    hours_left: int
    rewards: list[RewardView]


def reward_view(reward: Reward, now: datetime, unexpired_hold: int | None = None) -> RewardView:
    left = None
    if reward.quantity_limit is not None:
        # ``claimed`` still counts reservations past their deadline until a pledge or the
        # sweep releases them: those are on their way back, so they count as left.
        held = reward.claimed if unexpired_hold is None else unexpired_hold
        left = max(reward.quantity_limit - held, 0)
    asks = [ASKS[i["kind"]] for i in reward.items if i["kind"] in ASKS]
    return RewardView(
        id=reward.id, number=reward.number, title=reward.title,
        description=reward.description, price=reward.price, free_amount=reward.free_amount,
        shipping_fee=reward.shipping_fee if "shipping" in asks else 0,
        delivery_month=reward.delivery_month, quantity_limit=reward.quantity_limit,
        per_supporter_limit=reward.per_supporter_limit, left=left,
        sold_out=left == 0, items=list(reward.items), asks=asks)


def view(session: Session, event: Event, campaign: Campaign, now: datetime) -> CampaignView:
    money = dict(session.execute(
        select(Pledge.state, func.coalesce(func.sum(Pledge.amount), 0))
        .where(Pledge.campaign_id == campaign.id, Pledge.state.in_(("reserved", "paid")))
        .group_by(Pledge.state)).all())
    supporters = session.execute(
        select(func.count(func.distinct(Pledge.supporter_email)))
        .where(Pledge.campaign_id == campaign.id, Pledge.state.in_(("reserved", "paid")))
    ).scalar_one()
    # What each return's unexpired reservations and paid pledges hold, now.
    holding = dict(session.execute(
        select(Pledge.reward_id, func.coalesce(func.sum(Pledge.quantity), 0))
        .where(Pledge.campaign_id == campaign.id,
               (Pledge.state == "paid")
               | ((Pledge.state == "reserved") & (Pledge.payment_deadline > now)))
        .group_by(Pledge.reward_id)).all())
    rewards = session.execute(
        select(Reward).where(Reward.campaign_id == campaign.id).order_by(Reward.number)
    ).scalars().all()
    raised = int(money.get("paid", 0))
    remaining = campaign.ends_at - now
    seconds = max(remaining.total_seconds(), 0)
    return CampaignView(
        campaign=campaign, event=event, raised=raised, awaiting=int(money.get("reserved", 0)),
        supporters=int(supporters), percent=raised * 100 // campaign.goal,
        open_now=campaign.state == "live" and campaign.starts_at <= now < campaign.ends_at,
        days_left=math.ceil(seconds / 86400) if seconds >= 86400 else 0,
        hours_left=math.ceil(seconds / 3600),
        rewards=[reward_view(r, now, int(holding.get(r.id, 0))) for r in rewards],
    )


def legal_notice(campaign: Campaign, lang: str) -> list[tuple[str, str]]:
    """The 特定商取引法に基づく表記 as (heading, text) rows, in the order of legal.py."""
    rows = []
    for item in LEGAL_ITEMS:
        if item.field == "phone":
            text = campaign.phone.strip() or (
                "請求があれば遅滞なく開示します" if lang == "ja"
                else "disclosed without delay on request")
        else:
            text = str(getattr(campaign, item.field) or "")
        rows.append((item.ja if lang == "ja" else item.en, text))
    if campaign.email.strip():
        rows.append(("メールアドレス" if lang == "ja" else "e-mail", campaign.email))
    return rows


# --- Before the final confirmation ---------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """What the final confirmation page shows: the pledge as it will be made."""

    request: PledgeRequest
    reward: RewardView
    email: str
    phone: str
    answers: dict[str, Any]
    amount: int
    shipping: int
    total: int
    deadline: datetime


def preview(campaign: Campaign, reward: Reward, request: PledgeRequest, now: datetime,
            methods: tuple[str, ...]) -> Preview:
    """Every check a pledge makes that needs no lock (make_pledge repeats them): a form
    is refused here, before the confirmation page, in the supporter's words."""
    if campaign.state != "live" or not campaign.starts_at <= now < campaign.ends_at:
        raise Refusal("campaign.not_open", starts=campaign.starts_at, ends=campaign.ends_at)
    if request.payment_method not in methods:
        raise Refusal("pledge.method_unavailable", method=request.payment_method)
    name = request.name.strip()
    if not name or len(name) > 120:
        raise Refusal("pledge.invalid", detail="お名前 / name: 1〜120文字")
    email = clean_email(request.email)
    phone = clean_phone(request.phone)
    if type(request.quantity) is not int or not 1 <= request.quantity <= MAX_QUANTITY:
        raise Refusal("pledge.invalid", detail=f"数量 / quantity: 1〜{MAX_QUANTITY}")
    amount = _amount(reward, request.quantity, request.amount)
    answers = check_answers(reward.items, request.answers)
    rv = reward_view(reward, now)
    shipping = rv.shipping_fee
    deadline = reserve.payment_deadline(request.payment_method, now, campaign.payment_days)
    return Preview(request=request, reward=rv, email=email, phone=phone, answers=answers,
                   amount=amount, shipping=shipping, total=amount + shipping,
                   deadline=deadline)


# --- After the pledge ----------------------------------------------------------------


def instructions(event: Event, pledge: dict[str, Any], lang: str = "ja") -> dict[str, Any]:
    """How to pay a pledge (``pledge``: make_pledge's answer): the committee's account,
    the amount, the reference typed before the sender's name, and the deadline; or, for
    cash, where and until when."""
    method = pledge["payment_method"]
    deadline = pledge["payment_deadline"]
    base: dict[str, Any] = {"method": method, "amount": pledge["total"],
                            "reference": pledge["reference"], "deadline": deadline}
    if method == "bank_transfer":
        bank = branch = ""
        if event.payer_bank_code:
            from oflocal.settlement.banks import lookup_bank, lookup_branch  # 8 MB: on use

            found = lookup_bank(event.payer_bank_code)
            bank = found.name if found else ""
            if event.payer_branch_code:
                place = lookup_branch(event.payer_bank_code, event.payer_branch_code)
                branch = place.name if place else ""
        kind = PAYEE_ACCOUNT_TYPES.get(event.payer_account_type or 0, ("", ""))
        base["account"] = {
            "bank_code": event.payer_bank_code or "", "bank_name": bank,
            "branch_code": event.payer_branch_code or "", "branch_name": branch,
            "account_type": kind[0 if lang == "ja" else 1],
            "account_number": event.payer_account_number or "",
            "holder_kana": event.zengin_requester_kana or "",
        }
        base["sender_name_example"] = f"{pledge['reference']} ヤマダ タロウ"
    elif method == "cash":
        base["desk"] = {"venue": event.venue, "committee": event.committee_name}
    return base


def delivery_month_label(month: str, lang: str) -> str:
    year, mon = (int(p) for p in month.split("-"))
    if lang == "ja":
        return f"{year}年{mon}月"
    return date(year, mon, 1).strftime("%B %Y")
