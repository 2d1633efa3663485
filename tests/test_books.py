"""The treasurer's books (issue 13): the trial balance for a period of Tokyo days, the
annual report for the general meeting, the journal in Japanese with names, and XLSX
dates as dates; on SQLite and PostgreSQL.

Every figure is checked against a recount from the raw rows: postings and their
entries' times for the trial balance, sales and settlement lines (not the ledger) for
the annual report's lines."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pypdfium2 as pdfium
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from apps import client_for
from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.auth.service import Actor, issue_api_token, open_session
from oflocal.db.engine import Database
from oflocal.format import yen
from oflocal.ledger.accounts import account_ids
from oflocal.ledger.journal import post_entry
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.ledger.verify import DEBIT_NORMAL, code_order, normal_balance, trial_balance
from oflocal.reports.annual import annual_report, fiscal_year, line_of
from oflocal.reports.exports import journal_csv, journal_xlsx, trial_balance_csv, trial_balance_xlsx
from oflocal.reports.journal_text import ActorNames, description_ja
from oflocal.settings import Settings
from oflocal.settlement.bank_days import next_bank_day
from oflocal.settlement.close import close_period
from oflocal.settlement.models import SettlementLine, SettlementPeriod
from oflocal.settlement.pay import mark_period_paid
from oflocal.settlement.rules import FeeRule
from oflocal.settlement.settings import set_fee_rule
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.models import Sale
from oflocal.vouchers.redeem import undo_redemption
from oflocal.web.security import SESSION_COOKIE
from test_settlement import World, make_world


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@pytest.fixture
def books(db: Database, signer: CodeSigner) -> dict[str, Any]:
    """5 booklets sold the day before yesterday (Tokyo); redemptions that day and
    yesterday at three workshops, one undone; a 2.5% fee; the period closed and paid
    today by a named treasurer."""
    now = clock.now()
    midnight = clock.start_of_tokyo_day(clock.tokyo_date(now))
    sold_at = midnight - timedelta(hours=34)
    w = make_world(db, signer, booklets=6, sold=5, sold_at=sold_at,
                   programme_day=clock.tokyo_date(sold_at))
    w.base = sold_at + timedelta(minutes=10)
    day_two = midnight - timedelta(days=1) + timedelta(minutes=5)
    w.redeem(0, 10, minutes=0)
    w.redeem(1, 8, minutes=10)
    step = (day_two - w.base) / timedelta(minutes=1)
    w.redeem(2, 5, minutes=step)
    undone = w.redeem(2, 1, minutes=step + 0.1)
    undo_redemption(db, workshop_id=w.sc.workshop_ids[2], redemption_id=undone["redemption_id"],
                    now=w.at(step + 0.2))
    w.redeem(0, 4, minutes=step + 0.3)
    with db.write() as s:
        staff = StaffUser(username="books-t", display_name="会計 山田", role="treasurer",
                          password_hash="!", created_at=now)
        s.add(staff)
        s.flush()
        staff_id = staff.id
    set_fee_rule(db, event_id=w.sc.event_id, rule=FeeRule("rate", 250, 0, "floor"))
    period = close_period(db, event_id=w.sc.event_id, cutoff=now - timedelta(seconds=1),
                          actor=f"staff:{staff_id}").body["period_id"]
    mark_period_paid(db, period_id=period, transfer_date=next_bank_day(clock.tokyo_date(now)),
                     actor=f"staff:{staff_id}")
    return {"w": w, "staff_id": staff_id, "day_one": clock.tokyo_date(sold_at),
            "day_two": clock.tokyo_date(day_two), "today": clock.tokyo_date(now)}


def recount(db: Database, event_id: int, start: date | None,
            end: date | None) -> dict[str, tuple[int, int, int, int]]:
    """(opening, debit, credit, closing) per account code, from the raw postings, each
    on its entry's business day (its own date, else the Tokyo day it was recorded: the
    payout falls on its transfer date)."""
    with db.read() as s:
        codes = dict(s.execute(select(Account.id, Account.code)
                               .where(Account.event_id == event_id)).all())
        rows = s.execute(select(Posting.account_id, Posting.amount, JournalEntry.occurred_at,
                                JournalEntry.business_date)
                         .join(JournalEntry, JournalEntry.id == Posting.entry_id)
                         .where(JournalEntry.event_id == event_id)).all()
    out = {code: [0, 0, 0] for code in codes.values()}
    for account_id, amount, at, business in rows:
        day = business or clock.tokyo_date(_aware(at))
        if end is not None and day > end:
            continue
        figures = out[codes[account_id]]
        if start is not None and day < start:
            figures[0] += amount
        elif amount > 0:
            figures[1] += amount
        else:
            figures[2] -= amount
    return {code: (o, d, c, o + d - c) for code, (o, d, c) in out.items()}


@pytest.mark.parametrize("which", ["all", "from_day_two", "day_one_only", "today_only"])
def test_trial_balance_is_the_recount_of_the_postings(books: dict[str, Any], which: str) -> None:
    w: World = books["w"]
    start, end = {"all": (None, None), "from_day_two": (books["day_two"], books["today"]),
                  "day_one_only": (books["day_one"], books["day_one"]),
                  "today_only": (books["today"], books["today"])}[which]
    with w.db.read() as s:
        rows = trial_balance(s, w.sc.event_id, start, end)
    expected = recount(w.db, w.sc.event_id, start, end)
    assert {r["account"]: (r["opening"], r["debit"], r["credit"], r["closing"])
            for r in rows} == expected
    assert all(r["balance"] == r["closing"] for r in rows)
    debit, credit = sum(r["debit"] for r in rows), sum(r["credit"] for r in rows)
    assert debit == credit > 0
    assert sum(r["opening"] for r in rows) == 0 and sum(r["closing"] for r in rows) == 0
    assert [r["kind_label"] for r in rows if r["account"] == "cash"] == ["資産 Asset"]
    kinds = [r["kind"] for r in rows]
    assert kinds == sorted(kinds, key=("asset", "liability", "equity", "income",
                                       "expense").index)
    if which == "day_one_only":  # sales and day one's redemptions; nothing brought forward
        assert all(r["opening"] == 0 for r in rows)
        liability = next(r for r in rows if r["account"].startswith("voucher_liability"))
        assert (liability["debit"], liability["credit"]) == (9000, 15000)
    if which == "from_day_two":  # day one is brought forward
        cash = next(r for r in rows if r["account"] == "cash")
        assert (cash["opening"], cash["debit"], cash["credit"]) == (12500, 0, 0)
        # the undo is a debit and a credit of its own on the payable: totals, not nets
        third = next(r for r in rows if r["account"] == f"payable:W{w.sc.workshop_ids[2]}")
        assert (third["opening"], third["debit"], third["credit"]) == (0, 3000, 3000)


def _csv(data: bytes, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding))))


def test_trial_balance_csv_and_xlsx(books: dict[str, Any]) -> None:
    w: World = books["w"]
    start, end = books["day_two"], books["today"]
    with w.db.read() as s:
        rows = {r["account"]: r for r in trial_balance(s, w.sc.event_id, start, end)}
    table = _csv(b"".join(trial_balance_csv(w.db, w.sc.event_id, start=start, end=end)))
    assert table[0] == ["勘定コード", "勘定科目", "区分", "期首残高", "借方合計", "貸方合計",
                        "期末残高"]
    body = [r for r in table[1:] if r[0] in rows]
    assert len(body) == len(rows)
    for r in body:
        row = rows[r[0]]
        assert [int(x) for x in r[3:7]] == [normal_balance(row, "opening"), row["debit"],
                                            row["credit"], normal_balance(row)]
    liability = next(r for r in body if r[0].startswith("voucher_liability"))
    assert liability[2] == "負債 Liability" and int(liability[6]) == 1500  # credit side
    total, debit_side, credit_side = table[-3], table[-2], table[-1]
    assert total[0].startswith("合計") and total[4] == total[5]
    assert int(total[4]) == sum(r["debit"] for r in rows.values())
    assert debit_side[3] == credit_side[3] and debit_side[6] == credit_side[6]
    assert int(debit_side[6]) == sum(normal_balance(r) for r in rows.values()
                                     if r["kind"] in DEBIT_NORMAL)

    book = openpyxl.load_workbook(io.BytesIO(b"".join(
        trial_balance_xlsx(w.db, w.sc.event_id, start, end))))
    sheet = book["試算表"]
    first, last = sheet.cell(2, 2), sheet.cell(2, 4)
    assert first.is_date and last.is_date
    assert (first.value.date(), last.value.date()) == (start, end)
    header = [c.value for c in sheet[4]]
    assert header[:7] == table[0]
    cash = next(row for row in sheet.iter_rows(min_row=5) if row[0].value == "cash")
    assert cash[3].data_type == "n" and cash[3].value == rows["cash"]["opening"]


def test_journal_in_japanese_with_names_and_dates(books: dict[str, Any]) -> None:
    w: World = books["w"]
    rows = _csv(b"".join(journal_csv(w.db, w.sc.event_id)))
    header = rows[0]
    assert header[3:5] == ["摘要", "担当"]
    assert header[9:] == ["記録者ID", "記録時の摘要", "取引日"]
    descriptions = {r[3] for r in rows[1:]}
    assert any(d.startswith("冊子5冊の販売 ") for d in descriptions), descriptions
    assert not any("booklet(s)" in d or "ticket(s)" in d or d.startswith("undo of")
                   for d in descriptions), descriptions
    code = f"W{1:02d}"
    assert any(d == f"{code}で券10枚の利用" for d in descriptions), descriptions
    payouts = [r for r in rows[1:] if r[2] == "支払"]
    assert payouts and {r[4] for r in payouts} == {"会計 山田"}
    assert {r[9] for r in payouts} == {f"staff:{books['staff_id']}"}
    redemptions = [r for r in rows[1:] if r[2] == "利用"]
    assert {r[9] for r in redemptions} == {f"workshop:{i}" for i in w.sc.workshop_ids}
    assert all(r[4].startswith("W0") and r[4] != r[9] for r in redemptions)
    assert any(r[10].endswith("ticket(s) at W01") for r in redemptions)  # kept as written
    # 取引日: the business date; a payout's is its period's transfer date, others the
    # Tokyo day they were recorded
    with w.db.read() as s:
        paid_on = {str(d) for d in s.execute(select(SettlementPeriod.transfer_date)
                                              .where(SettlementPeriod.status == "paid")
                                              ).scalars()}
        recorded = {str(i): str(clock.tokyo_date(_aware(at))) for i, at in s.execute(
            select(JournalEntry.id, JournalEntry.occurred_at)
            .where(JournalEntry.event_id == w.sc.event_id)).all()}
    assert paid_on and {r[11] for r in payouts} <= paid_on
    assert all(r[11] == recorded[r[0]] for r in rows[1:] if r[2] != "支払")

    book = openpyxl.load_workbook(io.BytesIO(b"".join(journal_xlsx(w.db, w.sc.event_id))),
                                  read_only=True)
    sheet = book.active
    assert sheet is not None
    cells = list(sheet.iter_rows(min_row=2))
    with w.db.read() as s:
        times = dict(s.execute(select(JournalEntry.id, JournalEntry.occurred_at)
                               .where(JournalEntry.event_id == w.sc.event_id)).all())
    assert len(cells) == len(rows) - 1
    for row in cells:
        stamp = row[1]
        assert stamp.is_date and isinstance(stamp.value, datetime)
        expected = clock.as_tokyo(_aware(times[row[0].value])).replace(tzinfo=None,
                                                                        microsecond=0)
        assert stamp.value == expected
        assert stamp.number_format == "yyyy-mm-dd hh:mm:ss"
        assert row[11].is_date and isinstance(row[11].value, datetime)  # 取引日, a date


def test_actor_names_of_commands_and_people(books: dict[str, Any]) -> None:
    w: World = books["w"]
    with w.db.read() as s:
        names = ActorNames(s, w.sc.event_id)
    assert names.name("cli") == "コマンド操作 (CLI)"
    assert names.name("cli:yamada") == "コマンド操作 (CLI: yamada)"  # `oflocal books`
    assert names.name(f"staff:{books['staff_id']}") == "会計 山田"
    assert names.name("someone") == "someone"  # unknown: as recorded


def test_descriptions_of_every_known_memo() -> None:
    assert description_ja("sale", "3 booklet(s) of 2026秋") == "冊子3冊の販売 2026秋"
    assert description_ja("booklet_pickup", "1 booklet(s) of P") == "返礼冊子1冊の引渡し P"
    assert description_ja("undo", "undo of redemption 12") == "仕訳12の利用の取消"
    assert description_ja("expiry", "4 unredeemed ticket(s) expired after 2027-01-31") == (
        "未使用券4枚の失効（使用期限 2027-01-31）")
    assert description_ja("pledge_paid", "pledge P-7K2M (bank)") == "支援 P-7K2M の入金（銀行振込）"
    assert description_ja("refund", "refund 3 attempt 2 (bank_transfer)") == (
        "返金 3（2回目・銀行振込）")
    assert description_ja("campaign_success", "campaign kiln succeeded (12 pledges)") == (
        "クラファン kiln 成立（支援12件）")
    assert description_ja("correction", "訂正 券T00100001W35G6ZRKSRJ（仕訳11の利用）: 誤読") == (
        "訂正 券T001-0000-1W35-G6ZR-KSRJ（仕訳11の利用）: 誤読")
    assert description_ja("reversal", "伝票0006 取消（反対仕訳）（山田商店）: 0005の取消 "
                                      "Reversal of 0005: 二重に入力") == (  # as first stored
        "伝票0006 取消（反対仕訳）（山田商店）: 0005の取消: 二重に入力")
    payout = "精算 第1回 振込日 2026-12-04"
    assert description_ja("payout", payout) == payout


def test_accounts_are_listed_with_numbers_in_order() -> None:
    codes = ["payable:W10", "payable:W2", "bank", "payable:W1", "receivable:W3"]
    assert sorted(codes, key=code_order) == [
        "bank", "payable:W1", "payable:W2", "payable:W10", "receivable:W3"]


def test_line_of_places_later_accounts_by_code_and_class() -> None:
    assert line_of("subsidy_income", "income", -1) == ("in", "subsidy")
    assert line_of("sponsorship", "equity", -1) == ("in", "sponsors")
    assert line_of("bank_fees", "expense", 1) == ("out", "fees")
    assert line_of("postage", "expense", 1) == ("out", None)
    # 雑費 is the その他の経費 line, not a second "Other expenses" line beside it
    assert line_of("other_expenses", "expense", 1) == ("out", "expenses")
    assert line_of("refunds_owed", "liability", -1) == ("in", None)
    assert line_of("premium_fund", "equity", 5) == ("out", "premium")
    assert line_of("premium_fund", "equity", -5) == ("in", "premium_fund_in")


def _independent_lines(db: Database, event_id: int, start: date, end: date) -> dict[str, int]:
    """The report's voucher lines from the domain's own rows (sales, settlement lines)."""
    since = clock.start_of_tokyo_day(start)
    until = clock.start_of_tokyo_day(end + timedelta(days=1))
    with db.read() as s:
        sales = [x for x in s.execute(select(Sale)).scalars()
                 if since <= _aware(x.sold_at) < until and x.payment_method != "pledge"]
        lines = [(line, p.transfer_date) for line, p in s.execute(
            select(SettlementLine, SettlementPeriod)
            .join(SettlementPeriod, SettlementPeriod.id == SettlementLine.period_id)
            .where(SettlementPeriod.event_id == event_id, SettlementPeriod.status == "paid")
        ).all() if p.transfer_date is not None]
    paid = [line for line, day in lines if start <= day <= end]  # on the transfer date
    return {"booklet_sales": sum(x.face_total for x in sales),
            "premium": sum(x.premium_total for x in sales),
            "cash_in": sum(x.amount_paid for x in sales),
            "payouts": sum(line.payable for line in paid),
            "fee_income": sum(line.fee for line in paid),
            "net_out": sum(line.net for line in paid)}


@pytest.mark.parametrize("which", ["year", "day_one_only", "today_only"])
def test_annual_report_equals_the_trial_balance(books: dict[str, Any], which: str) -> None:
    w: World = books["w"]
    event = w.sc.event_id
    start, end = {"year": fiscal_year(books["today"]),
                  "day_one_only": (books["day_one"], books["day_one"]),
                  "today_only": (books["today"], books["today"])}[which]
    with w.db.read() as s:
        report = annual_report(s, event, start, end)
        trial = trial_balance(s, event, start, end)
    funds = [r for r in trial if r["kind"] == "asset"]
    assert report.brought_forward == sum(r["opening"] for r in funds)
    assert report.carried_forward == sum(r["closing"] for r in funds)
    assert report.brought_forward + report.difference == report.carried_forward
    assert [(x.key, x.amount) for x in report.funds] == [(r["account"], r["closing"])
                                                          for r in funds]
    liabilities = sum(normal_balance(r) for r in trial if r["kind"] == "liability")
    assert sum(x.amount for x in report.obligations) == liabilities
    income = {x.key: x.amount for x in report.income}
    spent = {x.key: x.amount for x in report.expenditure}
    expected = _independent_lines(w.db, event, start, end)
    assert income["booklet_sales"] == expected["booklet_sales"]
    assert spent["premium"] == expected["premium"]
    assert spent["payouts"] == expected["payouts"]
    assert income["fee_income"] == expected["fee_income"]
    assert report.difference == expected["cash_in"] - expected["net_out"]
    assert income["crowdfunding"] == income["subsidy"] == income["sponsors"] == 0
    if which == "year":
        assert (income["booklet_sales"], spent["premium"]) == (15000, 2500)
        assert spent["payouts"] == 13500 and income["fee_income"] == 13500 * 250 // 10000 > 0
        assert report.carried_forward == 12500 - (13500 - income["fee_income"])
    if which == "day_one_only":
        assert spent["payouts"] == 0 and report.brought_forward == 0
    if which == "today_only":  # the sales are brought forward
        assert report.brought_forward == 12500 and income["booklet_sales"] == 0


def test_an_entry_counts_on_its_business_day_not_when_it_was_recorded(
        books: dict[str, Any]) -> None:
    """A transfer recorded today for yesterday (as a payout marked paid a day late) is in
    yesterday's trial balance and annual report, not today's."""
    w: World = books["w"]
    event, today = w.sc.event_id, books["today"]
    yesterday = today - timedelta(days=1)
    with w.db.read() as s:
        before = {r["account"]: r for r in trial_balance(s, event, yesterday, yesterday)}
        today_before = {r["account"]: r for r in trial_balance(s, event, today, today)}
    with w.db.write() as s:
        accounts = account_ids(s, event, "cash", "bank")
        post_entry(s, event_id=event, kind="correction", occurred_at=clock.now(),
                   business_date=yesterday, memo="late entry",
                   lines=[(accounts["bank"], 700), (accounts["cash"], -700)])
    with w.db.read() as s:
        on_the_day = {r["account"]: r for r in trial_balance(s, event, yesterday, yesterday)}
        today_rows = {r["account"]: r for r in trial_balance(s, event, today, today)}
    assert on_the_day["bank"]["debit"] == before["bank"]["debit"] + 700
    assert on_the_day["cash"]["credit"] == before["cash"]["credit"] + 700
    assert today_rows["bank"]["opening"] == on_the_day["bank"]["closing"]  # brought forward
    for account in ("bank", "cash"):  # today's own movements are as they were
        assert (today_rows[account]["debit"], today_rows[account]["credit"]) == (
            today_before[account]["debit"], today_before[account]["credit"])
    assert recount(w.db, event, yesterday, yesterday)["bank"] == (
        on_the_day["bank"]["opening"], on_the_day["bank"]["debit"],
        on_the_day["bank"]["credit"], on_the_day["bank"]["closing"])


def test_annual_report_places_the_treasurers_own_entries(books: dict[str, Any]) -> None:
    """Accounts another part may add (a subsidy, a bank fee, sponsors into the premium
    fund) fall into their lines; a move between funds is no line at all."""
    w: World = books["w"]
    event = w.sc.event_id
    with w.db.write() as s:
        # subsidy_income and bank_fees are standard accounts now (the treasurer's
        # vouchers, migration 0019); postage is one a committee might add.
        s.add(Account(event_id=event, code="postage", name="通信費 Postage", kind="expense"))
        s.flush()
        ids = account_ids(s, event, "bank", "cash", "subsidy_income", "bank_fees", "postage",
                          "premium_fund", "other_expenses")
        now = clock.now()
        for kind, lines in (
            ("funding", [(ids["bank"], 50000), (ids["subsidy_income"], -50000)]),
            ("funding", [(ids["bank"], 30000), (ids["premium_fund"], -30000)]),
            ("correction", [(ids["bank_fees"], 660), (ids["bank"], -660)]),
            ("correction", [(ids["postage"], 1200), (ids["cash"], -1200)]),
            ("correction", [(ids["other_expenses"], 3300), (ids["cash"], -3300)]),
            ("funding", [(ids["bank"], 10000), (ids["cash"], -10000)]),
        ):
            post_entry(s, event_id=event, kind=kind, lines=lines, occurred_at=now, actor="t")
    start, end = fiscal_year(books["today"])
    with w.db.read() as s:
        report = annual_report(s, event, start, end)
        trial = trial_balance(s, event, start, end)
    income = {x.key: x.amount for x in report.income}
    spent = {x.key: (x.label, x.amount) for x in report.expenditure}
    assert income["subsidy"] == 50000 and income["premium_fund_in"] == 30000
    assert spent["fees"][1] == 660 and spent["postage"] == ("通信費 Postage", 1200)
    assert spent["expenses"][1] == 3300 and "other_expenses" not in spent
    assert report.carried_forward == sum(r["closing"] for r in trial if r["kind"] == "asset")
    assert report.brought_forward + report.difference == report.carried_forward


# ------------------------------------------------------------------ API, page and CLI


@pytest.fixture
def client(db: Database, books: dict[str, Any], secret: bytes,
           tmp_path: Path) -> Iterator[tuple[TestClient[Litestar], dict[str, str]]]:
    with db.write() as session:
        desk = StaffUser(username="books-d", display_name="d", role="desk", password_hash="!",
                         created_at=clock.now())
        session.add(desk)
        session.flush()
        desk_id = desk.id
    tokens = {"treasurer": issue_api_token(db, name="t", staff_user_id=books["staff_id"]),
              "desk": issue_api_token(db, name="d", staff_user_id=desk_id)}
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as c:
        yield c, tokens


def _get(c: Any, token: str, path: str, **kw: Any) -> Any:
    return c.get("/api/v1" + path, headers={"Authorization": f"Bearer {token}"}, **kw)


def test_trial_balance_and_annual_report_over_the_api(
        books: dict[str, Any], client: tuple[TestClient[Litestar], dict[str, str]]) -> None:
    c, tokens = client
    w: World = books["w"]
    event = w.sc.event_id
    period = {"from": books["day_two"].isoformat(), "to": books["today"].isoformat()}
    for path in (f"/events/{event}/trial-balance", f"/events/{event}/annual-report",
                 f"/events/{event}/exports/annual-report"):
        assert _get(c, tokens["desk"], path).status_code == 403
    out = _get(c, tokens["treasurer"], f"/events/{event}/trial-balance", params=period).json()
    expected = recount(w.db, event, books["day_two"], books["today"])
    assert {r["account"]: (r["opening"], r["debit"], r["credit"], r["closing"])
            for r in out["rows"]} == expected
    assert out["balanced"] and out["total_debit"] == out["total_credit"] > 0
    assert (out["start"], out["end"]) == (period["from"], period["to"])
    backwards = _get(c, tokens["treasurer"], f"/events/{event}/trial-balance",
                     params={"from": period["to"], "to": period["from"]})
    assert backwards.status_code == 422
    assert backwards.json()["code"] == "report.period_invalid"
    as_csv = _get(c, tokens["treasurer"], f"/events/{event}/exports/trial-balance",
                  params=period)
    assert f"{period['from']}-{period['to']}.csv" in as_csv.headers["content-disposition"]
    assert _csv(as_csv.content)[-3][4] == str(out["total_debit"])

    year = _get(c, tokens["treasurer"], f"/events/{event}/annual-report").json()
    first, last = fiscal_year(clock.tokyo_date(clock.now()))
    assert (year["start"], year["end"]) == (first.isoformat(), last.isoformat())
    assert year["brought_forward"] + year["difference"] == year["carried_forward"]
    assert year["income_total"] - year["expenditure_total"] == year["difference"]
    pdf = _get(c, tokens["treasurer"], f"/events/{event}/exports/annual-report")
    assert pdf.headers["content-type"] == "application/pdf"
    doc = pdfium.PdfDocument(pdf.content)
    text = "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    doc.close()
    for shown in ("収支報告書", "商品券販売収入", "¥15,000", "次期繰越金",
                  yen(year["carried_forward"]), "監事"):
        assert shown in text, shown
    # the 純資産 section, line by line as the JSON has it (and the XLSX below)
    lines = text.splitlines()
    equity = lines.index("純資産 Equity")
    assert year["equity"] and all(
        f"{x['label']} {yen(x['amount'])}" in lines[equity:] for x in year["equity"]), text
    xlsx = _get(c, tokens["treasurer"], f"/events/{event}/exports/annual-report",
                params={"format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content))["収支報告書"]
    assert sheet.cell(2, 2).is_date and sheet.cell(2, 2).value.date() == first
    values = {row[0].value: row[1].value for row in sheet.iter_rows(min_row=5)}
    assert values["次期繰越金 Carried forward"] == year["carried_forward"]
    assert values["収入合計 Total receipts"] == year["income_total"]
    assert "【純資産 Equity】" in values and all(
        values[f"\u3000{x['label']}"] == x["amount"] for x in year["equity"])


def test_books_page(books: dict[str, Any], client: tuple[TestClient[Litestar], dict[str, str]],
                    db: Database) -> None:
    c, _tokens = client
    w: World = books["w"]
    actor = Actor("staff", books["staff_id"], "会計 山田", "treasurer")
    token, _csrf = open_session(db, actor, hours=1)
    c.cookies.set(SESSION_COOKIE, token)
    c.cookies.set("oflocal_lang", "ja")
    page = c.get("/treasurer/books", params={"event": w.sc.event_id})
    assert page.status_code == 200
    html = page.text
    for shown in ("試算表", "収支報告書", "期首残高", "借方合計", "資産 Asset", "¥15,000",
                  "exports/annual-report?from=", "借方合計と貸方合計"):
        assert shown in html, shown
    wrong = c.get("/treasurer/books", params={"event": w.sc.event_id, "from": "2027-01-02",
                                              "to": "2027-01-01"})
    assert wrong.status_code == 422 and "期間の終わり" in wrong.text


def test_report_commands(books: dict[str, Any], run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    day_two, today = books["day_two"].isoformat(), books["today"].isoformat()
    shown = run_cli("report", "trial-balance", "--from", day_two, "--to", today)
    assert shown.exit_code == 0, shown.stderr
    assert "期首残高" in shown.stdout and "¥12,500" in shown.stdout
    assert "UNBALANCED" not in shown.stdout
    out = tmp_path / "tb.xlsx"
    wrote = run_cli("report", "trial-balance", "--from", day_two, "--to", today,
                    "--format", "xlsx", "-o", str(out))
    assert wrote.exit_code == 0 and out.read_bytes()[:2] == b"PK"
    backwards = run_cli("report", "trial-balance", "--from", today, "--to", day_two)
    assert backwards.exit_code == 2 and "report.period_invalid" in backwards.stderr
    pdf, xlsx = tmp_path / "a.pdf", tmp_path / "a.xlsx"
    annual = run_cli("report", "annual", "--pdf", str(pdf), "--xlsx", str(xlsx))
    assert annual.exit_code == 0, annual.stderr
    assert "収支報告書" in annual.stdout and "¥15,000" in annual.stdout
    assert pdf.read_bytes()[:4] == b"%PDF" and xlsx.read_bytes()[:2] == b"PK"
