"""Card and konbini from the supporter's pages (web/pages/supporters.py), on SQLite and
PostgreSQL, through HTTP with the Litestar test client, the real ``stripe`` client
pointed at the local stand-in and webhooks signed with the test secret:

* a card pledge: the form offers card and konbini, the final button makes one pledge
  and one PaymentIntent (a double tap and reloads make no other), the result page has
  the card step with the PaymentIntent's client_secret; a signed
  ``payment_intent.succeeded`` pays the pledge and the page says so. Against Stripe's
  own API with a publishable key the page loads Stripe.js, its CSP widened for it;
* a konbini pledge: the voucher (each chain's numbers, the hosted slip, the deadline);
  through the API too (its answer links the page where it is paid);
* no keys: card and konbini are not offered, and a forged form choosing one is refused;
* Stripe down at the final button: the pledge is kept, the page offers to try again,
  and the retry starts the payment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import select
from stripe_standin import StripeStandIn
from test_wiring import PRICE, WEBHOOK, World, live_world, settings_for

from apps import client_for
from oflocal.crowdfunding import links, provider_payments, public
from oflocal.crowdfunding.models import Campaign, Pledge
from oflocal.db.engine import Database
from oflocal.payments.stripe_provider import StripeProvider
from oflocal.settings import Settings, Stripe

BASE = "/c/wire/hitsuji"
SUPPORTER = {"quantity": "1", "name": "山田太郎", "email": "taro@example.jp",
             "phone": "090-1234-5678"}


@pytest.fixture
def settings(db: Database, stripe_settings: Stripe, tmp_path: Path) -> Settings:
    return settings_for(db, stripe_settings, tmp_path)


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with client_for(settings, db) as c:
        yield c


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


def _form(client: TestClient, w: World, method: str) -> dict[str, str]:  # type: ignore[type-arg]
    page = client.get(f"{BASE}/pledge", params={"reward": w.reward_id})
    assert page.status_code == 200, page.text
    return {"_csrf": _field(page.text, "_csrf"), "key": _field(page.text, "key"),
            "reward": str(w.reward_id), "method": method, **SUPPORTER}


def _pledge(client: TestClient, w: World, method: str) -> tuple[str, dict[str, str]]:  # type: ignore[type-arg]
    """Form, final confirmation, the final button: the result page's address."""
    form = _form(client, w, method)
    confirm = client.post(f"{BASE}/pledge", data={**form, "step": "confirm"})
    assert confirm.status_code == 200 and 'id="final-confirmation"' in confirm.text
    sent = client.post(f"{BASE}/pledge", data={**form, "step": "send"}, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    return sent.headers["location"], form


def _only_pledge(db: Database) -> Pledge:
    with db.read() as session:
        return session.execute(select(Pledge)).scalar_one()


def test_card_pledge_pays_through_the_pages(db: Database, settings: Settings,
                                            client: TestClient, standin: StripeStandIn,  # type: ignore[type-arg]
                                            provider: StripeProvider,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    w = live_world(db)
    form = client.get(f"{BASE}/pledge", params={"reward": w.reward_id}).text
    assert 'value="card"' in form and 'value="konbini"' in form
    result, sent_form = _pledge(client, w, "card")
    again = client.post(f"{BASE}/pledge", data={**sent_form, "step": "send"},
                        follow_redirects=False)  # a double tap: the same pledge and page
    assert again.headers["location"] == result

    page = client.get(result)
    pledge = _only_pledge(db)
    pi = standin.intents[str(pledge.provider_payment_id)]
    assert page.status_code == 200 and 'id="card-form"' in page.text
    assert f'data-client-secret="{pi["client_secret"]}"' in page.text
    assert "js.stripe.com" not in page.text  # the stand-in: no Stripe.js
    assert client.get(result).status_code == 200  # reloaded
    assert len(standin.intents) == 1 and standin.count("POST", "/v1/payment_intents") == 1

    # Against Stripe's own API with a publishable key: Stripe.js, and the CSP allows it
    # (the provider of those settings is the stand-in's: nothing leaves the machine).
    live = Stripe(secret_key=settings.stripe.secret_key, publishable_key="pk_test_live_page",
                  webhook_secret=settings.stripe.webhook_secret)
    monkeypatch.setitem(provider_payments._PROVIDERS, live, provider)
    prod = Settings(**{**settings.__dict__, "stripe": live})
    with client_for(prod, db) as browser:
        shown = browser.get(result)
    assert '<script src="https://js.stripe.com/v3/"></script>' in shown.text
    assert 'data-publishable-key="pk_test_live_page"' in shown.text
    assert 'id="card-pay"' in shown.text
    assert "https://js.stripe.com" in shown.headers["content-security-policy"]

    body, headers = standin.signed(standin.pay(pi["id"]))
    paid = client.post(WEBHOOK, content=body, headers=headers)
    assert paid.status_code == 200 and paid.json()["outcome"] == "paid", paid.text
    after = client.get(result)
    assert 'id="payment-received"' in after.text and 'id="card-form"' not in after.text
    assert _only_pledge(db).state == "paid"
    assert len(standin.intents) == 1


def test_konbini_pledge_shows_the_voucher(db: Database, client: TestClient,  # type: ignore[type-arg]
                                          standin: StripeStandIn) -> None:
    w = live_world(db)
    result, _ = _pledge(client, w, "konbini")
    page = client.get(result)
    pledge = _only_pledge(db)
    voucher = standin.intents[str(pledge.provider_payment_id)]["next_action"][
        "konbini_display_details"]
    assert page.status_code == 200 and 'id="konbini-voucher"' in page.text
    for store in ("lawson", "familymart"):
        numbers = voucher["stores"][store]
        assert numbers["confirmation_number"] in page.text
        assert numbers["payment_code"] in page.text
    assert f'href="{voucher["hosted_voucher_url"]}"' in page.text
    # The deadline shown is the voucher's last day, 23:59 Tokyo.
    assert re.search(r'id="pay-deadline">[^<]*23:59', page.text)
    assert pledge.payment_deadline.timestamp() <= voucher["expires_at"] + 1
    assert len(standin.intents) == 1

    # Through the API: the PaymentIntent at once, and the page where it is paid.
    made = client.post(f"/api/v1/public/campaigns/{w.campaign_id}/pledges",
                       headers={"Idempotency-Key": "api-konbini-1"},
                       json={"reward_id": w.reward_id, "payment_method": "konbini",
                             "name": "佐藤花子", "email": "hanako@example.jp",
                             "phone": "090-1111-2222"})
    assert made.status_code == 201, made.text
    page_url = made.json()["instructions"]["payment_page"]
    assert page_url.startswith(links.public_url()) and len(standin.intents) == 2
    assert 'id="konbini-voucher"' in client.get(page_url[len(links.public_url()):]).text


def test_without_keys_card_and_konbini_are_not_offered(db: Database, tmp_path: Path) -> None:
    w = live_world(db)
    off = settings_for(db, Stripe(), tmp_path)
    with client_for(off, db) as client:
        page = client.get(f"{BASE}/pledge", params={"reward": w.reward_id}).text
        assert 'value="bank_transfer"' in page
        assert 'value="card"' not in page and 'value="konbini"' not in page
        forged = client.post(f"{BASE}/pledge", data={**_form(client, w, "card"),
                                                     "step": "send"})
        assert forged.status_code == 422
        assert "このお支払い方法（card）はこのクラウドファンディングでは使えません" in forged.text
        api = client.get(f"/api/v1/public/campaigns/{w.campaign_id}").json()
        assert api["payment_methods"] == ["bank_transfer"]
    with db.read() as session:
        assert session.execute(select(Pledge)).first() is None
        campaign = session.get(Campaign, w.campaign_id)
        assert campaign is not None
        # Konbini needs the secret key only; card the browser's publishable key too.
        konbini_only = Stripe(secret_key="sk_test_x", webhook_secret="whsec_x")
        assert public.offered_methods(campaign, konbini_only) == ("konbini", "bank_transfer")


def test_stripe_down_keeps_the_pledge_and_the_retry_starts_it(
        db: Database, client: TestClient, standin: StripeStandIn) -> None:  # type: ignore[type-arg]
    w = live_world(db)
    standin.fail_next = 3  # more than the client's two retries
    result, _ = _pledge(client, w, "card")
    page = client.get(result)
    assert page.status_code == 200 and 'id="retry-form"' in page.text
    assert 'id="payment-not-started"' in page.text
    pledge = _only_pledge(db)
    assert (pledge.state, pledge.provider_payment_id, pledge.total) == ("reserved", None, PRICE)
    assert not standin.intents

    retried = client.post(f"{result}/pay", data={"_csrf": _field(page.text, "_csrf")},
                          follow_redirects=False)
    assert retried.status_code == 303 and retried.headers["location"] == result
    shown = client.get(result)
    assert 'id="card-form"' in shown.text and len(standin.intents) == 1
    assert _only_pledge(db).provider_payment_id in standin.intents
