"""Returns delivered, through the pages on both databases: thanks marked posted in bulk,
goods marked shipped with a tracking number (the supporter sees it), the carriers'
shipping lists (Yamato B2 Cloud's 42 columns, click post's 8) in Shift_JIS with every
address checked first, a pledge not owed the item refused, and the club's members with
returning supporters recognised; everything owed and the club's members as CSV and XLSX
holding the same rows."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from cf_world import SHIPPING, World, build_world, pledge
from httpx import Response
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update

from apps import client_for
from oflocal import clock
from oflocal.audit import verify
from oflocal.auth.service import create_staff_user, login_staff, open_session
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.models import Pledge
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.pledge import PledgeRequest, make_pledge
from oflocal.db.engine import Database
from oflocal.outbox.models import MailMessage
from oflocal.settings import Settings
from oflocal.supporters import fulfilment, signin
from oflocal.web.security import SESSION_COOKIE


@pytest.fixture
def world(db: Database) -> World:
    now = clock.now()
    w = build_world(db, around=now, per_supporter=None)
    for email, reward, extra in (("a@example.jp", w.goods, {}),
                                 ("b@example.jp", w.goods, {}),
                                 ("c@example.jp", w.free, {"amount": 3000}),
                                 ("d@example.jp", w.free, {"amount": 3000})):
        made = pledge(w, reward, email=email, now=now, **extra).body
        mark_paid(db, made["pledge_id"], source="bank", amount=made["total"],
                  actor="staff:1", now=now)
    pledge(w, w.goods, email="unpaid@example.jp", now=now)  # not owed anything yet
    return w


@pytest.fixture
def client(db: Database, secret: bytes, tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    create_staff_user(db, username="boss", display_name="事務局", role="admin",
                      password="boss password 1")
    token, csrf = open_session(db, login_staff(db, "boss", "boss password 1"), hours=1)
    with client_for(settings, db) as test_client:
        test_client.cookies.set(SESSION_COOKIE, token)
        test_client.headers["x-test-csrf"] = csrf
        yield test_client


def _ids(db: Database, w: World, email_like: str = "%") -> dict[str, int]:
    with db.read() as session:
        return {e: i for e, i in session.execute(
            Pledge.__table__.select().with_only_columns(Pledge.supporter_email, Pledge.id)
            .where(Pledge.campaign_id == w.campaign_id, Pledge.supporter_email.like(email_like)))}


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _csv_rows(response: Response) -> list[list[str]]:
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def _xlsx_rows(response: Response) -> list[list[object]]:
    assert response.status_code == 200 and response.headers["content-type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    return [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]


def _as_csv_shows_it(value: object) -> str:
    """A spreadsheet cell as the CSV writes it: numbers as digits, text people typed that
    Excel would run as a formula behind an apostrophe."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def test_thanks_and_goods_are_marked_and_the_supporter_sees_the_tracking_number(
        world: World, client: TestClient[Litestar]) -> None:
    db, cid, csrf = world.db, world.campaign_id, client.headers["x-test-csrf"]
    ids = _ids(db, world)
    page = client.get(f"/admin/campaigns/{cid}/fulfilment").text
    assert "(0 / 2)" in page  # two thanks owed, two parcels owed; the unpaid one is not
    posted = client.post(f"/admin/campaigns/{cid}/fulfilment/sns_thanks", follow_redirects=False,
                         data={"_csrf": csrf, f"p_{ids['c@example.jp']}": "yes",
                               f"p_{ids['d@example.jp']}": "yes",
                               "url": "https://sns.example/hitsuji/1"})
    assert posted.status_code == 303
    wrong = client.post(f"/admin/campaigns/{cid}/fulfilment/goods",
                        data={"_csrf": csrf, "pledge": str(ids["unpaid@example.jp"]),
                              "tracking": "123456789012", "carrier": "yamato"})
    assert wrong.status_code == 409 and "入金済みではありません" in wrong.text
    bad = client.post(f"/admin/campaigns/{cid}/fulfilment/goods",
                      data={"_csrf": csrf, "pledge": str(ids["a@example.jp"]),
                            "tracking": "no!", "carrier": "yamato"})
    assert bad.status_code == 422 and "tracking number" in bad.text
    shipped = client.post(f"/admin/campaigns/{cid}/fulfilment/goods", follow_redirects=False,
                          data={"_csrf": csrf, "pledge": str(ids["a@example.jp"]),
                                "tracking": "1234-5678-9012", "carrier": "yamato"})
    assert shipped.status_code == 303
    owed = {o.reference: o.done for o in fulfilment.owed(db, cid, "goods")}
    assert sorted(d.detail for d in owed.values() if d) == ["1234-5678-9012"]
    # The supporter's page says so.
    client.cookies.clear()
    signin.request_link(db, "a@example.jp", client="t")
    with db.read() as session:
        body = session.execute(select(MailMessage.text_body).where(
            MailMessage.kind == "signin_link")).scalar_one()
    token = re.search(r"/my/signin/([A-Za-z0-9_-]+)", body)
    assert token
    client.cookies.set(signin.COOKIE, signin.use_link(db, token.group(1)).token)
    assert "1234-5678-9012" in client.get("/my").text
    with db.read() as session:
        report = verify(session)
    assert report.ok, report.failures


def test_shipping_lists_for_the_carriers_check_every_address_first(
        world: World, client: TestClient[Litestar]) -> None:
    db, cid = world.db, world.campaign_id
    ids = _ids(db, world)
    with db.write() as session:  # an address that cannot be right (seeded past the checks)
        broken = {**SHIPPING, "prefecture": "北海道"}
        session.execute(update(Pledge).where(Pledge.id == ids["b@example.jp"])
                        .values(answers={"shipping": broken}))
    page = client.get(f"/admin/campaigns/{cid}/fulfilment").text
    assert 'id="unshippable"' in page and "北海道" in page
    b2 = client.get(f"/admin/campaigns/{cid}/shipping/yamato-b2",
                    params={"customer_code": "012345678901", "freight_number": "01",
                            "sender_postal_code": "491-0859", "ship_on": "2026-12-10"})
    assert b2.status_code == 200 and "Shift_JIS" in b2.headers["content-type"]
    rows = list(csv.reader(io.StringIO(b2.content.decode("cp932"))))
    assert len(rows) == 2 and all(len(r) == 42 for r in rows)  # title row + a's parcel
    header, a = rows
    assert header[0] == "お客様管理番号" and header[41] == "運賃管理番号"
    assert (a[1], a[4], a[10], a[11], a[15], a[17]) == (
        "0", "2026/12/10", "933-0029", "富山県高岡市御旅屋町101", "佐藤花子", "様")
    assert a[8] == "0766221234" and a[21] == "491-0859" and a[39] == "012345678901"
    refused = client.get(f"/admin/campaigns/{cid}/shipping/yamato-b2",
                         params={"customer_code": "12", "sender_postal_code": "4910859"})
    assert refused.status_code == 422
    click = client.get(f"/admin/campaigns/{cid}/shipping/clickpost")
    rows = list(csv.reader(io.StringIO(click.content.decode("cp932"))))
    assert rows[0][:3] == ["お届け先郵便番号", "お届け先氏名", "お届け先敬称"]
    assert rows[1][:4] == ["933-0029", "佐藤花子", "様", "富山県高岡市御旅屋町101"]
    assert len(rows) == 2 and all(len(r) == 8 for r in rows)
    everything = client.get(f"/admin/campaigns/{cid}/fulfilment.csv")
    assert everything.status_code == 200 and everything.content.startswith(b"\xef\xbb\xbf")


def test_the_club_recognises_returning_supporters(db: Database,
                                                 client: TestClient[Litestar]) -> None:
    now = clock.now()
    w = build_world(db, around=now)  # last year's campaign: a@ supported it
    made = pledge(w, w.limited, now=now).body
    mark_paid(db, made["pledge_id"], source="bank", amount=5000, actor="staff:1", now=now)
    later = create_campaign(db, event_id=w.event_id, slug="next", title="ひつじ団 2027",
                            goal=10_000, starts_at=now + timedelta(hours=1),
                            ends_at=now + timedelta(days=20), payment_methods=["bank_transfer"],
                            story="x", now=now, representative="山田", phone="0766-00-0000",
                            price_note="税込", extra_charges="なし", payment_terms="7日",
                            delivery_terms="10月", cancellation_terms="可")
    club = add_reward(db, later.id, title="ひつじ団員", price=2000, delivery_month="2027-04",
                      items=[{"kind": "club_membership", "year": 2027}])
    go_live(db, later.id, now=now)
    for email in ("a@example.jp", "new@example.jp"):
        out = make_pledge(db, PledgeRequest(
            campaign_id=later.id, reward_id=club.id, name="団員", email=email,
            phone="090-1234-5678", payment_method="bank_transfer", quantity=1, amount=None,
            answers={}), now=now + timedelta(hours=2)).body
        mark_paid(db, out["pledge_id"], source="bank", amount=2000, actor="staff:1",
                  now=now + timedelta(hours=2))
    members = {m.email: m.returning for m in fulfilment.club_members(db, 2027)}
    assert members == {"a@example.jp": True, "new@example.jp": False}
    assert fulfilment.club_members(db, 2026) == []
    # The list as the committee downloads it, CSV and XLSX alike.
    sheet = _csv_rows(client.get("/admin/club/2027/members.csv"))
    xlsx = client.get("/admin/club/2027/members.xlsx")
    assert 'filename="club-2027.xlsx"' in xlsx.headers["content-disposition"]
    book = _xlsx_rows(xlsx)
    assert [[_as_csv_shows_it(v) for v in row] for row in book] == sheet
    assert book == [["email", "name", "campaign", "event", "returning"],
                    ["a@example.jp", "団員", "ひつじ団 2027", book[1][3], "yes"],
                    ["new@example.jp", "団員", "ひつじ団 2027", book[1][3], ""]]
    assert book[1][3] and book[1][3] == book[2][3]  # the event's name
    assert _xlsx_rows(client.get("/admin/club/2026/members.xlsx")) == [book[0]]
    assert client.get("/admin/club/1999/members.xlsx").status_code == 422


def test_everything_owed_as_csv_and_xlsx_holds_the_same_rows(
        world: World, client: TestClient[Litestar]) -> None:
    db, cid, csrf = world.db, world.campaign_id, client.headers["x-test-csrf"]
    ids = _ids(db, world)
    with db.write() as session:  # a name Excel would run as a formula
        session.execute(update(Pledge).where(Pledge.id == ids["d@example.jp"])
                        .values(supporter_name="=1+1"))
    assert client.post(f"/admin/campaigns/{cid}/fulfilment/sns_thanks", follow_redirects=False,
                       data={"_csrf": csrf, f"p_{ids['c@example.jp']}": "yes",
                             "url": "https://sns.example/hitsuji/7"}).status_code == 303
    assert client.post(f"/admin/campaigns/{cid}/fulfilment/goods", follow_redirects=False,
                       data={"_csrf": csrf, "pledge": str(ids["a@example.jp"]),
                             "tracking": "9876-5432-1098", "carrier": "japanpost"}
                       ).status_code == 303
    page = client.get(f"/admin/campaigns/{cid}/fulfilment").text
    assert f'href="/admin/campaigns/{cid}/fulfilment.xlsx"' in page
    assert f'href="/admin/club/{clock.tokyo_date(clock.now()).year}/members.xlsx"' in page
    xlsx = client.get(f"/admin/campaigns/{cid}/fulfilment.xlsx")
    assert f'filename="fulfilment-{cid}.xlsx"' in xlsx.headers["content-disposition"]
    book = _xlsx_rows(xlsx)
    sheet = _csv_rows(client.get(f"/admin/campaigns/{cid}/fulfilment.csv"))
    assert [[_as_csv_shows_it(v) for v in row] for row in book] == sheet
    assert book[0] == ["item", "reference", "name", "email", "return", "quantity", "answer",
                       "done_at", "detail", "carrier"]
    by = {(row[0], row[3]): row for row in book[1:]}
    assert sorted(by) == [("goods", "a@example.jp"), ("goods", "b@example.jp"),
                          ("sns_thanks", "c@example.jp"), ("sns_thanks", "d@example.jp"),
                          ("voucher_booklets", "a@example.jp"),
                          ("voucher_booklets", "b@example.jp")]
    # The goods return holds a booklet too, collected at the desk: not yet.
    booklet = by["voucher_booklets", "a@example.jp"]
    assert (booklet[6], booklet[7], booklet[8]) == (1, "", "")
    c, d = by["sns_thanks", "c@example.jp"], by["sns_thanks", "d@example.jp"]
    a, b = by["goods", "a@example.jp"], by["goods", "b@example.jp"]
    assert (c[2], c[4], c[5], c[6], c[8], c[9]) == (
        "佐藤花子", "応援", 1, "@sato", "https://sns.example/hitsuji/7", "")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", str(c[7]))
    assert (d[2], d[7], d[8]) == ("=1+1", "", "")  # text in the sheet, not a formula
    assert (a[4], a[5], a[8], a[9]) == ("手ぬぐい", 1, "9876-5432-1098", "japanpost")
    assert a[6] == "佐藤花子 9330029 富山県 高岡市御旅屋町101 +81766221234"  # as stored
    assert (b[7], b[8], b[9]) == ("", "", "")
    with db.read() as session:
        reference = session.get(Pledge, ids["a@example.jp"])
        assert reference is not None and a[1] == reference.reference
    assert client.get("/admin/campaigns/999999/fulfilment.xlsx").status_code == 404
