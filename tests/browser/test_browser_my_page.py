"""A supporter after the pledge, on a phone (390 × 844, Japanese), in chromium, and the
venue desk handing over their voucher booklets.

The supporter asks for a sign-in link, reads it from the message the server delivered to
a local SMTP server, presses the button, corrects the postal address of a goods return,
picks a tour date, sees the invitation's QR code and the booklets' pickup QR code. At
the desk (a desk login on another phone) the pickup code is scanned (its decoded text
typed into the scan field, as a scanner does), the booklet's cover scanned and the
booklets handed over; scanning the code again is refused with when and where, and the
supporter's page says they were collected. Screenshots for docs/supporters.md and
docs/desk.md (``OFLOCAL_UPDATE_SCREENSHOTS=1``)."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from browser_live import PHONE, LiveServer, demo_event_with_account, log_in, watched_page
from PIL import Image
from playwright.sync_api import expect

from oflocal import clock
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.outcome import decide_outcome
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge
from oflocal.demo import STAFF_LOGINS
from oflocal.supporters.tours import add_slot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
EMAIL = "my-page@example.jp"
TITLE = "ひつじ団 マイページ"
LEGAL = {"representative": "山田太郎", "phone": "0766-00-0000", "price_note": "税込",
         "extra_charges": "送料¥800", "payment_terms": "7日以内", "delivery_terms": "各月",
         "cancellation_terms": "入金前は取消可"}


def _paid_supporter(server: LiveServer) -> None:
    """A campaign that ended yesterday and succeeded; the supporter's return holds goods,
    the factory tour and a voucher booklet of the demo programme (valid today)."""
    db, now = server.db, clock.now()
    event_id = demo_event_with_account(server)
    starts, ends = now - timedelta(days=6), now - timedelta(days=1)
    campaign = create_campaign(
        db, event_id=event_id, slug="hitsuji-my", title=TITLE, goal=5_000,
        starts_at=starts, ends_at=ends, payment_methods=["bank_transfer"], story="支援を。",
        now=starts, **LEGAL)
    goods = add_reward(db, campaign.id, title="手ぬぐいと見学と冊子", price=5000,
                       shipping_fee=800, delivery_month="2027-03",
                       items=[{"kind": "goods", "description": "手ぬぐい"},
                              {"kind": "tour_invite"},
                              {"kind": "voucher_booklets", "programme_id": server.programme_id,
                               "count": 1}])
    go_live(db, campaign.id, now=starts)
    shipping = {"recipient": "佐藤花子", "postal_code": "933-0029", "prefecture": "富山県",
                "address": "高岡市御旅屋町101", "phone": "0766-22-1234"}
    made = make_pledge(db, PledgeRequest(
        campaign_id=campaign.id, reward_id=goods.id, name="佐藤花子", email=EMAIL,
        phone="090-1234-5678", payment_method="bank_transfer", quantity=1, amount=None,
        answers={"shipping": shipping}), now=starts + timedelta(days=1)).body
    mark_paid(db, made["pledge_id"], source="bank", amount=made["total"], actor="staff:1",
              now=starts + timedelta(days=2))
    decide_outcome(db, campaign.id, actor="test", now=now)
    add_slot(db, campaign.id, title="機屋の見学", place="一宮市",
             starts_at=now + timedelta(days=30), capacity=10)


def _decoded(page: Any, selector: str) -> str:
    """The text of the QR code an <img> shows (decoded from its PNG, as a camera would)."""
    src = page.locator(selector).get_attribute("src")
    png = base64.b64decode(src.split(",", 1)[1])
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found, "no QR code in the image"
    return str(found[0].text)


def test_a_supporter_signs_in_and_collects_the_booklets_at_the_desk(
        phone: Any, browser: Any, live_server: LiveServer,
        shoot: Callable[[Any, str], Path]) -> None:
    _paid_supporter(live_server)
    page = phone
    page.goto("/my")
    page.locator("#signin-form input[name=email]").fill(EMAIL)
    page.locator("#signin-form button").click()
    expect(page.locator("#link-sent")).to_be_visible()
    mail = live_server.mail_to(EMAIL, "/my/signin/")
    link = re.search(r"https?://\S+(/my/signin/[A-Za-z0-9_-]+)", mail)
    assert link, mail
    page.goto(link.group(1))  # the mail names the public URL; this server's port differs
    page.locator("#use-link button").click()
    expect(page.locator("#signed-in-as")).to_contain_text(EMAIL)
    card = page.locator(".pledge-card", has_text=TITLE)
    expect(card).to_contain_text("¥5,800")
    card.locator("summary").click()
    form = card.locator(".answers-form")
    form.locator("input[name=ship_postal_code]").fill("100-0001")
    form.locator("select[name=ship_prefecture]").select_option("東京都")
    form.locator("input[name=ship_address]").fill("千代田区千代田1-1")
    form.locator("button[type=submit]").click()
    card = page.locator(".pledge-card", has_text=TITLE)
    expect(card.locator(".notice.ok")).to_contain_text("保存しました")
    card.locator(".tour-form input[name=slot]").first.check()
    card.locator(".tour-form button").click()
    card = page.locator(".pledge-card", has_text=TITLE)
    expect(card.locator(".tour-booked")).to_contain_text("機屋の見学")
    expect(card.locator(".tour .tour-code img")).to_be_visible()
    expect(card.locator(".pickup img")).to_be_visible()
    assert "/door/tour/" in _decoded(page, f"{card_id(card)} .tour .tour-code img")
    scanned = _decoded(page, f"{card_id(card)} .pickup img")
    assert "/desk/pickup/" in scanned
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    card.locator(".pickup").scroll_into_view_if_needed()
    shoot(page, "supporter-my-page.png")

    # At the venue desk, on the desk staff's phone.
    desk_context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True,
                                       has_touch=True, locale="ja-JP",
                                       base_url=live_server.url)
    pages = watched_page(desk_context)
    desk = next(pages)
    _, _, _, password = next(s for s in STAFF_LOGINS if s[2] == "desk")
    log_in(desk, "desk", password)
    desk.goto("/desk")
    desk.locator("#to-pickup").click()
    desk.locator("#pickup-code").fill(scanned)
    desk.locator("#pickup-code").press("Enter")
    expect(desk.locator("#pickup-name")).to_have_text("佐藤花子")
    expect(desk.locator(".owed")).to_contain_text("1冊")
    (booklet,) = live_server.take_booklets(1)
    desk.locator("#pickup-booklets").fill(booklet)
    desk.locator("#pickup-place").fill("本部受付")
    desk.locator("#hand-over").click()
    expect(desk.locator("#handed-over")).to_contain_text("お渡ししました")
    shoot(desk, "desk-pickup.png")
    # Scanning the same code again: refused, with when and where.
    desk.locator("a[href='/desk/pickup']").click()
    desk.locator("#pickup-code").fill(scanned)
    desk.locator("#pickup-code").press("Enter")
    refusal = desk.locator(".refusal")
    expect(refusal).to_contain_text("すでに")
    expect(refusal).to_contain_text("本部受付")
    expect(refusal).to_contain_text(clock.as_tokyo(clock.now()).strftime("%Y"))
    expect(desk.locator("#pickup-form")).to_have_count(0)
    assert desk.evaluate("document.documentElement.scrollWidth") <= 390
    next(pages, None)  # closes the desk's context and checks it saw no script error

    page.reload()
    card = page.locator(".pledge-card", has_text=TITLE)
    expect(card.locator(".pickup-done")).to_contain_text("本部受付")


def card_id(card: Any) -> str:
    return "#" + str(card.get_attribute("id"))
