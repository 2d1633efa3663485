"""Last year's money and money held for others in the treasurer's books (issue 13), on
SQLite and PostgreSQL.

An opening balance (開始残高) is a voucher dated 1 April against 前期繰越正味財産, once per
account (a wrong one is reversed and entered again); the trial balance shows it in the
opening column and the annual report as 前期繰越金, never as a receipt. Money held for
others (預り金: an over-payment kept until it is given back) is a liability among what
is owed, not income. Every figure is checked against a recount from the raw postings
and their entries' kinds, or against the amounts the test posted."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from apps import client_for
from oflocal import clock
from oflocal.audit import verify
from oflocal.auth.models import StaffUser
from oflocal.auth.service import issue_api_token
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.ledger.verify import trial_balance
from oflocal.reports.annual import annual_report, annual_xlsx, fiscal_year
from oflocal.settings import Settings
from oflocal.treasury.entries import EntryRequest, record_entry, reverse_voucher
from oflocal.vouchers.codes import CodeSigner
from test_repayment_invoice import pdf_text
from treasury_world import TreasuryWorld, make_treasury_world


@pytest.fixture
def world(db: Database, signer: CodeSigner) -> TreasuryWorld:
    return make_treasury_world(db, signer)


def this_year() -> tuple[date, date]:
    return fiscal_year(clock.tokyo_date(clock.now()))


def opening(w: TreasuryWorld, account: str | None, amount: int,
            day: date | None = None) -> dict[str, Any]:
    return record_entry(w.db, EntryRequest(
        event_id=w.event_id, kind="opening_balance", amount=amount,
        business_date=day or this_year()[0], description="前年度より繰越", debit=account),
        actor="t")


def recount(db: Database, event_id: int, start: date,
            end: date) -> dict[str, tuple[int, int, int, int]]:
    """(opening, debit, credit, closing) per account from the raw postings: an entry that
    brings a balance forward, or reverses one, is opening; any other is opening before
    ``start`` and a debit or credit from ``start`` to ``end`` (its business day)."""
    with db.read() as s:
        codes = dict(s.execute(select(Account.id, Account.code)
                               .where(Account.event_id == event_id)).all())
        kinds = dict(s.execute(select(JournalEntry.id, JournalEntry.kind)).all())
        rows = s.execute(select(Posting.account_id, Posting.amount, JournalEntry.kind,
                                JournalEntry.reverses_entry_id, JournalEntry.occurred_at,
                                JournalEntry.business_date)
                         .join(JournalEntry, JournalEntry.id == Posting.entry_id)
                         .where(JournalEntry.event_id == event_id)).all()
    out = {code: [0, 0, 0] for code in codes.values()}
    for account_id, amount, kind, reverses, at, business in rows:
        at = at if isinstance(at, datetime) and at.tzinfo else at.replace(tzinfo=UTC)
        day = business or clock.tokyo_date(at)
        if day > end:
            continue
        figures = out[codes[account_id]]
        brought = kind == "opening_balance" or kinds.get(reverses) == "opening_balance"
        if brought or day < start:
            figures[0] += amount
        elif amount > 0:
            figures[1] += amount
        else:
            figures[2] -= amount
    return {code: (o, d, c, o + d - c) for code, (o, d, c) in out.items()}


def as_tuples(rows: list[Any]) -> dict[str, tuple[int, int, int, int]]:
    return {r["account"]: (r["opening"], r["debit"], r["credit"], r["closing"]) for r in rows}


def test_opening_balances_are_brought_forward_not_received(world: TreasuryWorld) -> None:
    start, end = this_year()
    with world.db.read() as s:
        before = annual_report(s, world.event_id, start, end)
    bank = opening(world, "bank", 120_000)
    opening(world, "cash", 30_000)
    assert (bank["business_date"], bank["credit_account"]) == (start.isoformat(),
                                                                "opening_equity")
    with world.db.read() as s:
        trial = trial_balance(s, world.event_id, start, end)
        everything = trial_balance(s, world.event_id)  # no period: still the opening column
        report = annual_report(s, world.event_id, start, end)
        assert verify(s).ok
    rows = {r["account"]: r for r in trial}
    assert as_tuples(trial) == recount(world.db, world.event_id, start, end)
    assert (rows["opening_equity"]["opening"], rows["opening_equity"]["kind_label"]) == (
        -150_000, "純資産 Equity")
    assert rows["bank"]["opening"] == 120_000 and rows["cash"]["opening"] == 30_000
    assert sum(r["debit"] for r in trial) == sum(r["credit"] for r in trial)
    assert sum(r["closing"] for r in trial) == 0
    assert {r["account"]: r["opening"] for r in everything}["bank"] == 120_000
    # The annual report: 前期繰越金, not a receipt; the receipts are as they were.
    assert report.brought_forward == before.brought_forward + 150_000
    assert [(x.key, x.amount) for x in report.income] == [
        (x.key, x.amount) for x in before.income]
    assert report.difference == before.difference
    assert report.carried_forward == sum(r["closing"] for r in trial if r["kind"] == "asset")
    assert report.brought_forward + report.difference + report.held_change == \
        report.carried_forward
    assert ("opening_equity", 150_000) in [(x.key, x.amount) for x in report.equity]


def test_one_opening_balance_per_account_dated_the_first_day(world: TreasuryWorld) -> None:
    start, end = this_year()
    first = opening(world, "bank", 120_000)
    for change, code in (
        ({"account": "bank", "amount": 1}, "treasury.opening_exists"),
        ({"account": "bank", "amount": 1, "day": start + timedelta(days=1)},
         "treasury.opening_date_invalid"),
        ({"account": None, "amount": 1}, "treasury.account_not_allowed"),  # bank or cash
        ({"account": "provider_receivable", "amount": 1}, "treasury.account_not_allowed"),
    ):
        with pytest.raises(Refusal) as refused:
            opening(world, change["account"], change["amount"], change.get("day"))
        assert refused.value.code == code, change
    with pytest.raises(Refusal) as taken:
        opening(world, "bank", 5)
    assert first["voucher_no"] in taken.value.message("ja")
    assert first["voucher_no"] in taken.value.message("en")
    with pytest.raises(Refusal) as wrong_day:
        opening(world, "cash", 5, start + timedelta(days=1))
    assert f"{start.year}年4月1日" in wrong_day.value.message("ja")

    # A wrong one is reversed (dated as the opening balance) and entered again.
    reversal = reverse_voucher(world.db, first["id"], reason="金額の誤り", actor="t")
    assert reversal["business_date"] == start.isoformat()
    again = opening(world, "bank", 125_000)
    with pytest.raises(Refusal) as third:
        opening(world, "bank", 1)
    assert again["voucher_no"] in third.value.message("en")
    with world.db.read() as s:
        trial = trial_balance(s, world.event_id, start, end)
        report = annual_report(s, world.event_id, start, end)
    # The booklets were sold this year: last year's money is the opening balance alone.
    assert {r["account"]: r["opening"] for r in trial}["bank"] == 125_000
    assert report.brought_forward == 125_000
    assert as_tuples(trial) == recount(world.db, world.event_id, start, end)
    assert all(x.key != "opening_equity" for x in (*report.income, *report.expenditure))


def test_two_opening_balances_at_once_make_one(world: TreasuryWorld) -> None:
    both = threading.Barrier(2)

    def enter(n: int) -> str:
        both.wait()
        try:
            opening(world, "cash", 1000 + n)
        except Refusal as refusal:
            return refusal.code
        return "entered"

    results: list[str] = []
    threads = [threading.Thread(target=lambda n=n: results.append(enter(n))) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["entered", "treasury.opening_exists"]


def test_money_held_for_others_is_owed_not_income(world: TreasuryWorld) -> None:
    """An over-payment kept (預り金) and partly given back: beside the receipts and
    payments, and what is still held is among the obligations."""
    start, end = this_year()
    with world.db.read() as s:
        before = annual_report(s, world.event_id, start, end)
    today = clock.tokyo_date(clock.now())
    for kind, amount, extra in (("other_receipt", 8_000, {"credit": "deposits_received"}),
                                ("overpayment_refund", 3_000, {})):
        record_entry(world.db, EntryRequest(
            event_id=world.event_id, kind=kind, amount=amount, business_date=today,
            description="過入金", **extra), actor="t")
    with world.db.read() as s:
        report = annual_report(s, world.event_id, start, end)
        trial = trial_balance(s, world.event_id, start, end)
    keys = {x.key for x in (*report.income, *report.expenditure)}
    assert "deposits_received" not in keys
    assert (report.income_total, report.expenditure_total) == (
        before.income_total, before.expenditure_total)
    assert [(x.key, x.amount) for x in report.held] == [
        ("deposits_received:in", 8_000), ("deposits_received:out", -3_000)]
    assert report.held_change == 5_000
    owed = {x.key: x.amount for x in report.obligations}
    assert owed["deposits_received"] == 5_000 == -recount(
        world.db, world.event_id, start, end)["deposits_received"][3]
    funds = sum(r["closing"] for r in trial if r["kind"] == "asset")
    assert report.carried_forward == funds == before.carried_forward + 5_000
    assert report.brought_forward + report.difference + report.held_change == funds
    assert report.as_dict()["held_change"] == 5_000
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(annual_xlsx(report))))["収支報告書"]
    values = {row[0].value: row[1].value for row in sheet.iter_rows(min_row=5)}
    assert values["預り金の増減 Change in money held"] == 5_000
    assert values["次期繰越金 Carried forward"] == funds


@pytest.fixture
def client(db: Database, world: TreasuryWorld, secret: bytes,
           tmp_path: Path) -> Iterator[tuple[TestClient[Litestar], str]]:
    with db.write() as s:
        staff = StaffUser(username="ob-t", display_name="会計", role="treasurer",
                          password_hash="!", created_at=clock.now())
        s.add(staff)
        s.flush()
        staff_id = staff.id
    token = issue_api_token(db, name="t", staff_user_id=staff_id)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as c:
        yield c, token


def test_opening_balance_over_the_api(world: TreasuryWorld,
                                      client: tuple[TestClient[Litestar], str]) -> None:
    c, token = client
    start, end = this_year()
    body = {"kind": "opening_balance", "amount": 40_000, "business_date": start.isoformat(),
            "description": "前年度より繰越", "debit_account": "bank"}

    def post(key: str) -> Any:
        return c.post(f"/api/v1/events/{world.event_id}/treasury/entries", json=body,
                      headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})

    made = post("ob-1")
    assert made.status_code == 201 and made.json()["kind_ja"] == "開始残高（前期繰越）"
    assert post("ob-1").json() == made.json()  # the retry
    second = post("ob-2")
    assert (second.status_code, second.json()["code"]) == (409, "treasury.opening_exists")
    period = {"from": start.isoformat(), "to": end.isoformat()}
    auth = {"Authorization": f"Bearer {token}"}
    trial = c.get(f"/api/v1/events/{world.event_id}/trial-balance", params=period,
                  headers=auth).json()
    assert {r["account"]: r["opening"] for r in trial["rows"]}["opening_equity"] == -40_000
    annual = c.get(f"/api/v1/events/{world.event_id}/annual-report", params=period,
                   headers=auth).json()
    assert annual["brought_forward"] == 40_000  # the booklets were sold this year
    pdf = c.get(f"/api/v1/events/{world.event_id}/exports/annual-report", params=period,
                headers=auth)
    shown = pdf_text(pdf.content)
    assert "前期繰越金 Brought forward" in shown and f"¥{annual['brought_forward']:,}" in shown
