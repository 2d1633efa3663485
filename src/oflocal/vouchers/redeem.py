"""Redeeming tickets at a workshop's booth, and undoing a redemption. Read this file to
know how a redemption works.

A request names one or more tickets; all are taken or none. The winner of a race is
decided by the database: ``UPDATE ticket SET status='redeemed' WHERE status='active'``
must touch every ticket of the request, and a partial unique index allows one live
redemption per ticket. One journal entry moves the face value from voucher liability
to the workshop's payable account. Undo is allowed to the same workshop, within the
undo window, before settlement; it posts the reversing entry.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.events.models import Workshop
from oflocal.format import ja_date, tokyo_minute
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once
from oflocal.ledger.accounts import account_ids, liability_code, payable_code
from oflocal.ledger.journal import post_entry, reverse_entry
from oflocal.ledger.models import JournalEntry
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.lookup import authentic_codes
from oflocal.vouchers.models import Programme, Redemption, Ticket

_TICKET_ROWS = (
    select(
        Ticket.id,
        Ticket.code,
        Ticket.status,
        Ticket.denomination,
        Ticket.programme_id,
        Programme.event_id,
        Programme.valid_from,
        Programme.valid_until,
    )
    .join(Programme, Programme.id == Ticket.programme_id)
)


def redeem_tickets(
    db: Database,
    signer: CodeSigner,
    *,
    workshop_id: int,
    codes: list[str],
    undo_window_seconds: int = 600,
    max_codes: int = 50,
    idem: IdempotencyKey | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Take tickets at ``workshop_id``. Refusals raise :class:`Refusal` and change nothing."""
    canonical = authentic_codes(signer, codes, "T", limit=max_codes)
    at = now or clock.now()

    def work(session: Session) -> dict[str, Any]:
        return _redeem(session, workshop_id, canonical, at, undo_window_seconds)

    return run_once(db, idem, work)


def _workshop(session: Session, workshop_id: int) -> Workshop:
    workshop = session.get(Workshop, workshop_id)
    if workshop is None:
        raise Refusal("workshop.not_found")
    if not workshop.participating:
        raise Refusal("workshop.not_participating")
    return workshop


def _redeem(
    session: Session, workshop_id: int, codes: list[str], now: datetime, undo_window: int
) -> dict[str, Any]:
    workshop = _workshop(session, workshop_id)
    rows = {r.code: r for r in session.execute(_TICKET_ROWS.where(Ticket.code.in_(codes)))}
    today = clock.tokyo_date(now)
    for code in codes:
        _check_ticket(session, rows.get(code), code, workshop.event_id, today)
    ids = [rows[c].id for c in codes]
    taken = affected(
        session.execute(
            update(Ticket)
            .where(Ticket.id.in_(ids), Ticket.status == "active")
            .values(status="redeemed")
        )
    )
    if taken != len(ids):
        # Someone else committed first (PostgreSQL re-checked our WHERE after their commit).
        fresh = {r.code: r for r in session.execute(_TICKET_ROWS.where(Ticket.code.in_(codes)))}
        for code in codes:
            _check_ticket(session, fresh.get(code), code, workshop.event_id, today)
        raise AssertionError("ticket update lost a race but no ticket shows why")
    by_programme: dict[int, int] = defaultdict(int)
    for code in codes:
        by_programme[rows[code].programme_id] += rows[code].denomination
    total = sum(by_programme.values())
    accounts = account_ids(
        session,
        workshop.event_id,
        payable_code(workshop_id),
        *(liability_code(p) for p in by_programme),
    )
    entry_id = post_entry(
        session,
        event_id=workshop.event_id,
        kind="redemption",
        lines=[
            *((accounts[liability_code(p)], amount) for p, amount in by_programme.items()),
            (accounts[payable_code(workshop_id)], -total),
        ],
        occurred_at=now,
        memo=f"{len(codes)} ticket(s) at {workshop.code}",
        actor=f"workshop:{workshop_id}",
    )
    session.execute(
        insert(Redemption),
        [
            {
                "ticket_id": rows[c].id,
                "workshop_id": workshop_id,
                "programme_id": rows[c].programme_id,
                "amount": rows[c].denomination,
                "entry_id": entry_id,
                "redeemed_at": now,
            }
            for c in codes
        ],
    )
    return {
        "redemption_id": entry_id,
        "workshop_id": workshop_id,
        "workshop_name": workshop.name,
        "total": total,
        "tickets": [{"code": c, "denomination": rows[c].denomination} for c in codes],
        "redeemed_at": now.isoformat(),
        "undo_until": (now + timedelta(seconds=undo_window)).isoformat(),
    }


def _check_ticket(session: Session, row: Any, code: str, event_id: int, today: date) -> None:
    if row is None:
        raise Refusal("code.unknown", code=code)
    if row.event_id != event_id:
        raise Refusal("ticket.other_event", code=code)
    if row.status == "printed":
        raise Refusal("ticket.not_sold", code=code)
    if row.status == "voided":
        raise Refusal("ticket.voided", code=code)
    if row.status == "expired" or today > row.valid_until:
        raise Refusal("ticket.expired", code=code, date=ja_date(row.valid_until))
    if row.status == "redeemed":
        where, when = session.execute(
            select(Workshop.name, Redemption.redeemed_at)
            .join(Workshop, Workshop.id == Redemption.workshop_id)
            .where(Redemption.ticket_id == row.id, Redemption.undone_at.is_(None))
        ).one()
        raise Refusal(
            "ticket.already_redeemed", code=code, workshop=where, when=tokyo_minute(when)
        )
    if today < row.valid_from:
        raise Refusal("ticket.not_yet_valid", code=code, date=ja_date(row.valid_from))


def undo_redemption(
    db: Database,
    *,
    workshop_id: int,
    redemption_id: int,
    undo_window_seconds: int = 600,
    idem: IdempotencyKey | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Undo a whole redemption request (all its tickets) by a reversing entry."""
    at = now or clock.now()

    def work(session: Session) -> dict[str, Any]:
        return _undo(session, workshop_id, redemption_id, at, undo_window_seconds)

    return run_once(db, idem, work, status=200)


def _undo(
    session: Session, workshop_id: int, entry_id: int, now: datetime, window: int
) -> dict[str, Any]:
    redemptions = session.execute(
        select(Redemption).where(Redemption.entry_id == entry_id).with_for_update()
    ).scalars().all()
    entry = session.get(JournalEntry, entry_id)
    if not redemptions or entry is None or entry.kind != "redemption":
        raise Refusal("undo.not_found")
    if any(r.workshop_id != workshop_id for r in redemptions):
        raise Refusal("undo.other_workshop")
    if any(r.undone_at is not None for r in redemptions):
        raise Refusal("undo.already_undone")
    if now - redemptions[0].redeemed_at > timedelta(seconds=window):
        raise Refusal("undo.window_passed", minutes=window // 60)
    if any(getattr(r, "settlement_period_id", None) is not None for r in redemptions):
        raise Refusal("undo.settled")
    undo_entry = reverse_entry(
        session,
        entry_id,
        kind="undo",
        occurred_at=now,
        memo=f"undo of redemption {entry_id}",
        actor=f"workshop:{workshop_id}",
    )
    ids = [r.id for r in redemptions]
    done = affected(
        session.execute(
            update(Redemption)
            .where(Redemption.id.in_(ids), Redemption.undone_at.is_(None))
            .values(undone_at=now, undo_entry_id=undo_entry)
        )
    )
    if done != len(ids):
        raise Refusal("undo.already_undone")
    session.execute(
        update(Ticket)
        .where(Ticket.id.in_([r.ticket_id for r in redemptions]), Ticket.status == "redeemed")
        .values(status="active")
    )
    return {
        "redemption_id": entry_id,
        "undo_entry_id": undo_entry,
        "total": sum(r.amount for r in redemptions),
        "undone_at": now.isoformat(),
    }
