"""The treasurer's entries and the bank reconciliation over the JSON API (Litestar's
TestClient, SQLite and PostgreSQL): posting with a receipt, a retry with the same key,
a refused receipt, reversing once, the reconciliation's figures, who may use them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from apps import client_for
from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.auth.service import issue_api_token
from oflocal.db.engine import Database
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner
from test_idempotent_routes import row_counts
from treasury_world import PDF, TreasuryWorld, b64, balance, make_treasury_world


class Api:
    def __init__(self, client: TestClient[Litestar], world: TreasuryWorld,
                 tokens: dict[str, str]) -> None:
        self.client, self.world, self.tokens = client, world, tokens

    def call(self, method: str, path: str, body: Any = None, *, who: str = "treasurer",
             key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.request(method, "/api/v1" + path, headers=headers, json=body)


@pytest.fixture
def api(db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path) -> Iterator[Api]:
    world = make_treasury_world(db, signer)
    with db.write() as session:
        users = [StaffUser(username=f"t-{r}", display_name=r, role=r, password_hash="!",
                           created_at=clock.now()) for r in ("treasurer", "desk")]
        session.add_all(users)
        session.flush()
        ids = {u.role: u.id for u in users}
    tokens = {r: issue_api_token(db, name=r, staff_user_id=i) for r, i in ids.items()}
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        yield Api(client, world, tokens)


def today() -> str:
    return clock.tokyo_date(clock.now()).isoformat()


def subsidy(**extra: Any) -> dict[str, Any]:
    return {"kind": "subsidy", "amount": 300_000, "business_date": today(),
            "description": "商品券プレミアム分補助金", "counterparty": "高岡市",
            "credit_account": "premium_fund", **extra}


def test_a_voucher_with_its_receipt_posts_once(api: Api) -> None:
    w = api.world
    path = f"/events/{w.event_id}/treasury/entries"
    fund = balance(w.db, w.event_id, "premium_fund")
    body = subsidy(receipt={"filename": "交付決定通知.pdf", "data_base64": b64(PDF)})
    first = api.call("POST", path, body, key="sub-1")
    assert first.status_code == 201, first.text
    again = api.call("POST", path, body, key="sub-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert balance(w.db, w.event_id, "premium_fund") == fund - 300_000
    listed = api.call("GET", path).json()
    assert [v["voucher_no"] for v in listed] == ["0001"]
    assert listed[0]["attachment"]["content_type"] == "application/pdf"
    receipt = api.call("GET", f"/treasury/entries/{first.json()['id']}/receipt")
    assert receipt.status_code == 200 and receipt.content == PDF
    assert receipt.headers["content-type"].startswith("application/pdf")
    assert api.call("GET", "/ledger/verify").json()["ok"] is True
    without_key = api.call("POST", path, subsidy())
    assert without_key.status_code == 400


def test_a_bad_receipt_is_refused_and_changes_nothing(api: Api) -> None:
    w = api.world
    before = row_counts(w.db)
    html = b64(b"<html><body>not a receipt</body></html>")
    refused = api.call("POST", f"/events/{w.event_id}/treasury/entries",
                       subsidy(receipt={"filename": "r.pdf", "data_base64": html}), key="bad")
    assert refused.status_code == 422 and refused.json()["code"] == "receipt.wrong_type"
    after = row_counts(w.db)
    assert {t: n for t, n in after.items() if t != "idempotency_record"} == \
        {t: n for t, n in before.items() if t != "idempotency_record"}


def test_a_voucher_is_reversed_once(api: Api) -> None:
    w = api.world
    cash = balance(w.db, w.event_id, "cash")
    made = api.call("POST", f"/events/{w.event_id}/treasury/entries",
                    {"kind": "cash_deposit", "amount": 2_000, "business_date": today(),
                     "description": "釣り銭以外を預け入れ"}, key="dep").json()
    assert balance(w.db, w.event_id, "cash") == cash - 2_000
    first = api.call("POST", f"/treasury/entries/{made['id']}/reverse", {"reason": "金額誤り"},
                     key="rev-1")
    assert first.status_code == 201 and first.json()["reverses_id"] == made["id"]
    assert balance(w.db, w.event_id, "cash") == cash
    second = api.call("POST", f"/treasury/entries/{made['id']}/reverse", {"reason": "再度"},
                      key="rev-2")
    assert second.status_code == 409 and second.json()["code"] == "treasury.already_reversed"
    assert api.call("GET", f"/treasury/entries/{made['id']}").json()[
        "reversed_by_voucher_no"] == first.json()["voucher_no"]


def test_reconciliation_over_the_api(api: Api) -> None:
    w = api.world
    path = f"/events/{w.event_id}/treasury/entries"
    api.call("POST", path, {"kind": "cash_deposit", "amount": 10_000, "business_date": today(),
                            "description": "預け入れ"}, key="d1")
    api.call("POST", path, {"kind": "expense", "amount": 440, "business_date": today(),
                            "description": "振込手数料", "debit_account": "bank_fees"}, key="e1")
    first = api.call("GET", f"/events/{w.event_id}/bank-reconciliation?as_of={today()}")
    assert first.status_code == 200, first.text
    lines = first.json()["lines"]
    assert first.json()["ledger_balance"] == balance(w.db, w.event_id, "bank")
    seen = [ln["posting_id"] for ln in lines if ln["amount"] != -440]
    ticked = api.call("PUT", f"/events/{w.event_id}/bank-reconciliation/ticks",
                      {"posting_ids": seen})
    assert ticked.status_code == 200 and ticked.json()["ticked_count"] == len(seen)
    passbook = sum(ln["amount"] for ln in lines if ln["posting_id"] in seen)
    now = api.call("GET", f"/events/{w.event_id}/bank-reconciliation?as_of={today()}"
                          f"&passbook_balance={passbook}").json()
    assert now["difference"] == now["unmatched_total"] == -440 and now["unexplained"] == 0
    kept = api.call("POST", f"/events/{w.event_id}/bank-reconciliations",
                    {"as_of": today(), "passbook_balance": passbook, "note": "通帳記帳後"})
    assert kept.status_code == 201 and kept.json()["difference"] == -440
    listed = api.call("GET", f"/events/{w.event_id}/bank-reconciliations").json()
    assert [r["recorded_by"] for r in listed] == [kept.json()["recorded_by"]]


def test_only_money_roles_see_the_books(api: Api) -> None:
    w = api.world
    assert api.call("GET", f"/events/{w.event_id}/treasury/entries", who="desk"
                    ).status_code == 403
    assert api.call("POST", f"/events/{w.event_id}/treasury/entries", subsidy(), who="desk",
                    key="x").status_code == 403
