"""The ``mail.send`` task: deliver each queued message once, with retries, in batches.

One ``mail.send`` job per message (its round), and a worker thread claims up to
:data:`BATCH` of them in one transaction (``jobs.worker.Task.batch``), so a mailing to
thousands costs a few transactions per twenty messages rather than three per message:

1. One fenced write (every job still this worker's) moves the batch's messages from
   ``queued`` (or ``sending``: an earlier attempt was cut short) to ``sending`` and
   counts an attempt on each, but only for the job of the message's current round: a
   message is touched by one job at a time, and that job by one worker at a time (its
   lease). A job whose message was sent, failed or queued again meanwhile just ends.
2. Outside any transaction (no remote call inside one), the messages go to the SMTP
   server one after the other over the thread's kept connection (``transport.py``), or
   to ``.eml`` files when no server is set.
3. Another fenced write records the outcomes, at the end of the batch and at least
   every :data:`RECORD_SECONDS` while it is sent: ``sent`` (the job ends with it); a
   recipient refused for good (5xx) ``failed`` at once; an error that may pass (server
   down, timeout, 4xx) puts the message back to ``queued`` and fails that job's attempt,
   so the job queue retries it after 5, 10, 20 … 300 s, and after the last attempt
   ``give_up`` marks it ``failed``. A job found lost (its lease ran out and another
   worker took it) is left alone: nothing of this attempt is written about it.
4. A worker told to stop sends no further message of its batch: in the same write as
   the outcomes so far, the rest go back to ``queued`` (their attempt uncounted, nothing
   was sent) and their jobs are given back.

**At least once.** If a worker dies (or loses its lease) after the server accepted a
message and before step 3 commits, the next attempt sends it again: SMTP cannot take
part in our transaction. That window covers the messages of one batch sent since the
last record (at most :data:`BATCH`, and at most :data:`RECORD_SECONDS` of sending).
Such a copy has the same Message-ID (``compose.message_id``, from the message's id)
and Date, so mail programs and people can tell it is the same message; the row's
``attempts`` shows it was tried more than once. Files do not duplicate: a second attempt
rewrites the same file. A worker that is stopped (SIGTERM) sends nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, tuple_, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.jobs.queue import Claim
from oflocal.jobs.worker import BatchContext, JobContext, Task
from oflocal.outbox.compose import Letter, compose
from oflocal.outbox.messages import MAIL_SEND, MAX_ATTEMPTS
from oflocal.outbox.models import MailMessage
from oflocal.outbox.transport import Undeliverable, close_kept, outbox_dir, send_kept, write_eml
from oflocal.settings import Settings

log = logging.getLogger("oflocal.outbox")

ERROR_LENGTH = 1000
BATCH = 20  # messages a worker thread claims, marks and sends in one go
RECORD_SECONDS = 0.5  # outcomes of a batch are written at least this often

_LETTER = (MailMessage.id, MailMessage.to_address, MailMessage.to_name, MailMessage.kind,
           MailMessage.language, MailMessage.subject, MailMessage.text_body,
           MailMessage.html_body, MailMessage.dedupe_key, MailMessage.created_at,
           MailMessage.unsubscribe_url)


def _key(payload: Mapping[str, Any]) -> tuple[int, int]:
    return int(payload["message_id"]), int(payload["round"])


def _rounds(claims: Sequence[Claim]) -> Any:
    """The messages of these jobs, each in the round of its job (``id IN`` as well:
    SQLite searches its key for that, not for a row-value IN, which it would scan)."""
    keys = [_key(c.payload) for c in claims]
    return and_(MailMessage.id.in_([i for i, _ in keys]),
                tuple_(MailMessage.id, MailMessage.send_round).in_(keys))


def file_name(message_id: int, kind: str) -> str:
    return f"{message_id:06d}-{kind}.eml"


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    letter: Letter
    state: str  # sent, failed (for good) or retry
    transport: str | None = None
    error: str | None = None


def deliver(letter: Letter, settings: Settings, claim: Claim) -> Outcome:
    """Send one message (no database); what became of it."""
    mail = settings.mail
    try:
        if mail.smtp_host:
            send_kept(compose(letter, mail.mail_from), mail, letter.to_address)
            return Outcome(claim, letter, "sent", "smtp")
        write_eml(compose(letter, mail.mail_from, cte="8bit"),
                  outbox_dir(settings.data_dir), file_name(letter.id, letter.kind))
        return Outcome(claim, letter, "sent", "file")
    except Undeliverable as error:
        log.warning("mail %s not sent, for good: %s", letter.id, error)
        return Outcome(claim, letter, "failed", error=str(error)[:ERROR_LENGTH])
    except Exception as error:
        log.warning("mail %s not sent, to be tried again: %s: %s", letter.id,
                    type(error).__name__, error)
        return Outcome(claim, letter, "retry",
                       error=f"{type(error).__name__}: {error}"[:ERROR_LENGTH])


def _mark_sending(context: BatchContext) -> list[tuple[Claim, Letter]]:
    with context.write() as (session, held):
        if not held:
            return []
        rows = {row.id: row for row in session.execute(
            update(MailMessage)
            .where(_rounds(held), MailMessage.state.in_(("queued", "sending")))
            .values(state="sending", attempts=MailMessage.attempts + 1)
            .returning(*_LETTER).execution_options(synchronize_session=False))}
        # sent or failed already, or queued again under a later round's job: nothing to do
        context.done(session, [c for c in held if _key(c.payload)[0] not in rows])
        return [(c, Letter(**rows[_key(c.payload)[0]]._asdict()))
                for c in held if _key(c.payload)[0] in rows]


def _record(context: BatchContext, outcomes: Sequence[Outcome],
            give_back: Sequence[Claim] = ()) -> None:
    if not outcomes and not give_back:
        return
    with context.write() as (session, held):
        mine = {c.job_id for c in held}
        kept = [o for o in outcomes if o.claim.job_id in mine]
        now = clock.now()
        for transport in ("smtp", "file"):
            sent = [o.claim for o in kept if o.state == "sent" and o.transport == transport]
            if sent:
                _update(session, sent, state="sent", transport=transport, sent_at=now,
                        last_error=None)
        for o in kept:
            if o.state != "sent":
                _update(session, [o.claim], state="failed" if o.state == "failed" else "queued",
                        last_error=o.error)
        context.done(session, [o.claim for o in kept if o.state != "retry"])
        for o in kept:
            if o.state == "retry":
                context.failed(session, o.claim, o.error or "not sent")
        back = [c for c in give_back if c.job_id in mine]
        if back:  # nothing of these was sent: their attempt does not count
            session.execute(update(MailMessage)
                            .where(_rounds(back), MailMessage.state == "sending")
                            .values(state="queued", attempts=MailMessage.attempts - 1)
                            .execution_options(synchronize_session=False))
            context.release(session, back)


def _update(session: Session, claims: Sequence[Claim], **values: Any) -> None:
    session.execute(update(MailMessage)
                    .where(_rounds(claims), MailMessage.state == "sending").values(**values)
                    .execution_options(synchronize_session=False))


def send_batch(context: BatchContext) -> None:
    context.check()  # the worker is stopping: give the jobs back before they start
    todo = _mark_sending(context)
    outcomes: list[Outcome] = []
    recorded = time.monotonic()
    for index, (claim, letter) in enumerate(todo):
        if context.stopping:
            _record(context, outcomes, give_back=[c for c, _ in todo[index:]])
            return
        outcomes.append(deliver(letter, context.settings, claim))
        if time.monotonic() - recorded >= RECORD_SECONDS:
            _record(context, outcomes)
            outcomes, recorded = [], time.monotonic()
    _record(context, outcomes)
    if todo:
        log.info("mail: %d message(s) handled by %s", len(todo), todo[0][0].owner)


def _alone(context: JobContext) -> None:
    raise RuntimeError("mail.send runs through send_batch (a job claimed alone is a "
                       "batch of one)")


def record_failure(session: Session, payload: Mapping[str, Any], error: str) -> None:
    """The job was given up: the message says so, with the reason."""
    message_id, send_round = _key(payload)
    session.execute(
        update(MailMessage)
        .where(MailMessage.id == message_id, MailMessage.send_round == send_round,
               MailMessage.state.in_(("queued", "sending")))
        .values(state="failed", last_error=error[:ERROR_LENGTH])
    )


MAIL_SEND_TASK = Task(kind=MAIL_SEND, run=_alone, give_up=record_failure,
                      max_attempts=MAX_ATTEMPTS, batch=BATCH, run_batch=send_batch,
                      idle=close_kept)
