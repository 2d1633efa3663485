"""The automatic backups as the staff meet them, on SQLite and PostgreSQL: the job runs,
records its outcome and queues the next slot's run; a missing USB stick is a red banner
on every staff page (not on the workshop's phone) until a backup succeeds again; then
the pages say quietly when the last good one was made; the rotation deletes only this
installation's old backups; with no folder set, the pages say backups are off.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update

from oflocal import clock
from oflocal.auth.models import StaffUser
from oflocal.auth.service import create_staff_user, issue_api_token, set_workshop_pin
from oflocal.backup import rotation, status
from oflocal.backup.installation import installation_id
from oflocal.backup.jobs import BACKUP, BACKUP_TASK, schedule_backups, slot_of
from oflocal.db.engine import Database
from oflocal.demo import DEMO_PIN, build_event
from oflocal.jobs.models import Job
from oflocal.jobs.worker import Worker
from oflocal.settings import Backup, Jobs, Settings
from oflocal.vouchers.codes import CodeSigner
from oflocal.web.app import create_app
from test_pages import DESK_PASSWORD, login_desk, login_workshop

Client = TestClient[Litestar]


@pytest.fixture
def installation(db: Database, signer: CodeSigner) -> Database:
    with db.write() as session:
        build_event(session, signer, workshops=2, booklets=2)
    create_staff_user(db, username="desk", display_name="Desk", role="desk",
                      password=DESK_PASSWORD)
    set_workshop_pin(db, event_slug="demo", workshop_code="W01", pin=DEMO_PIN)
    return db


def _settings(db: Database, secret: bytes, tmp_path: Path, usb: Path | None) -> Settings:
    data_dir = tmp_path / "var"
    data_dir.mkdir(exist_ok=True)
    return Settings(data_dir=data_dir, database_url=db.url, secret_key=secret,
                    backup=Backup(dir=usb), jobs=Jobs(in_process=False))


@pytest.fixture
def pages(installation: Database, secret: bytes, tmp_path: Path) -> Iterator[tuple[Client,
                                                                               Settings]]:
    settings = _settings(installation, secret, tmp_path, tmp_path / "usb")
    with TestClient(app=create_app(settings, installation)) as client:
        yield client, settings


def _jobs(db: Database) -> list[Job]:
    with db.read() as session:
        return list(session.execute(select(Job).where(Job.kind == BACKUP)
                                    .order_by(Job.id)).scalars())


def _run_due(db: Database, worker: Worker) -> None:
    """Run the queued backup job now (the test does not wait for its slot)."""
    with db.write() as session:
        session.execute(update(Job).where(Job.kind == BACKUP, Job.status == "queued")
                        .values(run_after=clock.now() - timedelta(seconds=1)))
    claim = worker.claim("test-worker")
    assert claim is not None and claim.kind == BACKUP
    worker.run(claim)


def test_a_missing_usb_stick_is_a_red_banner_until_a_backup_succeeds(
        pages: tuple[Client, Settings], installation: Database) -> None:
    client, settings = pages
    usb = settings.backup.dir
    assert usb is not None and not usb.exists()
    worker = Worker(installation, settings, [BACKUP_TASK], name="test")
    schedule_backups(installation, settings)
    schedule_backups(installation, settings)  # a second worker starting: the same job
    [first] = _jobs(installation)
    assert first.run_after <= clock.now() + timedelta(seconds=1)  # this slot: at once

    _run_due(installation, worker)
    recorded = status.read_status(settings.data_dir)
    assert recorded is not None and not recorded.last_ok
    assert recorded.error_code == "backup.target_missing"
    jobs = _jobs(installation)
    assert [j.status for j in jobs] == ["done", "queued"]  # failed backup, next one queued
    slot = slot_of(jobs[1].run_after, 10)
    assert slot == slot_of(clock.now(), 10) + 1
    # at the slot's start (PostgreSQL adds the delay to the INSERT's own timestamp)
    assert -0.01 < jobs[1].run_after.timestamp() - slot * 600 < 2

    # The same judgement as JSON, for a monitoring script (staff tokens only).
    with installation.read() as session:
        desk_id = session.execute(select(StaffUser.id).where(
            StaffUser.username == "desk")).scalar_one()
    monitor = issue_api_token(installation, name="monitor", staff_user_id=desk_id)
    desk = {"Authorization": f"Bearer {monitor}"}
    booth = {"Authorization": f"Bearer {issue_api_token(installation, name='b', workshop_id=1)}"}
    api = client.get("/api/v1/backup/status", headers=desk).json()
    assert (api["level"], api["kind"], api["error_code"], api["target"]) == (
        "alert", "failing", "backup.target_missing", str(usb))
    assert "USBメモリ" in api["message_ja"] and "does not exist" in api["message_en"]
    assert client.get("/api/v1/backup/status", headers=booth).status_code == 403

    login_desk(client)
    page = client.get("/desk").text
    assert 'class="backup-banner backup-alert"' in page and 'role="alert"' in page
    assert "バックアップが失敗しています" in page and str(usb) in page
    assert "USBメモリ" in page
    client.cookies.set("oflocal_lang", "en")
    english = client.get("/desk").text
    client.cookies.set("oflocal_lang", "ja")
    assert "Backups are failing." in english and "does not exist" in english

    usb.mkdir()
    me = installation_id(settings.secret_key)
    now = clock.now()
    old = [usb / rotation.file_name(now - timedelta(days=40), me),
           usb / rotation.file_name(now - timedelta(days=3, hours=2), me),
           usb / rotation.file_name(now - timedelta(days=3, hours=1), me)]
    foreign = usb / rotation.file_name(now - timedelta(days=40), "ffffffff")
    for path in [*old, foreign]:
        path.write_bytes(b"")
    (usb / "README.txt").write_text("the committee's notes")
    _run_due(installation, worker)
    recorded = status.read_status(settings.data_dir)
    assert recorded is not None and recorded.last_ok and recorded.last_good_file
    assert (usb / recorded.last_good_file).stat().st_size == recorded.last_good_bytes
    left = {p.name for p in usb.iterdir()}
    # 40 days old: gone; two of the same day three days ago: the later one stays.
    assert left == {recorded.last_good_file, old[2].name, foreign.name, "README.txt"}
    assert [j.status for j in _jobs(installation)] == ["done", "done", "queued"]

    # No alarm now; the folder is on the same disk as the data here, which is said.
    page = client.get("/desk").text
    made = f"{clock.as_tokyo(datetime.fromisoformat(recorded.last_good_at or '')):%Y-%m-%d %H:%M}"
    assert "backup-alert" not in page and 'class="backup-banner backup-warn"' in page
    assert "このパソコン自身のディスク" in page and f"最後に成功したバックアップ：{made}" in page
    # On a disk of its own (a USB stick), only a quiet line in the top bar.
    status.record_success(settings.data_dir, target=usb, file=usb / recorded.last_good_file,
                          size=recorded.last_good_bytes, seconds=1, encrypted=False,
                          same_disk=False, at=datetime.fromisoformat(recorded.last_good_at or ""))
    page = client.get("/desk").text
    assert "backup-banner" not in page and f"最終バックアップ {made}" in page
    api = client.get("/api/v1/backup/status", headers=desk).json()
    assert (api["level"], api["kind"], api["error_code"], api["every_minutes"]) == (
        "ok", "ok", None, 10)
    assert api["last_good_at"] is not None and datetime.fromisoformat(
        api["last_good_at"]) == datetime.fromisoformat(recorded.last_good_at or "")

    client.cookies.clear()
    login_workshop(client)
    booth = client.get("/booth").text
    assert "backup-banner" not in booth and "最終バックアップ" not in booth


def test_staff_pages_say_when_backups_are_off(installation: Database, secret: bytes,
                                              tmp_path: Path) -> None:
    settings = _settings(installation, secret, tmp_path, None)
    with TestClient(app=create_app(settings, installation)) as client:
        login_desk(client)
        page = client.get("/desk").text
        assert 'class="backup-banner backup-warn"' in page
        assert "自動バックアップが設定されていません" in page and "OFLOCAL_BACKUP_DIR" in page
    schedule_backups(installation, settings)
    assert _jobs(installation) == []  # nothing is queued when there is no folder


def test_the_server_makes_the_first_backup_as_it_starts(installation: Database, secret: bytes,
                                                        tmp_path: Path) -> None:
    """The wiring: the web process's own worker queues the current slot as it starts and
    runs it, and the pages then say when it was made."""
    usb = tmp_path / "usb"
    usb.mkdir()
    settings = Settings(data_dir=tmp_path / "var", database_url=installation.url,
                        secret_key=secret, backup=Backup(dir=usb, synced=True),
                        jobs=Jobs(in_process=True, poll_seconds=0.2))
    with TestClient(app=create_app(settings, installation)) as client:
        deadline = clock.now() + timedelta(seconds=30)
        while status.read_status(settings.data_dir) is None and clock.now() < deadline:
            time.sleep(0.1)
        recorded = status.read_status(settings.data_dir)
        assert recorded is not None and recorded.last_ok, recorded
        assert [p.name for p in usb.iterdir()] == [recorded.last_good_file]
        login_desk(client)
        page = client.get("/desk").text
        assert "backup-banner" not in page and "最終バックアップ" in page
    statuses = [j.status for j in _jobs(installation)]
    assert statuses == ["done", "queued"]  # and the next slot's is waiting
