"""``oflocal mail test|list|show|retry``, in this process, against the test's database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mail_helpers import message_row
from sqlalchemy import update

from oflocal import cli_base
from oflocal.cli import main
from oflocal.db.engine import Database
from oflocal.outbox.models import MailMessage
from oflocal.settings import get_settings


def _clear() -> None:
    if cli_base.database.cache_info().currsize:
        cli_base.database().dispose()
    for cached in (get_settings, cli_base.settings, cli_base.database):
        cached.cache_clear()


@pytest.fixture
def run(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("OFLOCAL_DATABASE_URL", db_url)
    monkeypatch.setenv("OFLOCAL_DATA_DIR", str(tmp_path))
    for name in ("OFLOCAL_SMTP_HOST", "OFLOCAL_MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)
    _clear()

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, ["mail", *args])

    yield invoke
    _clear()


def test_mail_commands(run: object, db: Database, tmp_path: Path) -> None:
    invoke = run
    assert callable(invoke)
    sent = invoke("test", "taro@example.jp", "--name", "山田 太郎")
    assert sent.exit_code == 0, sent.output
    assert f"message 1 sent (file: {tmp_path / 'outbox'})" in sent.output
    assert (tmp_path / "outbox" / "000001-test.eml").is_file()
    refused = invoke("test", "not-an-address")
    assert refused.exit_code == 1 and "not an e-mail address" in refused.output

    with db.write() as session:  # as if the server had refused it for good
        session.execute(update(MailMessage).where(MailMessage.id == 1).values(
            state="failed", transport=None, sent_at=None, last_error="550 no such mailbox"))
    listed = invoke("list", "--state", "failed")
    assert listed.exit_code == 0
    assert "failed" in listed.output and "oflocal テストメール" in listed.output
    assert "last error: 550 no such mailbox" in listed.output
    shown = invoke("show", "1")
    assert shown.exit_code == 0
    assert "Subject: oflocal テストメール" in shown.output and "山田 太郎 様" in shown.output

    retried = invoke("retry", "--failed")
    assert retried.exit_code == 0 and "message 1 queued again (round 2)" in retried.output
    assert message_row(db, 1).state == "queued"
    again = invoke("retry", "1")
    assert again.exit_code == 1 and "in the queue already" in again.output
    assert invoke("retry", "--failed").output.strip() == "no failed messages"
    assert "queued" in invoke("list").output
