"""Updates (活動報告) over the API and the CLI, on both databases: a draft written,
changed and published over HTTP; a publish sent twice, or retried with its
Idempotency-Key, publishes and mails once; a supporters-only update shows only its title
on the public campaign page; bad input answers its documented code and changes nothing;
``oflocal campaign update …`` does the same from a terminal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cf_world import World, build_world, pledge
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select

from apps import client_for
from oflocal import clock
from oflocal.auth.service import create_staff_user, issue_api_token
from oflocal.crowdfunding.payments import mark_paid
from oflocal.db.engine import Database
from oflocal.job_kinds import TASKS
from oflocal.jobs.models import Job
from oflocal.jobs.worker import Worker
from oflocal.outbox.models import MailMessage
from oflocal.settings import Jobs, Settings
from oflocal.supporters.models import CampaignUpdate
from oflocal.supporters.updates import MAILING


@pytest.fixture
def world(db: Database) -> World:
    """a: paid, the tour; b: paid, the thanks; c: reserved (unpaid), the tour."""
    now = clock.now()
    w = build_world(db, around=now)
    for email, reward, paid in (("a@example.jp", w.limited, True),
                                ("b@example.jp", w.free, True),
                                ("c@example.jp", w.limited, False)):
        made = pledge(w, reward, email=email, now=now,
                      **({"amount": 3000} if reward == w.free else {})).body
        if paid:
            mark_paid(db, made["pledge_id"], source="bank", amount=made["total"],
                      actor="staff:1", now=now)
    return w


class Api:
    def __init__(self, client: TestClient[Litestar], token: str) -> None:
        self.client, self.token = client, token

    def call(self, method: str, url: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        return self.client.request(method, f"/api/v1{url}", json=body, headers=headers)


@pytest.fixture
def api(db: Database, secret: bytes, tmp_path: Path) -> Iterator[Api]:
    admin = create_staff_user(db, username="boss", display_name="事務局", role="admin",
                              password="boss password 1")
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret,
                        jobs=Jobs(poll_seconds=0.05, heartbeat_seconds=1.0))
    with client_for(settings, db) as client:
        yield Api(client, issue_api_token(db, name="t", staff_user_id=admin))


def _finished(api: Api, campaign_id: int, update_id: int) -> dict[str, Any]:
    """The mailing's progress, once the API says it is finished."""
    deadline = time.monotonic() + 30
    while True:
        answer = api.call("GET", f"/campaigns/{campaign_id}/updates/{update_id}/progress")
        assert answer.status_code == 200, answer.text
        progress: dict[str, Any] = answer.json()
        if progress["finished"]:
            return progress
        assert time.monotonic() < deadline, progress
        time.sleep(0.05)


def _mailed(db: Database, update_id: int) -> list[str]:
    with db.read() as session:
        return sorted(session.execute(select(MailMessage.to_address).where(
            MailMessage.about == f"update:{update_id}")).scalars())


def _mailing_jobs(db: Database, update_id: int) -> int:
    with db.read() as session:
        jobs = session.execute(select(Job.payload).where(Job.kind == MAILING)).scalars()
        return sum(1 for payload in jobs if payload.get("update_id") == update_id)


def _state(db: Database) -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    with db.read() as session:
        rows = tuple(session.execute(select(
            CampaignUpdate.id, CampaignUpdate.title, CampaignUpdate.body,
            CampaignUpdate.audience, CampaignUpdate.reward_ids, CampaignUpdate.send_mail,
            CampaignUpdate.published_at).order_by(CampaignUpdate.id)))
        counts = tuple(session.execute(select(func.count()).select_from(t)).scalar_one()
                       for t in (MailMessage, Job))
    return rows, counts


def test_write_change_and_publish_once_over_http(world: World, api: Api) -> None:
    db, cid = world.db, world.campaign_id
    made = api.call("POST", f"/campaigns/{cid}/updates", {
        "title": "工場見学の日程", "body": "**10月12日**に決まりました。",
        "audience": "supporters"})
    assert made.status_code == 201, made.text
    update = made.json()
    uid = update["id"]
    assert (update["number"], update["state"], update["audience"], update["send_mail"],
            update["mailing"]) == (1, "draft", "supporters", True, None)
    assert update["author"].startswith("staff:")
    assert [u["id"] for u in api.call("GET", f"/campaigns/{cid}/updates").json()] == [uid]
    assert "工場見学の日程" not in api.client.get("/c/demo/hitsuji").text  # a draft

    changed = api.call("PATCH", f"/campaigns/{cid}/updates/{uid}",
                       {"body": "**10月12日（日）**に決まりました。"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["title"], changed.json()["body"], changed.json()["audience"]) == (
        "工場見学の日程", "**10月12日（日）**に決まりました。", "supporters")
    draft = api.call("GET", f"/campaigns/{cid}/updates/{uid}/progress").json()
    assert (draft["published_at"], draft["finished"], draft["sent"]) == (None, False, 0)

    first = api.call("POST", f"/campaigns/{cid}/updates/{uid}/publish", key="publish-1")
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "published" and first.json()["mailing"]["send_mail"]
    retried = api.call("POST", f"/campaigns/{cid}/updates/{uid}/publish", key="publish-1")
    assert retried.headers.get("idempotent-replayed") == "true"
    assert (retried.status_code, retried.json()) == (200, first.json())
    again = api.call("POST", f"/campaigns/{cid}/updates/{uid}/publish")  # no key: pressed again
    assert again.status_code == 200
    assert again.json()["published_at"] == first.json()["published_at"]

    progress = _finished(api, cid, uid)
    assert (progress["total"], progress["sent"], progress["failed"], progress["percent"]) == (
        2, 2, 0, 100)
    assert _mailed(db, uid) == ["a@example.jp", "b@example.jp"]  # once each; c has not paid
    assert _mailing_jobs(db, uid) == 1
    shown = api.call("GET", f"/campaigns/{cid}/updates/{uid}").json()
    assert shown["mailing"] == progress

    # Supporters only: the public page names it, for whom, but not its text.
    public = api.client.get("/c/demo/hitsuji").text
    assert "工場見学の日程" in public and "支援者限定です" in public
    assert "10月12日" not in public

    before = _state(db)
    refused = api.call("PATCH", f"/campaigns/{cid}/updates/{uid}", {"title": "変更"})
    assert (refused.status_code, refused.json()["code"]) == (409, "update.published")
    assert "公開済み" in refused.json()["message_ja"] and _state(db) == before


def test_a_return_update_reaches_its_supporters_and_the_audience_decides(
        world: World, api: Api) -> None:
    db, cid = world.db, world.campaign_id
    made = api.call("POST", f"/campaigns/{cid}/updates", {
        "title": "見学のご案内", "body": "集合は本社前です。", "audience": "rewards",
        "reward_ids": [world.limited, world.free]})
    assert made.status_code == 201 and made.json()["reward_ids"] == sorted(
        [world.limited, world.free])
    uid = made.json()["id"]
    narrowed = api.call("PATCH", f"/campaigns/{cid}/updates/{uid}",
                        {"reward_ids": [world.limited]}).json()
    assert (narrowed["audience"], narrowed["reward_ids"]) == ("rewards", [world.limited])
    # Everyone, then back: the returns chosen were dropped with the audience.
    assert api.call("PATCH", f"/campaigns/{cid}/updates/{uid}",
                    {"audience": "public"}).json()["reward_ids"] == []
    before = _state(db)
    lost = api.call("PATCH", f"/campaigns/{cid}/updates/{uid}", {"audience": "rewards"})
    assert (lost.status_code, lost.json()["code"]) == (422, "update.invalid")
    assert _state(db) == before
    api.call("PATCH", f"/campaigns/{cid}/updates/{uid}",
             {"audience": "rewards", "reward_ids": [world.limited]})
    assert api.call("POST", f"/campaigns/{cid}/updates/{uid}/publish").status_code == 200
    assert _finished(api, cid, uid)["sent"] == 1
    assert _mailed(db, uid) == ["a@example.jp"]
    public = api.client.get("/c/demo/hitsuji").text
    assert "見学のご案内" in public and "集合は本社前です" not in public

    quiet = api.call("POST", f"/campaigns/{cid}/updates", {
        "title": "お礼", "body": "ありがとうございました。", "audience": "public",
        "send_mail": False}).json()
    published = api.call("POST", f"/campaigns/{cid}/updates/{quiet['id']}/publish").json()
    assert published["mailing"]["finished"] and published["mailing"]["total"] is None
    assert "ありがとうございました。" in api.client.get("/c/demo/hitsuji").text
    assert _mailed(db, quiet["id"]) == [] and _mailing_jobs(db, quiet["id"]) == 0


def test_bad_input_answers_its_documented_code_and_changes_nothing(
        world: World, api: Api, db: Database) -> None:
    cid = world.campaign_id
    other = build_world(db, slug="other")
    draft = api.call("POST", f"/campaigns/{cid}/updates",
                     {"title": "下書き", "body": "本文", "audience": "public"}).json()
    path = f"/campaigns/{cid}/updates"
    document = api.client.get("/schema/openapi.json").json()["paths"]

    def documented(method: str, route: str, status: int, code: str) -> bool:
        answers = document[route][method]["responses"][str(status)]
        return code in answers["content"]["application/json"]["schema"]["properties"][
            "code"]["enum"]

    new, one = "/api/v1/campaigns/{campaign_id}/updates", \
        "/api/v1/campaigns/{campaign_id}/updates/{update_id}"
    cases = [
        ("POST", path, {"title": "x", "body": "y", "audience": "rewards",
                        "reward_ids": [other.limited]}, 422, "update.invalid", new),
        ("POST", path, {"title": "x", "body": "y", "audience": "rewards"}, 422,
         "update.invalid", new),
        ("POST", path, {"title": "x", "body": "y", "audience": "public",
                        "reward_ids": [world.limited]}, 422, "update.invalid", new),
        ("POST", path, {"title": "　", "body": "y", "audience": "public"}, 422,
         "request.invalid", new),
        ("POST", path, {"title": "x", "body": "y"}, 422, "request.invalid", new),
        ("POST", path, {"title": "x", "body": "y", "audience": "everyone"}, 422,
         "request.invalid", new),
        ("POST", path, {"title": "x", "body": "y", "audience": "public", "send_mail": "no"},
         422, "request.invalid", new),
        ("POST", path, {"title": "x", "body": "y", "audience": "public", "pinned": True},
         422, "request.invalid", new),
        ("POST", f"/campaigns/{cid + 1000}/updates",
         {"title": "x", "body": "y", "audience": "public"}, 404, "campaign.not_found", new),
        ("PATCH", f"{path}/{draft['id']}", {"title": None}, 422, "request.invalid", one),
        ("PATCH", f"{path}/{draft['id']}", {"body": "y" * 50_001}, 422, "request.invalid",
         one),
        ("PATCH", f"/campaigns/{other.campaign_id}/updates/{draft['id']}", {"title": "x"},
         404, "update.not_found", one),
        ("POST", f"/campaigns/{other.campaign_id}/updates/{draft['id']}/publish", None,
         404, "update.not_found", one + "/publish"),
        ("GET", f"/campaigns/{other.campaign_id}/updates/{draft['id']}", None, 404,
         "update.not_found", one),
    ]
    before = _state(db)
    for method, url, body, status, code, route in cases:
        answer = api.call(method, url, body)
        assert (answer.status_code, answer.json()["code"]) == (status, code), (url, body,
                                                                               answer.text)
        assert answer.json()["message_ja"] and answer.json()["message_en"]
        assert documented(method.lower(), route, status, code), (method, route, code)
        assert _state(db) == before, (method, url, body)
    wrong = api.call("POST", path, cases[0][2]).json()
    assert "活動報告の内容に誤りがあります" in wrong["message_ja"]
    assert "returns" in wrong["detail"]["detail"]
    assert api.call("GET", f"{path}/{draft['id']}").json()["state"] == "draft"


def test_the_cli_writes_edits_publishes_and_follows_the_mailing(
        run_cli: Any, world: World, db: Database, secret: bytes, tmp_path: Path) -> None:
    body = tmp_path / "update.md"
    body.write_text("\ufeff# 見学\n\n**10月12日**です。\n", encoding="utf-8")  # with a BOM
    added = run_cli("campaign", "update", "add", "hitsuji", "--event", "demo", "--title",
                    "見学の日程", "--body-file", str(body), "--audience", "rewards",
                    "--reward", "1")  # the return's number, as `campaign show` prints it
    assert added.exit_code == 0, added.output
    with db.read() as session:
        row = session.execute(select(CampaignUpdate)).scalar_one()
        uid = row.id
    assert (row.number, row.body, row.audience, row.reward_ids, row.author) == (
        1, "# 見学\n\n**10月12日**です。", "rewards", [world.limited], "cli")
    assert f"update {uid} (#1) saved as a draft" in added.output

    for audience, number in (("public", "1"), ("rewards", "9")):  # the campaign by its id
        refused = run_cli("campaign", "update", "add", str(world.campaign_id), "--title",
                          "x", "--body-file", str(body), "--audience", audience, "--reward",
                          number)
        assert refused.exit_code == 2 and "update.invalid" in refused.output
        assert "活動報告の内容に誤りがあります" in refused.output
    assert "no #9 in this campaign" in refused.output
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(CampaignUpdate)
                               ).scalar_one() == 1
    body.write_text("集合は**本社前**です。", encoding="utf-8")
    edited = run_cli("campaign", "update", "edit", str(uid), "--title", "見学のご案内",
                     "--body-file", str(body), "--no-mail")
    assert edited.exit_code == 0, edited.output
    assert run_cli("campaign", "update", "edit", str(uid), "--mail").exit_code == 0
    with db.read() as session:
        row = session.get(CampaignUpdate, uid)
        assert row is not None
        assert (row.title, row.body, row.audience, row.send_mail) == (
            "見学のご案内", "集合は**本社前**です。", "rewards", True)
    listed = run_cli("campaign", "update", "list", "hitsuji", "--event", "demo")
    assert f"{uid}  #1" in listed.output and "draft" in listed.output, listed.output
    assert "見学のご案内" in listed.output

    published = run_cli("campaign", "update", "publish", str(uid))
    assert published.exit_code == 0, published.output
    assert "counting the addresses" in published.output
    twice = run_cli("campaign", "update", "publish", str(uid))
    assert twice.exit_code == 0 and _mailing_jobs(db, uid) == 1
    # The workers (here one in this process) send it; the CLI follows.
    worker = Worker(db, Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret,
                                 jobs=Jobs(poll_seconds=0.05, heartbeat_seconds=1.0)),
                    TASKS, name="cli-test")
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while "sent 1, failed 0 of 1 (100%)]" not in (line := run_cli(
                "campaign", "update", "list", "hitsuji", "--event", "demo").output):
            assert time.monotonic() < deadline, line
            time.sleep(0.05)
    finally:
        assert worker.stop(timeout=10)
    progress = run_cli("campaign", "update", "progress", str(uid))
    assert progress.output.strip() == f"update {uid}: mailing: sent 1, failed 0 of 1 (100%)"
    as_json = run_cli("campaign", "update", "progress", str(uid), "--json")
    assert '"finished": true' in as_json.output and '"total": 1' in as_json.output
    assert _mailed(db, uid) == ["a@example.jp"]

    late = run_cli("campaign", "update", "edit", str(uid), "--title", "変更")
    assert late.exit_code == 2 and "update.published" in late.output
    nothing = run_cli("campaign", "update", "edit", str(uid))
    assert nothing.exit_code == 2 and "request.invalid" in nothing.output
    missing = run_cli("campaign", "update", "progress", str(uid + 1000))
    assert missing.exit_code == 2 and "update.not_found" in missing.output
