"""The supporter's own page (/my), through Litestar's test client on both databases:
signing in by an e-mailed link (single use, short-lived, the same answer for a known and
an unknown address, limited per address even under parallel requests), then the pledges
of that address only, correcting an answer until fulfilment is locked, and cancelling an
unpaid pledge."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from cf_world import SHIPPING, World, build_world, claimed, pledge, state_of
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select

from apps import client_for
from oflocal import clock
from oflocal.crowdfunding.fulfilment import lock_fulfilment
from oflocal.crowdfunding.models import Pledge
from oflocal.crowdfunding.payments import mark_paid
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.outbox.models import MailMessage
from oflocal.settings import Settings
from oflocal.supporters import signin
from oflocal.supporters.models import SignInLink

CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')
LINK = re.compile(r"https?://[^/\s]+(/my/signin/[A-Za-z0-9_-]+)")


@pytest.fixture
def world(db: Database) -> World:
    now = clock.now()  # the app's workers sweep by the real clock
    w = build_world(db, around=now)
    pledge(w, w.goods, now=now)  # a@example.jp: goods, asks for the address
    pledge(w, w.limited, now=now)  # a@example.jp: a tour, unpaid
    pledge(w, w.free, email="b@example.jp", amount=4000, now=now)  # someone else's
    return w


@pytest.fixture
def client(db: Database, secret: bytes, tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as test_client:
        yield test_client


def _post(client: TestClient[Litestar], path: str, form_page: str = "/my", **values: str):  # type: ignore[no-untyped-def]
    token = CSRF_FIELD.search(client.get(form_page).text)
    assert token
    return client.post(path, data={"_csrf": token.group(1), **values}, follow_redirects=False)


def _links(db: Database) -> list[str]:
    with db.read() as session:
        bodies = session.execute(select(MailMessage.text_body)
                                 .where(MailMessage.kind == "signin_link")
                                 .order_by(MailMessage.id)).scalars().all()
    return [m.group(1) for body in bodies if (m := LINK.search(body))]


def _sign_in(client: TestClient[Litestar], db: Database, email: str = "a@example.jp") -> None:
    asked = _post(client, "/my/signin", email=email)
    assert asked.status_code == 200 and 'id="link-sent"' in asked.text
    path = _links(db)[-1]
    assert client.get(path).status_code == 200  # the button; fetching spends nothing
    used = _post(client, path, form_page=path)
    assert used.status_code == 303 and used.headers["location"] == "/my"


def test_a_link_signs_in_once_and_shows_that_address_only(
        world: World, client: TestClient[Litestar]) -> None:
    db = world.db
    assert 'id="signin-form"' in client.get("/my").text
    _sign_in(client, db, "  A@Example.JP ")
    mine = client.get("/my")
    assert mine.status_code == 200 and "a@example.jp" in mine.text
    assert mine.text.count('class="pledge-card"') == 2
    assert "手ぬぐい" in mine.text and "特別工場見学" in mine.text and "応援" not in mine.text
    assert "¥3,300" in mine.text  # ¥2,500 + ¥800 shipping
    # The link is spent: a second tap (or someone who copied it) is refused.
    path = _links(db)[-1]
    again = client.post(path, data={"_csrf": CSRF_FIELD.search(client.get("/my").text).group(1)})  # type: ignore[union-attr]
    assert again.status_code == 404 and "このリンクは使えません" in again.text
    assert client.get(path).status_code == 404
    # Signing out ends the session.
    assert _post(client, "/my/signout").status_code == 303
    assert 'id="signin-form"' in client.get("/my").text


def test_known_and_unknown_addresses_get_the_same_answer(
        world: World, client: TestClient[Litestar]) -> None:
    known = _post(client, "/my/signin", email="a@example.jp")
    unknown = _post(client, "/my/signin", email="nobody@example.jp")
    strip = re.compile(r'value="[^"]*"')
    assert known.status_code == unknown.status_code == 200
    assert strip.sub("", known.text) == strip.sub("", unknown.text)
    assert len(_links(world.db)) == 1  # only the known one gets mail
    bad = _post(client, "/my/signin", email="not an address")
    assert bad.status_code == 422 and "メールアドレスとして読み取れません" in bad.text


def test_expired_altered_and_unknown_links_are_refused_alike(world: World) -> None:
    db = world.db
    now = clock.now()
    signin.request_link(db, "a@example.jp", client="t", now=now)
    with db.read() as session:
        stored = session.execute(select(SignInLink.token_hash)).scalar_one()
    token = _links(db)[-1].rsplit("/", 1)[1]
    assert stored != token and len(stored) == 64  # only a hash is kept
    for attempt, at in ((token + "x", now), (token[:-1], now), ("x" * 43, now),
                        (token, now + signin.LINK_LIFETIME + timedelta(seconds=1))):
        with pytest.raises(Refusal) as refused:
            signin.use_link(db, attempt, now=at)
        assert refused.value.code == "signin.link_invalid"
    opened = signin.use_link(db, token, now=now + timedelta(minutes=1))
    assert opened.email == "a@example.jp"
    assert signin.signed_in(db, opened.token, now=now + timedelta(minutes=2)) is not None
    assert signin.signed_in(db, opened.token, now=now + signin.SESSION_LIFETIME
                            + timedelta(minutes=2)) is None


def test_parallel_requests_cannot_beat_the_limit_per_address(world: World) -> None:
    db = world.db
    now = clock.now()
    answers: list[str] = []
    start = threading.Barrier(12)

    def ask(n: int) -> None:
        start.wait()
        try:
            signin.request_link(db, "a@example.jp", client=f"c{n}", now=now)
            answers.append("sent")
        except Refusal as refusal:
            answers.append(refusal.code)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == ["sent"] * signin.PER_ADDRESS + ["signin.too_many"] * 7
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(SignInLink)).scalar_one() == 5
    # The next hour's window opens again.
    signin.request_link(db, "a@example.jp", client="c0", now=now + timedelta(hours=1))


def test_answers_corrected_until_fulfilment_is_locked(
        world: World, client: TestClient[Litestar]) -> None:
    db = world.db
    goods_id = _pledge_id(db, world.goods)
    _sign_in(client, db)
    path = f"/my/pledges/{goods_id}/answers"
    form = {f"ship_{k}": v for k, v in SHIPPING.items()}
    wrong = _post(client, path, **{**form, "ship_prefecture": "北海道"})
    assert wrong.status_code == 422 and "富山県" in wrong.text
    assert _shipping(db, goods_id)["prefecture"] == "富山県"
    moved = {**form, "ship_postal_code": "100-0001", "ship_prefecture": "東京都",
             "ship_address": "千代田区千代田1-1"}
    saved = _post(client, path, **moved)
    assert saved.status_code == 200 and "保存しました" in saved.text
    assert _shipping(db, goods_id)["postal_code"] == "1000001"
    lock_fulfilment(db, world.campaign_id)
    late = _post(client, path, **form)
    assert late.status_code == 409 and "リターンの準備が" in late.text
    assert _shipping(db, goods_id)["prefecture"] == "東京都"
    assert "answers-form" not in client.get("/my").text


def test_cancel_an_unpaid_pledge_and_only_ones_own(
        world: World, client: TestClient[Litestar]) -> None:
    db = world.db
    tour = _pledge_id(db, world.limited)
    others = _pledge_id(db, world.free)
    assert client.post(f"/my/pledges/{tour}/cancel", data={}).status_code in (401, 403)
    _sign_in(client, db)
    theirs = _post(client, f"/my/pledges/{others}/cancel", key="k1")
    assert theirs.status_code == 404 and state_of(db, others) == "reserved"
    before = claimed(db, world.limited)
    for _ in range(2):  # a double tap cancels once and lands on the page both times
        done = _post(client, f"/my/pledges/{tour}/cancel", key=f"{tour}-k")
        assert done.status_code == 303
    assert state_of(db, tour) == "cancelled" and claimed(db, world.limited) == before - 1


def test_signed_out_changes_are_refused(world: World, client: TestClient[Litestar]) -> None:
    goods_id = _pledge_id(world.db, world.goods)
    refused = _post(client, f"/my/pledges/{goods_id}/answers", ship_postal_code="1000001")
    assert refused.status_code == 401 and "ログインしてください" in refused.text


def _pledge_id(db: Database, reward_id: int) -> int:
    with db.read() as session:
        return int(session.execute(select(Pledge.id).where(Pledge.reward_id == reward_id))
                   .scalar_one())


def _shipping(db: Database, pledge_id: int) -> dict[str, str]:
    with db.read() as session:
        pledge_row = session.get(Pledge, pledge_id)
        assert pledge_row is not None
        return dict(pledge_row.answers["shipping"])


def test_a_paid_pledge_has_a_receipt(world: World, client: TestClient[Litestar]) -> None:
    db = world.db
    goods_id = _pledge_id(db, world.goods)
    tour = _pledge_id(db, world.limited)
    mark_paid(db, goods_id, source="bank", amount=3300, actor="staff:1")
    assert client.get(f"/my/pledges/{goods_id}/receipt.pdf").status_code == 401
    _sign_in(client, db)
    assert f"/my/pledges/{goods_id}/receipt.pdf" in client.get("/my").text
    pdf = client.get(f"/my/pledges/{goods_id}/receipt.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    doc = pdfium.PdfDocument(pdf.content)
    assert len(doc) == 1
    words = doc[0].get_textpage().get_text_range()
    for expected in ("領", "佐藤花子 様", "¥3,300", "手ぬぐい", "ひつじ団 2026", "銀行振込",
                     f"P-{goods_id:06d}", "送料 ¥800"):
        assert expected in words, (expected, words)
    unpaid = client.get(f"/my/pledges/{tour}/receipt.pdf")
    assert unpaid.status_code == 409 and "入金済み" in unpaid.text
    others = _pledge_id(db, world.free)
    assert client.get(f"/my/pledges/{others}/receipt.pdf").status_code == 404
