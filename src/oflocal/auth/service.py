"""Logging in and knowing who is asking: staff passwords, workshop PINs, sessions, tokens.

Secrets are stored as hashes only: argon2 for passwords and PINs; SHA-256 for random
session and API tokens (they are long random values, so a fast hash is enough). Wrong
PINs are counted on the workshop row with a conditional UPDATE and lock the login for
a while, so guessing a 4-digit PIN from a phone at the booth is not practical.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update

from oflocal import clock
from oflocal.auth.models import ROLES, ApiToken, StaffUser, WebSession
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Event, Workshop

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Checked against when the login is unknown, so timing does not tell who exists.
    Made on first use: hashing at import slowed every worker's and CLI call's start."""
    return _hasher.hash("not-a-real-password")


@dataclass(frozen=True)
class Actor:
    """Who is making a request, as the web layer and the services see it."""

    kind: str  # "staff" or "workshop"
    id: int
    name: str
    role: str  # admin / desk / treasurer / workshop
    event_id: int | None = None
    via: str = "session"  # "session" (cookie, needs CSRF) or "token"
    csrf_token: str = ""

    @property
    def scope(self) -> str:
        return f"{self.kind}:{self.id}"


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def _verify(hash_: str, secret: str) -> bool:
    try:
        return _hasher.verify(hash_, secret)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_staff_user(
    db: Database, *, username: str, display_name: str, role: str, password: str
) -> int:
    if role not in ROLES:
        raise Refusal("request.invalid", detail=f"role must be one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise Refusal("request.invalid", detail="password must be at least 10 characters")
    with db.write() as session:
        user = StaffUser(
            username=username,
            display_name=display_name,
            role=role,
            password_hash=hash_secret(password),
            created_at=clock.now(),
        )
        session.add(user)
        session.flush()
        return user.id


def set_workshop_pin(db: Database, *, event_slug: str, workshop_code: str, pin: str) -> None:
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        raise Refusal("request.invalid", detail="a PIN is 4 to 8 digits")
    with db.write() as session:
        workshop = _find_workshop(session, event_slug, workshop_code)
        if workshop is None:
            raise Refusal("workshop.not_found")
        workshop.pin_hash = hash_secret(pin)
        workshop.failed_pins = 0
        workshop.locked_until = None
        # A new PIN usually means a lost phone: end every session of the old one.
        session.execute(delete(WebSession).where(WebSession.workshop_id == workshop.id))


def _find_workshop(session, event_slug: str, code: str) -> Workshop | None:  # type: ignore[no-untyped-def]
    return session.execute(  # type: ignore[no-any-return]
        select(Workshop)
        .join(Event, Event.id == Workshop.event_id)
        .where(Event.slug == event_slug, Workshop.code == code.strip().upper())
    ).scalar_one_or_none()


def login_staff(db: Database, username: str, password: str) -> Actor:
    with db.read() as session:
        user = session.execute(
            select(StaffUser).where(StaffUser.username == username.strip())
        ).scalar_one_or_none()
    if user is None or not user.active:
        _verify(_dummy_hash(), password)
        raise Refusal("auth.bad_login")
    if not _verify(user.password_hash, password):
        raise Refusal("auth.bad_login")
    return Actor("staff", user.id, user.display_name, user.role)


def login_workshop(
    db: Database,
    *,
    event_slug: str,
    workshop_code: str,
    pin: str,
    attempts_before_lock: int = 5,
    lock_minutes: int = 15,
    now: datetime | None = None,
) -> Actor:
    at = now or clock.now()
    with db.read() as session:
        workshop = _find_workshop(session, event_slug, workshop_code)
    if workshop is None or workshop.pin_hash is None:
        _verify(_dummy_hash(), pin)
        raise Refusal("auth.bad_login")
    if workshop.locked_until is not None and workshop.locked_until > at:
        raise Refusal("auth.locked", minutes=lock_minutes)
    if _verify(workshop.pin_hash, pin):
        with db.write() as session:
            session.execute(
                update(Workshop)
                .where(Workshop.id == workshop.id)
                .values(failed_pins=0, locked_until=None)
            )
        return Actor("workshop", workshop.id, workshop.name, "workshop", workshop.event_id)
    with db.write() as session:
        failures = session.execute(
            update(Workshop)
            .where(Workshop.id == workshop.id)
            .values(failed_pins=Workshop.failed_pins + 1)
            .returning(Workshop.failed_pins)
        ).scalar_one()
        if failures >= attempts_before_lock:
            session.execute(
                update(Workshop)
                .where(Workshop.id == workshop.id)
                .values(failed_pins=0, locked_until=at + timedelta(minutes=lock_minutes))
            )
            raise_locked = True
        else:
            raise_locked = False
    if raise_locked:
        raise Refusal("auth.locked", minutes=lock_minutes)
    raise Refusal("auth.bad_login")


def open_session(db: Database, actor: Actor, *, hours: int) -> tuple[str, str]:
    """Start a browser session; returns (cookie token, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = clock.now()
    with db.write() as session:
        session.add(
            WebSession(
                token_hash=_token_hash(token),
                staff_user_id=actor.id if actor.kind == "staff" else None,
                workshop_id=actor.id if actor.kind == "workshop" else None,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + timedelta(hours=hours),
            )
        )
    return token, csrf


def close_session(db: Database, token: str) -> None:
    with db.write() as session:
        row = session.get(WebSession, _token_hash(token))
        if row is not None:
            session.delete(row)


def issue_api_token(db: Database, *, name: str, staff_user_id: int | None = None,
                    workshop_id: int | None = None) -> str:
    if (staff_user_id is None) == (workshop_id is None):
        raise Refusal("request.invalid", detail="a token belongs to one staff user or one workshop")
    token = "ofl_" + secrets.token_urlsafe(32)
    with db.write() as session:
        session.add(
            ApiToken(
                token_hash=_token_hash(token),
                name=name,
                staff_user_id=staff_user_id,
                workshop_id=workshop_id,
                created_at=clock.now(),
            )
        )
    return token


def _actor_for(session, staff_user_id: int | None, workshop_id: int | None,  # type: ignore[no-untyped-def]
               via: str, csrf: str = "") -> Actor | None:
    if staff_user_id is not None:
        user = session.get(StaffUser, staff_user_id)
        if user is None or not user.active:
            return None
        return Actor("staff", user.id, user.display_name, user.role, None, via, csrf)
    workshop = session.get(Workshop, workshop_id)
    if workshop is None:
        return None
    return Actor("workshop", workshop.id, workshop.name, "workshop", workshop.event_id, via, csrf)


def actor_from_session(db: Database, token: str) -> Actor | None:
    with db.read() as session:
        row = session.get(WebSession, _token_hash(token))
        if row is None or row.expires_at <= clock.now():
            return None
        return _actor_for(session, row.staff_user_id, row.workshop_id, "session", row.csrf_token)


def actor_from_token(db: Database, token: str) -> Actor | None:
    with db.read() as session:
        row = session.execute(
            select(ApiToken).where(ApiToken.token_hash == _token_hash(token))
        ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        return _actor_for(session, row.staff_user_id, row.workshop_id, "token")
