"""Signing a supporter in by a link sent to the address they pledged with.

No password: :func:`request_link` e-mails a single-use link that lasts
:data:`LINK_LIFETIME`; :func:`use_link` spends it (one conditional update: two taps on
the same link sign in once) and opens a session for that address only.

What a stranger learns is nothing: asking for a link answers the same whether the
address has pledges or not (a link is only written, and mailed, when it has), and a
link that is expired, spent, altered or unknown is refused with one and the same
message. Requests are limited per address and per client (:data:`PER_ADDRESS`,
:data:`PER_CLIENT` an hour), each counted by one guarded statement.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding import links
from oflocal.crowdfunding.models import Pledge
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.outbox.compose import check_address
from oflocal.outbox.messages import queue_message
from oflocal.supporters.models import SignInLink, SignInWindow, SupporterSession

COOKIE = "oflocal_supporter"  # the session's cookie (web/pages/my_pledges.py sets it)
LINK_LIFETIME = timedelta(minutes=30)
SESSION_LIFETIME = timedelta(hours=12)
WINDOW = timedelta(hours=1)
PER_ADDRESS = 5  # links an hour to one address: a mailbox is not flooded
PER_CLIENT = 30  # link requests an hour from one client: addresses are not probed


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_email(raw: str) -> str:
    """The address as pledges store it (lower-cased); a clear refusal if it is none."""
    try:
        return check_address(raw.strip()).lower()
    except ValueError:
        raise Refusal("signin.bad_address") from None


def _window_start(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _take(session: Session, subject: str, limit: int, at: datetime) -> bool:
    """Count one request for ``subject`` in this window, unless ``limit`` are counted
    already: one statement, so parallel requests cannot slip past the limit."""
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    stmt = insert(SignInWindow).values(subject=subject, window_start=_window_start(at), taken=1)
    taken = session.execute(
        stmt.on_conflict_do_update(
            index_elements=["subject", "window_start"],
            set_={"taken": SignInWindow.taken + 1},
            where=SignInWindow.taken < limit,
        ).returning(SignInWindow.taken)
    ).scalar_one_or_none()
    return taken is not None


def request_link(db: Database, email: str, *, client: str, lang: str = "ja",
                 now: datetime | None = None) -> None:
    """Mail a sign-in link to ``email`` if it has pledged; answers the same either way.
    ``signin.too_many`` once the address or the client asked too often this hour."""
    at = now or clock.now()
    address = normalise_email(email)
    with db.write() as session:
        if not (_take(session, f"client:{client}"[:100], PER_CLIENT, at)
                and _take(session, f"email:{_digest(address)}", PER_ADDRESS, at)):
            raise Refusal("signin.too_many")
        session.execute(delete(SignInWindow).where(SignInWindow.window_start < at - 2 * WINDOW))
        known = session.execute(
            select(Pledge.supporter_name, Pledge.lang).where(Pledge.supporter_email == address)
            .order_by(Pledge.id.desc()).limit(1)
        ).first()
        if known is None:
            return
        token = secrets.token_urlsafe(32)
        link = SignInLink(email=address, token_hash=_digest(token), created_at=at,
                          expires_at=at + LINK_LIFETIME)
        session.add(link)
        session.flush()
        queue_message(
            session, kind="signin_link", to_address=address, to_name=known.supporter_name,
            language=lang if lang in ("ja", "en") else known.lang, about=f"signin:{link.id}",
            dedupe_key=f"signin:{link.id}",
            context={"url": links.public_url() + signin_path(token),
                     "minutes": int(LINK_LIFETIME.total_seconds() // 60)},
        )


def signin_path(token: str) -> str:
    return f"/my/signin/{token}"


def link_is_usable(db: Database, token: str, *, now: datetime | None = None) -> bool:
    """Whether the link would sign in (the confirmation page's question; spends nothing)."""
    at = now or clock.now()
    with db.read() as session:
        return session.execute(
            select(SignInLink.id).where(SignInLink.token_hash == _digest(token),
                                        SignInLink.used_at.is_(None),
                                        SignInLink.expires_at > at)
        ).first() is not None


@dataclass(frozen=True)
class SupporterSignIn:
    """An open session: the cookie's secret (given once) and its CSRF token."""

    token: str
    csrf_token: str
    email: str
    expires_at: datetime


def use_link(db: Database, token: str, *, now: datetime | None = None) -> SupporterSignIn:
    """Spend the link and open a session for its address; ``signin.link_invalid`` for
    a link that is unknown, altered, spent or expired (the same words for each)."""
    at = now or clock.now()
    with db.write() as session:
        email = session.execute(
            update(SignInLink)
            .where(SignInLink.token_hash == _digest(token), SignInLink.used_at.is_(None),
                   SignInLink.expires_at > at)
            .values(used_at=at).returning(SignInLink.email)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if email is None:
            raise Refusal("signin.link_invalid")
        session.execute(delete(SupporterSession).where(SupporterSession.expires_at < at))
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        session.add(SupporterSession(token_hash=_digest(secret), email=email, csrf_token=csrf,
                                     created_at=at, expires_at=at + SESSION_LIFETIME))
    return SupporterSignIn(secret, csrf, email, at + SESSION_LIFETIME)


@dataclass(frozen=True)
class SignedIn:
    email: str
    csrf_token: str


def signed_in(db: Database, token: str | None, *, now: datetime | None = None) -> SignedIn | None:
    """Who the session cookie ``token`` signs in, if it is open."""
    if not token:
        return None
    at = now or clock.now()
    with db.read() as session:
        row = session.execute(
            select(SupporterSession.email, SupporterSession.csrf_token)
            .where(SupporterSession.token_hash == _digest(token),
                   SupporterSession.expires_at > at)
        ).first()
    return SignedIn(row.email, row.csrf_token) if row else None


def sign_out(db: Database, token: str) -> None:
    with db.write() as session:
        session.execute(delete(SupporterSession)
                        .where(SupporterSession.token_hash == _digest(token)))
