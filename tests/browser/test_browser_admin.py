"""The admin console in chromium: an admin adds a desk login with a one-time password,
the new colleague must choose their own password first, and a desk login is kept out
of the admin pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from browser_live import LiveServer
from browser_live import log_in as send_login
from playwright.sync_api import expect

from oflocal.demo import STAFF_LOGINS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

LOGINS = {login[2]: login for login in STAFF_LOGINS}


def log_in(page: Any, role: str, username: str | None = None,
           password: str | None = None) -> None:
    send_login(page, username or LOGINS[role][0], password or LOGINS[role][3])


def test_admin_adds_a_colleague_who_sets_their_own_password(
    desktop: Any, browser: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path]
) -> None:
    page = desktop
    log_in(page, "admin")
    page.click("nav.pagenav >> text=スタッフ")
    page.wait_for_url("**/admin/staff")
    page.fill("#new-staff input[name=username]", "madoguchi2")
    page.fill("#new-staff input[name=display_name]", "窓口2")
    page.select_option("#new-staff select[name=role]", "desk")
    page.click("#new-staff button[type=submit]")
    expect(page.locator("p.done")).to_contain_text("madoguchi2")
    one_time = page.locator("p.secret").inner_text().strip()
    assert len(one_time) == 19
    expect(page.locator("#staff tr[data-username=madoguchi2]")).to_contain_text(
        "パスワード変更待ち")
    shoot(page, "admin-staff.png")

    colleague = browser.new_context(base_url=live_server.url, locale="ja-JP").new_page()
    log_in(colleague, "desk", "madoguchi2", one_time)
    colleague.wait_for_url("**/account/password")
    colleague.goto("/desk")  # nothing else opens before the password is changed
    colleague.wait_for_url("**/account/password")
    colleague.fill("input[name=current_password]", one_time)
    colleague.fill("input[name=new_password]", "my own desk password")
    colleague.fill("input[name=new_password_again]", "my own desk password")
    colleague.click("#password-form button[type=submit]")
    colleague.wait_for_url("**/desk")
    expect(colleague.locator("nav.pagenav a")).to_have_text(["販売窓口", "印刷", "パスワード"])
    answer = colleague.goto("/admin/staff")
    assert answer is not None and answer.status == 403
    colleague.context.close()


def test_admin_creates_an_event_from_the_console(desktop: Any, live_server: LiveServer,
                                                 shoot: Callable[[Any, str], Path]) -> None:
    page = desktop
    log_in(page, "admin")
    page.click("nav.pagenav >> text=イベント")
    page.wait_for_url("**/admin/events")
    page.fill("#new-event input[name=slug]", "hana-2027")
    page.fill("#new-event input[name=name]", "花のまちオープンファクトリー")
    page.fill("#new-event input[name=starts_on]", "2027-05-14")
    page.fill("#new-event input[name=ends_on]", "2027-05-16")
    page.fill("#new-event input[name=committee_name]", "花のまち実行委員会")
    page.fill("#new-event input[name=invoice_number]", "T1180301018771")
    page.click("#new-event button[type=submit]")
    page.wait_for_url("**/admin/events/*")
    expect(page.locator("p.done")).to_have_text("イベントを作成しました。")
    page.fill("#edit-event input[name=venue]", "市民会館")
    page.click("#edit-event button[type=submit]")
    expect(page.locator("p.done")).to_have_text("保存しました。")
    expect(page.locator("#edit-event input[name=venue]")).to_have_value("市民会館")
    shoot(page, "admin-event.png")


def test_admin_adds_a_workshop_and_hands_out_its_pin(phone: Any, browser: Any,
                                                     live_server: LiveServer) -> None:
    """On a tablet-sized screen: find the event's workshops, add one, make its PIN; the
    workshop then logs in at the booth with it."""
    page = phone
    log_in(page, "admin")
    page.goto("/admin/events")
    page.click("ul.event-list a:has-text('オープンファクトリー 2026')")  # the demo, running today
    page.click("text=工房一覧")
    page.wait_for_url("**/workshops")
    page.fill("#new-workshop input[name=code]", "X77")  # the shared demo: sorts last
    page.fill("#new-workshop input[name=name]", "北村鍛冶")
    page.fill("#new-workshop input[name=name_kana]", "キタムラカジ")
    # The bank and branch chosen by name, as the committee knows them (later tests pay it).
    page.fill("#new-workshop #bank-search", "高岡")
    page.click("#bank-results button:has-text('0144 北陸  201 高岡')")
    expect(page.locator("#new-workshop input[name=bank_code]")).to_have_value("0144")
    expect(page.locator("#new-workshop input[name=branch_code]")).to_have_value("201")
    page.fill("#new-workshop input[name=account_number]", "7654300")
    page.fill("#new-workshop input[name=account_holder_kana]", "キタムラカジ")
    page.click("#new-workshop button[type=submit]")
    expect(page.locator("p.done")).to_have_text("工房を追加しました。")
    page.click("#new-pin")
    pin = page.locator("#pin p.secret").inner_text().strip()
    assert len(pin) == 4 and pin.isdigit()

    booth = browser.new_context(base_url=live_server.url, locale="ja-JP").new_page()
    booth.goto("/booth/login")
    booth.fill("input[name=workshop_code]", "X77")
    booth.fill("input[name=pin]", pin)
    booth.click("form[action='/booth/login'] button[type=submit]")
    booth.wait_for_url("**/booth")
    booth.context.close()


def test_admin_imports_fifty_seven_workshops_from_xlsx(desktop: Any, live_server: LiveServer,
                                                       tmp_path: Path) -> None:
    """The issue's committee of 57 firms: one file, a check that names a bad row and
    saves nothing, then the fixed file, all saved."""
    from datetime import date

    from oflocal.events import changes
    from test_workshop_import import row, xlsx

    event = changes.new_event(live_server.db, slug="imp-2027", name="取り込みの会",
                              committee_name="委員会", starts_on=date(2027, 6, 1),
                              ends_on=date(2027, 6, 3))
    broken, fixed = tmp_path / "broken.xlsx", tmp_path / "firms.xlsx"
    broken.write_bytes(xlsx([row(n, **({"銀行コード": "9998"} if n == 30 else {}))
                             for n in range(1, 58)]))
    fixed.write_bytes(xlsx([row(n) for n in range(1, 58)]))
    page = desktop
    log_in(page, "admin")
    page.goto(f"/admin/events/{event.id}/workshops")
    page.set_input_files("#import-form input[type=file]", str(broken))
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-problems")).to_contain_text("行 31")
    expect(page.locator("#import-confirm")).to_have_count(0)
    page.goto(f"/admin/events/{event.id}/workshops")
    expect(page.locator("#workshops tbody tr")).to_have_text(["工房が見つかりません。"])
    page.set_input_files("#import-form input[type=file]", str(fixed))
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-summary")).to_have_text("追加 57 件、更新 0 件。")
    page.click("#import-confirm")
    expect(page.locator("p.done")).to_have_text("取り込みました：追加 57 件、更新 0 件。")
    expect(page.locator("#workshops tbody tr")).to_have_count(57)
    # Their PINs, on slips to print and cut: one each, shown once.
    with page.expect_navigation(timeout=60_000):  # 57 argon2 hashes: a few seconds
        page.click("#pin-slips button[type=submit]", no_wait_after=True)
    expect(page.locator("#slips .slip")).to_have_count(57)
    expect(page.locator("#slips .slip").first).to_contain_text("F01")


def test_admin_sets_up_a_voucher_programme(desktop: Any, live_server: LiveServer) -> None:
    """The form starts from the event's own dates and the usual ¥2,500 for ¥3,000."""
    from datetime import date

    from oflocal.events import changes

    # Last year's dates: a newer programme would come first on the shared printing page.
    event = changes.new_event(live_server.db, slug="prog-2025", name="企画の会",
                              committee_name="委員会", starts_on=date(2025, 9, 10),
                              ends_on=date(2025, 9, 12))
    page = desktop
    log_in(page, "admin")
    page.goto(f"/admin/events/{event.id}")
    page.click("text=商品券")
    page.wait_for_url("**/programmes")
    expect(page.locator("#new-programme input[name=valid_until]")).to_have_value("2025-09-12")
    page.fill("#new-programme input[name=name]", "工房めぐりチケット")
    page.click("#new-programme button[type=submit]")
    expect(page.locator("p.done")).to_have_text("企画「工房めぐりチケット」を作成しました。")
    expect(page.locator("#programmes tbody tr")).to_contain_text(["¥2,500"])


def test_the_print_layout_is_tried_on_the_live_proof_then_saved(
    desktop: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path]
) -> None:
    """Each change redraws the proof before anything is saved; a layout that cannot be
    printed says why beside the image; saving keeps it for the next print run."""
    from datetime import date

    from oflocal.events import changes
    from oflocal.events.setup import ProgrammeTerms
    from oflocal.printing.layout import PrintLayout
    from oflocal.vouchers.models import Programme

    event = changes.new_event(live_server.db, slug="layout-2025", name="レイアウトの会",
                              committee_name="委員会", starts_on=date(2025, 9, 10),
                              ends_on=date(2025, 9, 12))
    programme, _ = changes.new_programme(live_server.db, event.id, ProgrammeTerms(
        name="見本券", price=2500, face_value=3000, denominations=[500] * 6,
        sales_starts_at=datetime(2025, 9, 10, tzinfo=UTC),
        sales_ends_at=datetime(2025, 9, 12, tzinfo=UTC), issue_date=date(2025, 9, 10),
        valid_from=date(2025, 9, 10), valid_until=date(2025, 9, 12), premium_budget=10_000))
    page = desktop
    log_in(page, "admin")
    page.goto(f"/admin/events/{event.id}/programmes")
    page.click(f"a[href='/admin/programmes/{programme.id}'] >> nth=0")
    page.wait_for_url(f"**/admin/programmes/{programme.id}")
    proof = page.locator("#proof")
    expect(proof).to_have_js_property("complete", True, timeout=30_000)
    a4_height = proof.evaluate("img => img.naturalHeight")
    assert a4_height > 0

    page.fill("#print-layout input[name=columns]", "5")  # five columns do not fit on A4
    expect(page.locator("#proof-failed")).to_be_visible(timeout=30_000)
    expect(page.locator("#proof-failed")).to_contain_text("入りません")
    page.fill("#print-layout input[name=columns]", "4")
    page.fill("#print-layout input[name=rows]", "6")
    page.select_option("#print-layout select[name=paper]", "A3")
    expect(page.locator("#proof-failed")).to_be_hidden(timeout=30_000)
    expect(proof).to_have_attribute("src", re.compile(r"paper=A3"))
    page.wait_for_function("() => { const i = document.getElementById('proof');"
                           " return i.complete && !i.classList.contains('stale'); }",
                           timeout=30_000)
    assert proof.evaluate("img => img.naturalHeight") > a4_height  # a taller sheet
    # The programme's own name on the proof follows the form too (nothing printed yet).
    page.fill("#edit-programme input[name=name]", "見本券 改")
    expect(proof).to_have_attribute("src", re.compile(r"name=%E8%A6%8B"), timeout=10_000)
    page.locator("#print-layout").scroll_into_view_if_needed()
    page.evaluate("document.activeElement.blur()")
    page.evaluate("window.scrollTo(0, document.querySelector('#print-layout')"
                  ".getBoundingClientRect().top + window.scrollY - 80)")
    shoot(page, "admin-programme-layout.png")

    with live_server.db.read() as session:
        assert session.get(Programme, programme.id).print_layout is None  # nothing saved yet
    page.click("#print-layout button[type=submit]")
    expect(page.locator("p.done")).to_contain_text("次の印刷から使われます")
    with live_server.db.read() as session:
        saved = session.get(Programme, programme.id).print_layout
    assert PrintLayout.model_validate(saved) == PrintLayout(paper="A3", columns=4, rows=6)
