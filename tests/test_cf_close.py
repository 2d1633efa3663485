"""Closing a decided campaign (decided → closed once every refund has gone out) from the
staff page, the API and the CLI, on both databases: refused, with the count, while a
refund is outstanding; a confirmed close sent twice closes once. The CLI also adds a
picture (its path to crowdfunding/images.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from PIL import Image
from sqlalchemy import select

from apps import client_for
from cf_staff_world import LEGAL, build
from oflocal.auth.service import create_staff_user, issue_api_token, login_staff, open_session
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.models import Campaign, Refund
from oflocal.crowdfunding.outcome import decide_outcome
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.refunds import mark_refund_sent
from oflocal.db.engine import Database
from oflocal.settings import Settings
from oflocal.web.security import SESSION_COOKIE


@pytest.fixture
def client(db: Database, secret: bytes, tmp_path: Path) -> Iterator[tuple[TestClient[Litestar],
                                                                          str, str]]:
    treasurer = create_staff_user(db, username="kaikei", display_name="会計", role="treasurer",
                                  password="kaikei password 1")
    session_token, csrf = open_session(db, login_staff(db, "kaikei", "kaikei password 1"),
                                       hours=1)
    token = issue_api_token(db, name="t", staff_user_id=treasurer)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as test_client:
        test_client.cookies.set(SESSION_COOKIE, session_token)
        test_client.cookies.set("lang", "ja")
        yield test_client, csrf, token


def _state(db: Database, campaign_id: int) -> str:
    with db.read() as session:
        return str(session.execute(select(Campaign.state).where(Campaign.id == campaign_id)
                                   ).scalar_one())


def test_close_from_page_api_and_cli(client: tuple[TestClient[Litestar], str, str],
                                     db: Database, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    http, csrf, token = client
    api = {"Authorization": f"Bearer {token}"}
    w = build(db, ended=True, goal=1_000_000, slug="close")
    body = w.pledge()
    mark_paid(db, body["pledge_id"], source="bank", amount=body["total"], actor="t",
              now=w.starts + timedelta(days=1))

    # The CLI adds a picture while the campaign is undecided.
    photo = tmp_path / "kiln.jpg"
    Image.new("RGB", (40, 30), "brown").save(photo, "JPEG")
    added = run_cli("campaign", "image", "add", "hitsuji", str(photo), "--event", "close",
                    "--alt", "窯")
    assert added.exit_code == 0 and "image:1" in added.output, added.output
    assert "窯" in run_cli("campaign", "image", "list", "hitsuji", "--event", "close").output

    decide_outcome(db, w.campaign_id, actor="t")  # failed: one refund requested
    locked = run_cli("campaign", "image", "add", "hitsuji", str(photo), "--event", "close",
                     "--alt", "窯")
    assert locked.exit_code == 2 and "image.locked" in locked.output
    refused = run_cli("campaign", "close", "hitsuji", "--event", "close")
    assert refused.exit_code == 2 and "campaign.refunds_open" in refused.output
    page = http.get(f"/admin/campaigns/{w.campaign_id}").text
    assert 'id="cannot-close"' in page and "返金が1件" in page and "close-button" not in page
    answer = http.post(f"/api/v1/campaigns/{w.campaign_id}/close", headers=api)
    assert (answer.status_code, answer.json()["code"]) == (409, "campaign.refunds_open")
    assert _state(db, w.campaign_id) == "failed"

    with db.read() as session:
        refund_id = session.execute(select(Refund.id)).scalar_one()
    mark_refund_sent(db, refund_id, actor="t")
    page = http.get(f"/admin/campaigns/{w.campaign_id}").text
    assert 'id="close-button"' in page
    ask = http.post(f"/admin/campaigns/{w.campaign_id}/close", data={"_csrf": csrf}).text
    key = re.search(r'name="key" value="([^"]+)"', ask)
    assert key is not None and 'id="confirm-close"' in ask and _state(db, w.campaign_id) == "failed"
    form = {"_csrf": csrf, "confirm": "yes", "key": key.group(1)}
    for _ in range(2):  # a double click: closed once, the same answer twice
        done = http.post(f"/admin/campaigns/{w.campaign_id}/close", data=form)
        assert done.status_code == 200 and "終了処理をしました" in done.text
    assert _state(db, w.campaign_id) == "closed"
    again = http.post(f"/api/v1/campaigns/{w.campaign_id}/close", headers=api)
    assert (again.status_code, again.json()["code"]) == (409, "campaign.already_closed")

    # Another campaign of the event ended with no pledge: failed, nothing to refund, and
    # the CLI closes it.
    other = create_campaign(db, event_id=w.event_id, slug="quiet", title="静か", goal=10_000,
                            starts_at=w.starts, ends_at=w.ends, now=w.starts, **LEGAL)
    add_reward(db, other.id, title="お礼", price=1000, delivery_month="2026-10",
               items=[{"kind": "sns_thanks"}])
    go_live(db, other.id, now=w.starts)
    decide_outcome(db, other.id, actor="t")
    closed = run_cli("campaign", "close", "quiet", "--event", "close")
    assert closed.exit_code == 0 and "closed" in closed.output, closed.output
    assert _state(db, other.id) == "closed"
