"""The treasurer's vouchers page and the bank reconciliation page, through a browser
session (Litestar's TestClient, SQLite and PostgreSQL): forms carry the CSRF token and a
form key; every change goes through the treasury services."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select

from apps import client_for
from oflocal import clock
from oflocal.audit import verify
from oflocal.auth.models import StaffUser
from oflocal.auth.service import Actor, open_session
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.ledger.models import JournalEntry
from oflocal.settings import Settings
from oflocal.treasury.models import BankReconciliation, BankTick, TreasuryEntry
from oflocal.vouchers.codes import CodeSigner
from oflocal.web.security import SESSION_COOKIE
from treasury_world import TreasuryWorld, balance, make_treasury_world, png_bytes


class Browser:
    def __init__(self, client: TestClient[Litestar], db: Database, actors: dict[str, Actor]):
        self.client, self.db, self.actors = client, db, actors
        self.csrf = ""

    def login(self, who: str) -> None:
        self.client.cookies.clear()
        token, self.csrf = open_session(self.db, self.actors[who], hours=1)
        self.client.cookies.set(SESSION_COOKIE, token)
        self.client.cookies.set("oflocal_lang", "ja")

    def get(self, path: str) -> Any:
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, form: dict[str, str], files: Any = None) -> Any:
        return self.client.post(path, data={**form, "_csrf": self.csrf}, files=files,
                                follow_redirects=False)


@pytest.fixture
def world(db: Database, signer: CodeSigner) -> TreasuryWorld:
    return make_treasury_world(db, signer)


@pytest.fixture
def browser(db: Database, world: TreasuryWorld, secret: bytes,
            tmp_path: Path) -> Iterator[Browser]:
    with db.write() as session:
        users = [StaffUser(username=f"p-{r}", display_name=f"{r} user", role=r,
                           password_hash="!", created_at=clock.now())
                 for r in ("treasurer", "desk")]
        session.add_all(users)
        session.flush()
        actors = {u.role: Actor("staff", u.id, u.display_name, u.role) for u in users}
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        b = Browser(client, db, actors)
        b.login("treasurer")
        yield b


def vouchers(db: Database) -> int:
    with db.read() as session:
        return session.execute(select(func.count()).select_from(TreasuryEntry)).scalar_one()


def form_key(html: str) -> str:
    found = re.search(r'name="key" value="([0-9a-f]{32})"', html)
    assert found, "the new-voucher form carries a key"
    return found.group(1)


def subsidy_form(world: TreasuryWorld, key: str) -> dict[str, str]:
    return {"kind": "subsidy", "amount": "300000",
            "business_date": clock.tokyo_date(clock.now()).isoformat(),
            "description": "プレミアム分補助金", "counterparty": "高岡市", "voucher_no": "",
            "debit": "", "credit": "premium_fund", "key": key}


def test_a_voucher_is_posted_once_from_the_page(browser: Browser, world: TreasuryWorld) -> None:
    page = browser.get(f"/treasurer/entries?event={world.event_id}")
    assert page.status_code == 200
    assert "補助金の受け入れ" in page.text and "現金の預け入れ" in page.text
    fund = balance(world.db, world.event_id, "premium_fund")
    form = subsidy_form(world, form_key(page.text))
    receipt = {"receipt": ("交付決定.png", png_bytes(), "image/png")}
    first = browser.post(f"/treasurer/events/{world.event_id}/entries", form, receipt)
    assert first.status_code == 200, first.text
    assert "伝票 0001 を登録しました" in first.text
    again = browser.post(f"/treasurer/events/{world.event_id}/entries", form, receipt)
    assert again.status_code == 200 and "伝票 0001 を登録しました" in again.text
    assert vouchers(world.db) == 1
    assert balance(world.db, world.event_id, "premium_fund") == fund - 300_000
    assert "交付決定.png" in again.text and "高岡市" in again.text
    assert "記録 treasurer user" in again.text  # who, by name, not staff:N
    with world.db.read() as session:
        assert verify(session).ok


def test_a_bad_receipt_is_refused_on_the_page(browser: Browser, world: TreasuryWorld) -> None:
    page = browser.get(f"/treasurer/entries?event={world.event_id}")
    form = subsidy_form(world, form_key(page.text))
    refused = browser.post(f"/treasurer/events/{world.event_id}/entries", form,
                           {"receipt": ("receipt.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")})
    assert refused.status_code == 422
    assert "PDF・JPEG・PNG" in refused.text
    assert 'value="プレミアム分補助金"' in refused.text  # kept as typed
    assert vouchers(world.db) == 0


def test_reverse_with_a_reason_once(browser: Browser, world: TreasuryWorld) -> None:
    page = browser.get(f"/treasurer/entries?event={world.event_id}")
    cash = balance(world.db, world.event_id, "cash")
    browser.post(f"/treasurer/events/{world.event_id}/entries",
                 {**subsidy_form(world, form_key(page.text)), "kind": "cash_deposit",
                  "amount": "5000", "credit": "", "description": "売上金の預け入れ"})
    assert balance(world.db, world.event_id, "cash") == cash - 5000
    with world.db.read() as session:
        voucher = session.execute(select(TreasuryEntry)).scalar_one()
    form = {"key": "rev-1", "event_id": str(world.event_id), "voucher_no": voucher.voucher_no,
            "reason": "金額の誤り"}
    done = browser.post(f"/treasurer/entries/{voucher.id}/reverse", form)
    assert done.status_code == 200 and "取消伝票 0002 で取り消しました" in done.text
    assert balance(world.db, world.event_id, "cash") == cash
    twice = browser.post(f"/treasurer/entries/{voucher.id}/reverse", {**form, "key": "rev-2"})
    assert twice.status_code == 409 and "取消済み" in twice.text
    assert vouchers(world.db) == 2
    no_csrf = browser.client.post(f"/treasurer/entries/{voucher.id}/reverse", data=form)
    assert no_csrf.status_code == 403


def test_bank_reconciliation_page(browser: Browser, world: TreasuryWorld) -> None:
    page = browser.get(f"/treasurer/entries?event={world.event_id}")
    day = clock.tokyo_date(clock.now()).isoformat()
    browser.post(f"/treasurer/events/{world.event_id}/entries",
                 {**subsidy_form(world, form_key(page.text)), "kind": "expense",
                  "amount": "660", "debit": "bank_fees", "credit": "",
                  "description": "振込手数料"})
    shown = browser.get(f"/treasurer/bank?event={world.event_id}&as_of={day}")
    assert shown.status_code == 200
    ids = re.search(r'name="shown" value="([0-9,]*)"', shown.text)
    assert ids is not None
    lines = [int(p) for p in ids.group(1).split(",")]
    assert len(lines) == 2  # the booklet sold by transfer, the fee
    ledger = balance(world.db, world.event_id, "bank")
    # The passbook shows the sale; the fee is not in it yet.
    sale = lines[0]
    saved = browser.post(f"/treasurer/events/{world.event_id}/bank/ticks",
                         {"as_of": day, "passbook": str(ledger + 660),
                          "shown": ids.group(1), f"seen-{sale}": "1"})
    assert saved.status_code == 200, saved.text
    assert "通帳で確認した明細を保存しました" in saved.text
    assert "差額はすべて未照合の明細で説明できます" in saved.text
    assert re.search(r'id="difference">-¥660<', saved.text), saved.text
    assert re.search(r'id="unexplained"><strong>¥0<', saved.text)
    kept = browser.post(f"/treasurer/events/{world.event_id}/bank/reconciliations",
                        {"as_of": day, "passbook": str(ledger + 660), "note": "記帳後",
                         "key": "rec-1"})
    assert kept.status_code == 200 and "照合結果を記録しました" in kept.text
    assert "<td>treasurer user</td>" in kept.text
    with world.db.read() as session:
        assert session.execute(select(BankTick.posting_id)).scalars().all() == [sale]
        record = session.execute(select(BankReconciliation)).scalar_one()
    assert (record.difference, record.unmatched_total, record.unexplained) == (-660, -660, 0)
    assert record.recorded_by.startswith("staff:")


def test_only_money_roles_see_the_pages(browser: Browser, world: TreasuryWorld) -> None:
    browser.login("desk")
    assert browser.get("/treasurer/entries").status_code == 403
    assert browser.get("/treasurer/bank").status_code == 403


def test_a_reversal_names_the_voucher_it_reverses_by_its_number(
        browser: Browser, world: TreasuryWorld) -> None:
    """The list says which voucher a reversal reverses by the number the treasurer
    gave it, not by an id that appears nowhere on the page."""
    page = browser.get(f"/treasurer/entries?event={world.event_id}")
    browser.post(f"/treasurer/events/{world.event_id}/entries",
                 {**subsidy_form(world, form_key(page.text)), "voucher_no": "R7-12"})
    with world.db.read() as session:
        voucher = session.execute(select(TreasuryEntry)).scalar_one()
    done = browser.post(f"/treasurer/entries/{voucher.id}/reverse",
                        {"key": "rev-r7", "event_id": str(world.event_id),
                         "voucher_no": "R7-12", "reason": "金額の誤り"})
    assert done.status_code == 200, done.text
    assert "取消対象 R7-12</span>" in done.text
    assert f"取消対象 #{voucher.id}" not in done.text
    assert "取消伝票 0001</span>" in done.text  # the original names its reversal


def test_the_close_out_page_says_why_it_refuses(browser: Browser, world: TreasuryWorld) -> None:
    """Confirmed before the last day of use (a page left open, a second tab): the refusal
    is shown in Japanese with the English beside it, not as an empty alert."""
    closed = browser.post(f"/treasurer/programmes/{world.programme_id}/close-out",
                          {"confirm": "yes"})
    assert closed.status_code == 409
    primary = re.search(r'class="refusal-primary" lang="ja">([^<]+)<', closed.text)
    secondary = re.search(r'class="refusal-secondary" lang="en">([^<]+)<', closed.text)
    assert primary and "まだ過ぎていないため" in primary.group(1)
    assert secondary and "Tickets are still valid until" in secondary.group(1)
    with world.db.read() as session:
        assert not session.execute(select(func.count()).where(JournalEntry.kind == "expiry")
                                   ).scalar_one()


def test_a_committee_with_two_events_picks_one_on_each_page(
        browser: Browser, world: TreasuryWorld, signer: CodeSigner) -> None:
    with browser.db.write() as session:
        other = build_event(session, signer, slug="second-fair", workshops=1, booklets=0)
    for path in ("/treasurer", "/treasurer/entries"):
        page = browser.get(f"{path}?event={other.event_id}").text
        picker = page[page.index(f'action="{path}"'):]
        picker = picker[:picker.index("</form>")]
        assert picker.count("<option") == 2, picker
        assert f'<option value="{other.event_id}" selected>' in picker
        assert f'<option value="{world.event_id}" >' in picker
