"""The campaign report on both databases: the figures from the pledges, payments and
refunds (and they agree with the ledger's pledges held), supporters new and returning,
by return and by prefecture, the returns delivered; the page, CSV, XLSX and one-page PDF."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import openpyxl
import pypdfium2 as pdfium
import pytest
from cf_world import T0, World, balances, build_world, pledge
from litestar import Litestar
from litestar.testing import TestClient

from apps import client_for
from oflocal.auth.service import create_staff_user, login_staff, open_session
from oflocal.crowdfunding.payments import mark_paid
from oflocal.db.engine import Database
from oflocal.settings import Jobs, Settings
from oflocal.supporters.report import campaign_report
from oflocal.web.security import SESSION_COOKIE


@pytest.fixture
def world(db: Database) -> World:
    """Goods to a@ (富山県, paid day 1), thanks to b@ (paid day 2), a tour unpaid;
    the stock of a limited return gone, so c@'s late payment is refunded."""
    w = build_world(db, limit=1)
    first = pledge(w, w.goods).body
    mark_paid(db, first["pledge_id"], source="bank", amount=3300, actor="staff:1", now=T0)
    second = pledge(w, w.free, email="b@example.jp", amount=4000).body
    mark_paid(db, second["pledge_id"], source="bank", amount=4000, actor="staff:1",
              now=T0 + timedelta(days=1))
    late = pledge(w, w.limited, email="c@example.jp").body
    pledge(w, w.limited, email="d@example.jp", now=T0 + timedelta(days=8))  # takes it back
    mark_paid(db, late["pledge_id"], source="bank", amount=5000, actor="staff:1",
              now=T0 + timedelta(days=8))
    return w


def test_the_figures_add_up_and_agree_with_the_ledger(world: World) -> None:
    r = campaign_report(world.db, world.campaign_id)
    assert (r.paid, r.fees, r.supporters, r.returning) == (3300 + 4000 + 5000, 0, 2, 0)
    assert [v for _, v in r.by_day] == [3300, 4000, 5000]
    assert dict((t, (n, v)) for t, n, v in r.by_return) == {"応援": (1, 4000),
                                                           "手ぬぐい": (1, 3300)}
    assert dict(r.by_prefecture) == {"富山県": 1, "（住所なし）": 1}
    assert dict((k, (d, o)) for k, d, o in r.delivery) == {
        "sns_thanks": (0, 1), "goods": (0, 1), "voucher_booklets": (0, 1)}
    held = -balances(world.db, world.event_id)["pledges_held"]
    assert r.paid - r.refunded == held  # the late payment is held until its refund is sent


@pytest.fixture
def client(db: Database, secret: bytes, tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    # No workers here: the world's campaign ended months ago by the real clock, and the
    # sweep would decide it (and refund everyone) under the test's feet.
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret,
                        jobs=Jobs(in_process=False))
    create_staff_user(db, username="t", display_name="会計", role="treasurer",
                      password="treasurer password 1")
    token, _ = open_session(db, login_staff(db, "t", "treasurer password 1"), hours=1)
    with client_for(settings, db) as test_client:
        test_client.cookies.set(SESSION_COOKIE, token)
        yield test_client


def test_the_page_and_its_files(world: World, client: TestClient[Litestar]) -> None:
    cid = world.campaign_id
    page = client.get(f"/admin/campaigns/{cid}/report")
    assert page.status_code == 200 and "¥12,300" in page.text and "<svg" in page.text
    rows = list(csv.reader(io.StringIO(
        client.get(f"/admin/campaigns/{cid}/report/csv").content.decode("utf-8-sig"))))
    assert ["money", "paid", "12300", ""] in rows
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/admin/campaigns/{cid}/report/xlsx")
                                             .content))
    assert ["money", "net", 12300, ""] in [list(r) for r in book.active.iter_rows(
        values_only=True)]
    pdf = pdfium.PdfDocument(client.get(f"/admin/campaigns/{cid}/report/pdf").content)
    words = pdf[0].get_textpage().get_text_range()
    assert len(pdf) == 1 and "¥12,300" in words and "支援者 2名" in words and "富山県 1" in words
    assert client.get(f"/admin/campaigns/{cid}/report/doc").status_code == 422
