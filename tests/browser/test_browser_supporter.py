"""A supporter pledges from a phone (390 × 844, Japanese), end to end in chromium: the
campaign page, a return, the form, the final confirmation page (最終確認画面) with what
the law asks of it, and the bank-transfer instructions; the legal notice
(特定商取引法に基づく表記) is reachable from the campaign and the confirmation pages.
Screenshots for docs/supporters.md (``OFLOCAL_UPDATE_SCREENSHOTS=1``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_live import LiveServer
from playwright.sync_api import expect
from sqlalchemy import select

from oflocal import clock
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.models import Pledge
from oflocal.events.models import Event

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

LEGAL = {
    "representative": "山田太郎", "phone": "0766-00-0000",
    "price_note": "表示価格はすべて税込です。",
    "extra_charges": "振込手数料はご負担ください。",
    "payment_terms": "銀行振込：お申し込みから7日以内にお振込みください。",
    "delivery_terms": "各リターンに記載の月にお届けします。",
    "cancellation_terms": "入金前はいつでも取り消せます。入金後の返品・返金はお受けできません。",
}
STORY = ("## ひつじ団を募集します\n\n工場の扉をひらく3日間を、"
         "いっしょにつくってください。\n\n- 特別工場見学\n- 支援者ウォール\n\n"
         "<script>alert('x')</script>")


def _campaign(server: LiveServer) -> str:
    db = server.db
    with db.read() as session:
        event_id = session.execute(select(Event.id).where(Event.slug == "demo")).scalar_one()
    with db.write() as session:  # the committee's account, where supporters transfer
        event = session.get(Event, event_id)
        assert event is not None
        event.zengin_requester_kana = "ｵｰﾌﾟﾝﾌｧｸﾄﾘｰｼﾞｯｺｳｲｲﾝｶｲ"
        event.payer_bank_code, event.payer_branch_code = "0152", "001"
        event.payer_account_type, event.payer_account_number = 1, "7654321"
    now = clock.now()
    campaign = create_campaign(
        db, event_id=event_id, slug="hitsuji-web", title="ひつじ団 2026 サポーター募集",
        goal=300_000, starts_at=now - timedelta(days=3), ends_at=now + timedelta(days=20),
        payment_methods=["bank_transfer", "cash"], story=STORY, now=now - timedelta(days=3),
        **LEGAL)
    add_reward(db, campaign.id, title="特別工場見学", price=5000, quantity_limit=30,
               per_supporter_limit=2, delivery_month="2026-10", items=[{"kind": "tour_invite"}])
    add_reward(db, campaign.id, title="応援（お名前掲載とSNSでのお礼）", price=3000,
               free_amount=True, delivery_month="2026-06",
               items=[{"kind": "sns_thanks"}, {"kind": "wall_name"}])
    go_live(db, campaign.id, now=now - timedelta(days=3))
    return "/c/demo/hitsuji-web"


def test_a_supporter_pledges_by_bank_transfer(phone: Any, live_server: LiveServer,
                                              shoot: Callable[[Any, str], Path]) -> None:
    base = _campaign(live_server)
    page = phone
    page.goto(base)
    expect(page.locator("h1")).to_have_text("ひつじ団 2026 サポーター募集")
    expect(page.locator(".cf-story h2")).to_have_text("ひつじ団を募集します")
    assert page.locator(".cf-story script").count() == 0  # no raw HTML passes
    expect(page.locator("#reward-1, .reward").first).to_contain_text("残り30個")
    shoot(page, "supporter-campaign.png")
    # The legal notice from the campaign page.
    page.click("#legal-link")
    expect(page.locator("h1")).to_contain_text("特定商取引法に基づく表記")
    expect(page.locator("#legal")).to_contain_text("山田太郎")
    expect(page.locator("#legal")).to_contain_text("入金前はいつでも取り消せます")
    shoot(page, "supporter-legal.png")
    page.go_back()

    page.locator(".reward", has_text="応援").get_by_role("link").click()
    expect(page.locator("#pledge-form")).to_be_visible()
    page.fill("input[name=amount]", "5000")
    page.fill("input[name=name]", "佐藤花子")
    page.fill("input[name=email]", "hanako@example.jp")
    page.fill("input[name=phone]", "090-1234-5678")
    page.fill("input[name=sns_handle]", "@hanako")
    page.fill("input[name=wall_name]", "さとう")
    shoot(page, "supporter-form.png")
    page.click("#to-confirm")

    # The final confirmation page shows what Article 12-6 asks.
    confirm = page.locator("#final-confirmation")
    expect(page.locator("h1")).to_have_text("お申し込み内容の最終確認")
    expect(page.locator("#c-quantity")).to_contain_text("1")
    expect(page.locator("#c-price")).to_contain_text("¥5,000")
    expect(page.locator("#c-extra")).to_contain_text("¥0")
    expect(page.locator("#c-total")).to_contain_text("¥5,000")
    expect(page.locator("#c-payment")).to_contain_text("銀行振込")
    expect(page.locator("#c-payment")).to_contain_text("23:59までにお支払いください")
    expect(page.locator("#c-delivery")).to_contain_text("2026年6月")
    expect(page.locator("#c-cancel")).to_contain_text("入金前はいつでも取り消せます")
    expect(page.locator("#c-period")).to_contain_text("–")
    expect(confirm).to_contain_text("オープンファクトリー")
    expect(page.locator("#legal-link")).to_have_attribute("href", f"{base}/legal")
    shoot(page, "supporter-confirm.png")

    sent = {el.get_attribute("name"): el.get_attribute("value")
            for el in page.locator("#confirm-form input[type=hidden]").all()}
    page.click("#send")
    page.wait_for_url(f"**{base}/pledges/**")
    result_url = page.url
    expect(page.locator("h1")).to_have_text("ご支援ありがとうございます")
    instructions = page.locator("#bank-instructions")
    expect(instructions).to_be_visible()
    expect(page.locator("#pay-amount")).to_have_text("¥5,000")
    reference = page.locator("#pay-reference").inner_text()
    assert reference.isdigit() and len(reference) == 7
    expect(instructions).to_contain_text("7654321")
    shoot(page, "supporter-result.png")
    with live_server.db.read() as session:
        pledges = session.execute(select(Pledge).where(
            Pledge.supporter_email == "hanako@example.jp")).scalars().all()
    assert [(p.reference, p.total, p.state) for p in pledges] == [(reference, 5000, "reserved")]
    # The final button tapped a second time (the same form, so the same Idempotency-Key):
    # the same pledge's page, not a second pledge.
    again = page.request.post(f"{base}/pledge", form={**sent, "step": "send"},
                              max_redirects=0)
    assert again.status == 303 and result_url.endswith(again.headers["location"])
    with live_server.db.read() as session:
        assert len(session.execute(select(Pledge.id).where(
            Pledge.supporter_email == "hanako@example.jp")).all()) == 1
    # The confirmation page's legal link leads to the notice.
    page.click("#legal-link")
    expect(page.locator("#legal")).to_contain_text("オープンファクトリー")
