"""The supporters' wall on both databases: paid supporters who chose to be named, by
return, as typed (escaped); anonymous ones counted; a name an admin hides counts as
anonymous; the poster (PDF, A4 and A2) and the CSV say the same."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from cf_world import World, build_world, pledge
from litestar import Litestar
from litestar.testing import TestClient
from reportlab.lib.pagesizes import A2, A4

from apps import client_for
from oflocal import clock
from oflocal.auth.service import create_staff_user, login_staff, open_session
from oflocal.crowdfunding.payments import mark_paid
from oflocal.db.engine import Database
from oflocal.settings import Settings
from oflocal.web.security import SESSION_COOKIE

ABUSIVE = "<b>ばか</b>"


@pytest.fixture
def world(db: Database) -> World:
    now = clock.now()
    w = build_world(db, around=now, per_supporter=None)
    for email, answers, paid in (
        ("a@example.jp", {"sns_handle": "@a", "wall_name": "佐藤"}, True),
        ("b@example.jp", {"sns_handle": "@b", "wall_anonymous": True}, True),
        ("c@example.jp", {"sns_handle": "@c", "wall_name": ABUSIVE}, True),
        ("d@example.jp", {"sns_handle": "@d", "wall_name": "未入金"}, False),
    ):
        made = pledge(w, w.free, email=email, amount=3000, answers=answers, now=now).body
        if paid:
            mark_paid(db, made["pledge_id"], source="bank", amount=3000, actor="staff:1",
                      now=now)
    return w


@pytest.fixture
def client(db: Database, secret: bytes, tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as test_client:
        yield test_client


def _as_admin(client: TestClient[Litestar], db: Database) -> str:
    create_staff_user(db, username="boss", display_name="事務局", role="admin",
                      password="boss password 1")
    token, csrf = open_session(db, login_staff(db, "boss", "boss password 1"), hours=1)
    client.cookies.set(SESSION_COOKIE, token)
    return csrf


def _pdf_text(content: bytes) -> tuple[str, tuple[float, float]]:
    doc = pdfium.PdfDocument(content)
    words = "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    return words, doc[0].get_size()


def test_the_wall_names_paid_supporters_as_typed_and_an_admin_hides_one(
        world: World, client: TestClient[Litestar]) -> None:
    db = world.db
    public = client.get("/c/demo/hitsuji").text
    assert 'id="wall"' in public and "佐藤" in public and "未入金" not in public
    assert "&lt;b&gt;ばか&lt;/b&gt;" in public and ABUSIVE not in public  # escaped
    assert "ほか匿名 1名" in public
    csrf = _as_admin(client, db)
    staff_page = client.get(f"/admin/campaigns/{world.campaign_id}/wall")
    assert staff_page.status_code == 200 and "&lt;b&gt;ばか" in staff_page.text
    rows = list(csv.reader(io.StringIO(
        client.get(f"/admin/campaigns/{world.campaign_id}/wall.csv").content.decode("utf-8-sig"))))
    assert [r[2] for r in rows[1:]] == ["佐藤", ABUSIVE, "匿名"] and rows[-1][3] == "1"
    hidden_id = int(staff_page.text.split(ABUSIVE.replace("<", "&lt;").replace(">", "&gt;"))[0]
                    .rsplit('data-pledge="', 1)[1].split('"', 1)[0])
    hide = client.post(f"/admin/pledges/{hidden_id}/wall", data={"_csrf": csrf, "hidden": "1"},
                       follow_redirects=False)
    assert hide.status_code == 303
    public = client.get("/c/demo/hitsuji").text
    assert "ばか" not in public and "佐藤" in public and "ほか匿名 2名" in public
    words, size = _pdf_text(client.get(f"/admin/campaigns/{world.campaign_id}/wall.pdf").content)
    assert "佐藤" in words and "ばか" not in words and "ほか匿名 2名" in words
    assert size == pytest.approx(A4, abs=1)
    poster = client.get(f"/admin/campaigns/{world.campaign_id}/wall.pdf?size=a2")
    assert _pdf_text(poster.content)[1] == pytest.approx(A2, abs=1)
    assert client.get(f"/admin/campaigns/{world.campaign_id}/wall.pdf?size=b5").status_code == 422
    shown = client.post(f"/admin/pledges/{hidden_id}/wall", data={"_csrf": csrf, "hidden": "0"})
    assert shown.status_code == 200 and "ほか匿名 1名" in client.get("/c/demo/hitsuji").text


def test_only_an_admin_hides_and_not_without_csrf(world: World,
                                                  client: TestClient[Litestar]) -> None:
    anonymous = client.post("/admin/pledges/1/wall", data={"hidden": "1"},
                            follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    _as_admin(client, world.db)
    assert client.post("/admin/pledges/1/wall", data={"hidden": "1"}).status_code == 403
    assert "ほか匿名 1名" in client.get("/c/demo/hitsuji").text


def test_a_long_wall_continues_on_more_pages() -> None:
    from oflocal.supporters.wall import WallGroup, WallName
    from oflocal.supporters.wall_pdf import write_wall_pdf

    group = WallGroup(1, "応援", [WallName(i, f"支援者{i:04d}", False) for i in range(600)])
    out = io.BytesIO()
    write_wall_pdf(out, "ひつじ団", "実行委員会", [group], "a4")
    doc = pdfium.PdfDocument(out.getvalue())
    words = "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    assert len(doc) > 1 and "応援（続き）" in words
    assert all(f"支援者{i:04d}" in words for i in (0, 299, 599))
