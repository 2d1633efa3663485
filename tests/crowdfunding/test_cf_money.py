"""Money: payments (bank, cash, provider events), late payments, the outcome, refunds;
the ledger's balances and the auditor after every step, and refusals that change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cf_world import (
    ENDS,
    T0,
    audit,
    balances,
    build_world,
    claimed,
    pledge,
    snapshot,
    state_of,
)
from sqlalchemy import select

from oflocal.crowdfunding.campaigns import close_campaign
from oflocal.crowdfunding.models import Campaign, Refund
from oflocal.crowdfunding.outcome import decide_outcome
from oflocal.crowdfunding.payments import mark_paid, record_provider_payment
from oflocal.crowdfunding.refunds import (
    mark_refund_confirmed,
    mark_refund_done_by_hand,
    mark_refund_failed,
    mark_refund_sent,
)
from oflocal.crowdfunding.sweep import expire_reservations
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, request_hash
from oflocal.outbox.models import MailMessage

AFTER = ENDS + timedelta(days=8)  # every 7-day deadline of a pledge made by T0 has passed
CF = ("pledges_held", "bank", "cash", "provider_receivable", "crowdfunding_income",
      "payment_fees")


def money(db: Database, w) -> dict[str, int]:  # type: ignore[no-untyped-def]
    b = balances(db, w.event_id)
    return {k: b[k] for k in CF if b[k]}


def _refused(db: Database, code: str, call) -> Refusal:  # type: ignore[no-untyped-def]
    before = snapshot(db)
    with pytest.raises(Refusal) as caught:
        call()
    assert caught.value.code == code, caught.value
    assert snapshot(db) == before
    return caught.value


def _paid(db: Database, pledge_id: int, amount: int, source: str = "bank", **kw):  # type: ignore[no-untyped-def]
    return mark_paid(db, pledge_id, source=source, amount=amount, actor="staff:1",
                     now=kw.pop("now", T0), **kw)


def test_payments_land_in_their_account_and_in_pledges_held_once(db: Database) -> None:
    w = build_world(db)
    a = pledge(w, w.limited).body["pledge_id"]
    b = pledge(w, w.goods, email="b@example.jp", method="cash").body["pledge_id"]
    assert _paid(db, a, 5000).body["state"] == "paid"
    assert money(db, w) == {"bank": 5000, "pledges_held": -5000}
    audit(db)
    _paid(db, b, 3300, "cash")
    assert money(db, w) == {"bank": 5000, "cash": 3300, "pledges_held": -8300}
    refusal = _refused(db, "pledge.already_paid", lambda: _paid(db, a, 5000))
    assert "5月1日 12:00" in refusal.message("ja")
    c = pledge(w, w.limited, email="c@example.jp").body["pledge_id"]
    _refused(db, "pledge.payment_amount_mismatch", lambda: _paid(db, c, 4999))
    _refused(db, "pledge.not_found", lambda: _paid(db, 999, 5000))
    _refused(db, "pledge.invalid", lambda: _paid(db, c, 5000, "paypay"))
    _refused(db, "pledge.invalid", lambda: _paid(db, c, 5000, "bank", fee=100))
    with db.read() as session:
        kinds = session.execute(select(MailMessage.kind).order_by(MailMessage.id)).all()
    assert [k for (k,) in kinds].count("payment_received") == 2
    audit(db)


def test_a_retried_mark_paid_answers_the_first_outcome(db: Database) -> None:
    w = build_world(db)
    a = pledge(w, w.limited).body["pledge_id"]
    idem = IdempotencyKey("staff:1", "k1", request_hash("paid", a))
    first = _paid(db, a, 5000, idem=idem)
    again = _paid(db, a, 5000, idem=idem)
    assert again.replayed and again.body == first.body
    assert money(db, w) == {"bank": 5000, "pledges_held": -5000}


def test_late_payment_is_accepted_while_the_stock_is_there(db: Database) -> None:
    w = build_world(db, limit=2, per_supporter=None)
    a = pledge(w, w.limited).body["pledge_id"]
    late = T0 + timedelta(days=8)
    # Past its deadline but nobody released it: its stock is still held.
    assert _paid(db, a, 5000, now=late).body["accepted"]
    b = pledge(w, w.limited, email="b@example.jp").body["pledge_id"]
    expire_reservations(db, now=late)
    assert state_of(db, b) == "expired" and claimed(db, w.limited) == 1
    out = _paid(db, b, 5000, now=late).body
    assert out["accepted"] and out["state"] == "paid" and claimed(db, w.limited) == 2
    audit(db)


def test_late_payment_for_stock_gone_is_refunded_and_the_supporter_told(db: Database) -> None:
    w = build_world(db, limit=1, per_supporter=None)
    a = pledge(w, w.limited).body["pledge_id"]
    late = T0 + timedelta(days=8)
    b = pledge(w, w.limited, email="b@example.jp", now=late).body["pledge_id"]  # a's stock
    out = _paid(db, a, 5000, now=late).body
    assert not out["accepted"] and out["state"] == "refund_due"
    assert out["refund_reason"] == "sold_out" and claimed(db, w.limited) == 1
    assert money(db, w) == {"bank": 5000, "pledges_held": -5000}
    with db.read() as session:
        refund = session.get(Refund, out["refund_id"])
        assert refund is not None and (refund.state, refund.method, refund.reason) == (
            "requested", "bank_transfer", "sold_out")
        told = session.execute(select(MailMessage.kind, MailMessage.text_body)
                               .where(MailMessage.about == f"refund:{refund.id}")).one()
        assert told.kind == "refund_requested" and "/refund-account/" in told.text_body
    audit(db)
    assert _paid(db, b, 5000, now=late).body["accepted"]
    audit(db)


def test_payment_for_a_cancelled_pledge_is_refunded(db: Database) -> None:
    from oflocal.crowdfunding.pledge import cancel_pledge

    w = build_world(db)
    a = pledge(w, w.limited).body["pledge_id"]
    cancel_pledge(db, a, now=T0)
    out = _paid(db, a, 5000).body
    assert (out["state"], out["refund_reason"]) == ("refund_due", "cancelled")
    audit(db)


def test_provider_events_are_acted_on_once(db: Database) -> None:
    w = build_world(db)
    a = pledge(w, w.limited, method="card").body["pledge_id"]

    def event(event_id: str, fee: int = 180) -> dict[str, object]:
        return record_provider_payment(db, provider="stripe", event_id=event_id,
                                       kind="payment_intent.succeeded", pledge_id=a,
                                       amount=5000, fee=fee, provider_ref="pi_1", now=T0)

    first = event("evt_1")
    assert first["outcome"] == "paid" and not first["duplicate"]
    assert event("evt_1") == {"duplicate": True, "outcome": "paid"}
    other = event("evt_2")  # another event about the same payment
    assert other["outcome"] == "pledge.already_paid" and not other["duplicate"]
    assert money(db, w) == {"provider_receivable": 5000, "pledges_held": -5000}
    audit(db)


def test_outcome_waits_for_payments_then_succeeds_once(db: Database) -> None:
    w = build_world(db, goal=8000)
    a = pledge(w, w.limited, method="card").body["pledge_id"]
    b = pledge(w, w.free, email="b@example.jp", amount=4000).body["pledge_id"]
    unpaid = pledge(w, w.limited, email="c@example.jp", now=ENDS - timedelta(hours=1))
    late = pledge(w, w.limited, email="d@example.jp", method="card",
                  now=ENDS - timedelta(minutes=5)).body["pledge_id"]
    record_provider_payment(db, provider="stripe", event_id="evt_a", kind="x", pledge_id=a,
                            amount=5000, fee=180, now=T0)
    _paid(db, b, 4000)
    _refused(db, "campaign.not_ended", lambda: decide_outcome(db, w.campaign_id, now=T0))
    waiting = decide_outcome(db, w.campaign_id, now=ENDS).body
    assert waiting["state"] == "waiting_payments" and waiting["waiting_until"]
    _paid(db, unpaid.body["pledge_id"], 5000, now=ENDS + timedelta(days=1))
    done = decide_outcome(db, w.campaign_id, now=AFTER).body
    assert (done["state"], done["moved_to_income"], done["fees"]) == ("succeeded", 14_000, 180)
    assert money(db, w) == {"provider_receivable": 4820, "bank": 9000,
                            "crowdfunding_income": -14_000, "payment_fees": 180}
    again = decide_outcome(db, w.campaign_id, now=AFTER + timedelta(days=1)).body
    assert again["already_decided"] and again["entry_id"] == done["entry_id"]
    audit(db)
    # A payment after the decision goes back, its fee booked at once.
    out = record_provider_payment(db, provider="stripe", event_id="evt_late", kind="x",
                                  pledge_id=late, amount=5000, fee=180, now=AFTER)
    assert (out["state"], out["refund_reason"]) == ("refund_due", "campaign_decided")
    assert money(db, w)["payment_fees"] == 360
    audit(db)
    _refused(db, "campaign.refunds_open", lambda: close_campaign(db, w.campaign_id))
    mark_refund_sent(db, out["refund_id"], actor="t", now=AFTER)
    assert close_campaign(db, w.campaign_id).state == "closed"
    audit(db)


def test_outcome_refusals(db: Database) -> None:
    draft = build_world(db, live=False)
    _refused(db, "campaign.not_live", lambda: decide_outcome(db, draft.campaign_id, now=AFTER))
    _refused(db, "campaign.not_found", lambda: decide_outcome(db, 999, now=AFTER))


def test_all_in_succeeds_below_its_goal(db: Database) -> None:
    w = build_world(db, goal=1_000_000, funding_model="all_in")
    _paid(db, pledge(w, w.limited).body["pledge_id"], 5000)
    done = decide_outcome(db, w.campaign_id, now=AFTER).body
    assert (done["state"], done["moved_to_income"]) == ("succeeded", 5000)
    assert money(db, w) == {"bank": 5000, "crowdfunding_income": -5000}
    audit(db)


def test_all_or_nothing_failure_refunds_every_paid_pledge(db: Database) -> None:
    w = build_world(db, goal=1_000_000)
    a = pledge(w, w.limited, method="card").body["pledge_id"]
    b = pledge(w, w.goods, email="b@example.jp").body["pledge_id"]
    c = pledge(w, w.limited, email="c@example.jp").body["pledge_id"]  # never paid
    record_provider_payment(db, provider="stripe", event_id="e1", kind="x", pledge_id=a,
                            amount=5000, fee=180, now=T0)
    _paid(db, b, 3300)
    done = decide_outcome(db, w.campaign_id, now=AFTER).body
    assert (done["state"], done["moved_to_income"], done["fees"]) == ("failed", 0, 180)
    assert [state_of(db, p) for p in (a, b, c)] == ["refund_due", "refund_due", "expired"]
    assert claimed(db, w.limited) == 0
    assert money(db, w) == {"provider_receivable": 4820, "bank": 3300, "pledges_held": -8300,
                            "payment_fees": 180}
    audit(db)
    with db.read() as session:
        refunds = {r.pledge_id: r for r in session.execute(select(Refund)).scalars()}
    card, transfer = refunds[a], refunds[b]
    assert (card.method, transfer.method) == ("provider", "bank_transfer")

    # card: sent through the provider, confirmed
    mark_refund_sent(db, card.id, actor="t", now=AFTER)
    assert state_of(db, a) == "refunded"
    _refused(db, "refund.wrong_state", lambda: mark_refund_sent(db, card.id, actor="t"))
    mark_refund_confirmed(db, card.id, now=AFTER)
    assert money(db, w)["provider_receivable"] == -180  # the provider kept its fee
    audit(db)

    # bank transfer: sent, bounced, retried, bounced, done by hand in cash
    mark_refund_sent(db, transfer.id, actor="t", now=AFTER)
    assert "bank" not in money(db, w)
    _refused(db, "request.invalid", lambda: mark_refund_failed(db, transfer.id, reason=" ",
                                                              actor="t"))
    mark_refund_failed(db, transfer.id, reason="口座なし", actor="t", now=AFTER)
    assert money(db, w)["bank"] == 3300 and state_of(db, b) == "refund_due"
    audit(db)
    _refused(db, "refund.wrong_state", lambda: mark_refund_confirmed(db, transfer.id))
    _refused(db, "campaign.refunds_open", lambda: close_campaign(db, w.campaign_id))
    retried = mark_refund_sent(db, transfer.id, actor="t", now=AFTER).body
    assert retried["attempts"] == 2 and "bank" not in money(db, w)
    mark_refund_failed(db, transfer.id, reason="名義違い", actor="t", now=AFTER)
    by_hand = mark_refund_done_by_hand(db, transfer.id, method="cash", note="窓口で返金",
                                       actor="t", now=AFTER).body
    assert by_hand["state"] == "done_by_hand" and state_of(db, b) == "refunded"
    assert money(db, w) == {"provider_receivable": -180, "bank": 3300, "cash": -3300,
                            "payment_fees": 180}
    _refused(db, "refund.wrong_state", lambda: mark_refund_done_by_hand(
        db, transfer.id, method="cash", note="x", actor="t"))
    _refused(db, "refund.not_found", lambda: mark_refund_sent(db, 999, actor="t"))
    audit(db)
    assert close_campaign(db, w.campaign_id).state == "closed"
    with db.read() as session:
        assert session.get(Campaign, w.campaign_id).state == "closed"  # type: ignore[union-attr]
