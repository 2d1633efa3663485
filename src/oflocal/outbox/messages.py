"""Queue a message in the caller's transaction; retry one that failed; list them.

:func:`queue_message` is the outbox's one way in. It renders the message now (a
template missing a fact refuses here, in the caller's transaction) and writes the
``mail_message`` row and its ``mail.send`` job in the caller's transaction: the change
and its message commit together, or neither does. It is idempotent by ``dedupe_key``:
a second call with the same key (a retried request, a scheduled run going over the same
pledges, a webhook delivered twice) answers the message already queued and does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.jobs.queue import enqueue, enqueue_many
from oflocal.outbox.compose import check_address
from oflocal.outbox.models import MailMessage
from oflocal.outbox.render import render

MAIL_SEND = "mail.send"
# Retried after 5, 10, 20 … 300 s (jobs.queue.retry_delay): twelve attempts span about
# half an hour of a mail server being down; then the message is failed, and ``oflocal
# mail retry`` queues it again.
MAX_ATTEMPTS = 12

KINDS: dict[str, str] = {
    "pledge_received": "pledge received, with the payment instructions",
    "payment_received": "payment received",
    "payment_reminder": "reminder before the payment deadline",
    "refund_requested": "a refund is on its way (bank refunds: give your account)",
    "refund_sent": "the refund was sent",
    "campaign_update": "an update (活動報告) from the committee, with its unsubscribe link",
    "signin_link": "a link that signs a supporter in to their own page",
    "test": "a test message (oflocal mail test)",
}


def _insert(session: Session) -> Any:
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert


def job_dedupe_key(message_id: int, send_round: int) -> str:
    return f"mail_message:{message_id}:{send_round}"


def _enqueue(session: Session, message_id: int, send_round: int) -> int:
    return enqueue(session, MAIL_SEND, {"message_id": message_id, "round": send_round},
                   dedupe_key=job_dedupe_key(message_id, send_round),
                   max_attempts=MAX_ATTEMPTS)


def queue_message(
    session: Session, *, kind: str, to_address: str, to_name: str = "", language: str = "ja",
    about: str, dedupe_key: str, context: Mapping[str, Any],
    unsubscribe_url: str | None = None,
) -> int:
    """Render ``templates/mail/<kind>.<language>.txt`` with ``context`` and queue it to
    ``to_address`` in ``session``'s transaction; answers the message's id.

    ``about`` names what the message is about (``"pledge:12"``), ``dedupe_key`` the
    notice (``"pledge:12:received"``): with a key already queued, nothing is written
    and the id of the message queued first is answered. ValueError for an unknown kind
    or language, an address oflocal cannot send to, or a template missing a fact."""
    # Rendered and inserted without looking for the key first (the INSERT's conflict
    # clause finds it): one round trip less for a new notice, which is written while
    # the change it tells of holds its rows (a pledge, its return's row).
    values = _values(Outgoing(kind=kind, to_address=to_address, about=about,
                              dedupe_key=dedupe_key, context=context, to_name=to_name,
                              language=language, unsubscribe_url=unsubscribe_url),
                     clock.now())
    message_id = session.execute(
        _insert(session)(MailMessage).values(values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(MailMessage.id)
    ).scalar_one_or_none()
    if message_id is None:  # queued already (by this key's first call)
        return int(session.execute(
            select(MailMessage.id).where(MailMessage.dedupe_key == dedupe_key)
        ).scalar_one())
    _enqueue(session, int(message_id), 1)
    return int(message_id)


@dataclass(frozen=True)
class Outgoing:
    """One message for :func:`queue_messages`: the arguments of :func:`queue_message`."""

    kind: str
    to_address: str
    about: str
    dedupe_key: str
    context: Mapping[str, Any]
    to_name: str = ""
    language: str = "ja"
    unsubscribe_url: str | None = None


def _values(item: Outgoing, now: datetime) -> dict[str, Any]:
    if item.kind not in KINDS:
        raise ValueError(f"unknown mail kind {item.kind!r} (known: {', '.join(KINDS)})")
    if (not 0 < len(item.dedupe_key) <= 200 or not 0 < len(item.about) <= 100
            or len(item.to_name) > 200):
        raise ValueError("dedupe_key (1-200), about (1-100) or to_name (≤ 200) has the "
                         "wrong length")
    rendered = render(item.kind, item.language, {**item.context, "to_name": item.to_name})
    return {
        "to_address": check_address(item.to_address), "to_name": item.to_name,
        "kind": item.kind, "language": item.language, "subject": rendered.subject,
        "text_body": rendered.text, "html_body": rendered.html, "about": item.about,
        "dedupe_key": item.dedupe_key, "state": "queued", "send_round": 1,
        "unsubscribe_url": item.unsubscribe_url, "attempts": 0, "created_at": now,
    }


def queue_messages(session: Session, items: Sequence[Outgoing]) -> int:
    """:func:`queue_message` for many messages (a mailing), in a few statements of the
    caller's transaction rather than a few per message; answers how many were queued
    now. Keys already queued are skipped (not rendered again); any item refused
    (ValueError) refuses them all."""
    keys = [item.dedupe_key for item in items]
    if len(set(keys)) != len(keys):
        raise ValueError("two messages with the same dedupe_key")
    known = set(session.execute(
        select(MailMessage.dedupe_key).where(MailMessage.dedupe_key.in_(keys))).scalars())
    now = clock.now()
    rows = [_values(item, now) for item in items if item.dedupe_key not in known]
    if not rows:
        return 0
    # One compiled statement for every row (executemany, sent as multi-row inserts by
    # SQLAlchemy's "insertmanyvalues"); a key queued meanwhile by a committed
    # transaction is skipped.
    table = MailMessage.__table__
    ids = session.execute(
        _insert(session)(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(table.c.id), rows
    ).scalars().all()
    enqueue_many(session, MAIL_SEND,
                 [({"message_id": int(i), "round": 1}, job_dedupe_key(int(i), 1))
                  for i in ids], max_attempts=MAX_ATTEMPTS)
    return len(ids)


class NotRetryable(Exception):
    """Only a failed message can be queued again (a sent one is never sent twice)."""


def retry_message(db: Database, message_id: int) -> int:
    """Queue a failed message again, as a new round with a new job (a fresh set of
    attempts); answers the round. Raises :class:`NotRetryable` otherwise."""
    with db.write() as session:
        row = session.execute(
            select(MailMessage.state, MailMessage.send_round)
            .where(MailMessage.id == message_id)
        ).first()
        if row is None:
            raise NotRetryable(f"there is no message {message_id}")
        if row.state != "failed":
            raise NotRetryable(f"message {message_id} is {row.state}, not failed: "
                               + ("it is never sent twice" if row.state == "sent"
                                  else "it is in the queue already"))
        send_round = int(row.send_round) + 1
        changed = session.execute(
            update(MailMessage)
            .where(MailMessage.id == message_id, MailMessage.state == "failed",
                   MailMessage.send_round == row.send_round)
            .values(state="queued", send_round=send_round)
        )
        if affected(changed) != 1:  # retried at the same moment by someone else
            raise NotRetryable(f"message {message_id} was queued again meanwhile")
        _enqueue(session, message_id, send_round)
        return send_round


def failed_ids(db: Database) -> list[int]:
    with db.read() as session:
        return list(session.execute(
            select(MailMessage.id).where(MailMessage.state == "failed").order_by(MailMessage.id)
        ).scalars())


@dataclass(frozen=True)
class Listed:
    id: int
    created_at: datetime
    state: str
    kind: str
    to_address: str
    subject: str
    about: str
    attempts: int
    transport: str | None
    sent_at: datetime | None
    last_error: str | None


def list_messages(db: Database, *, states: Sequence[str] = (), about: str | None = None,
                  limit: int = 50) -> list[Listed]:
    """The newest messages first, optionally of some states or about one thing."""
    query = select(
        MailMessage.id, MailMessage.created_at, MailMessage.state, MailMessage.kind,
        MailMessage.to_address, MailMessage.subject, MailMessage.about, MailMessage.attempts,
        MailMessage.transport, MailMessage.sent_at, MailMessage.last_error,
    ).order_by(MailMessage.id.desc()).limit(limit)
    if states:
        query = query.where(MailMessage.state.in_(list(states)))
    if about is not None:
        query = query.where(MailMessage.about == about)
    with db.read() as session:
        return [Listed(**row._asdict()) for row in session.execute(query)]
