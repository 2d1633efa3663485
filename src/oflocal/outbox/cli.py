"""``oflocal mail``: the outbox from the command line: list, show, retry, test."""

from __future__ import annotations

import secrets
import sys

import click

from oflocal import clock
from oflocal.cli_base import database, settings

STATES = ("queued", "sending", "sent", "failed")


@click.group("mail")
def mail_group() -> None:
    """E-mail to supporters (the outbox): what was sent, what waits, what failed."""


@mail_group.command("list")
@click.option("--state", "states", type=click.Choice(STATES), multiple=True,
              help="Only messages in this state (repeat for several).")
@click.option("--about", default=None, help="Only messages about this, e.g. pledge:12.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
def mail_list(states: tuple[str, ...], about: str | None, limit: int) -> None:
    """The newest messages first: id, queued at, state, attempts, kind, to, subject."""
    from oflocal.outbox.messages import list_messages

    rows = list_messages(database(), states=states, about=about, limit=limit)
    for m in rows:
        how = f" by {m.transport}" if m.transport else ""
        click.echo(f"{m.id:>6}  {clock.as_tokyo(m.created_at):%Y-%m-%d %H:%M}  "
                   f"{m.state + how:<13} {m.attempts:>2}×  {m.kind:<17} {m.to_address:<30} "
                   f"{m.subject}")
        if m.last_error and m.state != "sent":
            click.echo(f"{'':>8}last error: {m.last_error}")
    if not rows:
        click.echo("no messages", err=True)


@mail_group.command("show")
@click.argument("message_id", type=int)
def mail_show(message_id: int) -> None:
    """Print one message as it is sent (headers and text)."""
    from oflocal.outbox.compose import Letter, compose
    from oflocal.outbox.models import MailMessage

    with database().read() as session:
        m = session.get(MailMessage, message_id)
        if m is None:
            raise click.ClickException(f"there is no message {message_id}")
        letter = Letter(id=m.id, to_address=m.to_address, to_name=m.to_name, kind=m.kind,
                        language=m.language, subject=m.subject, text_body=m.text_body,
                        html_body=m.html_body, dedupe_key=m.dedupe_key,
                        created_at=m.created_at)
        click.echo(f"state: {m.state}, attempts: {m.attempts}, about: {m.about}"
                   + (f", last error: {m.last_error}" if m.last_error else ""))
    message = compose(letter, settings().mail.mail_from)
    for name, value in message.items():
        click.echo(f"{name}: {value}")
    click.echo("")
    click.echo(letter.text_body)


@mail_group.command("retry")
@click.argument("message_ids", type=int, nargs=-1)
@click.option("--failed", "all_failed", is_flag=True, help="Every failed message.")
def mail_retry(message_ids: tuple[int, ...], all_failed: bool) -> None:
    """Queue failed messages again (after the mail server or an address was fixed)."""
    from oflocal.outbox.messages import NotRetryable, failed_ids, retry_message

    if not message_ids and not all_failed:
        raise click.UsageError("name message ids, or --failed")
    ids = list(message_ids) + (failed_ids(database()) if all_failed else [])
    if not ids:
        click.echo("no failed messages")
    refused = 0
    for message_id in dict.fromkeys(ids):
        try:
            send_round = retry_message(database(), message_id)
        except NotRetryable as error:
            refused += 1
            click.echo(f"✕ {error}", err=True)
            continue
        click.echo(f"message {message_id} queued again (round {send_round})")
    if refused:
        sys.exit(1)


@mail_group.command("test")
@click.argument("address")
@click.option("--name", default="", help="The recipient's name.")
@click.option("--lang", "language", type=click.Choice(["ja", "en"]), default="ja",
              show_default=True)
def mail_test(address: str, name: str, language: str) -> None:
    """Send a short test message now, through the configured SMTP server (or to a file
    under <data_dir>/outbox/), and say how it went."""
    from sqlalchemy import select

    from oflocal.jobs.models import Job
    from oflocal.jobs.worker import Worker
    from oflocal.outbox.jobs import MAIL_SEND_TASK
    from oflocal.outbox.messages import job_dedupe_key
    from oflocal.outbox.models import MailMessage
    from oflocal.outbox.notices import check_message

    try:
        with database().write() as session:
            message_id = check_message(session, to=address, name=name, language=language,
                                       key=secrets.token_hex(8))
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    with database().read() as session:
        job_id = session.execute(
            select(Job.id).where(Job.dedupe_key == job_dedupe_key(message_id, 1))
        ).scalar_one()
    worker = Worker(database(), settings(), [MAIL_SEND_TASK], threads=1, name="cli")
    try:
        worker.run_job(job_id)
    finally:
        worker.stop()
    with database().read() as session:
        message = session.get(MailMessage, message_id)
        assert message is not None
    mail = settings().mail
    if message.state == "sent":
        where = (f"{mail.smtp_host}:{mail.smtp_port}" if message.transport == "smtp"
                 else str(settings().data_dir / "outbox"))
        click.echo(f"message {message_id} sent ({message.transport}: {where})")
        return
    if message.last_error is None:  # another worker claimed it first
        click.echo(f"message {message_id} is {message.state}: a worker is sending it; "
                   "see `oflocal mail list`")
        return
    click.echo(f"message {message_id} is {message.state}: {message.last_error}", err=True)
    if message.state != "failed":
        click.echo("a worker will try again; see `oflocal mail list`", err=True)
    sys.exit(1)
