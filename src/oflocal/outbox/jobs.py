"""The ``mail.send`` task: deliver one queued message, once, with retries.

1. A fenced write (the job is still this worker's) moves the message from ``queued``
   (or ``sending``: an earlier attempt was cut short) to ``sending`` and counts the
   attempt, but only for the job of the message's current round: a message is touched
   by one job at a time, and that job by one worker at a time (its lease).
2. Outside any transaction (no remote call inside one), the message goes to the SMTP
   server, or to a ``.eml`` file when no server is set.
3. A second fenced write marks it ``sent`` and ends the job, together. An error that may
   pass (server down, timeout, 4xx) puts the message back to ``queued`` and raises: the
   job queue retries after 5, 10, 20 … 300 s, and after the last attempt ``give_up``
   marks it ``failed``. A recipient refused for good (5xx) fails it at once.

**At least once.** If a worker dies (or loses its lease) after the server accepted the
message and before step 3 commits, the next attempt sends it again: SMTP cannot take
part in our transaction. Such a copy has the same Message-ID (``compose.message_id``,
from the message's id) and Date, so mail programs and people can tell it is the same
message; the row's ``attempts`` shows it was tried more than once. Files do not
duplicate: a second attempt rewrites the same file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.jobs.worker import JobContext, Task
from oflocal.outbox.compose import Letter, compose
from oflocal.outbox.messages import MAIL_SEND, MAX_ATTEMPTS
from oflocal.outbox.models import MailMessage
from oflocal.outbox.transport import Undeliverable, outbox_dir, send_smtp, write_eml

log = logging.getLogger("oflocal.outbox")

ERROR_LENGTH = 1000


def _this_round(payload: Mapping[str, Any]) -> Any:
    return and_(MailMessage.id == int(payload["message_id"]),
                MailMessage.send_round == int(payload["round"]))


def file_name(message_id: int, kind: str) -> str:
    return f"{message_id:06d}-{kind}.eml"


def send_message(context: JobContext) -> None:
    mine = _this_round(context.payload)
    context.check()  # the worker is stopping: give the job back before it starts
    with context.write() as session:
        row = session.execute(
            update(MailMessage)
            .where(mine, MailMessage.state.in_(("queued", "sending")))
            .values(state="sending", attempts=MailMessage.attempts + 1)
            .returning(MailMessage.id, MailMessage.to_address, MailMessage.to_name,
                       MailMessage.kind, MailMessage.language, MailMessage.subject,
                       MailMessage.text_body, MailMessage.html_body, MailMessage.dedupe_key,
                       MailMessage.created_at, MailMessage.unsubscribe_url)
        ).first()
    if row is None:
        return  # sent or failed already, or queued again under a later round's job
    letter = Letter(**row._asdict())
    mail = context.settings.mail
    try:
        if mail.smtp_host:
            send_smtp(compose(letter, mail.mail_from), mail, letter.to_address)
            transport = "smtp"
        else:
            write_eml(compose(letter, mail.mail_from, cte="8bit"),
                      outbox_dir(context.settings.data_dir), file_name(letter.id, letter.kind))
            transport = "file"
    except Undeliverable as error:
        with context.finish() as session:
            session.execute(update(MailMessage).where(mine, MailMessage.state == "sending")
                            .values(state="failed", last_error=str(error)[:ERROR_LENGTH]))
        log.warning("mail %s not sent, for good: %s", letter.id, error)
        return
    except Exception as error:
        with context.write() as session:
            session.execute(
                update(MailMessage).where(mine, MailMessage.state == "sending")
                .values(state="queued",
                        last_error=f"{type(error).__name__}: {error}"[:ERROR_LENGTH]))
        raise
    with context.finish() as session:
        session.execute(update(MailMessage).where(mine, MailMessage.state == "sending")
                        .values(state="sent", transport=transport, sent_at=clock.now(),
                                last_error=None))
    log.info("mail %s (%s) sent by %s", letter.id, letter.kind, transport)


def record_failure(session: Session, payload: Mapping[str, Any], error: str) -> None:
    """The job was given up: the message says so, with the reason."""
    session.execute(
        update(MailMessage)
        .where(_this_round(payload), MailMessage.state.in_(("queued", "sending")))
        .values(state="failed", last_error=error[:ERROR_LENGTH])
    )


MAIL_SEND_TASK = Task(kind=MAIL_SEND, run=send_message, give_up=record_failure,
                      max_attempts=MAX_ATTEMPTS)
