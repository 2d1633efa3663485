"""A supporter whose bank-transfer money is going back gives the account through the
secret link in the refund's e-mail (both databases, Litestar's test client): the link
comes by mail, a wrong account is explained and changes nothing, a form without its
CSRF token is refused, an unknown link is a 404, and once the money is on its way the
account can no longer be changed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cf_world import T0, World, build_world, pledge
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from apps import client_for
from oflocal.crowdfunding.models import Refund
from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.refunds import mark_refund_sent
from oflocal.db.engine import Database
from oflocal.outbox.models import MailMessage
from oflocal.settings import Settings

CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')
GOOD = {"bank_code": "0005", "branch_code": "001", "account_type": "1",
        "account_number": "1234567", "holder_kana": "ヤマダ タロウ"}


@pytest.fixture
def world(db: Database) -> World:
    """A bank-transfer pledge paid after its stock went to someone else: refund due."""
    w = build_world(db, limit=1, per_supporter=None)
    first = pledge(w, w.limited).body["pledge_id"]
    late = T0 + timedelta(days=8)
    pledge(w, w.limited, email="b@example.jp", now=late)  # takes the stock back
    out = mark_paid(db, first, source="bank", amount=5000, actor="staff:1", now=late).body
    assert out["refund_reason"] == "sold_out"
    return w


@pytest.fixture
def client(db: Database, secret: bytes, tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as test_client:
        yield test_client


def _link(db: Database) -> tuple[str, int]:
    """The path of the link in the refund's e-mail, and the refund's id."""
    with db.read() as session:
        body = session.execute(select(MailMessage.text_body)
                               .where(MailMessage.kind == "refund_requested")).scalar_one()
        refund_id = session.execute(select(Refund.id)).scalar_one()
    found = re.search(r"https?://[^/\s]+(/refund-account/[A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1), refund_id


def _account(db: Database) -> tuple[object, ...]:
    with db.read() as session:
        refund = session.execute(select(Refund)).scalar_one()
        return (refund.bank_code, refund.branch_code, refund.account_type,
                refund.account_number, refund.account_holder_kana)


def _post(client: TestClient[Litestar], path: str, **values: str):  # type: ignore[no-untyped-def]
    token = CSRF_FIELD.search(client.get(path).text)
    assert token
    return client.post(path, data={"_csrf": token.group(1), **values})


def test_the_supporter_gives_the_account_through_the_link(
        world: World, client: TestClient[Litestar]) -> None:
    db = world.db
    path, _ = _link(db)
    page = client.get(path)
    assert page.status_code == 200 and "¥5,000" in page.text and "P-0000" in page.text
    wrong = _post(client, path, **{**GOOD, "bank_code": "9999"})
    assert wrong.status_code == 422 and "返金先の口座を確認してください" in wrong.text
    assert _account(db) == (None, None, None, None, None)
    kana = _post(client, path, **{**GOOD, "holder_kana": "山田太郎"})
    assert kana.status_code == 422 and "カタカナ" in kana.text
    saved = _post(client, path, **GOOD)
    assert saved.status_code == 200 and 'id="saved"' in saved.text
    assert "0005-001 ****567" in saved.text
    assert _account(db) == ("0005", "001", 1, "1234567", "ヤマダ タロウ")


def test_no_csrf_no_change_and_an_unknown_link_is_a_404(
        world: World, client: TestClient[Litestar]) -> None:
    path, _ = _link(world.db)
    assert client.post(path, data=GOOD).status_code == 403
    assert _account(world.db) == (None, None, None, None, None)
    assert client.get("/refund-account/" + "x" * 43).status_code == 404
    assert client.get("/refund-account/short").status_code == 404


def test_once_sent_the_account_is_closed(world: World, client: TestClient[Litestar]) -> None:
    db = world.db
    path, refund_id = _link(db)
    assert _post(client, path, **GOOD).status_code == 200
    mark_refund_sent(db, refund_id, actor="staff:1")
    page = client.get(path)
    assert 'id="closed"' in page.text and "refund-account-form" not in page.text
    token = CSRF_FIELD.search(client.get("/login").text)
    assert token
    late = client.post(path, data={"_csrf": token.group(1), **GOOD, "account_number": "7654321"})
    assert late.status_code == 409
    assert _account(db)[3] == "1234567"
