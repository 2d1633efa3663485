"""Setting a campaign up: the campaign, its returns, going live, closing. One function per
change, each in its own write transaction (joined by a request's ``run_once``).

A campaign is a draft until it goes live, which is refused while any item of the
特定商取引法に基づく表記 is missing (the refusal names them) or it has no return. Once live,
what supporters pledged on stays as it was: the goal, the funding model, the dates and the
payment rules of the campaign; the price, contents, shipping and delivery month of a
return that has pledges. A return's quantity limit can move, never below what its
pledges hold (one guarded UPDATE, so a pledge racing the edit cannot slip under it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding.items import parse_items
from oflocal.crowdfunding.legal import missing_legal_items
from oflocal.crowdfunding.models import (
    DECIDED,
    FUNDING_MODELS,
    MONEY_OUT,
    PAYMENT_METHODS,
    Campaign,
    Refund,
    Reward,
)
from oflocal.crowdfunding.notices import has_receiving_account
from oflocal.crowdfunding.schedule import schedule_sweep
from oflocal.db.engine import Database
from oflocal.db.rows import affected, unique_violation
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.vouchers.models import Programme

LEGAL_FIELDS = ("seller", "representative", "address", "phone", "phone_on_request", "email",
                "price_note", "extra_charges", "payment_terms", "delivery_terms",
                "cancellation_terms")
CAMPAIGN_FIELDS = frozenset({"slug", "title", "story", "goal", "starts_at", "ends_at",
                             "funding_model", "payment_days", "payment_methods",
                             *LEGAL_FIELDS})
# What supporters pledged on: fixed once the campaign is live.
LOCKED_WHEN_LIVE = frozenset({"slug", "goal", "starts_at", "ends_at", "funding_model",
                              "payment_days", "payment_methods"})
REWARD_FIELDS = frozenset({"title", "description", "price", "free_amount", "quantity_limit",
                           "per_supporter_limit", "delivery_month", "items", "shipping_fee"})
# What a return's supporters pledged on: fixed once it has a pledge.
REWARD_TERMS = frozenset({"price", "free_amount", "items", "shipping_fee", "delivery_month"})
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
MONTH = re.compile(r"20\d\d-(0[1-9]|1[0-2])")


def _invalid(detail: str) -> Refusal:
    return Refusal("campaign.invalid", detail=detail)


def _check_campaign(fields: Mapping[str, Any]) -> None:
    if not SLUG.fullmatch(str(fields["slug"])):
        raise _invalid("slug: lower-case letters, digits and '-'")
    if not str(fields["title"]).strip():
        raise _invalid("title")
    if type(fields["goal"]) is not int or fields["goal"] <= 0:
        raise _invalid("goal: a whole number of yen above 0")
    for name in ("starts_at", "ends_at"):
        moment = fields[name]
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise _invalid(f"{name}: a moment with its time zone")
    if fields["ends_at"] <= fields["starts_at"]:
        raise _invalid("ends_at must be after starts_at")
    if fields["funding_model"] not in FUNDING_MODELS:
        raise _invalid(f"funding_model: one of {', '.join(FUNDING_MODELS)}")
    days = fields["payment_days"]
    if type(days) is not int or not 1 <= days <= 60:
        raise _invalid("payment_days: 1 to 60")
    methods = fields["payment_methods"]
    if not methods or any(m not in PAYMENT_METHODS for m in methods) \
            or len(set(methods)) != len(methods):
        raise _invalid(f"payment_methods: some of {', '.join(PAYMENT_METHODS)}")


def create_campaign(db: Database, *, event_id: int, now: datetime | None = None,
                    **fields: Any) -> Campaign:
    """A draft campaign. The legal notice starts from the committee's profile (the event),
    which the committee then completes."""
    unknown = set(fields) - CAMPAIGN_FIELDS
    if unknown:
        raise ValueError(f"not campaign fields: {sorted(unknown)}")
    with db.write() as session:
        event = session.get(Event, event_id)
        if event is None:
            raise Refusal("event.not_found")
        values: dict[str, Any] = {
            "story": "", "funding_model": "all_or_nothing", "payment_days": 7,
            "payment_methods": ["bank_transfer"], "seller": event.committee_name,
            "representative": event.representative, "address": event.committee_address,
            "phone": event.committee_phone, "phone_on_request": False,
            "email": event.committee_email, "price_note": "", "extra_charges": "",
            "payment_terms": "", "delivery_terms": "", "cancellation_terms": "",
            **fields,
        }
        _check_campaign(values)
        campaign = Campaign(event_id=event_id, state="draft", created_at=now or clock.now(),
                            moved_to_income=0, fees=0, **values)
        session.add(campaign)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError as error:
            if unique_violation(error, "campaign", "event_id", "slug"):
                raise Refusal("campaign.slug_taken", slug=values["slug"]) from error
            raise
        return campaign


def edit_campaign(db: Database, campaign_id: int, changes: Mapping[str, Any]) -> Campaign:
    unknown = set(changes) - CAMPAIGN_FIELDS
    if unknown:
        raise ValueError(f"not campaign fields: {sorted(unknown)}")
    with db.write() as session:
        campaign = _campaign(session, campaign_id, lock=True)
        if campaign.state in DECIDED:
            raise Refusal("campaign.field_locked", fields=", ".join(sorted(changes)))
        if campaign.state != "draft":
            locked = sorted(f for f in changes
                            if f in LOCKED_WHEN_LIVE and changes[f] != getattr(campaign, f))
            if locked:
                raise Refusal("campaign.field_locked", fields=", ".join(locked))
        _check_campaign({**{f: getattr(campaign, f) for f in CAMPAIGN_FIELDS}, **changes})
        for name, value in changes.items():
            setattr(campaign, name, value)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError as error:
            if unique_violation(error, "campaign", "event_id", "slug"):
                raise Refusal("campaign.slug_taken", slug=changes.get("slug")) from error
            raise
        return campaign


def _campaign(session: Session, campaign_id: int, *, lock: bool = False) -> Campaign:
    campaign = session.get(Campaign, campaign_id, with_for_update=lock)
    if campaign is None:
        raise Refusal("campaign.not_found")
    return campaign


def _check_reward(session: Session, event_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    def invalid(detail: str) -> Refusal:
        return Refusal("reward.invalid", detail=detail)

    if not str(fields["title"]).strip():
        raise invalid("title")
    if type(fields["price"]) is not int or fields["price"] <= 0:
        raise invalid("price: a whole number of yen above 0")
    for name in ("quantity_limit", "per_supporter_limit"):
        value = fields[name]
        if value is not None and (type(value) is not int or value < 1):
            raise invalid(f"{name}: empty (no limit) or a whole number from 1")
    if type(fields["shipping_fee"]) is not int or fields["shipping_fee"] < 0:
        raise invalid("shipping_fee: a whole number of yen, 0 or more")
    if not MONTH.fullmatch(str(fields["delivery_month"])):
        raise invalid("delivery_month: YYYY-MM")
    items = parse_items(fields["items"])
    if fields["shipping_fee"] and not any(i["kind"] == "goods" for i in items):
        raise invalid("shipping_fee: only a return with goods is shipped")
    for item in items:
        if item["kind"] == "voucher_booklets":
            programme = session.get(Programme, item["programme_id"])
            if programme is None or programme.event_id != event_id:
                raise invalid(f"voucher programme {item['programme_id']} is not this event's")
    return {**fields, "items": items}


def add_reward(db: Database, campaign_id: int, *, now: datetime | None = None,
               **fields: Any) -> Reward:
    """A new return, numbered after the campaign's others (the number starts each
    pledge's transfer reference)."""
    unknown = set(fields) - REWARD_FIELDS
    if unknown:
        raise ValueError(f"not reward fields: {sorted(unknown)}")
    with db.write() as session:
        campaign = _campaign(session, campaign_id, lock=True)  # numbers one at a time
        if campaign.state in DECIDED:
            raise Refusal("campaign.field_locked", fields="rewards")
        values = _check_reward(session, campaign.event_id, {
            "description": "", "free_amount": False, "quantity_limit": None,
            "per_supporter_limit": None, "shipping_fee": 0, **fields})
        number = session.execute(
            select(func.coalesce(func.max(Reward.number), 0) + 1)
            .where(Reward.campaign_id == campaign_id)
        ).scalar_one()
        reward = Reward(campaign_id=campaign_id, number=number, claimed=0, pledges_made=0,
                        created_at=now or clock.now(), **values)
        session.add(reward)
        session.flush()
        return reward


def edit_reward(db: Database, reward_id: int, changes: Mapping[str, Any]) -> Reward:
    unknown = set(changes) - REWARD_FIELDS
    if unknown:
        raise ValueError(f"not reward fields: {sorted(unknown)}")
    with db.write() as session:
        reward = session.get(Reward, reward_id)
        if reward is None:
            raise Refusal("reward.not_found")
        campaign = _campaign(session, reward.campaign_id)
        if campaign.state in DECIDED:
            raise Refusal("reward.terms_locked", fields=", ".join(sorted(changes)))
        values = _check_reward(session, campaign.event_id,
                               {**{f: getattr(reward, f) for f in REWARD_FIELDS}, **changes})
        changed = {f for f in changes if values[f] != getattr(reward, f)}
        if reward.pledges_made and changed & REWARD_TERMS:
            raise Refusal("reward.terms_locked", fields=", ".join(sorted(changed & REWARD_TERMS)))
        if "quantity_limit" in changed:
            limit = values["quantity_limit"]
            # Guarded like a claim: never below what pledges hold at this very moment.
            moved = affected(session.execute(
                update(Reward)
                .where(Reward.id == reward_id,
                       (Reward.claimed <= limit) if limit is not None else Reward.id.is_not(None))
                .values(quantity_limit=limit)
                .execution_options(synchronize_session=False)
            ))
            if moved != 1:
                session.refresh(reward)
                raise Refusal("reward.limit_below_claimed", claimed=reward.claimed)
            session.refresh(reward)
        for name in changed - {"quantity_limit"}:
            setattr(reward, name, values[name])
        session.flush()
        return reward


def go_live(db: Database, campaign_id: int, *, now: datetime | None = None) -> Campaign:
    """Draft → live: refused while the legal notice misses anything (the refusal names
    every missing item), without a return, after the end, or offering bank transfer
    before the committee gave the account it is paid into. Schedules the outcome run."""
    at = now or clock.now()
    with db.write() as session:
        campaign = _campaign(session, campaign_id, lock=True)
        if campaign.state != "draft":
            raise Refusal("campaign.not_draft")
        missing = missing_legal_items(campaign)
        if missing:
            raise Refusal("campaign.legal_missing", items="、".join(m.ja for m in missing),
                          items_en=", ".join(m.en for m in missing),
                          fields=[m.field for m in missing])
        rewards = session.execute(
            select(func.count()).where(Reward.campaign_id == campaign_id)).scalar_one()
        if not rewards:
            raise Refusal("campaign.no_rewards")
        if campaign.ends_at <= at:
            raise Refusal("campaign.already_ended", ends=campaign.ends_at)
        if "bank_transfer" in campaign.payment_methods:
            event = session.get(Event, campaign.event_id)
            if event is None or not has_receiving_account(event):
                raise Refusal("campaign.no_bank_account")
        campaign.state = "live"
        campaign.went_live_at = at
        schedule_sweep(db, session, campaign_id, campaign.ends_at)
        session.flush()
        return campaign


def refunds_outstanding(session: Session, campaign_id: int) -> int:
    """Refunds whose money has not gone out yet (requested, or failed and not retried):
    while there is one, the campaign cannot close."""
    return int(session.execute(
        select(func.count()).where(Refund.campaign_id == campaign_id,
                                   Refund.state.not_in(MONEY_OUT))
    ).scalar_one())


def close_campaign(db: Database, campaign_id: int, *, now: datetime | None = None) -> Campaign:
    """Decided → closed, once every refund has gone out (sent, confirmed or done by
    hand): nothing is left to do for it. Refused while a refund is requested or failed
    (``campaign.refunds_open`` counts them), before the outcome, and when already
    closed."""
    with db.write() as session:
        campaign = _campaign(session, campaign_id, lock=True)
        if campaign.state == "closed":
            raise Refusal("campaign.already_closed")
        if campaign.state not in ("succeeded", "failed"):
            raise Refusal("campaign.not_decided")
        open_refunds = refunds_outstanding(session, campaign_id)
        if open_refunds:
            raise Refusal("campaign.refunds_open", count=open_refunds)
        campaign.state = "closed"
        session.flush()
        return campaign
