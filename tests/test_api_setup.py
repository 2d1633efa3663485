"""The admin/setup API and the request-error contract, through Litestar's TestClient,
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from apps import client_for
from oflocal import clock
from oflocal.audit import verify
from oflocal.auth.models import StaffUser
from oflocal.auth.service import issue_api_token
from oflocal.db.engine import Database
from oflocal.demo import Scenario, build_event
from oflocal.events.models import Event, Workshop
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.models import Programme
from oflocal.web.app import create_app

ERROR_KEYS = {"code", "message", "message_ja", "message_en", "detail"}


@dataclass
class Api:
    client: TestClient[Litestar]
    db: Database
    signer: CodeSigner
    scenario: Scenario
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers(who), **kwargs.pop("headers", {})}
        return self.client.request(method, "/api/v1" + path, headers=headers, **kwargs)


def staff_tokens(db: Database) -> dict[str, str]:
    """One staff user per role, each with an API token (no password: tokens only)."""
    tokens = {}
    with db.write() as session:
        users = [
            StaffUser(username=f"t-{role}", display_name=role, role=role,
                      password_hash="!unusable", created_at=clock.now())
            for role in ("admin", "desk", "treasurer")
        ]
        session.add_all(users)
        session.flush()
        ids = {u.role: u.id for u in users}
    for role, user_id in ids.items():
        tokens[role] = issue_api_token(db, name=role, staff_user_id=user_id)
    return tokens


@pytest.fixture
def api(db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path) -> Iterator[Api]:
    with db.write() as session:
        scenario = build_event(session, signer, workshops=3, booklets=4)
    tokens = staff_tokens(db)
    tokens["workshop"] = issue_api_token(db, name="w", workshop_id=scenario.workshop_ids[0])
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        yield Api(client, db, signer, scenario, tokens)


def assert_refusal(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_KEYS, body
    assert body["code"] == code, body
    return body


def count(db: Database, model: Any, *where: Any) -> int:
    with db.read() as session:
        return int(session.execute(select(func.count()).select_from(model).where(*where))
                   .scalar_one())


EVENT = {
    "slug": "hida-2026",
    "name": "飛騨オープンファクトリー",
    "committee_name": "飛騨OF実行委員会",
    "starts_on": "2026-10-10",
    "ends_on": "2026-10-12",
}
BANK = {
    "bank_code": "0001",
    "branch_code": "123",
    "account_type": 1,
    "account_number": "0034567",
    "account_holder_kana": "ヤマダモッコウ",
}


def workshop_body(code: str = "H01", **extra: Any) -> dict[str, Any]:
    return {"code": code, "name": "山田木工", "name_kana": "ヤマダモッコウ", "craft": "木工",
            "bank": BANK, "invoice_number": "T9234567890123", **extra}


def programme_body(**extra: Any) -> dict[str, Any]:
    today = clock.tokyo_date(clock.now())
    now = clock.now()
    return {
        "name": "工房めぐりチケット",
        "price": 2500,
        "face_value": 3000,
        "denominations": [500] * 6,
        "sales_starts_at": (now - timedelta(days=1)).isoformat(),
        "sales_ends_at": (now + timedelta(days=5)).isoformat(),
        "issue_date": today.isoformat(),
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=30)).isoformat(),
        "premium_budget": 10_000,
        **extra,
    }


# ------------------------------------------------------------------------------ events


def test_events_create_list_detail(api: Api) -> None:
    created = api.call("admin", "POST", "/events", json=EVENT)
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["slug"] == "hida-2026" and isinstance(event["id"], int)
    assert event["id"] != api.scenario.event_id

    listed = api.call("desk", "GET", "/events")
    assert listed.status_code == 200
    assert {e["id"] for e in listed.json()} == {event["id"], api.scenario.event_id}

    detail = api.call("treasurer", "GET", f"/events/{api.scenario.event_id}").json()
    assert detail["workshop_count"] == 3 and detail["participating_count"] == 3
    assert [p["id"] for p in detail["programmes"]] == [api.scenario.programme_id]
    fresh = api.call("admin", "GET", f"/events/{event['id']}").json()
    assert fresh["workshop_count"] == 0 and fresh["programmes"] == []
    with api.db.read() as session:  # the chart of accounts came with it
        accounts = session.execute(
            text("SELECT count(*) FROM account WHERE event_id = :e"), {"e": event["id"]}
        ).scalar_one()
    assert accounts >= 8


def test_duplicate_slug_is_a_clear_409_and_changes_nothing(api: Api) -> None:
    assert api.call("admin", "POST", "/events", json=EVENT).status_code == 201
    again = api.call("admin", "POST", "/events", json={**EVENT, "name": "別の名前"})
    body = assert_refusal(again, 409, "event.slug_taken")
    assert "hida-2026" in body["message_en"] and "hida-2026" in body["message_ja"]
    assert count(api.db, Event, Event.slug == "hida-2026") == 1
    demo = api.call("admin", "POST", "/events", json={**EVENT, "slug": "demo"})
    assert_refusal(demo, 409, "event.slug_taken")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"slug": "Has Spaces"}, "request.invalid"),
        ({"slug": "-leading"}, "request.invalid"),
        ({"slug": "x" * 41}, "request.invalid"),
        ({"ends_on": "2026-10-01"}, "programme.dates_invalid"),
        ({"starts_on": "not a date"}, "request.invalid"),
        ({"unexpected": 1}, "request.invalid"),
    ],
)
def test_event_input_is_checked(api: Api, change: dict[str, Any], code: str) -> None:
    before = count(api.db, Event)
    assert_refusal(api.call("admin", "POST", "/events", json={**EVENT, **change}), 422, code)
    assert count(api.db, Event) == before


def test_event_roles_and_missing_ids(api: Api) -> None:
    assert_refusal(api.call("desk", "POST", "/events", json=EVENT), 403, "auth.forbidden")
    assert_refusal(api.call("workshop", "GET", "/events"), 403, "auth.forbidden")
    assert_refusal(api.client.get("/api/v1/events"), 401, "auth.required")
    assert_refusal(api.call("admin", "GET", "/events/999999"), 404, "event.not_found")
    assert_refusal(api.call("admin", "GET", "/events/999999/workshops"), 404, "event.not_found")


# --------------------------------------------------------------------------- workshops


def test_workshop_bank_numbers_are_masked_for_non_admins(api: Api) -> None:
    event_id = api.scenario.event_id
    made = api.call("admin", "POST", f"/events/{event_id}/workshops",
                    json=workshop_body(pin="4321"))
    assert made.status_code == 201, made.text
    assert made.json()["bank"]["account_number"] == "0034567"
    assert made.json()["pin_set"] is True
    with api.db.read() as session:
        pin_hash = session.get(Workshop, made.json()["id"]).pin_hash  # type: ignore[union-attr]
    assert pin_hash

    for who, expected in (("admin", "0034567"), ("desk", "***4567"), ("treasurer", "***4567")):
        listed = api.call(who, "GET", f"/events/{event_id}/workshops")
        assert listed.status_code == 200
        assert "pin_hash" not in listed.text and pin_hash not in listed.text
        rows = {w["code"]: w for w in listed.json()}
        assert rows["H01"]["bank"]["account_number"] == expected
        if who != "admin":  # no full number of any workshop leaks
            for row in rows.values():
                number = row["bank"]["account_number"]
                assert number.startswith("***") and len(number) == 7
            assert "0034567" not in listed.text
    demo = {w["code"]: w for w in api.call("desk", "GET", f"/events/{event_id}/workshops").json()}
    assert demo["W01"]["bank"]["account_number"] == "***4500"  # demo: 1234500


def test_workshop_pin_given_at_creation_logs_in(api: Api) -> None:
    event_id = api.scenario.event_id
    api.call("admin", "POST", f"/events/{event_id}/workshops", json=workshop_body(pin="4321"))
    login = api.client.post("/api/v1/session/workshop",
                            json={"event": "demo", "workshop_code": "h01", "pin": "4321"})
    assert login.status_code == 200, login.text
    assert login.json()["role"] == "workshop"


def test_duplicate_workshop_code_is_409(api: Api) -> None:
    event_id = api.scenario.event_id
    before = count(api.db, Workshop)
    taken = api.call("admin", "POST", f"/events/{event_id}/workshops",
                     json=workshop_body(code="w01"))  # the demo has W01; codes are upper-cased
    body = assert_refusal(taken, 409, "workshop.code_taken")
    assert body["detail"]["code"] == "W01"
    assert count(api.db, Workshop) == before
    # the same code in another event is fine
    other = api.call("admin", "POST", "/events", json=EVENT).json()
    ok = api.call("admin", "POST", f"/events/{other['id']}/workshops", json=workshop_body("W01"))
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    ("change", "code", "field_name"),
    [
        ({"invoice_number": "T123"}, "workshop.invoice_number_invalid", None),
        ({"invoice_number": "X1234567890123"}, "workshop.invoice_number_invalid", None),
        # the corporate-number check digit (events.invoice): T9234567890123 with a slip
        ({"invoice_number": "T9234567890124"}, "invoice_number.check_digit", None),
        ({"invoice_number": "T1234567890123"}, "invoice_number.check_digit", None),
        ({"bank": {**BANK, "bank_code": "001"}}, "workshop.bank_invalid", "bank.bank_code"),
        ({"bank": {**BANK, "bank_code": "０００１"}}, "workshop.bank_invalid", "bank.bank_code"),
        ({"bank": {**BANK, "branch_code": "1234"}}, "workshop.bank_invalid", "bank.branch_code"),
        ({"bank": {**BANK, "account_number": "34567"}}, "workshop.bank_invalid",
         "bank.account_number"),
        ({"bank": {**BANK, "account_number": "12345a7"}}, "workshop.bank_invalid",
         "bank.account_number"),
        ({"bank": {**BANK, "account_type": 3}}, "workshop.bank_invalid", "bank.account_type"),
        # The transfer file's own check: a bank or branch that zengin-code does not know.
        ({"bank": {**BANK, "bank_code": "0002"}}, "workshop.bank_invalid", "bank.bank_code"),
        ({"bank": {**BANK, "branch_code": "999"}}, "workshop.bank_invalid", "bank.branch_code"),
        ({"bank": {**BANK, "account_holder_kana": "山田木工"}}, "workshop.kana_invalid",
         "bank.account_holder_kana"),
        ({"bank": {**BANK, "account_holder_kana": "   "}}, "workshop.kana_invalid",
         "bank.account_holder_kana"),
        ({"name_kana": "やまだ😀"}, "workshop.kana_invalid", "name_kana"),
        ({"bank": {k: v for k, v in BANK.items() if k != "account_type"}}, "request.invalid",
         None),
        ({"code": "W 01"}, "request.invalid", None),
        ({"pin": "12ab"}, "request.invalid", None),
        ({"name": ""}, "request.invalid", None),
    ],
)
def test_workshop_input_is_checked(api: Api, change: dict[str, Any], code: str,
                                   field_name: str | None) -> None:
    before = count(api.db, Workshop)
    response = api.call("admin", "POST", f"/events/{api.scenario.event_id}/workshops",
                        json=workshop_body(**change))
    body = assert_refusal(response, 422, code)
    if field_name:
        assert body["detail"]["field"] == field_name
    assert count(api.db, Workshop) == before


def test_a_number_failing_the_check_digit_is_stored_once_confirmed(api: Api) -> None:
    """DOMAIN-JAPAN.md: sole proprietors' and voluntary bodies' numbers may not follow the
    corporate rule, so a failed check is a warning to confirm, not a final refusal."""
    path = f"/events/{api.scenario.event_id}/workshops"
    body = workshop_body("H07", invoice_number="T1234567890123")
    assert_refusal(api.call("admin", "POST", path, json=body), 422,
                   "invoice_number.check_digit")
    made = api.call("admin", "POST", path, json={**body, "confirm_invoice_number": True})
    assert made.status_code == 201, made.text
    assert made.json()["invoice_number"] == "T1234567890123"
    wid = made.json()["id"]
    assert_refusal(api.call("admin", "PATCH", f"/workshops/{wid}",
                            json={"invoice_number": "T9234567890124"}), 422,
                   "invoice_number.check_digit")
    changed = api.call("admin", "PATCH", f"/workshops/{wid}",
                       json={"invoice_number": "T9234567890124", "confirm_invoice_number": True})
    assert changed.status_code == 200 and changed.json()["invoice_number"] == "T9234567890124"


def test_half_width_kana_and_no_bank_are_accepted(api: Api) -> None:
    body = workshop_body(bank={**BANK, "account_holder_kana": "ﾔﾏﾀﾞ ﾓｯｺｳ(ｶ"}, invoice_number=None)
    made = api.call("admin", "POST", f"/events/{api.scenario.event_id}/workshops", json=body)
    assert made.status_code == 201, made.text
    bare = {k: v for k, v in workshop_body("H02").items() if k not in ("bank", "invoice_number")}
    made = api.call("admin", "POST", f"/events/{api.scenario.event_id}/workshops", json=bare)
    assert made.status_code == 201, made.text
    assert made.json()["bank"] is None and made.json()["pin_set"] is False


def test_patch_workshop(api: Api) -> None:
    wid = api.scenario.workshop_ids[0]
    path = f"/workshops/{wid}"
    changed = api.call("admin", "PATCH", path, json={"participating": False, "craft": "鋳物"})
    assert changed.status_code == 200, changed.text
    out = changed.json()
    assert out["participating"] is False and out["craft"] == "鋳物"
    assert out["name"] == "大野木工所"  # untouched
    with api.db.read() as session:
        row = session.get(Workshop, wid)
        assert row is not None and row.participating is False and row.craft == "鋳物"

    new_bank = {**BANK, "account_number": "7654321"}
    out = api.call("admin", "PATCH", path,
                   json={"bank": new_bank, "invoice_number": "T9999999999999"}).json()
    assert out["bank"]["account_number"] == "7654321"
    assert out["invoice_number"] == "T9999999999999"
    out = api.call("admin", "PATCH", path, json={"bank": None, "invoice_number": None}).json()
    assert out["bank"] is None and out["invoice_number"] is None
    with api.db.read() as session:
        row = session.get(Workshop, wid)
        assert row is not None and row.account_number is None and row.bank_code is None

    assert_refusal(api.call("admin", "PATCH", path, json={"name": None}), 422, "request.invalid")
    assert_refusal(api.call("admin", "PATCH", path, json={"code": "Z9"}), 422, "request.invalid")
    assert_refusal(api.call("admin", "PATCH", path, json={"bank": {**BANK, "bank_code": "1"}}),
                   422, "workshop.bank_invalid")
    assert_refusal(api.call("admin", "PATCH", path, json={"invoice_number": "T1"}),
                   422, "workshop.invoice_number_invalid")
    assert_refusal(api.call("desk", "PATCH", path, json={"craft": "x"}), 403, "auth.forbidden")
    assert_refusal(api.call("admin", "PATCH", "/workshops/999999", json={"craft": "x"}),
                   404, "workshop.not_found")
    with api.db.read() as session:
        row = session.get(Workshop, wid)
        assert row is not None and row.craft == "鋳物" and row.name == "大野木工所"


def test_reset_pin(api: Api) -> None:
    wid = api.scenario.workshop_ids[1]
    login = {"event": "demo", "workshop_code": "W02", "pin": "8765"}
    assert api.client.post("/api/v1/session/workshop", json=login).status_code == 401
    done = api.call("admin", "PUT", f"/workshops/{wid}/pin", json={"pin": "8765"})
    assert done.status_code == 200, done.text
    assert done.json() == {"workshop_id": wid, "pin_set": True}
    assert "8765" not in done.text
    assert api.client.post("/api/v1/session/workshop", json=login).status_code == 200
    assert_refusal(api.call("admin", "PUT", f"/workshops/{wid}/pin", json={"pin": "12"}),
                   422, "request.invalid")
    assert_refusal(api.call("admin", "PUT", "/workshops/999999/pin", json={"pin": "1234"}),
                   404, "workshop.not_found")
    assert_refusal(api.call("treasurer", "PUT", f"/workshops/{wid}/pin", json={"pin": "1234"}),
                   403, "auth.forbidden")


# -------------------------------------------------------------------------- programmes


def test_programme_within_six_months_has_no_warning(api: Api) -> None:
    made = api.call("admin", "POST", f"/events/{api.scenario.event_id}/programmes",
                    json=programme_body())
    assert made.status_code == 201, made.text
    out = made.json()
    assert out["warnings"] == [] and out["premium_per_booklet"] == 500
    assert out["denominations"] == [500] * 6 and out["validity_override"] is False


def test_six_month_rule_refuses_then_warns_with_override(api: Api) -> None:
    issue = date(2026, 4, 1)
    long_terms = programme_body(issue_date=issue.isoformat(), valid_from=issue.isoformat(),
                                valid_until="2026-10-01")  # 6 months to the day: too long
    path = f"/events/{api.scenario.event_id}/programmes"
    before = count(api.db, Programme)
    refused = api.call("admin", "POST", path, json=long_terms)
    body = assert_refusal(refused, 422, "programme.validity_too_long")
    assert "6" in body["message_ja"] and "Payment Services Act" in body["message_en"]
    assert count(api.db, Programme) == before

    just_inside = {**long_terms, "valid_until": "2026-09-30"}
    made = api.call("admin", "POST", path, json=just_inside)
    assert made.status_code == 201 and made.json()["warnings"] == []

    forced = api.call("admin", "POST", path, json={**long_terms, "validity_override": True})
    assert forced.status_code == 201, forced.text
    out = forced.json()
    assert out["validity_override"] is True
    assert len(out["warnings"]) == 1 and "資金決済法" in out["warnings"][0]
    assert count(api.db, Programme) == before + 2


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"denominations": [500] * 5}, "programme.denominations_mismatch"),
        ({"price": 3500}, "programme.price_above_face"),
        ({"valid_until": "2000-01-01"}, "programme.dates_invalid"),
        ({"sales_starts_at": "2026-05-01T10:00:00"}, "request.invalid"),  # naive: refused
        ({"denominations": [0, 3000]}, "request.invalid"),
        ({"premium_budget": -1}, "request.invalid"),
        ({"price": 10**30}, "request.invalid"),
        ({"breakage_rule": "keep"}, "request.invalid"),
    ],
)
def test_programme_input_is_checked(api: Api, change: dict[str, Any], code: str) -> None:
    before = count(api.db, Programme)
    response = api.call("admin", "POST", f"/events/{api.scenario.event_id}/programmes",
                        json=programme_body(**change))
    assert_refusal(response, 422, code)
    assert count(api.db, Programme) == before


def test_programme_for_missing_event_is_404(api: Api) -> None:
    response = api.call("admin", "POST", "/events/999999/programmes", json=programme_body())
    assert_refusal(response, 404, "event.not_found")


def test_programme_detail_counts_and_budget(api: Api) -> None:
    sc = api.scenario
    sell_booklets(api.db, api.signer, programme_id=sc.programme_id, codes=sc.booklet_codes[:2],
                  payment_method="cash", actor="test")
    voided = api.call("desk", "POST", "/booklets/void",
                      json={"code": sc.booklet_codes[3], "reason": "破損"})
    assert voided.status_code == 200, voided.text
    detail = api.call("desk", "GET", f"/programmes/{sc.programme_id}")
    assert detail.status_code == 200, detail.text
    out = detail.json()
    assert out["booklets"] == {"printed": 4, "in_stock": 1, "sold": 2, "voided": 1}
    assert out["tickets"] == {"in_stock": 6, "active": 12, "redeemed": 0, "voided": 6,
                              "expired": 0}
    assert out["premium"] == {
        "budget": 5_000_000,
        "spent": 1000,
        "remaining": 4_999_000,
        "booklets_left_within_budget": 9998,
    }
    assert [b["number"] for b in out["batches"]] == [1]
    assert out["batches"][0]["first_serial"] == 1 and out["batches"][0]["last_serial"] == 4
    assert_refusal(api.call("desk", "GET", "/programmes/999999"), 404, "programme.not_found")
    assert_refusal(api.call("workshop", "GET", f"/programmes/{sc.programme_id}"),
                   403, "auth.forbidden")


def test_issue_batch_numbers_serials_and_replays(api: Api) -> None:
    sc = api.scenario
    path = f"/programmes/{sc.programme_id}/batches"
    first = api.call("admin", "POST", path, json={"count": 3, "reason": "追加印刷"},
                     headers={"Idempotency-Key": "batch-1"})
    assert first.status_code == 201, first.text
    out = first.json()
    assert (out["number"], out["first_serial"], out["last_serial"], out["booklet_count"]) == (
        2, 5, 7, 3)
    assert out["first_booklet_code"] == api.signer.make("B", sc.programme_id, 5)
    assert out["last_booklet_code"] == api.signer.make("B", sc.programme_id, 7)
    assert "Idempotent-Replayed" not in first.headers

    replay = api.call("admin", "POST", path, json={"count": 3, "reason": "追加印刷"},
                      headers={"Idempotency-Key": "batch-1"})
    assert replay.status_code == 201 and replay.json() == out
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert_refusal(api.call("admin", "POST", path, json={"count": 4},
                            headers={"Idempotency-Key": "batch-1"}),
                   422, "idempotency.key_reused")

    second = api.call("admin", "POST", path, json={"count": 2}).json()  # no key: a new batch
    assert (second["number"], second["first_serial"]) == (3, 8)
    detail = api.call("admin", "GET", f"/programmes/{sc.programme_id}").json()
    assert detail["booklets"]["printed"] == 4 + 3 + 2
    assert detail["tickets"]["in_stock"] == (4 + 3 + 2) * 6

    for bad in ({"count": 0}, {"count": 20001}, {}):
        assert_refusal(api.call("admin", "POST", path, json=bad), 422, "request.invalid")
    assert_refusal(api.call("admin", "POST", "/programmes/999999/batches", json={"count": 1}),
                   404, "programme.not_found")
    assert_refusal(api.call("desk", "POST", path, json={"count": 1}), 403, "auth.forbidden")


def test_expire_after_the_last_day(api: Api) -> None:
    today = clock.tokyo_date(clock.now())
    past = programme_body(issue_date=(today - timedelta(days=20)).isoformat(),
                          valid_from=(today - timedelta(days=20)).isoformat(),
                          valid_until=(today - timedelta(days=1)).isoformat())
    made = api.call("admin", "POST", f"/events/{api.scenario.event_id}/programmes", json=past)
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    batch = api.call("admin", "POST", f"/programmes/{pid}/batches", json={"count": 2}).json()
    sell_booklets(api.db, api.signer, programme_id=pid, codes=[batch["first_booklet_code"]],
                  payment_method="cash", actor="test")

    assert_refusal(api.call("desk", "POST", f"/programmes/{pid}/expire"), 403, "auth.forbidden")
    done = api.call("treasurer", "POST", f"/programmes/{pid}/expire")
    assert done.status_code == 200, done.text
    out = done.json()
    assert (out["programme_id"], out["tickets"], out["amount"]) == (pid, 6, 3000)
    assert isinstance(out["entry_id"], int)
    again = api.call("admin", "POST", f"/programmes/{pid}/expire").json()
    assert (again["tickets"], again["amount"], again["entry_id"]) == (0, 0, None)
    with api.db.read() as session:
        report = verify(session)
    assert report.ok, report.failures

    still_valid = api.call("admin", "POST", f"/programmes/{api.scenario.programme_id}/expire")
    assert_refusal(still_valid, 409, "programme.not_expired")


# ------------------------------------------------------------------------------- staff


def test_staff_users(api: Api) -> None:
    user = {"username": "kaikei2", "display_name": "会計 二号", "role": "treasurer",
            "password": "long-enough-pass"}
    made = api.call("admin", "POST", "/staff-users", json=user)
    assert made.status_code == 201, made.text
    assert made.json()["role"] == "treasurer" and "password" not in made.text
    login = api.client.post("/api/v1/session/staff",
                            json={"username": "kaikei2", "password": "long-enough-pass"})
    assert login.status_code == 200 and login.json()["role"] == "treasurer"

    taken = api.call("admin", "POST", "/staff-users", json={**user, "role": "desk"})
    assert_refusal(taken, 409, "staff.username_taken")
    assert count(api.db, StaffUser, StaffUser.username == "kaikei2") == 1
    for bad in ({"password": "short"}, {"role": "root"}, {"username": "a b c"}):
        assert_refusal(api.call("admin", "POST", "/staff-users", json={**user, **bad}),
                       422, "request.invalid")
    assert_refusal(api.call("treasurer", "POST", "/staff-users", json=user),
                   403, "auth.forbidden")


# -------------------------------------------------------------------- request errors


def _workshop_post(api: Api, path: str, **kwargs: Any) -> Any:
    return api.call("workshop", "POST", path, headers={"Idempotency-Key": "e-1",
                                                       **kwargs.pop("headers", {})}, **kwargs)


def test_wrong_content_type_is_415(api: Api) -> None:
    for content_type in ("text/plain", "application/xml", "application/x-www-form-urlencoded"):
        response = _workshop_post(api, "/redemptions", content=b"codes=hello",
                                  headers={"Content-Type": content_type})
        assert_refusal(response, 415, "request.unsupported_media_type")
    # JSON sent as text/plain (what a cross-site form can post) is refused on setup routes
    before = count(api.db, Event)
    sneaky = api.call("admin", "POST", "/events", content=json.dumps(EVENT).encode(),
                      headers={"Content-Type": "text/plain"})
    assert_refusal(sneaky, 415, "request.unsupported_media_type")
    assert count(api.db, Event) == before
    # a JSON media type with parameters or a +json suffix is JSON
    for content_type in ("application/json; charset=utf-8", "application/vnd.oflocal+json"):
        ok = api.call("admin", "POST", "/events", content=json.dumps(EVENT).encode(),
                      headers={"Content-Type": content_type})
        assert ok.status_code in (201, 409), ok.text


def test_malformed_json_is_422(api: Api) -> None:
    for raw in (b"{bad", b"[1, 2", b"\xff\xfe"):
        response = _workshop_post(api, "/redemptions", content=raw,
                                  headers={"Content-Type": "application/json"})
        assert_refusal(response, 422, "request.invalid")
        malformed = api.call("admin", "POST", "/events", content=raw,
                             headers={"Content-Type": "application/json"})
        assert_refusal(malformed, 422, "request.invalid")
    empty = _workshop_post(api, "/redemptions", json={"codes": []})
    assert empty.status_code == 422


@pytest.mark.parametrize("bad_id", [str(10**30), str(2**63), str(2**31), "-1", "0"])
def test_huge_and_negative_ids_never_500(api: Api, bad_id: str) -> None:
    sale = {"booklet_codes": [api.scenario.booklet_codes[0]]}
    for who, method, path, body in [
        ("admin", "GET", f"/events/{bad_id}", None),
        ("admin", "GET", f"/events/{bad_id}/workshops", None),
        ("treasurer", "GET", f"/events/{bad_id}/trial-balance", None),
        ("admin", "GET", f"/programmes/{bad_id}", None),
        ("admin", "PATCH", f"/workshops/{bad_id}", {"craft": "x"}),
        ("admin", "PUT", f"/workshops/{bad_id}/pin", {"pin": "1234"}),
        ("admin", "POST", f"/events/{bad_id}/programmes", programme_body()),
        ("admin", "POST", f"/programmes/{bad_id}/batches", {"count": 1}),
        ("admin", "POST", f"/programmes/{bad_id}/expire", None),
        ("desk", "POST", f"/programmes/{bad_id}/sales", sale),
        ("workshop", "POST", f"/redemptions/{bad_id}/undo", None),
    ]:
        response = api.call(who, method, path, json=body, headers={"Idempotency-Key": "h-1"})
        assert response.status_code in (404, 422), (method, path, response.text)
        assert set(response.json()) == ERROR_KEYS


def test_wrong_method_and_unknown_path(api: Api) -> None:
    for method, path in [("DELETE", "/events"), ("PUT", "/events"), ("GET", "/redemptions"),
                         ("DELETE", f"/workshops/{api.scenario.workshop_ids[0]}")]:
        assert_refusal(api.call("admin", method, path), 405, "request.method_not_allowed")
    assert_refusal(api.call("admin", "GET", "/no-such-thing"), 404, "request.not_found")
    assert_refusal(api.call("admin", "GET", "/events/abc"), 404, "request.not_found")


def test_database_errors_left_unhandled_are_not_500(db: Database, secret: bytes,
                                                    tmp_path: Path) -> None:
    """The safety net in web/errors.py for a handler that forgot to map one."""

    @get("/api/v1/test/integrity", sync_to_thread=False)
    def integrity() -> None:
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: x.y"))

    @get("/api/v1/test/overflow", sync_to_thread=False)
    def overflow() -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    @get("/api/v1/test/bug", sync_to_thread=False)
    def bug() -> None:
        raise RuntimeError("a real bug")

    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    app = create_app(settings, db, extra_routes=[integrity, overflow, bug])
    with TestClient(app) as client:
        assert_refusal(client.get("/api/v1/test/integrity"), 409, "request.conflict")
        assert_refusal(client.get("/api/v1/test/overflow"), 422, "request.invalid")
        assert_refusal(client.get("/api/v1/test/bug"), 500, "server.error")


def test_error_messages_follow_the_language(api: Api) -> None:
    en = api.call("admin", "GET", "/events/999999", headers={"Accept-Language": "en-GB"}).json()
    ja = api.call("admin", "GET", "/events/999999").json()
    assert en["message"] == en["message_en"] == "There is no such event."
    assert ja["message"] == ja["message_ja"] == "イベントが見つかりません。"


def test_datetimes_come_back_aware(api: Api) -> None:
    out = api.call("admin", "POST", f"/events/{api.scenario.event_id}/programmes",
                   json=programme_body()).json()
    assert datetime.fromisoformat(out["sales_starts_at"]).tzinfo is not None


def test_json_sent_as_text_plain_is_415_on_every_api_router(api: Api) -> None:
    response = _workshop_post(api, "/redemptions", content=json.dumps({"codes": ["x"]}).encode(),
                              headers={"Content-Type": "text/plain"})
    assert_refusal(response, 415, "request.unsupported_media_type")
