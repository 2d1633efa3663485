"""Facts for the notices, a local SMTP server, and a way to run the mail jobs now."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from oflocal.db.engine import Database
from oflocal.jobs.models import Job
from oflocal.jobs.worker import Worker
from oflocal.outbox.jobs import MAIL_SEND_TASK
from oflocal.outbox.models import MailMessage
from oflocal.outbox.notices import (
    BankAccount,
    Campaign,
    PaymentInstructions,
    Pledge,
    PledgeLine,
    Supporter,
)
from oflocal.settings import Jobs, Mail, Settings

SUPPORTER = Supporter(email="taro@example.jp", name="山田 太郎")
CAMPAIGN = Campaign(title="尾州ひつじサミット2026 ひつじ団",
                    committee="尾州ひつじサミット実行委員会", contact="info@hitsuji.example.jp", url="https://hitsuji.example.jp/c/1")
DEADLINE = datetime(2026, 1, 31, 14, 59, tzinfo=UTC)  # 23:59 on Saturday 31 January in Tokyo


def pledge(pledge_id: int = 12) -> Pledge:
    return Pledge(id=pledge_id, number=f"P-{pledge_id:06d}", total=12_000, shipping=1_000,
                  url=f"https://hitsuji.example.jp/p/secret-{pledge_id}",
                  lines=[PledgeLine("工場見学ご招待", 1, 5_000, date(2026, 3, 1)),
                         PledgeLine("ひつじ手ぬぐい", 2, 6_000)])


BANK = PaymentInstructions(
    method="bank_transfer", deadline=DEADLINE, reference="H0012",
    bank_account=BankAccount(bank="尾西信用金庫", branch="本店営業部", kind="普通",
                             number="1234567", holder="ビシユウヒツジサミツトジツコウイインカイ"))


def settings(db: Database, data_dir: Path, **mail: Any) -> Settings:
    return Settings(data_dir=data_dir, database_url=db.url, secret_key=b"k",
                    jobs=Jobs(lease_seconds=10.0, heartbeat_seconds=0.2, poll_seconds=0.05),
                    mail=Mail(mail_from="ひつじ団事務局 <info@hitsuji.example.jp>", **mail))


def job_id_of(db: Database, message_id: int, send_round: int = 1) -> int:
    with db.read() as session:
        return int(session.execute(
            select(Job.id).where(Job.dedupe_key == f"mail_message:{message_id}:{send_round}")
        ).scalar_one())


def run_mail_job(db: Database, settings: Settings, message_id: int, send_round: int = 1) -> bool:
    """Claim the message's job now and run it here, as a worker would."""
    worker = Worker(db, settings, [MAIL_SEND_TASK], threads=1, name="test")
    try:
        return worker.run_job(job_id_of(db, message_id, send_round))
    finally:
        worker.stop()


def message_row(db: Database, message_id: int) -> MailMessage:
    with db.read() as session:
        row = session.get(MailMessage, message_id)
        assert row is not None
        session.expunge(row)
        return row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    tls: bool
    login: bytes | None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Handler:
    """Keeps what it receives; refuses listed recipients for good; can hold the first
    DATA until ``release`` is set (to pause a sending worker)."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    hold_first: bool = False
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold_first and not self.holding.is_set():
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        login = session.auth_data
        self.received.append(Received(
            sender=envelope.mail_from, recipients=list(envelope.rcpt_tos),
            data=envelope.original_content, tls=session.ssl is not None,
            login=login if isinstance(login, bytes) else None))
        return "250 Message accepted for delivery"


class LocalSMTP(Controller):
    """aiosmtpd on 127.0.0.1; port 0 picks a free port, read back once listening."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def authenticator(users: dict[str, str]) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str,
              auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and users.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=ok, handled=False,
                          auth_data=auth_data.login if ok else None)
    return check
