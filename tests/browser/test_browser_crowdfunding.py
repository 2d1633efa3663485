"""The committee's and treasurer's crowdfunding in chromium: the campaign editor names
what the legal notice lacks, previews the story, takes a picture, goes live; a bank
transfer is marked received from the pledges list; the outcome is decided after its
confirmation page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_live import LiveServer
from playwright.sync_api import expect
from sqlalchemy import update

from cf_staff_world import build
from oflocal import clock
from oflocal.demo import STAFF_LOGINS, demo_picture
from oflocal.vouchers.models import Programme

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ADMIN = next(login for login in STAFF_LOGINS if login[2] == "admin")


def _off_sale(live_server: LiveServer, *programme_ids: int) -> None:
    """The worlds' events come with a voucher programme on sale; on the shared server it
    would become the desk's, printing's and treasurer's first choice for the tests after
    this one. Crowdfunding needs none: close their sales."""
    with live_server.db.write() as session:
        session.execute(update(Programme).where(Programme.id.in_(programme_ids))
                        .values(sales_ends_at=clock.now() - timedelta(days=30),
                                sales_starts_at=clock.now() - timedelta(days=31)))


def test_editor_go_live_mark_a_transfer_and_decide(
    desktop: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path], tmp_path: Path
) -> None:
    draft = build(live_server.db, live=False, legal=False, slug="br-draft")
    ended = build(live_server.db, ended=True, goal=5000, slug="br-ended")
    _off_sale(live_server, draft.programme_id, ended.programme_id)
    pledge = ended.pledge(at=clock.now() - timedelta(days=2))
    page = desktop
    page.goto(f"/admin/campaigns/{draft.campaign_id}")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("input[name=username]", ADMIN[0])
    page.fill("input[name=password]", ADMIN[3])
    page.click("button[type=submit]")
    page.wait_for_url(f"**/admin/campaigns/{draft.campaign_id}")

    expect(page.locator("#missing")).to_contain_text("運営責任者")
    expect(page.locator("#go-live-button")).to_have_count(0)
    for name, value in (("representative", "山田太郎"), ("price_note", "表示価格は税込です。"),
                        ("extra_charges", "振込手数料はご負担ください。"),
                        ("payment_terms", "お申し込みから7日以内"),
                        ("delivery_terms", "各リターンに記載の月"),
                        ("cancellation_terms", "入金前は取り消せます。")):
        page.fill(f"[name={name}]", value)
    page.fill("#story", "## 支援金の使いみち\n\n- 工房めぐりマップ\n- **案内サイン**")
    page.click("#preview-button")
    expect(page.locator("#story-preview .story h2")).to_have_text("支援金の使いみち")
    expect(page.locator("#story-preview .story strong")).to_have_text("案内サイン")
    shoot(page, "cf-campaign-editor.png")
    page.click("#save-campaign")
    expect(page.locator("p.done")).to_have_text("保存しました。")
    photo = tmp_path / "factory.jpg"  # a picture from the staff PC: the main picture
    photo.write_bytes(demo_picture())
    page.set_input_files("#new-image input[type=file]", str(photo))
    page.fill("#new-image input[name=alt]", "のこぎり屋根の工場")
    page.click("#add-image")
    expect(page.locator("p.done")).to_contain_text("image:1")
    expect(page.locator("#story-preview img.hero")).to_have_attribute("alt", "のこぎり屋根の工場")
    page.locator("#pictures").scroll_into_view_if_needed()
    shoot(page, "cf-pictures.png")
    page.click("#go-live-button")
    page.click("#confirm-go-live")
    expect(page.locator("#campaign-state")).to_have_text("公開中")

    page.goto(f"/admin/campaigns/{ended.campaign_id}/pledges")
    row = page.locator(f"tr[data-reference='{pledge['reference']}']")
    row.get_by_role("button", name="振込を確認した").click()
    expect(page.locator("#paid-preview")).to_contain_text("¥5,000")
    page.click("#confirm-paid")
    expect(page.locator("p.done")).to_contain_text(pledge["reference"])
    expect(page.locator(f"tr[data-reference='{pledge['reference']}']")).to_contain_text("入金済み")
    shoot(page, "cf-pledges.png")

    page.goto(f"/admin/campaigns/{ended.campaign_id}/outcome")
    expect(page.locator("#outcome-success")).to_contain_text("¥5,000")
    shoot(page, "cf-outcome.png")
    page.click("#confirm-outcome")
    expect(page.locator("#decided")).to_contain_text("達成")
