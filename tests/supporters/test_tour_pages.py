"""Tours through the pages on both databases: an admin adds a date, a signed-in paid
supporter picks it on their page and gets a QR code (decoded here) whose link, opened
by a desk login at the door, lets them in once; a second scan says when."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import zxingcpp
from cf_world import World, build_world, pledge
from litestar import Litestar
from litestar.testing import TestClient
from PIL import Image
from sqlalchemy import select

from apps import client_for
from oflocal import clock
from oflocal.auth.service import create_staff_user, login_staff, open_session
from oflocal.crowdfunding.payments import mark_paid
from oflocal.db.engine import Database
from oflocal.outbox.models import MailMessage
from oflocal.settings import Settings
from oflocal.supporters import signin
from oflocal.web.security import SESSION_COOKIE

CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
QR = re.compile(r'src="data:image/png;base64,([^"]+)"')


@pytest.fixture
def world(db: Database) -> World:
    now = clock.now()
    w = build_world(db, around=now)
    made = pledge(w, w.limited, quantity=2, now=now).body  # a@example.jp, two people
    mark_paid(db, made["pledge_id"], source="bank", amount=10_000, actor="staff:1", now=now)
    return w


@pytest.fixture
def client(db: Database, secret: bytes, tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as test_client:
        yield test_client


def _staff(db: Database, role: str) -> tuple[str, str]:
    create_staff_user(db, username=role, display_name=role, role=role,
                      password=f"{role} password 1")
    return open_session(db, login_staff(db, role, f"{role} password 1"), hours=1)


def test_a_supporter_books_a_date_and_is_let_in_once(world: World,
                                                    client: TestClient[Litestar]) -> None:
    db = world.db
    admin_token, admin_csrf = _staff(db, "admin")
    client.cookies.set(SESSION_COOKIE, admin_token)
    when = clock.as_tokyo(clock.now() + timedelta(days=30)).strftime("%Y-%m-%dT10:00")
    added = client.post(f"/admin/campaigns/{world.campaign_id}/tours", follow_redirects=False,
                        data={"_csrf": admin_csrf, "title": "機屋の見学", "place": "一宮市",
                              "starts_at": when, "capacity": "3"})
    assert added.status_code == 303
    bad = client.post(f"/admin/campaigns/{world.campaign_id}/tours",
                      data={"_csrf": admin_csrf, "title": "x", "starts_at": when,
                            "capacity": "many"})
    assert bad.status_code == 422 and "見学日の内容に誤りがあります" in bad.text
    client.cookies.clear()
    signin.request_link(db, "a@example.jp", client="t")
    with db.read() as session:
        body = session.execute(select(MailMessage.text_body).where(
            MailMessage.kind == "signin_link")).scalar_one()
    token = re.search(r"/my/signin/([A-Za-z0-9_-]+)", body)
    assert token
    client.cookies.set(signin.COOKIE, signin.use_link(db, token.group(1)).token)
    mine = client.get("/my").text
    slot = re.search(r'name="slot" value="(\d+)"', mine)
    assert slot and "残り3名" in mine
    csrf = CSRF.search(mine)
    assert csrf
    booked = client.post(f"/my/pledges/{_pledge_id(mine)}/tour", follow_redirects=False,
                         data={"_csrf": csrf.group(1), "slot": slot.group(1)})
    assert booked.status_code == 303
    mine = client.get("/my").text
    assert "機屋の見学" in mine and "2名" in mine
    code = QR.search(mine)
    assert code, mine
    image = Image.open(io.BytesIO(base64.b64decode(code.group(1))))
    (read,) = zxingcpp.read_barcodes(image)
    door = urlsplit(read.text).path
    assert door.startswith("/door/tour/")
    # At the door: a desk login opens the link and lets them in, once.
    desk_token, desk_csrf = _staff(db, "desk")
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, desk_token)
    shown = client.get(door)
    assert shown.status_code == 200 and "佐藤花子" in shown.text and 'id="check-in"' in shown.text
    let_in = client.post(door, data={"_csrf": desk_csrf})
    assert let_in.status_code == 200 and 'id="checked-in"' in let_in.text
    again = client.post(door, data={"_csrf": desk_csrf})
    assert again.status_code == 409 and "すでに" in again.text and "受付済み" in again.text
    forged = door[:-3] + ("AAA" if not door.endswith("AAA") else "BBB")
    assert client.get(forged).status_code == 404


def _pledge_id(page: str) -> int:
    found = re.search(r'id="pledge-(\d+)"', page)
    assert found
    return int(found.group(1))
