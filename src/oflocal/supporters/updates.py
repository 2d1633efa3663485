"""Updates (活動報告): the committee writes, supporters read and get them by e-mail.

An update is a draft until published (once: a conditional update). Who may read it:
``public`` (everyone, on the campaign page), ``supporters`` (whoever has a paid pledge
in the campaign), ``rewards`` (the supporters of the returns named). Others see that
there is one, and for whom.

**The mailing.** Publishing an update with ``send_mail`` queues one ``updates.mail``
job in the same transaction. The job lists the addresses (paid supporters of the
audience, less those who unsubscribed) and queues one outbox message each, a few
hundred per transaction; each message is then sent by its own ``mail.send`` job with
retries (``outbox/jobs.py``). The message's dedupe key is the update and the address,
so a job cut short and run again (a crash, a stop, a lost lease) queues only what is
missing: no address gets an update twice. Progress is read from the outbox: queued,
sent, failed, of the total the job counted.

**Unsubscribing** needs no sign-in: every mailing carries a link holding the address and
its MAC (the server's secret), and the RFC 8058 headers, so a mail program's
"unsubscribe" button works with one click.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding import links
from oflocal.crowdfunding.models import Campaign, Pledge, Reward
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.jobs.queue import enqueue
from oflocal.jobs.worker import JobContext, Task
from oflocal.outbox.messages import Outgoing, queue_messages
from oflocal.outbox.models import MailMessage
from oflocal.supporters.models import UPDATE_AUDIENCES, CampaignUpdate, UpdateUnsubscribe

MAILING = "updates.mail"
BATCH = 200  # messages queued per transaction of the mailing job
AUDIENCE_NAMES = {
    "public": ("どなたでも", "everyone"),
    "supporters": ("支援者限定", "supporters only"),
    "rewards": ("特定のリターンの支援者限定", "supporters of some returns"),
}


# --------------------------------------------------------------------------- writing


def _check(session: Session, campaign_id: int, title: str, body: str, audience: str,
           reward_ids: list[int]) -> tuple[str, str, list[int]]:
    title, body = title.strip(), body.strip()
    if not title or len(title) > 200:
        raise Refusal("update.invalid", detail="title: 1–200 characters")
    if not body or len(body) > 50_000:
        raise Refusal("update.invalid", detail="body: 1–50,000 characters")
    if audience not in UPDATE_AUDIENCES:
        raise Refusal("update.invalid", detail=f"audience: one of {', '.join(UPDATE_AUDIENCES)}")
    if reward_ids and audience != "rewards":
        # Returns named for another audience: most likely the audience was forgotten, and
        # a text meant for a few supporters would go to more.
        raise Refusal("update.invalid", detail="returns: only for the audience 'rewards'")
    ids = sorted(set(reward_ids))
    if audience == "rewards":
        known = set(session.execute(select(Reward.id).where(
            Reward.campaign_id == campaign_id, Reward.id.in_(ids))).scalars())
        if not ids or known != set(ids):
            raise Refusal("update.invalid", detail="returns: choose returns of this campaign")
    return title, body, ids


def write_update(db: Database, campaign_id: int, *, title: str, body: str,
                 audience: str = "public", reward_ids: list[int] | None = None,
                 send_mail: bool = True, author: str, now: datetime | None = None) -> int:
    """A new draft; answers its id."""
    with db.write() as session:
        # The campaign's row lock orders drafts saved at once: each reads the highest
        # number after the one before it committed (else both took the same number).
        if session.get(Campaign, campaign_id, with_for_update=True) is None:
            raise Refusal("campaign.not_found")
        title, body, ids = _check(session, campaign_id, title, body, audience,
                                  reward_ids or [])
        number = (session.execute(select(func.max(CampaignUpdate.number)).where(
            CampaignUpdate.campaign_id == campaign_id)).scalar_one() or 0) + 1
        row = CampaignUpdate(campaign_id=campaign_id, number=number, title=title, body=body,
                             audience=audience, reward_ids=ids, send_mail=send_mail,
                             author=author, created_at=now or clock.now())
        session.add(row)
        session.flush()
        return row.id


def edit_update(db: Database, update_id: int, *, title: str | None = None,
                body: str | None = None, audience: str | None = None,
                reward_ids: list[int] | None = None, send_mail: bool | None = None) -> None:
    """Change a draft (a published update is what supporters read: it stays). What is
    not given (None) stays as it is; the returns chosen stay only while the audience is
    still ``rewards``."""
    with db.write() as session:
        row = session.get(CampaignUpdate, update_id, with_for_update=True)
        if row is None:
            raise Refusal("update.not_found")
        if row.published_at is not None:
            raise Refusal("update.published", when=row.published_at)
        audience = row.audience if audience is None else audience
        if reward_ids is None:
            reward_ids = list(row.reward_ids) if audience == "rewards" else []
        row.title, row.body, row.reward_ids = _check(
            session, row.campaign_id, row.title if title is None else title,
            row.body if body is None else body, audience, reward_ids)
        row.audience = audience
        if send_mail is not None:
            row.send_mail = send_mail


def publish_update(db: Database, update_id: int, *, now: datetime | None = None) -> datetime:
    """Publish once (again: the first moment); queue its mailing in the same transaction."""
    at = now or clock.now()
    with db.write() as session:
        done = affected(session.execute(
            update(CampaignUpdate)
            .where(CampaignUpdate.id == update_id, CampaignUpdate.published_at.is_(None))
            .values(published_at=at).execution_options(synchronize_session=False)))
        # populate_existing: a caller's transaction may hold the row as it was before.
        row = session.get(CampaignUpdate, update_id, populate_existing=True)
        if row is None:
            raise Refusal("update.not_found")
        if done and row.send_mail:
            enqueue(session, MAILING, {"update_id": update_id},
                    dedupe_key=f"update-mailing:{update_id}", max_attempts=10)
        assert row.published_at is not None
        return row.published_at


# --------------------------------------------------------------------------- reading


def update_in(session: Session, campaign_id: int, update_id: int) -> CampaignUpdate:
    """The campaign's update (``campaign.not_found``, or ``update.not_found`` for an
    update of another campaign)."""
    if session.get(Campaign, campaign_id) is None:
        raise Refusal("campaign.not_found")
    row = session.get(CampaignUpdate, update_id)
    if row is None or row.campaign_id != campaign_id:
        raise Refusal("update.not_found")
    return row


def updates_of(session: Session, campaign_id: int) -> list[CampaignUpdate]:
    """The campaign's updates, drafts too, newest first (``campaign.not_found``)."""
    if session.get(Campaign, campaign_id) is None:
        raise Refusal("campaign.not_found")
    return list(session.execute(
        select(CampaignUpdate).where(CampaignUpdate.campaign_id == campaign_id)
        .order_by(CampaignUpdate.number.desc())).scalars())


def _paid_supporter(session: Session, campaign_id: int, email: str,
                    reward_ids: list[int] | None) -> bool:
    query = select(Pledge.id).where(Pledge.campaign_id == campaign_id,
                                    Pledge.supporter_email == email, Pledge.state == "paid")
    if reward_ids is not None:
        query = query.where(Pledge.reward_id.in_(reward_ids))
    return session.execute(query.limit(1)).first() is not None


@dataclass(frozen=True)
class ShownUpdate:
    id: int
    number: int
    title: str
    body: str | None  # None: not for this reader (they see the title and for whom)
    audience: str
    published_at: datetime


def published_updates(db: Database, campaign_id: int,
                      reader_email: str | None = None) -> list[ShownUpdate]:
    """Newest first; the body only where the reader may read it."""
    with db.read() as session:
        rows = session.execute(
            select(CampaignUpdate).where(CampaignUpdate.campaign_id == campaign_id,
                                         CampaignUpdate.published_at.is_not(None))
            .order_by(CampaignUpdate.number.desc())).scalars().all()
        shown = []
        for row in rows:
            allowed = row.audience == "public" or (reader_email is not None and _paid_supporter(
                session, campaign_id, reader_email,
                row.reward_ids if row.audience == "rewards" else None))
            assert row.published_at is not None
            shown.append(ShownUpdate(row.id, row.number, row.title,
                                     row.body if allowed else None, row.audience,
                                     row.published_at))
        return shown


# --------------------------------------------------------------------------- the mailing


def unsubscribe_token(secret: bytes, campaign_id: int, email: str) -> str:
    """The address and its MAC, URL-safe: the link alone unsubscribes it."""
    address = base64.urlsafe_b64encode(email.encode()).decode().rstrip("=")
    mac = hmac.new(secret, f"unsubscribe:{campaign_id}:{email}".encode(), hashlib.sha256)
    return f"{address}.{base64.urlsafe_b64encode(mac.digest()[:16]).decode().rstrip('=')}"


def unsubscribe_path(campaign_id: int, token: str) -> str:
    return f"/updates/unsubscribe/{campaign_id}/{token}"


def address_of(secret: bytes, campaign_id: int, token: str) -> str:
    """The address a link unsubscribes; ``update.link_invalid`` for an altered link."""
    try:
        address, _mac = token.split(".", 1)
        email = base64.urlsafe_b64decode(address + "=" * (-len(address) % 4)).decode()
    except ValueError:
        raise Refusal("update.link_invalid") from None
    if not hmac.compare_digest(token, unsubscribe_token(secret, campaign_id, email)):
        raise Refusal("update.link_invalid")
    return email


def unsubscribe(db: Database, secret: bytes, campaign_id: int, token: str, *,
                now: datetime | None = None) -> str:
    """No more updates of the campaign to the link's address (again: nothing more)."""
    email = address_of(secret, campaign_id, token)
    with db.write() as session:
        insert = (sqlite_insert if session.get_bind().dialect.name == "sqlite"
                  else postgresql_insert)
        session.execute(insert(UpdateUnsubscribe).values(
            campaign_id=campaign_id, email=email, at=now or clock.now()
        ).on_conflict_do_nothing(index_elements=["campaign_id", "email"]))
    return email


def recipients(session: Session, row: CampaignUpdate) -> list[tuple[str, str, str]]:
    """(address, name, language) of each paid supporter of the audience, once, in the
    order they first pledged; less those who unsubscribed."""
    query = (select(Pledge.supporter_email, Pledge.supporter_name, Pledge.lang)
             .where(Pledge.campaign_id == row.campaign_id, Pledge.state == "paid")
             .order_by(Pledge.id))
    if row.audience == "rewards":
        query = query.where(Pledge.reward_id.in_(row.reward_ids))
    gone = set(session.execute(select(UpdateUnsubscribe.email).where(
        UpdateUnsubscribe.campaign_id == row.campaign_id)).scalars())
    seen: dict[str, tuple[str, str, str]] = {}
    for email, name, lang in session.execute(query):
        if email not in gone and email not in seen:
            seen[email] = (email, name, lang)
    return list(seen.values())


def _address_key(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _run_mailing(ctx: JobContext) -> None:
    update_id = int(ctx.payload["update_id"])
    secret = ctx.settings.secret_key
    with ctx.db.read() as session:
        row = session.get(CampaignUpdate, update_id)
        if row is None or row.published_at is None:
            return
        campaign, event = session.execute(
            select(Campaign, Event).join(Event, Event.id == Campaign.event_id)
            .where(Campaign.id == row.campaign_id)).one()
        to = recipients(session, row)
        facts = {"title": row.title, "body": row.body, "number": row.number,
                 "campaign_title": campaign.title,
                 "committee": campaign.seller or event.committee_name,
                 "url": links.campaign_url(event.slug, campaign.slug) + f"#update-{row.number}",
                 "my_url": links.my_page_url()}
        campaign_id = row.campaign_id
    with ctx.write() as session:
        session.execute(update(CampaignUpdate).where(CampaignUpdate.id == update_id)
                        .values(recipients=len(to)))
    for batch in _batches(to, BATCH):
        ctx.check()  # stopping or taken over: what is queued stays, the rest comes later
        outgoing = []
        for email, name, lang in batch:
            url = links.public_url() + unsubscribe_path(
                campaign_id, unsubscribe_token(secret, campaign_id, email))
            outgoing.append(Outgoing(
                kind="campaign_update", to_address=email, to_name=name,
                language=lang if lang in ("ja", "en") else "ja",
                about=f"update:{update_id}",
                dedupe_key=f"update:{update_id}:{_address_key(email)}",
                context={**facts, "unsubscribe_url": url}, unsubscribe_url=url))
        with ctx.write() as session:
            queue_messages(session, outgoing)  # a few statements per batch
    with ctx.finish() as session:
        session.execute(update(CampaignUpdate).where(CampaignUpdate.id == update_id)
                        .values(mailing_queued_at=clock.now()))


MAILING_TASK = Task(kind=MAILING, run=_run_mailing, max_attempts=10)


@dataclass(frozen=True)
class MailingProgress:
    recipients: int | None  # None: not counted yet
    queued: int
    sent: int
    failed: int
    all_queued: bool

    @property
    def percent(self) -> int:
        if not self.recipients:
            return 100 if self.all_queued else 0
        return min(100, (self.sent + self.failed) * 100 // self.recipients)


def mailing_progress(db: Database, update_id: int) -> MailingProgress:
    with db.read() as session:
        row = session.get(CampaignUpdate, update_id)
        if row is None:
            raise Refusal("update.not_found")
        return progress_of(session, row)


def progress_of(session: Session, row: CampaignUpdate) -> MailingProgress:
    counts: dict[str, int] = {state: n for state, n in session.execute(
        select(MailMessage.state, func.count()).where(
            MailMessage.about == f"update:{row.id}").group_by(MailMessage.state))}
    return MailingProgress(row.recipients, sum(counts.values()), counts.get("sent", 0),
                           counts.get("failed", 0), row.mailing_queued_at is not None)


def mailing_facts(row: CampaignUpdate, progress: MailingProgress) -> dict[str, Any]:
    """What the API and the CLI say of an update's mailing. ``total``: the addresses
    counted (None until counted, or when it is not e-mailed); ``finished``: published,
    and every message sent or failed, or nothing to mail."""
    if row.published_at is None:
        return {"update_id": row.id, "published_at": None, "send_mail": row.send_mail,
                "total": None, "queued": 0, "sent": 0, "failed": 0, "all_queued": False,
                "percent": 0, "finished": False}
    p = progress
    done = p.all_queued and p.recipients is not None and p.sent + p.failed >= p.recipients
    return {"update_id": row.id, "published_at": row.published_at, "send_mail": row.send_mail,
            "total": p.recipients if row.send_mail else None, "queued": p.queued,
            "sent": p.sent, "failed": p.failed, "all_queued": p.all_queued,
            "percent": p.percent if row.send_mail else 100,
            "finished": done or not row.send_mail}
