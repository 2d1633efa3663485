"""Statements (PDF and CSV) and the Zengin file of a period, checked against the ledger
on both databases. The PDF is read back as text with pdfium; the Zengin file is read
back with the other engineer's independent reader (tests/settlement/zengin_reader.py)."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.invoice import check_digit_ok
from oflocal.events.models import Event, Workshop
from oflocal.events.setup import update_event, update_workshop
from oflocal.ledger.journal import business_day
from oflocal.ledger.models import JournalEntry
from oflocal.settlement.bank_days import next_bank_day
from oflocal.settlement.corrections import adjust_workshop, correct_redemption
from oflocal.settlement.models import SettlementPeriod
from oflocal.settlement.pay import mark_period_paid
from oflocal.settlement.queries import iter_statements, period_detail, period_lines
from oflocal.settlement.rules import FeeRule
from oflocal.settlement.settings import RequesterData, set_fee_rule, set_requester
from oflocal.settlement.statements import (
    CSV_HEADER,
    record_issues,
    statements_csv,
    statements_pdf,
)
from oflocal.settlement.transfer import check_period_file, make_period_file, period_zengin_file
from oflocal.vouchers.codes import CodeSigner, grouped
from test_settlement import World, lines_of, make_world


@pytest.fixture
def world(db: Database, signer: CodeSigner) -> World:
    # Valid from the day before yesterday, so two whole past days can be redeemed on at
    # any hour of the day (Tokyo).
    return make_world(db, signer,
                      programme_day=clock.tokyo_date(clock.now()) - timedelta(days=1))


def pdf_pages(data: bytes) -> list[str]:
    doc = pdfium.PdfDocument(data)
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


def settled_world(world: World) -> tuple[World, dict[str, object]]:
    """Fee 2.5 % (rounded half up); W1 4 tickets on day 1 and 2 on day 2 ... one period."""
    w = world
    set_fee_rule(w.db, event_id=w.sc.event_id, rule=FeeRule("rate", 250, 0, "round"))
    # Two past Tokyo days: base and base + 1 day (both inside the validity window).
    w.base = clock.start_of_tokyo_day(clock.tokyo_date(clock.now()) - timedelta(days=2)) + \
        timedelta(hours=10)
    w.redeem(0, 4, minutes=0)
    w.redeem(1, 3, minutes=30)
    w.redeem(0, 2, minutes=24 * 60)
    adjust_workshop(w.db, workshop_id=w.sc.workshop_ids[1], amount=77, counter_account="fee_income",
                    reason="手数料の返金", actor="t", now=w.at(24 * 60 + 1))
    period = w.close(24 * 60 + 5)
    return w, period


def test_statement_pdf_shows_the_right_totals(world: World) -> None:
    w, period = settled_world(world)
    pid = int(str(period["period_id"]))
    with w.db.read() as s:
        pdf = b"".join(statements_pdf(iter_statements(s, pid)))
    pages = pdf_pages(pdf)
    ids = w.sc.workshop_ids
    lines = lines_of(w.db, pid)
    w1, w2 = lines[ids[0]], lines[ids[1]]
    # W1: 6 × ¥500 = ¥3,000, fee 2.5 % = ¥75, net ¥2,925; W2: ¥1,500, fee ¥38 (37.5), +¥77
    assert (w1.face_total, w1.fee, w1.net) == (3000, 75, 2925)
    assert (w2.face_total, w2.fee, w2.adjustment, w2.net) == (1500, 38, 77, 1539)
    first = next(p for p in pages if "大野木工所" in p)
    # W01's invoice number in the demo: made up, with a valid check digit
    for expected in ("支払通知書", "オープンファクトリー実行委員会", "大野木工所", "T2100012340000",
                     "¥3,000", "-¥75", "¥2,925", "2.50%", "四捨五入", "普通 ***4500",
                     "振込日：未定", "第1回精算", "日別の内訳", f"口座名義：{holder(w, 0)}"):
        assert expected in first, expected
    with w.db.read() as s:  # dates as the letter writes them, in Tokyo, never 2026-12-08
        found = s.get(SettlementPeriod, pid)
        assert found is not None
        cut = found.cutoff_at.astimezone(clock.TOKYO)
    assert f"対象期間（第1回精算）：開始 〜 {ja(cut.date())} {cut:%H:%M}" in first
    assert not re.search(r"20\d\d-[01]\d-[0-3]\d", "".join(pages))
    second = next(p for p in pages if "高岡銅器" in p)
    assert "¥1,539" in second and "手数料の返金" in second and "¥77" in second
    # W2 has no invoice number: the only one on its page is the committee's (the seller
    # of the fee: sender block and invoice part)
    assert set(re.findall(r"登録番号 (T\d{13})", second)) == {"T3400012345678"}
    # per-day breakdown of W1: 4 tickets on day one, 2 on day two
    day1, day2 = clock.tokyo_date(w.at(0)), clock.tokyo_date(w.at(24 * 60))
    assert f"{day1.year}年{day1.month}月{day1.day}日" in first and "¥2,000" in first
    assert f"{day2.year}年{day2.month}月{day2.day}日" in first and "¥1,000" in first
    assert "大野木工所" not in "\n".join(p for p in pages if "高岡銅器" in p)

    paid_on = next_bank_day(day2)
    mark_period_paid(w.db, period_id=pid, transfer_date=paid_on, actor="t")
    with w.db.read() as s:
        paid_pdf = b"".join(statements_pdf(iter_statements(s, pid, ids[0])))
    paid_pages = pdf_pages(paid_pdf)
    assert len(paid_pages) == 1
    assert f"振込日：{paid_on.year}年{paid_on.month}月{paid_on.day}日" in paid_pages[0]
    assert "高岡銅器" not in paid_pages[0]


def holder(w: World, i: int) -> str:
    with w.db.read() as s:
        found = s.get(Workshop, w.sc.workshop_ids[i])
        assert found is not None and found.account_holder_kana
        return found.account_holder_kana


def ja(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _csv(data: bytes, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode(encoding))))


def test_statement_csv_totals_equal_the_ledger(world: World) -> None:
    w, period = settled_world(world)
    pid = int(str(period["period_id"]))
    with w.db.read() as s:
        data = b"".join(statements_csv(iter_statements(s, pid)))
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = _csv(data)
    assert list(rows[0]) == list(CSV_HEADER)
    by: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        by[(row["工房コード"], row["区分"])] += int(row["金額"])
    codes = w.sc.workshop_codes
    # Before payment: face + corrections of each workshop = what the ledger owes it.
    for i, code in enumerate(codes[:2]):
        owed = by[(code, "額面合計")] + by[(code, "訂正合計")]
        assert owed == w.payable(i)
        assert by[(code, "額面合計")] + by[(code, "訂正合計")] + by[(code, "手数料")] == \
            by[(code, "支払額")]
        assert by[(code, "券種")] == by[(code, "日別")] == by[(code, "額面合計")]
    before = w.balances()
    paid_on = next_bank_day(clock.tokyo_date(clock.now()))
    mark_period_paid(w.db, period_id=pid, transfer_date=paid_on, actor="t")
    after = w.balances()
    nets = sum(v for (_, kind), v in by.items() if kind == "支払額")
    fees = -sum(v for (_, kind), v in by.items() if kind == "手数料")
    assert before["bank"] - after["bank"] == nets == 2925 + 1539
    assert before["fee_income"] - after["fee_income"] == fees == 75 + 38
    assert w.payable(0) == w.payable(1) == 0
    paid_rows = _csv(b"".join(_statements(w, pid)))
    assert {r["振込日"] for r in paid_rows} == {paid_on.isoformat()}
    w.assert_verified()

    sjis = _statements(w, pid, encoding="cp932")
    assert _csv(b"".join(sjis), "cp932")[0]["工房名"] == "大野木工所"


def _statements(w: World, pid: int, encoding: str = "utf-8-sig") -> list[bytes]:
    with w.db.read() as s:
        return list(statements_csv(iter_statements(s, pid), encoding))


def test_one_workshop_statement_and_missing_one(world: World) -> None:
    w, period = settled_world(world)
    pid = int(str(period["period_id"]))
    with w.db.read() as s:
        rows = _csv(b"".join(statements_csv(iter_statements(s, pid, w.sc.workshop_ids[1]))))
        assert {r["工房コード"] for r in rows} == {w.sc.workshop_codes[1]}
        with pytest.raises(Refusal) as none:
            list(iter_statements(s, pid, w.sc.workshop_ids[2]))
    assert none.value.code == "settlement.not_in_period"


# -------------------------------------------------------------------------- Zengin


_business_day = next_bank_day


def _reader():  # type: ignore[no-untyped-def]
    """The independent Zengin reader written with the file format (tests/settlement)."""
    path = Path(__file__).parent / "settlement" / "zengin_reader.py"
    spec = importlib.util.spec_from_file_location("oflocal_test_zengin_reader", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_zengin_file_of_a_period(world: World) -> None:
    w, period = settled_world(world)
    pid = int(str(period["period_id"]))
    day = _business_day(clock.tokyo_date(clock.now()) + timedelta(days=3))
    with w.db.read() as s:
        with pytest.raises(Refusal) as no_requester:
            period_zengin_file(s, pid, day)
        assert no_requester.value.code == "zengin.blocked"
        assert {p["payee_key"] for p in no_requester.value.facts["problems"]} == {None}
    set_requester(w.db, event_id=w.sc.event_id, data=RequesterData(
        "1234567890", "オープンファクトリージッコウイインカイ", "0001", "001", 1, "7654321"))
    with w.db.read() as s:
        data, payees, total = period_zengin_file(s, pid, day)
        assert check_period_file(s, pid, day) == []
    assert (payees, total) == (2, 2925 + 1539)
    parsed = _reader().read(data)
    assert (parsed.count, parsed.total) == (2, total)
    assert parsed.header.requester_code == "1234567890"
    assert parsed.header.requester_name == "ｵ-ﾌﾟﾝﾌｱｸﾄﾘ-ｼﾞﾂｺｳｲｲﾝｶｲ"
    assert parsed.header.transfer_mmdd == f"{day:%m%d}"
    assert [(r.payee_name, r.amount) for r in parsed.data] == [
        ("ｵｵﾉﾓﾂｺｳｼﾖ", 2925), ("ﾔﾏﾓﾄﾁﾕｳｿﾞｳ", 1539)]
    assert [r.account_number for r in parsed.data] == ["1234500", "1234501"]
    assert [int(r.customer_code_1) for r in parsed.data] == [
        int(i) for i in w.sc.workshop_ids[:2]]
    # A workshop whose net is zero is not in the file: W3 redeemed nothing.
    assert w.sc.workshop_ids[2] not in lines_of(w.db, pid)


def test_zengin_is_blocked_by_a_workshop_with_bad_bank_data(world: World) -> None:
    w, period = settled_world(world)
    pid = int(str(period["period_id"]))
    set_requester(w.db, event_id=w.sc.event_id, data=RequesterData(
        "1234567890", "ｼﾞﾂｺｳｲｲﾝｶｲ", "0001", "001", 1, "7654321"))
    with w.db.write() as s:
        s.execute(update(Workshop).where(Workshop.id == w.sc.workshop_ids[0])
                  .values(bank_code=None))
        s.execute(update(Workshop).where(Workshop.id == w.sc.workshop_ids[1])
                  .values(branch_code="999", account_holder_kana="山本鋳造"))
        # W3 has no line with a positive net: its missing data blocks nothing.
        s.execute(update(Workshop).where(Workshop.id == w.sc.workshop_ids[2])
                  .values(account_number=None))
    day = _business_day(clock.tokyo_date(clock.now()) + timedelta(days=3))
    with w.db.read() as s, pytest.raises(Refusal) as blocked:
        period_zengin_file(s, pid, day)
    problems = blocked.value.facts["problems"]
    assert blocked.value.facts["count"] == len(problems) == 3
    w1, w2 = w.sc.workshop_codes[:2]
    assert {(p["payee_key"], p["field"]) for p in problems} == {
        (w1, "bank_code"), (w2, "branch_code"), (w2, "name_kana")}
    assert all(p["message_ja"] and p["message_en"] for p in problems)
    assert "3件" in blocked.value.message("ja")


# ------------------------------------------------------------ the account paid to


def test_a_paid_period_keeps_showing_the_account_it_was_paid_to(world: World) -> None:
    """W1 and the committee move banks after a period is paid: that period's statement,
    CSV, lines and Zengin file still show the old accounts (where the money went and came
    from); the next period the new ones."""
    w, period = settled_world(world)
    pid = int(str(period["period_id"]))
    set_requester(w.db, event_id=w.sc.event_id, data=RequesterData(
        "1234567890", "ｼﾞﾂｺｳｲｲﾝｶｲ", "0001", "001", 1, "7654321"))
    paid_on = next_bank_day(clock.tokyo_date(clock.now()))
    mark_period_paid(w.db, period_id=pid, transfer_date=paid_on, actor="t")
    w1 = w.sc.workshop_ids[0]
    holder_before = holder(w, 0)
    with w.db.write() as s:
        update_workshop(s, w1, {"bank_code": "0005", "branch_code": "001",
                                "account_number": "7777777", "account_holder_kana": "ｼﾝｺｳｻﾞ"})
    set_requester(w.db, event_id=w.sc.event_id, data=RequesterData(
        "9876543210", "ｼﾝｲｲﾝｶｲ", "0005", "001", 1, "1111111"))
    w.redeem(0, 1, minutes=24 * 60 + 10)
    later = int(w.close(24 * 60 + 20)["period_id"])

    with w.db.read() as s:
        old_lines = {ln["workshop_id"]: ln for ln in period_lines(s, pid)}
        new_lines = {ln["workshop_id"]: ln for ln in period_lines(s, later)}
        old_pdf = pdf_pages(b"".join(statements_pdf(iter_statements(s, pid, w1))))[0]
        new_pdf = pdf_pages(b"".join(statements_pdf(iter_statements(s, later, w1))))[0]
        old_csv = _csv(b"".join(statements_csv(iter_statements(s, pid, w1))))
        old_file, _, _ = period_zengin_file(s, pid)  # a paid period: its transfer date
        new_file, _, _ = period_zengin_file(s, later, next_bank_day(paid_on + timedelta(days=1)))
    assert old_lines[w1]["bank_account"] == "普通 ***4500"
    assert new_lines[w1]["bank_account"] == "普通 ***7777"
    assert "普通 ***4500" in old_pdf and "7777" not in old_pdf
    assert "普通 ***7777" in new_pdf
    # the holder's name as the money went: the old one on the paid period's statement
    assert f"口座名義：{holder_before}" in old_pdf and "シンコウザ" not in old_pdf
    # typed half-width as Zengin wants it, on the letter full-width (the file keeps it)
    assert "口座名義：シンコウザ" in new_pdf and "ｼﾝｺｳｻﾞ" not in new_pdf
    assert any("***4500" in value for row in old_csv for value in row.values())
    old_parsed, new_parsed = _reader().read(old_file), _reader().read(new_file)
    assert (old_parsed.header.requester_code, old_parsed.header.account_number) == (
        "1234567890", "7654321")
    assert (new_parsed.header.requester_code, new_parsed.header.account_number) == (
        "9876543210", "1111111")
    old_rows = {r.account_number: r for r in old_parsed.data}
    new_rows = {r.account_number: r for r in new_parsed.data}
    assert "1234500" in old_rows and "7777777" not in old_rows
    assert old_rows["1234500"].payee_name == "ｵｵﾉﾓﾂｺｳｼﾖ"
    assert new_rows["7777777"].payee_name == "ｼﾝｺｳｻﾞ" and new_rows["7777777"].bank_code == "0005"
    w.assert_verified()

    # The copy is append-only, like the lines it belongs to.
    for statement in ("UPDATE settlement_payment SET account_number = '7777777'",
                      "DELETE FROM settlement_payment",
                      "UPDATE settlement_payer SET account_number = '1111111'",
                      "DELETE FROM settlement_payer"):
        with pytest.raises(DBAPIError), w.db.write() as s:
            s.execute(text(statement))
    w.assert_verified()


# ------------------------------------------------- issue 13: dates, invoice, tickets


def _pdf(w: World, pid: int, workshop_id: int | None = None, **kw: object) -> list[str]:
    fresh = kw.pop("fresh", None)
    with w.db.read() as s:
        return pdf_pages(b"".join(statements_pdf(
            iter_statements(s, pid, workshop_id, fresh=fresh),  # type: ignore[arg-type]
            **kw)))  # type: ignore[arg-type]


def test_the_statement_is_the_qualified_invoice_for_the_fee(world: World) -> None:
    """The demo committee is registered (a valid T-number): the fee it deducts is its
    taxable sale to the workshop, so the statement carries what a qualified invoice needs,
    the tax computed once per statement (fee // 11 = fee × 10/110 cut off)."""
    w, period = settled_world(world)
    pid = int(str(period["period_id"]))
    with w.db.read() as s:
        committee = s.get(Event, w.sc.event_id)
        assert committee is not None and committee.invoice_number
        number = committee.invoice_number
        rows = _csv(b"".join(statements_csv(iter_statements(s, pid))))
    assert check_digit_ok(number)
    pages = _pdf(w, pid)
    fees = {code: -sum(int(r["金額"]) for r in rows if r["工房コード"] == code and
                       r["区分"] == "手数料") for code in w.sc.workshop_codes[:2]}
    assert fees == {w.sc.workshop_codes[0]: 75, w.sc.workshop_codes[1]: 38}
    cutoff = clock.tokyo_date(lines_period_cutoff(w, pid))
    for code, name in zip(w.sc.workshop_codes[:2], ("大野木工所", "高岡銅器 山本鋳造"),
                          strict=False):
        page = next(p for p in pages if f"{name}\u3000御中" in p)
        tax = fees[code] // 11  # independent: the largest t with 11 t <= fee
        assert f"登録番号 {number}" in page  # the seller's number
        assert "適格請求書発行事業者：オープンファクトリー実行委員会" in page
        assert f"交付を受ける事業者：{name} 御中" in page
        assert f"取引年月日：{ja(cutoff)}" in page
        assert re.search(rf"10%対象 ¥{fees[code]} ¥{tax}\r?\n", page), page
        assert "税率区分 税込金額 うち消費税等" in page and "切り捨て" in page
        taxed = [r for r in rows if r["工房コード"] == code and r["区分"] == "手数料の消費税"]
        assert len(taxed) == 1 and int(taxed[0]["金額"]) == tax
        assert number in taxed[0]["内訳"] and f"税込{fees[code]}円" in taxed[0]["内訳"]
    assert (75 // 11, 38 // 11) == (6, 3)

    # Not registered: a payment statement only, no invoice part and no tax row.
    with w.db.write() as s:
        update_event(s, w.sc.event_id, {"invoice_number": None})
    plain = "\n".join(_pdf(w, pid))
    assert "適格請求書" not in plain and "10%対象" not in plain and number not in plain
    assert "¥2,925" in plain
    with w.db.read() as s:
        kinds = {r["区分"] for r in _csv(b"".join(statements_csv(iter_statements(s, pid))))}
    assert "手数料の消費税" not in kinds


def lines_period_cutoff(w: World, pid: int) -> datetime:
    with w.db.read() as s:
        found = s.get(SettlementPeriod, pid)
        assert found is not None
        return found.cutoff_at


def test_a_zengin_file_plans_the_transfer_and_payouts_are_booked_on_it(world: World) -> None:
    """Before the file: 未定. Once a Zengin file is made for a date: 振込予定日 on the
    statement and the CSV, proposed by "mark paid"; the payouts then carry that date as
    their business date beside the time they were recorded."""
    w, period = settled_world(world)
    pid = int(str(period["period_id"]))
    set_requester(w.db, event_id=w.sc.event_id, data=RequesterData(
        "1234567890", "ｼﾞﾂｺｳｲｲﾝｶｲ", "0001", "001", 1, "7654321"))
    w1 = w.sc.workshop_ids[0]
    assert "振込日：未定（支払前）" in _pdf(w, pid, w1)[0]
    with pytest.raises(Refusal) as no_date:  # nothing planned: the date must be given
        mark_period_paid(w.db, period_id=pid, transfer_date=None, actor="t")
    assert no_date.value.code == "settlement.transfer_date_missing"
    assert "振込日" in no_date.value.message("ja") and "Zengin" in no_date.value.message("en")

    today = clock.tokyo_date(clock.now())
    first = _business_day(today + timedelta(days=3))
    planned = _business_day(first + timedelta(days=1))
    for day in (first, planned):  # the latest file made is the plan
        made = make_period_file(w.db, pid, day, actor="t")
        assert made.transfer_date == day and _reader().read(made.data).total == 2925 + 1539
    page = _pdf(w, pid, w1)[0]
    assert f"振込予定日：{ja(planned)}（全銀ファイル作成済み）" in page and "未定" not in page
    with w.db.read() as s:
        rows = _csv(b"".join(statements_csv(iter_statements(s, pid))))
        assert period_detail(s, pid)["planned_transfer_date"] == planned.isoformat()
    assert {r["振込日"] for r in rows} == {f"{planned.isoformat()}（予定）"}

    recorded = clock.now()
    mark_period_paid(w.db, period_id=pid, transfer_date=None, actor="t", now=recorded)
    with w.db.read() as s:
        detail = period_detail(s, pid)
        entries = s.execute(select(JournalEntry).where(JournalEntry.kind == "payout")
                            ).scalars().all()
        sale = s.execute(select(JournalEntry).where(JournalEntry.kind == "sale")).scalars().first()
    assert (detail["status"], detail["transfer_date"]) == ("paid", planned.isoformat())
    assert detail["planned_transfer_date"] is None
    assert len(entries) == 2
    for entry in entries:
        assert entry.business_date == planned and business_day(entry) == planned
        assert abs(_aware(entry.occurred_at) - recorded) < timedelta(seconds=1)
    assert clock.tokyo_date(recorded) != planned  # recorded today, booked on the transfer day
    assert sale is not None and sale.business_date is None  # others: the day recorded
    assert business_day(sale) == clock.tokyo_date(_aware(sale.occurred_at))
    page = _pdf(w, pid, w1)[0]
    assert f"振込日：{ja(planned)}" in page and "振込予定日" not in page
    w.assert_verified()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_a_reprint_keeps_the_first_issue_date_and_says_so(world: World) -> None:
    w, period = settled_world(world)
    pid = int(str(period["period_id"]))
    w1, w2 = w.sc.workshop_ids[:2]
    today = clock.tokyo_date(clock.now())
    two_days_ago = clock.now() - timedelta(days=2)
    fresh = record_issues(w.db, pid, w1, actor="t", now=two_days_ago)
    assert fresh == {w1}
    issued_on = clock.tokyo_date(two_days_ago)
    original = _pdf(w, pid, w1, fresh=fresh, issued=issued_on)[0]
    assert f"発行日 {ja(issued_on)}" in original and "再発行" not in original

    # Printing all statements today: W1's is a reprint, W2's is issued today.
    fresh = record_issues(w.db, pid, None, actor="t")
    assert fresh == {w2}
    pages = _pdf(w, pid, fresh=fresh)
    reprint = next(p for p in pages if "大野木工所" in p)
    first_print = next(p for p in pages if "高岡銅器" in p)
    assert f"発行日 {ja(issued_on)}" in reprint and f"再発行 {ja(today)}" in reprint
    assert f"発行日 {ja(today)}" in first_print and "再発行" not in first_print
    assert record_issues(w.db, pid, None, actor="t") == frozenset()  # both issued now
    with w.db.read() as s:
        issued = s.execute(text(
            "SELECT workshop_id, issued_on FROM settlement_statement_issue "
            "ORDER BY workshop_id")).all()
    assert [(int(a), str(b)) for a, b in issued] == [
        (w1, issued_on.isoformat()), (w2, today.isoformat())]


def test_a_correction_line_names_its_ticket(world: World) -> None:
    w = world
    out = w.redeem(0, 2, minutes=0)  # scanned on W1's phone, meant for W3
    first = w.close(5)
    mark_period_paid(w.db, period_id=int(first["period_id"]),
                     transfer_date=next_bank_day(clock.tokyo_date(w.at(5))), actor="t")
    wrong = out["tickets"][0]["code"]
    w.redeem(0, 3, minutes=8)
    correct_redemption(w.db, ticket_code=wrong, reason="別の工房で読み取り", actor="t",
                       to_workshop_id=w.sc.workshop_ids[2], now=w.at(9))
    adjust_workshop(w.db, workshop_id=w.sc.workshop_ids[0], amount=-100,
                    counter_account="breakage", reason="破損券", actor="t", now=w.at(9))
    pid = int(w.close(10)["period_id"])
    pages = _pdf(w, pid)
    w1 = next(p for p in pages if f"No. 2-{w.sc.workshop_codes[0]}" in p)
    w3 = next(p for p in pages if f"No. 2-{w.sc.workshop_codes[2]}" in p)
    label = f"訂正：別の工房で読み取り（券 {grouped(wrong)}）"
    assert f"{label} -¥500" in w1 and f"{label} ¥500" in w3
    assert "訂正：破損券 -¥100" in w1  # an adjustment concerns no ticket
    with w.db.read() as s:
        rows = _csv(b"".join(statements_csv(iter_statements(s, pid))))
    corrections = {(r["工房コード"], r["内訳"], int(r["金額"]))
                   for r in rows if r["区分"] == "訂正"}
    assert corrections == {
        (w.sc.workshop_codes[0], f"別の工房で読み取り（券 {grouped(wrong)}）", -500),
        (w.sc.workshop_codes[2], f"別の工房で読み取り（券 {grouped(wrong)}）", 500),
        (w.sc.workshop_codes[0], "破損券", -100),
    }
