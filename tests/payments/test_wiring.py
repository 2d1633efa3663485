"""Stripe wired into the crowdfunding domain (crowdfunding/provider_payments.py and
``POST /api/v1/payments/stripe/webhook``), on SQLite and PostgreSQL, with the real
``stripe`` client against the local stand-in and webhooks signed with the test secret:

* a card pledge paid by webhook: pledges held +amount, the event recorded once;
* the webhook storm: 1,000 signed deliveries for 500 pledges (20 % duplicates, shuffled,
  some late after their reservation expired), over HTTP to a real server with 2
  workers from several threads: each pledge paid at most once, the late ones whose
  stock was gone refunded through Stripe, the auditor clean; a wrong or stale
  signature is refused with 400 and changes nothing;
* reconcile pays a payment whose webhook never came, once;
* a konbini voucher that expires releases the reservation.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from stripe_standin import API_KEY, WEBHOOK_SECRET, StripeStandIn

sys.path.insert(0, str(Path(__file__).parents[1] / "crowdfunding"))
sys.path.insert(0, str(Path(__file__).parents[1]))

from cf_world import LEGAL, audit, balances, snapshot

from apps import client_for
from oflocal import clock
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.models import (
    Payment,
    Pledge,
    ProviderEvent,
    Refund,
    Reward,
)
from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge
from oflocal.crowdfunding.provider_payments import (
    handle_stripe_webhook,
    reconcile,
    start_card_or_konbini,
)
from oflocal.crowdfunding.sweep import expire_reservations
from oflocal.db.engine import Database
from oflocal.demo import build_event, describe_demo_committee
from oflocal.payments.stripe_provider import StripeProvider
from oflocal.settings import Jobs, Settings, Stripe
from oflocal.vouchers.codes import CodeSigner
from serverutil import running_server, server_log

WEBHOOK = "/api/v1/payments/stripe/webhook"
PRICE = 3000


@dataclass
class World:
    db: Database
    event_id: int
    campaign_id: int
    reward_id: int


def live_world(db: Database, *, limit: int | None = None, now: datetime | None = None) -> World:
    """A live campaign around the real now (Stripe's stand-in runs on the real clock)."""
    at = now or clock.now()
    with db.write() as session:
        scenario = build_event(session, CodeSigner(b"k" * 32), slug="wire", workshops=1,
                               booklets=0)
        describe_demo_committee(session, scenario.event_id)  # the account transfers go to
    campaign = create_campaign(
        db, event_id=scenario.event_id, slug="hitsuji", title="ひつじ団", goal=10_000_000,
        starts_at=at - timedelta(hours=2), ends_at=at + timedelta(days=10),
        payment_methods=["card", "konbini", "bank_transfer"], story="支援を", now=at - timedelta(
            hours=2), **LEGAL)
    reward = add_reward(db, campaign.id, title="見学", price=PRICE, quantity_limit=limit,
                        delivery_month="2026-10", items=[{"kind": "tour_invite"}])
    go_live(db, campaign.id, now=at - timedelta(hours=2))
    return World(db, scenario.event_id, campaign.id, reward.id)


def pledge(w: World, n: int, *, method: str = "card", now: datetime | None = None) -> int:
    out = make_pledge(w.db, PledgeRequest(
        campaign_id=w.campaign_id, reward_id=w.reward_id, name=f"支援者{n}",
        email=f"s{n}@example.jp", phone="090-1234-5678", payment_method=method), now=now)
    return int(out.body["pledge_id"])


def settings_for(db: Database, stripe: Stripe, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=db.url, secret_key=b"s" * 32, stripe=stripe,
                    jobs=Jobs(in_process=False))


def pi_of(db: Database, pledge_id: int) -> str:
    with db.read() as session:
        found = session.execute(select(Pledge.provider_payment_id)
                                .where(Pledge.id == pledge_id)).scalar_one()
    assert found is not None
    return str(found)


def states(db: Database) -> Counter[str]:
    with db.read() as session:
        return Counter(dict(session.execute(select(Pledge.state, func.count())
                                            .group_by(Pledge.state)).all()))


@pytest.fixture
def settings(db: Database, stripe_settings: Stripe, tmp_path: Path) -> Settings:
    return settings_for(db, stripe_settings, tmp_path)


def test_card_pledge_paid_by_webhook_once(db: Database, settings: Settings,
                                          standin: StripeStandIn,
                                          provider: StripeProvider) -> None:
    w = live_world(db)
    pid = pledge(w, 1)
    started = start_card_or_konbini(db, settings, pid, provider=provider)
    assert started.client_secret and started.payment_id == pi_of(db, pid)
    # Shown again: resumed, not started again (one PaymentIntent, one create call).
    again = start_card_or_konbini(db, settings, pid, provider=provider)
    assert again.payment_id == started.payment_id
    assert standin.count("POST", "/v1/payment_intents") == 1

    event = standin.pay(started.payment_id)
    body, headers = standin.signed(event)
    with client_for(settings, db) as client:
        first = client.post(WEBHOOK, content=body, headers=headers)
        second = client.post(WEBHOOK, content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "paid" and not first.json()["duplicate"]
    assert second.status_code == 200 and second.json()["duplicate"]
    assert balances(db, w.event_id)["pledges_held"] == -PRICE
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(ProviderEvent)
                               .where(ProviderEvent.event_id == event["id"])).scalar_one() == 1
        payment = session.execute(select(Payment)).scalar_one()
    assert (payment.source, payment.provider_ref, payment.fee) == (
        "provider", started.payment_id, int(PRICE * 0.036))
    audit(db)


def test_reconcile_catches_a_missed_webhook(db: Database, settings: Settings,
                                            standin: StripeStandIn,
                                            provider: StripeProvider) -> None:
    w = live_world(db)
    paid, waiting = pledge(w, 1), pledge(w, 2)
    for pid in (paid, waiting):
        start_card_or_konbini(db, settings, pid, provider=provider)
    standin.pay(pi_of(db, paid))  # its webhook is lost
    found = reconcile(db, settings, provider=provider)
    assert (found.seen, found.recorded) == (2, 1)
    assert states(db) == {"paid": 1, "reserved": 1}
    assert balances(db, w.event_id)["pledges_held"] == -PRICE
    again = reconcile(db, settings, provider=provider)  # twice: recorded once
    assert again.recorded == 0 and balances(db, w.event_id)["pledges_held"] == -PRICE
    audit(db)


def test_expired_konbini_voucher_releases_the_reservation(
        db: Database, settings: Settings, standin: StripeStandIn,
        provider: StripeProvider) -> None:
    w = live_world(db, limit=1)
    pid = pledge(w, 1, method="konbini")
    started = start_card_or_konbini(db, settings, pid, provider=provider)
    assert started.konbini is not None
    with db.read() as session:
        deadline = session.execute(select(Pledge.payment_deadline)
                                   .where(Pledge.id == pid)).scalar_one()
    assert deadline <= started.konbini.expires_at  # never later than the voucher
    body, headers = standin.signed(standin.expire(started.payment_id))
    result = handle_stripe_webhook(db, settings, body, headers, provider=provider)
    assert result.outcome == "released"
    assert states(db) == {"expired": 1}
    with db.read() as session:
        assert session.execute(select(Reward.claimed)
                               .where(Reward.id == w.reward_id)).scalar_one() == 0
    # The stock is back: another supporter can take it; the same event again: nothing.
    pledge(w, 2, method="konbini")
    assert handle_stripe_webhook(db, settings, body, headers, provider=provider).duplicate
    audit(db)


# --- the storm, over HTTP ------------------------------------------------------------

FRESH, LATE, LIMIT = 440, 60, 470  # 500 pledges; 30 of the late ones find stock left
THREADS = 8


def _start_all(db: Database, settings: Settings, provider: StripeProvider,
               ids: list[int]) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda p: start_card_or_konbini(db, settings, p, provider=provider), ids))


def _deliver(base: str, deliveries: list[tuple[bytes, dict[str, str]]]) -> Counter[int]:
    local = threading.local()
    lock = threading.Lock()
    statuses: Counter[int] = Counter()

    def send(delivery: tuple[bytes, dict[str, str]]) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        body, headers = delivery
        for _attempt in range(5):  # as Stripe does: a 503 is delivered again later
            answer = session.post(base + WEBHOOK, data=body, headers=headers, timeout=60)
            with lock:
                statuses[answer.status_code] += 1
            if answer.status_code != 503:
                break
            time.sleep(0.2)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(send, deliveries))
    return statuses


@pytest.mark.slow
def test_webhook_storm_over_http(db: Database, standin: StripeStandIn,
                                 stripe_settings: Stripe, provider: StripeProvider,
                                 tmp_path: Path) -> None:
    began = time.monotonic()
    settings = settings_for(db, stripe_settings, tmp_path)
    w = live_world(db, limit=LIMIT)
    now = clock.now()
    # 60 card pledges made 40 minutes ago: started, never paid in time, then expired.
    late = [pledge(w, n, now=now - timedelta(minutes=40)) for n in range(LATE)]
    _start_all(db, settings, provider, late)
    assert expire_reservations(db, now=clock.now()) == LATE
    # 440 fresh ones hold 440 of the 470: 30 left for the late payments.
    fresh = [pledge(w, LATE + n) for n in range(FRESH)]
    _start_all(db, settings, provider, fresh)
    ids = late + fresh
    prepared = time.monotonic() - began

    rng = random.Random(11)
    with db.read() as session:
        intents = dict(session.execute(select(Pledge.id, Pledge.provider_payment_id)).all())
    assert len(set(intents.values())) == len(ids)  # one PaymentIntent per pledge
    succeeded, charged = [], []
    for pid in ids:
        for e in (standin.pay(str(intents[pid])),
                  *[e for e in standin.events_for(str(intents[pid]))
                    if e["type"] == "charge.succeeded"]):
            (succeeded if e["type"] == "payment_intent.succeeded" else charged).append(e)
    # 800 distinct events (each pledge's payment_intent.succeeded, 300 charge.succeeded),
    # 200 of them delivered twice (20 %), all shuffled: 1,000 deliveries.
    unique = succeeded + rng.sample(charged, 300)
    deliveries = [standin.signed(e) for e in unique]
    deliveries += [deliveries[i] for i in rng.sample(range(len(deliveries)), 200)]
    rng.shuffle(deliveries)
    assert len(deliveries) == 1000 and len(succeeded) == len(ids)
    delivered = {e["id"] for e in unique}

    env = {"OFLOCAL_STRIPE_SECRET_KEY": API_KEY, "OFLOCAL_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "OFLOCAL_STRIPE_API_BASE": standin.url, "OFLOCAL_WORKERS_IN_PROCESS": "0"}
    with running_server(db.url, tmp_path, workers=2, env=env) as base:
        # A wrong secret and a stale signature: 400, nothing read, nothing changed.
        before = snapshot(db)
        body, headers = standin.signed(unique[0], secret="whsec_wrong")
        wrong = requests.post(base + WEBHOOK, data=body, headers=headers, timeout=30)
        body, headers = standin.signed(unique[0], timestamp=int(time.time()) - 3600)
        stale = requests.post(base + WEBHOOK, data=body, headers=headers, timeout=30)
        assert (wrong.status_code, wrong.json()["code"]) == (400, "payment.signature_invalid")
        assert (stale.status_code, stale.json()["code"]) == (400, "payment.signature_invalid")
        assert snapshot(db) == before
        storm_began = time.monotonic()
        statuses = _deliver(base, deliveries)
        storm = time.monotonic() - storm_began
        # The payment_intent.succeeded events left out of the storm: reconcile pays
        # nothing twice, and pays what no delivered event named (none here).
        found = reconcile(db, settings, provider=provider)
    log = server_log(tmp_path)
    assert statuses[200] == 1000 and set(statuses) <= {200, 503}, (statuses, log[-3000:])
    assert found.recorded == 0, found

    by_state = states(db)
    assert by_state["paid"] == FRESH + (LIMIT - FRESH), by_state
    assert by_state["refunded"] == LATE - (LIMIT - FRESH), by_state
    with db.read() as session:
        payments = session.execute(select(Payment.pledge_id, func.count())
                                   .group_by(Payment.pledge_id)).all()
        assert len(payments) == len(ids) and all(n == 1 for _, n in payments)
        refunds = Counter(session.execute(select(Refund.state, Refund.method)).all())
        recorded = set(session.execute(select(ProviderEvent.event_id)).scalars())
        claimed = session.execute(select(Reward.claimed)
                                  .where(Reward.id == w.reward_id)).scalar_one()
    assert refunds == {("confirmed", "provider"): LATE - (LIMIT - FRESH)}
    assert delivered <= recorded
    assert claimed == LIMIT
    # Stripe refunded exactly those, once each.
    assert standin.count("POST", "/v1/refunds") == LATE - (LIMIT - FRESH)
    assert sum(r["amount"] for r in standin.refunds.values()) == PRICE * (LATE - (LIMIT - FRESH))
    assert balances(db, w.event_id)["pledges_held"] == -PRICE * LIMIT
    audit(db)
    print(f"\nwebhook storm: 1000 deliveries in {storm:.1f} s "
          f"({1000 / storm:.0f}/s, {dict(statuses)}); set-up {prepared:.1f} s; "
          f"whole test {time.monotonic() - began:.1f} s")
