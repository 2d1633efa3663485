"""A supporter's own page on a phone (390 × 844, Japanese), in chromium: asks for a
sign-in link, opens the link from the e-mail (read from the outbox), presses the button,
corrects the postal address of a goods return, picks a tour date and sees the
invitation's QR code. Screenshot for docs/supporters.md (``OFLOCAL_UPDATE_SCREENSHOTS=1``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_live import LiveServer, demo_event_with_account
from playwright.sync_api import expect
from sqlalchemy import select

from oflocal import clock
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge
from oflocal.outbox.models import MailMessage
from oflocal.supporters.tours import add_slot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
EMAIL = "my-page@example.jp"
LEGAL = {"representative": "山田太郎", "phone": "0766-00-0000", "price_note": "税込",
         "extra_charges": "送料¥800", "payment_terms": "7日以内", "delivery_terms": "各月",
         "cancellation_terms": "入金前は取消可"}


def _paid_supporter(server: LiveServer) -> None:
    db, now = server.db, clock.now()
    event_id = demo_event_with_account(server)
    campaign = create_campaign(
        db, event_id=event_id, slug="hitsuji-my", title="ひつじ団 マイページ", goal=50_000,
        starts_at=now - timedelta(days=2), ends_at=now + timedelta(days=20),
        payment_methods=["bank_transfer"], story="支援を。", now=now - timedelta(days=2), **LEGAL)
    goods = add_reward(db, campaign.id, title="手ぬぐいと見学", price=5000, shipping_fee=800,
                       delivery_month="2027-03",
                       items=[{"kind": "goods", "description": "手ぬぐい"},
                              {"kind": "tour_invite"}])
    go_live(db, campaign.id, now=now - timedelta(days=2))
    shipping = {"recipient": "佐藤花子", "postal_code": "933-0029", "prefecture": "富山県",
                "address": "高岡市御旅屋町101", "phone": "0766-22-1234"}
    made = make_pledge(db, PledgeRequest(
        campaign_id=campaign.id, reward_id=goods.id, name="佐藤花子", email=EMAIL,
        phone="090-1234-5678", payment_method="bank_transfer", quantity=1, amount=None,
        answers={"shipping": shipping}), now=now - timedelta(days=1)).body
    mark_paid(db, made["pledge_id"], source="bank", amount=made["total"], actor="staff:1",
              now=now - timedelta(hours=20))
    add_slot(db, campaign.id, title="機屋の見学", place="一宮市",
             starts_at=now + timedelta(days=30), capacity=10)


def _link(server: LiveServer) -> str:
    with server.db.read() as session:
        body = session.execute(select(MailMessage.text_body).where(
            MailMessage.kind == "signin_link", MailMessage.to_address == EMAIL)
            .order_by(MailMessage.id.desc())).scalars().first()
    assert body is not None
    found = re.search(r"(/my/signin/[A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1)


def test_a_supporter_signs_in_corrects_the_address_and_picks_a_tour_date(
        phone: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path]) -> None:
    _paid_supporter(live_server)
    page = phone
    page.goto("/my")
    page.locator("#signin-form input[name=email]").fill(EMAIL)
    page.locator("#signin-form button").click()
    expect(page.locator("#link-sent")).to_be_visible()
    page.goto(_link(live_server))
    page.locator("#use-link button").click()
    expect(page.locator("#signed-in-as")).to_contain_text(EMAIL)
    card = page.locator(".pledge-card", has_text="ひつじ団 マイページ")
    expect(card).to_contain_text("¥5,800")
    card.locator("summary").click()
    form = card.locator(".answers-form")
    form.locator("input[name=ship_postal_code]").fill("100-0001")
    form.locator("select[name=ship_prefecture]").select_option("東京都")
    form.locator("input[name=ship_address]").fill("千代田区千代田1-1")
    form.locator("button[type=submit]").click()
    card = page.locator(".pledge-card", has_text="ひつじ団 マイページ")
    expect(card.locator(".notice.ok")).to_contain_text("保存しました")
    card.locator(".tour-form input[name=slot]").first.check()
    card.locator(".tour-form button").click()
    card = page.locator(".pledge-card", has_text="ひつじ団 マイページ")
    expect(card.locator(".tour-booked")).to_contain_text("機屋の見学")
    expect(card.locator(".tour-code img")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    shoot(page, "supporter-my-page.png")
