"""After the last day of use, unredeemed sold tickets expire: one breakage entry, once.

The programme's close-out (:func:`closeout_status`, :func:`close_out_programme`) is
the treasurer's guided step around it: after the last day of use, what expires and
where its face value goes (breakage, or back to the premium fund, per the programme's
``breakage_rule``), what is still to settle with workshops, then the expiry (its entry
names itself ``expiry:P<id>``, so it is posted once however often it is asked for) and
the final report. A programme is closed out when its last day has passed and no sold
ticket is still valid.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, not_, select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.ledger.accounts import account_ids, liability_code, standard_name_ja
from oflocal.ledger.journal import post_entry
from oflocal.settlement.membership import last_period, settled
from oflocal.settlement.models import SettlementPeriod
from oflocal.vouchers.issue import lock_programme
from oflocal.vouchers.models import Programme, Redemption, Ticket


def _unredeemed(session: Session, programme_id: int) -> tuple[int, int]:
    """Sold tickets still valid for use: how many, and their face value."""
    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(Ticket.denomination), 0)).where(
            Ticket.programme_id == programme_id, Ticket.status == "active"
        )
    ).one()
    return int(count), int(total)


def expiry_preview(session: Session, programme_id: int) -> dict[str, Any]:
    """What expiring would post, for the page that asks before it does (read only)."""
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise Refusal("programme.not_found")
    count, total = _unredeemed(session, programme_id)
    target = "breakage" if programme.breakage_rule == "breakage" else "premium_fund"
    return {"programme_id": programme_id, "name": programme.name, "tickets": count,
            "amount": total, "valid_until": programme.valid_until, "target": target}


def expire_programme(
    db: Database, *, programme_id: int, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    at = now or clock.now()
    with db.write() as session:
        programme = lock_programme(session, programme_id)
        if clock.tokyo_date(at) <= programme.valid_until:
            raise Refusal("programme.not_expired", date=programme.valid_until)
        count, total = _unredeemed(session, programme_id)
        if count == 0:
            return {"programme_id": programme_id, "tickets": 0, "amount": 0, "entry_id": None}
        moved = affected(
            session.execute(
                update(Ticket)
                .where(Ticket.programme_id == programme_id, Ticket.status == "active")
                .values(status="expired")
            )
        )
        assert moved == count  # the programme lock keeps sales and this in order
        target = "breakage" if programme.breakage_rule == "breakage" else "premium_fund"
        accounts = account_ids(session, programme.event_id, liability_code(programme_id), target)
        entry_id = post_entry(
            session,
            event_id=programme.event_id,
            kind="expiry",
            lines=[
                (accounts[liability_code(programme_id)], int(total)),
                (accounts[target], -int(total)),
            ],
            occurred_at=at,
            memo=f"{count} unredeemed ticket(s) expired after {programme.valid_until}",
            actor=actor,
            once_key=f"expiry:P{programme_id}",
        )
        return {
            "programme_id": programme_id,
            "tickets": count,
            "amount": int(total),
            "entry_id": entry_id,
        }


# Where expired face value goes, named as the ledger names the account it lands in.
TARGET_JA = {"breakage": standard_name_ja("breakage"), "premium_fund": "プレミアム原資に戻す"}


def closeout_status(session: Session, programme_id: int,
                    today: date | None = None) -> dict[str, Any]:
    """Where the programme stands at its close-out (read only): whether its last day of
    use has passed, what would expire and where it goes, what is still to settle."""
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise Refusal("programme.not_found")
    day = today or clock.tokyo_date(clock.now())
    count, total = _unredeemed(session, programme_id)
    target = "breakage" if programme.breakage_rule == "breakage" else "premium_fund"
    expired, expired_face = (int(v) for v in session.execute(
        select(func.count(), func.coalesce(func.sum(Ticket.denomination), 0)).where(
            Ticket.programme_id == programme_id, Ticket.status == "expired")
    ).one())
    last = last_period(session, programme.event_id)
    unsettled = int(session.execute(
        select(func.count()).where(Redemption.programme_id == programme_id,
                                   Redemption.undone_at.is_(None),
                                   not_(settled(last)))
    ).scalar_one())
    unpaid = int(session.execute(
        select(func.count()).where(SettlementPeriod.event_id == programme.event_id,
                                   SettlementPeriod.status == "closed")
    ).scalar_one())
    ended = day > programme.valid_until
    return {
        "programme_id": programme_id,
        "event_id": programme.event_id,
        "name": programme.name,
        "valid_until": programme.valid_until.isoformat(),
        "last_day_passed": ended,
        "closed_out": ended and count == 0,
        "tickets": count,
        "amount": total,
        "target": target,
        "target_ja": TARGET_JA[target],
        "expired_tickets": expired,
        "expired_face": expired_face,
        "unsettled_redemptions": unsettled,
        "unpaid_periods": unpaid,
    }


def closeouts_due(
    session: Session, event_id: int, today: date | None = None
) -> list[dict[str, Any]]:
    """The event's programmes whose last day has passed and that are not closed out: the
    treasurer page's reminder."""
    day = today or clock.tokyo_date(clock.now())
    ids = session.execute(
        select(Programme.id).where(Programme.event_id == event_id, Programme.valid_until < day)
        .order_by(Programme.id)
    ).scalars().all()
    return [s for s in (closeout_status(session, pid, day) for pid in ids) if not s["closed_out"]]


def close_out_programme(
    db: Database, *, programme_id: int, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """Close the programme out: expire what is still valid after its last day (once),
    and answer where it then stands. Asking again posts nothing more."""
    at = now or clock.now()
    expired = expire_programme(db, programme_id=programme_id, actor=actor, now=at)
    with db.read() as session:
        status = closeout_status(session, programme_id, clock.tokyo_date(at))
    return {**status, "expired_now": expired["tickets"], "expired_now_amount": expired["amount"],
            "entry_id": expired["entry_id"]}
