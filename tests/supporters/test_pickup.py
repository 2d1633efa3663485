"""Voucher-booklet returns collected at the desk, on both databases: the booklets are
issued then (a sale paid by the pledge: crowdfunding income and premium fund to voucher
liability), once; a retry answers the first outcome; a second scan is refused with when,
where and by whom; every refusal changes nothing; two desks scanning the same code at
once hand over once; the pages (the supporter's QR code, decoded; the desk) and the API."""

from __future__ import annotations

import base64
import csv
import io
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import zxingcpp
from cf_world import audit, balances, build_world, pledge, snapshot
from litestar import Litestar
from litestar.testing import TestClient
from PIL import Image
from sqlalchemy import func, select

from apps import client_for
from oflocal import clock
from oflocal.auth.service import create_staff_user, login_staff, open_session
from oflocal.crowdfunding.outcome import decide_outcome
from oflocal.crowdfunding.payments import mark_paid
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey
from oflocal.outbox.models import MailMessage
from oflocal.settings import Settings
from oflocal.supporters import pickup, signin
from oflocal.supporters.models import BookletPickup
from oflocal.supporters.report import campaign_report
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.issue import add_booklets
from oflocal.vouchers.models import Booklet, Sale, Ticket
from oflocal.web.security import SESSION_COOKIE

CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')
QR = re.compile(r'src="data:image/png;base64,([^"]+)"')


class Desk:
    """A succeeded campaign whose goods return holds one booklet, and printed stock."""

    def __init__(self, db: Database, signer: CodeSigner, secret: bytes) -> None:
        now = clock.now()
        # The campaign ran until two days ago; the booklets are valid today (demo event).
        self.w = build_world(db, around=now - timedelta(days=12), goal=3000)
        self.db, self.signer, self.secret = db, signer, secret
        self.pledge_id = self._paid("a@example.jp", quantity=2)
        self.unpaid = pledge(self.w, self.w.goods, email="u@example.jp",
                             now=now - timedelta(days=12)).body["pledge_id"]
        mark_paid(db, self.unpaid, source="bank", amount=3300, actor="staff:1",
                  now=now - timedelta(days=11))  # paid too, then...
        self.tour_only = self._paid("t@example.jp", reward=self.w.limited)
        decide_outcome(db, self.w.campaign_id, now=now)
        with db.write() as session:
            batch = add_booklets(session, signer, self.w.programme_id, 10, now=now,
                                 actor="t")
        self.stock = [signer.make("B", self.w.programme_id, batch.first_booklet_serial + i)
                      for i in range(10)]

    def _paid(self, email: str, *, quantity: int = 1, reward: int | None = None) -> int:
        at = clock.now() - timedelta(days=12)
        made = pledge(self.w, reward or self.w.goods, email=email, quantity=quantity,
                      now=at).body
        mark_paid(self.db, made["pledge_id"], source="bank", amount=made["total"],
                  actor="staff:1", now=at)
        return int(made["pledge_id"])

    def token(self, pledge_id: int) -> str:
        return pickup.pickup_token(self.secret, pledge_id)

    def collect(self, codes: list[str], *, pledge_id: int | None = None, place: str = "本部受付",
                key: str | None = None, actor: str = "staff:7", **kw: Any) -> dict[str, Any]:
        pid = pledge_id or self.pledge_id
        idem = IdempotencyKey(actor, key, "h") if key else None
        return pickup.collect(self.db, self.signer, self.secret, pid, self.token(pid),
                              codes=codes, place=place, actor=actor, idem=idem, **kw).body


@pytest.fixture
def desk(db: Database, signer: CodeSigner, secret: bytes) -> Desk:
    return Desk(db, signer, secret)


def _refused(code: str, work: Any) -> Refusal:
    with pytest.raises(Refusal) as caught:
        work()
    assert caught.value.code == code, caught.value
    return caught.value


def test_booklets_are_issued_once_and_the_ledger_moves_them(desk: Desk) -> None:
    db, w = desk.db, desk.w
    before = balances(db, w.event_id)
    view = pickup.look_up(db, desk.secret, desk.pledge_id, desk.token(desk.pledge_id))
    assert view.blocker is None and [(o.count, o.face_value) for o in view.owed] == [(2, 3000)]
    done = desk.collect(desk.stock[:2], key="k1")
    assert done["place"] == "本部受付" and done["handed_over"][0]["face_total"] == 6000
    after = balances(db, w.event_id)
    moved = {a: after.get(a, 0) - before.get(a, 0) for a in after}
    # Debit income with the price (2 × ¥2,500) and the premium fund with the premium
    # (2 × ¥500); credit the programme's voucher liability with the face (2 × ¥3,000).
    assert moved["crowdfunding_income"] == 5000 and moved["premium_fund"] == 1000
    assert moved[f"voucher_liability:P{w.programme_id}"] == -6000
    with db.read() as session:
        tickets = session.execute(
            select(Ticket.status, func.count()).join(Booklet, Booklet.id == Ticket.booklet_id)
            .where(Booklet.code.in_(desk.stock[:2])).group_by(Ticket.status)).all()
        sale = session.execute(select(Sale).where(Sale.payment_method == "pledge")).scalar_one()
    assert tickets == [("active", 12)] and sale.booklet_count == 2
    audit(db)
    # The same request again (a double tap): the first answer, nothing new.
    again = pickup.collect(db, desk.signer, desk.secret, desk.pledge_id,
                           desk.token(desk.pledge_id), codes=desk.stock[:2], place="本部受付",
                           actor="staff:7", idem=IdempotencyKey("staff:7", "k1", "h"))
    assert again.replayed and again.body == done
    # A second scan, other booklets: refused with when, where and by whom.
    state = snapshot(db)
    second = _refused("pickup.already_collected",
                      lambda: desk.collect(desk.stock[2:4], place="東口", actor="staff:8"))
    assert "本部受付" in second.message("ja") and "staff:7" in second.message("en")
    assert snapshot(db) == state
    seen = pickup.look_up(db, desk.secret, desk.pledge_id, desk.token(desk.pledge_id))
    assert seen.blocker is not None and seen.blocker.code == "pickup.already_collected"
    assert [(c.place, c.count) for c in seen.collected] == [("本部受付", 2)]
    # The campaign report counts the returns collected (of the two owed booklets).
    delivery = {kind: (done, owed) for kind, done, owed in
                campaign_report(db, w.campaign_id).delivery}
    assert delivery["voucher_booklets"] == (1, 2)
    audit(db)


def test_every_refusal_says_why_and_changes_nothing(desk: Desk, signer: CodeSigner) -> None:
    db = desk.db
    sell_booklets(db, signer, programme_id=desk.w.programme_id, codes=[desk.stock[9]],
                  payment_method="cash", actor="desk")
    state = snapshot(db)
    pid = desk.pledge_id
    _refused("pickup.code_invalid", lambda: pickup.collect(
        db, signer, desk.secret, pid, desk.token(pid)[:-2] + "xx", codes=desk.stock[:2],
        place="本部受付", actor="staff:7"))
    _refused("pickup.code_invalid", lambda: pickup.look_up(db, desk.secret, pid + 1000,
                                                           desk.token(pid + 1000)))
    wrong = _refused("pickup.wrong_booklets", lambda: desk.collect(desk.stock[:1]))
    assert "2冊" in wrong.message("ja")
    _refused("sale.limit_exceeded", lambda: desk.collect(desk.stock[:3]))
    _refused("booklet.already_sold", lambda: desk.collect([desk.stock[0], desk.stock[9]]))
    _refused("code.unknown", lambda: desk.collect(
        [desk.stock[0], CodeSigner(b"x" * 32).make("B", desk.w.programme_id, 1)]))
    _refused("pickup.place_required", lambda: desk.collect(desk.stock[:2], place="  "))
    _refused("pickup.no_booklets", lambda: desk.collect([desk.stock[0]],
                                                        pledge_id=desk.tour_only))
    too_early = clock.now() - timedelta(days=3)  # before the printed issue date
    early = _refused("pickup.before_issue", lambda: desk.collect(desk.stock[:2], now=too_early))
    assert "発行日" in early.message("ja")
    _refused("pickup.expired", lambda: desk.collect(desk.stock[:2],
                                                    now=clock.now() + timedelta(days=10)))
    assert snapshot(db) == state
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(BookletPickup)).scalar_one() == 0
    audit(db)


def test_unpaid_and_undecided_are_refused(db: Database, signer: CodeSigner,
                                          secret: bytes) -> None:
    now = clock.now()
    w = build_world(db, around=now, goal=3000)  # still running: nothing decided yet
    paid = pledge(w, w.goods, now=now).body["pledge_id"]
    mark_paid(db, paid, source="bank", amount=3300, actor="staff:1", now=now)
    unpaid = pledge(w, w.goods, email="u@example.jp", now=now).body["pledge_id"]
    with db.write() as session:
        batch = add_booklets(session, signer, w.programme_id, 2, now=now, actor="t")
    code = signer.make("B", w.programme_id, batch.first_booklet_serial)
    for pid, why in ((paid, "pickup.campaign_undecided"), (unpaid, "pickup.not_paid")):
        _refused(why, lambda pid=pid: pickup.collect(
            db, signer, secret, pid, pickup.pickup_token(secret, pid), codes=[code],
            place="本部受付", actor="staff:7"))


def test_two_desks_scanning_the_same_code_hand_over_once(desk: Desk) -> None:
    answers: list[str] = []
    start = threading.Barrier(4)
    lock = threading.Lock()

    def scan(i: int) -> None:
        start.wait()
        try:
            desk.collect(desk.stock[2 * i:2 * i + 2], place=f"受付{i}", actor=f"staff:{i}")
            outcome = "collected"
        except Refusal as refusal:
            outcome = refusal.code
        with lock:
            answers.append(outcome)

    threads = [threading.Thread(target=scan, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == ["collected"] + ["pickup.already_collected"] * 3
    with desk.db.read() as session:
        sold = session.execute(select(func.count()).select_from(Booklet)
                               .where(Booklet.status == "sold")).scalar_one()
    assert sold == 2
    audit(desk.db)


# --------------------------------------------------------------------------- the pages


@pytest.fixture
def client(db: Database, secret: bytes, tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as test_client:
        yield test_client


def _desk_login(db: Database) -> tuple[str, str]:
    create_staff_user(db, username="desk", display_name="受付", role="desk",
                      password="desk password 1")
    return open_session(db, login_staff(db, "desk", "desk password 1"), hours=1)


def test_the_qr_code_on_the_supporters_page_opens_the_desk_page(
        desk: Desk, client: TestClient[Litestar]) -> None:
    db = desk.db
    client.cookies.set(signin.COOKIE, _signed_in(db))
    mine = client.get("/my")
    section = mine.text[mine.text.index(f'id="pickup-{desk.pledge_id}"'):]
    scanned = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(
        QR.search(section).group(1)))))[0].text  # type: ignore[union-attr]
    path = urlsplit(scanned).path
    assert path == pickup.pickup_path(desk.secret, desk.pledge_id)
    client.cookies.clear()
    token, _ = _desk_login(db)
    client.cookies.set(SESSION_COOKIE, token)
    opened = client.get("/desk/pickup", params={"code": scanned}, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == path
    page = client.get(path)
    assert page.status_code == 200 and "佐藤花子" in page.text and "2冊" in page.text
    form = {"_csrf": CSRF.search(page.text).group(1),  # type: ignore[union-attr]
            "form_key": FORM_KEY.search(page.text).group(1),  # type: ignore[union-attr]
            "booklets": "\n".join(desk.stock[:1]), "place": "本部受付"}
    short = client.post(path, data=form)
    assert short.status_code == 422 and "2冊読み取ってください" in short.text
    form["form_key"] = FORM_KEY.search(short.text).group(1)  # type: ignore[union-attr]
    done = client.post(path, data=form | {"booklets": "\r\n".join(desk.stock[:2]) + "\n"})
    assert done.status_code == 200 and 'id="handed-over"' in done.text
    assert "oflocal_desk_place" in done.headers.get("set-cookie", "")
    resent = client.post(path, data=form | {"booklets": "\r\n".join(desk.stock[:2]) + "\n"})
    assert resent.status_code == 200 and 'id="handed-over"' in resent.text  # same key
    again = client.get(path)
    assert "すでに" in again.text and "本部受付" in again.text
    assert 'id="pickup-form"' not in again.text
    forged = client.get(path[:-3] + "abc")
    assert forged.status_code == 404
    unreadable = client.get("/desk/pickup", params={"code": "hello"})
    assert unreadable.status_code == 404 and "受取コードは無効" in unreadable.text
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(BookletPickup)).scalar_one() == 1
    client.cookies.clear()
    client.cookies.set(signin.COOKIE, _signed_in(db))
    mine = client.get("/my")
    section = mine.text[mine.text.index(f'id="pickup-{desk.pledge_id}"'):]
    assert "受け取り済み" in section[:600] and "本部受付" in section[:600]
    # The committee's returns page lists who is owed booklets and who collected them.
    client.cookies.clear()
    create_staff_user(db, username="t", display_name="会計", role="treasurer",
                      password="treasurer password 1")
    staff, _ = open_session(db, login_staff(db, "t", "treasurer password 1"), hours=1)
    client.cookies.set(SESSION_COOKIE, staff)
    cid = desk.w.campaign_id
    fulfilment = client.get(f"/admin/campaigns/{cid}/fulfilment").text
    booklets = fulfilment[fulfilment.index('id="voucher_booklets"'):]
    assert "(1 / 2)" in booklets and "本部受付" in booklets and "まだ" in booklets
    rows = list(csv.reader(io.StringIO(client.get(
        f"/admin/campaigns/{cid}/fulfilment.csv").content.decode("utf-8-sig"))))
    vouchers = {row[3]: row for row in rows if row[0] == "voucher_booklets"}
    assert (vouchers["a@example.jp"][6], vouchers["a@example.jp"][8]) == ("2", "本部受付")
    assert (vouchers["u@example.jp"][6], vouchers["u@example.jp"][7]) == ("1", "")
    audit(db)


def _signed_in(db: Database) -> str:
    signin.request_link(db, "a@example.jp", client="t")
    with db.read() as session:
        body = session.execute(select(MailMessage.text_body).where(
            MailMessage.kind == "signin_link").order_by(MailMessage.id.desc())).scalars().first()
    found = re.search(r"/my/signin/([A-Za-z0-9_-]+)", body or "")
    assert found
    return signin.use_link(db, found.group(1)).token


def test_the_api_looks_up_and_hands_over_once(desk: Desk, client: TestClient[Litestar]) -> None:
    token, csrf = _desk_login(desk.db)
    client.cookies.set(SESSION_COOKIE, token)
    headers = {"X-CSRF-Token": csrf}
    code = "https://example.jp" + pickup.pickup_path(desk.secret, desk.pledge_id)
    facts = client.get("/api/v1/pickups", params={"code": code}, headers=headers).json()
    assert facts["ready"] and facts["owed"][0]["count"] == 2 and facts["refusal"] is None
    body = {"code": code, "booklet_codes": desk.stock[:2], "place": "本部受付"}
    first = client.post("/api/v1/pickups", json=body,
                        headers=headers | {"Idempotency-Key": "p-1"})
    assert first.status_code == 201, first.text
    retried = client.post("/api/v1/pickups", json=body,
                          headers=headers | {"Idempotency-Key": "p-1"})
    assert retried.json() == first.json()
    second = client.post("/api/v1/pickups", json=body | {"booklet_codes": desk.stock[2:4]},
                         headers=headers | {"Idempotency-Key": "p-2"})
    assert second.status_code == 409 and second.json()["code"] == "pickup.already_collected"
    after = client.get("/api/v1/pickups", params={"code": code}, headers=headers).json()
    assert not after["ready"] and after["collected"][0]["place"] == "本部受付"
    forged = client.get("/api/v1/pickups", params={"code": code[:-2] + "zz"}, headers=headers)
    assert forged.status_code == 404 and forged.json()["code"] == "pickup.code_invalid"
    audit(desk.db)
