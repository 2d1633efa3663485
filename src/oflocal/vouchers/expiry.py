"""After the last day of use, unredeemed sold tickets expire: one breakage entry, once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.ledger.accounts import account_ids, liability_code
from oflocal.ledger.journal import post_entry
from oflocal.vouchers.issue import lock_programme
from oflocal.vouchers.models import Programme, Ticket


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
        )
        return {
            "programme_id": programme_id,
            "tickets": count,
            "amount": int(total),
            "entry_id": entry_id,
        }
