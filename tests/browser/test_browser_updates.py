"""The committee writes an update (活動報告) in chromium: a preview, the draft, publishing
it, and the mailing's progress bar filling by itself (updates.js polls the progress)
until every supporter's message is sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from browser_live import LiveServer, demo_event_with_account, log_in
from playwright.sync_api import expect

from oflocal import clock
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge
from oflocal.demo import STAFF_LOGINS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
LEGAL = {"representative": "山田太郎", "phone": "0766-00-0000", "price_note": "税込",
         "extra_charges": "なし", "payment_terms": "7日以内", "delivery_terms": "各月",
         "cancellation_terms": "入金前は取消可"}


def _campaign_with_supporters(server: LiveServer, count: int) -> int:
    db, now = server.db, clock.now()
    event_id = demo_event_with_account(server)
    campaign = create_campaign(
        db, event_id=event_id, slug="hitsuji-news", title="ひつじ団 活動報告", goal=50_000,
        starts_at=now - timedelta(days=2), ends_at=now + timedelta(days=20),
        payment_methods=["bank_transfer"], story="支援を。", now=now - timedelta(days=2), **LEGAL)
    tour = add_reward(db, campaign.id, title="見学", price=5000, delivery_month="2027-03",
                      items=[{"kind": "tour_invite"}])
    go_live(db, campaign.id, now=now - timedelta(days=2))
    for n in range(count):
        made = make_pledge(db, PledgeRequest(
            campaign_id=campaign.id, reward_id=tour.id, name=f"支援者{n}",
            email=f"news{n}@example.jp", phone="090-1234-5678", payment_method="bank_transfer",
            quantity=1, amount=None, answers={}), now=now - timedelta(days=1)).body
        mark_paid(db, made["pledge_id"], source="bank", amount=5000, actor="staff:1",
                  now=now - timedelta(hours=20))
    return campaign.id


def test_an_update_is_previewed_published_and_its_mailing_watched(
        desktop: Any, live_server: LiveServer) -> None:
    campaign_id = _campaign_with_supporters(live_server, 3)
    admin = next(login for login in STAFF_LOGINS if login[2] == "admin")
    page = desktop
    log_in(page, admin[0], admin[3])
    page.goto(f"/admin/campaigns/{campaign_id}/updates")
    form = page.locator("#update-form")
    form.locator("input[name=title]").fill("見学の日程が決まりました")
    form.locator("textarea[name=body]").fill("**10月12日**です。")
    form.locator("input[name=audience][value=supporters]").check()
    form.locator("button[value=preview]").click()
    expect(page.locator("#update-preview strong")).to_have_text("10月12日")
    page.locator("#update-form button[value=save]").click()
    page.wait_for_url("**/admin/updates/*")
    page.locator("#publish-form button").click()
    expect(page.locator(".mailing-text")).to_have_text("送信 3・失敗 0／全 3", timeout=30_000)
    expect(page.locator(".mailing progress")).to_have_attribute("value", "100")
