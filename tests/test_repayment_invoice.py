"""The 請求書 to a workshop asked to pay back after a correction after payment (issue 13),
on SQLite and PostgreSQL: what it bills (frozen when issued, each correction once, less
what came in before it), its number, dates and account to pay into, the 再発行 of a
reprint, the return invoice for the fees it gives back, and the API, page and CLI.

Expected figures are worked out here from the ticket's face value and the fee rule, not
read back from the app: 5 % of ¥500 is ¥25, so a moved ticket bills ¥475."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from apps import client_for
from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.auth.service import Actor, issue_api_token, open_session
from oflocal.db.engine import Database
from oflocal.demo import describe_demo_committee
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.events.setup import update_event
from oflocal.format import ja_date
from oflocal.settings import Settings
from oflocal.settlement.corrections import adjust_workshop, correct_redemption, record_repayment
from oflocal.settlement.models import RepaymentInvoice, SettlementPeriod
from oflocal.settlement.pay import mark_period_paid
from oflocal.settlement.repayment_invoice import (
    invoice_document,
    invoice_pdf,
    invoice_view,
    issue_invoice,
    record_print,
)
from oflocal.settlement.rules import FeeRule
from oflocal.settlement.settings import set_fee_rule
from oflocal.vouchers.codes import CodeSigner, grouped
from oflocal.web.security import SESSION_COOKIE
from test_settlement import World, bank_day, make_world


@dataclass
class Owed:
    w: World
    period_id: int
    cutoff_day: date
    to_breakage: str  # ticket codes moved after payment
    to_w3: str


def owed_world(db: Database, signer: CodeSigner, *, describe: bool = True) -> Owed:
    """W1 redeemed three ¥500 tickets, settled at 5 % (¥25 a ticket) and paid. After
    payment one ticket goes to breakage and one to W3, and W1 is charged ¥100 more: all
    three asked to be paid back (W1 has nothing pending)."""
    w = make_world(db, signer)
    set_fee_rule(db, event_id=w.sc.event_id, rule=FeeRule("rate", 500, 0, "floor"))
    tickets = [t["code"] for t in w.redeem(0, 3, minutes=0)["tickets"]]
    period = w.close(5)
    mark_period_paid(db, period_id=period["period_id"], transfer_date=bank_day(w.at(5)),
                     actor="t")
    if describe:
        with db.write() as s:
            describe_demo_committee(s, w.sc.event_id)
    correct_redemption(db, ticket_code=tickets[0], reason="利用されていない", actor="t",
                       settle="repayment", now=w.at(9))
    correct_redemption(db, ticket_code=tickets[1], reason="別の工房の券", actor="t",
                       to_workshop_id=w.sc.workshop_ids[2], settle="repayment", now=w.at(10))
    adjust_workshop(db, workshop_id=w.sc.workshop_ids[0], amount=-100,
                    counter_account="premium_fund", reason="釣り銭の立替分", actor="t",
                    settle="repayment", now=w.at(11))
    with db.read() as s:
        found = s.get(SettlementPeriod, period["period_id"])
        assert found is not None
        cutoff_day = clock.tokyo_date(found.cutoff_at)
    return Owed(w, period["period_id"], cutoff_day, tickets[0], tickets[1])


def pdf_text(data: bytes) -> str:
    doc = pdfium.PdfDocument(data)
    try:
        return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()


def printed(db: Database, invoice_id: int, **kw: Any) -> str:
    with db.read() as s:
        doc = invoice_document(s, invoice_id)
    return pdf_text(b"".join(invoice_pdf(doc, **kw)))


def end_of_next_month(day: date) -> date:
    first = date(day.year + (day.month + 1) // 12, (day.month + 1) % 12 + 1, 1)  # month after
    return first - timedelta(days=1)


def test_the_invoice_bills_what_was_asked_back_with_the_fee_given_back(
        db: Database, signer: CodeSigner) -> None:
    o = owed_world(db, signer)
    w1 = o.w.sc.workshop_ids[0]
    with db.write() as s:  # the committee's name typed as its bank's Zengin form has it
        committee = s.get(Event, o.w.sc.event_id)
        assert committee is not None
        committee.zengin_requester_kana = "ｵｰﾌﾟﾝﾌｧｸﾄﾘｰｼﾞｯｺｳｲｲﾝｶｲ"
    today = clock.tokyo_date(clock.now())
    issued = issue_invoice(db, workshop_id=w1, actor="t")
    v = issued.body
    assert issued.status == 201
    assert (v["number"], v["issued_on"], v["due_date"]) == (
        f"R0001-{o.w.sc.workshop_codes[0]}", today.isoformat(),
        end_of_next_month(today).isoformat())
    assert [(i["ticket_code"], i["face"], i["fee_returned"], i["amount"]) for i in v["items"]] \
        == [(o.to_breakage, 500, 25, 475), (o.to_w3, 500, 25, 475), (None, None, 0, 100)]
    assert (v["items_total"], v["received_before"], v["amount"], v["outstanding"]) == (
        1050, 0, 1050, 1050)
    assert [(r["ticket_code"], r["fee"], r["original_on"], r["returned_on"])
            for r in v["fee_returns"]] == [
        (o.to_breakage, 25, o.cutoff_day.isoformat(), clock.tokyo_date(o.w.at(9)).isoformat()),
        (o.to_w3, 25, o.cutoff_day.isoformat(), clock.tokyo_date(o.w.at(10)).isoformat())]
    assert (v["fee_return_total"], v["fee_return_tax"]) == (50, 4)  # 11 × 4 ≤ 50 < 11 × 5
    assert v["pay_to"]["account_number"] == "7654321" and v["pay_to"]["bank_code"] == "0152"

    with db.read() as s:
        committee = s.get(Event, o.w.sc.event_id)
        assert committee is not None and committee.invoice_number
        number = committee.invoice_number
    assert record_print(db, v["id"], actor="t") is True  # the original
    original = printed(db, v["id"])
    for shown in ("請求書", f"No. {v['number']}", f"発行日 {ja_date(today)}",
                  f"お支払期限：{ja_date(end_of_next_month(today))}", "ご請求金額", "¥1,050",
                  "7654321", "口座名義：オープンファクトリージッコウイインカイ",
                  grouped(o.to_breakage), grouped(o.to_w3), "釣り銭の立替分", "¥475", "-¥25",
                  "大野木工所\u3000御中", "適格返還請求書", f"登録番号 {number}",
                  ja_date(o.cutoff_day), "不課税"):
        assert shown in original, shown
    assert re.search(r"10%対象 ¥50 ¥4\r?\n", original), original
    # each 訂正日 as the rest of the letter writes dates, never 2026-12-08
    corrected = {ja_date(clock.tokyo_date(o.w.at(m))) for m in (9, 10, 11)}
    assert all(re.search(f"^{day} ", original, re.M) for day in corrected), original
    assert not re.search(r"20\d\d-[01]\d-[0-3]\d", original)
    assert "再発行" not in original
    # A reprint, printed another day, keeps the 発行日 and says so.
    assert record_print(db, v["id"], actor="t") is False
    later = today + timedelta(days=1)
    reprint = printed(db, v["id"], printed=later, reprint=True)
    assert f"発行日 {ja_date(today)}" in reprint and f"再発行 {ja_date(later)}" in reprint
    with db.read() as s:
        assert invoice_view(s, v["id"])["first_printed_on"] == today.isoformat()

    # Not registered for invoices: still a 請求書, without the return invoice part.
    with db.write() as s:
        update_event(s, o.w.sc.event_id, {"invoice_number": None})
    plain = printed(db, v["id"])
    assert "請求書" in plain and "¥1,050" in plain
    assert "適格返還請求書" not in plain and number not in plain


def test_each_correction_is_billed_once_less_what_came_in_before(
        db: Database, signer: CodeSigner) -> None:
    o = owed_world(db, signer)
    w1 = o.w.sc.workshop_ids[0]
    first = issue_invoice(db, workshop_id=w1, actor="t").body
    with pytest.raises(Refusal) as nothing:
        issue_invoice(db, workshop_id=w1, actor="t")
    assert nothing.value.code == "settlement.invoice_nothing_to_bill"
    record_repayment(db, workshop_id=w1, amount=1000, received_on=clock.tokyo_date(
        clock.now()), actor="t")
    with db.read() as s:
        assert invoice_view(s, first["id"])["outstanding"] == 50
    adjust_workshop(db, workshop_id=w1, amount=-200, counter_account="premium_fund",
                    reason="追加の戻し", actor="t", settle="repayment")
    # It pays ¥50 of the first invoice and ¥150 of the new amount before an invoice.
    record_repayment(db, workshop_id=w1, amount=200, received_on=clock.tokyo_date(
        clock.now()), actor="t")
    second = issue_invoice(db, workshop_id=w1, actor="t").body
    assert second["number"] == f"R0002-{o.w.sc.workshop_codes[0]}"
    assert (second["items_total"], second["received_before"], second["amount"]) == (
        200, 150, 50)
    assert [i["reason"] for i in second["items"]] == ["追加の戻し"]
    with db.read() as s:
        assert invoice_view(s, first["id"])["outstanding"] == 0
        assert invoice_view(s, second["id"])["outstanding"] == 50
    shown = printed(db, second["id"])
    assert "入金済み" in shown and "-¥150" in shown and "¥50" in shown
    record_repayment(db, workshop_id=w1, amount=50, received_on=clock.tokyo_date(
        clock.now()), actor="t")
    with db.read() as s:
        assert invoice_view(s, second["id"])["outstanding"] == 0
    # Paid in full before an invoice: nothing to bill, and no invoice asks for it again.
    adjust_workshop(db, workshop_id=w1, amount=-30, counter_account="premium_fund",
                    reason="少額", actor="t", settle="repayment")
    record_repayment(db, workshop_id=w1, amount=30, received_on=clock.tokyo_date(
        clock.now()), actor="t")
    with pytest.raises(Refusal) as paid:
        issue_invoice(db, workshop_id=w1, actor="t")
    assert paid.value.code == "settlement.invoice_nothing_to_bill"
    # Issued invoices and their items are never rewritten (migration 0021).
    for statement in (update(RepaymentInvoice).values(amount=1),
                      text("DELETE FROM repayment_invoice_item")):
        with pytest.raises(DBAPIError), db.write() as s:
            s.execute(statement)


def test_an_invoice_needs_the_committee_account_and_a_due_date_to_come(
        db: Database, signer: CodeSigner) -> None:
    o = owed_world(db, signer, describe=False)
    w1 = o.w.sc.workshop_ids[0]
    with pytest.raises(Refusal) as bank:
        issue_invoice(db, workshop_id=w1, actor="t")
    assert bank.value.code == "settlement.invoice_bank_missing"
    with db.write() as s:
        describe_demo_committee(s, o.w.sc.event_id)
    yesterday = clock.tokyo_date(clock.now()) - timedelta(days=1)
    with pytest.raises(Refusal) as due:
        issue_invoice(db, workshop_id=w1, actor="t", due_date=yesterday)
    assert due.value.code == "settlement.invoice_due_invalid"
    assert "発行日" in due.value.message("ja") and "due date" in due.value.message("en")
    with pytest.raises(Refusal) as other:  # W2 was never asked to pay anything back
        issue_invoice(db, workshop_id=o.w.sc.workshop_ids[1], actor="t")
    assert other.value.code == "settlement.invoice_nothing_to_bill"
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM repayment_invoice")).scalar_one() == 0


@pytest.fixture
def client(db: Database, secret: bytes, tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as c:
        yield c


def test_invoices_over_the_api_the_page_and_the_cli(
        db: Database, signer: CodeSigner, client: TestClient[Litestar], run_cli: Any,
        tmp_path: Path) -> None:
    o = owed_world(db, signer)
    w1, w3 = o.w.sc.workshop_ids[0], o.w.sc.workshop_ids[2]
    with db.write() as s:
        users = [StaffUser(username=u, display_name=u, role=u, password_hash="!",
                           created_at=clock.now()) for u in ("treasurer", "desk")]
        s.add_all(users)
        s.flush()
        ids = {u.role: u.id for u in users}
    tokens = {role: issue_api_token(db, name=role, staff_user_id=i) for role, i in ids.items()}

    def api(method: str, path: str, role: str = "treasurer", **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {tokens[role]}", **kw.pop("headers", {})}
        return client.request(method, "/api/v1" + path, headers=headers, **kw)

    owed = api("GET", f"/events/{o.w.sc.event_id}/settlement/owed-back").json()
    assert {r["workshop_id"]: r["to_invoice"] for r in owed} == {w1: 1050}
    path = f"/settlement/workshops/{w1}/repayment-invoices"
    assert api("POST", path, "desk", json={}).status_code == 403
    due = (clock.tokyo_date(clock.now()) + timedelta(days=14)).isoformat()
    made = api("POST", path, json={"due_date": due}, headers={"Idempotency-Key": "inv-1"})
    assert made.status_code == 201, made.text
    again = api("POST", path, json={"due_date": due}, headers={"Idempotency-Key": "inv-1"})
    assert again.json() == made.json() and again.headers["idempotent-replayed"] == "true"
    body = made.json()
    assert (body["amount"], body["due_date"], body["number"]) == (
        1050, due, f"R0001-{o.w.sc.workshop_codes[0]}")
    nothing = api("POST", path, json={})
    assert (nothing.status_code, nothing.json()["code"]) == (
        409, "settlement.invoice_nothing_to_bill")
    listed = api("GET", f"/events/{o.w.sc.event_id}/settlement/repayment-invoices").json()
    assert [v["id"] for v in listed] == [body["id"]]
    assert api("GET", f"/settlement/repayment-invoices/{body['id']}").json() == listed[0]
    assert api("GET", "/settlement/repayment-invoices/999999").status_code == 404
    first = api("GET", f"/settlement/repayment-invoices/{body['id']}/pdf")
    assert first.headers["content-type"] == "application/pdf"
    assert "repayment-invoice-R0001-" in first.headers["content-disposition"]
    assert "再発行" not in pdf_text(first.content)
    second = api("GET", f"/settlement/repayment-invoices/{body['id']}/pdf")
    assert "再発行" in pdf_text(second.content)
    assert api("GET", f"/settlement/repayment-invoices/{body['id']}/pdf", "desk"
               ).status_code == 403

    # The workshop sees its own invoices, and only those (another's is not found).
    for workshop_id in (w1, w3):
        tokens[f"w{workshop_id}"] = issue_api_token(db, name="booth", workshop_id=workshop_id)
    mine = api("GET", "/workshop/repayment-invoices", f"w{w1}")
    assert mine.status_code == 200
    assert mine.json() == [api("GET", f"/settlement/repayment-invoices/{body['id']}").json()]
    assert api("GET", "/workshop/repayment-invoices", f"w{w3}").json() == []
    own = api("GET", f"/workshop/repayment-invoices/{body['id']}/pdf", f"w{w1}")
    assert own.headers["content-type"] == "application/pdf"
    text_of = pdf_text(own.content)
    assert "ご請求金額" in text_of and "再発行" in text_of  # the committee printed it first
    other = api("GET", f"/workshop/repayment-invoices/{body['id']}/pdf", f"w{w3}")
    assert (other.status_code, other.json()["code"]) == (404, "settlement.invoice_not_found")
    assert api("GET", "/workshop/repayment-invoices", "treasurer").status_code == 403

    # The page: W3 is asked for ¥475 more (a ticket it was paid for goes to breakage).
    adjust_workshop(db, workshop_id=w3, amount=-475, counter_account="breakage",
                    reason="券の二重計上", actor="t", settle="repayment")
    token, csrf = open_session(db, Actor("staff", ids["treasurer"], "t", "treasurer"), hours=1)
    client.cookies.set(SESSION_COOKIE, token)
    client.cookies.set("oflocal_lang", "ja")
    overview = client.get("/treasurer", params={"event": o.w.sc.event_id})
    assert f"/treasurer/workshops/{w3}/repayment-invoices" in overview.text
    assert f"/api/v1/settlement/repayment-invoices/{body['id']}/pdf" in overview.text
    form = {"_csrf": csrf, "event_id": str(o.w.sc.event_id), "due_date": due, "key": "page-1"}
    for _ in range(2):  # sent twice (a double click): one invoice
        sent = client.post(f"/treasurer/workshops/{w3}/repayment-invoices", data=form)
        assert sent.status_code == 200 and "R0002-" in sent.text, sent.text
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM repayment_invoice")).scalar_one() == 2
    client.cookies.clear()

    # The command line: list, print (a reprint now), issue with nothing to bill.
    listed_cli = run_cli("settle", "invoice", "list", "--event", "demo")
    assert listed_cli.exit_code == 0 and listed_cli.output.count("\n") == 2
    out = tmp_path / "請求書.pdf"
    written = run_cli("settle", "invoice", "pdf", "--id", str(body["id"]), "-o", str(out))
    assert written.exit_code == 0 and "再発行" in written.output
    assert "ご請求金額" in pdf_text(out.read_bytes())
    refused = run_cli("settle", "invoice", "issue", "--event", "demo", "--workshop",
                      o.w.sc.workshop_codes[0])
    assert refused.exit_code == 2 and "settlement.invoice_nothing_to_bill" in refused.output
