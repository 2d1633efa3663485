"""Editing a voucher programme and its print layout, on both databases: what a printed
booklet shows stays fixed, the budget never drops below what sales have spent (also
while sales run in other threads), and the admin page's live proof follows the form."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from PIL import Image
from sqlalchemy import select

from apps import client_for
from backends import through_pgbouncer
from oflocal import clock
from oflocal.auth.service import create_staff_user, login_staff, open_session
from oflocal.db.engine import Database
from oflocal.demo import Scenario, build_event
from oflocal.errors import Refusal
from oflocal.events import changes
from oflocal.printing.layout import PrintLayout, read_layout
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets
from oflocal.vouchers.expiry import expire_programme
from oflocal.vouchers.models import Programme
from oflocal.web.security import SESSION_COOKIE


def _programme(db: Database, programme_id: int) -> Programme:
    with db.read() as session:
        programme = session.get(Programme, programme_id)
        assert programme is not None
        return programme


def _refused(code: str, work: object) -> Refusal:
    with pytest.raises(Refusal) as info:
        work()  # type: ignore[operator]
    assert info.value.code == code
    return info.value


def test_terms_change_freely_until_the_first_booklet_is_printed(db: Database,
                                                                signer: CodeSigner) -> None:
    with db.write() as session:
        blank = build_event(session, signer, slug="edit-a", workshops=2, booklets=0)
    edited, warnings = changes.edit_programme(
        db, blank.programme_id, {"name": "工房めぐり券 改", "price": 2000, "face_value": 2500,
                                 "denominations": [1000, 1000, 500]})
    assert (edited.name, edited.premium, warnings) == ("工房めぐり券 改", 500, [])
    # The result is checked as a whole, exactly like a new programme.
    _refused("programme.denominations_mismatch",
             lambda: changes.edit_programme(db, blank.programme_id, {"face_value": 3000}))
    long = _programme(db, blank.programme_id).issue_date + timedelta(days=200)
    _refused("programme.validity_too_long",
             lambda: changes.edit_programme(db, blank.programme_id, {"valid_until": long}))
    _, warned = changes.edit_programme(db, blank.programme_id,
                                       {"valid_until": long, "validity_override": True})
    assert "資金決済法" in warned[0]
    assert _programme(db, blank.programme_id).face_value == 2500  # refusals changed nothing


def test_printed_terms_stay_as_printed(db: Database, signer: CodeSigner) -> None:
    with db.write() as session:
        printed = build_event(session, signer, slug="edit-b", workshops=2, booklets=3)
    refusal = _refused("programme.terms_printed", lambda: changes.edit_programme(
        db, printed.programme_id, {"price": 2000, "valid_until": clock.tokyo_date(clock.now())}))
    assert "販売価格" in refusal.message("ja") and "last day of use" in refusal.message("en")
    # Sending the printed terms unchanged is no change at all.
    before = _programme(db, printed.programme_id)
    later = before.sales_ends_at + timedelta(days=2)
    edited, _ = changes.edit_programme(db, printed.programme_id, {
        "price": before.price, "name": before.name, "sales_ends_at": later,
        "max_booklets_per_sale": 2, "premium_budget": 100_000, "breakage_rule": "premium_fund"})
    assert (edited.sales_ends_at, edited.max_booklets_per_sale, edited.breakage_rule) == (
        later, 2, "premium_fund")
    _refused("programme.dates_invalid", lambda: changes.edit_programme(
        db, printed.programme_id, {"sales_ends_at": before.sales_starts_at}))


def test_the_budget_never_drops_below_what_sales_spent(db: Database,
                                                       signer: CodeSigner) -> None:
    with db.write() as session:
        sold = build_event(session, signer, slug="edit-c", workshops=2, booklets=4)
    sell_booklets(db, signer, programme_id=sold.programme_id, codes=sold.booklet_codes[:3],
                  payment_method="cash", actor="desk")
    refusal = _refused("programme.budget_below_spent", lambda: changes.edit_programme(
        db, sold.programme_id, {"premium_budget": 1_000}))
    assert "¥1,500" in refusal.message("ja")
    edited, _ = changes.edit_programme(db, sold.programme_id, {"premium_budget": 1_500})
    assert edited.premium_spent == edited.premium_budget == 1_500
    # The budget is spent: the fourth booklet cannot be sold.
    _refused("sale.budget_exhausted", lambda: sell_booklets(
        db, signer, programme_id=sold.programme_id, codes=sold.booklet_codes[3:],
        payment_method="cash", actor="desk"))


def test_what_expiry_does_is_fixed_once_it_has_run(db: Database, signer: CodeSigner) -> None:
    with db.write() as session:
        run = build_event(session, signer, slug="edit-d", workshops=2, booklets=1)
    sell_booklets(db, signer, programme_id=run.programme_id, codes=run.booklet_codes,
                  payment_method="cash", actor="desk")
    after = clock.now() + timedelta(days=10)
    expire_programme(db, programme_id=run.programme_id, actor="treasurer", now=after)
    _refused("programme.already_expired", lambda: changes.edit_programme(
        db, run.programme_id, {"breakage_rule": "premium_fund"}))


@through_pgbouncer
def test_a_budget_cut_and_sales_racing_never_overspend(db: Database, signer: CodeSigner) -> None:
    """Eight desks sell one booklet each while the committee cuts the budget to four
    booklets' premium: whatever order the database picks, the spent premium stays within
    the budget and every refused call is a refusal, not a crash."""
    with db.write() as session:
        race = build_event(session, signer, slug="edit-e", workshops=2, booklets=8,
                           premium_budget=8 * 500)
    start = threading.Barrier(9)
    outcomes: list[str] = []

    def sell(code: str) -> None:
        start.wait()
        try:
            sell_booklets(db, signer, programme_id=race.programme_id, codes=[code],
                          payment_method="cash", actor="desk")
            outcomes.append("sold")
        except Refusal as refusal:
            outcomes.append(refusal.code)

    def cut() -> None:
        start.wait()
        try:
            changes.edit_programme(db, race.programme_id, {"premium_budget": 4 * 500})
            outcomes.append("cut")
        except Refusal as refusal:
            outcomes.append(refusal.code)

    threads = [threading.Thread(target=sell, args=(c,)) for c in race.booklet_codes]
    threads.append(threading.Thread(target=cut))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 9
    assert set(outcomes) <= {"sold", "cut", "sale.budget_exhausted", "programme.budget_below_spent"}
    final = _programme(db, race.programme_id)
    assert final.premium_spent <= final.premium_budget
    assert final.booklets_sold == outcomes.count("sold")
    if "cut" in outcomes:
        assert final.premium_budget == 2_000 and final.booklets_sold <= 4
    else:
        assert final.premium_budget == 4_000 and final.booklets_sold > 4


@pytest.mark.parametrize(("fields", "japanese", "english"), [
    ({"columns": 4}, "4列×4段は入りません", "4 × 4 tickets do not fit on A4"),
    ({"accent_colour": "#FFEE88"}, "明るすぎます", "is too light"),
    ({"rules": ("{shop}でのみ",)}, "{shop}は使えません", "unknown placeholder {shop}"),
    ({"margin_mm": -1}, "余白の値を確かめてください", "margin_mm"),
    ({"paper": "Letter"}, "用紙の値を確かめてください", "'A4', 'A3' or 'B4'"),
])
def test_a_layout_that_cannot_be_printed_is_refused_in_both_languages(
        fields: dict[str, object], japanese: str, english: str) -> None:
    refusal = _refused("print.layout_invalid", lambda: read_layout(fields))
    assert japanese in refusal.message("ja") and english in refusal.message("en")


def test_the_layout_is_stored_for_the_next_print_run(db: Database, signer: CodeSigner) -> None:
    with db.write() as session:
        scenario = build_event(session, signer, slug="edit-f", workshops=2, booklets=0)
    layout = read_layout({"paper": "A3", "columns": 4, "rows": 6, "duplex": True})
    changes.change_print_layout(db, scenario.programme_id, layout)
    stored = _programme(db, scenario.programme_id).print_layout
    assert PrintLayout.model_validate(stored) == layout


# ------------------------------------------------------------------------ the page


@pytest.fixture
def console(db: Database, signer: CodeSigner, secret: bytes,
            tmp_path: Path) -> Iterator[tuple[TestClient[Litestar], str, Scenario]]:
    with db.write() as session:
        scenario = build_event(session, signer, slug="edit-page", workshops=3, booklets=0)
    create_staff_user(db, username="boss", display_name="事務局", role="admin",
                      password="boss password 1")
    token, csrf = open_session(db, login_staff(db, "boss", "boss password 1"), hours=1)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        client.cookies.set(SESSION_COOKIE, token)
        yield client, csrf, scenario


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        return image.size


def test_the_programme_page_saves_rules_and_layout(
        console: tuple[TestClient[Litestar], str, Scenario], db: Database,
        signer: CodeSigner) -> None:
    client, csrf, scenario = console
    url = f"/admin/programmes/{scenario.programme_id}"
    page = client.get(url)
    assert page.status_code == 200 and 'name="terms_editable"' in page.text
    programme = _programme(db, scenario.programme_id)
    form = {"_csrf": csrf, "terms_editable": "yes", "name": "春の工房めぐり券", "price": "2,000",
            "face_value": "2500", "denominations": "1000, 1000, 500",
            "issue_date": programme.issue_date.isoformat(),
            "valid_from": programme.valid_from.isoformat(),
            "valid_until": programme.valid_until.isoformat(),
            "sales_starts_at": "2026-10-01T09:00", "sales_ends_at": "2026-10-03T17:00",
            "premium_budget": "300000", "max_booklets_per_sale": "3",
            "breakage_rule": "breakage"}
    saved = client.post(url, data=form)
    assert saved.status_code == 200 and "企画のルールを保存しました。" in saved.text
    edited = _programme(db, scenario.programme_id)
    assert (edited.name, edited.price, edited.denominations, edited.max_booklets_per_sale) == (
        "春の工房めぐり券", 2000, [1000, 1000, 500], 3)
    assert edited.sales_starts_at.astimezone(clock.TOKYO).hour == 9  # read as Japan time

    bad = client.post(url, data={**form, "denominations": "1000, 1000"})
    assert bad.status_code == 422 and 'value="1000, 1000"' in bad.text  # shown as typed
    assert _programme(db, scenario.programme_id).denominations == [1000, 1000, 500]

    layout = {"_csrf": csrf, "paper": "A3", "mode": "printshop", "columns": "4", "rows": "6",
              "margin_mm": "10", "accent_colour": "#1f5fa8", "duplex": "yes",
              "back_side": "workshop", "show_workshop": "yes", "show_rules": "yes",
              "show_serial": "yes", "rules": "おつりは出ません\n\n{event}でのみ使えます\n"}
    stored = client.post(f"{url}/layout", data=layout)
    assert stored.status_code == 200 and "次の印刷から使われます" in stored.text
    assert PrintLayout.model_validate(_programme(db, scenario.programme_id).print_layout) == (
        PrintLayout(paper="A3", mode="printshop", columns=4, rows=6, duplex=True,
                    rules=("おつりは出ません", "{event}でのみ使えます")))
    too_many = client.post(f"{url}/layout", data={**layout, "columns": "9"})
    assert too_many.status_code == 422 and "列数の値を確かめてください" in too_many.text

    # Once printed, the page shows the printed terms as facts and the form cannot move them.
    from oflocal.vouchers.issue import add_booklets
    with db.write() as session:
        add_booklets(session, signer, scenario.programme_id, 1, now=clock.now(), actor="t")
    printed = client.get(url)
    assert 'id="terms-printed"' in printed.text and 'name="terms_editable"' not in printed.text
    kept = client.post(url, data={**form, "price": "1000", "premium_budget": "250000"})
    assert kept.status_code == 200
    assert (_programme(db, scenario.programme_id).price,
            _programme(db, scenario.programme_id).premium_budget) == (2000, 250_000)


def test_the_live_proof_follows_the_unsaved_form(
        console: tuple[TestClient[Litestar], str, Scenario]) -> None:
    client, _, scenario = console
    url = f"/admin/programmes/{scenario.programme_id}/proof.png"
    saved = client.get(url)
    assert saved.status_code == 200 and saved.headers["content-type"] == "image/png"
    base = {"paper": "A4", "mode": "office", "columns": "3", "rows": "4", "margin_mm": "10",
            "accent_colour": "#1f5fa8", "back_side": "workshop", "show_workshop": "yes",
            "show_rules": "yes", "show_serial": "yes", "rules": "おつりは出ません"}
    a4 = client.get(url, params=base)
    a3 = client.get(url, params={**base, "paper": "A3", "columns": "4", "rows": "6"})
    duplex = client.get(url, params={**base, "duplex": "yes"})
    assert _size(a4.content) == _size(saved.content)
    assert _size(a3.content)[1] > _size(a4.content)[1]  # a taller sheet
    assert _size(duplex.content)[0] > _size(a4.content)[0]  # the back beside the front
    wrong = client.get(url, params={**base, "columns": "5"})
    assert wrong.status_code == 422
    refused = wrong.json()
    assert refused["code"] == "print.layout_invalid" and "入りません" in refused["message"]
    with_terms = client.get(url, params={**base, "terms_editable": "yes", "name": "試し券",
                                         "face_value": "5000", "denominations": "x"})
    assert with_terms.status_code == 422  # a term that cannot be read is named too


def test_the_programme_list_links_to_each_programme(
        console: tuple[TestClient[Litestar], str, Scenario], db: Database) -> None:
    client, _, scenario = console
    page = client.get(f"/admin/events/{scenario.event_id}/programmes")
    assert f'href="/admin/programmes/{scenario.programme_id}"' in page.text
    with db.read() as session:
        assert session.execute(select(Programme.id)).scalars().all()


def test_the_api_changes_rules_and_layout_with_the_same_rules(
        db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path) -> None:
    from oflocal.auth.service import issue_api_token

    with db.write() as session:
        scenario = build_event(session, signer, slug="edit-api", workshops=2, booklets=1)
    boss = create_staff_user(db, username="boss", display_name="事務局", role="admin",
                             password="boss password 1")
    auth = {"Authorization": f"Bearer {issue_api_token(db, name='a', staff_user_id=boss)}"}
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    url = f"/api/v1/programmes/{scenario.programme_id}"
    with client_for(settings, db) as client:
        ok = client.patch(url, json={"premium_budget": 700_000, "max_booklets_per_sale": 2},
                          headers=auth)
        assert ok.status_code == 200, ok.text
        assert (ok.json()["premium_budget"], ok.json()["max_booklets_per_sale"]) == (700_000, 2)
        printed = client.patch(url, json={"price": 2000}, headers=auth)
        assert (printed.status_code, printed.json()["code"]) == (409, "programme.terms_printed")
        as_text = client.patch(url, json={"premium_budget": "800000"}, headers=auth)
        assert (as_text.status_code, as_text.json()["code"]) == (422, "request.invalid")
        null = client.patch(url, json={"name": None}, headers=auth)
        assert (null.status_code, null.json()["code"]) == (422, "request.invalid")

        layout = client.put(f"{url}/print-layout", headers=auth,
                            json={"paper": "A3", "columns": 4, "rows": 6, "duplex": True,
                                  "rules": ["{event}でのみ使えます"]})
        assert layout.status_code == 200, layout.text
        assert (layout.json()["paper"], layout.json()["rules"]) == ("A3", ["{event}でのみ使えます"])
        wide = client.put(f"{url}/print-layout", json={"columns": 5}, headers=auth)
        assert (wide.status_code, wide.json()["code"]) == (422, "print.layout_invalid")
        said = wide.json()
        assert "入りません" in said["message_ja"] and "do not fit" in said["message_en"]
        text_columns = client.put(f"{url}/print-layout", json={"columns": "4"}, headers=auth)
        assert (text_columns.status_code, text_columns.json()["code"]) == (422, "request.invalid")
    stored = _programme(db, scenario.programme_id)
    assert (stored.premium_budget, stored.price) == (700_000, 2500)
    assert PrintLayout.model_validate(stored.print_layout) == PrintLayout(
        paper="A3", columns=4, rows=6, duplex=True, rules=("{event}でのみ使えます",))
