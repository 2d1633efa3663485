"""Money received for a pledge: a bank transfer the treasurer found, cash at the desk, or
a payment a provider confirmed. Read this file to know how a pledge gets paid.

The pledge's row is locked, then: a pledge already paid is refused (a payment is never
recorded twice: the payment row is unique per pledge, its journal entry unique by key).
The money is always recorded, in one entry, from the account it landed in (bank, cash,
provider receivable) to pledges held. Whether the pledge is *accepted* depends on its
stock: a reservation (even past its deadline, while nobody has released it) still holds
its quantity; an expired one must claim it again through the same guarded statement as a
new pledge (reserve.py). A payment that cannot be accepted (the stock is gone, the
supporter had cancelled, the campaign is already decided) is kept in pledges held, a
refund is requested for it in the same transaction and the supporter is told (a
notice). Nothing is ever oversold to take a late payment.

A provider payment for a pledge that another payment already paid (a second
PaymentIntent that succeeded) is a **duplicate**: recorded once per provider payment,
into pledges held, and refunded in the same transaction (a ``duplicate_payment`` refund,
sent through the provider by provider_payments.py; the supporter is told). The pledge
itself does not change.

Provider events (webhooks) arrive twice, late and out of order: each is recorded once by
its (provider, event id), unique, and acted on only by the transaction that recorded it.
Re-reading the payment from the provider before acting is the provider module's job.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding import reserve
from oflocal.crowdfunding.models import (
    DECIDED,
    DUPLICATE,
    PAYMENT_SOURCES,
    Campaign,
    Payment,
    Pledge,
    ProviderEvent,
    Refund,
)
from oflocal.crowdfunding.notices import notify
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.format import en_minute, ja_minute
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once
from oflocal.ledger.accounts import account_ids
from oflocal.ledger.journal import post_entry

# The account money lands in, by where it was received.
SOURCE_ACCOUNT = {"bank": "bank", "cash": "cash", "provider": "provider_receivable"}
# The account a refund leaves from, by how it is made.
REFUND_ACCOUNT = {"provider": "provider_receivable", "bank_transfer": "bank", "cash": "cash"}

_payment = cast(Table, Payment.__table__)
_refund = cast(Table, Refund.__table__)
_pledge = cast(Table, Pledge.__table__)


def mark_paid(
    db: Database,
    pledge_id: int,
    *,
    source: str,
    amount: int,
    actor: str,
    fee: int = 0,
    provider_ref: str | None = None,
    received_at: datetime | None = None,
    idem: IdempotencyKey | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Record money received for a pledge (see the module doc). Refusals change nothing."""
    at = now or clock.now()

    def work(session: Session) -> dict[str, Any]:
        return _pay(session, pledge_id, source=source, amount=amount, fee=fee,
                    provider_ref=provider_ref, received_at=received_at or at, actor=actor,
                    now=at)

    return run_once(db, idem, work)


def _check_money(source: str, amount: int, fee: int) -> None:
    if source not in PAYMENT_SOURCES:
        raise Refusal("pledge.invalid", detail=f"source: one of {', '.join(PAYMENT_SOURCES)}")
    if type(amount) is not int or type(fee) is not int or fee < 0 or fee > amount:
        raise Refusal("pledge.invalid", detail="amount and fee: whole yen, fee within amount")
    if fee and source != "provider":
        raise Refusal("pledge.invalid", detail="fee: only a provider keeps a fee")


def _pay(session: Session, pledge_id: int, *, source: str, amount: int, fee: int,
         provider_ref: str | None, received_at: datetime, actor: str,
         now: datetime) -> dict[str, Any]:
    _check_money(source, amount, fee)
    # The campaign first, shared: an outcome being decided (which locks it for update)
    # finishes before this payment looks at the campaign's state, or waits for it.
    campaign = session.execute(
        select(Campaign.state, Campaign.event_id)
        .where(Campaign.id == select(Pledge.campaign_id).where(Pledge.id == pledge_id)
               .scalar_subquery())
        .with_for_update(read=True)
    ).first()
    pledge = session.execute(
        select(Pledge).where(Pledge.id == pledge_id).with_for_update()
    ).scalar_one_or_none()
    if pledge is None or campaign is None:
        raise Refusal("pledge.not_found")
    campaign_state, event_id = campaign
    if pledge.paid_at is not None:
        raise Refusal("pledge.already_paid", when=ja_minute(pledge.paid_at),
                      when_en=en_minute(pledge.paid_at))
    if amount != pledge.total:
        raise Refusal("pledge.payment_amount_mismatch", expected=pledge.total, given=amount)

    conn = session.connection()
    accepted, why = _accept(conn, pledge, campaign_state, now)
    accounts = account_ids(session, event_id, SOURCE_ACCOUNT[source], "pledges_held")
    entry_id = post_entry(
        session, event_id=event_id, kind="pledge_paid",
        lines=[(accounts[SOURCE_ACCOUNT[source]], amount), (accounts["pledges_held"], -amount)],
        occurred_at=now, memo=f"pledge {pledge.reference} ({source})", actor=actor,
        once_key=f"pledge_paid:{pledge_id}",
    )
    if fee and campaign_state in DECIDED:
        # The outcome booked the fees of the payments it saw; this one came after it.
        _book_fee(session, event_id, fee, now, f"fee on late payment {pledge.reference}",
                  actor, f"payment_fee:pledge:{pledge_id}")
    payment_id = conn.execute(insert(_payment).returning(_payment.c.id), {
        "pledge_id": pledge_id, "campaign_id": pledge.campaign_id, "amount": amount,
        "fee": fee, "source": source, "provider_ref": provider_ref, "late": not accepted,
        "received_at": received_at, "recorded_by": actor[:60], "entry_id": entry_id,
    }).scalar_one()
    new_state = "paid" if accepted else "refund_due"
    moved = affected(conn.execute(
        update(_pledge)
        .where(_pledge.c.id == pledge_id, _pledge.c.state == pledge.state)
        .values(state=new_state, paid_at=now)
    ))
    if moved != 1:  # cannot happen under the row lock; never guess
        raise AssertionError(f"pledge {pledge_id} changed under its lock")
    session.expire(pledge)
    body: dict[str, Any] = {"pledge_id": pledge_id, "payment_id": payment_id, "state": new_state,
                            "accepted": accepted, "entry_id": entry_id,
                            "paid_at": now.isoformat()}
    if accepted:
        notify(session, pledge_id, "payment_received", now, total=amount)
    else:
        body["refund_id"] = request_refund(session, pledge, payment_id, amount, source, why, now)
        body["refund_reason"] = why
        notify(session, pledge_id, "late_payment_refund", now, total=amount, reason=why)
    return body


def _duplicate(session: Session, pledge_id: int, *, amount: int, fee: int, provider_ref: str,
               received_at: datetime, actor: str, now: datetime) -> dict[str, Any] | None:
    """A provider payment for a pledge another payment already paid: recorded once per
    provider payment (``duplicate``), into pledges held like any payment, and refunded
    in the same transaction (a refund requested, the supporter told). None when it is
    the payment that paid the pledge (another event about it), or one recorded before."""
    _check_money("provider", amount, fee)
    pledge = session.execute(select(Pledge).where(Pledge.id == pledge_id)
                             .with_for_update()).scalar_one()
    known = session.execute(select(Payment.id).where(
        Payment.pledge_id == pledge_id, Payment.provider_ref == provider_ref)).first()
    if known is not None:
        return None
    campaign_state, event_id = session.execute(
        select(Campaign.state, Campaign.event_id).where(Campaign.id == pledge.campaign_id)
    ).one()
    accounts = account_ids(session, event_id, "provider_receivable", "pledges_held")
    entry_id = post_entry(
        session, event_id=event_id, kind="pledge_paid",
        lines=[(accounts["provider_receivable"], amount), (accounts["pledges_held"], -amount)],
        occurred_at=now, memo=f"pledge {pledge.reference}: duplicate payment {provider_ref}",
        actor=actor, once_key=f"pledge_paid:{pledge_id}:{provider_ref}"[:120],
    )
    if fee and campaign_state in DECIDED:  # as for a late payment (see _pay)
        _book_fee(session, event_id, fee, now, f"fee on duplicate payment {provider_ref}",
                  actor, f"payment_fee:duplicate:{provider_ref}"[:120])
    payment_id = session.connection().execute(insert(_payment).returning(_payment.c.id), {
        "pledge_id": pledge_id, "campaign_id": pledge.campaign_id, "amount": amount,
        "fee": fee, "source": "provider", "provider_ref": provider_ref, "late": False,
        "duplicate": True, "received_at": received_at, "recorded_by": actor[:60],
        "entry_id": entry_id,
    }).scalar_one()
    refund_id = request_refund(session, pledge, payment_id, amount, "provider", DUPLICATE, now)
    notify(session, pledge_id, "late_payment_refund", now, total=amount, reason=DUPLICATE,
           refund_id=refund_id)
    return {"outcome": "duplicate_refund", "pledge_id": pledge_id, "payment_id": payment_id,
            "refund_id": refund_id, "refund_reason": DUPLICATE, "entry_id": entry_id}


def _accept(conn: Any, pledge: Pledge, campaign_state: str, now: datetime) -> tuple[bool, str]:
    """Whether the payment makes the pledge paid, and if not, why it goes back."""
    if campaign_state in DECIDED:
        return False, "campaign_decided"
    if pledge.state == "reserved":
        return True, ""  # its stock is still held, deadline or not
    if pledge.state == "cancelled":
        return False, "cancelled"
    # Expired: the stock must be claimed again, like a new pledge's.
    reserve.release_expired(conn, pledge.reward_id, now)
    if reserve.claim(conn, pledge.reward_id, pledge.quantity, new_pledge=False) is None:
        return False, "sold_out"
    return True, ""


def request_refund(session: Session, pledge: Pledge, payment_id: int, amount: int,
                   source: str, reason: str, now: datetime) -> int:
    """A refund record for a payment (unique per payment and per pledge: never twice).
    Card money goes back through the provider; konbini and bank-transfer money to a bank
    account the supporter gives (a Zengin file); cash at the desk."""
    if source == "cash":
        method = "cash"
    elif source == "provider" and pledge.payment_method == "card":
        method = "provider"
    else:
        method = "bank_transfer"
    return int(session.connection().execute(insert(_refund).returning(_refund.c.id), {
        "pledge_id": pledge.id, "payment_id": payment_id, "campaign_id": pledge.campaign_id,
        "amount": amount, "method": method, "reason": reason, "state": "requested",
        "attempts": 0, "requested_at": now, "failure": "", "note": "",
        "account_token": secrets.token_urlsafe(32) if method == "bank_transfer" else None,
    }).scalar_one())


def _book_fee(session: Session, event_id: int, fee: int, now: datetime, memo: str, actor: str,
              once_key: str) -> int:
    accounts = account_ids(session, event_id, "payment_fees", "provider_receivable")
    return post_entry(session, event_id=event_id, kind="payment_fee",
                      lines=[(accounts["payment_fees"], fee),
                             (accounts["provider_receivable"], -fee)],
                      occurred_at=now, memo=memo, actor=actor, once_key=once_key)


def record_provider_payment(
    db: Database,
    *,
    provider: str,
    event_id: str,
    kind: str,
    pledge_id: int,
    amount: int,
    fee: int = 0,
    provider_ref: str | None = None,
    received_at: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Act on a verified provider event saying a pledge's payment succeeded, once.

    The same event again answers what was done the first time (``duplicate``). A
    payment the pledge cannot take (already paid through another event, wrong amount) is
    recorded as the event's outcome instead of failing, so the provider stops retrying."""
    at = now or clock.now()
    with db.write() as session:
        insert_ = sqlite_insert if db.is_sqlite else postgresql_insert
        recorded = session.execute(
            insert_(ProviderEvent).values(provider=provider, event_id=event_id, kind=kind[:60],
                                          pledge_id=pledge_id, received_at=at, outcome="")
            .on_conflict_do_nothing().returning(ProviderEvent.id)
        ).scalar_one_or_none()
        if recorded is None:
            first = session.execute(
                select(ProviderEvent.outcome).where(ProviderEvent.provider == provider,
                                                    ProviderEvent.event_id == event_id)
            ).scalar_one()
            return {"duplicate": True, "outcome": first}
        try:
            with session.begin_nested():
                body = _pay(session, pledge_id, source="provider", amount=amount, fee=fee,
                            provider_ref=provider_ref, received_at=received_at or at,
                            actor=f"provider:{provider}", now=at)
            outcome = body["state"]
        except Refusal as refusal:
            body, outcome = {"refused": refusal.code}, refusal.code
            if refusal.code == "pledge.already_paid" and provider_ref:
                with session.begin_nested():
                    body = _duplicate(session, pledge_id, amount=amount, fee=fee,
                                      provider_ref=provider_ref,
                                      received_at=received_at or at,
                                      actor=f"provider:{provider}", now=at) or body
                outcome = str(body.get("outcome", outcome))
        session.execute(update(ProviderEvent).where(ProviderEvent.id == recorded)
                        .values(outcome=outcome))
        return {"duplicate": False, "outcome": outcome, **body}
