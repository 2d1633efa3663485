"""The crowdfunding staff API on both databases: a campaign set up, refused while its
legal notice is missing (named), live, pledges filtered, a payment recorded once, the
outcome and refunds; every refusal changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from apps import client_for
from cf_staff_world import build, snapshot
from oflocal.auth.service import create_staff_user, issue_api_token
from oflocal.crowdfunding.payments import mark_paid
from oflocal.db.engine import Database
from oflocal.settings import Settings


class Api:
    def __init__(self, client: TestClient[Litestar], token: str) -> None:
        self.client, self.token = client, token

    def call(self, method: str, url: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        return self.client.request(method, f"/api/v1{url}", json=body, headers=headers)


@pytest.fixture
def api(db: Database, secret: bytes, tmp_path: Path) -> Iterator[Api]:
    admin = create_staff_user(db, username="boss", display_name="事務局", role="admin",
                              password="boss password 1")
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        yield Api(client, issue_api_token(db, name="t", staff_user_id=admin))


def test_set_up_and_go_live(api: Api, db: Database) -> None:
    w = build(db, live=False, legal=False)
    made = api.call("POST", f"/events/{w.event_id}/campaigns", {
        "slug": "second", "title": "二つ目", "goal": 50000,
        "starts_at": "2026-06-01T10:00:00+09:00", "ends_at": "2099-07-01T10:00:00+09:00"})
    assert made.status_code == 201 and made.json()["state"] == "draft"
    assert {m["field"] for m in made.json()["missing_legal_items"]} >= {"representative"}
    before = snapshot(db)
    refused = api.call("POST", f"/campaigns/{w.campaign_id}/go-live")
    assert refused.status_code == 409 and refused.json()["code"] == "campaign.legal_missing"
    assert "運営責任者" in refused.json()["message_ja"] and snapshot(db) == before
    taken = api.call("POST", f"/events/{w.event_id}/campaigns", {
        "slug": "second", "title": "x", "goal": 1,
        "starts_at": "2026-06-01T10:00:00+09:00", "ends_at": "2099-07-01T10:00:00+09:00"})
    assert taken.status_code == 409 and taken.json()["code"] == "campaign.slug_taken"
    legal = {"representative": "山田", "price_note": "税込", "extra_charges": "なし",
             "payment_terms": "7日以内", "delivery_terms": "10月", "cancellation_terms": "可"}
    assert api.call("PATCH", f"/campaigns/{w.campaign_id}", legal).status_code == 200
    lax = api.call("POST", f"/campaigns/{w.campaign_id}/rewards", {
        "title": "券", "price": 1000, "delivery_month": "2026-09",
        "items": [{"kind": "voucher_booklets", "programme_id": w.programme_id, "count": "1"}]})
    assert lax.status_code == 422 and snapshot(db)[0] == before[0]
    reward = api.call("POST", f"/campaigns/{w.campaign_id}/rewards", {
        "title": "券", "price": 1000, "delivery_month": "2026-09",
        "items": [{"kind": "voucher_booklets", "programme_id": w.programme_id, "count": 1}]})
    assert reward.status_code == 201 and reward.json()["number"] == 3
    live = api.call("POST", f"/campaigns/{w.campaign_id}/go-live")
    assert live.status_code == 200 and live.json()["state"] == "live"
    locked = api.call("PATCH", f"/campaigns/{w.campaign_id}", {"goal": 1})
    assert locked.status_code == 409 and locked.json()["code"] == "campaign.field_locked"
    detail = api.call("GET", f"/campaigns/{w.campaign_id}").json()
    assert detail["missing_legal_items"] == [] and len(detail["rewards"]) == 3


def test_pledges_payment_outcome_and_refunds(api: Api, db: Database) -> None:
    w = build(db, ended=True, goal=100_000)
    paid = w.pledge(email="a@example.jp")
    w.pledge(w.free, email="b@example.jp")
    listed = api.call("GET", f"/campaigns/{w.campaign_id}/pledges?state=reserved"
                             f"&reward_id={w.limited}").json()
    assert listed["total"] == 1 and listed["pledges"][0]["reference"] == paid["reference"]
    found = api.call("GET", f"/campaigns/{w.campaign_id}/pledges?q=b%40example").json()
    assert found["total"] == 1 and found["pledges"][0]["reward_title"] == "応援"

    url = f"/pledges/{paid['pledge_id']}/payment"
    before = snapshot(db)
    assert api.call("POST", url, {"source": "bank", "amount": 5000}).status_code == 400
    wrong = api.call("POST", url, {"source": "bank", "amount": 4000}, key="p0")
    assert wrong.status_code == 409 and wrong.json()["code"] == "pledge.payment_amount_mismatch"
    assert snapshot(db) == before
    # After the end, an unpaid reservation inside its deadline is still paid normally.
    first = api.call("POST", url, {"source": "bank", "amount": 5000}, key="p1")
    again = api.call("POST", url, {"source": "bank", "amount": 5000}, key="p1")
    assert first.status_code == 201 and again.json() == first.json()
    assert api.call("POST", url, {"source": "cash", "amount": 5000},
                    key="p2").json()["code"] == "pledge.already_paid"

    decided = api.call("POST", f"/campaigns/{w.campaign_id}/outcome")
    assert decided.status_code == 200, decided.text
    # the free pledge's reservation expired long ago: nothing to wait for; below the goal
    assert decided.json()["state"] == "failed" and decided.json()["raised"] == 5000


def test_refund_steps(api: Api, db: Database) -> None:
    w = build(db, ended=True, goal=100_000)
    body = w.pledge()
    mark_paid(db, body["pledge_id"], source="bank", amount=5000, actor="t",
              now=w.starts + (w.ends - w.starts) / 2)
    # the pledge's reservation is paid: nothing is waiting, the outcome is failure
    assert api.call("POST", f"/campaigns/{w.campaign_id}/outcome").json()["state"] == "failed"
    refunds = api.call("GET", f"/campaigns/{w.campaign_id}/refunds?state=requested").json()
    assert len(refunds) == 1 and refunds[0]["reason"] == "campaign_failed"
    rid = refunds[0]["id"]
    before = snapshot(db)
    wrong = api.call("POST", f"/refunds/{rid}/confirmed")
    assert wrong.status_code == 409 and wrong.json()["code"] == "refund.wrong_state"
    assert snapshot(db) == before
    assert api.call("POST", f"/refunds/{rid}/sent", key="s1").json()["state"] == "sent"
    assert api.call("POST", f"/refunds/{rid}/failed", {"reason": "口座なし"}).json()[
        "state"] == "failed"
    done = api.call("POST", f"/refunds/{rid}/by-hand", {"method": "cash", "note": "受付で"},
                    key="h1")
    assert done.json()["state"] == "done_by_hand" and done.json()["attempts"] == 2
