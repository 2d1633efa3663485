"""Sending: through a real SMTP server on 127.0.0.1 (aiosmtpd), retried while it is down,
once however many workers race, and to .eml files when no server is configured."""

from __future__ import annotations

import dataclasses
import email
import subprocess
import threading
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from mail_helpers import (
    BANK,
    CAMPAIGN,
    SUPPORTER,
    Handler,
    LocalSMTP,
    authenticator,
    free_port,
    job_id_of,
    message_row,
    pledge,
    run_mail_job,
    settings,
)
from sqlalchemy import select, update

from oflocal.db.engine import Database
from oflocal.jobs import queue
from oflocal.jobs.models import Job, JobAttempt
from oflocal.jobs.worker import Worker
from oflocal.outbox import notices
from oflocal.outbox.jobs import MAIL_SEND_TASK
from oflocal.outbox.messages import MAIL_SEND, NotRetryable, retry_message
from oflocal.settings import Jobs

SUBJECT = "【尾州ひつじサミット2026 ひつじ団】ご支援を受け付けました（P-000012）"


def queue_pledge(db: Database, pledge_id: int = 12, *, to: str = SUPPORTER.email,
                 language: str = "ja") -> int:
    supporter = dataclasses.replace(SUPPORTER, email=to, language=language)
    with db.write() as session:
        return notices.pledge_received(session, supporter=supporter, campaign=CAMPAIGN,
                                       pledge=pledge(pledge_id), payment=BANK)


def job_of(db: Database, message_id: int, send_round: int = 1) -> Job:
    with db.read() as session:
        job = session.get(Job, job_id_of(db, message_id, send_round))
        assert job is not None
        session.expunge(job)
        return job


def pause_over(db: Database, message_id: int) -> None:
    """The job's retry pause has passed (rather than waiting for it)."""
    with db.write() as session:
        session.execute(update(Job).where(Job.id == job_id_of(db, message_id))
                        .values(run_after=datetime(2000, 1, 1).astimezone()))


def check_pledge_mail(message: EmailMessage, message_id: int) -> None:
    assert message["Subject"] == SUBJECT  # decoded from its MIME encoded-words
    assert message["To"].addresses[0].display_name == "山田 太郎"
    assert message["To"].addresses[0].addr_spec == "taro@example.jp"
    assert message["From"].addresses[0].display_name == "ひつじ団事務局"
    assert message["Message-ID"].startswith(f"<oflocal.mail.{message_id}.")
    assert message["Message-ID"].endswith("@hitsuji.example.jp>")
    assert message["Date"].datetime.utcoffset() == timedelta(hours=9)  # Tokyo time
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    body = message.get_content()
    assert "山田 太郎 様" in body and "¥12,000" in body and "H0012" in body
    assert "2026年1月31日（土） 23:59 までにお振り込みください" in body


def test_sent_through_a_local_smtp_server(db: Database, tmp_path: Path,
                                          smtp: tuple[LocalSMTP, Handler]) -> None:
    server, handler = smtp
    message_id = queue_pledge(db)
    english = queue_pledge(db, 13, language="en")
    config = settings(db, tmp_path, smtp_host="127.0.0.1", smtp_port=server.port,
                      smtp_starttls=False)
    assert run_mail_job(db, config, message_id)
    assert run_mail_job(db, config, english)

    first, second = handler.received
    assert (first.sender, first.recipients) == ("info@hitsuji.example.jp", ["taro@example.jp"])
    raw = first.data.decode("ascii")  # 7-bit clean on the wire: encoded words and base64
    assert "Subject: =?utf-8?" in raw and "Content-Transfer-Encoding: base64" in raw
    check_pledge_mail(first.message, message_id)
    assert second.message["Subject"] == (
        "[尾州ひつじサミット2026 ひつじ団] Thank you for your pledge (P-000013)")
    assert "by Sat 31 Jan 2026 23:59 (Japan time)" in second.message.get_content()
    row = message_row(db, message_id)
    assert (row.state, row.transport, row.attempts, row.last_error) == ("sent", "smtp", 1, None)
    assert row.sent_at is not None and job_of(db, message_id).status == "done"
    assert not run_mail_job(db, config, message_id)  # done: never sent again
    assert len(handler.received) == 2


def test_starttls_and_login(db: Database, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this server's cert
    handler = Handler()
    server = LocalSMTP(handler, hostname="127.0.0.1", port=0, tls_context=tls,
                       require_starttls=True, authenticator=authenticator({"hitsuji": "pw"}),
                       auth_require_tls=True)
    server.start()
    try:
        message_id = queue_pledge(db)
        config = settings(db, tmp_path, smtp_host="127.0.0.1", smtp_port=server.port,
                          smtp_user="hitsuji", smtp_password="pw")
        assert config.mail.smtp_starttls  # the default
        assert run_mail_job(db, config, message_id)
    finally:
        server.stop()
    (received,) = handler.received
    assert received.tls and received.login == b"hitsuji"
    check_pledge_mail(received.message, message_id)


def test_smtp_down_is_retried_later_then_sent(db: Database, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet: the server is down
    message_id = queue_pledge(db)
    config = settings(db, tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    before = datetime.now().astimezone()
    assert run_mail_job(db, config, message_id)
    row, job = message_row(db, message_id), job_of(db, message_id)
    assert (row.state, row.attempts) == ("queued", 1)
    assert row.last_error is not None and "ConnectionRefusedError" in row.last_error
    assert job.status == "queued" and job.run_after >= before + timedelta(seconds=4)
    assert not run_mail_job(db, config, message_id)  # not before its pause is over

    handler = Handler()
    server = LocalSMTP(handler, hostname="127.0.0.1", port=port)
    server.start()  # the server is back
    try:
        pause_over(db, message_id)
        assert run_mail_job(db, config, message_id)
    finally:
        server.stop()
    row = message_row(db, message_id)
    assert (row.state, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(handler.received) == 1
    check_pledge_mail(handler.received[0].message, message_id)
    with db.read() as session:
        outcomes = session.execute(
            select(JobAttempt.outcome).where(JobAttempt.job_id == job_id_of(db, message_id))
            .order_by(JobAttempt.attempt)).scalars().all()
    assert outcomes == ["retry", "done"]


def test_out_of_attempts_it_fails_and_can_be_retried(
    db: Database, tmp_path: Path, smtp: tuple[LocalSMTP, Handler],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("oflocal.outbox.messages.MAX_ATTEMPTS", 2)
    message_id = queue_pledge(db)
    down = settings(db, tmp_path, smtp_host="127.0.0.1", smtp_port=free_port(),
                    smtp_starttls=False)
    for _ in range(2):
        pause_over(db, message_id)
        assert run_mail_job(db, down, message_id)
    row = message_row(db, message_id)
    assert (row.state, row.attempts, job_of(db, message_id).status) == ("failed", 2, "failed")
    assert row.last_error is not None and "ConnectionRefusedError" in row.last_error

    assert retry_message(db, message_id) == 2  # after the server was fixed
    with pytest.raises(NotRetryable, match="in the queue already"):
        retry_message(db, message_id)
    server, handler = smtp
    up = settings(db, tmp_path, smtp_host="127.0.0.1", smtp_port=server.port,
                  smtp_starttls=False)
    assert run_mail_job(db, up, message_id, send_round=2)
    row = message_row(db, message_id)
    assert (row.state, row.attempts, row.send_round) == ("sent", 3, 2)
    assert len(handler.received) == 1
    with pytest.raises(NotRetryable, match="never sent twice"):
        retry_message(db, message_id)


def test_a_recipient_refused_for_good_is_not_retried(
    db: Database, tmp_path: Path, smtp: tuple[LocalSMTP, Handler]
) -> None:
    server, handler = smtp
    handler.refuse.add("gone@example.jp")
    message_id = queue_pledge(db, to="gone@example.jp")
    config = settings(db, tmp_path, smtp_host="127.0.0.1", smtp_port=server.port,
                      smtp_starttls=False)
    assert run_mail_job(db, config, message_id)
    row = message_row(db, message_id)
    assert row.state == "failed" and row.last_error is not None and "550" in row.last_error
    assert job_of(db, message_id).status == "done"  # the job did its work: nothing to retry
    assert handler.received == []


def test_racing_workers_send_each_message_once(
    db: Database, tmp_path: Path, smtp: tuple[LocalSMTP, Handler]
) -> None:
    server, handler = smtp
    config = settings(db, tmp_path, smtp_host="127.0.0.1", smtp_port=server.port,
                      smtp_starttls=False)
    workers = [Worker(db, config, [MAIL_SEND_TASK], threads=3, name=f"w{n}") for n in range(2)]
    ids = [queue_pledge(db, n) for n in range(1, 9)]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 20
        while not all(message_row(db, i).state == "sent" for i in ids):
            assert time.monotonic() < deadline, "the messages were not sent in 20 s"
            time.sleep(0.05)
    finally:
        for worker in workers:
            assert worker.stop(timeout=10)
    assert len(handler.received) == len(ids)
    message_ids = [r.message["Message-ID"] for r in handler.received]
    assert len(set(message_ids)) == len(ids)
    assert all(message_row(db, i).attempts == 1 for i in ids)


def test_a_worker_that_lost_its_lease_cannot_mark_the_message(
    db: Database, tmp_path: Path, smtp: tuple[LocalSMTP, Handler]
) -> None:
    """At least once: a worker paused after handing the message to the server loses its
    lease; the next worker sends it again, with the same Message-ID, and only that
    worker's attempt is recorded."""
    server, handler = smtp
    handler.hold_first = True
    message_id = queue_pledge(db)
    config = settings(db, tmp_path, smtp_host="127.0.0.1", smtp_port=server.port,
                      smtp_starttls=False)
    short = dataclasses.replace(config, jobs=Jobs(lease_seconds=0.5, heartbeat_seconds=0.2))
    slow = Worker(db, short, [MAIL_SEND_TASK], threads=1, name="slow")
    claimed = queue.claim(db, "slow", [MAIL_SEND], lease_seconds=0.5)  # no heartbeats
    assert claimed is not None
    first = threading.Thread(target=slow.run, args=(claimed,))
    first.start()
    assert handler.holding.wait(10)  # the server has the slow worker's DATA
    time.sleep(0.6)  # and its lease runs out
    assert run_mail_job(db, config, message_id)  # another worker takes the job over
    handler.release.set()
    first.join(10)
    assert not first.is_alive()
    row = message_row(db, message_id)
    assert (row.state, row.attempts) == ("sent", 2)
    assert len(handler.received) == 2
    copies = {r.message["Message-ID"] for r in handler.received}
    assert len(copies) == 1  # recognisably the same message
    with db.read() as session:
        outcomes = session.execute(
            select(JobAttempt.outcome).where(JobAttempt.job_id == claimed.job_id)
            .order_by(JobAttempt.attempt)).scalars().all()
    assert outcomes == ["expired", "done"]


def test_without_smtp_the_messages_are_eml_files(db: Database, tmp_path: Path) -> None:
    message_id = queue_pledge(db)
    config = settings(db, tmp_path)
    assert config.mail.smtp_host is None
    assert run_mail_job(db, config, message_id)
    path = tmp_path / "outbox" / f"{message_id:06d}-pledge_received.eml"
    raw = path.read_bytes()
    assert "ご支援をお申し込みいただき" in raw.decode("utf-8")  # readable in an editor
    assert b"\r\n" in raw and b"Content-Transfer-Encoding: 8bit" in raw
    with path.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=default)
    assert isinstance(message, EmailMessage)
    check_pledge_mail(message, message_id)
    row = message_row(db, message_id)
    assert (row.state, row.transport) == ("sent", "file")
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [path.name]  # no .part left
