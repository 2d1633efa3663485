"""The Stripe provider against the local stand-in, with the real ``stripe`` client."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from stripe_standin import API_KEY, WEBHOOK_SECRET, StripeStandIn, tokyo

from oflocal.payments import (
    PaymentError,
    PaymentRequest,
    ProviderRefused,
    ProviderUnavailable,
    RefundUnsupported,
    SignatureRefused,
    providers,
    receive_event,
    reconcile_event,
)
from oflocal.payments.stripe_provider import StripeProvider, konbini_days
from oflocal.settings import Stripe, from_env

NOW = datetime.now(UTC)


def card(pledge_id: int = 1, amount: int = 3_000) -> PaymentRequest:
    return PaymentRequest(
        pledge_id=pledge_id, amount=amount, method="card", supporter_name="山田 太郎",
        supporter_email="taro@example.jp", supporter_phone="", deadline=NOW + timedelta(days=7),
        description=f"ひつじ団 pledge {pledge_id}",
    )


def konbini(pledge_id: int = 2, amount: int = 5_000, days: float = 5) -> PaymentRequest:
    return replace(card(pledge_id, amount), method="konbini", supporter_name="ヤマダ タロウ",
                   supporter_phone="09012345678", deadline=NOW + timedelta(days=days))


# --- start ---------------------------------------------------------------------------


def test_card_start_twice_with_the_same_key_makes_one_payment_intent(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    first = provider.start(card())
    again = provider.start(card())
    assert first.payment_id == again.payment_id
    assert len(standin.intents) == 1
    assert [r["key"] for r in standin.requests if r["method"] == "POST"] == ["pledge-1"] * 2
    pi = standin.intents[first.payment_id]
    assert pi["metadata"] == {"pledge_id": "1"}
    assert (pi["amount"], pi["currency"], pi["payment_method_types"]) == (3000, "jpy", ["card"])
    assert first.status == "pending" and first.client_secret == pi["client_secret"]
    assert first.konbini is None and first.bank is None
    assert provider.resume(card(), first.payment_id).client_secret == first.client_secret


def test_a_lost_answer_is_retried_and_still_makes_one_payment_intent(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    standin.drop_next = 1  # Stripe made it, the answer never arrived; the client retries
    start = provider.start(card(7))
    assert len(standin.intents) == 1 and start.payment_id in standin.intents
    assert standin.count("POST", "/v1/payment_intents") == 2


def test_a_key_reused_for_another_payment_is_refused(provider: StripeProvider) -> None:
    provider.start(card(3, 3_000))
    with pytest.raises(ProviderRefused) as refused:
        provider.start(card(3, 4_000))  # a reset demo database numbering pledges again
    assert refused.value.facts["reason"] == "idempotency_error"


def test_konbini_voucher_ends_by_the_deadline(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    request = konbini(days=5)
    start = provider.start(request)
    pi = standin.intents[start.payment_id]
    days = pi["payment_method_options"]["konbini"]["expires_after_days"]
    assert days == str(konbini_days(request.deadline, NOW))
    assert start.status == "pending" and start.client_secret is None
    voucher = start.konbini
    assert voucher is not None
    assert sorted(voucher.stores) == ["familymart", "lawson", "ministop", "seicomart"]
    assert voucher.hosted_voucher_url.startswith(standin.url)
    ends = tokyo(int(voucher.expires_at.timestamp()))
    assert (ends.hour, ends.minute, ends.second) == (23, 59, 59)
    assert voucher.expires_at <= request.deadline and start.deadline == voucher.expires_at
    assert provider.fetch(start.payment_id).expires_at == voucher.expires_at


@pytest.mark.parametrize(
    ("deadline", "days"),
    [
        ("2026-05-10T23:59:59+09:00", 7),  # the deadline's own day counts
        ("2026-05-11T00:00:00+09:00", 7),
        ("2026-05-10T18:00:00+09:00", 6),  # else the day before
        ("2026-05-03T12:00:00+09:00", 1),  # at least one day
        ("2026-09-30T12:00:00+09:00", 60),  # at most sixty
    ],
)
def test_konbini_days(deadline: str, days: int) -> None:
    now = datetime.fromisoformat("2026-05-03T10:00:00+09:00")
    assert konbini_days(datetime.fromisoformat(deadline), now) == days


def test_konbini_needs_a_name_and_an_e_mail(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    with pytest.raises(ProviderRefused):
        provider.start(replace(konbini(), supporter_email=""))
    assert standin.requests == []


def test_konbini_expiry_is_a_failed_payment_that_cannot_be_paid(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    start = provider.start(konbini())
    event = standin.expire(start.payment_id)
    received = receive_event(provider, *standin.signed(event))
    assert received.event.type == "payment_intent.payment_failed"
    assert received.payment is not None and not received.paid
    assert received.payment.status == "failed"
    assert received.payment.failure == "payment_intent_payment_attempt_expired"
    assert received.payment.expires_at is None and received.payment.amount_received == 0
    with pytest.raises(AssertionError):
        standin.pay(start.payment_id)


def test_a_declined_card_is_failed_until_paid(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    start = provider.start(card())
    standin.decline(start.payment_id)
    assert provider.fetch(start.payment_id).status == "failed"
    standin.pay(start.payment_id)  # another card, same PaymentIntent
    state = provider.fetch(start.payment_id)
    assert state.paid and state.failure == ""


# --- fetch, fees ---------------------------------------------------------------------


def test_fetch_reads_the_fee_from_the_balance_transaction(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    start = provider.start(card(amount=10_000))
    assert provider.fetch(start.payment_id).fee is None
    standin.pay(start.payment_id, fee=360)
    state = provider.fetch(start.payment_id)
    assert (state.status, state.amount_received, state.fee, state.pledge_id) == (
        "succeeded", 10_000, 360, 1)
    assert state.method == "card" and state.paid_at is not None


def test_no_balance_transaction_yet_means_fee_unknown(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    start = provider.start(konbini())
    standin.pay(start.payment_id, balance=False)
    state = provider.fetch(start.payment_id)
    assert state.paid and state.fee is None and state.method == "konbini"


# --- webhooks ------------------------------------------------------------------------


@pytest.fixture
def paid_event(provider: StripeProvider, standin: StripeStandIn) -> dict[str, object]:
    start = provider.start(card())
    return standin.pay(start.payment_id)


def test_a_genuine_event_is_read(
    provider: StripeProvider, standin: StripeStandIn, paid_event: dict[str, object]
) -> None:
    body, headers = standin.signed(paid_event)
    before = len(standin.requests)
    event = provider.verify_event(body, {k.lower(): v for k, v in headers.items()})
    assert len(standin.requests) == before  # verifying calls nothing
    assert event.id == paid_event["id"] and event.type == "payment_intent.succeeded"
    assert event.payment_id is not None and event.pledge_id == 1
    assert event.key == ("stripe", paid_event["id"])


@pytest.mark.parametrize("case", ["wrong_secret", "stale", "altered", "missing", "garbage"])
def test_a_wrong_or_stale_signature_is_refused_and_changes_nothing(
    provider: StripeProvider, standin: StripeStandIn, paid_event: dict[str, object], case: str
) -> None:
    if case == "wrong_secret":
        body, headers = standin.signed(paid_event, secret="whsec_someone_else")
    elif case == "stale":  # older than the 300 s tolerance
        body, headers = standin.signed(paid_event, timestamp=int(NOW.timestamp()) - 301)
    else:
        body, headers = standin.signed(paid_event)
    if case == "altered":
        body = body.replace(b'"amount": 3000', b'"amount": 3001')
    if case == "missing":
        headers = {}
    if case == "garbage":
        headers = {"Stripe-Signature": "t=abc,v1=nothing"}
    before = len(standin.requests)
    with pytest.raises(SignatureRefused) as refused:
        receive_event(provider, body, headers)
    assert refused.value.status == 400
    assert len(standin.requests) == before


def test_a_signature_within_the_tolerance_is_accepted(
    provider: StripeProvider, standin: StripeStandIn, paid_event: dict[str, object]
) -> None:
    body, headers = standin.signed(paid_event, timestamp=int(datetime.now(UTC).timestamp()) - 290)
    assert provider.verify_event(body, headers).id == paid_event["id"]


def test_a_late_event_is_genuine_and_read_as_the_payment_is_now(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    """Stripe retries for days: an old event, signed at its (late) delivery, is fine."""
    start = provider.start(konbini())
    standin.clock_offset = -3 * 86400
    old = standin.expire(start.payment_id)  # three days ago, said "failed"
    standin.clock_offset = 0
    received = receive_event(provider, *standin.signed(old))
    assert received.event.created < NOW - timedelta(days=2)
    assert received.payment is not None and received.payment.status == "failed"
    assert not received.paid


def test_duplicated_and_reordered_events_read_the_same_and_decide_the_same(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    start = provider.start(card())
    standin.decline(start.payment_id)
    standin.pay(start.payment_id)
    events = standin.events_for(start.payment_id)
    deliveries = events + events[:2] + events[-1:]  # retried deliveries
    random.Random(11).shuffle(deliveries)
    received = [receive_event(provider, *standin.signed(e)) for e in deliveries]
    assert sorted({r.event.id for r in received}) == sorted(e["id"] for e in events)
    # The decision comes from the payment as it is now, whatever event told us: the
    # stale "payment_failed" delivered last still finds the payment paid.
    assert {r.paid for r in received} == {True}
    assert {r.payment_facts()["provider_ref"] for r in received} == {start.payment_id}


def test_webhook_storm_pays_each_pledge_once(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    """The domain's part played by a dict: events recorded once, a pledge paid once."""
    rng = random.Random(2026)
    starts = [provider.start(card(n, 1_000 + n)) for n in range(1, 101)]
    for s in starts:
        if rng.random() < 0.8:
            standin.pay(s.payment_id)
        elif rng.random() < 0.5:
            standin.decline(s.payment_id)
    events = [e for e in standin.events if e["type"] != "payment_intent.created"]
    deliveries = events + rng.sample(events, len(events) // 5)
    rng.shuffle(deliveries)
    recorded: set[tuple[str, str]] = set()
    paid: dict[int, int] = {}
    for event in deliveries:
        got = receive_event(provider, *standin.signed(event))
        if got.event.key in recorded:
            continue
        recorded.add(got.event.key)
        if got.paid:
            facts = got.payment_facts()
            if facts["pledge_id"] not in paid:  # the domain's already_paid refusal
                paid[facts["pledge_id"]] = facts["amount"]
    really_paid = {pi["metadata"]["pledge_id"]: pi["amount"] for pi in standin.intents.values()
                   if pi["status"] == "succeeded"}
    assert {str(k): v for k, v in paid.items()} == really_paid
    assert len(recorded) == len(events)


# --- reconcile -----------------------------------------------------------------------


def test_reconcile_finds_a_payment_whose_webhook_never_came(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    standin.clock_offset = -7200
    old = provider.start(card(1))  # created two hours ago: before `since`
    standin.clock_offset = 0
    since = datetime.now(UTC) - timedelta(minutes=5)
    lost = provider.start(card(2))
    waiting = provider.start(konbini(3))
    standin.route("POST", "/v1/payment_intents", {"amount": "800", "currency": "jpy"})  # not ours
    standin.pay(lost.payment_id, fee=108)
    standin.pay(old.payment_id)
    found = {s.payment_id: s for s in provider.reconcile(since)}
    assert set(found) == {lost.payment_id, waiting.payment_id}
    state = found[lost.payment_id]
    assert state.paid and state.pledge_id == 2 and state.fee == 108
    assert found[waiting.payment_id].status == "pending"
    assert reconcile_event(state).id == reconcile_event(provider.fetch(lost.payment_id)).id
    assert reconcile_event(state).key == ("stripe", f"reconcile:{lost.payment_id}:succeeded")


def test_reconcile_reads_every_page(provider: StripeProvider, standin: StripeStandIn) -> None:
    for n in range(1, 131):
        provider.start(card(n, 500 + n))
    found = provider.reconcile(datetime.now(UTC) - timedelta(minutes=5))
    assert sorted(s.pledge_id or 0 for s in found) == list(range(1, 131))
    assert standin.count("GET", "/v1/payment_intents") == 2  # 100 + 30


# --- refunds -------------------------------------------------------------------------


def test_a_card_refund_is_made_once_per_key(
    provider: StripeProvider, standin: StripeStandIn, paid_event: dict[str, object]
) -> None:
    payment_id = next(iter(standin.intents))
    first = provider.refund(payment_id, 1_000, "refund:1:1")
    again = provider.refund(payment_id, 1_000, "refund:1:1")
    assert first == again and first.status == "succeeded" and first.amount == 1_000
    assert len(standin.refunds) == 1
    assert provider.fetch(payment_id).amount_refunded == 1_000
    with pytest.raises(ProviderRefused) as refused:
        provider.refund(payment_id, 2_001, "refund:1:2")  # only 2,000 left
    assert refused.value.facts["reason"] == "amount_too_large"
    assert provider.refund(payment_id, 2_000, "refund:1:3").status == "succeeded"


def test_a_failed_refund_arrives_as_an_event(
    provider: StripeProvider, standin: StripeStandIn, paid_event: dict[str, object]
) -> None:
    payment_id = next(iter(standin.intents))
    standin.refund_status = "pending"
    refund = provider.refund(payment_id, 3_000, "refund:9:1")
    assert refund.status == "pending"
    event = standin.fail_refund(refund.refund_id)
    received = receive_event(provider, *standin.signed(event))
    assert received.event.refund_id == refund.refund_id
    assert received.refund is not None and received.refund.status == "failed"
    assert received.refund.failure == "expired_or_canceled_card"


def test_konbini_money_cannot_go_back_through_stripe(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    start = provider.start(konbini())
    standin.pay(start.payment_id)
    with pytest.raises(RefundUnsupported):
        provider.refund(start.payment_id, 5_000, "refund:2:1")
    assert standin.count("POST", "/v1/refunds") == 0


# --- failures ------------------------------------------------------------------------


def test_an_outage_is_unavailable_not_a_refusal(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    standin.fail_next = 3  # more than the two retries
    with pytest.raises(ProviderUnavailable) as unavailable:
        provider.start(card())
    assert unavailable.value.status == 503
    assert standin.intents == {}
    standin.fail_next = 1  # one retry cures it
    provider.start(card())
    assert len(standin.intents) == 1


def test_an_unreachable_provider_is_unavailable(stripe_settings: Stripe) -> None:
    standin = StripeStandIn()  # bound, never served, then closed: connection refused
    standin.server.server_close()
    gone = StripeProvider(replace(stripe_settings, api_base=standin.url), max_network_retries=0)
    with pytest.raises(ProviderUnavailable):
        gone.fetch("pi_nothing")


def test_a_wrong_key_is_unavailable(stripe_settings: Stripe) -> None:
    wrong = StripeProvider(replace(stripe_settings, secret_key="sk_test_wrong"))
    with pytest.raises(ProviderUnavailable):
        wrong.fetch("pi_nothing")


def test_an_unknown_payment_is_refused(provider: StripeProvider) -> None:
    with pytest.raises(ProviderRefused) as refused:
        provider.fetch("pi_nothing")
    assert refused.value.facts["reason"] == "resource_missing"


# --- nothing leaves the machine ------------------------------------------------------


def test_the_client_talks_to_the_stand_in_only_and_sends_no_telemetry(
    provider: StripeProvider, standin: StripeStandIn
) -> None:
    start = provider.start(card())
    standin.pay(start.payment_id)
    provider.fetch(start.payment_id)
    provider.fetch(start.payment_id)
    provider.reconcile(NOW - timedelta(hours=1))
    assert stripe.enable_telemetry is False
    host = standin.url.removeprefix("http://")
    assert {r["host"] for r in standin.requests} == {host}
    assert {r["telemetry"] for r in standin.requests} == {None}


# --- settings and the registry -------------------------------------------------------


def test_stripe_is_off_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OFLOCAL_STRIPE_SECRET_KEY", "OFLOCAL_STRIPE_WEBHOOK_SECRET",
                 "OFLOCAL_STRIPE_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    settings = from_env()
    assert not settings.stripe.enabled
    on = providers(settings)
    assert "stripe" not in on and on.methods == ("cash",)
    with pytest.raises(PaymentError) as off:
        on.for_method("card")
    assert off.value.code == "payment.method_unavailable"


def test_stripe_is_on_with_its_keys(
    monkeypatch: pytest.MonkeyPatch, standin: StripeStandIn
) -> None:
    monkeypatch.setenv("OFLOCAL_STRIPE_SECRET_KEY", API_KEY)
    monkeypatch.setenv("OFLOCAL_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("OFLOCAL_STRIPE_API_BASE", standin.url + "/")
    settings = from_env()
    assert settings.stripe.api_base == standin.url
    assert "sk_test" not in repr(settings) and "whsec" not in repr(settings)
    on = providers(settings)
    assert on.methods == ("card", "konbini", "cash")
    assert on.for_method("konbini") is on.by_name("stripe")
    on.for_method("card").start(card())
    assert len(standin.intents) == 1


def test_a_key_without_a_webhook_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        Stripe(secret_key=API_KEY)
