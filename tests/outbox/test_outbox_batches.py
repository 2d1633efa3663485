"""Sending in batches over kept SMTP connections (outbox/jobs.py, outbox/transport.py):
one connection carries many messages; a kept connection the server closed meanwhile is
replaced without sending anything twice; a worker told to stop mid-batch gives the
rest back unsent. Both databases, a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mail_helpers import (
    BANK,
    CAMPAIGN,
    SUPPORTER,
    Handler,
    LocalSMTP,
    message_row,
    pledge,
    run_mail_job,
    settings,
)
from sqlalchemy import func, select

from oflocal.db.engine import Database
from oflocal.jobs.models import Job, JobAttempt
from oflocal.jobs.worker import Worker
from oflocal.outbox import jobs as outbox_jobs
from oflocal.outbox import notices
from oflocal.outbox.jobs import MAIL_SEND_TASK
from oflocal.outbox.transport import close_kept


@dataclass
class Counting(Handler):
    """Counts the SMTP sessions (one EHLO each); can make each DATA take a while."""

    sessions: int = 0
    pause: float = 0.0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.pause:
            await asyncio.sleep(self.pause)
        return await super().handle_DATA(server, session, envelope)


def _queue(db: Database, count: int) -> list[int]:
    ids = []
    for n in range(1, count + 1):
        supporter = dataclasses.replace(SUPPORTER, email=f"s{n}@example.jp")
        with db.write() as session:
            ids.append(notices.pledge_received(session, supporter=supporter,
                                               campaign=CAMPAIGN, pledge=pledge(n),
                                               payment=BANK))
    return ids


def _server(handler: Handler, **kwargs: Any) -> LocalSMTP:
    server = LocalSMTP(handler, hostname="127.0.0.1", port=0, **kwargs)
    server.start()
    return server


def test_one_connection_carries_a_whole_batch(db: Database, tmp_path: Path) -> None:
    handler = Counting()
    server = _server(handler)
    try:
        ids = _queue(db, 30)
        config = settings(db, tmp_path, smtp_host="127.0.0.1", smtp_port=server.port,
                          smtp_starttls=False)
        worker = Worker(db, config, [MAIL_SEND_TASK], threads=1, name="batch")
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while not all(message_row(db, i).state == "sent" for i in ids):
                assert time.monotonic() < deadline, "not sent in 30 s"
                time.sleep(0.05)
        finally:
            assert worker.stop(timeout=10)
    finally:
        server.stop()
    assert sorted(r.recipients[0] for r in handler.received) == sorted(
        f"s{n}@example.jp" for n in range(1, 31))
    assert handler.sessions == 1  # 30 messages, two batches, one connection
    assert all(message_row(db, i).attempts == 1 for i in ids)
    with db.read() as session:
        claims = session.execute(select(JobAttempt.owner, JobAttempt.outcome, func.count())
                                 .group_by(JobAttempt.owner, JobAttempt.outcome)).all()
        statuses = set(session.execute(select(Job.status)).scalars())
    assert [(outcome, n) for _, outcome, n in claims] == [("done", 30)]
    assert statuses == {"done"}


def test_a_kept_connection_closed_by_the_server_is_replaced(db: Database,
                                                            tmp_path: Path) -> None:
    handler = Counting()
    server = _server(handler, timeout=0.3)  # the server drops a connection idle 0.3 s
    try:
        first, second = _queue(db, 2)
        config = settings(db, tmp_path, smtp_host="127.0.0.1", smtp_port=server.port,
                          smtp_starttls=False)
        assert run_mail_job(db, config, first)  # keeps this thread's connection open
        time.sleep(0.8)  # the server closes it (421, timeout)
        assert run_mail_job(db, config, second)  # MAIL FROM fails: a new connection
    finally:
        close_kept()
        server.stop()
    assert [r.recipients for r in handler.received] == [["s1@example.jp"], ["s2@example.jp"]]
    assert handler.sessions == 2
    assert [(message_row(db, i).state, message_row(db, i).attempts)
            for i in (first, second)] == [("sent", 1), ("sent", 1)]


def test_a_stopping_worker_gives_the_rest_of_its_batch_back(db: Database, tmp_path: Path,
                                                            monkeypatch: Any) -> None:
    monkeypatch.setattr(outbox_jobs, "RECORD_SECONDS", 0.0)  # record after each message
    handler = Counting(pause=0.2)
    server = _server(handler)
    try:
        ids = _queue(db, 10)
        config = settings(db, tmp_path, smtp_host="127.0.0.1", smtp_port=server.port,
                          smtp_starttls=False)
        worker = Worker(db, config, [MAIL_SEND_TASK], threads=1, name="stopping")
        worker.start()
        deadline = time.monotonic() + 20
        while len(handler.received) < 2:
            assert time.monotonic() < deadline, "nothing sent in 20 s"
            time.sleep(0.01)
        stopper = threading.Thread(target=worker.stop, kwargs={"timeout": 10})
        stopper.start()
        stopper.join(15)
        assert not stopper.is_alive()
    finally:
        server.stop()
    sent = {r.recipients[0] for r in handler.received}
    assert 2 <= len(sent) < 10  # stopped mid-batch
    rows = [message_row(db, i) for i in ids]
    assert {r.to_address for r in rows if r.state == "sent"} == sent
    for row in rows:  # the rest: queued again, their attempt not counted
        assert (row.state, row.attempts) == (("sent", 1) if row.to_address in sent
                                             else ("queued", 0))
    with db.read() as session:
        outcomes = dict(session.execute(select(JobAttempt.outcome, func.count())
                                        .group_by(JobAttempt.outcome)).all())
        queued = session.execute(select(func.count()).select_from(Job)
                                 .where(Job.status == "queued")).scalar_one()
    assert outcomes == {"done": len(sent), "released": 10 - len(sent)}
    assert queued == 10 - len(sent)
