"""A committee's first event in chromium, from an empty installation, through the pages.

``oflocal init`` (the real command, in a subprocess) starts an installation of our own:
its own SQLite file and server, no demo. Then the committee's admin, in the browser only,
logs in with the one-time password and chooses their own, creates the event, imports
its 57 workshops from the XLSX template (a file with a wrong row first: named, nothing
saved), sets up the voucher programme, prints one booklet and reads its codes back from
the PDF, adds a desk colleague who sells it (and finds no admin page), gives a workshop
its PIN, takes a ticket at that workshop's booth, closes the settlement period after its
confirmation and downloads the Zengin file that pays the workshop.

The screenshots are docs/setup.md's walkthrough (``OFLOCAL_UPDATE_SCREENSHOTS=1``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from argon2 import PasswordHasher
from browser_live import DESKTOP, PHONE, log_in, serve, watched_page
from playwright.sync_api import expect
from sqlalchemy import func, select

from oflocal import clock
from oflocal.auth import service as auth_service
from oflocal.auth.models import StaffUser
from oflocal.db.engine import Database
from oflocal.demo import database_is_empty
from oflocal.events.models import Event, Workshop
from oflocal.settings import Settings
from oflocal.settlement.models import SettlementLine, SettlementPeriod
from oflocal.vouchers.codes import grouped, parse
from oflocal.vouchers.models import Booklet, Programme, Redemption, Ticket
from oflocal.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ADMIN = "jimukyoku"
ADMIN_PASSWORD = "our own admin password"
DESK_USER, DESK_PASSWORD = "madoguchi", "the desk's own password"
SLOW = 60_000  # ms: argon2 and PDF rendering on a busy 2-core CI machine
EVENT = "高岡ものづくり工房めぐり"
WORKSHOPS = 57


@dataclass(frozen=True)
class Installation:
    url: str
    db: Database  # read only, for the test's checks: every change goes through a page
    one_time_password: str


@pytest.fixture
def installation(chromium_path: Path, tmp_path: Path) -> Iterator[Installation]:
    """A new installation as a committee starts one: ``oflocal init`` on its own SQLite
    file (the schema and the first admin, nothing else), then its own server."""
    folder = tmp_path / "var"
    url = f"sqlite:///{folder / 'oflocal.db'}"
    env = {**os.environ, "OFLOCAL_DATABASE_URL": url, "OFLOCAL_DATA_DIR": str(folder)}
    init = subprocess.run(
        [sys.executable, "-c", "from oflocal.cli import main; main()", "init", "--admin", ADMIN],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert init.returncode == 0, init.stdout + init.stderr
    found = re.search(r"one-time password .*: (\S+)", init.stdout)
    assert found is not None, init.stdout
    db = Database(url)
    with db.read() as session:
        assert database_is_empty(session)  # no demo event
        assert session.execute(select(StaffUser.username)).scalars().all() == [ADMIN]
    # Cheap argon2 for the passwords and PINs made from now on (verifying reads the
    # parameters from each hash, so init's one-time password is checked as made).
    usual = auth_service._hasher
    auth_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    settings = Settings(data_dir=folder, database_url=url,
                        secret_key=os.environ["OFLOCAL_SECRET_KEY"].encode())
    try:
        with serve(create_app(settings, db)) as base_url:
            yield Installation(base_url, db, found.group(1))
    finally:
        auth_service._hasher = usual
        db.dispose()


@pytest.fixture
def open_page(browser: Any, installation: Installation) -> Iterator[Callable[..., Any]]:
    """Pages in fresh contexts on the new installation (a desk PC unless told), in Japanese;
    a script error or CSP violation in any of them fails the test."""
    opened: list[Iterator[Any]] = []

    def _open(**options: Any) -> Any:
        pages = watched_page(browser.new_context(
            base_url=installation.url, locale="ja-JP", device_scale_factor=1,
            **{"viewport": DESKTOP, **options}))
        opened.append(pages)
        return next(pages)

    yield _open
    problems = []
    for pages in opened:  # close every context, then check each page
        try:
            next(pages, None)
        except AssertionError as problem:
            problems.append(str(problem))
    assert not problems, problems


def _count(db: Database, model: Any) -> int:
    with db.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _zengin_reader() -> ModuleType:
    """The independent Zengin reader written with the file format (tests/settlement)."""
    path = Path(__file__).parents[1] / "settlement" / "zengin_reader.py"
    spec = importlib.util.spec_from_file_location("oflocal_test_zengin_reader", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _qr_codes(pdf: bytes) -> list[str]:
    """Every QR code printed in the PDF, as a phone's camera would read them."""
    import pypdfium2 as pdfium
    import zxingcpp

    found = []
    for page in pdfium.PdfDocument(pdf):
        image = page.render(scale=200 / 72, grayscale=True).to_pil()
        found += [r.text for r in zxingcpp.read_barcodes(
            image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))]
    return found


def _workshop_file(template: Path, out: Path, *, wrong_row: int | None = None) -> None:
    """The committee's list of firms, typed into the downloaded template: its header, its
    example row replaced by 57 workshops. ``wrong_row``: that spreadsheet row gets a bank
    code no bank has."""
    from openpyxl import Workbook, load_workbook

    rows = list(load_workbook(template, read_only=True).worksheets[0].values)
    header = [str(cell) for cell in rows[0]]
    example = dict(zip(header, rows[1], strict=True))
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for n in range(1, WORKSHOPS + 1):
        firm = {**example, "コード": f"W{n:02d}", "工房名": f"高岡工房{n:02d}",
                "フリガナ": f"タカオカコウボウ{n}", "口座番号": f"{1000 + n:07d}",
                "口座名義": f"タカオカコウボウ{n}", "紹介文": f"{n}番目の工房です。"}
        if n + 1 == wrong_row:  # the header is row 1
            firm["銀行コード"] = "9998"
        sheet.append([firm[name] for name in header])
    book.save(out)


def test_a_committee_sets_up_its_first_event_and_sells_its_first_booklet(
    installation: Installation, open_page: Callable[..., Any],
    shoot: Callable[[Any, str], Path], tmp_path: Path
) -> None:
    db = installation.db
    page = open_page()
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)

    # ---- 1. The one-time password from `oflocal init`, then one's own.
    log_in(page, ADMIN, installation.one_time_password)
    page.wait_for_url("**/account/password", timeout=SLOW)  # real argon2: init made it
    expect(page.locator("h1")).to_have_text("パスワードの変更")
    expect(page.locator("p.lead")).to_contain_text("一時パスワード")
    expect(page.locator("nav.pagenav")).to_have_count(0)  # nothing else opens yet
    page.fill("input[name=current_password]", installation.one_time_password)
    page.fill("input[name=new_password]", ADMIN_PASSWORD)
    page.fill("input[name=new_password_again]", ADMIN_PASSWORD)
    shoot(page, "setup-01-init-login.png")
    page.click("#password-form button[type=submit]")
    page.wait_for_url("**/desk", timeout=SLOW)
    expect(page.locator("nav.pagenav a")).to_have_text(
        ["販売窓口", "印刷", "会計", "クラウドファンディング", "イベント", "スタッフ",
         "パスワード"])
    expect(page.locator("#sale p.notice")).to_have_text("商品券がまだ設定されていません。")
    with db.read() as session:
        assert session.execute(select(StaffUser.must_change_password)).scalar_one() is False

    # ---- 2. The event: running from yesterday to the day after tomorrow (Japan time).
    today = clock.tokyo_date(clock.now())
    first_day, last_day = today - timedelta(days=1), today + timedelta(days=2)
    page.click("nav.pagenav >> text=イベント")
    page.wait_for_url("**/admin/events")
    expect(page.locator("ul.event-list li")).to_have_text(
        ["イベントはまだありません。下で最初のイベントを作成してください。"])
    form = page.locator("#new-event")
    form.locator("input[name=slug]").fill("takaoka-2026")
    form.locator("input[name=name]").fill(EVENT)
    form.locator("input[name=starts_on]").fill(first_day.isoformat())
    form.locator("input[name=ends_on]").fill(last_day.isoformat())
    form.locator("input[name=venue]").fill("高岡市内の工房")
    form.locator("input[name=committee_name]").fill("高岡工房めぐり実行委員会")
    form.locator("input[name=representative]").fill("山田 太郎")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/admin/events/\d+\?created=1$"))
    expect(page.locator("p.done")).to_have_text("イベントを作成しました。")
    expect(page.locator("h1")).to_have_text(EVENT)
    shoot(page, "setup-02-event.png")
    event_id = int(page.url.split("?")[0].rsplit("/", 1)[1])
    with db.read() as session:
        event = session.get(Event, event_id)
        assert event is not None and (event.slug, event.starts_on, event.ends_on) == (
            "takaoka-2026", first_day, last_day)

    # ---- 3. 57 workshops from the template: a wrong row is named and nothing is saved.
    page.click("text=工房一覧")
    page.wait_for_url("**/workshops")
    expect(page.locator("#workshops tbody tr")).to_have_text(["工房が見つかりません。"])
    with page.expect_download() as template_download:
        page.click("a[href='/admin/workshops-template.xlsx']")
    template = tmp_path / "template.xlsx"
    template_download.value.save_as(template)
    broken, fixed = tmp_path / "firms-draft.xlsx", tmp_path / "firms.xlsx"
    _workshop_file(template, broken, wrong_row=31)
    _workshop_file(template, fixed)

    page.set_input_files("#import-form input[type=file]", str(broken))
    page.click("#import-form button[type=submit]")
    problems = page.locator("#import-problems li")
    expect(problems).to_have_count(1, timeout=SLOW)
    expect(problems).to_contain_text("行 31")
    expect(problems).to_contain_text("銀行コード9998")
    expect(page.locator("#import-confirm")).to_have_count(0)
    shoot(page, "setup-03-import-preview.png")
    assert _count(db, Workshop) == 0
    page.click(f"a[href='/admin/events/{event_id}/workshops']")  # back to the list
    expect(page.locator("#workshops tbody tr")).to_have_text(["工房が見つかりません。"])

    page.set_input_files("#import-form input[type=file]", str(fixed))
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-summary")).to_have_text("追加 57 件、更新 0 件。",
                                                         timeout=SLOW)
    assert _count(db, Workshop) == 0  # a preview saves nothing
    page.click("#import-confirm")
    expect(page.locator("p.done")).to_have_text("取り込みました：追加 57 件、更新 0 件。",
                                                timeout=SLOW)
    expect(page.locator("#workshops tbody tr")).to_have_count(WORKSHOPS)
    with db.read() as session:
        codes = session.execute(select(Workshop.code).where(Workshop.event_id == event_id)
                                .order_by(Workshop.code)).scalars().all()
    assert codes == [f"W{n:02d}" for n in range(1, WORKSHOPS + 1)]

    # ---- 4. The voucher programme, from the form's defaults: ¥2,500 for ¥3,000.
    page.click(f"a[href='/admin/events/{event_id}']")
    page.click("text=商品券")
    page.wait_for_url("**/programmes")
    expect(page.locator("#programmes tbody tr")).to_have_text(["企画はまだありません。"])
    expect(page.locator("#new-programme input[name=valid_until]")).to_have_value(
        last_day.isoformat())
    page.fill("#new-programme input[name=name]", "工房めぐりチケット")
    page.click("#new-programme button[type=submit]")
    expect(page.locator("p.done")).to_have_text("企画「工房めぐりチケット」を作成しました。")
    expect(page.locator("#programmes tbody tr")).to_have_count(1)
    expect(page.locator("#programmes tbody tr")).to_contain_text("¥2,500")
    expect(page.locator("#programmes tbody tr")).to_contain_text("¥3,000")
    shoot(page, "setup-04-programme.png")
    with db.read() as session:
        programme = session.execute(select(Programme)).scalar_one()
        assert (programme.event_id, programme.price, programme.face_value) == (
            event_id, 2500, 3000)

    # ---- 5. Print one booklet, wait for its PDF, download it and read its codes.
    page.click("nav.pagenav >> text=印刷")
    page.wait_for_url("**/printing")
    expect(page.locator("h1")).to_have_text("冊子の印刷")
    page.wait_for_function(
        "() => { const i = document.getElementById('proof');"
        " return i.complete && i.naturalWidth > 0; }", timeout=SLOW)
    page.fill("#print-count", "1")
    page.click("#print-button")
    job = page.locator("#print-job")
    expect(job.locator("progress")).to_have_js_property("value", 1, timeout=SLOW)
    expect(job.locator(".job-text")).to_have_text("完成 1 / 1冊（100%）")
    assert dialogs == ["新しい番号の冊子を1冊発行して、印刷データを作りますか？"]
    expect(page.locator("#counts")).to_contain_text("発行 1冊")
    expect(page.locator("#jobs li").first).to_contain_text("1冊")
    page.evaluate("document.getElementById('print-section').scrollIntoView()")
    shoot(page, "setup-05-printing.png")
    with page.expect_download() as pdf_download:
        job.locator("a.job-download").click()
    pdf_path = tmp_path / "booklets.pdf"
    pdf_download.value.save_as(pdf_path)
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF-"), pdf[:20]
    printed = _qr_codes(pdf)
    booklet_codes = [c for c in printed if parse(c).kind == "B"]
    ticket_codes = sorted({c for c in printed if parse(c).kind == "T"})
    with db.read() as session:
        booklet = session.execute(select(Booklet)).scalar_one()
        stored_tickets = sorted(session.execute(
            select(Ticket.code).where(Ticket.booklet_id == booklet.id)).scalars())
    assert booklet_codes == [booklet.code]  # the cover
    assert ticket_codes == stored_tickets and len(ticket_codes) == 6, printed

    # ---- 6. A desk colleague: their own login, no admin page; they sell the booklet.
    page.click("nav.pagenav >> text=スタッフ")
    page.wait_for_url("**/admin/staff")
    page.fill("#new-staff input[name=username]", DESK_USER)
    page.fill("#new-staff input[name=display_name]", "窓口 佐藤")
    page.select_option("#new-staff select[name=role]", "desk")
    page.click("#new-staff button[type=submit]")
    expect(page.locator("p.done")).to_contain_text(DESK_USER)
    desk_one_time = page.locator("#secret p.secret").inner_text().strip()
    expect(page.locator(f"#staff tr[data-username={DESK_USER}]")).to_contain_text(
        "パスワード変更待ち")

    desk = open_page()
    log_in(desk, DESK_USER, desk_one_time)
    desk.wait_for_url("**/account/password", timeout=SLOW)
    desk.fill("input[name=current_password]", desk_one_time)
    desk.fill("input[name=new_password]", DESK_PASSWORD)
    desk.fill("input[name=new_password_again]", DESK_PASSWORD)
    desk.click("#password-form button[type=submit]")
    desk.wait_for_url("**/desk", timeout=SLOW)
    expect(desk.locator("nav.pagenav a")).to_have_text(["販売窓口", "印刷", "パスワード"])
    expect(desk.locator("a[href^='/admin']")).to_have_count(0)
    refused = desk.goto("/admin/events")
    assert refused is not None and refused.status == 403
    desk.goto("/desk")
    desk.fill("#code", grouped(booklet_codes[0]))  # typed from the cover, with its dashes
    desk.press("#code", "Enter")
    expect(desk.locator("#lines li")).to_have_count(1)
    expect(desk.locator("#total")).to_have_text("¥2,500")
    desk.click("#sell")
    expect(desk.locator("#receipt")).to_be_visible(timeout=SLOW)
    expect(desk.locator("#receipt-number")).to_have_text(re.compile(r"^R\d{2}-\d{7}$"))
    expect(desk.locator("#receipt-amount")).to_have_text("¥2,500")
    expect(desk.locator("#receipt-detail")).to_contain_text("1冊")
    shoot(desk, "setup-06-first-sale.png")
    with db.read() as session:
        assert session.execute(select(Booklet.status)).scalar_one() == "sold"

    # ---- 7. Workshop W01's PIN (shown once), and a ticket taken at its booth.
    page.goto(f"/admin/events/{event_id}/workshops")
    page.click("#workshops a:text-is('W01')")
    page.wait_for_url(re.compile(r"/admin/workshops/\d+$"))
    expect(page.locator("h1")).to_have_text("W01 高岡工房01")
    page.click("#new-pin")
    pin = page.locator("#pin p.secret").inner_text().strip()
    assert len(pin) == 4 and pin.isdigit()

    booth = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    booth.goto("/booth/login")
    expect(booth.locator("p.event-name")).to_contain_text(EVENT)  # the only event
    booth.fill("input[name=workshop_code]", "w01")
    booth.fill("input[name=pin]", pin)
    booth.click("#booth-login-form button[type=submit]")
    booth.wait_for_url("**/booth", timeout=SLOW)
    expect(booth.locator("#today-total")).to_have_text("¥0")
    booth.fill("#code", ticket_codes[0])
    booth.press("#code", "Enter")
    expect(booth.locator("#answer")).to_have_class(re.compile("answer-ok"), timeout=SLOW)
    expect(booth.locator("#answer-amount")).to_have_text("¥500")
    expect(booth.locator("#today-total")).to_have_text("¥500")
    with db.read() as session:
        taken = session.execute(select(Workshop.code, Redemption.amount)
                                .join(Workshop, Workshop.id == Redemption.workshop_id)).all()
    assert [tuple(row) for row in taken] == [("W01", 500)]

    # ---- 8. The treasurer's part: the committee's account, close the period after its
    # confirmation, and the Zengin file that pays W01.
    page.click("nav.pagenav >> text=会計")
    page.wait_for_url("**/treasurer")
    expect(page.locator("h1")).to_have_text("精算期間")
    account = page.locator("form[action$='/requester']")
    account.locator("input[name=code]").fill("1234567890")
    account.locator("input[name=name_kana]").fill("タカオカコウボウメグリ")
    account.locator("input[name=bank_code]").fill("0144")
    account.locator("input[name=branch_code]").fill("201")
    account.locator("input[name=account_number]").fill("7000001")
    account.locator("button[type=submit]").click()
    expect(page.locator("[role=status]")).to_contain_text("委員会の口座を保存しました")

    page.click("form[action$='/close'] button[type=submit]")
    expect(page.locator("h1")).to_have_text("この精算期間を締めますか？", timeout=SLOW)
    preview = page.locator("#close-preview")
    expect(preview.locator("tr")).to_have_text([
        re.compile(r"^工房数\s*1$"), re.compile(r"^枚数\s*1$"), re.compile(r"^額面\s*¥500$"),
        re.compile(r"^手数料\s*¥0$"), re.compile(r"^支払額\s*¥500$")])
    assert _count(db, SettlementPeriod) == 0  # asked first: nothing closed yet
    page.click("#confirm-close")
    page.wait_for_url(re.compile(r"/treasurer/periods/\d+$"), timeout=SLOW)
    expect(page.locator("h1")).to_have_text("精算期間 1")
    expect(page.locator(".status-closed")).to_contain_text("締め済み・未払")
    lines = page.locator("table.money tbody tr")
    expect(lines).to_have_count(1)
    expect(lines).to_contain_text("W01 高岡工房01")
    expect(page.locator("table.money tfoot td").nth(5)).to_have_text("¥500")
    with db.read() as session:
        line = session.execute(select(Workshop.code, SettlementLine.net)
                               .join(Workshop, Workshop.id == SettlementLine.workshop_id)).one()
    assert tuple(line) == ("W01", 500)

    page.click("form[method=get] button[type=submit]")
    expect(page.locator("p.done[role=status]")).to_have_text("口座情報はすべて正しい形式です。")
    with page.expect_download() as zengin_download:
        page.click("a:has-text('全銀振込ファイルをダウンロード')")
    zengin_path = tmp_path / "zengin.txt"
    zengin_download.value.save_as(zengin_path)
    transfer = _zengin_reader().read(zengin_path.read_bytes())
    assert (transfer.header.requester_code, transfer.header.bank_code) == ("1234567890", "0144")
    assert (transfer.count, transfer.total) == (1, 500)
    (paid,) = transfer.data
    assert (paid.bank_code, paid.branch_code, paid.account_type, paid.account_number,
            paid.amount) == ("0144", "201", "1", "0001001", 500)
    assert paid.payee_name.startswith("ﾀｶｵｶｺｳﾎﾞｳ1"), paid.payee_name
