"""The sales desk and the language switch, end to end in chromium."""

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
from oflocal.vouchers.codes import grouped
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.models import Booklet

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

DESK_LOGIN = next(login for login in STAFF_LOGINS if login[2] == "desk")


def login_desk(page: Any, programme_id: int) -> None:
    page.goto("/desk")  # not logged in: sent to the login form, and back afterwards
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("input[name=username]", DESK_LOGIN[0])
    page.fill("input[name=password]", DESK_LOGIN[3])
    page.click("button[type=submit]")
    page.wait_for_url("**/desk")
    # Other tests on the shared server add programmes; the one on sale longest comes
    # first. These tests sell the demo programme's booklets: choose it, as staff would.
    if page.locator("select#programme").count():
        page.select_option("select#programme", str(programme_id))


def test_desk_sells_two_booklets_and_speaks_english(
    desktop: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path]
) -> None:
    page = desktop
    first, second = live_server.take_booklets(2)
    login_desk(page, live_server.programme_id)
    expect(page.locator("h1")).to_have_text("冊子の販売")

    page.fill("#code", grouped(first))
    page.press("#code", "Enter")
    page.fill("#code", second.lower())
    page.press("#code", "Enter")
    expect(page.locator("#lines li")).to_have_count(2)
    expect(page.locator("#total")).to_have_text("¥5,000")

    # A ticket code is not a booklet: refused on the page, nothing added.
    ticket = live_server.signer.make("T", live_server.programme_id, 999)
    page.fill("#code", ticket)
    page.press("#code", "Enter")
    expect(page.locator("#scan-msg")).to_contain_text("冊子の表紙")
    expect(page.locator("#lines li")).to_have_count(2)

    page.click("label.method:has(input[value=card])")
    page.click("#sell")
    expect(page.locator("#receipt")).to_be_visible()
    expect(page.locator("#receipt-number")).to_have_text(re.compile(r"^R\d{2}-\d{7}$"))
    expect(page.locator("#receipt-detail")).to_contain_text("2冊")
    expect(page.locator("#receipt-detail")).to_contain_text("カード")
    shoot(page, "desk-sale.png")

    # Selling the same booklet again: refused in red, with when it was sold.
    page.click("#next-customer")
    page.fill("#code", first)
    page.press("#code", "Enter")
    page.click("#sell")
    expect(page.locator("#sale-error")).to_be_visible()
    expect(page.locator("#sale-error .refusal-primary")).to_contain_text("すでに販売済み")

    # English, remembered for the next pages.
    page.click("a.lang-switch")
    page.wait_for_url("**/desk")
    expect(page.locator("h1")).to_have_text("Sell booklets")
    expect(page.locator("legend")).to_have_text("Payment method")
    expect(page.locator("#sell")).to_have_text("Sell")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/")
    expect(page.locator("a.btn.primary")).to_have_text("Sales desk: sell booklets")


def test_a_sale_whose_answer_was_lost_is_retried_with_the_same_key(
    desktop: Any, live_server: LiveServer
) -> None:
    page = desktop
    (booklet,) = live_server.take_booklets(1)
    login_desk(page, live_server.programme_id)
    sent: list[str] = []

    def lose_first_answer(route: Any) -> None:
        sent.append(route.request.headers["idempotency-key"])
        if len(sent) == 1:
            route.fetch()  # sold on the server, but the answer is lost on the way back
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/programmes/*/sales", lose_first_answer)
    page.fill("#code", booklet)
    page.press("#code", "Enter")
    page.click("#sell")
    expect(page.locator("#retry")).to_be_visible()
    expect(page.locator("#sale-error")).to_contain_text("サーバーにつながりませんでした")
    page.click("#retry")
    expect(page.locator("#receipt-number")).to_have_text(re.compile(r"^R\d{2}-\d{7}$"))
    assert len(sent) == 2 and sent[0] == sent[1]


def test_the_page_bar_offers_the_pages_a_login_may_open(phone: Any,
                                                        live_server: LiveServer) -> None:
    """A desk login sees the desk, printing and its password, never the treasurer's
    pages; one tap reaches another page, on a phone."""
    page = phone
    login_desk(page, live_server.programme_id)
    bar = page.locator("nav.pagenav a")
    expect(bar).to_have_text(["販売窓口", "印刷", "パスワード"])
    expect(page.locator("nav.pagenav a.current")).to_have_text("販売窓口")
    page.click("nav.pagenav >> text=印刷")
    page.wait_for_url("**/printing")
    expect(page.locator("nav.pagenav a.current")).to_have_text("印刷")
    page.click("nav.pagenav >> text=パスワード")
    page.wait_for_url("**/account/password")
    expect(page.locator("h1")).to_have_text("パスワードの変更")


def test_voiding_a_booklet_says_what_it_means_first(desktop: Any,
                                                    live_server: LiveServer) -> None:
    page = desktop
    lost, sold = live_server.take_booklets(2)
    sell_booklets(live_server.db, live_server.signer, programme_id=live_server.programme_id,
                  codes=[sold], payment_method="cash", actor="test")
    login_desk(page, live_server.programme_id)
    page.click("details.void summary")
    page.fill("#void-code", grouped(sold))
    page.fill("#void-reason", "紛失")
    page.click("#void-form button[type=submit]")
    expect(page.locator("#void-msg")).to_contain_text("販売済みの冊子は無効にできません")
    expect(page.locator("#void-confirm")).to_be_hidden()

    page.fill("#void-code", grouped(lost))
    page.click("#void-form button[type=submit]")
    ask = page.locator("#void-confirm")
    expect(ask).to_be_visible()
    expect(ask).to_contain_text("券6枚、額面の合計¥3,000")
    expect(ask).to_contain_text(grouped(lost))
    page.click("#void-no")  # changed their mind: nothing happened
    expect(ask).to_be_hidden()
    assert _status(live_server, lost) == "printed"

    page.click("#void-form button[type=submit]")
    page.click("#void-yes")
    expect(page.locator("#void-msg")).to_contain_text("無効")
    expect(page.locator("#void-msg")).to_contain_text(grouped(lost))
    assert _status(live_server, lost) == "voided"


def _status(live_server: LiveServer, code: str) -> str:
    with live_server.db.read() as session:
        return str(session.execute(select(Booklet.status).where(Booklet.code == code)
                                   ).scalar_one())
