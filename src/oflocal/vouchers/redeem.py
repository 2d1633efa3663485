"""Redeeming tickets at a workshop's booth, and undoing a redemption. Read this file to
know how a redemption works.

A request names one or more tickets; all are taken or none. The winner of a race is
decided by the database: one ``UPDATE ticket SET status='redeemed' WHERE status='active'
AND <valid today at this workshop's event> RETURNING ...`` must take every ticket of the
request, and a partial unique index allows one live redemption per ticket. If it takes
fewer, the tickets it left are looked at to say why, and the refusal rolls everything
back. One journal entry moves the face value from voucher liability to the workshop's
payable account. Undo is allowed to the same workshop, within the undo window, before
settlement; it posts the reversing entry.

This is the hottest path of the event (a queue at every booth). On PostgreSQL the
everyday case (every ticket valid and free, a new Idempotency-Key) is one statement,
redeem_sql.py, that writes the same rows; what it does not take (a refusal, a race, a
retry) comes here, and this path decides and explains it. This path is written in
SQLAlchemy Core on the session's connection: statements compiled once and cached, no ORM
unit of work, no row of the workshop's event re-read when the ticket row says enough.
Account ids are remembered per database (:func:`_account_ids`); they never change.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.events.models import Workshop
from oflocal.format import en_minute, ja_minute
from oflocal.idempotency.store import IdempotencyKey, Outcome, RefusedBeforeWriting, run_once
from oflocal.ledger.accounts import account_ids, liability_code, payable_code
from oflocal.ledger.journal import post_entry, reverse_entry
from oflocal.ledger.models import JournalEntry
from oflocal.settlement.membership import OPEN_PERIOD_NOW, hold_closes, is_settled, last_period
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.lookup import authentic_codes
from oflocal.vouchers.models import Programme, Redemption, Ticket
from oflocal.vouchers.redeem_sql import redeem_in_one_statement

_ticket = cast(Table, Ticket.__table__)
_programme = cast(Table, Programme.__table__)
_workshop = cast(Table, Workshop.__table__)
_redemption = cast(Table, Redemption.__table__)

# The one statement that decides who gets a ticket: sold, not yet used, of a programme of
# the workshop's event that is valid today, at a workshop that takes part. Tickets it does
# not return were not taken. It also returns the workshop's facts the entry needs.
_VALID_HERE = (
    select(_programme.c.id)
    .join(_workshop, _workshop.c.event_id == _programme.c.event_id)
    .where(
        _workshop.c.id == bindparam("workshop_id"),
        _workshop.c.participating.is_(True),
        _programme.c.valid_from <= bindparam("today"),
        _programme.c.valid_until >= bindparam("today"),
    )
)


def _workshop_fact(column: Any) -> Any:
    return select(column).where(_workshop.c.id == bindparam("workshop_id")).scalar_subquery()


_TAKE = (
    update(_ticket)
    .where(
        _ticket.c.code.in_(bindparam("codes", expanding=True)),
        _ticket.c.status == "active",
        _ticket.c.programme_id.in_(_VALID_HERE),
    )
    .values(status="redeemed")
    .returning(
        _ticket.c.id,
        _ticket.c.code,
        _ticket.c.denomination,
        _ticket.c.programme_id,
        _workshop_fact(_workshop.c.event_id).label("event_id"),
        _workshop_fact(_workshop.c.name).label("workshop_name"),
        _workshop_fact(_workshop.c.code).label("workshop_code"),
    )
)

# Why tickets were not taken, in one look: the asking workshop (no row: it does not
# exist), each named ticket with its programme, and where and when a live redemption took
# it. Only refusals (and a race lost) pay for this.
_winner = _workshop.alias("winner")
_DIAGNOSIS = (
    select(
        _workshop.c.event_id.label("workshop_event_id"),
        _workshop.c.participating,
        _ticket.c.code,
        _ticket.c.status,
        _programme.c.event_id,
        _programme.c.valid_from,
        _programme.c.valid_until,
        _winner.c.name.label("redeemed_where"),
        _redemption.c.redeemed_at,
    )
    .select_from(_workshop)
    .outerjoin(_ticket, _ticket.c.code.in_(bindparam("codes", expanding=True)))
    .outerjoin(_programme, _programme.c.id == _ticket.c.programme_id)
    .outerjoin(
        _redemption,
        and_(_redemption.c.ticket_id == _ticket.c.id, _redemption.c.undone_at.is_(None)),
    )
    .outerjoin(_winner, _winner.c.id == _redemption.c.workshop_id)
    .where(_workshop.c.id == bindparam("workshop_id"))
)

# Each redemption copies the event's open settlement period, which decides the period
# it is settled in (settlement/membership.py).
_RECORD = insert(_redemption).values(open_period=OPEN_PERIOD_NOW)


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
    if not db.is_sqlite and not db.writing:  # the everyday case in one round trip
        body = redeem_in_one_statement(
            db, workshop_id=workshop_id, codes=canonical, today=clock.tokyo_date(at), now=at,
            undo_window=undo_window_seconds, idem=idem)
        if body is not None:
            return Outcome(201, body)

    def work(session: Session) -> dict[str, Any]:
        return _redeem(db, session, workshop_id, canonical, at, undo_window_seconds)

    # The conditional UPDATE cannot take a ticket twice, so the key need not be looked up
    # before the work (see run_once): one round trip fewer per redemption.
    return run_once(db, idem, work, look_first=False)


def _account_ids(db: Database, session: Session, event_id: int, *codes: str) -> dict[str, int]:
    """Account ids by code, remembered per database: accounts are never renumbered,
    deleted or moved to another event, so a remembered id is always the right one."""
    memo: dict[tuple[int, str], int] = db.memo.setdefault("account_ids", {})
    missing = [code for code in codes if (event_id, code) not in memo]
    if missing:
        for code, id_ in account_ids(session, event_id, *missing).items():
            memo[(event_id, code)] = id_
    return {code: memo[(event_id, code)] for code in codes}


def _redeem(
    db: Database,
    session: Session,
    workshop_id: int,
    codes: list[str],
    now: datetime,
    undo_window: int,
) -> dict[str, Any]:
    conn = session.connection()
    today = clock.tokyo_date(now)
    take = {"codes": codes, "workshop_id": workshop_id, "today": today}
    taken = {r.code: r for r in conn.execute(_TAKE, take)}
    left = [c for c in codes if c not in taken]
    for _attempt in range(3):
        if not left:
            break
        try:
            _refuse(conn, workshop_id, left, today)
        except Refusal as refusal:
            if taken:
                raise  # the refusal rolls back what this request took
            raise RefusedBeforeWriting(refusal) from None  # nothing taken, nothing written
        # Every ticket left looks valid now: a concurrent undo committed between our
        # UPDATE and our look. Try those again.
        taken.update((r.code, r) for r in conn.execute(_TAKE, {**take, "codes": left}))
        left = [c for c in codes if c not in taken]
    if left:
        raise AssertionError("tickets keep changing under a redemption")
    first = taken[codes[0]]
    event_id, workshop_name, workshop_code = (
        first.event_id, first.workshop_name, first.workshop_code
    )
    by_programme: dict[int, int] = defaultdict(int)
    for code in codes:
        by_programme[taken[code].programme_id] += taken[code].denomination
    total = sum(by_programme.values())
    accounts = _account_ids(
        db,
        session,
        event_id,
        payable_code(workshop_id),
        *(liability_code(p) for p in by_programme),
    )
    entry_id = post_entry(
        session,
        event_id=event_id,
        kind="redemption",
        lines=[
            *((accounts[liability_code(p)], amount) for p, amount in by_programme.items()),
            (accounts[payable_code(workshop_id)], -total),
        ],
        occurred_at=now,
        memo=f"{len(codes)} ticket(s) at {workshop_code}",
        actor=f"workshop:{workshop_id}",
    )
    conn.execute(
        _RECORD,
        [
            {
                "ticket_id": taken[c].id,
                "workshop_id": workshop_id,
                "programme_id": taken[c].programme_id,
                "amount": taken[c].denomination,
                "entry_id": entry_id,
                "redeemed_at": now,
                "event_id": event_id,
            }
            for c in codes
        ],
    )
    return {
        "redemption_id": entry_id,
        "workshop_id": workshop_id,
        "workshop_name": workshop_name,
        "total": total,
        "tickets": [{"code": c, "denomination": taken[c].denomination} for c in codes],
        "redeemed_at": now.isoformat(),
        "undo_until": (now + timedelta(seconds=undo_window)).isoformat(),
    }


def _refuse(conn: Connection, workshop_id: int, codes: list[str], today: date) -> None:
    """Raise the refusal for the first of ``codes`` (in the order given) that is not valid
    here today; return if they all look valid now."""
    rows = conn.execute(_DIAGNOSIS, {"workshop_id": workshop_id, "codes": codes}).all()
    if not rows:
        raise Refusal("workshop.not_found")
    if not rows[0].participating:
        raise Refusal("workshop.not_participating")
    event_id = rows[0].workshop_event_id
    tickets = {r.code: r for r in rows if r.code is not None}
    for code in codes:
        _check_ticket(tickets.get(code), code, event_id, today)


def _check_ticket(row: Any, code: str, event_id: int, today: date) -> None:
    if row is None:
        raise Refusal("code.unknown", code=code)
    if row.event_id != event_id:
        raise Refusal("ticket.other_event", code=code)
    if row.status == "printed":
        raise Refusal("ticket.not_sold", code=code)
    if row.status == "voided":
        raise Refusal("ticket.voided", code=code)
    if row.status == "expired" or today > row.valid_until:
        raise Refusal("ticket.expired", code=code, date=row.valid_until)
    if row.status == "redeemed":
        if row.redeemed_at is None:  # the ticket and its redemption are written together
            raise AssertionError(f"ticket {code} is redeemed but has no live redemption")
        raise Refusal(
            "ticket.already_redeemed",
            code=code,
            workshop=row.redeemed_where,
            when=ja_minute(row.redeemed_at),
            when_en=en_minute(row.redeemed_at),
        )
    if today < row.valid_from:
        raise Refusal("ticket.not_yet_valid", code=code, date=row.valid_from)


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
    hold_closes(session, entry_id)  # "not settled" below stays true until this commits
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
    last = last_period(session, entry.event_id)
    if any(is_settled(r, last) for r in redemptions):
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
