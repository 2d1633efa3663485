"""Updates (活動報告) through the pages on both databases: an admin writes a draft with a
preview, publishes it once, the mailing reaches the paid supporters of its audience (one
message each, the unsubscribed left out), supporters-only text stays hidden from others
on the campaign page, and the unsubscribe link works with one click and no sign-in."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cf_world import World, build_world, pledge
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select

from apps import client_for
from oflocal import clock
from oflocal.auth.service import create_staff_user, login_staff, open_session
from oflocal.crowdfunding.payments import mark_paid
from oflocal.db.engine import Database
from oflocal.outbox.models import MailMessage
from oflocal.settings import Jobs, Settings
from oflocal.supporters import signin
from oflocal.supporters.models import CampaignUpdate
from oflocal.supporters.updates import mailing_progress
from oflocal.web.security import SESSION_COOKIE

UNSUBSCRIBE = re.compile(r"https?://[^/\s]+(/updates/unsubscribe/\d+/[A-Za-z0-9_.-]+)")


@pytest.fixture
def world(db: Database) -> World:
    """a: paid, tour; b: paid, thanks; c: unpaid, tour."""
    now = clock.now()
    w = build_world(db, around=now)
    for email, reward, paid in (("a@example.jp", w.limited, True),
                                ("b@example.jp", w.free, True),
                                ("c@example.jp", w.limited, False)):
        made = pledge(w, reward, email=email, now=now,
                      **({"amount": 3000} if reward == w.free else {})).body
        if paid:
            mark_paid(db, made["pledge_id"], source="bank", amount=made["total"],
                      actor="staff:1", now=now)
    return w


@pytest.fixture
def client(db: Database, secret: bytes, tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret,
                        jobs=Jobs(poll_seconds=0.05, heartbeat_seconds=1.0))
    create_staff_user(db, username="boss", display_name="事務局", role="admin",
                      password="boss password 1")
    token, csrf = open_session(db, login_staff(db, "boss", "boss password 1"), hours=1)
    with client_for(settings, db) as test_client:
        test_client.cookies.set(SESSION_COOKIE, token)
        test_client.headers["x-test-csrf"] = csrf
        yield test_client


def _csrf(client: TestClient[Litestar]) -> str:
    return client.headers["x-test-csrf"]


def _mailed(db: Database, update_id: int) -> dict[str, str]:
    """Address → state of the update's messages, once every one is sent."""
    deadline = time.monotonic() + 30
    while True:
        progress = mailing_progress(db, update_id)
        if progress.all_queued and progress.sent == progress.recipients:
            break
        assert time.monotonic() < deadline, progress
        time.sleep(0.05)
    with db.read() as session:
        found = session.execute(select(MailMessage.to_address, MailMessage.state).where(
            MailMessage.about == f"update:{update_id}"))
        return {address: state for address, state in found}


def _write(client: TestClient[Litestar], campaign_id: int, **form: str) -> int:
    made = client.post(f"/admin/campaigns/{campaign_id}/updates",
                       data={"_csrf": _csrf(client), **form}, follow_redirects=False)
    assert made.status_code == 303, made.text[:3000]
    return int(made.headers["location"].rsplit("/", 1)[1])


def test_a_supporters_update_is_mailed_once_to_paid_supporters_and_hidden_from_others(
        world: World, client: TestClient[Litestar]) -> None:
    db, cid = world.db, world.campaign_id
    form = {"title": "工場見学の日程", "body": "**10月12日**に決まりました。<script>x</script>",
            "audience": "supporters", "send_mail": "yes"}
    preview = client.post(f"/admin/campaigns/{cid}/updates",
                          data={"_csrf": _csrf(client), **form, "action": "preview"})
    assert "<strong>10月12日</strong>" in preview.text and "<script>x" not in preview.text
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(CampaignUpdate)).scalar_one() == 0
    update_id = _write(client, cid, **form)
    assert "支援者限定" in client.get(f"/admin/updates/{update_id}").text
    assert 'id="updates"' not in client.get("/c/demo/hitsuji").text  # a draft: not shown
    for _ in range(2):  # a second press publishes nothing more
        published = client.post(f"/admin/updates/{update_id}/publish",
                                data={"_csrf": _csrf(client)}, follow_redirects=False)
        assert published.status_code == 303
    assert _mailed(db, update_id) == {"a@example.jp": "sent", "b@example.jp": "sent"}
    page = client.get(f"/admin/updates/{update_id}").text
    assert "送信 2・失敗 0／全 2" in page
    public = client.get("/c/demo/hitsuji").text  # staff are not supporters
    assert "工場見学の日程" in public and "10月12日" not in public and "支援者限定です" in public
    refused = client.post(f"/admin/updates/{update_id}", data={"_csrf": _csrf(client), **form})
    assert refused.status_code == 409 and "公開済み" in refused.text


def test_a_return_update_reaches_its_supporters_and_one_click_unsubscribes(
        world: World, client: TestClient[Litestar], secret: bytes) -> None:
    db, cid = world.db, world.campaign_id
    first = _write(client, cid, title="見学のご案内", body="集合は本社前です。",
                   audience="rewards", **{f"reward_{world.limited}": "yes"}, send_mail="yes")
    client.post(f"/admin/updates/{first}/publish", data={"_csrf": _csrf(client)})
    assert _mailed(db, first) == {"a@example.jp": "sent"}
    with db.read() as session:
        body = session.execute(select(MailMessage.text_body).where(
            MailMessage.about == f"update:{first}")).scalar_one()
    path = UNSUBSCRIBE.search(body)
    assert path, body
    staff_cookies = dict(client.cookies)
    client.cookies.clear()  # no cookies, no form: a mail program's one-click POST
    assert "a@example.jp" in client.get(path.group(1)).text
    done = client.post(path.group(1), content=b"List-Unsubscribe=One-Click",
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and 'id="unsubscribed"' in done.text
    assert client.post(path.group(1)[:-2] + "xx").status_code == 404
    client.cookies.update(staff_cookies)
    # Signed in as a paid supporter of the tour, the text shows on the campaign page.
    signin.request_link(db, "a@example.jp", client="t")
    opened = signin.use_link(db, _last_signin_token(db))
    client.cookies.set(signin.COOKIE, opened.token)
    assert "集合は本社前です" in client.get("/c/demo/hitsuji").text
    second = _write(client, cid, title="全体のお知らせ", body="ありがとうございます。",
                    audience="public", send_mail="yes")
    client.post(f"/admin/updates/{second}/publish", data={"_csrf": _csrf(client)})
    assert _mailed(db, second) == {"b@example.jp": "sent"}  # a unsubscribed; c unpaid


def _last_signin_token(db: Database) -> str:
    with db.read() as session:
        body = session.execute(select(MailMessage.text_body).where(
            MailMessage.kind == "signin_link").order_by(MailMessage.id.desc())).scalars().first()
    assert body is not None
    found = re.search(r"/my/signin/([A-Za-z0-9_-]+)", body)
    assert found
    return found.group(1)


def test_bad_updates_are_refused_and_change_nothing(world: World,
                                                    client: TestClient[Litestar]) -> None:
    cid = world.campaign_id
    for form, words in (({"title": "", "body": "x", "audience": "public"}, "タイトル" ),
                        ({"title": "t", "body": "x", "audience": "rewards"}, "リターン"),
                        ({"title": "t", "body": "x", "audience": "friends"}, "audience")):
        refused = client.post(f"/admin/campaigns/{cid}/updates",
                              data={"_csrf": _csrf(client), **form})
        assert refused.status_code == 422, refused.text[:2000]
        assert "活動報告の内容に誤りがあります" in refused.text, words
    with world.db.read() as session:
        assert session.execute(select(func.count()).select_from(CampaignUpdate)).scalar_one() == 0


def test_drafts_written_at_once_get_numbers_one_after_another(db: Database) -> None:
    """Eight staff save a draft at the same moment (threads, real connections): each gets
    its own number, 1 to 8, and none is refused with a server error (the numbers are taken
    under the campaign's lock, not read then written)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from oflocal.supporters.updates import write_update

    w = build_world(db)
    start = Barrier(8)

    def draft(n: int) -> int:
        start.wait()
        return write_update(db, w.campaign_id, title=f"活動報告 {n}", body="本文",
                            author=f"staff:{n}")

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(draft, range(8)))
    with db.read() as session:
        numbers = session.execute(select(CampaignUpdate.number).where(
            CampaignUpdate.id.in_(ids)).order_by(CampaignUpdate.number)).scalars().all()
    assert numbers == list(range(1, 9))
