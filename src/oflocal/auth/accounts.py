"""Staff accounts after they exist: the list, changing your own password, an admin's
reset, the first admin's generated password, switching a login off and on.

A generated password is shown once and must be replaced at the first login
(``must_change_password``): until then the roles guard opens only the password page,
``GET /api/v1/session`` and logging out. Changing or resetting a password ends every
other browser session of that user: a new password usually means the old one leaked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update

from oflocal.auth.models import StaffUser, WebSession
from oflocal.auth.service import check_password, hash_secret, token_hash, verify_secret
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal

# No 0/O, 1/l/I: read aloud or copied from a screen without mistakes.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def generate_password() -> str:
    """Sixteen random characters in groups of four (~79 bits): ``k7mp-x2qa-…``."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class StaffAccount:
    """A staff login as the admin page shows it (never its password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    active: bool
    locked_until: datetime | None
    must_change_password: bool


def staff_accounts(db: Database) -> list[StaffAccount]:
    with db.read() as session:
        users = session.execute(select(StaffUser).order_by(StaffUser.username)).scalars()
        return [StaffAccount(u.id, u.username, u.display_name, u.role, u.active,
                             u.locked_until, u.must_change_password) for u in users]


def user_id(db: Database, username: str) -> int:
    with db.read() as session:
        user_id = session.execute(
            select(StaffUser.id).where(StaffUser.username == username.strip())
        ).scalar_one_or_none()
    if user_id is None:
        raise Refusal("staff.not_found")
    return user_id


def set_password(db: Database, user_id: int, password: str, *, must_change: bool,
                 keep_session: str | None = None) -> None:
    """Store a new password; end the user's other sessions and lift a lock-out."""
    check_password(password)
    digest = hash_secret(password)  # slow: before the transaction
    with db.write() as session:
        done = session.execute(
            update(StaffUser).where(StaffUser.id == user_id).values(
                password_hash=digest, must_change_password=must_change, failed_logins=0,
                locked_until=None)
        )
        if affected(done) == 0:
            raise Refusal("staff.not_found")
        ended = delete(WebSession).where(WebSession.staff_user_id == user_id)
        if keep_session is not None:
            ended = ended.where(WebSession.token_hash != keep_session)
        session.execute(ended)


def change_own_password(db: Database, user_id: int, current: str, new: str,
                        *, this_session: str | None = None) -> None:
    """A logged-in user replaces their password; the current one is asked again so a
    session left open on a shared PC cannot take the account over."""
    with db.read() as session:
        digest = session.execute(
            select(StaffUser.password_hash).where(StaffUser.id == user_id)
        ).scalar_one_or_none()
    if digest is None:
        raise Refusal("staff.not_found")
    if not verify_secret(digest, current):
        raise Refusal("auth.password_wrong")
    keep = token_hash(this_session) if this_session else None
    set_password(db, user_id, new, must_change=False, keep_session=keep)


def reset_password(db: Database, username: str) -> str:
    """An admin's reset: a generated password, shown once, to be changed at first login."""
    password = generate_password()
    set_password(db, user_id(db, username), password, must_change=True)
    return password


def set_active(db: Database, username: str, active: bool) -> None:
    """Switch a login off (it and its sessions and tokens stop at once) or on again."""
    found = user_id(db, username)
    with db.write() as session:
        session.execute(update(StaffUser).where(StaffUser.id == found).values(active=active))
        if not active:
            session.execute(delete(WebSession).where(WebSession.staff_user_id == found))
