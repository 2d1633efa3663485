"""The treasurer's pages end to end in chromium: close a period, check and download the
Zengin file, mark the period paid, read the reports; on a desk PC and on a phone.

It closes a period on the shared live server, which settles what other browser tests
redeemed before it: it runs last in the browser group (files run in name order) and
no test after it undoes a redemption.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browser_live import LiveServer
from playwright.sync_api import expect
from sqlalchemy import select

from oflocal.demo import STAFF_LOGINS
from oflocal.events.models import Workshop
from oflocal.settlement.close import close_period
from oflocal.vouchers.models import Programme
from oflocal.vouchers.redeem import redeem_tickets

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

TREASURER = next(login for login in STAFF_LOGINS if login[2] == "treasurer")
RECORD = 120  # bytes of one Zengin record, without its CR LF


def login_treasurer(page: Any, target: str = "/treasurer") -> None:
    page.goto(target)
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("input[name=username]", TREASURER[0])
    page.fill("input[name=password]", TREASURER[3])
    page.click("button[type=submit]")
    page.wait_for_url(f"**{target}")


def _redeem_some(live_server: LiveServer) -> tuple[int, int]:
    """Redeem 4 + 2 tickets at the first two workshops; returns their face values."""
    codes = live_server.sold_tickets(1)
    with live_server.db.read() as session:
        workshops = session.execute(  # the demo event's (other tests add events)
            select(Workshop.id).join(Programme, Programme.event_id == Workshop.event_id)
            .where(Programme.id == live_server.programme_id).order_by(Workshop.code)
        ).scalars().all()
    totals = []
    for workshop_id, mine in ((workshops[0], codes[:4]), (workshops[1], codes[4:6])):
        body = redeem_tickets(live_server.db, live_server.signer, workshop_id=workshop_id,
                              codes=mine).body
        totals.append(int(body["total"]))
    return totals[0], totals[1]


def test_treasurer_closes_a_period_checks_zengin_pays_and_reads_reports(
    desktop: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path], tmp_path: Path
) -> None:
    page = desktop
    _redeem_some(live_server)
    with live_server.db.read() as session:  # other tests on the shared server add events
        event_id = session.execute(select(Programme.event_id).where(
            Programme.id == live_server.programme_id)).scalar_one()
    login_treasurer(page, f"/treasurer?event={event_id}")
    expect(page.locator("h1")).to_have_text("精算期間")

    # The committee's own account, needed for the Zengin header: refused, then saved.
    form = page.locator("form[action$='/requester']")
    form.locator("input[name=code]").fill("1234567890")
    form.locator("input[name=name_kana]").fill("ジッコウイインカイ")
    form.locator("input[name=bank_code]").fill("0001")
    form.locator("input[name=branch_code]").fill("001")
    form.locator("input[name=account_number]").fill("7654321")
    form.locator("button[type=submit]").click()
    expect(page.locator("[role=status]")).to_contain_text("委員会の口座を保存しました")

    # Close at the proposed cut-off (now): straight to the new period's page.
    page.click("form[action$='/close'] button[type=submit]")
    expect(page.locator("h1")).to_have_text("この精算期間を締めますか？")  # asks first
    expect(page.locator("#close-preview")).to_contain_text("¥")
    page.click("#confirm-close")
    page.wait_for_url(re.compile(r"/treasurer/periods/\d+$"))
    expect(page.locator("h1")).to_have_text(re.compile(r"^精算期間 \d+$"))
    expect(page.locator(".status-closed")).to_contain_text("締め済み・未払")
    rows = page.locator("table.money tbody tr")
    assert rows.count() >= 2
    total = page.locator("table.money tfoot td").nth(5).inner_text()
    assert re.fullmatch(r"¥[\d,]+", total), total
    expect(rows.first).to_contain_text("***")  # the bank account, masked
    shoot(page, "treasurer-period.png")

    # Check the bank data for the proposed transfer date (the next bank day), download.
    page.click("form[method=get] button[type=submit]")
    expect(page.locator("p.done[role=status]")).to_have_text("口座情報はすべて正しい形式です。")
    with page.expect_download() as download_info:
        page.click("a:has-text('全銀振込ファイルをダウンロード')")
    saved = tmp_path / "zengin.txt"
    download_info.value.save_as(saved)
    data = saved.read_bytes()
    records = data.split(b"\r\n")
    assert records[-1] == b"" and all(len(r) == RECORD for r in records[:-1])
    assert records[0][:1] == b"1" and records[-3][:1] == b"8" and records[-2][:1] == b"9"
    paid_to = [r for r in records[:-1] if r[:1] == b"2"]
    assert len(paid_to) == rows.count()
    assert sum(int(r[80:90]) for r in paid_to) == int(total.strip("¥").replace(",", ""))

    # Mark paid on the proposed transfer date: once; the form goes away.
    page.click("form[action$='/paid'] button[type=submit]")
    expect(page.locator("h1")).to_have_text("この精算期間を支払済みにしますか？")  # asks first
    expect(page.locator("#paid-preview")).to_contain_text(total)
    page.click("#confirm-paid")
    page.wait_for_url(re.compile(r"/treasurer/periods/\d+$"))
    expect(page.locator(".status-paid")).to_contain_text("支払済み")
    expect(page.locator("form[action$='/paid']")).to_have_count(0)

    page.goto(f"/treasurer?event={event_id}")
    expect(page.locator("td.status-paid").first).to_contain_text("支払済み")
    shoot(page, "treasurer.png")

    # Reports: the programme's figures and both charts.
    page.goto(f"/treasurer/reports?event={event_id}")
    expect(page.locator("table.figures").first).to_be_visible()
    expect(page.locator("svg")).to_have_count(2)
    expect(page.locator("svg").first).to_contain_text("日別の利用額")
    page.locator("svg").first.scroll_into_view_if_needed()
    shoot(page, "treasurer-reports.png")


def test_treasurer_pages_fit_a_phone(phone: Any, live_server: LiveServer) -> None:
    """Wide money tables scroll inside their card; the page itself never scrolls sideways."""
    page = phone
    _redeem_some(live_server)
    with live_server.db.read() as session:
        event_id = session.execute(select(Programme.event_id).where(
            Programme.id == live_server.programme_id)).scalar_one()
    period = close_period(live_server.db, event_id=event_id, actor="test").body
    login_treasurer(page)
    for path in ("/treasurer", f"/treasurer/periods/{period['period_id']}", "/treasurer/reports"):
        page.goto(path)
        expect(page.locator("h1").first).to_be_visible()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (path, overflow)
