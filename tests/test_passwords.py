"""Staff passwords after the account exists: `oflocal init`, changing your own, an
admin's reset, a one-time password that must be changed first, switching a login off.
Through the services, the pages, the API and the command line, on both databases."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from apps import client_for
from oflocal.auth.accounts import change_own_password, reset_password, set_active
from oflocal.auth.models import StaffUser
from oflocal.auth.service import create_staff_user, login_staff, open_session
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.settings import Settings
from oflocal.web.security import SESSION_COOKIE
from test_pages import form_token

PASSWORD = "treasurer password 1"


@pytest.fixture
def client(db: Database, secret: bytes, tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    create_staff_user(db, username="kaikei", display_name="会計", role="treasurer",
                      password=PASSWORD)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as test_client:
        yield test_client


def _code(call: object) -> str:
    try:
        call()  # type: ignore[operator]
    except Refusal as refusal:
        return refusal.code
    return "ok"


def _login(client: TestClient[Litestar], password: str) -> str:
    client.cookies.clear()
    answer = client.post("/login", data={"_csrf": form_token(client.get("/login").text),
                                         "username": "kaikei", "password": password},
                         follow_redirects=False)
    return answer.headers.get("location", str(answer.status_code))


def test_changing_your_own_password(db: Database, client: TestClient[Litestar]) -> None:
    actor = login_staff(db, "kaikei", PASSWORD)
    other, _ = open_session(db, actor, hours=1)
    mine, _ = open_session(db, actor, hours=1)
    assert _code(lambda: change_own_password(db, actor.id, "wrong one!", "new password 22")) \
        == "auth.password_wrong"
    assert _code(lambda: change_own_password(db, actor.id, PASSWORD, "short")) \
        == "auth.password_too_short"
    change_own_password(db, actor.id, PASSWORD, "new password 22", this_session=mine)
    assert _code(lambda: login_staff(db, "kaikei", PASSWORD)) == "auth.bad_login"
    assert login_staff(db, "kaikei", "new password 22").id == actor.id
    client.cookies.set(SESSION_COOKIE, other)  # the other browser was logged out
    assert client.get("/api/v1/session").status_code == 401
    client.cookies.set(SESSION_COOKIE, mine)  # this one goes on
    assert client.get("/api/v1/session").status_code == 200


def test_a_reset_password_must_be_changed_before_anything_else(
        db: Database, client: TestClient[Litestar]) -> None:
    one_time = reset_password(db, "kaikei")
    assert re.fullmatch(r"([a-z2-9]{4}-){3}[a-z2-9]{4}", one_time)
    assert _code(lambda: login_staff(db, "kaikei", PASSWORD)) == "auth.bad_login"
    assert _login(client, one_time) == "/account/password"
    # Every other staff page and API route is closed until the password is changed.
    assert client.get("/treasurer", follow_redirects=False).headers["location"] \
        == "/account/password"
    refused = client.get("/api/v1/events")
    assert (refused.status_code, refused.json()["code"]) == (403, "auth.password_change_required")
    assert client.get("/api/v1/session").json()["must_change_password"] is True
    page = client.get("/account/password")
    assert page.status_code == 200 and "一時パスワード" in page.text
    mismatch = client.post("/account/password", data={
        "_csrf": form_token(page.text), "current_password": one_time,
        "new_password": "my own password", "new_password_again": "my own passw0rd"})
    assert mismatch.status_code == 422 and "2回とも同じ" in mismatch.text
    done = client.post("/account/password", data={
        "_csrf": form_token(page.text), "current_password": one_time,
        "new_password": "my own password", "new_password_again": "my own password"},
        follow_redirects=False)
    assert done.status_code == 303
    assert client.get("/api/v1/events").status_code == 200
    assert _login(client, "my own password") == "/"


def test_password_over_the_api_and_a_switched_off_login(
        db: Database, client: TestClient[Litestar]) -> None:
    answer = client.post("/api/v1/session/staff",
                         json={"username": "kaikei", "password": PASSWORD})
    csrf = answer.json()["csrf_token"]
    changed = client.post("/api/v1/session/password", headers={"X-CSRF-Token": csrf},
                          json={"current_password": PASSWORD, "new_password": "api password 3"})
    assert changed.status_code == 200, changed.text
    assert login_staff(db, "kaikei", "api password 3").role == "treasurer"
    set_active(db, "kaikei", False)
    assert client.get("/api/v1/session").status_code == 401  # its session ended at once
    assert _code(lambda: login_staff(db, "kaikei", "api password 3")) == "auth.bad_login"
    set_active(db, "kaikei", True)
    assert login_staff(db, "kaikei", "api password 3").role == "treasurer"


def _process(db_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command in a real process, as an administrator runs it (the others run in
    process, ``run_cli``, to stay fast)."""
    env = {**os.environ, "OFLOCAL_DATABASE_URL": db_url, "OFLOCAL_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-c", "from oflocal.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_init_starts_an_empty_installation_once(db: Database, db_url: str, tmp_path: Path,
                                                run_cli) -> None:  # type: ignore[no-untyped-def]
    first = _process(db_url, tmp_path, "init", "--admin", "jimukyoku")
    assert first.returncode == 0, first.stderr
    one_time = re.search(r"one-time password .*: (\S+)", first.stdout)
    assert one_time is not None
    actor = login_staff(db, "jimukyoku", one_time.group(1))
    assert (actor.role, actor.must_change_password) == ("admin", True)
    again = run_cli("init")
    assert again.exit_code == 2 and "already has data" in again.stderr

    generated = run_cli("user", "passwd", "jimukyoku", "--generate")
    fresh = re.search(r"one-time password for jimukyoku: (\S+)", generated.stdout)
    assert fresh is not None and fresh.group(1) != one_time.group(1)
    typed = run_cli("user", "passwd", "jimukyoku", "--password", "typed password 9")
    assert typed.exit_code == 0, typed.stderr
    assert login_staff(db, "jimukyoku", "typed password 9").must_change_password is False
    missing = run_cli("user", "passwd", "nobody", "--generate")
    assert missing.exit_code == 2 and "staff.not_found" in missing.stderr


def test_init_takes_the_password_from_a_file(db: Database, tmp_path: Path,
                                             run_cli) -> None:  # type: ignore[no-untyped-def]
    secret_file = tmp_path / "admin-password"
    secret_file.write_text("from a file 12345\n")
    done = run_cli("init", "--password-file", str(secret_file))
    assert done.exit_code == 0 and "one-time" not in done.stdout, done.stdout + done.stderr
    assert login_staff(db, "admin", "from a file 12345").must_change_password is False


@pytest.mark.real_argon2
def test_secrets_are_hashed_with_argon2id_at_its_default_cost(db: Database) -> None:
    """The rest of the suite hashes cheaply (conftest ``_cheap_argon2``); the app itself
    keeps argon2id at the library's default cost, and a login checks against it."""
    from oflocal.auth import service

    create_staff_user(db, username="real", display_name="r", role="desk",
                      password="a real password 1")
    with db.read() as session:
        stored = session.execute(select(StaffUser.password_hash)
                                 .where(StaffUser.username == "real")).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), stored
    assert service._hasher.check_needs_rehash(stored) is False
    assert login_staff(db, "real", "a real password 1").role == "desk"
