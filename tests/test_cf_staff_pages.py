"""The committee's and treasurer's crowdfunding pages, through a browser session on both
databases: every change goes through the crowdfunding domain, money moves after a
confirmation, a form sent twice changes things once, and every refusal shows words a
treasurer understands and changes nothing."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from apps import client_for
from cf_staff_world import build, snapshot
from oflocal.audit import verify
from oflocal.auth.service import create_staff_user, login_staff, open_session
from oflocal.crowdfunding.models import Campaign, Payment, Pledge, Refund
from oflocal.crowdfunding.payments import mark_paid
from oflocal.db.engine import Database
from oflocal.settings import Settings
from oflocal.web.security import SESSION_COOKIE


class Staff:
    def __init__(self, client: TestClient[Litestar], csrf: str) -> None:
        self.client, self.csrf = client, csrf

    def post(self, path: str, form: dict[str, str], status: int = 200) -> str:
        answer = self.client.post(path, data={**form, "_csrf": self.csrf})
        assert answer.status_code == status, answer.text[:2000]
        return answer.text


@pytest.fixture
def staff(db: Database, secret: bytes, tmp_path: Path) -> Iterator[Staff]:
    create_staff_user(db, username="boss", display_name="事務局", role="admin",
                      password="boss password 1")
    token, csrf = open_session(db, login_staff(db, "boss", "boss password 1"), hours=1)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        client.cookies.set(SESSION_COOKIE, token)
        client.cookies.set("lang", "ja")
        yield Staff(client, csrf)


def _audit(db: Database) -> None:
    with db.read() as session:
        report = verify(session)
    assert report.ok, report.failures


def _key(page: str) -> str:
    found = re.search(r'name="key" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_editor_names_what_is_missing_previews_and_goes_live(staff: Staff, db: Database) -> None:
    w = build(db, live=False, legal=False)
    page = staff.client.get(f"/admin/campaigns/{w.campaign_id}").text
    assert "運営責任者" in page and "キャンセル・返品について" in page  # named, in Japanese
    before = snapshot(db)
    refused = staff.post(f"/admin/campaigns/{w.campaign_id}/go-live", {"confirm": "yes"}, 409)
    assert "特定商取引法に基づく表記に足りない項目があるため、公開できません" in refused
    assert "person responsible" in refused and snapshot(db) == before

    form = {"title": "ひつじ団 2026", "slug": "hitsuji", "goal": "10000",
            "starts_at": "2026-01-01T10:00", "ends_at": "2099-01-01T10:00",
            "funding_model": "all_or_nothing", "payment_days": "7", "method_bank_transfer": "yes",
            "story": "## 使いみち\n\n<script>alert(1)</script> **地図**", "seller": "実行委員会",
            "representative": "山田太郎", "address": "高岡市", "phone": "0766-00-0000",
            "email": "", "price_note": "税込", "extra_charges": "なし", "payment_terms": "7日以内",
            "delivery_terms": "10月", "cancellation_terms": "入金前は取消可"}
    preview = staff.post(f"/admin/campaigns/{w.campaign_id}", {**form, "action": "preview"})
    assert "<h2>使いみち</h2>" in preview and "<strong>地図</strong>" in preview
    assert "<script>alert" not in preview and "&lt;script&gt;" in preview
    assert snapshot(db) == before  # a preview saves nothing

    bad = staff.post(f"/admin/campaigns/{w.campaign_id}", {**form, "goal": "たくさん",
                                                          "action": "save"}, 422)
    assert "入力内容に誤りがあります" in bad and snapshot(db) == before
    staff.post(f"/admin/campaigns/{w.campaign_id}", {**form, "action": "save"})
    ask = staff.post(f"/admin/campaigns/{w.campaign_id}/go-live", {})
    assert "confirm-go-live" in ask
    live = staff.post(f"/admin/campaigns/{w.campaign_id}/go-live", {"confirm": "yes"})
    assert "公開中" in live
    again = staff.post(f"/admin/campaigns/{w.campaign_id}/go-live", {"confirm": "yes"}, 409)
    assert "すでに公開されています" in again
    # Live: the goal cannot change; the form does not send it, the story can change.
    staff.post(f"/admin/campaigns/{w.campaign_id}", {**form, "goal": "1", "story": "新しい",
                                                    "action": "save"})
    with db.read() as session:
        c = session.get(Campaign, w.campaign_id)
        assert c is not None and (c.state, c.goal, c.story) == ("live", 10000, "新しい")


def test_returns_editor(staff: Staff, db: Database) -> None:
    w = build(db)
    w.pledge()
    form = {"title": "手ぬぐい", "price": "2500", "delivery_month": "2026-09",
            "shipping_fee": "800", "quantity_limit": "50", "item_goods": "yes",
            "goods_description": "手ぬぐい1枚", "item_voucher_booklets": "yes",
            "voucher_programme_id": str(w.programme_id), "voucher_count": "1"}
    added = staff.post(f"/admin/campaigns/{w.campaign_id}/rewards", form)
    assert "手ぬぐい1枚" in added
    before = snapshot(db)
    no_goods = staff.post(f"/admin/campaigns/{w.campaign_id}/rewards",
                          {**form, "item_goods": ""}, 422)
    assert "リターンの設定に誤りがあります" in no_goods and snapshot(db) == before
    # The tour has a pledge: its price is fixed, its limit can move but not below 1.
    tour = {"title": "特別工場見学", "price": "6000", "delivery_month": "2026-10",
            "quantity_limit": "5", "per_supporter_limit": "2", "item_tour_invite": "yes"}
    locked = staff.post(f"/admin/rewards/{w.limited}", tour, 409)
    assert "支援者が申し込んだ条件" in locked and snapshot(db) == before
    below = staff.post(f"/admin/rewards/{w.limited}", {**tour, "price": "5000",
                                                      "quantity_limit": "0"}, 422)
    assert snapshot(db) == before and "refusal" in below
    staff.post(f"/admin/rewards/{w.limited}", {**tour, "price": "5000", "quantity_limit": "3"})


def test_pledges_filters_export_and_mark_paid(staff: Staff, db: Database) -> None:
    w = build(db)
    first = w.pledge(email="a@example.jp")
    w.pledge(w.free, email="b@example.jp")
    cash = w.pledge(email="c@example.jp", method="cash")
    listing = staff.client.get(f"/admin/campaigns/{w.campaign_id}/pledges",
                               params={"method": "cash"}).text
    assert cash["reference"] in listing and first["reference"] not in listing
    found = staff.client.get(f"/admin/campaigns/{w.campaign_id}/pledges",
                             params={"q": "b@example"}).text
    assert "応援" in found and first["reference"] not in found
    bad = staff.client.get(f"/admin/campaigns/{w.campaign_id}/pledges", params={"state": "x"})
    assert bad.status_code == 422

    csv = staff.client.get(f"/admin/campaigns/{w.campaign_id}/export/csv",
                           params={"encoding": "shift_jis"})
    assert csv.status_code == 200 and "Shift_JIS" in csv.headers["content-type"]
    text = csv.content.decode("cp932")
    assert text.startswith("受付番号,") and text.count("\r\n") == 4 and "佐藤花子" in text
    xlsx = staff.client.get(f"/admin/campaigns/{w.campaign_id}/export/xlsx",
                            params={"state": "reserved", "reward": str(w.limited)})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.max_row == 3 and sheet["A1"].value == "受付番号"

    confirm = staff.post(f"/admin/pledges/{first['pledge_id']}/paid", {"source": "bank"})
    assert "振込" in confirm and "¥5,000" in confirm
    key = _key(confirm)
    before = snapshot(db)
    wrong = staff.post(f"/admin/pledges/{first['pledge_id']}/paid",
                       {"source": "bank", "confirm": "yes", "key": key, "amount": "4500",
                        "received_on": "2026-05-02"}, 409)
    assert "一致しません" in wrong and snapshot(db) == before
    form = {"source": "bank", "confirm": "yes", "key": key + "b", "amount": "5000",
            "received_on": "2026-05-02"}
    done = staff.post(f"/admin/pledges/{first['pledge_id']}/paid", form)
    assert "入金を記録しました" in done
    twice = staff.post(f"/admin/pledges/{first['pledge_id']}/paid", form)  # a double click
    assert "入金を記録しました" in twice
    other = staff.post(f"/admin/pledges/{first['pledge_id']}/paid",
                       {**form, "key": "another"}, 409)
    assert "すでに入金済み" in other
    with db.read() as session:
        assert session.execute(select(Payment.pledge_id)).scalars().all() == [first["pledge_id"]]
    _audit(db)


def test_outcome_confirmation_and_refund_steps(staff: Staff, db: Database) -> None:
    w = build(db, ended=True, goal=100_000)
    paid = [w.pledge(email=f"p{i}@example.jp") for i in range(2)]
    for body in paid:
        mark_paid(db, body["pledge_id"], source="bank", amount=5000, actor="t",
                  now=w.starts + (w.ends - w.starts) / 2)
    page = staff.client.get(f"/admin/campaigns/{w.campaign_id}/outcome").text
    assert 'id="outcome-failure"' in page and "<strong>2</strong>" in page
    key = _key(page)
    decided = staff.post(f"/admin/campaigns/{w.campaign_id}/outcome", {"key": key})
    assert "返金" in decided and 'id="decided"' in decided
    staff.post(f"/admin/campaigns/{w.campaign_id}/outcome", {"key": key})  # replayed
    with db.read() as session:
        refunds = session.execute(select(Refund.id).order_by(Refund.id)).scalars().all()
    assert len(refunds) == 2
    listing = staff.client.get(f"/admin/campaigns/{w.campaign_id}/refunds").text
    assert "返金待ち" in listing
    first = refunds[0]
    before = snapshot(db)
    wrong = staff.post(f"/admin/refunds/{first}/confirmed", {"key": "c0"}, 409)
    assert "この返金は現在「返金待ち」のため" in wrong and snapshot(db) == before
    blank = staff.post(f"/admin/refunds/{first}/by-hand", {"method": "cash", "note": " "}, 422)
    assert "入力内容に誤りがあります" in blank and snapshot(db) == before
    staff.post(f"/admin/refunds/{first}/sent", {"key": "s1"})
    staff.post(f"/admin/refunds/{first}/sent", {"key": "s1"})  # the same form again
    staff.post(f"/admin/refunds/{first}/failed", {"key": "f1", "reason": "口座なし"})
    staff.post(f"/admin/refunds/{first}/sent", {"key": "s2"})
    staff.post(f"/admin/refunds/{first}/confirmed", {"key": "c1"})
    staff.post(f"/admin/refunds/{refunds[1]}/by-hand",
               {"key": "h1", "method": "cash", "note": "受付で現金返金"})
    with db.read() as session:
        states = session.execute(select(Refund.state, Refund.attempts).order_by(Refund.id)).all()
        pledge_states = set(session.execute(select(Pledge.state)).scalars())
    assert [tuple(s) for s in states] == [("confirmed", 2), ("done_by_hand", 1)]
    assert pledge_states == {"refunded"}
    _audit(db)


def test_bank_statement_import(staff: Staff, db: Database) -> None:
    w = build(db)
    a = w.pledge(email="a@example.jp")
    b = w.pledge(email="b@example.jp")
    statement = ("日付,金額,振込依頼人\r\n"
                 f"2026-05-02,5000,{a['reference']} サトウ ハナコ\r\n"
                 f"2026/05/02,4560,{b['reference']} スズキ\r\n"
                 "2026-05-03,3000,ヤマダ タロウ\r\n").encode("cp932")
    before = snapshot(db)
    checked = staff.client.post(f"/admin/campaigns/{w.campaign_id}/bank-import",
                                data={"_csrf": staff.csrf},
                                files={"file": ("meisai.csv", statement, "text/csv")})
    assert checked.status_code == 200, checked.text
    assert "1 照合OK" not in checked.text and "金額が一致しません" in checked.text
    assert "受付番号が見つかりません" in checked.text and snapshot(db) == before
    rows = re.search(r'name="rows" value="([^"]+)"', checked.text)
    assert rows is not None
    import html

    form = {"rows": html.unescape(rows.group(1))}
    applied = staff.post(f"/admin/campaigns/{w.campaign_id}/bank-import/confirm", form)
    assert "記録しました: 1" in applied or "記録しました：1" in applied or ": 1<" in applied
    again = staff.post(f"/admin/campaigns/{w.campaign_id}/bank-import/confirm", form)
    assert "入金済みの支援です" in again
    with db.read() as session:
        assert session.execute(select(Payment.pledge_id)).scalars().all() == [a["pledge_id"]]
    broken = staff.client.post(f"/admin/campaigns/{w.campaign_id}/bank-import",
                               data={"_csrf": staff.csrf},
                               files={"file": ("x.csv", b"a,b\r\n1,2\r\n", "text/csv")})
    assert broken.status_code == 422 and "入力内容に誤りがあります" in broken.text
    _audit(db)


def test_treasurer_sees_but_does_not_edit(db: Database, secret: bytes, tmp_path: Path) -> None:
    w = build(db)
    create_staff_user(db, username="kaikei", display_name="会計", role="treasurer",
                      password="kaikei password 1")
    token, csrf = open_session(db, login_staff(db, "kaikei", "kaikei password 1"), hours=1)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        client.cookies.set(SESSION_COOKIE, token)
        page = client.get(f"/admin/campaigns/{w.campaign_id}")
        assert page.status_code == 200 and 'id="save-campaign"' not in page.text
        assert client.post(f"/admin/campaigns/{w.campaign_id}",
                           data={"_csrf": csrf, "title": "x"}).status_code == 403
        assert client.get(f"/admin/crowdfunding?event={w.event_id}").status_code == 200


def test_demo_campaign_has_a_pledge_in_each_state(db: Database, signer: object) -> None:
    """What `make run` shows: through the domain, the ledger verifies."""
    from oflocal.demo import add_campaign, build_event, describe_demo_committee
    from oflocal.vouchers.codes import CodeSigner

    assert isinstance(signer, CodeSigner)
    with db.write() as session:
        scenario = build_event(session, signer, workshops=1, booklets=0)
        describe_demo_committee(session, scenario.event_id)  # as `oflocal demo` does
    campaign_id = add_campaign(db, scenario)
    with db.read() as session:
        states = set(session.execute(select(Pledge.state).where(
            Pledge.campaign_id == campaign_id)).scalars())
        methods = set(session.execute(select(Payment.source)).scalars())
        refund_states = set(session.execute(select(Refund.state)).scalars())
        from oflocal.crowdfunding.staff import rewards_of

        left = {r.reward.title: r.left for r in rewards_of(session, campaign_id)}
    assert states == {"reserved", "paid", "expired", "refund_due"}
    assert methods == {"bank", "cash"} and refund_states == {"requested"}
    assert left["特別工場見学ツアー"] == 2 and left["工場長と朝ごはん"] == 0
    _audit(db)
