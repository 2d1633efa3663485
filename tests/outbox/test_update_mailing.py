"""An update mailed to 5,000 supporters through an SMTP server that refuses one delivery
in ten at random ("451 try again later"), by two ``oflocal worker`` processes that are
stopped half-way (SIGTERM) and started again: every address gets the update exactly
once, nothing is left failed, and the retries show in the attempts. Both databases.

The supporters are seeded in bulk (seeding is not what is tested); the mailing, the
outbox, the job queue, the workers and SMTP are the real ones."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from mail_helpers import LocalSMTP
from sqlalchemy import func, insert, select

from oflocal import clock
from oflocal.crowdfunding.campaigns import add_reward, create_campaign, go_live
from oflocal.crowdfunding.models import Pledge
from oflocal.db.engine import Database
from oflocal.demo import build_event, describe_demo_committee
from oflocal.outbox.models import MailMessage
from oflocal.supporters.updates import mailing_progress, publish_update, write_update
from oflocal.vouchers.codes import CodeSigner

pytestmark = pytest.mark.slow
SUPPORTERS = 5000
LEGAL = {"representative": "山田太郎", "phone": "0766-00-0000", "price_note": "税込",
         "extra_charges": "なし", "payment_terms": "7日以内", "delivery_terms": "10月",
         "cancellation_terms": "入金前は取消可"}


@dataclass
class Flaky:
    """Accepts a delivery, or refuses one in ten for now (4xx: the sender retries)."""

    rng: random.Random = field(default_factory=lambda: random.Random(20261207))
    accepted: Counter[str] = field(default_factory=Counter)
    refused: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.rng.random() < 0.10:
            self.refused += 1
            return "451 4.3.0 Try again later"
        for address in envelope.rcpt_tos:
            self.accepted[address] += 1
        return "250 Message accepted for delivery"


def _seed(db: Database) -> int:
    """A live campaign and 5,000 paid supporters of it (rows written in bulk)."""
    now = clock.now()
    with db.write() as session:
        scenario = build_event(session, CodeSigner(b"k" * 32), slug="demo", workshops=1,
                               booklets=0)
        describe_demo_committee(session, scenario.event_id)
    campaign = create_campaign(db, event_id=scenario.event_id, slug="hitsuji", title="ひつじ団",
                               goal=100_000, starts_at=now - timedelta(days=1),
                               ends_at=now + timedelta(days=10), story="支援を。",
                               payment_methods=["bank_transfer"], now=now, **LEGAL)
    reward = add_reward(db, campaign.id, title="応援", price=3000, delivery_month="2026-10",
                        items=[{"kind": "tour_invite"}])
    go_live(db, campaign.id, now=now)
    rows = [{"campaign_id": campaign.id, "reward_id": reward.id, "reference": f"S{i:07d}",
             "supporter_name": f"支援者{i}", "supporter_email": f"s{i}@example.jp",
             "supporter_phone": "+819012345678", "lang": "ja" if i % 5 else "en",
             "quantity": 1, "amount": 3000, "shipping": 0, "total": 3000, "answers": {},
             "payment_method": "bank_transfer", "state": "paid",
             "payment_deadline": now + timedelta(days=7), "created_at": now, "paid_at": now}
            for i in range(SUPPORTERS)]
    with db.write() as session:
        session.execute(insert(Pledge), rows)
    return campaign.id


def _workers(db_url: str, data_dir: Path, port: int, tag: str) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "OFLOCAL_DATABASE_URL": db_url, "OFLOCAL_DATA_DIR": str(data_dir),
           "OFLOCAL_SMTP_HOST": "127.0.0.1", "OFLOCAL_SMTP_PORT": str(port),
           "OFLOCAL_SMTP_STARTTLS": "0", "OFLOCAL_WORKER_THREADS": "3",
           "OFLOCAL_JOB_POLL_SECONDS": "0.05", "OFLOCAL_JOB_RETRY_SECONDS": "0.05",
           "OFLOCAL_JOB_LEASE_SECONDS": "10", "OFLOCAL_JOB_HEARTBEAT_SECONDS": "1"}
    started = []
    for n in range(2):
        with (data_dir / f"worker-{tag}{n}.log").open("wb") as log:
            started.append(subprocess.Popen([sys.executable, "-m", "oflocal", "worker"],
                                            env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True))
    return started


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError("a worker did not stop on SIGTERM") from None


def _wait(what: str, done: Any, data_dir: Path, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            logs = "\n".join(p.read_text(errors="replace")[-3000:]
                             for p in sorted(data_dir.glob("worker-*.log")))
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.1)


def test_5000_supporters_each_get_the_update_once_through_a_flaky_server_and_a_restart(
        db: Database, db_url: str, tmp_path: Path) -> None:
    campaign_id = _seed(db)
    update_id = write_update(db, campaign_id, title="工場見学の日程", body="10月12日です。",
                             audience="supporters", author="staff:1")
    publish_update(db, update_id)
    handler = Flaky()
    server = LocalSMTP(handler, hostname="127.0.0.1", port=0)
    server.start()
    try:
        first = _workers(db_url, tmp_path, server.port, "a")
        try:
            _wait("a third of the mail", lambda: sum(handler.accepted.values()) >= 1500,
                  tmp_path)
        finally:
            _stop(first)
        halfway = sum(handler.accepted.values())
        assert halfway < SUPPORTERS, "stopped too late to test a restart"
        second = _workers(db_url, tmp_path, server.port, "b")
        try:
            _wait("every message sent",
                  lambda: mailing_progress(db, update_id).sent == SUPPORTERS, tmp_path)
        finally:
            _stop(second)
    finally:
        server.stop()
    expected = {f"s{i}@example.jp" for i in range(SUPPORTERS)}
    assert set(handler.accepted) == expected
    assert [a for a, n in handler.accepted.items() if n != 1] == []  # exactly once each
    assert handler.refused > SUPPORTERS * 0.05  # the server did refuse, and we retried
    progress = mailing_progress(db, update_id)
    assert (progress.recipients, progress.queued, progress.sent, progress.failed,
            progress.all_queued) == (SUPPORTERS, SUPPORTERS, SUPPORTERS, 0, True)
    with db.read() as session:
        attempts = session.execute(select(func.sum(MailMessage.attempts)).where(
            MailMessage.about == f"update:{update_id}")).scalar_one()
    assert attempts == SUPPORTERS + handler.refused
