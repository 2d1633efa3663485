"""The printing page and the print-job list it reads, through Litestar's test client, on
SQLite and PostgreSQL: the page renders in Japanese and English with the proof and the
form, only admin and desk may open it, and ``GET /api/v1/programmes/{id}/print-jobs``
lists a programme's jobs (reprints too), the latest first."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from apps import client_for
from oflocal.auth import service as auth_service
from oflocal.auth.service import create_staff_user, set_workshop_pin
from oflocal.db.engine import Database
from oflocal.demo import DEMO_PIN, build_event
from oflocal.errors import MESSAGES
from oflocal.settings import Settings
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.models import Booklet

Client = TestClient[Litestar]
PASSWORD = "printing-pass-2026"
CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')


@pytest.fixture
def world(db: Database, signer: CodeSigner, secret: bytes, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, dict[str, int]]]:
    # Cheap argon2 parameters: these tests are about the page, not about hashing.
    monkeypatch.setattr(auth_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                                parallelism=1))
    with db.write() as session:
        main = build_event(session, signer, workshops=2, booklets=2)
        other = build_event(session, signer, slug="other", workshops=1, booklets=1)
    for role in ("admin", "desk", "treasurer"):
        create_staff_user(db, username=role, display_name=f"{role} 係", role=role,
                          password=PASSWORD)
    set_workshop_pin(db, event_slug="demo", workshop_code="W01", pin=DEMO_PIN)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        yield client, {"main": main.programme_id, "other": other.programme_id}


def login(client: Client, username: str) -> str:
    """Log in through the form; answers the session's CSRF token for API posts."""
    match = CSRF_FIELD.search(client.get("/login").text)
    assert match
    answer = client.post("/login", data={"_csrf": match.group(1), "username": username,
                                         "password": PASSWORD}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    home = client.get("/").text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', home)
    assert token
    return token.group(1)


def page_config(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="page-config">(.*?)</script>', html,
                      re.S)
    assert match
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def wait(client: Client, job_id: int) -> dict[str, Any]:
    for _ in range(600):
        job: dict[str, Any] = client.get(f"/api/v1/print-jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError("print job did not finish in 60 s")


def test_printing_page_renders_in_japanese_and_english(
    world: tuple[Client, dict[str, int]],
) -> None:
    client, programmes = world
    login(client, "desk")
    ja = client.get("/printing")
    assert ja.status_code == 200 and ja.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in ja.headers["content-security-policy"]
    assert '<html lang="ja">' in ja.text
    for words in ("冊子の印刷", "見本のコードは使えません", "何冊印刷しますか", "印刷データを作る",
                  "これまでの印刷", "破損した冊子の刷り直し"):
        assert words in ja.text, words
    # two programmes: a choice, each with its event; the proof is the first one's
    assert '<select id="programme">' in ja.text
    assert f'<option value="{programmes["main"]}">' in ja.text
    assert f'<option value="{programmes["other"]}">' in ja.text
    first = page_config(ja.text)["programmes"][0]["id"]
    assert f'<img id="proof" class="proof-image" src="/api/v1/programmes/{first}/proof.png"' \
        in ja.text
    assert 'type="number"' in ja.text and 'min="1"' in ja.text and 'max="20000"' in ja.text
    assert re.search(r'src="/static/js/printing\.js\?v=[0-9a-f]{10}"', ja.text)
    assert "<progress" in ja.text
    assert "style=" not in ja.text and "onclick" not in ja.text  # CSP: nothing inline
    config = page_config(ja.text)
    assert config["lang"] == "ja" and config["max_count"] == 20000 and config["poll_ms"] == 700
    assert {p["id"] for p in config["programmes"]} == set(programmes.values())
    assert config["labels"]["ja"]["running"] == "作成中 {done} / {total}冊（{percent}%）"
    assert config["labels"]["en"]["running"] == "Rendering {done} / {total} booklets ({percent}%)"
    assert config["messages"]["code.checksum"]["ja"] == MESSAGES["code.checksum"].ja

    client.cookies.set("oflocal_lang", "en")
    en = client.get("/printing")
    assert '<html lang="en">' in en.text
    for words in ("Print booklets", "The codes on the proof are samples and never work.",
                  "How many booklets?", "Make the PDF", "Reprint damaged booklets (not sold)"):
        assert words in en.text, words
    assert "冊子の印刷" not in en.text and "見本のコードは使えません" not in en.text


def test_only_admin_and_desk_may_open_the_printing_page(
    world: tuple[Client, dict[str, int]],
) -> None:
    client, _ = world
    anonymous = client.get("/printing", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=%2Fprinting"
    for role, status in (("treasurer", 403), ("admin", 200), ("desk", 200)):
        client.cookies.clear()
        login(client, role)
        answer = client.get("/printing", follow_redirects=False)
        assert answer.status_code == status, role
        assert ('href="/printing"' in client.get("/").text) is (status == 200), role
        assert (client.get("/api/v1/programmes/1/print-jobs").status_code == 403) is (
            status == 403), role
    client.cookies.clear()
    match = CSRF_FIELD.search(client.get("/booth/login").text)
    assert match
    client.post("/booth/login", data={"_csrf": match.group(1), "event": "demo",
                                      "workshop_code": "W01", "pin": DEMO_PIN})
    refused = client.get("/printing", follow_redirects=False)
    assert refused.status_code == 403 and MESSAGES["auth.forbidden"].ja in refused.text


def test_job_list_shows_prints_and_reprints_latest_first(
    world: tuple[Client, dict[str, int]], db: Database,
) -> None:
    client, programmes = world
    csrf = login(client, "desk")
    headers = {"X-CSRF-Token": csrf}
    main = programmes["main"]
    assert client.get(f"/api/v1/programmes/{main}/print-jobs").json() == []

    started = client.post(f"/api/v1/programmes/{main}/print-jobs", json={"count": 2},
                          headers=headers)
    assert started.status_code == 202, started.text
    first = wait(client, started.json()["id"])
    assert first["status"] == "done", first
    with db.read() as session:
        damaged = session.execute(
            select(Booklet.code).where(Booklet.programme_id == main, Booklet.status == "printed")
            .order_by(Booklet.serial)
        ).scalars().first()
    reprinted = client.post("/api/v1/booklets/reprint",
                            json={"booklet_codes": [damaged], "reason": "水濡れ"}, headers=headers)
    assert reprinted.status_code == 202, reprinted.text
    second = wait(client, reprinted.json()["id"])
    assert second["status"] == "done", second

    listed = client.get(f"/api/v1/programmes/{main}/print-jobs")
    assert listed.status_code == 200
    jobs = listed.json()
    assert [j["id"] for j in jobs] == [second["id"], first["id"]]  # the latest first
    latest, earlier = jobs
    # the demo's own batch is number 1 (issued without a print job)
    assert (earlier["batch_number"], earlier["reason"], earlier["total_booklets"]) == (2, "", 2)
    assert (latest["batch_number"], latest["reason"]) == (3, "reprint: 水濡れ")
    for job in jobs:
        assert job["status"] == "done" and job["percent"] == 100
        assert job["download_url"] == f"/api/v1/print-jobs/{job['id']}/pdf"
        assert job["file_bytes"] > 0
    pdf = client.get(latest["download_url"])
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"

    assert [j["id"] for j in client.get(
        f"/api/v1/programmes/{main}/print-jobs?limit=1").json()] == [second["id"]]
    too_few = client.get(f"/api/v1/programmes/{main}/print-jobs?limit=0")
    assert too_few.status_code == 422 and too_few.json()["code"] == "request.invalid"
    assert client.get(f"/api/v1/programmes/{programmes['other']}/print-jobs").json() == []
    missing = client.get("/api/v1/programmes/9999/print-jobs")
    assert missing.status_code == 404 and missing.json()["code"] == "programme.not_found"
