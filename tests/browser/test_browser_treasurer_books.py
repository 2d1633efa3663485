"""The treasurer's books in chromium, as a treasurer uses them: the trial balance and the
annual report (and its download) on the books page, a cash deposit posted from the
vouchers form and reversed, the bank reconciliation with the passbook balance typed in,
and the guided close-out of a programme whose last day has passed, on a phone.

Every figure the page shows is compared with a sum of the raw rows of the shared live
server's database. It runs after test_browser_treasurer.py (files run in name order) and
changes nothing other browser tests count on: its vouchers cancel out or go to accounts
no other test reads, and the programme it closes out belongs to an event of its own,
set in the past.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_live import LiveServer
from playwright.sync_api import expect
from sqlalchemy import select, text
from test_browser_treasurer import login_treasurer

from oflocal import clock
from oflocal.demo import build_event
from oflocal.treasury.entries import EntryRequest, record_entry
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.models import Programme

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def yen(amount: int) -> str:
    return f"-¥{-amount:,}" if amount < 0 else f"¥{amount:,}"


def demo_event(server: LiveServer) -> int:
    with server.db.read() as session:  # other tests on the shared server add events
        return int(session.execute(select(Programme.event_id).where(
            Programme.id == server.programme_id)).scalar_one())


def _day(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _moment(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite answers timestamps as text in raw SQL
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def raw_postings(server: LiveServer, event_id: int) -> list[tuple[int, str, str, int, date]]:
    """(posting id, account code, account class, amount, business day) of the event."""
    with server.db.read() as session:
        rows = session.execute(text(
            "SELECT p.id, a.code, a.kind, p.amount, e.business_date, e.occurred_at "
            "FROM posting p JOIN account a ON a.id = p.account_id "
            "JOIN journal_entry e ON e.id = p.entry_id WHERE a.event_id = :e"),
            {"e": event_id}).all()
    return [(pid, code, kind, int(amount),
             _day(business) if business is not None else clock.tokyo_date(_moment(at)))
            for pid, code, kind, amount, business, at in rows]


def test_the_books_page_shows_the_trial_balance_and_the_annual_report(
    desktop: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path], tmp_path: Path
) -> None:
    page = desktop
    event_id = demo_event(live_server)
    live_server.sold_tickets(1)  # at least one sale, even when this test runs alone
    login_treasurer(page, f"/treasurer/books?event={event_id}")
    expect(page.locator("h1")).to_have_text("帳簿")
    first = date.fromisoformat(page.locator("input[name=from]").input_value())
    last = date.fromisoformat(page.locator("input[name=to]").input_value())
    assert (first.month, first.day, last.month, last.day) == (4, 1, 3, 31)  # the fiscal year
    postings = raw_postings(live_server, event_id)
    debits = sum(a for _p, _c, _k, a, day in postings if first <= day <= last and a > 0)
    assert debits > 0
    totals = page.locator("#trial-balance tfoot td.n")
    expect(totals.nth(0)).to_have_text(yen(debits))
    expect(totals.nth(1)).to_have_text(yen(debits))
    expect(page.locator("#trial-balance p.done")).to_contain_text("借方合計と貸方合計")
    sizes = page.evaluate("() => ['tfoot tr.total', 'tbody tr'].map(s => getComputedStyle("
                          "document.querySelector('#trial-balance ' + s)).fontSize)")
    assert sizes[0] == sizes[1]  # the totals row is bold, not the desk's big figure
    with live_server.db.read() as session:
        accounts = session.execute(text("SELECT COUNT(*) FROM account WHERE event_id = :e"),
                                   {"e": event_id}).scalar_one()
    expect(page.locator("#trial-balance tbody tr")).to_have_count(accounts)
    bank = page.locator("#trial-balance tbody tr", has_text="普通預金 Bank")
    expect(bank).to_contain_text("資産 Asset")
    funds = sum(a for _p, _c, kind, a, day in postings if kind == "asset" and day <= last)
    carried = page.locator("#annual-report tr.total", has_text="次期繰越")
    expect(carried).to_contain_text(yen(funds))
    shoot(page, "treasurer-books.png")

    with page.expect_download() as pdf:
        page.click("#annual-report a:has-text('収支報告書（PDF）')")
    saved = tmp_path / "annual.pdf"
    pdf.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")

    # Today alone: the figures follow the period typed in.
    today = clock.tokyo_date(clock.now())
    page.fill("input[name=from]", today.isoformat())
    page.fill("input[name=to]", today.isoformat())
    page.click("form[action='/treasurer/books'] button[type=submit]")
    page.wait_for_url(re.compile(r"from=" + today.isoformat()))
    today_debits = sum(a for _p, _c, _k, a, day in postings if day == today and a > 0)
    expect(page.locator("#trial-balance tfoot td.n").nth(0)).to_have_text(yen(today_debits))


def test_a_cash_deposit_is_posted_on_the_form_and_reversed(
    desktop: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path]
) -> None:
    page = desktop
    event_id = demo_event(live_server)
    login_treasurer(page, f"/treasurer/entries?event={event_id}")
    expect(page.locator("h1")).to_have_text("新しい伝票")
    page.select_option("select[name=kind]", label="現金の預け入れ")
    page.fill("input[name=amount]", "12345")
    page.fill("input[name=description]", "受付の現金を銀行へ（ブラウザ）")
    page.fill("input[name=counterparty]", "北陸銀行 高岡支店")
    page.click("button:has-text('伝票を登録する')")
    done = page.locator("p.done[role=status]")
    expect(done).to_have_text(re.compile(r"^伝票 \d{4} を登録しました。$"))
    number = re.search(r"\d{4}", done.inner_text()).group(0)  # type: ignore[union-attr]
    row = page.locator("tbody tr", has_text="受付の現金を銀行へ（ブラウザ）")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("¥12,345")
    expect(row).to_contain_text("現金の預け入れ")
    expect(row).to_contain_text("普通預金")
    with live_server.db.read() as session:
        voucher_id, entry_id = session.execute(text(
            "SELECT id, entry_id FROM treasury_entry WHERE event_id = :e AND voucher_no = :n"),
            {"e": event_id, "n": number}).one()
        posted = dict(session.execute(text(
            "SELECT a.code, p.amount FROM posting p JOIN account a ON a.id = p.account_id "
            "WHERE p.entry_id = :id"), {"id": entry_id}).all())
    assert posted == {"bank": 12345, "cash": -12345}

    row.locator("summary:has-text('取消')").click()
    row.locator("input[name=reason]").fill("預け入れていなかった")
    row.locator("button:has-text('取消伝票を起こす')").click()
    expect(done).to_have_text(
        re.compile(rf"^伝票 {number} を取消伝票 \d{{4}} で取り消しました。$"))
    reversal = re.findall(r"\d{4}", done.inner_text())[1]
    original = page.locator(f"#voucher-{voucher_id}")
    expect(original).to_contain_text(f"取消伝票 {reversal}")
    expect(original.locator("form")).to_have_count(0)  # reversed once, for good
    mirror = page.locator("tbody tr", has=page.locator("td", has_text=re.compile(
        rf"^{reversal}$")))
    expect(mirror).to_contain_text("取消（反対仕訳）")
    expect(mirror).to_contain_text("¥12,345")
    expect(mirror).to_contain_text(f"取消対象 {number}")  # its number, not a database id
    page.locator("h2", has_text="伝票").scroll_into_view_if_needed()
    shoot(page, "treasurer-entries.png")
    with live_server.db.read() as session:
        net = dict(session.execute(text(
            "SELECT a.code, SUM(p.amount) FROM posting p JOIN account a ON a.id = p.account_id "
            "JOIN treasury_entry t ON t.entry_id = p.entry_id "
            "WHERE t.voucher_no IN (:a, :b) AND t.event_id = :e GROUP BY a.code"),
            {"a": number, "b": reversal, "e": event_id}).all())
    assert net == {"bank": 0, "cash": 0}


def test_the_bank_reconciliation_explains_the_passbook(
    desktop: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path]
) -> None:
    page = desktop
    event_id = demo_event(live_server)
    today = clock.tokyo_date(clock.now())
    sponsor = record_entry(live_server.db, EntryRequest(
        event_id=event_id, kind="sponsorship", amount=54_321, business_date=today,
        description="協賛金（ブラウザ）", counterparty="高岡銅器組合",
        credit="sponsorship_income"), actor="test")
    with live_server.db.read() as session:
        not_yet = session.execute(text(
            "SELECT p.id FROM posting p JOIN account a ON a.id = p.account_id "
            "WHERE p.entry_id = :e AND a.code = 'bank'"), {"e": sponsor["entry_id"]}
        ).scalar_one()
    ledger = sum(a for _p, code, _k, a, day in raw_postings(live_server, event_id)
                 if code == "bank" and day <= today)
    login_treasurer(page, f"/treasurer/bank?event={event_id}")
    expect(page.locator("h1")).to_have_text("銀行残高照合")
    expect(page.locator("#ledger-balance")).to_have_text(yen(ledger))

    # The passbook shows everything but the sponsor's money, which arrives tomorrow.
    passbook = ledger - 54_321
    page.fill("input[name=passbook]", f"{passbook:,}")  # typed as printed, with commas
    page.click("button:has-text('照合する')")
    expect(page.locator("#difference")).to_have_text(yen(54_321))
    boxes = page.locator("input[type=checkbox][name^='seen-']")
    for i in range(boxes.count()):
        box = boxes.nth(i)
        box.set_checked(box.get_attribute("name") != f"seen-{not_yet}")
    page.click("button:has-text('チェックを保存')")
    expect(page.locator("p.done[role=status]")).to_have_text("通帳で確認した明細を保存しました。")
    expect(page.locator("#unmatched-total")).to_have_text(yen(54_321))
    expect(page.locator("#unexplained")).to_have_text("¥0")
    expect(page.locator("p.done").last).to_have_text("差額はすべて未照合の明細で説明できます。")
    expect(page.locator("tr.unmatched")).to_have_count(1)
    expect(page.locator("tr.unmatched")).to_contain_text("協賛金（ブラウザ）")
    shoot(page, "treasurer-bank.png")

    page.fill("input[name=note]", "通帳記入 12/8")
    page.click("button:has-text('この照合を記録する')")
    expect(page.locator("p.done[role=status]")).to_have_text("照合結果を記録しました。")
    kept = page.locator("tr", has_text="通帳記入 12/8")
    expect(kept).to_contain_text(yen(passbook))
    expect(kept).to_contain_text(yen(ledger))
    with live_server.db.read() as session:
        ticked = set(session.execute(text("SELECT posting_id FROM bank_tick WHERE event_id = :e"),
                                     {"e": event_id}).scalars())
    unticked = [pid for pid, code, _k, _a, day in raw_postings(live_server, event_id)
                if code == "bank" and day <= today and pid not in ticked]
    assert unticked == [not_yet]  # payouts dated on a transfer day to come are not shown


def test_the_close_out_is_a_guided_step_on_a_phone(
    phone: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path]
) -> None:
    page = phone
    ended = clock.now() - timedelta(days=20)  # a fair whose vouchers ran out a fortnight ago
    with live_server.db.write() as session:
        past = build_event(session, live_server.signer, slug="closeout-browser", workshops=1,
                           booklets=2, now=ended)
    sell_booklets(live_server.db, live_server.signer, programme_id=past.programme_id,
                  codes=past.booklet_codes[:1], payment_method="cash", actor="test", now=ended)
    pid = past.programme_id
    login_treasurer(page, f"/treasurer?event={past.event_id}")
    reminder = page.locator(f"#closeout-reminder-{pid}")
    expect(reminder).to_contain_text("¥3,000")
    reminder.locator("a:has-text('締めくくりへ進む')").click()
    page.wait_for_url(f"**/treasurer/programmes/{pid}/close-out")
    expect(page.locator("h1")).to_have_text("商品券事業の締めくくり")
    expect(page.locator("#close-out")).to_contain_text("はい：もう使える券はありません。")
    expect(page.locator("#close-out-preview")).to_contain_text("¥3,000")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, overflow
    page.locator("#confirm-close-out").scroll_into_view_if_needed()
    shoot(page, "treasurer-close-out.png")

    page.click("#confirm-close-out")
    expect(page.locator("#close-out-done")).to_have_text(
        "締めくくりました。今回失効した券：6枚、¥3,000。")
    expect(page.locator("#closed-out")).to_be_visible()
    with live_server.db.read() as session:
        expired = session.execute(text(
            "SELECT COUNT(*), SUM(denomination) FROM ticket "
            "WHERE programme_id = :p AND status = 'expired'"), {"p": pid}).one()
        entries = session.execute(text(
            "SELECT COUNT(*) FROM journal_entry WHERE event_id = :e AND kind = 'expiry'"),
            {"e": past.event_id}).scalar_one()
    assert (tuple(expired), entries) == ((6, 3000), 1)
    page.goto(f"/treasurer?event={past.event_id}")
    expect(page.locator("h1")).to_have_text("精算期間")
    expect(page.locator(f"#closeout-reminder-{pid}")).to_have_count(0)
