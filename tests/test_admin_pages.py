"""The admin console's staff and token page, through a browser session on both
databases: every change goes through the auth services, secrets are shown once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update

from apps import client_for
from oflocal.auth.accounts import staff_accounts
from oflocal.auth.service import (
    actor_from_token,
    create_staff_user,
    list_api_tokens,
    login_staff,
    login_workshop,
    open_session,
)
from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.events.models import Event, Workshop
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.models import Programme
from oflocal.web.security import SESSION_COOKIE

SECRET = re.compile(r'<p class="secret">([^<]+)</p>')


class Admin:
    def __init__(self, client: TestClient[Litestar], csrf: str) -> None:
        self.client, self.csrf = client, csrf

    def post(self, path: str, form: dict[str, str]) -> str:
        answer = self.client.post(path, data={**form, "_csrf": self.csrf})
        assert answer.status_code == 200, answer.text
        return answer.text


@pytest.fixture
def admin(db: Database, signer: CodeSigner, secret: bytes,
          tmp_path: Path) -> Iterator[Admin]:
    with db.write() as session:
        build_event(session, signer, slug="adm", workshops=2, booklets=0)
    boss = create_staff_user(db, username="boss", display_name="事務局", role="admin",
                             password="boss password 1")
    actor = login_staff(db, "boss", "boss password 1")
    assert actor.id == boss
    token, csrf = open_session(db, actor, hours=1)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        client.cookies.set(SESSION_COOKIE, token)
        yield Admin(client, csrf)


def test_staff_logins_from_the_admin_page(admin: Admin, db: Database) -> None:
    page = admin.client.get("/admin/staff")
    assert page.status_code == 200 and "スタッフのログイン" in page.text
    made = admin.post("/admin/staff", {"username": "uketsuke", "display_name": "受付",
                                       "role": "desk"})
    shown = SECRET.search(made)
    assert shown is not None and "uketsuke の一時パスワード" in made
    actor = login_staff(db, "uketsuke", shown.group(1))
    assert (actor.role, actor.must_change_password) == ("desk", True)
    assert shown.group(1) not in admin.client.get("/admin/staff").text  # shown once

    taken = admin.client.post("/admin/staff", data={"_csrf": admin.csrf, "username": "uketsuke",
                                                    "role": "desk"})
    assert taken.status_code == 409 and "refusal" in taken.text

    again = SECRET.search(admin.post("/admin/staff/reset", {"username": "uketsuke"}))
    assert again is not None and again.group(1) != shown.group(1)
    off = admin.post("/admin/staff/active", {"username": "uketsuke", "active": "no"})
    assert "uketsuke はログインできなくなりました。" in off and "停止中" in off
    states = {a.username: a.active for a in staff_accounts(db)}
    assert states == {"boss": True, "uketsuke": False}
    admin.post("/admin/staff/active", {"username": "uketsuke", "active": "yes"})
    assert login_staff(db, "uketsuke", again.group(1)).role == "desk"


def test_api_tokens_from_the_admin_page(admin: Admin, db: Database) -> None:
    users = {a.username: a.id for a in staff_accounts(db)}
    made = admin.post("/admin/tokens", {"name": "scanner", "holder": f"staff:{users['boss']}"})
    token = SECRET.search(made)
    assert token is not None and token.group(1).startswith("ofl_")
    assert actor_from_token(db, token.group(1)) is not None
    (listed,) = list_api_tokens(db)
    assert listed.name == "scanner" and token.group(1) not in admin.client.get(
        "/admin/staff").text
    admin.post("/admin/tokens/revoke", {"token_id": str(listed.id)})
    assert actor_from_token(db, token.group(1)) is None
    bad = admin.client.post("/admin/tokens", data={"_csrf": admin.csrf, "name": "x",
                                                   "holder": "nobody"})
    assert bad.status_code == 422 and len(list_api_tokens(db)) == 1


def test_an_event_is_created_and_edited_from_the_admin_page(admin: Admin, db: Database) -> None:
    form = {"slug": "takaoka-2027", "name": "高岡クラフト市場", "starts_on": "2027-10-09",
            "ends_on": "2027-10-11", "venue": "御旅屋セリオ", "committee_name": "高岡実行委員会",
            "representative": "山田花子", "committee_address": "富山県高岡市", "committee_phone":
            "0766-00-1111", "committee_email": "jimu@example.jp", "invoice_number": ""}
    empty = admin.client.get("/admin/events")
    assert empty.status_code == 200 and 'id="new-event"' in empty.text
    wrong = admin.client.post("/admin/events", data={**form, "ends_on": "2027-10-01",
                                                     "_csrf": admin.csrf})
    assert wrong.status_code == 422 and 'value="御旅屋セリオ"' in wrong.text  # kept as typed
    made = admin.client.post("/admin/events", data={**form, "_csrf": admin.csrf},
                             follow_redirects=False)
    assert made.status_code == 303, made.text
    page = admin.client.get(made.headers["location"])
    assert "イベントを作成しました。" in page.text and "takaoka-2027" in page.text
    event_url = made.headers["location"].split("?")[0]
    slipped = admin.client.post(event_url, data={**form, "venue": "高岡駅前", "invoice_number":
                                                 "t1180301018772", "_csrf": admin.csrf})
    assert slipped.status_code == 422 and "チェックディジット" in slipped.text  # refused
    assert 'value="t1180301018772"' in slipped.text  # kept as typed, to correct
    assert 'name="confirm_invoice_number"' in slipped.text  # or to confirm (DOMAIN-JAPAN)
    with db.read() as session:
        event = session.execute(select(Event).where(Event.slug == "takaoka-2027")).scalar_one()
        assert (event.venue, event.invoice_number) == ("御旅屋セリオ", None)
    saved = admin.post(event_url, {**form, "venue": "高岡駅前", "invoice_number":
                                   "t1180301018771"})
    assert "保存しました。" in saved and "チェックディジット" not in saved
    with db.read() as session:
        event = session.execute(select(Event).where(Event.slug == "takaoka-2027")).scalar_one()
        assert (event.venue, event.invoice_number, event.representative) == (
            "高岡駅前", "T1180301018771", "山田花子")
    # A number stored before the check (rows are left as they are): flagged on the page,
    # and the event stays editable as long as the number is not changed.
    with db.write() as session:
        session.execute(update(Event).where(Event.slug == "takaoka-2027")
                        .values(invoice_number="T1000000000000"))
    flagged = admin.client.get(event_url)
    assert flagged.status_code == 200 and "チェックディジット" in flagged.text
    kept = admin.post(event_url, {**form, "venue": "高岡駅", "invoice_number": "T1000000000000"})
    assert "保存しました。" in kept and "チェックディジット" in kept
    with db.read() as session:
        event = session.execute(select(Event).where(Event.slug == "takaoka-2027")).scalar_one()
        assert (event.venue, event.invoice_number) == ("高岡駅", "T1000000000000")
    taken = admin.client.post("/admin/events", data={**form, "_csrf": admin.csrf})
    assert taken.status_code == 409
    half = admin.client.post(event_url, data={"_csrf": admin.csrf, "name": "x"})  # no dates
    assert half.status_code == 422 and 'id="edit-event"' in half.text


def test_next_years_event_does_not_move_the_booths_or_the_treasurer(admin: Admin,
                                                                     db: Database) -> None:
    """Setting up next year's event must leave this year's the one pages pick."""
    from datetime import date

    from oflocal.events import changes

    changes.new_event(db, slug="next-year", name="来年", committee_name="委員会",
                      starts_on=date(2099, 10, 1), ends_on=date(2099, 10, 3))
    login = admin.client.get("/booth/login")
    assert re.search(r'<option value="adm"\s+selected>', login.text), login.text
    with db.read() as session:
        this_year = session.execute(select(Event.id).where(Event.slug == "adm")).scalar_one()
    chosen = re.search(r'<option value="(\d+)"\s+selected>', admin.client.get("/treasurer").text)
    assert chosen is not None and chosen.group(1) == str(this_year)


def test_workshops_from_the_admin_page(admin: Admin, db: Database) -> None:
    with db.read() as session:
        event_id = session.execute(select(Event.id).where(Event.slug == "adm")).scalar_one()
    listing = admin.client.get(f"/admin/events/{event_id}/workshops", params={"q": "W01"})
    assert listing.status_code == 200 and "W01" in listing.text and "W02" not in listing.text
    form = {"code": "h10", "name": "山田木工", "name_kana": "ヤマダモッコウ", "craft": "木工",
            "participating": "yes", "bank_code": "0001", "branch_code": "001",
            "account_type": "1", "account_number": "1234567",
            "account_holder_kana": "ヤマダモッコウ"}
    half_bank = admin.client.post(f"/admin/events/{event_id}/workshops",
                                  data={**form, "branch_code": "", "_csrf": admin.csrf})
    assert half_bank.status_code == 422 and 'value="山田木工"' in half_bank.text
    made = admin.client.post(f"/admin/events/{event_id}/workshops",
                             data={**form, "_csrf": admin.csrf}, follow_redirects=False)
    assert made.status_code == 303, made.text
    url = made.headers["location"].split("?")[0]
    with db.read() as session:
        added = session.execute(select(Workshop).where(Workshop.code == "H10")).scalar_one()
        assert (added.account_number, added.pin_hash) == ("1234567", None)
    cleared = {"bank_code": "", "branch_code": "", "account_number": "",
               "account_holder_kana": ""}
    slipped = admin.client.post(url, data={**form, **cleared, "participating": "",
                                           "invoice_number": "T1180301018772",
                                           "_csrf": admin.csrf})
    assert slipped.status_code == 422 and "チェックディジット" in slipped.text
    with db.read() as session:
        unchanged = session.get(Workshop, added.id)
        assert unchanged is not None and unchanged.invoice_number is None
        assert unchanged.participating is True
    saved = admin.post(url, {**form, **cleared, "participating": "",
                             "invoice_number": "T1180301018771"})
    assert "保存しました。" in saved and "チェックディジット" not in saved
    # A sole proprietor's number that fails the check: stored once confirmed, flagged.
    assert 'name="confirm_invoice_number"' in slipped.text
    confirmed = admin.post(url, {**form, **cleared, "participating": "",
                                 "invoice_number": "T1180301018772",
                                 "confirm_invoice_number": "yes"})
    assert "保存しました。" in confirmed and "チェックディジット" in confirmed
    with db.read() as session:
        stored = session.get(Workshop, added.id)
        assert stored is not None and stored.invoice_number == "T1180301018772"
    saved = admin.post(url, {**form, **cleared, "participating": "",  # still editable
                             "invoice_number": "T1180301018772"})
    assert "保存しました。" in saved and "チェックディジット" in saved
    with db.read() as session:
        changed = session.get(Workshop, added.id)
        assert changed is not None
        assert (changed.participating, changed.account_number) == (False, None)
    pin = re.search(r'<p class="secret">(\d{4})</p>', admin.post(f"{url}/pin", {}))
    assert pin is not None
    assert login_workshop(db, event_slug="adm", workshop_code="H10", pin=pin.group(1)).id \
        == added.id


def test_banks_and_branches_are_found_by_name(admin: Admin) -> None:
    found = admin.client.get("/admin/banks", params={"q": "高岡"}).json()
    assert {"bank_code": "0144", "bank_name": "北陸", "branch_code": "201",
            "branch_name": "高岡"} in found
    assert found[0]["branch_code"] == ""  # banks first (高岡信金), then branches
    assert admin.client.get("/admin/banks", params={"q": ""}).json() == []
    assert admin.client.get("/admin/banks", params={"q": "ﾎｸﾘｸ"}).json()[0]["bank_code"] == "0144"


def test_the_workshop_list_is_imported_from_the_page(admin: Admin, db: Database) -> None:
    from oflocal.events.workshop_import import read_rows
    from test_workshop_import import row, xlsx

    with db.read() as session:
        event_id = session.execute(select(Event.id).where(Event.slug == "adm")).scalar_one()
        before = len(session.execute(select(Workshop.id)).all())
    url = f"/admin/events/{event_id}/workshops/import"
    spreadsheet = "application/octet-stream"
    bad = admin.client.post(url, data={"_csrf": admin.csrf}, files={
        "file": ("firms.xlsx", xlsx([row(1), row(2, フリガナ="山田")]), spreadsheet)})
    assert bad.status_code == 422 and "何も保存していません" in bad.text and "行 3" in bad.text
    good = admin.client.post(url, data={"_csrf": admin.csrf}, files={
        "file": ("firms.xlsx", xlsx([row(n) for n in range(1, 58)]), spreadsheet)})
    assert good.status_code == 200 and "追加 57 件、更新 0 件。" in good.text
    with db.read() as session:
        assert len(session.execute(select(Workshop.id)).all()) == before  # not yet
    rows = re.search(r'<textarea name="rows" hidden>([^<]*)</textarea>', good.text)
    assert rows is not None
    import html

    saved = admin.post(f"{url}/confirm", {"rows": html.unescape(rows.group(1))})
    assert "取り込みました：追加 57 件、更新 0 件。" in saved
    with db.read() as session:
        assert len(session.execute(select(Workshop.id)).all()) == before + 57
    template = admin.client.get("/admin/workshops-template.xlsx")
    assert template.status_code == 200
    (example,) = list(read_rows("workshops.xlsx", template.content))
    assert example["コード"] == "W01" and example["口座名義"] == "ヤマダモクコウシヨ"


def test_pin_slips_for_the_workshops_without_a_pin(admin: Admin, db: Database) -> None:
    from oflocal.auth.service import set_workshop_pin

    with db.read() as session:
        event_id = session.execute(select(Event.id).where(Event.slug == "adm")).scalar_one()
    set_workshop_pin(db, event_slug="adm", workshop_code="W01", pin="2468")  # keeps its PIN
    slips = admin.post(f"/admin/events/{event_id}/pin-slips", {})
    issued = re.findall(r'<code>(W\d\d)</code></dd>\s*<dt>PIN</dt><dd class="slip-pin">'
                        r'<code>(\d{4})</code>', slips)
    assert [code for code, _pin in issued] == ["W02"] and "一度だけ" in slips
    assert login_workshop(db, event_slug="adm", workshop_code="W02", pin=issued[0][1])
    assert login_workshop(db, event_slug="adm", workshop_code="W01", pin="2468")
    again = admin.post(f"/admin/events/{event_id}/pin-slips", {})
    assert "すべての工房にPINがあります" in again and 'class="slip"' not in again


def test_a_programme_is_set_up_from_the_admin_page(admin: Admin, db: Database) -> None:
    with db.read() as session:
        event_id = session.execute(select(Event.id).where(Event.slug == "adm")).scalar_one()
    url = f"/admin/events/{event_id}/programmes"
    page = admin.client.get(url)
    assert page.status_code == 200 and 'value="500, 500, 500, 500, 500, 500"' in page.text
    form = {"name": "工房めぐり券2", "price": "2,500", "face_value": "3000",
            "denominations": "1000, 1000, 500, 500", "sales_starts_at": "2026-10-01T09:00",
            "sales_ends_at": "2026-10-03T17:00", "issue_date": "2026-10-01",
            "valid_from": "2026-10-01", "valid_until": "2027-06-30", "premium_budget": "100000",
            "max_booklets_per_sale": "5", "breakage_rule": "breakage"}
    long = admin.client.post(url, data={**form, "_csrf": admin.csrf})
    assert long.status_code == 422 and "6か月" in long.text and 'value="2027-06-30"' in long.text
    wrong_sum = admin.client.post(url, data={**form, "valid_until": "2026-10-03",
                                             "denominations": "1000, 1000", "_csrf": admin.csrf})
    assert wrong_sum.status_code == 422
    made = admin.post(url, {**form, "validity_override": "yes"})
    assert "企画「工房めぐり券2」を作成しました。" in made and "資金決済法" in made  # warned
    with db.read() as session:
        programme = session.execute(select(Programme).where(Programme.name == "工房めぐり券2")
                                    ).scalar_one()
        assert (programme.price, programme.denominations, programme.validity_override) == (
            2500, [1000, 1000, 500, 500], True)
