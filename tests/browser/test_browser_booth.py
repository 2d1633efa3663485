"""The workshop's phone at the booth, end to end in chromium (390 × 844)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browser_live import LiveServer
from playwright.sync_api import expect
from sqlalchemy import text as sql

from oflocal.demo import DEMO_PIN
from oflocal.vouchers.codes import ALPHABET, grouped, parse
from oflocal.vouchers.redeem import redeem_tickets

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def login_workshop(page: Any, shoot: Callable[[Any, str], Path] | None = None,
                   code: str = "W01") -> None:
    page.goto("/booth/login")
    expect(page.locator("h1")).to_have_text("工房ログイン")
    page.fill("input[name=workshop_code]", code)
    if shoot:
        shoot(page, "login.png")
    page.fill("input[name=pin]", DEMO_PIN)
    page.click("button[type=submit]")
    page.wait_for_url("**/booth")
    expect(page.locator("#today-total")).to_have_text("¥0")


def scan(page: Any, code: str) -> None:
    page.fill("#code", code)
    page.press("#code", "Enter")


def answer(page: Any) -> Any:
    return page.locator("#answer")


def typo(code: str) -> str:
    """The same code with one character mistyped (the check character catches it)."""
    i = 8
    wrong = ALPHABET[(ALPHABET.index(code[i]) + 1) % 32]
    return code[:i] + wrong + code[i + 1 :]


def test_workshop_takes_refuses_queues_and_undoes(
    phone: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path]
) -> None:
    page = phone
    tickets = live_server.sold_tickets(booklets=1)  # six ¥500 tickets
    login_workshop(page, shoot)
    expect(page.locator("#code")).to_be_focused()

    # One ticket, typed in lower case with its dashes, then Enter: a big green answer.
    scan(page, grouped(tickets[0]).lower())
    expect(answer(page)).to_have_class(re.compile("answer-ok"))
    expect(page.locator("#answer-amount")).to_have_text("¥500")
    expect(page.locator("#answer-title")).to_contain_text("受け取りOK")
    expect(page.locator("#today-total")).to_have_text("¥500")
    shoot(page, "booth-ok.png")

    # The same ticket again: red, with where and when it was used.
    page.click("#answer-next")
    scan(page, tickets[0])
    expect(answer(page)).to_have_class(re.compile("answer-ng"))
    expect(page.locator("#answer-primary")).to_contain_text("使用済み")
    expect(page.locator("#answer-primary")).to_contain_text(live_server.workshop_names[0])
    expect(page.locator("#answer-secondary")).to_contain_text("Already used")
    shoot(page, "booth-refused.png")

    # A mistyped code is caught on the phone: no request leaves it.
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.click("#answer-next")
    scan(page, grouped(typo(tickets[1])))
    expect(answer(page)).to_have_class(re.compile("answer-ng"))
    expect(page.locator("#answer-primary")).to_contain_text("打ち間違い")
    page.wait_for_timeout(150)
    assert not [url for url in requests if "/api/" in url], requests

    # Four tickets handed over together: queue them, one Accept, ¥2,000.
    page.click("#answer-next")
    page.click("#multi-btn")
    for code in tickets[1:5]:
        scan(page, code)
    expect(page.locator("#queue-list li")).to_have_count(4)
    expect(page.locator("#queue-sum")).to_have_text("¥2,000")
    shoot(page, "booth-queue.png")
    page.click("#accept")
    expect(answer(page)).to_have_class(re.compile("answer-ok"))
    expect(page.locator("#answer-amount")).to_have_text("¥2,000")
    expect(page.locator("#answer-primary")).to_have_text("4枚")
    expect(page.locator("#today-total")).to_have_text("¥2,500")

    # Undo the last accept (asked first), and the total goes back.
    page.click("#answer-next")
    expect(page.locator("#undo-btn")).to_contain_text("¥2,000")
    page.click("#undo-btn")
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#confirm-yes")
    expect(answer(page)).to_have_class(re.compile("answer-undo"))
    expect(page.locator("#today-total")).to_have_text("¥500")
    expect(page.locator("#today-list li.undone")).to_have_count(1)
    page.click("#answer-next")
    shoot(page, "booth.png")


def test_a_lost_answer_is_retried_with_the_same_key(
    phone: Any, live_server: LiveServer
) -> None:
    """The server commits but the phone never hears back; Retry gets the same answer."""
    page = phone
    tickets = live_server.sold_tickets(booklets=1)
    login_workshop(page, code="W02")
    sent: list[str] = []

    def lose_first_answer(route: Any) -> None:
        sent.append(route.request.headers["idempotency-key"])
        if len(sent) == 1:
            route.fetch()  # the redemption is committed on the server...
            route.abort("connectionreset")  # ...but the answer never arrives
        else:
            route.continue_()

    page.route("**/api/v1/redemptions", lose_first_answer)
    scan(page, tickets[0])
    expect(answer(page)).to_have_class(re.compile("answer-net"))
    expect(page.locator("#answer-retry")).to_be_visible()
    page.click("#answer-retry")
    expect(answer(page)).to_have_class(re.compile("answer-ok"))
    expect(page.locator("#answer-amount")).to_have_text("¥500")
    assert len(sent) == 2 and sent[0] == sent[1]
    expect(page.locator("#today-total")).to_have_text("¥500")


def test_the_phone_checks_codes_exactly_like_the_server(
    phone: Any, live_server: LiveServer
) -> None:
    """codes.js is a port of vouchers/codes.py: same verdict on valid codes and typos."""
    page = phone
    page.goto("/booth/login")
    page.add_script_tag(url="/static/js/codes.js")
    samples: list[str] = []
    for serial in range(1, 41):
        code = live_server.signer.make("T", 1 + serial % 3, serial * 7919)
        samples += [code, grouped(code).lower(), typo(code), code[:-1] + "U", code[1:]]
        swapped = code[:5] + code[6] + code[5] + code[7:]
        samples.append(swapped)
    samples += ["", "hello", "B" * 20, "t01k-oool-" + "1" * 10]
    results = page.evaluate("codes => codes.map(c => OflocalCodes.parse(c))", samples)
    for text, got in zip(samples, results, strict=True):
        try:
            parsed = parse(text)
        except ValueError as error:
            assert not got["ok"], text
            assert got["reason"] == str(error), text
        else:
            assert got["ok"], (text, got)
            assert (got["kind"], got["programmeId"], got["serial"], got["code"]) == (
                parsed.kind, parsed.programme_id, parsed.serial, parsed.code)
    # Full-width input from a Japanese keyboard is folded too (the server gets ASCII).
    wide = "".join(chr(ord(c) + 0xFEE0) for c in samples[0])
    assert page.evaluate("c => OflocalCodes.parse(c).code", wide) == samples[0]


CAMERA_STUB = """
(() => {
  // A phone whose browser reads QR codes: a fake camera and a detector that "sees" the
  // code the test puts in window.__qr.
  window.BarcodeDetector = class {
    static getSupportedFormats() { return Promise.resolve(["qr_code", "ean_13"]); }
    constructor(options) { window.__formats = options.formats; }
    detect() { return Promise.resolve(window.__qr ? [{ rawValue: window.__qr }] : []); }
  };
  navigator.mediaDevices.getUserMedia = () => {
    const canvas = document.createElement("canvas");
    canvas.width = 64; canvas.height = 64;
    canvas.getContext("2d").fillRect(0, 0, 64, 64);
    return Promise.resolve(canvas.captureStream(5));
  };
})();
"""


def test_the_camera_button_scans_where_the_browser_reads_qr_codes(
    phone: Any, live_server: LiveServer
) -> None:
    page = phone
    tickets = live_server.sold_tickets(booklets=1)
    login_workshop(page, code="W03")
    expect(page.locator("#camera-btn")).to_be_hidden()  # this chromium has no BarcodeDetector

    page.add_init_script(CAMERA_STUB)
    page.reload()
    expect(page.locator("#camera-btn")).to_be_visible()
    page.click("#camera-btn")
    expect(page.locator("#camera")).to_be_visible()
    page.evaluate("code => { window.__qr = code; }", tickets[0])
    expect(answer(page)).to_have_class(re.compile("answer-ok"))
    expect(page.locator("#answer-amount")).to_have_text("¥500")
    expect(page.locator("#camera")).to_be_hidden()  # one ticket: the camera closes
    assert page.evaluate("window.__formats") == ["qr_code"]


def test_the_booth_links_to_its_own_statements(phone: Any, live_server: LiveServer) -> None:
    """From the booth, one tap to this workshop's payment statements and back."""
    page = phone
    login_workshop(page, code="W04")
    expect(page.locator("nav.pagenav a")).to_have_text(["券の受け取り", "支払通知書"])
    page.click("nav.pagenav >> text=支払通知書")
    page.wait_for_url("**/statements")
    expect(page.locator("h1")).to_have_text("支払通知書")
    page.click("nav.pagenav >> text=券の受け取り")
    page.wait_for_url("**/booth")


KEEP = """([key, entry]) => {
  const list = JSON.parse(localStorage.getItem(key) || "[]");
  list.unshift(entry);
  localStorage.setItem(key, JSON.stringify(list));
}"""


def test_the_phone_keeps_what_it_took_and_sends_again_what_the_server_lost(
    phone: Any, live_server: LiveServer, shoot: Callable[[Any, str], Path]
) -> None:
    """After the books are restored from a backup, redemptions made since are on the
    phones only (kept.js): the booth shows them as missing and sends them again with
    their first Idempotency-Key; a ticket used elsewhere meanwhile is refused and says
    where. (Last in this file: the workshop's total is no longer ¥0 after it.)"""
    page = phone
    tickets = live_server.sold_tickets(booklets=1)
    login_workshop(page, code="W04")
    scan(page, tickets[0])
    expect(answer(page)).to_have_class(re.compile("answer-ok"))
    page.click("#answer-next")
    page.click("#kept summary")
    expect(page.locator("#kept-list li")).to_have_count(1)
    expect(page.locator("#kept-list li")).to_contain_text(grouped(tickets[0]))
    expect(page.locator("#kept-missing")).to_be_hidden()
    workshop_id = page.evaluate("JSON.parse(document.getElementById('page-config')"
                                ".textContent).workshop_id")
    key = f"oflocal.booth.kept.{workshop_id}"
    kept = page.evaluate(f"JSON.parse(localStorage.getItem('{key}'))")
    assert [e["codes"] for e in kept] == [[tickets[0]]] and kept[0]["total"] == 500

    # What a restore from an earlier backup loses: the phone has them, the server not.
    # One ticket nobody took since; one another workshop took in the meantime.
    with live_server.db.read() as session:
        other = session.execute(sql(
            "SELECT w.id FROM workshop w WHERE w.code = 'W01'")).scalar_one()
    redeem_tickets(live_server.db, live_server.signer, workshop_id=other, codes=[tickets[2]])
    now = page.evaluate("new Date().toISOString()")
    for code, lost_key in ((tickets[1], "ofl-lost-one"), (tickets[2], "ofl-lost-two")):
        page.evaluate(KEEP, [key, {"at": now, "key": lost_key, "id": 999999, "codes": [code],
                                   "total": 500, "undone": False}])
    page.reload()
    expect(page.locator("#kept-missing")).to_be_visible()
    expect(page.locator("#kept-missing-text")).to_contain_text("2件がサーバーの記録にありません")
    page.click("#kept summary")
    expect(page.locator("#kept-list li.missing")).to_have_count(2)
    shoot(page, "booth-kept-missing.png")
    page.locator("#kept-list").scroll_into_view_if_needed()
    shoot(page, "booth-kept.png")

    page.click("#kept-resend")
    expect(page.locator("#kept-missing")).to_be_hidden()
    expect(page.locator("#today-total")).to_have_text("¥1,000")  # tickets 0 and 1
    expect(page.locator("#kept-list li").filter(has_text=grouped(tickets[1]))).to_contain_text(
        "再送済み")
    refused = page.locator("#kept-list li").filter(has_text=grouped(tickets[2]))
    expect(refused).to_contain_text("使用済み")
    expect(refused).to_contain_text(live_server.workshop_names[0])
    with live_server.db.read() as session:
        keys = set(session.execute(sql(
            "SELECT key FROM idempotency_record WHERE scope = :scope"),
            {"scope": f"workshop:{workshop_id}"}).scalars())
    assert "ofl-lost-one" in keys  # sent with the key it was first sent with

    with page.expect_download() as download:
        page.click("#kept-download")
    sheet = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert sheet.splitlines()[0].startswith("time (Asia/Tokyo),workshop,tickets,amount")
    assert grouped(tickets[0]) in sheet and "sent again" in sheet
    assert "refused: ticket.already_redeemed" in sheet
