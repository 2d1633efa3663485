"""Two Stripe edge cases, on SQLite and PostgreSQL, with the real ``stripe`` client against
the local stand-in and signed webhooks:

* a second PaymentIntent that succeeds for a pledge already paid (a duplicate payment) is
  recorded once, refunded through Stripe at once (a ``duplicate_payment`` refund), the
  supporter told; the pledge stays paid and the ledger agrees;
* a card refund Stripe had confirmed and then reports failed (``charge.refund.updated``)
  moves to failed, its entry reversed, and can be sent again;
* migration 0014 down and up on SQLite with a refund referring to its payment (the
  tables are rebuilt with foreign keys off, then checked).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from stripe_standin import StripeStandIn
from test_wiring import PRICE, audit, balances, live_world, pledge, settings_for

from oflocal import clock
from oflocal.crowdfunding.models import Payment, Pledge, Refund
from oflocal.crowdfunding.outcome import decide_outcome
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.provider_payments import (
    handle_stripe_webhook,
    send_card_refund,
    start_card_or_konbini,
)
from oflocal.db import migrate
from oflocal.db.engine import Database
from oflocal.outbox.models import MailMessage
from oflocal.payments.stripe_provider import StripeProvider
from oflocal.settings import Settings, Stripe


@pytest.fixture
def settings(db: Database, stripe_settings: Stripe, tmp_path: Path) -> Settings:
    return settings_for(db, stripe_settings, tmp_path)


def test_duplicate_payment_is_refunded_and_a_failed_refund_can_be_sent_again(
        db: Database, settings: Settings, standin: StripeStandIn,
        provider: StripeProvider) -> None:
    w = live_world(db)
    pid = pledge(w, 1)
    first = start_card_or_konbini(db, settings, pid, provider=provider)

    def deliver(event: dict) -> dict:  # type: ignore[type-arg]
        body, headers = standin.signed(event)
        return handle_stripe_webhook(db, settings, body, headers, provider=provider).as_json()

    assert deliver(standin.pay(first.payment_id))["outcome"] == "paid"
    # Another PaymentIntent for the same pledge (made outside oflocal's start), paid.
    second = provider.client.v1.payment_intents.create(params={
        "amount": PRICE, "currency": "jpy", "payment_method_types": ["card"],
        "metadata": {"pledge_id": str(pid)}}).to_dict()["id"]
    paid_twice = standin.pay(second)
    done = deliver(paid_twice)
    assert done["outcome"] == "duplicate_refund" and done["refund_id"], done
    assert deliver(paid_twice)["duplicate"]  # the same event again: nothing more
    charge = next(e for e in standin.events_for(second) if e["type"] == "charge.succeeded")
    assert deliver(charge)["outcome"] == "pledge.already_paid"  # another event of it

    (refund_at_stripe,) = standin.refunds.values()
    assert (refund_at_stripe["payment_intent"], refund_at_stripe["amount"]) == (second, PRICE)
    with db.read() as session:
        refund = session.execute(select(Refund)).scalar_one()
        payments = session.execute(select(Payment.provider_ref, Payment.duplicate)
                                   .order_by(Payment.id)).all()
        state = session.execute(select(Pledge.state, Pledge.provider_payment_id)).one()
        told = set(session.execute(select(MailMessage.kind)).scalars())
    assert (refund.reason, refund.method, refund.state) == ("duplicate_payment", "provider",
                                                            "confirmed")
    assert payments == [(first.payment_id, False), (second, True)]
    assert tuple(state) == ("paid", first.payment_id)  # the pledge stands, on its payment
    assert {"refund_requested", "refund_sent"} <= told
    assert balances(db, w.event_id)["pledges_held"] == -PRICE
    audit(db)

    # Stripe confirmed the refund, then reports it failed: the money is held again.
    failed = deliver(standin.fail_refund(refund_at_stripe["id"], "charge.refund.updated"))
    assert failed["outcome"] == "refund_failed" and failed["refund_id"] == refund.id
    assert balances(db, w.event_id)["pledges_held"] == -2 * PRICE
    audit(db)
    again = send_card_refund(db, settings, refund.id, provider=provider)
    assert again["state"] == "confirmed" and len(standin.refunds) == 2
    with db.read() as session:
        assert session.execute(select(Refund.attempts, Pledge.state).join(
            Pledge, Pledge.id == Refund.pledge_id)).one() == (2, "paid")
    assert balances(db, w.event_id)["pledges_held"] == -PRICE
    audit(db)


def test_0014_down_and_up_with_a_refund_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        migrate.upgrade(db.engine)
        w = live_world(db)
        pid = pledge(w, 1, method="bank_transfer")
        mark_paid(db, pid, source="bank", amount=PRICE, actor="t")
        decided = decide_outcome(db, w.campaign_id, now=clock.now() + timedelta(days=11))
        assert decided.body["state"] == "failed"  # far below the goal: a refund
        migrate.downgrade(db.engine, "0013")
        migrate.upgrade(db.engine)
        with db.read() as session:
            refund = session.execute(select(Refund.pledge_id, Refund.payment_id)).one()
            assert session.get(Payment, refund.payment_id) is not None
        assert refund.pledge_id == pid
        audit(db)
    finally:
        db.dispose()
