"""The settlement JSON API on both databases: role guards (treasurer and admin only; a
workshop sees only its own statements), closing, paying, downloads and Zengin."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import update

from apps import client_for
from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.auth.service import issue_api_token
from oflocal.db.engine import Database
from oflocal.events.models import Workshop
from oflocal.settings import Settings
from oflocal.settlement.bank_days import next_bank_day
from oflocal.vouchers.codes import CodeSigner, grouped
from test_settlement import World, make_world

STAFF = ("admin", "desk", "treasurer")


class Api:
    def __init__(self, client: TestClient[Litestar], world: World, tokens: dict[str, str]) -> None:
        self.client, self.world, self.tokens = client, world, tokens

    def _headers(self, who: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return {**headers, **(extra or {})}

    def get(self, who: str | None, path: str, **kw: Any) -> Any:
        return self.client.get("/api/v1" + path, headers=self._headers(who), **kw)

    def post(self, who: str | None, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> Any:
        """A client sends a fresh Idempotency-Key with every write unless told otherwise."""
        headers = {"Idempotency-Key": uuid.uuid4().hex, **(headers or {})}
        return self.client.post("/api/v1" + path, json=body, headers=self._headers(who, headers))

    def put(self, who: str | None, path: str, body: Any) -> Any:
        return self.client.put("/api/v1" + path, json=body, headers=self._headers(who))


@pytest.fixture
def api(db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path) -> Iterator[Api]:
    world = make_world(db, signer)
    with db.write() as session:
        users = [StaffUser(username=f"s-{r}", display_name=r, role=r, password_hash="!",
                           created_at=clock.now()) for r in STAFF]
        session.add_all(users)
        session.flush()
        ids = {u.role: u.id for u in users}
    tokens = {r: issue_api_token(db, name=r, staff_user_id=ids[r]) for r in STAFF}
    for i in range(3):
        tokens[f"w{i}"] = issue_api_token(db, name=f"w{i}", workshop_id=world.sc.workshop_ids[i])
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        yield Api(client, world, tokens)


def test_only_treasurer_and_admin_settle(api: Api) -> None:
    w = api.world
    w.redeem(0, 2, minutes=0)
    w.redeem(1, 1, minutes=0)
    event = w.sc.event_id
    for who in (None, "desk", "w0"):
        closed = api.post(who, f"/events/{event}/settlement/periods",
                          {"cutoff_at": w.at(5).isoformat()})
        assert closed.status_code in (401, 403), (who, closed.text)
        assert closed.json()["code"] in ("auth.required", "auth.forbidden")
        assert api.get(who, f"/events/{event}/settlement/periods").status_code in (401, 403)
    first = api.post("treasurer", f"/events/{event}/settlement/periods",
                     {"cutoff_at": w.at(5).isoformat()})
    assert first.status_code == 201, first.text
    period = first.json()
    assert (period["number"], period["face_total"], period["workshops"]) == (1, 1500, 2)
    again = api.post("admin", f"/events/{event}/settlement/periods",
                     {"cutoff_at": w.at(5).isoformat()})
    assert again.status_code == 200 and again.json()["period_id"] == period["period_id"]
    listed = api.get("admin", f"/events/{event}/settlement/periods").json()
    assert [p["period_id"] for p in listed] == [period["period_id"]]
    detail = api.get("treasurer", f"/settlement/periods/{period['period_id']}").json()
    assert {ln["workshop_code"]: ln["net"] for ln in detail["lines"]} == {"W01": 1000, "W02": 500}
    assert all(ln["bank_account"].startswith("普通 ***") for ln in detail["lines"])

    pid = period["period_id"]
    day = next_bank_day(clock.tokyo_date(w.at(5))).isoformat()
    assert api.post("desk", f"/settlement/periods/{pid}/paid", {"transfer_date": day}
                    ).status_code == 403
    paid = api.post("treasurer", f"/settlement/periods/{pid}/paid", {"transfer_date": day},
                    headers={"Idempotency-Key": "pay-1"})
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    replay = api.post("treasurer", f"/settlement/periods/{pid}/paid", {"transfer_date": day},
                      headers={"Idempotency-Key": "pay-1"})
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    twice = api.post("admin", f"/settlement/periods/{pid}/paid", {"transfer_date": day})
    assert twice.status_code == 409 and twice.json()["code"] == "settlement.already_paid"
    w.assert_verified()


def test_workshops_see_only_their_own_statements(api: Api) -> None:
    w = api.world
    w.redeem(0, 2, minutes=0)
    w.redeem(1, 3, minutes=0)
    pid = api.post("treasurer", f"/events/{w.sc.event_id}/settlement/periods",
                   {"cutoff_at": w.at(5).isoformat()}).json()["period_id"]
    mine = api.get("w0", "/workshop/statements").json()
    assert [(s["period_id"], s["face_total"]) for s in mine] == [(pid, 1000)]
    assert api.get("w2", "/workshop/statements").json() == []
    own = api.get("w0", f"/workshop/statements/{pid}")
    assert own.status_code == 200 and own.content.startswith(b"%PDF")
    own_csv = api.get("w0", f"/workshop/statements/{pid}", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(own_csv.content.decode("utf-8-sig"))))
    assert {r["工房コード"] for r in rows} == {"W01"}
    assert api.get("w2", f"/workshop/statements/{pid}").json()["code"] == "settlement.not_in_period"
    wid1 = w.sc.workshop_ids[1]
    other = api.get("w0", f"/settlement/periods/{pid}/statements/{wid1}")
    assert other.status_code == 403 and other.json()["code"] == "workshop.forbidden"
    assert api.get("w1", f"/settlement/periods/{pid}/statements/{wid1}").status_code == 200
    assert api.get("w0", f"/settlement/periods/{pid}/statements").status_code == 403
    assert api.get("w0", f"/settlement/periods/{pid}").status_code == 403
    everyone = api.get("treasurer", f"/settlement/periods/{pid}/statements",
                       params={"format": "csv", "encoding": "shift_jis"})
    assert everyone.status_code == 200
    assert everyone.headers["content-type"] == "text/csv; charset=Shift_JIS"
    codes = {r["工房コード"] for r in csv.DictReader(io.StringIO(everyone.content.decode("cp932")))}
    assert codes == {"W01", "W02"}
    pdf = api.get("admin", f"/settlement/periods/{pid}/statements")
    assert pdf.headers["content-type"].startswith("application/pdf")
    assert pdf.content.startswith(b"%PDF") and b"%%EOF" in pdf.content[-1024:]
    assert api.get("admin", "/settlement/periods/99999/statements").status_code == 404


def test_zengin_over_the_api(api: Api) -> None:
    w = api.world
    w.redeem(0, 2, minutes=0)
    w.redeem(2, 1, minutes=0)
    pid = api.post("treasurer", f"/events/{w.sc.event_id}/settlement/periods",
                   {"cutoff_at": w.at(5).isoformat()}).json()["period_id"]
    day = next_bank_day(clock.tokyo_date(clock.now()) + timedelta(days=7))
    blocked = api.get("treasurer", f"/settlement/periods/{pid}/zengin",
                      params={"transfer_date": day.isoformat()})
    assert blocked.status_code == 409 and blocked.json()["code"] == "zengin.blocked"
    assert all(p["payee_key"] is None for p in blocked.json()["detail"]["problems"])
    saved = api.put("treasurer", f"/events/{w.sc.event_id}/settlement/requester", {
        "code": "0123456789", "name_kana": "ｼﾞﾂｺｳｲｲﾝｶｲ", "bank_code": "0005",
        "branch_code": "001", "account_type": 1, "account_number": "0000123"})
    assert saved.status_code == 200 and saved.json()["requester_code"] == "0123456789"
    with w.db.write() as s:
        s.execute(update(Workshop).where(Workshop.id == w.sc.workshop_ids[2])
                  .values(account_number="12"))
    check = api.get("admin", f"/settlement/periods/{pid}/zengin/check",
                    params={"transfer_date": day.isoformat()}).json()
    assert not check["ok"]
    assert [(p["payee_key"], p["field"]) for p in check["problems"]] == [("W03", "account_number")]
    with w.db.write() as s:
        s.execute(update(Workshop).where(Workshop.id == w.sc.workshop_ids[2])
                  .values(account_number="0000012"))
    ok = api.get("treasurer", f"/settlement/periods/{pid}/zengin",
                 params={"transfer_date": day.isoformat()})
    assert ok.status_code == 200, ok.text
    assert ok.headers["x-zengin-payees"] == "2" and ok.headers["x-zengin-total"] == "1500"
    assert ok.headers["content-type"] == "text/plain; charset=Shift_JIS"
    assert len(ok.content) == 5 * 122 and ok.content.endswith(b"\r\n")
    assert api.get("desk", f"/settlement/periods/{pid}/zengin",
                   params={"transfer_date": day.isoformat()}).status_code == 403


def test_fee_rule_and_corrections_over_the_api(api: Api) -> None:
    w = api.world
    event = w.sc.event_id
    rule = api.put("treasurer", f"/events/{event}/settlement/fee-rule",
                   {"rule": "fixed", "fixed_yen": 25})
    assert rule.status_code == 200 and rule.json()["fee_description_ja"] == "券1枚につき¥25"
    assert api.put("desk", f"/events/{event}/settlement/fee-rule",
                   {"rule": "none"}).status_code == 403
    bad = api.put("treasurer", f"/events/{event}/settlement/fee-rule",
                  {"rule": "rate", "rate_bp": 20000})
    assert bad.status_code == 422
    w.redeem(0, 2, minutes=0)
    adjusted = api.post("treasurer", "/settlement/corrections/adjustment", {
        "workshop_id": w.sc.workshop_ids[0], "amount": -300, "counter_account": "breakage",
        "reason": "破損券"}, headers={"Idempotency-Key": "adjust-1"})
    assert adjusted.status_code == 201, adjusted.text
    period = api.post("treasurer", f"/events/{event}/settlement/periods", {}).json()
    assert (period["face_total"], period["adjustment_total"], period["fee_total"],
            period["net_total"]) == (1000, -300, 50, 650)
    w.assert_verified()


def test_every_text_download_names_its_charset_once(api: Api) -> None:
    """Issue 8 item 7a: Litestar appended "; charset=utf-8" to the trial balance's own
    charset. Each CSV and text download, in each encoding, has exactly one charset."""
    w = api.world
    w.redeem(0, 2, minutes=0)
    event = w.sc.event_id
    pid = api.post("treasurer", f"/events/{event}/settlement/periods",
                   {"cutoff_at": w.at(5).isoformat()}).json()["period_id"]
    api.put("treasurer", f"/events/{event}/settlement/requester", {
        "code": "0123456789", "name_kana": "ｼﾞﾂｺｳｲｲﾝｶｲ", "bank_code": "0005",
        "branch_code": "001", "account_type": 1, "account_number": "0000123"})
    day = next_bank_day(clock.tokyo_date(clock.now()) + timedelta(days=7)).isoformat()
    wid = w.sc.workshop_ids[0]
    csv_routes = [
        ("treasurer", f"/events/{event}/trial-balance", {"format": "csv"}),
        ("treasurer", f"/events/{event}/exports/journal", {}),
        ("treasurer", f"/events/{event}/exports/trial-balance", {}),
        ("treasurer", f"/settlement/periods/{pid}/statements", {"format": "csv"}),
        ("treasurer", f"/settlement/periods/{pid}/statements/{wid}", {"format": "csv"}),
        ("w0", f"/workshop/statements/{pid}", {"format": "csv"}),
    ]
    for who, path, params in csv_routes:
        for encoding, expected in (("utf-8", "text/csv; charset=utf-8"),
                                   ("shift_jis", "text/csv; charset=Shift_JIS")):
            got = api.get(who, path, params={**params, "encoding": encoding})
            assert got.status_code == 200, (path, got.text)
            assert got.headers["content-type"] == expected, (path, encoding)
            assert got.headers["content-disposition"].startswith("attachment; filename=")
        default = api.get(who, path, params=params)
        assert default.headers["content-type"] == "text/csv; charset=utf-8", path
    zengin = api.get("treasurer", f"/settlement/periods/{pid}/zengin",
                     params={"transfer_date": day})
    assert zengin.status_code == 200, zengin.text
    assert zengin.headers["content-type"] == "text/plain; charset=Shift_JIS"
    for path in (f"/settlement/periods/{pid}/statements", f"/workshop/statements/{pid}",
                 f"/programmes/{w.sc.programme_id}/summary.pdf"):
        pdf = api.get("w0" if path.startswith("/workshop") else "treasurer", path)
        assert pdf.headers["content-type"] == "application/pdf", path


def test_a_correction_names_the_ticket_and_keeps_redemption_id_for_the_booths(api: Api) -> None:
    """Issue 8 item 7c: ``redemption_id`` is the id the booth gets from a redemption and
    undoes with (its journal entry). A correction used the same name for a ticket's row id,
    shown to a treasurer nowhere; it now takes the ticket's code."""
    w = api.world
    event = w.sc.event_id
    taken = w.redeem(0, 2, minutes=0)  # scanned on W01's phone, meant for W03
    api.post("treasurer", f"/events/{event}/settlement/periods",
             {"cutoff_at": w.at(5).isoformat()})
    w.redeem(0, 1, minutes=6)  # W01 has ¥500 pending: the correction fits
    ticket = taken["tickets"][1]["code"]
    old = api.post("treasurer", "/settlement/corrections/redemption",
                   {"redemption_id": taken["redemption_id"], "reason": "wrong booth"})
    assert old.status_code == 422 and old.json()["code"] == "request.invalid"
    assert "ticket_code" in old.json()["detail"]["detail"]
    assert api.post("desk", "/settlement/corrections/redemption",
                    {"ticket_code": ticket, "reason": "x"}).status_code == 403
    done = api.post("treasurer", "/settlement/corrections/redemption", {
        "ticket_code": grouped(ticket).lower(), "reason": "wrong booth",
        "to_workshop_id": w.sc.workshop_ids[2]})
    assert done.status_code == 201, done.text
    body = done.json()
    assert body["ticket_code"] == ticket
    assert body["redemption_id"] == taken["redemption_id"]  # the booth's id, same meaning
    assert (body["amount"], body["counter_account"]) == (500, f"payable:W{w.sc.workshop_ids[2]}")
    again = api.post("treasurer", "/settlement/corrections/redemption",
                     {"ticket_code": ticket, "reason": "again"})
    assert again.status_code == 409 and again.json()["code"] == "settlement.already_corrected"
    unused = api.post("admin", "/settlement/corrections/redemption",
                      {"ticket_code": w.take(1)[0], "reason": "x"})
    assert unused.status_code == 404
    assert unused.json()["code"] == "settlement.redemption_not_found"
    booklet = api.post("admin", "/settlement/corrections/redemption",
                       {"ticket_code": w.sc.booklet_codes[0], "reason": "x"})
    assert booklet.status_code == 422 and booklet.json()["code"] == "code.not_a_ticket"
    w.assert_verified()


def test_zengin_plans_the_transfer_and_paid_without_a_date_uses_it(api: Api) -> None:
    """The Zengin file made over the API records its transfer date as the period's plan;
    marking paid with no date then pays on it (payouts booked on that day); the first PDF
    of a statement is its issue, the next one a reprint (再発行)."""
    from sqlalchemy import select

    from oflocal.ledger.models import JournalEntry
    from test_settlement_documents import pdf_pages

    w = api.world
    w.redeem(0, 2, minutes=0)
    pid = api.post("treasurer", f"/events/{w.sc.event_id}/settlement/periods",
                   {"cutoff_at": w.at(5).isoformat()}).json()["period_id"]
    missing = api.post("treasurer", f"/settlement/periods/{pid}/paid", {})
    assert missing.status_code == 422, missing.text
    assert missing.json()["code"] == "settlement.transfer_date_missing"
    api.put("treasurer", f"/events/{w.sc.event_id}/settlement/requester", {
        "code": "0123456789", "name_kana": "ｼﾞﾂｺｳｲｲﾝｶｲ", "bank_code": "0005",
        "branch_code": "001", "account_type": 1, "account_number": "0000123"})
    day = next_bank_day(clock.tokyo_date(clock.now()) + timedelta(days=5))
    made = api.get("treasurer", f"/settlement/periods/{pid}/zengin",
                   params={"transfer_date": day.isoformat()})
    assert made.status_code == 200, made.text
    detail = api.get("treasurer", f"/settlement/periods/{pid}").json()
    assert (detail["status"], detail["planned_transfer_date"]) == ("closed", day.isoformat())
    label = f"振込予定日：{day.year}年{day.month}月{day.day}日"
    mine = api.get("w0", "/workshop/statements").json()
    assert [(m["transfer_date"], m["planned_transfer_date"]) for m in mine] == [
        (None, day.isoformat())]
    first = pdf_pages(api.get("w0", f"/workshop/statements/{pid}").content)[0]
    assert label in first and "再発行" not in first
    again = pdf_pages(api.get("treasurer", f"/settlement/periods/{pid}/statements").content)[0]
    assert label in again and "再発行" in again

    paid = api.post("treasurer", f"/settlement/periods/{pid}/paid", {})
    assert paid.status_code == 200, paid.text
    assert (paid.json()["transfer_date"], paid.json()["planned_transfer_date"]) == (
        day.isoformat(), None)
    with w.db.read() as s:
        booked = s.execute(select(JournalEntry.business_date)
                           .where(JournalEntry.kind == "payout")).scalars().all()
    assert booked == [day]
    w.assert_verified()
