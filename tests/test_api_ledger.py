"""The treasurer's ledger API: the auditor's checks and the trial balance (JSON and CSV),
through Litestar's TestClient on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text

from apps import client_for
from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.auth.service import issue_api_token
from oflocal.db.engine import Database
from oflocal.demo import Scenario, build_event
from oflocal.ledger.verify import trial_balance
from oflocal.reports.exports import TRIAL_HEADER
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.redeem import redeem_tickets

ROLES = ("admin", "desk", "treasurer")


class Ledger:
    def __init__(self, client: TestClient[Litestar], db: Database, scenario: Scenario,
                 tokens: dict[str, str]) -> None:
        self.client, self.db, self.scenario, self.tokens = client, db, scenario, tokens

    def get(self, who: str | None, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.get("/api/v1" + path, headers=headers, **kwargs)


def _tickets(db: Database, booklet_code: str) -> list[str]:
    with db.read() as session:
        return list(session.execute(
            text("SELECT t.code FROM ticket t JOIN booklet b ON b.id = t.booklet_id "
                 "WHERE b.code = :c ORDER BY t.serial"), {"c": booklet_code}).scalars())


@pytest.fixture
def ledger(db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path) -> Iterator[Ledger]:
    with db.write() as session:
        scenario = build_event(session, signer, workshops=3, booklets=5)
        users = [StaffUser(username=f"l-{r}", display_name=r, role=r, password_hash="!",
                           created_at=clock.now()) for r in ROLES]
        session.add_all(users)
        session.flush()
        ids = {u.role: u.id for u in users}
    tokens = {r: issue_api_token(db, name=r, staff_user_id=ids[r]) for r in ROLES}
    tokens["workshop"] = issue_api_token(db, name="w", workshop_id=scenario.workshop_ids[0])
    # Money moves: 3 booklets sold (two ways), 4 tickets redeemed at two workshops.
    sell_booklets(db, signer, programme_id=scenario.programme_id,
                  codes=scenario.booklet_codes[:2], payment_method="cash", actor="t")
    sell_booklets(db, signer, programme_id=scenario.programme_id,
                  codes=scenario.booklet_codes[2:3], payment_method="card", actor="t")
    codes = _tickets(db, scenario.booklet_codes[0])
    redeem_tickets(db, signer, workshop_id=scenario.workshop_ids[0], codes=codes[:3])
    redeem_tickets(db, signer, workshop_id=scenario.workshop_ids[1], codes=codes[3:4])
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        yield Ledger(client, db, scenario, tokens)


def test_verify_reports_every_check(ledger: Ledger) -> None:
    for who in ("admin", "treasurer"):
        response = ledger.get(who, "/ledger/verify")
        assert response.status_code == 200, response.text
        out = response.json()
        assert out["ok"] is True
        names = [c["name"] for c in out["checks"]]
        assert "every entry balances" in names and "sum of all balances is zero" in names
        assert all(set(c) == {"name", "ok", "detail"} and c["ok"] for c in out["checks"])
        assert len(out["checks"]) >= 10


def test_verify_says_what_is_wrong(ledger: Ledger) -> None:
    # Break an identity behind the ledger's back: the programme's sold counter drifts.
    pid = ledger.scenario.programme_id
    with ledger.db.write() as session:
        session.execute(text("UPDATE programme SET booklets_sold = booklets_sold + 1 "
                             "WHERE id = :p"), {"p": pid})
    out = ledger.get("treasurer", "/ledger/verify")
    assert out.status_code == 200
    body = out.json()
    assert body["ok"] is False
    failing = [c for c in body["checks"] if not c["ok"]]
    assert [c["name"] for c in failing] == [
        f"premium spent P{pid} = premium of booklets sold, within budget"]
    assert "sales 1500, counter 2000" in failing[0]["detail"]


def test_ledger_routes_are_for_money_roles(ledger: Ledger) -> None:
    eid = ledger.scenario.event_id
    for path in ("/ledger/verify", f"/events/{eid}/trial-balance",
                 f"/events/{eid}/trial-balance?format=csv"):
        for who in ("desk", "workshop"):
            response = ledger.get(who, path)
            assert response.status_code == 403 and response.json()["code"] == "auth.forbidden"
        anonymous = ledger.get(None, path)
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "auth.required"


def test_trial_balance_json(ledger: Ledger) -> None:
    sc = ledger.scenario
    response = ledger.get("treasurer", f"/events/{sc.event_id}/trial-balance")
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["event_id"] == sc.event_id and out["event_slug"] == "demo"
    rows = {r["account"]: r for r in out["rows"]}
    assert (out["start"], out["end"]) == (None, None)  # from the first entry up to now
    assert rows["cash"]["debit"] == 5000 and rows["cash"]["credit"] == 0
    assert rows["provider_receivable"]["debit"] == 2500
    assert rows["premium_fund"]["debit"] == 1500
    liability = rows[f"voucher_liability:P{sc.programme_id}"]
    # the totals of the debits (4 tickets redeemed) and credits (3 booklets sold), not nets
    assert (liability["debit"], liability["credit"], liability["closing"]) == (
        2000, 9000, -7000)
    assert liability["kind_label"] == "負債 Liability"
    assert rows[f"payable:W{sc.workshop_ids[0]}"]["credit"] == 1500
    assert rows[f"payable:W{sc.workshop_ids[1]}"]["credit"] == 500
    assert rows[f"payable:W{sc.workshop_ids[2]}"] == {
        **rows[f"payable:W{sc.workshop_ids[2]}"], "opening": 0, "debit": 0, "credit": 0,
        "closing": 0, "balance": 0}
    for row in out["rows"]:
        assert isinstance(row["debit"], int) and isinstance(row["credit"], int)
        assert row["debit"] >= 0 and row["credit"] >= 0 and row["opening"] == 0
        assert row["balance"] == row["closing"] == row["opening"] + row["debit"] - row["credit"]
    assert out["total_debit"] == sum(r["debit"] for r in out["rows"]) == 9000 + 2000
    assert out["total_credit"] == sum(r["credit"] for r in out["rows"]) == 9000 + 2000
    assert out["balanced"] is True
    with ledger.db.read() as session:  # the same figures as the ledger service
        assert [r["account"] for r in trial_balance(session, sc.event_id)] == list(rows)


def _csv(ledger: Ledger, codec: str, **params: str) -> tuple[list[str], list[list[str]],
                                                              list[str], Any]:
    eid = ledger.scenario.event_id
    response = ledger.get("admin", f"/events/{eid}/trial-balance",
                          params={"format": "csv", **params})
    assert response.status_code == 200, response.text
    table = list(csv.reader(io.StringIO(response.content.decode(codec), newline="")))
    header, *body, total, _debit_balances, _credit_balances = table
    return header, body, total, response


def test_trial_balance_csv_matches_json_and_balances(ledger: Ledger) -> None:
    eid = ledger.scenario.event_id
    as_json = ledger.get("admin", f"/events/{eid}/trial-balance").json()
    header, body, total, response = _csv(ledger, "utf-8-sig")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="trial-balance-demo.csv"' in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Japanese Excel needs
    assert response.content.count(b"\r\n") == len(body) + 4
    assert tuple(header) == TRIAL_HEADER
    assert header[:6] == ["勘定コード", "勘定科目", "区分", "期首残高", "借方合計", "貸方合計"]
    assert total[0].startswith("合計")
    sign = {"asset": 1, "expense": 1, "liability": -1, "equity": -1, "income": -1}
    assert [(r[0], r[1], r[2], int(r[4]), int(r[5]), int(r[6])) for r in body] == [
        (r["account"], r["name"], r["kind_label"], r["debit"], r["credit"],
         sign[r["kind"]] * r["closing"]) for r in as_json["rows"]]
    debit, credit = int(total[4]), int(total[5])
    assert debit == sum(int(r[4]) for r in body) == as_json["total_debit"]
    assert credit == sum(int(r[5]) for r in body) == as_json["total_credit"]
    assert debit - credit == 0 and debit > 0
    assert all(str(int(cell)) == cell for row in [*body, total] for cell in row[4:6])


def test_trial_balance_csv_in_shift_jis(ledger: Ledger) -> None:
    _, utf8_body, utf8_total, _ = _csv(ledger, "utf-8-sig")
    header, body, total, response = _csv(ledger, "cp932", encoding="shift_jis")
    assert response.headers["content-type"] == "text/csv; charset=Shift_JIS"
    assert not response.content.startswith(b"\xef\xbb\xbf")
    assert tuple(header) == TRIAL_HEADER
    assert (body, total) == (utf8_body, utf8_total)
    wrong = ledger.get("admin", f"/events/{ledger.scenario.event_id}/trial-balance",
                       params={"format": "csv", "encoding": "latin-1"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "request.invalid"


def test_trial_balance_of_an_empty_event_and_bad_requests(ledger: Ledger) -> None:
    with ledger.db.write() as session:
        other = build_event(session, CodeSigner(b"x" * 32), slug="quiet", workshops=1,
                            booklets=0)
    out = ledger.get("treasurer", f"/events/{other.event_id}/trial-balance").json()
    assert out["total_debit"] == out["total_credit"] == 0 and out["balanced"] is True
    assert all(r["debit"] == r["credit"] == 0 for r in out["rows"])
    missing = ledger.get("treasurer", "/events/999999/trial-balance")
    assert missing.status_code == 404 and missing.json()["code"] == "event.not_found"
    missing_csv = ledger.get("treasurer", "/events/999999/trial-balance?format=csv")
    assert missing_csv.status_code == 404 and missing_csv.json()["code"] == "event.not_found"
    wrong = ledger.get("treasurer", f"/events/{other.event_id}/trial-balance?format=xlsx")
    assert wrong.status_code == 422 and wrong.json()["code"] == "request.invalid"
