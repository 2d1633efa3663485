"""The HTML pages through Litestar's test client, on SQLite and PostgreSQL: they render in
Japanese and English, send people without a login to the right form, refuse a form
without its CSRF token, and remember the chosen language."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import TestClient

from apps import client_for
from oflocal.auth import service as auth_service
from oflocal.auth.service import create_staff_user, set_workshop_pin
from oflocal.db.engine import Database
from oflocal.demo import DEMO_PIN, build_event
from oflocal.errors import MESSAGES
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner

Client = TestClient[Litestar]
DESK_PASSWORD = "desk-pass-2026"
CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')


@pytest.fixture
def client(db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    # Cheap argon2 parameters: these tests are about pages, not about hashing.
    monkeypatch.setattr(auth_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                                parallelism=1))
    with db.write() as session:
        build_event(session, signer, workshops=2, booklets=2)
    create_staff_user(db, username="desk", display_name="販売窓口 Desk", role="desk",
                      password=DESK_PASSWORD)
    set_workshop_pin(db, event_slug="demo", workshop_code="W01", pin=DEMO_PIN)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as test_client:
        yield test_client


def form_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "the form has no _csrf field"
    return match.group(1)


def login_desk(client: Client) -> None:
    token = form_token(client.get("/login").text)
    answer = client.post("/login", data={"_csrf": token, "username": "desk",
                                         "password": DESK_PASSWORD}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/desk"


def login_workshop(client: Client) -> None:
    token = form_token(client.get("/booth/login").text)
    answer = client.post("/booth/login", data={"_csrf": token, "event": "demo",
                                               "workshop_code": "w01", "pin": DEMO_PIN},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/booth"


def page_config(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="page-config">(.*?)</script>', html,
                      re.S)
    assert match
    return json.loads(match.group(1))  # type: ignore[no-any-return]


PUBLIC_PAGES = [
    ("/", "工房の方：券を受け取る", "Workshop: take tickets"),
    ("/login", "事務局ログイン", "Staff login"),
    ("/booth/login", "工房ログイン", "Workshop login"),
]


def test_public_pages_render_in_japanese_and_english(client: Client) -> None:
    for path, japanese, english in PUBLIC_PAGES:
        ja = client.get(path)
        assert ja.status_code == 200
        assert ja.headers["content-type"].startswith("text/html")
        assert '<html lang="ja">' in ja.text and japanese in ja.text
        assert "script-src 'self'" in ja.headers["content-security-policy"]
        en = client.get(path, headers={"Accept-Language": "en-US,en;q=0.9"})
        assert '<html lang="en">' in en.text and english in en.text and japanese not in en.text


def test_logged_in_pages_render_in_japanese_and_english(client: Client) -> None:
    login_desk(client)
    desk = client.get("/desk")
    assert desk.status_code == 200
    assert "冊子の販売" in desk.text and "現金" in desk.text
    config = page_config(desk.text)
    assert config["lang"] == "ja"
    assert config["programmes"][0]["price"] == 2500
    assert "code.checksum" in config["messages"]
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', desk.text)
    client.cookies.set("oflocal_lang", "en")
    english = client.get("/desk")
    assert "Sell booklets" in english.text and "Payment method" in english.text
    assert "冊子の販売" not in english.text


def test_booth_page_carries_what_the_phone_needs(client: Client) -> None:
    login_workshop(client)
    booth = client.get("/booth")
    assert booth.status_code == 200
    assert "券の番号を読み取るか入力してください" in booth.text
    assert "大野木工所" in booth.text  # the workshop's own name, at the top
    config = page_config(booth.text)
    assert config["programmes"][0]["denominations"] == [500] * 6
    assert config["undo_window_seconds"] == 600
    assert set(config["labels"]) == {"ja", "en"}
    assert config["messages"]["code.checksum"]["ja"] == MESSAGES["code.checksum"].ja
    assert 'inputmode="text"' in booth.text and "autofocus" in booth.text


def test_anonymous_visitors_are_sent_to_the_right_login(client: Client) -> None:
    for path, login in [("/desk", "/login?next=%2Fdesk"), ("/booth", "/booth/login")]:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == login


def test_staff_come_back_to_the_page_they_wanted(client: Client) -> None:
    page = client.get("/login?next=/desk")
    assert 'name="next" value="/desk"' in page.text
    evil = client.post("/login", data={"_csrf": form_token(page.text), "username": "desk",
                                       "password": DESK_PASSWORD, "next": "//evil.example/"},
                       follow_redirects=False)
    assert evil.status_code == 303 and evil.headers["location"] == "/desk"


def test_the_wrong_role_gets_a_clear_page(client: Client) -> None:
    login_workshop(client)
    answer = client.get("/desk", follow_redirects=False)
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert MESSAGES["auth.forbidden"].ja in answer.text
    assert MESSAGES["auth.forbidden"].en in answer.text
    assert 'href="/booth"' in answer.text  # back to where this login belongs


def test_staff_cannot_open_the_booth(client: Client) -> None:
    login_desk(client)
    assert client.get("/booth", follow_redirects=False).status_code == 403


def test_login_forms_refuse_a_post_without_the_csrf_token(client: Client) -> None:
    client.get("/login")  # the browser has the double-submit cookie...
    missing = client.post("/login", data={"username": "desk", "password": DESK_PASSWORD},
                          follow_redirects=False)
    assert missing.status_code == 403
    assert MESSAGES["csrf.failed"].ja in missing.text and MESSAGES["csrf.failed"].en in missing.text
    assert "oflocal_session" not in missing.headers.get("set-cookie", "")
    forged = client.post("/login", data={"_csrf": "forged", "username": "desk",
                                          "password": DESK_PASSWORD}, follow_redirects=False)
    assert forged.status_code == 403
    client.cookies.clear()  # ...or not: a cross-site post has no cookie to match
    token = form_token(client.get("/booth/login").text)
    client.cookies.clear()
    cross_site = client.post("/booth/login", data={"_csrf": token, "event": "demo",
                                                   "workshop_code": "W01", "pin": DEMO_PIN},
                             follow_redirects=False)
    assert cross_site.status_code == 403
    assert client.get("/booth", follow_redirects=False).status_code == 303  # not logged in


def test_a_wrong_login_says_so_in_both_languages(client: Client) -> None:
    token = form_token(client.get("/login").text)
    wrong = client.post("/login", data={"_csrf": token, "username": "desk",
                                        "password": "not-the-password"})
    assert wrong.status_code == 401
    assert MESSAGES["auth.bad_login"].ja in wrong.text
    assert MESSAGES["auth.bad_login"].en in wrong.text
    assert 'value="desk"' in wrong.text  # the login ID stays filled in
    token = form_token(client.get("/booth/login").text)
    wrong_pin = client.post("/booth/login", data={"_csrf": token, "event": "demo",
                                                  "workshop_code": "W01", "pin": "9999"})
    assert wrong_pin.status_code == 401
    assert MESSAGES["auth.bad_login"].ja in wrong_pin.text
    assert 'value="W01"' in wrong_pin.text


def test_the_only_event_is_filled_in_on_the_workshop_login(client: Client) -> None:
    page = client.get("/booth/login").text
    assert '<input type="hidden" name="event" value="demo">' in page
    assert "ものづくりのまち オープンファクトリー 2026" in page
    assert 'inputmode="numeric"' in page


def test_logout_needs_the_session_token_and_ends_the_session(client: Client) -> None:
    login_desk(client)
    desk = client.get("/desk").text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', desk)
    assert token
    refused = client.post("/logout", data={"_csrf": "nope"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/desk", follow_redirects=False).status_code == 200
    out = client.post("/logout", data={"_csrf": token.group(1)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/desk", follow_redirects=False).status_code == 303


def test_the_language_switch_is_remembered(client: Client) -> None:
    page = client.get("/booth/login").text
    assert 'href="/lang/en?next=/booth/login"' in page
    switched = client.get("/lang/en?next=/booth/login", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/booth/login"
    assert "oflocal_lang=en" in switched.headers["set-cookie"]
    english = client.get("/booth/login", headers={"Accept-Language": "ja"})
    assert '<html lang="en">' in english.text and "Workshop login" in english.text
    back = client.get("/lang/ja?next=https://evil.example/", follow_redirects=False)
    assert back.headers["location"] == "/"
    assert "工房ログイン" in client.get("/booth/login").text
    assert client.get("/lang/fr", follow_redirects=False).status_code == 404


def test_errors_are_pages_for_people_and_json_for_the_api(client: Client) -> None:
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert MESSAGES["request.not_found"].ja in page.text
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["code"] == "request.not_found"


def test_static_files_are_served_and_versioned(client: Client) -> None:
    page = client.get("/booth/login").text
    css = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]{10})"', page)
    assert css
    answer = client.get(css.group(1))
    assert answer.status_code == 200 and "max-age" in answer.headers["cache-control"]
    for name in ("codes.js", "common.js", "booth.js", "desk.js"):
        assert client.get(f"/static/js/{name}").status_code == 200
    # Static files skip the login check: even a stale token does not block the CSS.
    stale = client.get("/static/css/app.css", headers={"Authorization": "Bearer stale"})
    assert stale.status_code == 200
