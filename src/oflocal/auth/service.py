"""Logging in and knowing who is asking: staff passwords, workshop PINs, sessions, tokens.

Secrets are stored as hashes only: argon2 for passwords and PINs; SHA-256 for random
session and API tokens (they are long random values, so a fast hash is enough). Every
password or PIN attempt is counted on the staff or workshop row by one conditional
UPDATE *before* the secret is checked, and the attempt that reaches the limit locks the
login for a while: parallel guesses cannot get past the count, so guessing a 4-digit
PIN is not practical. API tokens are looked up on every request, so a revoked token
stops working at once in every server process.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, case, delete, null, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from oflocal import clock
from oflocal.auth.models import ROLES, ApiToken, StaffUser, WebSession
from oflocal.db.engine import Database
from oflocal.db.rows import affected, unique_violation
from oflocal.errors import Refusal
from oflocal.events.models import Event, Workshop
from oflocal.settings import Lockout

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
    must_change_password: bool = False  # then only the password page and logout are open

    @property
    def scope(self) -> str:
        return f"{self.kind}:{self.id}"


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(hash_: str, secret: str) -> bool:
    try:
        return _hasher.verify(hash_, secret)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


MIN_PASSWORD = 10


def check_password(password: str) -> None:
    """The one rule for a new staff password: long enough to resist guessing offline."""
    if len(password) < MIN_PASSWORD:
        raise Refusal("auth.password_too_short", minimum=MIN_PASSWORD)


def create_staff_user(
    db: Database, *, username: str, display_name: str, role: str, password: str,
    must_change_password: bool = False,
) -> int:
    if role not in ROLES:
        raise Refusal("request.invalid", detail=f"role must be one of {', '.join(ROLES)}")
    check_password(password)
    digest = hash_secret(password)  # slow: before the transaction
    try:
        return _add_staff_user(db, username, display_name, role, digest, must_change_password)
    except IntegrityError as error:
        if unique_violation(error, "staff_user", "username"):
            raise Refusal("staff.username_taken", username=username) from error
        raise


def _add_staff_user(db: Database, username: str, display_name: str, role: str, digest: str,
                    must_change_password: bool) -> int:
    with db.write() as session:
        user = StaffUser(
            username=username,
            display_name=display_name,
            role=role,
            password_hash=digest,
            created_at=clock.now(),
            must_change_password=must_change_password,
        )
        session.add(user)
        session.flush()
        return user.id


def check_pin(pin: str) -> None:
    """The one rule for a workshop PIN: 4 to 8 ASCII digits."""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        raise Refusal("request.invalid", detail="a PIN is 4 to 8 digits")


def set_workshop_pin(db: Database, *, event_slug: str, workshop_code: str, pin: str) -> None:
    with db.read() as session:
        workshop = _find_workshop(session, event_slug, workshop_code)
    if workshop is None:
        raise Refusal("workshop.not_found")
    set_pin(db, workshop.id, pin)


def set_pin(db: Database, workshop_id: int, pin: str) -> None:
    """A workshop's new PIN: it lifts a lock, and ends every session of the old one (a
    new PIN usually means a lost phone)."""
    check_pin(pin)
    digest = hash_secret(pin)  # slow: before the transaction
    with db.write() as session:
        done = session.execute(update(Workshop).where(Workshop.id == workshop_id).values(
            pin_hash=digest, failed_pins=0, locked_until=None))
        if affected(done) == 0:
            raise Refusal("workshop.not_found")
        session.execute(delete(WebSession).where(WebSession.workshop_id == workshop_id))


def generate_pin() -> str:
    """A random 4-digit PIN for a workshop, shown once on the admin page."""
    return f"{secrets.randbelow(10_000):04d}"


def reset_workshop_pin(db: Database, workshop_id: int) -> str:
    """A new random PIN (ends the workshop's sessions, lifts a lock); returns it once."""
    pin = generate_pin()
    set_pin(db, workshop_id, pin)
    return pin


def issue_missing_pins(db: Database, event_id: int) -> list[tuple[str, str, str]]:
    """A random PIN for every workshop of the event that has none yet: (code, name, PIN),
    by code, for the slips to hand out. Workshops that have a PIN keep it (their phones
    stay logged in); a PIN set meanwhile by someone else is not overwritten."""
    with db.read() as session:
        missing = session.execute(
            select(Workshop.id, Workshop.code, Workshop.name)
            .where(Workshop.event_id == event_id, Workshop.pin_hash.is_(None))
            .order_by(Workshop.code)
        ).all()
    pins = [(row, generate_pin()) for row in missing]
    hashed = [(row, pin, hash_secret(pin)) for row, pin in pins]  # slow: before the write
    issued = []
    with db.write() as session:
        for row, pin, digest in hashed:
            done = session.execute(update(Workshop).where(
                Workshop.id == row.id, Workshop.pin_hash.is_(None)).values(pin_hash=digest))
            if affected(done) == 1:
                issued.append((row.code, row.name, pin))
    return issued


def unlock_workshop(db: Database, workshop_id: int) -> None:
    """Let a workshop locked out by wrong PINs try again, keeping its PIN."""
    with db.write() as session:
        done = session.execute(update(Workshop).where(Workshop.id == workshop_id)
                               .values(failed_pins=0, locked_until=None))
        if affected(done) == 0:
            raise Refusal("workshop.not_found")


def _find_workshop(session, event_slug: str, code: str) -> Workshop | None:  # type: ignore[no-untyped-def]
    return session.execute(  # type: ignore[no-any-return]
        select(Workshop)
        .join(Event, Event.id == Workshop.event_id)
        .where(Event.slug == event_slug, Workshop.code == code.strip().upper())
    ).scalar_one_or_none()


def _attempts(model: type[StaffUser] | type[Workshop]) -> InstrumentedAttribute[int]:
    return StaffUser.failed_logins if model is StaffUser else Workshop.failed_pins


def _take_attempt(session: Session, model: type[StaffUser] | type[Workshop],
                  row_id: int, lockout: Lockout, at: datetime) -> int | None:
    """Count one attempt on the login's row *before* its secret is checked.

    One conditional UPDATE decides, so however many guesses arrive at once (threads,
    server processes), at most ``lockout.attempts`` are ever checked per lock window:
    the attempt that reaches the limit also sets the lock, and a locked row matches no
    row. A lock that has run out starts the count again. Returns the attempt's number,
    or None while the login is locked."""
    count, locked_until = _attempts(model), model.locked_until
    expired = locked_until.is_not(None)  # only unlocked rows match: a lock here has run out
    attempt = case((expired, 1), else_=count + 1)
    result: int | None = session.execute(
        update(model)
        .where(model.id == row_id, or_(locked_until.is_(None), locked_until <= at))
        .values({
            count: attempt,
            locked_until: case(
                (attempt >= lockout.attempts, at + timedelta(minutes=lockout.minutes)),
                else_=null(),
            ),
        })
        .returning(count)
    ).scalar_one_or_none()
    return result


def _check_secret(db: Database, model: type[StaffUser] | type[Workshop], row_id: int,
                  secret_hash: str, secret: str, lockout: Lockout) -> None:
    """Take an attempt, check the secret, and clear the count when it is right.

    The attempt is committed before the (slow, ~50 ms) argon2 check, so parallel
    guesses queue on the row for a moment, not for the hash."""
    at = clock.now()
    with db.write() as session:
        attempt = _take_attempt(session, model, row_id, lockout, at)
    if attempt is None:
        raise Refusal("auth.locked", minutes=lockout.minutes)
    if verify_secret(secret_hash, secret):
        with db.write() as session:
            session.execute(update(model).where(model.id == row_id)
                            .values({_attempts(model): 0, model.locked_until: None}))
        return
    if attempt >= lockout.attempts:
        raise Refusal("auth.locked", minutes=lockout.minutes)
    raise Refusal("auth.bad_login")


def login_staff(db: Database, username: str, password: str,
                lockout: Lockout = Lockout()) -> Actor:
    with db.read() as session:
        user = session.execute(
            select(StaffUser).where(StaffUser.username == username.strip())
        ).scalar_one_or_none()
    if user is None or not user.active:
        verify_secret(_dummy_hash(), password)
        raise Refusal("auth.bad_login")
    _check_secret(db, StaffUser, user.id, user.password_hash, password, lockout)
    return Actor("staff", user.id, user.display_name, user.role,
                 must_change_password=user.must_change_password)


def login_workshop(
    db: Database, *, event_slug: str, workshop_code: str, pin: str,
    lockout: Lockout = Lockout(),
) -> Actor:
    with db.read() as session:
        workshop = _find_workshop(session, event_slug, workshop_code)
    if workshop is None or workshop.pin_hash is None:
        verify_secret(_dummy_hash(), pin)
        raise Refusal("auth.bad_login")
    _check_secret(db, Workshop, workshop.id, workshop.pin_hash, pin, lockout)
    return Actor("workshop", workshop.id, workshop.name, "workshop", workshop.event_id)


def unlock_staff_user(db: Database, username: str) -> None:
    """An admin lets a locked-out colleague try again (the CLI's `user unlock`)."""
    with db.write() as session:
        done = session.execute(
            update(StaffUser).where(StaffUser.username == username.strip())
            .values(failed_logins=0, locked_until=None)
        )
        if affected(done) == 0:
            raise Refusal("request.invalid", detail=f"no staff user {username!r}")


def open_session(db: Database, actor: Actor, *, hours: int) -> tuple[str, str]:
    """Start a browser session; returns (cookie token, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = clock.now()
    with db.write() as session:
        session.add(
            WebSession(
                token_hash=token_hash(token),
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
        row = session.get(WebSession, token_hash(token))
        if row is not None:
            session.delete(row)


def new_api_token(db: Database, *, name: str, staff_user_id: int | None = None,
                  workshop_id: int | None = None) -> tuple[int, str]:
    """A new bearer token for one staff user or one workshop: (its id, the token)."""
    if (staff_user_id is None) == (workshop_id is None):
        raise Refusal("request.invalid", detail="a token belongs to one staff user or one workshop")
    token = "ofl_" + secrets.token_urlsafe(32)
    with db.write() as session:
        if staff_user_id is not None and session.get(StaffUser, staff_user_id) is None:
            raise Refusal("staff.not_found")
        if workshop_id is not None and session.get(Workshop, workshop_id) is None:
            raise Refusal("workshop.not_found")
        row = ApiToken(
            token_hash=token_hash(token),
            name=name,
            staff_user_id=staff_user_id,
            workshop_id=workshop_id,
            created_at=clock.now(),
        )
        session.add(row)
        session.flush()
        return row.id, token


def issue_api_token(db: Database, *, name: str, staff_user_id: int | None = None,
                    workshop_id: int | None = None) -> str:
    return new_api_token(db, name=name, staff_user_id=staff_user_id,
                         workshop_id=workshop_id)[1]


@dataclass(frozen=True)
class TokenInfo:
    """An API token as an admin sees it: never the token itself, which is shown once."""

    id: int
    name: str
    holder: str  # "staff:<username>" or "workshop:<event slug>/<code>"
    created_at: datetime
    revoked_at: datetime | None


def _token_infos(session: Session, *where: Any) -> list[TokenInfo]:
    rows = session.execute(
        select(ApiToken, StaffUser.username, Event.slug, Workshop.code)
        .outerjoin(StaffUser, StaffUser.id == ApiToken.staff_user_id)
        .outerjoin(Workshop, Workshop.id == ApiToken.workshop_id)
        .outerjoin(Event, Event.id == Workshop.event_id)
        .where(*where)
        .order_by(ApiToken.id)
    ).all()
    return [
        TokenInfo(t.id, t.name, f"staff:{user}" if user else f"workshop:{slug}/{code}",
                  t.created_at, t.revoked_at)
        for t, user, slug, code in rows
    ]


def list_api_tokens(db: Database) -> list[TokenInfo]:
    with db.read() as session:
        return _token_infos(session)


def revoke_api_token(db: Database, token_id: int, *, caller_token: str | None = None) -> TokenInfo:
    """Revoke a token for good. It stops working at once in every server process: tokens
    are looked up on each request, never remembered. Revoking it again changes nothing.
    ``caller_token``: the token this request came with, which may not revoke itself (a
    script would lock itself out; revoke it from another login or the CLI)."""
    with db.write() as session:
        if caller_token is not None and session.execute(
                select(ApiToken.id).where(ApiToken.token_hash == token_hash(caller_token))
        ).scalar_one_or_none() == token_id:
            raise Refusal("token.own")
        session.execute(
            update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=clock.now())
        )
        found = _token_infos(session, ApiToken.id == token_id)
    if not found:
        raise Refusal("token.not_found")
    return found[0]


# Who holds a live token, in one statement: this runs on every bearer request (each
# booth scan), so it is compiled once and skips the ORM.
_TOKEN_HOLDER = (
    select(
        ApiToken.staff_user_id, StaffUser.display_name, StaffUser.role,
        ApiToken.workshop_id, Workshop.name, Workshop.event_id,
    )
    .outerjoin(StaffUser, (StaffUser.id == ApiToken.staff_user_id) & StaffUser.active)
    .outerjoin(Workshop, Workshop.id == ApiToken.workshop_id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
)


def actor_from_token(db: Database, token: str) -> Actor | None:
    with db.single_statement_engine.connect() as conn:
        row = conn.execute(_TOKEN_HOLDER, {"token_hash": token_hash(token)}).first()
    if row is None:
        return None
    staff_id, staff_name, role, workshop_id, workshop_name, event_id = row
    if staff_id is not None:  # None: its staff user was switched off
        return None if staff_name is None else Actor("staff", staff_id, staff_name, role,
                                                     None, "token")
    assert workshop_id is not None  # the holder check: one staff user or one workshop
    return Actor("workshop", workshop_id, workshop_name, "workshop", event_id, "token")


def _actor_for(session, staff_user_id: int | None, workshop_id: int | None,  # type: ignore[no-untyped-def]
               via: str, csrf: str = "") -> Actor | None:
    if staff_user_id is not None:
        user = session.get(StaffUser, staff_user_id)
        if user is None or not user.active:
            return None
        return Actor("staff", user.id, user.display_name, user.role, None, via, csrf,
                     user.must_change_password)
    workshop = session.get(Workshop, workshop_id)
    if workshop is None:
        return None
    return Actor("workshop", workshop.id, workshop.name, "workshop", workshop.event_id, via, csrf)


def actor_from_session(db: Database, token: str) -> Actor | None:
    with db.read() as session:
        row = session.get(WebSession, token_hash(token))
        if row is None or row.expires_at <= clock.now():
            return None
        return _actor_for(session, row.staff_user_id, row.workshop_id, "session", row.csrf_token)
