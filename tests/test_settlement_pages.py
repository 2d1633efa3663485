"""The treasurer's pages and a workshop's statements page, through browser sessions:
forms carry the CSRF token, every change goes through the settlement services."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select, update

from apps import client_for
from oflocal import clock
from oflocal.audit import verify
from oflocal.auth.models import StaffUser
from oflocal.auth.service import Actor, open_session
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.events.models import Event
from oflocal.settings import Settings
from oflocal.settlement.bank_days import next_bank_day
from oflocal.settlement.models import SettlementCorrection, SettlementPeriod
from oflocal.vouchers.codes import CodeSigner, grouped
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.models import Redemption, Ticket
from oflocal.web.security import SESSION_COOKIE
from test_settlement import World, lines_of, make_world


class Browser:
    def __init__(self, client: TestClient[Litestar], db: Database, actors: dict[str, Actor]):
        self.client, self.db, self.actors = client, db, actors
        self.csrf = ""

    def login(self, who: str, lang: str = "ja") -> None:
        self.client.cookies.clear()
        token, self.csrf = open_session(self.db, self.actors[who], hours=1)
        self.client.cookies.set(SESSION_COOKIE, token)
        self.client.cookies.set("oflocal_lang", lang)

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, follow_redirects=False, **kw)

    def post(self, path: str, form: dict[str, str], csrf: bool = True) -> Any:
        data = {**form, "_csrf": self.csrf} if csrf else form
        return self.client.post(path, data=data, follow_redirects=False)


@pytest.fixture
def world(db: Database, signer: CodeSigner) -> World:
    w = make_world(db, signer)
    w.redeem(0, 3, minutes=0)
    w.redeem(1, 2, minutes=1)
    return w


@pytest.fixture
def browser(db: Database, world: World, secret: bytes, tmp_path: Path) -> Iterator[Browser]:
    with db.write() as session:
        users = [StaffUser(username=f"p-{r}", display_name=f"{r} user", role=r,
                           password_hash="!", created_at=clock.now())
                 for r in ("treasurer", "desk")]
        session.add_all(users)
        session.flush()
        actors = {u.role: Actor("staff", u.id, u.display_name, u.role) for u in users}
    actors["workshop"] = Actor("workshop", world.sc.workshop_ids[0], "w", "workshop",
                               world.sc.event_id)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        yield Browser(client, db, actors)


def test_treasurer_closes_and_pays_from_the_pages(browser: Browser, world: World) -> None:
    event = world.sc.event_id
    browser.login("desk")
    assert browser.get("/treasurer").status_code == 403
    browser.login("treasurer")
    home = browser.get("/treasurer")
    assert home.status_code == 200 and "精算期間" in home.text
    assert "まだ締めた精算期間はありません。" in home.text
    key = re.search(r'name="key" value="([0-9a-f]+)"', home.text)
    assert key is not None
    cutoff = clock.as_tokyo(world.at(5)).strftime("%Y-%m-%dT%H:%M")
    no_token = browser.post(f"/treasurer/events/{event}/close", {"cutoff": cutoff}, csrf=False)
    assert no_token.status_code == 403
    with browser.db.read() as s:
        assert s.execute(select(SettlementPeriod)).first() is None
    form = {"cutoff": cutoff, "key": key.group(1)}
    asked = browser.post(f"/treasurer/events/{event}/close", form)  # irreversible: asks first
    assert asked.status_code == 200 and "この精算期間を締めますか？" in asked.text
    for text in ("¥2,500", "元に戻せません", 'name="confirm" value="yes"', key.group(1)):
        assert text in asked.text, text
    with browser.db.read() as s:
        assert s.execute(select(SettlementPeriod)).first() is None  # asking changed nothing
    form["confirm"] = "yes"
    closed = browser.post(f"/treasurer/events/{event}/close", form)
    assert closed.status_code == 303
    target = closed.headers["location"]
    assert browser.post(f"/treasurer/events/{event}/close", form).headers["location"] == target
    detail = browser.get(target)
    assert detail.status_code == 200
    for text in ("大野木工所", "¥1,500", "¥2,500", "締め済み・未払", "支払済みにする"):
        assert text in detail.text, text
    period_id = int(target.rsplit("/", 1)[1])
    check = browser.get(target, params={"transfer_date": (
        clock.tokyo_date(clock.now()) + timedelta(days=30)).isoformat()})
    assert "委託者コード" in check.text  # the committee's data is missing: listed, no link
    assert "/zengin?transfer_date" not in check.text

    saved = browser.post(f"/treasurer/events/{event}/requester", {
        "code": "1234567890", "name_kana": "ジッコウイインカイ", "bank_code": "0001",
        "branch_code": "001", "account_type": "1", "account_number": "7654321"})
    assert saved.status_code == 200 and "委員会の口座を保存しました。" in saved.text
    fee = browser.post(f"/treasurer/events/{event}/fee", {
        "rule": "rate", "rate_bp": "20000", "fixed_yen": "0", "rounding": "floor"})
    assert fee.status_code == 422 and "refusal" in fee.text

    # The Zengin file made for a date (the page's download link) plans the transfer: the
    # page shows it and proposes it for marking paid.
    day = next_bank_day(clock.tokyo_date(clock.now()) + timedelta(days=1)).isoformat()
    made = browser.get(f"/api/v1/settlement/periods/{period_id}/zengin",
                       params={"transfer_date": day})
    assert made.status_code == 200, made.text
    planned = browser.get(target)
    assert f"全銀ファイル作成済み・振込予定日 <strong>{day}</strong>" in planned.text
    assert re.search(rf'name="transfer_date" value="{day}" required>\s*</label>\s*'
                     r'<button type="submit" class="btn ok">', planned.text)
    asked = browser.post(f"{target}/paid", {"transfer_date": day})  # irreversible: asks first
    assert asked.status_code == 200 and "支払済みにしますか" in asked.text
    assert day in asked.text and "元に戻せません" in asked.text
    with browser.db.read() as s:
        assert s.execute(select(SettlementPeriod.status)).scalar_one() == "closed"
    paid = browser.post(f"{target}/paid", {"transfer_date": day, "confirm": "yes"})
    assert paid.status_code == 303
    after = browser.get(target)
    assert "支払済み" in after.text and "支払済みにする" not in after.text
    assert f"振込日 {day} (記録 " in after.text and "振込予定日" not in after.text
    twice = browser.post(f"{target}/paid", {"transfer_date": next_bank_day(clock.tokyo_date(
        world.at(5))).isoformat()})
    assert twice.status_code == 409 and "二重に支払うことはできません" in twice.text
    with browser.db.read() as s:
        assert s.execute(select(SettlementPeriod.status)).scalar_one() == "paid"
    assert "チェックディジット" not in after.text  # the demo committee's number is valid
    english = (browser.login("treasurer", "en"), browser.get(f"/treasurer/periods/{period_id}"))[1]
    assert "Period" in english.text and "Paid" in english.text
    # A committee number stored before the check digit was enforced is flagged here.
    with browser.db.write() as s:
        s.execute(update(Event).where(Event.id == event).values(invoice_number="T1000000000000"))
    flagged = browser.get(target)
    assert '<p class="warning" role="alert">' in flagged.text
    assert "T1000000000000" in flagged.text and "check digit" in flagged.text
    world.assert_verified()


def test_reports_page_and_workshop_statements(browser: Browser, world: World) -> None:
    browser.login("treasurer")
    reports = browser.get("/treasurer/reports")
    assert reports.status_code == 200
    assert reports.text.count("<svg") == 2 and "¥1,500" in reports.text
    assert "未使用残高" in reports.text and "仕訳帳（CSV・UTF-8）" in reports.text
    as_of = browser.get("/treasurer/reports", params={
        "as_of": (clock.tokyo_date(clock.now()) - timedelta(days=10)).isoformat()})
    assert '<p class="total">¥0</p>' in as_of.text
    from oflocal.settlement.close import close_period

    close_period(world.db, event_id=world.sc.event_id, cutoff=world.at(5), actor="t")
    browser.login("workshop")
    mine = browser.get("/statements")
    assert mine.status_code == 200 and "¥1,500" in mine.text and "¥1,000" not in mine.text
    assert browser.get("/treasurer").status_code == 403


def test_a_cutoff_typed_to_the_minute_includes_that_whole_minute(
    browser: Browser, world: World
) -> None:
    """「10:41まで」 takes a ticket redeemed at 10:41:30; the minute now running means now;
    a minute to come is refused."""
    event = world.sc.event_id
    minute = clock.as_tokyo(world.at(60)).replace(second=0, microsecond=0)
    inside = (minute + timedelta(seconds=30) - world.base).total_seconds() / 60
    after = (minute + timedelta(seconds=61) - world.base).total_seconds() / 60
    world.redeem(2, 1, minutes=inside)
    world.redeem(2, 1, minutes=after)  # the next minute: the next period
    browser.login("treasurer")
    closed = browser.post(f"/treasurer/events/{event}/close",
                          {"cutoff": minute.strftime("%Y-%m-%dT%H:%M"), "key": "minute-1",
                           "confirm": "yes"})
    assert closed.status_code == 303, closed.text
    with browser.db.read() as s:
        period = s.execute(select(SettlementPeriod)).scalar_one()
    assert clock.as_tokyo(period.cutoff_at) == minute + timedelta(minutes=1, microseconds=-1)
    lines = lines_of(browser.db, period.id)
    assert sum(ln.ticket_count for ln in lines.values()) == 3 + 2 + 1  # the fixture's 5

    now_minute = clock.as_tokyo(clock.now()).strftime("%Y-%m-%dT%H:%M")
    later = browser.post(f"/treasurer/events/{event}/close",
                         {"cutoff": now_minute, "key": "minute-2", "confirm": "yes"})
    assert later.status_code == 303, later.text  # not refused as a cut-off in the future
    with browser.db.read() as s:
        second = s.execute(select(SettlementPeriod).where(SettlementPeriod.number == 2)
                           ).scalar_one()
    assert second.cutoff_at <= clock.now()
    assert sum(ln.ticket_count for ln in lines_of(browser.db, second.id).values()) == 1

    # A minute still to come is refused, and the form keeps what was typed and its key,
    # so that sending it again later closes at the same cut-off.
    tomorrow = (clock.as_tokyo(clock.now()) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    future = browser.post(f"/treasurer/events/{event}/close",
                          {"cutoff": tomorrow, "key": "minute-3"})
    assert future.status_code == 422 and "refusal" in future.text
    assert f'value="{tomorrow}"' in future.text and 'value="minute-3"' in future.text
    with browser.db.read() as s:
        assert s.execute(select(func.count()).select_from(SettlementPeriod)).scalar_one() == 2
    world.assert_verified()


def test_a_correction_is_posted_by_ticket_code_from_the_page(browser: Browser,
                                                            world: World) -> None:
    """The form asks for the code printed on the ticket (issue 8 item 7c)."""
    w = world
    event = w.sc.event_id
    browser.login("treasurer")
    home = browser.get("/treasurer")
    assert 'name="ticket_code"' in home.text and "券の番号" in home.text
    assert 'name="redemption_id"' not in home.text
    key = re.search(r'name="key" value="([0-9a-f]+)"', home.text)
    assert key is not None
    cutoff = clock.as_tokyo(w.at(5)).strftime("%Y-%m-%dT%H:%M")
    assert browser.post(f"/treasurer/events/{event}/close",
                        {"cutoff": cutoff, "key": key.group(1), "confirm": "yes"}
                        ).status_code == 303
    taken = w.redeem(0, 1, minutes=10)  # after the cut-off: W01 has ¥500 pending
    with browser.db.read() as s:
        settled = s.execute(
            select(Ticket.code).join(Redemption, Redemption.ticket_id == Ticket.id)
            .where(Redemption.workshop_id == w.sc.workshop_ids[0],
                   Redemption.entry_id != taken["redemption_id"])
            .order_by(Redemption.id).limit(1)).scalar_one()
    posted = browser.post(f"/treasurer/events/{event}/corrections", {
        "ticket_code": grouped(settled), "to_workshop_id": "", "reason": "汚れて読めない券"})
    assert posted.status_code == 200, posted.text
    assert "訂正を記帳しました" in posted.text
    with browser.db.read() as s:
        assert s.execute(select(func.count()).select_from(SettlementCorrection)).scalar_one() == 1
    w.assert_verified()


def test_expiry_from_the_reports_page_asks_first(db: Database, signer: CodeSigner,
                                                 secret: bytes, tmp_path: Path) -> None:
    """A programme whose last day of use has passed: the page shows how many sold tickets
    and how much face value will expire, and posts breakage only on confirmation."""
    long_ago = clock.now() - timedelta(days=10)
    with db.write() as session:
        sc = build_event(session, signer, workshops=2, booklets=3, now=long_ago,
                         today=clock.tokyo_date(long_ago))
    sell_booklets(db, signer, programme_id=sc.programme_id, codes=sc.booklet_codes[:2],
                  payment_method="cash", actor="t", now=long_ago)
    with db.write() as session:
        user = StaffUser(username="exp", display_name="会計", role="treasurer",
                         password_hash="!", created_at=clock.now())
        session.add(user)
        session.flush()
        actor = Actor("staff", user.id, "会計", "treasurer")
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        b = Browser(client, db, {"treasurer": actor})
        b.login("treasurer")
        url = f"/treasurer/programmes/{sc.programme_id}/expire"
        asked = b.post(url, {"event_id": str(sc.event_id)})
        assert asked.status_code == 200 and "未使用の券を失効させますか？" in asked.text
        with db.read() as s:
            active = s.execute(select(func.count()).select_from(Ticket).where(
                Ticket.programme_id == sc.programme_id, Ticket.status == "active")
            ).scalar_one()
        assert active > 0 and f"¥{active * 500:,}" in asked.text
        done = b.post(url, {"event_id": str(sc.event_id), "confirm": "yes"})
        assert done.status_code == 200 and "refusal" not in done.text
        with db.read() as s:
            left = s.execute(select(func.count()).select_from(Ticket).where(
                Ticket.programme_id == sc.programme_id, Ticket.status == "active")
            ).scalar_one()
        assert left == 0
    with db.read() as s:
        assert verify(s).ok
