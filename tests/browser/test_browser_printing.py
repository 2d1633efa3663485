"""The printing page end to end in chromium: the proof, a print job in the background
with its progress bar, the PDF download, and a reprint."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browser_live import LiveServer
from playwright.sync_api import expect
from sqlalchemy import func, select

from oflocal.demo import STAFF_LOGINS
from oflocal.vouchers.codes import grouped
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.models import Booklet

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

DESK_LOGIN = next(login for login in STAFF_LOGINS if login[2] == "desk")
RENDER_TIMEOUT_MS = 60_000  # a shared 2-core machine: rendering may wait its turn

FETCH_PDF = """async (href) => {
  const answer = await fetch(href, {credentials: "same-origin"});
  const bytes = new Uint8Array(await answer.arrayBuffer());
  return {status: answer.status, type: answer.headers.get("content-type"),
          head: String.fromCharCode(...bytes.slice(0, 5)), size: bytes.length};
}"""


def test_desk_checks_the_proof_prints_three_booklets_and_downloads_the_pdf(
    desktop: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path]
) -> None:
    page = desktop
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.goto("/printing")  # not logged in: the login form, then back here
    page.wait_for_url(re.compile(r"/login\?next=%2Fprinting"))
    page.fill("input[name=username]", DESK_LOGIN[0])
    page.fill("input[name=password]", DESK_LOGIN[3])
    page.click("button[type=submit]")
    page.wait_for_url("**/printing")
    expect(page.locator("h1")).to_have_text("冊子の印刷")
    expect(page.locator(".proof-note")).to_have_text("見本のコードは使えません。")

    # The proof is a real image drawn by the server, not a broken icon.
    page.wait_for_function(
        "() => { const i = document.getElementById('proof');"
        " return i.complete && i.naturalWidth > 0; }", timeout=RENDER_TIMEOUT_MS)
    width = page.evaluate("document.getElementById('proof').naturalWidth")
    assert width > 500, width
    expect(page.locator("#proof-status")).to_be_hidden()
    expect(page.locator("#proof-failed")).to_be_hidden()
    # What was printed before: the demo's batch of 40.
    expect(page.locator("#batches tr").first).to_contain_text("第1回")
    expect(page.locator("#counts")).to_contain_text("発行 40冊")

    page.fill("#print-count", "3")
    page.click("#print-button")
    panel = page.locator("#print-job")
    expect(panel).to_be_visible()
    bar = panel.locator("progress")
    expect(bar).to_have_js_property("max", 3)
    expect(bar).to_have_js_property("value", 3, timeout=RENDER_TIMEOUT_MS)
    expect(panel.locator(".job-text")).to_have_text("完成 3 / 3冊（100%）")
    assert dialogs == ["新しい番号の冊子を3冊発行して、印刷データを作りますか？"]
    download = panel.locator("a.job-download")
    expect(download).to_be_visible()
    expect(download).to_contain_text("PDFをダウンロード")
    href = download.get_attribute("href")
    assert href and re.fullmatch(r"/api/v1/print-jobs/\d+/pdf", href), href
    pdf = page.evaluate(FETCH_PDF, href)
    assert pdf["status"] == 200 and pdf["type"] == "application/pdf", pdf
    assert pdf["head"] == "%PDF-" and pdf["size"] > 1000, pdf

    # The job is in the list, and the new batch of 3 under "printed so far".
    first_job = page.locator("#jobs li").first
    expect(first_job).to_contain_text("第2回")
    expect(first_job).to_contain_text("3冊")
    expect(first_job.locator("a.job-download")).to_have_attribute("href", href)
    expect(page.locator("#counts")).to_contain_text("発行 43冊")
    expect(page.locator("#batches tr").first).to_contain_text("第2回")

    # The whole page in one picture for docs/printing.md: proof, progress, download.
    page.set_viewport_size({"width": 1024, "height": 860})
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1024, "height": height})
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "printing.png")
    page.set_viewport_size({"width": 1024, "height": 860})

    # A damaged booklet: a typo is caught on the page, then a reprint with progress.
    (damaged,) = live_server.take_booklets(1)
    page.click("#reprint-section summary")
    ticket = live_server.signer.make("T", live_server.programme_id, 999)
    page.fill("#reprint-code", ticket)
    page.press("#reprint-code", "Enter")
    expect(page.locator("#reprint-msg")).to_contain_text("冊子の表紙")
    (sold_booklet,) = live_server.take_booklets(1)  # sold is money: it cannot be reprinted
    sell_booklets(live_server.db, live_server.signer, programme_id=live_server.programme_id,
                  codes=[sold_booklet], payment_method="cash", actor="test")
    page.fill("#reprint-code", sold_booklet)
    page.press("#reprint-code", "Enter")
    expect(page.locator("#reprint-msg")).to_contain_text("販売済みの冊子は無効にできません")
    page.fill("#reprint-code", grouped(damaged).lower())
    page.press("#reprint-code", "Enter")
    expect(page.locator("#reprint-lines li")).to_have_count(1)
    expect(page.locator("#reprint-lines li")).to_contain_text("券6枚・¥3,000")
    page.fill("#reprint-reason", "水濡れ")
    page.click("#reprint-button")
    # Nothing happens before the page has said what will: which booklet, its tickets.
    ask = page.locator("#reprint-confirm")
    expect(ask).to_be_visible()
    expect(ask).to_contain_text("冊子1冊（No.")
    expect(ask).to_contain_text("券6枚、額面¥3,000")
    page.click("#reprint-no")
    expect(ask).to_be_hidden()
    with live_server.db.read() as session:
        assert session.execute(select(Booklet.status).where(Booklet.code == damaged)
                               ).scalar_one() == "printed"
    with live_server.db.read() as session:
        voided = session.execute(select(func.count()).select_from(Booklet).where(
            Booklet.status == "voided")).scalar_one()  # other tests void booklets too
    page.click("#reprint-button")
    page.click("#reprint-yes")
    reprint = page.locator("#reprint-job")
    expect(reprint.locator("progress")).to_have_js_property("value", 1,
                                                          timeout=RENDER_TIMEOUT_MS)
    expect(reprint.locator("a.job-download")).to_be_visible()
    with live_server.db.read() as session:
        assert session.execute(select(Booklet.status).where(Booklet.code == damaged)
                               ).scalar_one() == "voided"
    expect(page.locator("#jobs li").first).to_contain_text("刷り直し")
    expect(page.locator("#counts")).to_contain_text(f"無効 {voided + 1}冊")
