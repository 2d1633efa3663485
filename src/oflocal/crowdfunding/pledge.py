"""Pledging: a supporter backs a campaign by choosing a return. Read this file to know how
a pledge works.

The pledge is checked (campaign live and open now, payment method offered, amount, the
answers the return's items ask for) on one read that also finds the key's stored outcome
and says whether the return is sold out now (:func:`_look`): a sold-out answer is stored
under the key by one INSERT, with no write transaction (the everyday answer of a spike).
Otherwise, in one write transaction: the checks again under the campaign's shared lock,
the return's expired reservations give their stock back, one guarded UPDATE claims the
quantity (reserve.py: no row, sold out), the supporter's own holding is checked against
the per-supporter limit (exact: the claim holds the return's row), and the pledge is
written ``reserved`` with its payment deadline and transfer reference, with its "pledge
received" notice and the sweep that expires it if unpaid. A refusal rolls all of it
back. Every pledge request carries an Idempotency-Key: a double tap makes one pledge.

No money moves at a pledge: the journal sees it when it is paid (payments.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, exists, literal, select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding import pledge_sql, reserve
from oflocal.crowdfunding.items import check_answers, clean_email, clean_phone
from oflocal.crowdfunding.models import Campaign, Pledge, Reward
from oflocal.crowdfunding.notices import notify
from oflocal.crowdfunding.schedule import REMIND_BEFORE, REMINDED, schedule_sweep
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.idempotency.models import IdempotencyRecord
from oflocal.idempotency.store import (
    IdempotencyKey,
    Outcome,
    RefusedBeforeWriting,
    StoredRow,
    remember_refusal,
    replay,
    run_once,
)
from oflocal.settlement.banks import lookup_bank

MAX_QUANTITY = 100
_pledge_table = cast(Table, Pledge.__table__)


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


@dataclass(frozen=True, slots=True)
class Offer:
    """A campaign and one of its returns as a pledge checks them."""

    campaign_id: int
    event_id: int
    state: str
    starts_at: datetime
    ends_at: datetime
    payment_methods: list[str]
    payment_days: int
    reward_id: int
    reward_campaign_id: int
    price: int
    free_amount: bool
    items: list[dict[str, Any]]
    quantity_limit: int | None
    claimed: int

    @classmethod
    def of(cls, campaign: Campaign, reward: Reward) -> Offer:
        return cls(campaign.id, campaign.event_id, campaign.state, campaign.starts_at,
                   campaign.ends_at, list(campaign.payment_methods), campaign.payment_days,
                   reward.id, reward.campaign_id, reward.price, reward.free_amount,
                   list(reward.items), reward.quantity_limit, reward.claimed)


def make_pledge(
    db: Database,
    request: PledgeRequest,
    *,
    idem: IdempotencyKey | None = None,
    now: datetime | None = None,
    offered: Collection[str] | None = None,
) -> Outcome:
    """Reserve a return for a supporter. Refusals raise :class:`Refusal`, change nothing
    but the key's record (a refusal is the key's outcome too).

    ``offered``: the payment methods that can be used now, for the public's pledges (the
    API): a draft campaign is then ``campaign.not_found`` and another method
    ``pledge.method_unavailable``, answered before anything else and not stored.

    Most pledges of a spike are refused (sold out): that answer is decided by one read
    and stored by one INSERT, without a write transaction (see :func:`_look`); on
    PostgreSQL both are one statement (pledge_sql.py). The rest take the guarded
    transaction (:func:`_pledge`), where the database decides."""
    at = now or clock.now()
    try:  # what needs no database (answered after the public's checks, as ever)
        name, email, phone = _cleaned(request)
        invalid: Refusal | None = None
    except Refusal as refusal:
        name = email = phone = ""
        invalid = refusal
    look = None
    if invalid is None and (offered is None or request.payment_method in offered):
        look = _look_and_refuse(db, request, idem, at)
    if look is None:
        look = _look(db, request, idem, at)
    if offered is not None:
        if look.offer is None or look.offer.state == "draft":
            raise Refusal("campaign.not_found")
        if request.payment_method not in offered or (
                request.payment_method not in look.offer.payment_methods):
            raise Refusal("pledge.method_unavailable", method=request.payment_method)
    if invalid is not None:
        raise invalid
    if look.refused:  # stored already, by the statement that looked
        raise _sold_out(look)
    if look.stored is not None:
        assert idem is not None
        return replay(look.stored, idem)
    try:
        if look.offer is None:
            raise Refusal("campaign.not_found")
        _check(look.offer, request, at)
        if look.sold_out:
            raise _sold_out(look)
    except Refusal as refusal:
        return remember_refusal(db, idem, refusal)
    if request.payment_method == "bank_transfer":
        # The notice names the committee's bank: the bank list (8 MB of JSON) is loaded
        # on its first use in a process, here rather than under the return's row lock.
        lookup_bank("0000")

    def work(session: Session) -> dict[str, Any]:
        return _pledge(db, session, request, name, email, phone, at)

    # The key was free a moment ago. If a double tap takes it meanwhile, the key's
    # primary key refuses the second record and its whole transaction (its pledge too)
    # is rolled back: the first outcome is the answer (run_once).
    return run_once(db, idem, work, look_first=False)


def _cleaned(request: PledgeRequest) -> tuple[str, str, str]:
    name = request.name.strip()
    if not name or len(name) > 120:
        raise Refusal("pledge.invalid", detail="name: 1 to 120 characters")
    email = clean_email(request.email)
    phone = clean_phone(request.phone)
    if type(request.quantity) is not int or not 1 <= request.quantity <= MAX_QUANTITY:
        raise Refusal("pledge.invalid", detail=f"quantity: 1 to {MAX_QUANTITY}")
    if request.lang not in ("ja", "en"):
        raise Refusal("pledge.invalid", detail="lang: ja or en")
    return name, email, phone


@dataclass(frozen=True, slots=True)
class _Look:
    offer: Offer | None  # None: no such campaign (the return may still be wrong)
    stored: StoredRow | None  # the key's outcome, if it has one
    sold_out: bool  # the return is limited, full, and nothing held is past its deadline
    refused: bool = False  # sold out, and stored as the key's outcome by the look itself


def _sold_out(look: _Look) -> Refusal:
    assert look.offer is not None and look.offer.quantity_limit is not None
    return Refusal("reward.sold_out", left=max(look.offer.quantity_limit - look.offer.claimed, 0))


_campaign = cast(Table, Campaign.__table__)
_reward = cast(Table, Reward.__table__)
_record = cast(Table, IdempotencyRecord.__table__)
_one = select(literal(1).label("one")).subquery()
_LOOK = (
    select(
        _campaign.c.id.label("campaign_id"), _campaign.c.event_id, _campaign.c.state,
        _campaign.c.starts_at, _campaign.c.ends_at, _campaign.c.payment_methods,
        _campaign.c.payment_days, _reward.c.id.label("reward_id"),
        _reward.c.campaign_id.label("reward_campaign_id"), _reward.c.price,
        _reward.c.free_amount, _reward.c["items"], _reward.c.quantity_limit, _reward.c.claimed,
        exists().where(
            _pledge_table.c.reward_id == bindparam("rid"),
            _pledge_table.c.state == "reserved",
            _pledge_table.c.payment_deadline <= bindparam("now"),
        ).label("expired"),
        _record.c.request_hash, _record.c.status_code, _record.c.body,
    )
    .select_from(_one)
    .outerjoin(_campaign, _campaign.c.id == bindparam("cid"))
    .outerjoin(_reward, _reward.c.id == bindparam("rid"))
    .outerjoin(_record, and_(_record.c.scope == bindparam("scope"),
                             _record.c.key == bindparam("key")))
)


def _look(db: Database, request: PledgeRequest, idem: IdempotencyKey | None,
          now: datetime) -> _Look:
    """One read, no lock (on PostgreSQL one statement in autocommit): the campaign, the
    return, the key's stored outcome, and whether the return is sold out now.

    A sold-out answer needs no write transaction: the snapshot shows the return full
    with no reservation past its deadline (an expiry or a release not yet committed
    still shows its reservation there), so it was sold out at that moment, which is
    within the request. Stock given back later is for later pledges. Otherwise the
    pledge takes the guarded path (:func:`_pledge`), which decides under the row lock.
    """
    params = {"cid": request.campaign_id, "rid": request.reward_id, "now": now,
              "scope": idem.scope if idem else None, "key": idem.key if idem else None}
    if db.writing:  # inside the caller's write: read what it wrote
        with db.read() as session:
            row = session.connection().execute(_LOOK, params).one()
    else:
        with db.single_statement_engine.connect() as conn:
            row = conn.execute(_LOOK, params).one()
    return _seen(db, row, request)


def _look_and_refuse(db: Database, request: PledgeRequest, idem: IdempotencyKey | None,
                     now: datetime) -> _Look | None:
    """The look and, when the pledge is sold out now, its refusal stored, in one
    PostgreSQL statement (pledge_sql.py); None where that does not apply (SQLite,
    inside a write, no key, a return this process has not read yet, or a check on the
    amount or the answers that would refuse first)."""
    if db.is_sqlite or db.writing or idem is None:
        return None
    terms = pledge_sql.terms_seen(db, request.reward_id)
    if terms is None:
        return None
    try:
        _amount(terms[0], terms[1], request.quantity, request.amount)
        check_answers(terms[2], request.answers)
    except Refusal:
        return None
    row = pledge_sql.look_and_refuse(
        db, campaign_id=request.campaign_id, reward_id=request.reward_id,
        method=request.payment_method, quantity=request.quantity, terms=terms, idem=idem,
        now=now)
    look = _seen(db, row, request)
    if row.refused:
        assert look.sold_out and look.stored is None
        return _Look(look.offer, None, True, refused=True)
    return look


def _seen(db: Database, row: Any, request: PledgeRequest) -> _Look:
    stored = None if row.status_code is None else cast(StoredRow, row)
    if row.campaign_id is None:
        return _Look(None, stored, False)
    if row.reward_id is None or row.reward_campaign_id != request.campaign_id:
        offer = Offer(row.campaign_id, row.event_id, row.state, row.starts_at, row.ends_at,
                      list(row.payment_methods), row.payment_days, 0, 0, 0, False, [], None,
                      0)
        return _Look(offer, stored, False)
    offer = Offer(row.campaign_id, row.event_id, row.state, row.starts_at, row.ends_at,
                  list(row.payment_methods), row.payment_days, row.reward_id,
                  row.reward_campaign_id, row.price, row.free_amount, list(row.items),
                  row.quantity_limit, row.claimed)
    pledge_sql.remember_terms(db, offer.reward_id, (offer.price, offer.free_amount,
                                                    offer.items))
    sold_out = (offer.quantity_limit is not None
                and offer.claimed + request.quantity > offer.quantity_limit
                and not row.expired)
    return _Look(offer, stored, sold_out)


def _check(offer: Offer, request: PledgeRequest, now: datetime
           ) -> tuple[int, dict[str, Any]]:
    """The pledge's checks on its campaign and return: the amount and the answers."""
    if offer.reward_campaign_id != request.campaign_id or offer.reward_id == 0:
        raise Refusal("reward.not_found")
    if offer.state != "live" or not offer.starts_at <= now < offer.ends_at:
        raise Refusal("campaign.not_open", starts=offer.starts_at, ends=offer.ends_at)
    if request.payment_method not in offer.payment_methods:
        raise Refusal("pledge.method_unavailable", method=request.payment_method)
    amount = _amount(offer.price, offer.free_amount, request.quantity, request.amount)
    return amount, check_answers(offer.items, request.answers)


def _pledge(db: Database, session: Session, request: PledgeRequest, name: str, email: str,
            phone: str, now: datetime) -> dict[str, Any]:
    row = session.execute(
        select(Reward, Campaign, Event).join(Campaign, Campaign.id == Reward.campaign_id)
        .join(Event, Event.id == Campaign.event_id)  # for the notice, read before the claim
        .where(Reward.id == request.reward_id)
        # Shared: an outcome being decided (it locks the campaign for update) sees this
        # pledge, or this pledge sees the campaign decided.
        .with_for_update(read=True, of=Campaign)
    ).first()
    if row is None or row.Reward.campaign_id != request.campaign_id:
        if session.get(Campaign, request.campaign_id) is None:
            raise Refusal("campaign.not_found")
        raise Refusal("reward.not_found")
    reward, campaign, event = row.Reward, row.Campaign, row.Event
    amount, answers = _check(Offer.of(campaign, reward), request, now)
    q = request.quantity
    shipping = reward.shipping_fee if any(i["kind"] == "goods" for i in reward.items) else 0

    conn = session.connection()
    released = reserve.release_expired(conn, reward.id, now)
    serial = reserve.claim(conn, reward.id, q)
    if serial is None:
        sold_out = Refusal("reward.sold_out", left=reserve.left(conn, reward.id) or 0)
        if released:
            raise sold_out  # rolled back, release and all: the sweep gives it back
        # Nothing written (a shared lock and a claim that matched no row): the refusal
        # is stored in this transaction, not in a second one.
        raise RefusedBeforeWriting(sold_out)
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
           method=request.payment_method, loaded=(pledge, reward, campaign, event))
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


def _amount(price: int, free_amount: bool, quantity: int, given: int | None) -> int:
    base = price * quantity
    if given is not None and type(given) is not int:
        raise Refusal("pledge.invalid", detail="amount: whole yen")
    if free_amount:
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
