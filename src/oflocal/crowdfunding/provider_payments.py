"""Card and konbini pledges paid through a provider (Stripe): the wiring between the
payments package (``oflocal.payments``, no database) and this domain (no provider
library). Read this file to know what happens between a pledge and its PaymentIntent.

Every provider call runs **outside** any database transaction (a remote call holding
locks is how payment systems stall); each database step is a short transaction of its
own, and each is safe to repeat:

* :func:`start_card_or_konbini`: a short read of the pledge; ``provider.start`` (or
  ``resume`` once a payment id is stored, so a konbini retried another day gets the
  same PaymentIntent), idempotent per pledge; a short write storing the provider, the
  payment id and the possibly earlier deadline (a konbini voucher ends at 23:59:59
  Tokyo): the reservation's deadline moves earlier, never later.
* :func:`handle_stripe_webhook`: verify the signature on the raw body and re-read the
  payment (``payments.receive_event``); a paid payment is recorded by
  ``payments.record_provider_payment``, which locks the pledge and records the event id
  once (a late payment whose stock is gone, or a second payment of a pledge already
  paid, is refunded there, and the card refund is sent at once); a konbini voucher
  that expired (or a canceled payment) releases the reservation; a ``refund.*`` event
  moves the refund it names (a confirmed one too, when Stripe reports it failed).
* :func:`reconcile`: what the provider knows since the oldest pledge still waiting,
  recorded through the same once-only path (``payments.reconcile_event``), plus the
  card refunds still to send or to confirm. Run by ``oflocal payments reconcile`` and
  by the ``payments.reconcile`` job (every 5 minutes while card or konbini pledges
  wait, see :func:`schedule_reconcile`).
* :func:`send_card_refund`: a requested (or failed) card refund through
  ``provider.refund`` with the attempt's key (``refunds.attempt_key``), then marked
  sent / confirmed / failed by refunds.py.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, event, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from oflocal import clock, payments
from oflocal.crowdfunding import reserve
from oflocal.crowdfunding.models import Campaign, Payment, Pledge, ProviderEvent, Refund
from oflocal.crowdfunding.payments import record_provider_payment
from oflocal.crowdfunding.pledge import STATE_NAMES
from oflocal.crowdfunding.refunds import STATE_NAMES as REFUND_STATE_NAMES
from oflocal.crowdfunding.refunds import (
    attempt_key,
    mark_refund_confirmed,
    mark_refund_failed,
    mark_refund_sent,
)
from oflocal.crowdfunding.schedule import schedule_sweep
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.jobs.queue import db_now, enqueue
from oflocal.jobs.worker import JobContext, Task
from oflocal.settings import Settings
from oflocal.settings import Stripe as StripeSettings

log = logging.getLogger("oflocal.payments")

PROVIDER_METHODS = ("card", "konbini")
RECONCILE = "payments.reconcile"
RECONCILE_EVERY = timedelta(minutes=5)
# An expired reservation still counts as "waiting" this long: a konbini payment made at
# the till on its last evening is reported by the provider hours later (a late payment).
LATE_WINDOW = timedelta(days=3)


# --- the provider ---------------------------------------------------------------------


_PROVIDERS: dict[StripeSettings, payments.PaymentProvider] = {}


def stripe_provider(settings: Settings) -> payments.PaymentProvider:
    """The Stripe provider of these settings (one client per process and configuration:
    it keeps its HTTP connections); ``payment.method_unavailable`` when Stripe is off."""
    if not settings.stripe.enabled:
        raise payments.MethodUnavailable(method="stripe")
    found = _PROVIDERS.get(settings.stripe)
    if found is None:
        found = _PROVIDERS.setdefault(
            settings.stripe, payments.providers(settings, cash=False).by_name("stripe"))
    return found


# --- starting a payment ---------------------------------------------------------------


@dataclass(frozen=True)
class _PledgeView:
    id: int
    campaign_id: int
    state: str
    method: str
    total: int
    name: str
    email: str
    phone: str
    deadline: datetime
    reference: str
    title: str
    provider: str | None
    payment_id: str | None


def _read_pledge(db: Database, pledge_id: int) -> _PledgeView:
    with db.read() as session:
        row = session.execute(
            select(Pledge, Campaign.title).join(Campaign, Campaign.id == Pledge.campaign_id)
            .where(Pledge.id == pledge_id)
        ).first()
        if row is None:
            raise Refusal("pledge.not_found")
        p = row.Pledge
        return _PledgeView(p.id, p.campaign_id, p.state, p.payment_method, p.total,
                           p.supporter_name, p.supporter_email, p.supporter_phone,
                           p.payment_deadline, p.reference, row.title, p.provider,
                           p.provider_payment_id)


def start_card_or_konbini(db: Database, settings: Settings, pledge_id: int, *,
                          provider: payments.PaymentProvider | None = None,
                          now: datetime | None = None) -> payments.PaymentStart:
    """The pledge's provider payment, started once and resumed from then on (see the
    module doc). Refusals: ``pledge.not_found``, ``pledge.not_payable`` (not reserved
    and never started), ``payment.method_unavailable``; ``payment.provider_unavailable``
    leaves the pledge as it was (call again)."""
    at = now or clock.now()
    pledge = _read_pledge(db, pledge_id)
    if pledge.method not in PROVIDER_METHODS:
        raise payments.MethodUnavailable(method=pledge.method)
    if pledge.payment_id is None and pledge.state != "reserved":
        ja, en = STATE_NAMES[pledge.state]
        raise Refusal("pledge.not_payable", state=ja, state_en=en)
    chosen = provider or stripe_provider(settings)
    request = payments.PaymentRequest(
        pledge_id=pledge.id, amount=pledge.total, method=pledge.method,  # type: ignore[arg-type]
        supporter_name=pledge.name, supporter_email=pledge.email,
        supporter_phone=pledge.phone, deadline=pledge.deadline,
        description=f"{pledge.title} ({pledge.reference})", reference=pledge.reference)
    if pledge.payment_id is not None:  # never start twice: resume what is stored
        return _with_deadline(chosen.resume(request, pledge.payment_id), pledge.deadline)
    started = chosen.start(request)  # outside any transaction
    stored = _store_start(db, pledge, started, at)
    if stored != started.payment_id:  # another payment was stored meanwhile: that one
        return _with_deadline(chosen.resume(request, stored), pledge.deadline)
    return _with_deadline(started, min(started.deadline, pledge.deadline))


def _with_deadline(start: payments.PaymentStart, deadline: datetime) -> payments.PaymentStart:
    return replace(start, deadline=min(start.deadline, deadline))


def _store_start(db: Database, pledge: _PledgeView, started: payments.PaymentStart,
                 now: datetime) -> str:
    """The second short transaction: provider, payment id, the earlier deadline. Answers
    the payment id the pledge keeps."""
    new_deadline = min(started.deadline, pledge.deadline)
    with db.write() as session:
        moved = affected(session.execute(
            update(Pledge)
            .where(Pledge.id == pledge.id, Pledge.provider_payment_id.is_(None))
            .values(provider=started.provider, provider_payment_id=started.payment_id,
                    payment_deadline=case(
                        (Pledge.payment_deadline > new_deadline, new_deadline),
                        else_=Pledge.payment_deadline))
            .execution_options(synchronize_session=False)
        ))
        if moved != 1:
            return str(session.execute(select(Pledge.provider_payment_id)
                                       .where(Pledge.id == pledge.id)).scalar_one())
        if new_deadline < pledge.deadline:
            schedule_sweep(db, session, pledge.campaign_id, new_deadline)
        schedule_reconcile(db, session)
    return started.payment_id


# --- the result page ------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentStep:
    """What the supporter's result page shows of a card or konbini pledge waiting for
    its payment. ``state``: ``ready`` (``start`` says what to show: the card form's
    ``client_secret``, or the konbini voucher), ``not_started`` (the start failed or was
    never tried: offer to try again), ``unavailable`` (the provider did not answer just
    now) or ``refused`` (``refusal`` says why)."""

    state: str
    start: payments.PaymentStart | None = None
    refusal: Refusal | None = None


def payment_step(db: Database, settings: Settings, pledge_id: int, *, start: bool = False,
                 provider: payments.PaymentProvider | None = None) -> PaymentStep | None:
    """The payment step of a reserved card or konbini pledge (None for any other).

    With ``start`` (a POST: the final confirmation, or the page's "try again" button) a
    pledge with no payment yet gets one through :func:`start_card_or_konbini`; without
    it (a GET: the page shown or reloaded) nothing is created at the provider, the
    stored payment is only re-read. A provider that is down never loses the pledge: it
    stays reserved and the page offers to try again."""
    with db.read() as session:
        row = session.execute(select(Pledge.state, Pledge.payment_method,
                                     Pledge.provider_payment_id)
                              .where(Pledge.id == pledge_id)).first()
    if row is None or row.payment_method not in PROVIDER_METHODS or row.state != "reserved":
        return None
    if row.provider_payment_id is None and not start:
        return PaymentStep("not_started")
    try:
        started = start_card_or_konbini(db, settings, pledge_id, provider=provider)
    except payments.ProviderUnavailable:
        return PaymentStep("unavailable" if row.provider_payment_id else "not_started")
    except Refusal as refusal:
        log.warning("pledge %s: payment not started (%s)", pledge_id, refusal.code)
        return PaymentStep("refused", refusal=refusal)
    return PaymentStep("ready", start=started)


# --- webhooks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookResult:
    """What a verified event did. ``outcome``: the pledge's new state (``paid``,
    ``refund_due``), ``duplicate_refund`` (another payment had paid the pledge: this one
    is recorded and refunded), a refusal code recorded for the event
    (``pledge.already_paid``: another event of the payment that paid it),
    ``released`` (an expired konbini voucher), ``refund_confirmed`` / ``refund_failed``,
    or ``ignored`` (nothing to do: not paid yet, not one of ours)."""

    event_id: str
    type: str
    duplicate: bool
    outcome: str
    pledge_id: int | None = None
    refund_id: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "type": self.type, "duplicate": self.duplicate,
                "outcome": self.outcome, "pledge_id": self.pledge_id,
                "refund_id": self.refund_id}


def handle_stripe_webhook(db: Database, settings: Settings, raw_body: bytes,
                          headers: Mapping[str, str], *,
                          provider: payments.PaymentProvider | None = None,
                          now: datetime | None = None) -> WebhookResult:
    """Act on one webhook delivery (see the module doc). Raises
    ``payments.SignatureRefused`` (nothing read or changed) and
    ``payments.ProviderUnavailable`` (the re-read failed: the provider sends it again)."""
    chosen = provider or stripe_provider(settings)
    received = payments.receive_event(chosen, raw_body, headers)  # no transaction open
    return act_on(db, chosen, received.event, received.payment, received.refund, now=now)


def act_on(db: Database, provider: payments.PaymentProvider, event: payments.ProviderEvent,
           payment: payments.PaymentState | None, refund: payments.RefundState | None, *,
           now: datetime | None = None) -> WebhookResult:
    """What a verified event (or a reconcile finding) does, from the re-read state."""
    at = now or clock.now()
    if refund is not None:
        return _refund_changed(db, event, refund, at)
    if payment is None or payment.pledge_id is None:
        return WebhookResult(event.id, event.type, False, "ignored")
    pledge_id = payment.pledge_id
    known = _payment_of(db, pledge_id)
    if known is None:  # not a pledge of this database (another one shares the account)
        return WebhookResult(event.id, event.type, False, "ignored", pledge_id)
    if payment.paid:
        result = record_provider_payment(
            db, provider=provider.name, event_id=event.id, kind=event.type,
            pledge_id=pledge_id, amount=payment.amount_received, fee=payment.fee or 0,
            provider_ref=payment.payment_id, received_at=payment.paid_at, now=at)
        refund_id = result.get("refund_id")
        if not result["duplicate"]:
            if known[1] is None and result["outcome"] != "duplicate_refund":
                _adopt(db, pledge_id, provider.name, payment.payment_id)
            # A late payment whose stock was gone, or a second payment of a pledge
            # already paid (a duplicate): the card money goes back at once.
            if refund_id is not None:
                _send_quietly(db, provider, int(refund_id), at)
        return WebhookResult(event.id, event.type, bool(result["duplicate"]),
                             str(result["outcome"]), pledge_id,
                             int(refund_id) if refund_id is not None else None, result)
    if payment.status == "canceled" or (payment.status == "failed"
                                        and payment.method == "konbini"):
        return _release(db, provider.name, event, pledge_id, at)
    return WebhookResult(event.id, event.type, False, "ignored", pledge_id)


def _payment_of(db: Database, pledge_id: int) -> tuple[str, str | None] | None:
    with db.read() as session:
        row = session.execute(select(Pledge.state, Pledge.provider_payment_id)
                              .where(Pledge.id == pledge_id)).first()
    return None if row is None else (str(row[0]), row[1])


def _adopt(db: Database, pledge_id: int, provider: str, payment_id: str) -> None:
    """A payment paid before its id was stored (the start's second write failed)."""
    with db.write() as session:
        session.execute(update(Pledge).where(Pledge.id == pledge_id,
                                             Pledge.provider_payment_id.is_(None))
                        .values(provider=provider, provider_payment_id=payment_id)
                        .execution_options(synchronize_session=False))


def _record_event(session: Session, db: Database, provider: str, event: payments.ProviderEvent,
                  pledge_id: int | None, now: datetime) -> int | None:
    """Insert the event once; its row id, or None when it was recorded before."""
    insert_ = sqlite_insert if db.is_sqlite else postgresql_insert
    recorded: int | None = session.execute(
        insert_(ProviderEvent).values(provider=provider, event_id=event.id[:120],
                                      kind=event.type[:60], pledge_id=pledge_id,
                                      received_at=now, outcome="")
        .on_conflict_do_nothing().returning(ProviderEvent.id)
    ).scalar_one_or_none()
    return recorded


def _first_outcome(session: Session, provider: str, event_id: str) -> str:
    return str(session.execute(select(ProviderEvent.outcome).where(
        ProviderEvent.provider == provider, ProviderEvent.event_id == event_id[:120])
    ).scalar_one())


def _release(db: Database, provider: str, event: payments.ProviderEvent, pledge_id: int,
             now: datetime) -> WebhookResult:
    """The payment can no longer be made (a konbini voucher expired, a payment canceled):
    the reservation's deadline moves to now (never later) and its stock comes back."""
    with db.write() as session:
        recorded = _record_event(session, db, provider, event, pledge_id, now)
        if recorded is None:
            return WebhookResult(event.id, event.type, True,
                                 _first_outcome(session, provider, event.id), pledge_id)
        moved = affected(session.execute(
            update(Pledge).where(Pledge.id == pledge_id, Pledge.state == "reserved",
                                 Pledge.payment_deadline > now)
            .values(payment_deadline=now).execution_options(synchronize_session=False)))
        outcome = "released" if moved else "ignored"
        session.execute(update(ProviderEvent).where(ProviderEvent.id == recorded)
                        .values(outcome=outcome))
        reward_id = session.execute(select(Pledge.reward_id)
                                    .where(Pledge.id == pledge_id)).scalar_one()
    if moved:
        # Its own transaction, the statement every pledge and the sweep run (locks in
        # id order): the quantity comes back now, not at the next sweep.
        with db.write() as session:
            reserve.release_expired(session.connection(), reward_id, now)
    return WebhookResult(event.id, event.type, False, outcome, pledge_id)


# --- refunds ------------------------------------------------------------------------------


def send_card_refund(db: Database, settings: Settings | None, refund_id: int, *,
                     provider: payments.PaymentProvider | None = None,
                     now: datetime | None = None) -> dict[str, Any]:
    """Send a requested (or failed) card refund through the provider with the key of
    its next attempt, then mark it sent, and confirmed or failed as the provider says.
    A retry of the same attempt (a crash between the call and the mark) gets the same
    provider refund back; a concurrent sender finds it sent and stops. Raises
    ``payment.provider_unavailable`` (nothing marked: try again) and the provider's
    refusals; ``refund.wrong_state`` when there is nothing to send."""
    at = now or clock.now()
    with db.read() as session:
        row = session.execute(
            select(Refund.state, Refund.method, Refund.attempts, Refund.amount,
                   Payment.provider_ref, Pledge.provider_payment_id)
            .join(Payment, Payment.id == Refund.payment_id)
            .join(Pledge, Pledge.id == Refund.pledge_id)
            .where(Refund.id == refund_id)
        ).first()
    if row is None:
        raise Refusal("refund.not_found")
    state, method, attempts, amount, provider_ref, stored = row
    if method != "provider" or state not in ("requested", "failed"):
        ja, en = REFUND_STATE_NAMES[state]
        raise Refusal("refund.wrong_state", state=ja, state_en=en)
    payment_id = provider_ref or stored
    if not payment_id:
        raise payments.RefundUnsupported(method="unknown")
    if provider is not None:
        chosen = provider
    elif settings is not None:
        chosen = stripe_provider(settings)
    else:
        raise ValueError("send_card_refund needs the settings or a provider")
    attempt = attempts + 1
    sent = chosen.refund(payment_id, amount, idempotency_key=attempt_key(refund_id, attempt))
    actor = f"provider:{chosen.name}"
    try:
        mark_refund_sent(db, refund_id, actor=actor, now=at)
    except Refusal as refusal:
        if refusal.code != "refund.wrong_state":
            raise
        return {"refund_id": refund_id, "state": "sent", "provider_refund_id": sent.refund_id,
                "already": True}
    with db.write() as session:
        session.execute(update(Refund).where(Refund.id == refund_id, Refund.attempts == attempt)
                        .values(provider_refund_id=sent.refund_id)
                        .execution_options(synchronize_session=False))
    final = _apply_refund_state(db, refund_id, sent, at)
    return {"refund_id": refund_id, "state": final, "provider_refund_id": sent.refund_id}


def _send_quietly(db: Database, provider: payments.PaymentProvider, refund_id: int,
                  now: datetime) -> None:
    """After a late payment: try to send its card refund now; what fails here is sent by
    the next reconcile run (the refund stays requested)."""
    try:
        send_card_refund(db, None, refund_id, provider=provider, now=now)
    except Refusal as refusal:
        log.warning("card refund %s not sent now (%s); the reconcile run retries",
                    refund_id, refusal.code)


def _apply_refund_state(db: Database, refund_id: int, state: payments.RefundState,
                        now: datetime) -> str:
    """Move a sent refund as the provider's re-read refund says; answers its state."""
    try:
        if state.status == "succeeded":
            return str(mark_refund_confirmed(db, refund_id, now=now).body["state"])
        if state.status == "failed":
            return str(mark_refund_failed(db, refund_id, reason=state.failure or "failed",
                                          actor="provider", now=now).body["state"])
    except Refusal as refusal:
        if refusal.code != "refund.wrong_state":
            raise
    return "sent"


def _refund_changed(db: Database, event: payments.ProviderEvent, state: payments.RefundState,
                    now: datetime) -> WebhookResult:
    with db.read() as session:
        row = session.execute(select(Refund.id, Refund.state, Refund.pledge_id).where(
            Refund.provider_refund_id == state.refund_id)).first()
    # Not ours, or not this attempt's any more. A confirmed refund still moves when the
    # provider says it failed after all (``charge.refund.updated``: the card was closed).
    settled = row is not None and row.state == "confirmed" and state.status == "failed"
    if row is None or (row.state != "sent" and not settled):
        return WebhookResult(event.id, event.type, False, "ignored",
                             row.pledge_id if row else None, row.id if row else None)
    final = _apply_refund_state(db, int(row.id), state, now)
    outcome = {"confirmed": "refund_confirmed", "failed": "refund_failed"}.get(final, "ignored")
    return WebhookResult(event.id, event.type, False, outcome, int(row.pledge_id), int(row.id))


# --- reconcile ------------------------------------------------------------------------------


@dataclass
class ReconcileResult:
    since: datetime | None
    seen: int = 0
    recorded: int = 0
    released: int = 0
    refunds_sent: int = 0
    refunds_settled: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"since": self.since.isoformat() if self.since else None, "seen": self.seen,
                "recorded": self.recorded, "released": self.released,
                "refunds_sent": self.refunds_sent, "refunds_settled": self.refunds_settled,
                "outcomes": dict(self.outcomes)}


def oldest_waiting(db: Database, now: datetime) -> datetime | None:
    """When the oldest card or konbini pledge still waiting for its payment was made:
    reserved, or expired within :data:`LATE_WINDOW` (a late payment may still come)."""
    with db.read() as session:
        found: datetime | None = session.execute(
            select(func.min(Pledge.created_at)).where(
                Pledge.payment_method.in_(PROVIDER_METHODS),
                (Pledge.state == "reserved")
                | ((Pledge.state == "expired") & (Pledge.ended_at >= now - LATE_WINDOW)))
        ).scalar_one()
    return found


def reconcile(db: Database, settings: Settings, since: datetime | None = None, *,
              provider: payments.PaymentProvider | None = None,
              now: datetime | None = None) -> ReconcileResult:
    """Catch what webhooks missed (see the module doc). Safe to run at any time, twice,
    or in two processes at once: every finding goes through the once-only paths."""
    at = now or clock.now()
    chosen = provider or stripe_provider(settings)
    start = since if since is not None else oldest_waiting(db, at)
    result = ReconcileResult(since=start)
    if start is not None:
        states = chosen.reconcile(start)  # outside any transaction
        result.seen = len(states)
        recorded = _recorded_payments(db, [s.payment_id for s in states if s.paid])
        for state in states:
            if state.pledge_id is None or (state.paid and state.payment_id in recorded):
                continue
            if not state.paid and state.status not in ("failed", "canceled"):
                continue
            done = act_on(db, chosen, payments.reconcile_event(state), state, None, now=at)
            if done.outcome == "ignored" or done.duplicate:
                continue
            result.outcomes[done.outcome] = result.outcomes.get(done.outcome, 0) + 1
            if done.outcome == "released":
                result.released += 1
            else:
                result.recorded += 1
    _settle_refunds(db, chosen, at, result)
    return result


def _recorded_payments(db: Database, payment_ids: list[str]) -> set[str]:
    if not payment_ids:
        return set()
    with db.read() as session:
        return {ref for ref in session.execute(select(Payment.provider_ref).where(
            Payment.provider_ref.in_(payment_ids))).scalars() if ref is not None}


def _settle_refunds(db: Database, provider: payments.PaymentProvider, now: datetime,
                    result: ReconcileResult) -> None:
    """Card refunds still requested are sent; sent ones are re-read and settled."""
    with db.read() as session:
        waiting = session.execute(
            select(Refund.id, Refund.state, Refund.provider_refund_id)
            .where(Refund.method == "provider", Refund.state.in_(("requested", "sent")))
            .order_by(Refund.id)).all()
    for refund_id, state, provider_refund_id in waiting:
        try:
            if state == "requested":
                send_card_refund(db, None, refund_id, provider=provider, now=now)
                result.refunds_sent += 1
            elif provider_refund_id:
                final = _apply_refund_state(db, refund_id,
                                            provider.fetch_refund(provider_refund_id), now)
                result.refunds_settled += final != "sent"
        except payments.ProviderUnavailable:
            raise
        except Refusal as refusal:
            log.warning("refund %s: %s", refund_id, refusal.code)


# --- the scheduled run --------------------------------------------------------------------


def schedule_reconcile(db: Database, session: Session, *, after: datetime | None = None) -> None:
    """Queue the ``payments.reconcile`` run of the next 5-minute slot (UTC, from the
    epoch) unless it is queued already: one job per slot whatever the number of pledges,
    deduped by the key ``payments-reconcile:<slot>``."""
    at = after or db_now(session)
    every = RECONCILE_EVERY.total_seconds()
    slot = math.floor(at.timestamp() / every) + 1
    key = f"payments-reconcile:{slot}"
    queued: set[str] = db.memo.setdefault("payments_reconciles", set())
    if key in queued:
        return
    delay = max(slot * every - at.timestamp(), 0.0)
    enqueue(session, RECONCILE, {"slot": slot}, dedupe_key=key, delay_seconds=delay)
    event.listen(session, "after_commit", lambda _s: queued.add(key), once=True)


def still_waiting(session: Session) -> bool:
    """Whether any card or konbini pledge still waits for its payment (the job goes on)."""
    return session.execute(
        select(Pledge.id).where(Pledge.payment_method.in_(PROVIDER_METHODS),
                                Pledge.state == "reserved").limit(1)
    ).first() is not None


__all__ = [
    "RECONCILE",
    "RECONCILE_TASK",
    "PaymentStep",
    "ReconcileResult",
    "WebhookResult",
    "act_on",
    "handle_stripe_webhook",
    "payment_step",
    "reconcile",
    "schedule_reconcile",
    "send_card_refund",
    "start_card_or_konbini",
    "stripe_provider",
]


def _run_reconcile(ctx: JobContext) -> None:
    """The ``payments.reconcile`` job: reconcile (no transaction open around the provider
    calls), then queue the next slot's run while card or konbini pledges still wait."""
    on = ctx.settings.stripe.enabled
    if on:
        reconcile(ctx.db, ctx.settings)
    with ctx.finish() as session:
        if on and still_waiting(session):
            schedule_reconcile(ctx.db, session)


RECONCILE_TASK = Task(kind=RECONCILE, run=_run_reconcile, max_attempts=5)
