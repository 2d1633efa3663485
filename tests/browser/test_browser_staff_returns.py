"""The committee delivers a campaign's returns in chromium, at a desk PC (1024 × 860,
Japanese): adds a factory tour date, ticks supporters and marks their thanks on social
media posted with the post's address, marks one parcel shipped with its tracking number,
hides an abusive name on the supporters' wall (the public campaign page stops showing
it) and opens the report, whose figures and chart of the money paid by day show what
was paid and delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from browser_live import LiveServer, demo_event_with_account, log_in
from playwright.sync_api import expect

from oflocal import clock
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.models import Pledge
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge
from oflocal.demo import STAFF_LOGINS
from oflocal.supporters import fulfilment, tours
from oflocal.supporters.wall import wall

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
SLUG = "hitsuji-returns"
LEGAL = {"representative": "山田太郎", "phone": "0766-00-0000", "price_note": "税込",
         "extra_charges": "送料¥800", "payment_terms": "7日以内", "delivery_terms": "各月",
         "cancellation_terms": "入金前は取消可"}
POST_URL = "https://sns.example/hitsuji_dan/status/2027"
TRACKING = "1234-5678-9012"


@dataclass
class Campaign:
    id: int
    thanks: dict[str, int]  # wall name → pledge id (thanks on social media, name on the wall)
    goods: dict[str, int]  # recipient → pledge id (a parcel)


def _campaign(server: LiveServer) -> Campaign:
    """Three paid supporters owed thanks and a wall name (one of them typed an abusive
    name), paid 50 hours ago; two owed a parcel, paid 2 hours ago (two days apart, so two
    bars on the report's chart whatever the time of day)."""
    db, now = server.db, clock.now()
    event_id = demo_event_with_account(server)
    campaign = create_campaign(
        db, event_id=event_id, slug=SLUG, title="ひつじ団 お届け", goal=50_000,
        starts_at=now - timedelta(days=3), ends_at=now + timedelta(days=20),
        payment_methods=["bank_transfer"], story="支援を。", now=now - timedelta(days=3),
        **LEGAL)
    cheer = add_reward(db, campaign.id, title="応援", price=3000, free_amount=True,
                       delivery_month="2027-03",
                       items=[{"kind": "sns_thanks"}, {"kind": "wall_name"}])
    towel = add_reward(db, campaign.id, title="手ぬぐい", price=2500, shipping_fee=800,
                       delivery_month="2027-03",
                       items=[{"kind": "goods", "description": "手ぬぐい"}])
    go_live(db, campaign.id, now=now - timedelta(days=3))

    def paid(reward: int, name: str, email: str, answers: dict[str, Any], amount: int | None,
             when: datetime) -> int:
        made = make_pledge(db, PledgeRequest(
            campaign_id=campaign.id, reward_id=reward, name=name, email=email,
            phone="090-1234-5678", payment_method="bank_transfer", quantity=1, amount=amount,
            answers=answers), now=when - timedelta(hours=1)).body
        mark_paid(db, made["pledge_id"], source="bank", amount=made["total"], actor="staff:1",
                  now=when)
        return int(made["pledge_id"])

    earlier, later = now - timedelta(hours=50), now - timedelta(hours=2)
    thanks = {wall_name: paid(cheer.id, name, f"returns-{handle}@example.jp",
                              {"sns_handle": f"@{handle}", "wall_name": wall_name}, 3000,
                              earlier)
              for name, handle, wall_name in (("山田一郎", "yamada", "山田一郎"),
                                              ("鈴木花子", "suzuki", "鈴木花子"),
                                              ("荒井", "arai", "バカバカしい名前"))}
    goods = {recipient: paid(towel.id, recipient, f"returns-{n}@example.jp",
                             {"shipping": {"recipient": recipient, "postal_code": postal,
                                           "prefecture": prefecture, "address": address,
                                           "phone": "0766-22-1234"}}, None, later)
             for n, (recipient, postal, prefecture, address) in enumerate((
                 ("佐藤花子", "933-0029", "富山県", "高岡市御旅屋町101"),
                 ("田中次郎", "100-0001", "東京都", "千代田区千代田1-1")))}
    return Campaign(campaign.id, thanks, goods)


def test_the_committee_delivers_the_returns_hides_a_name_and_reads_the_report(
        desktop: Any, live_server: LiveServer) -> None:
    c = _campaign(live_server)
    db, page = live_server.db, desktop
    admin = next(login for login in STAFF_LOGINS if login[2] == "admin")
    log_in(page, admin[0], admin[3])
    page.wait_for_url(lambda url: "/login" not in url)

    # A tour date.
    page.goto(f"/admin/campaigns/{c.id}/tours")
    form = page.locator("#tour-form")
    form.locator("input[name=title]").fill("機屋の見学")
    form.locator("input[name=place]").fill("一宮市")
    form.locator("input[name=starts_at]").fill("2027-03-14T10:00")
    form.locator("input[name=capacity]").fill("12")
    form.locator("button[type=submit]").click()
    slot = page.locator("h2", has_text="機屋の見学")
    expect(slot).to_have_text("2027-03-14 10:00 · 機屋の見学")
    expect(page.locator("p", has=page.locator(".slot-count"))).to_contain_text("一宮市")
    expect(page.locator(".slot-count")).to_have_text("0 / 12")
    [saved] = tours.slots(db, c.id)
    assert (saved.title, saved.place, saved.capacity) == ("機屋の見学", "一宮市", 12)
    assert clock.as_tokyo(saved.starts_at).strftime("%Y-%m-%d %H:%M") == "2027-03-14 10:00"

    # Thanks posted: every supporter not thanked yet comes ticked; the troll is unticked.
    page.goto(f"/admin/campaigns/{c.id}/fulfilment")
    sns = page.locator("#sns_thanks")
    expect(sns.locator("h2 small")).to_have_text("(0 / 3)")
    boxes = sns.locator("input[type=checkbox]")
    expect(boxes).to_have_count(3)
    for pledge_id in c.thanks.values():
        expect(sns.locator(f"input[name=p_{pledge_id}]")).to_be_checked()
    troll = c.thanks["バカバカしい名前"]
    sns.locator(f"input[name=p_{troll}]").uncheck()
    sns.locator("input[name=url]").fill(POST_URL)
    sns.locator("button[type=submit]").click()
    page.wait_for_url("**/fulfilment?marked=2#sns_thanks")
    sns = page.locator("#sns_thanks")
    expect(sns.locator("h2 small")).to_have_text("(2 / 3)")
    for name in ("山田一郎", "鈴木花子"):
        expect(sns.locator(f"tr[data-pledge='{c.thanks[name]}'] a")).to_have_attribute(
            "href", POST_URL)
        expect(sns.locator(f"input[name=p_{c.thanks[name]}]")).not_to_be_checked()
    expect(sns.locator(f"tr[data-pledge='{troll}'] td").last).to_have_text("—")
    posted = {o.pledge_id: o.done.detail if o.done else None
              for o in fulfilment.owed(db, c.id, "sns_thanks")}
    assert posted == {c.thanks["山田一郎"]: POST_URL, c.thanks["鈴木花子"]: POST_URL,
                      troll: None}

    # One parcel shipped.
    goods = page.locator("#goods")
    expect(goods.locator("h2 small")).to_have_text("(0 / 2)")
    row = goods.locator(f"tr[data-pledge='{c.goods['佐藤花子']}']")
    row.locator("select[name=carrier]").select_option("yamato")
    row.locator("input[name=tracking]").fill(TRACKING)
    row.locator("button[type=submit]").click()
    page.wait_for_url("**/fulfilment?marked=1#goods")
    goods = page.locator("#goods")
    expect(goods.locator("h2 small")).to_have_text("(1 / 2)")
    row = goods.locator(f"tr[data-pledge='{c.goods['佐藤花子']}']")
    expect(row).to_contain_text(f"yamato {TRACKING}")
    expect(row.locator("button[type=submit]")).to_have_text("修正")
    expect(goods.locator(f"tr[data-pledge='{c.goods['田中次郎']}'] button[type=submit]")
           ).to_have_text("発送済み")
    shipped = {o.pledge_id: o.done for o in fulfilment.owed(db, c.id, "goods")}
    parcel = shipped[c.goods["佐藤花子"]]
    assert parcel is not None and (parcel.detail, parcel.carrier) == (TRACKING, "yamato")
    assert shipped[c.goods["田中次郎"]] is None

    # The abusive name off the wall.
    public = f"/c/demo/{SLUG}"
    page.goto(public)
    expect(page.locator("#wall")).to_contain_text("バカバカしい名前")
    page.goto(f"/admin/campaigns/{c.id}/wall")
    entry = page.locator(f"tr#p{troll}")
    expect(entry.locator("td").nth(1)).to_have_text("表示")
    entry.locator("button[type=submit]").click()
    page.wait_for_url(f"**/wall#p{troll}")
    entry = page.locator(f"tr#p{troll}")
    expect(entry.locator("td").nth(1)).to_have_text("非表示")
    expect(entry.locator("button[type=submit]")).to_have_text("再表示する")
    expect(page.locator(f"tr#p{c.thanks['山田一郎']} td").nth(1)).to_have_text("表示")
    with db.read() as session:
        hidden = session.get(Pledge, troll)
        assert hidden is not None and hidden.wall_hidden_at is not None
    [group] = wall(db, c.id)
    assert (group.names, group.anonymous) == (["山田一郎", "鈴木花子"], 1)
    page.goto(public)
    expect(page.locator("#wall .wall-names li")).to_have_text(
        ["山田一郎", "鈴木花子", "ほか匿名 1名"])

    # The report: ¥9,000 paid two days ago and ¥6,600 today; what was delivered.
    page.goto(f"/admin/campaigns/{c.id}/report")
    money = page.locator("#report-money")
    expect(money.locator("dd").nth(1)).to_have_text("¥15,600")  # pledged
    expect(money.locator("dd").nth(2)).to_have_text("¥15,600")  # paid
    expect(money.locator("dd").nth(5)).to_have_text("¥15,600")  # net: no refunds, no fees
    chart = page.locator("figure.chart svg")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    bars = chart.locator("rect")
    expect(bars).to_have_count(2)
    days = [clock.tokyo_date(clock.now() - timedelta(hours=50)),
            clock.tokyo_date(clock.now() - timedelta(hours=2))]
    expect(bars.locator("title")).to_have_text(
        [f"{days[0]:%m/%d}: ¥9,000", f"{days[1]:%m/%d}: ¥6,600"])
    heights = [float(bars.nth(i).get_attribute("height") or 0) for i in range(2)]
    assert heights[0] > heights[1] > 0  # the taller bar is the bigger day
    expect(page.locator("#report-supporters")).to_have_text(
        "支援者 5名（新規 5名・以前のプロジェクトからの継続 0名）")
    delivered = page.locator("section.card", has_text="グッズ").locator("ul").last
    expect(delivered.locator("li")).to_have_text(["SNSでのお礼: 2 / 3", "グッズ: 1 / 2"])
