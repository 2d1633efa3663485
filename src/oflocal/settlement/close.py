"""Closing a settlement period. Read this file to know how a close works.

Closing an event's period at a cut-off time, in one write transaction:

1. lock the event row, so closes (and corrections) of one event run one after another,
   and hold the event's redemptions (:func:`membership.hold_redemptions`): the close
   waits for the event's redemptions and undos in flight to commit, new ones wait for
   the close (well under a second even for a million redemptions); other events'
   booths are not held;
2. the same cut-off again returns the period already closed (idempotent);
   a cut-off in the future or not after the last one is refused;
3. the period takes the event's open period number, and the event's open period moves
   on by one; redemptions written from now on belong to a later period;
4. the live redemptions that belong to it (membership.py: opened up to this number,
   redeemed up to the cut-off, not in the previous period) are counted per workshop,
   Tokyo day and denomination into ``settlement_tally`` in one INSERT ... SELECT;
   nothing is written to the redemptions themselves;
5. pending corrections recorded up to the cut-off are given to the period (a few rows);
   an amount a workshop owes back to be offset against its payout (``offset``) only
   while the workshop's line stays at ¥0 or more, one correction at a time in the
   order they were made; the others wait for a later period; one it was asked to pay
   back (``repayment``) is never taken (corrections.py);
6. one line per workshop is frozen: tickets, face value, corrections, fee, net.

Why a redemption is in exactly one period: which period is a function of the row and
the periods (membership.py), and the copy of the open period is exact because a close
and a redemption write of the same event exclude each other (the event's lock). A
redemption redeemed before the cut-off but committed after the close copied the next
number, so the next close takes it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, func, insert, literal, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.events.models import Event, Workshop
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once
from oflocal.reports.sql import tokyo_day
from oflocal.settlement.membership import hold_redemptions, in_period, last_period
from oflocal.settlement.models import (
    SettlementCorrection,
    SettlementLine,
    SettlementPeriod,
    SettlementTally,
)
from oflocal.settlement.rules import FeeRule
from oflocal.settlement.settings import fee_rule_of, lock_event
from oflocal.vouchers.models import Programme, Redemption


def close_period(
    db: Database,
    *,
    event_id: int,
    cutoff: datetime | None = None,
    actor: str,
    now: datetime | None = None,
    idem: IdempotencyKey | None = None,
) -> Outcome:
    """Close the event's next period at ``cutoff`` (default: now). The body is the
    period's summary; status 200 and ``replayed`` when this cut-off was closed already."""
    at = now or clock.now()
    cut = cutoff or at
    if cut.tzinfo is None:
        raise ValueError("the cut-off must be an aware datetime")
    if cut > at:
        raise Refusal("settlement.cutoff_in_future", cutoff=cut)

    def work(session: Session) -> dict[str, Any]:
        return _close(session, event_id, cut, actor, at)

    try:
        outcome = run_once(db, idem, work, status=201)
    except OperationalError as error:
        # Redemptions in flight did not finish within membership.LOCK_WAIT: nothing was
        # written. Raised here, outside run_once, so the key is not spent on it.
        if getattr(error.orig, "sqlstate", None) == "55P03":
            raise Refusal("settlement.close_busy") from None
        raise
    if outcome.body.get("replayed"):
        return Outcome(200, outcome.body, outcome.replayed)
    return outcome


def _close(
    session: Session, event_id: int, cut: datetime, actor: str, at: datetime
) -> dict[str, Any]:
    event = lock_event(session, event_id)
    hold_redemptions(session, event_id)
    existing = session.execute(
        select(SettlementPeriod).where(
            SettlementPeriod.event_id == event_id, SettlementPeriod.cutoff_at == cut
        )
    ).scalar_one_or_none()
    if existing is not None:
        return {**period_summary(session, existing), "replayed": True}
    last = last_period(session, event_id)
    if last is not None and cut <= last.cutoff_at:
        raise Refusal(
            "settlement.cutoff_not_after_last",
            cutoff=cut,
            last=last.cutoff_at,
        )
    rule = fee_rule_of(event)
    period = SettlementPeriod(
        event_id=event_id,
        number=event.open_period,
        cutoff_at=cut,
        previous_cutoff_at=last.cutoff_at if last else None,
        status="closed",
        fee_rule=rule.rule,
        fee_rate_bp=rule.rate_bp,
        fee_fixed_yen=rule.fixed_yen,
        fee_rounding=rule.rounding,
        closed_at=at,
        closed_by=actor[:60],
    )
    session.add(period)
    session.flush()
    moved = session.execute(
        update(Event)
        .where(Event.id == event_id, Event.open_period == period.number)
        .values(open_period=period.number + 1)
        .execution_options(synchronize_session=False)
    )
    if affected(moved) != 1:  # the event row is locked: nobody else can move it
        raise AssertionError("the open period moved during a close")
    _count_redemptions(session, event_id, period)
    _take_corrections(session, event_id, period.id, cut)
    _take_offsets(session, event_id, period.id, cut, rule)
    if not _freeze_lines(session, period, rule):
        raise Refusal("settlement.nothing_to_settle", cutoff=cut)
    return {**period_summary(session, period), "replayed": False}


def _count_redemptions(session: Session, event_id: int, period: SettlementPeriod) -> None:
    """The tallies of the live redemptions that belong to the period: one INSERT ...
    SELECT, a single pass over the event's redemptions."""
    dialect = session.get_bind().dialect.name
    day = tokyo_day(Redemption.redeemed_at, dialect)
    tally = (
        select(
            literal(period.id, Integer),
            Redemption.workshop_id,
            day,
            Redemption.amount,
            func.count(),
            func.sum(Redemption.amount),
        )
        .where(
            Redemption.programme_id.in_(
                select(Programme.id).where(Programme.event_id == event_id)
            ),
            Redemption.undone_at.is_(None),
            in_period(period.number, period.cutoff_at, period.previous_cutoff_at),
        )
        .group_by(Redemption.workshop_id, day, Redemption.amount)
    )
    columns = ["period_id", "workshop_id", "day", "denomination", "ticket_count", "face_total"]
    session.execute(insert(SettlementTally).from_select(columns, tally))


def _take_corrections(session: Session, event_id: int, period_id: int, cutoff: datetime) -> None:
    session.execute(
        update(SettlementCorrection)
        .where(
            SettlementCorrection.event_id == event_id,
            SettlementCorrection.settlement_period_id.is_(None),
            SettlementCorrection.created_at <= cutoff,
            SettlementCorrection.settle_by == "payout",
        )
        .values(settlement_period_id=period_id)
        .execution_options(synchronize_session=False)
    )


def pending_offsets(
    session: Session, event_id: int, cutoff: datetime
) -> list[tuple[int, int, int]]:
    """(id, workshop, amount) of the amounts owed back, to offset, made up to ``cutoff``."""
    return [
        (int(i), int(w), int(a))
        for i, w, a in session.execute(
            select(SettlementCorrection.id, SettlementCorrection.workshop_id,
                   SettlementCorrection.amount)
            .where(
                SettlementCorrection.event_id == event_id,
                SettlementCorrection.settlement_period_id.is_(None),
                SettlementCorrection.created_at <= cutoff,
                SettlementCorrection.settle_by == "offset",
            )
            .order_by(SettlementCorrection.id)
        )
    ]


def offsets_that_fit(rule: FeeRule, counts: dict[int, list[int]],
                     offsets: list[tuple[int, int, int]]) -> list[int]:
    """Which offsets a close takes: in order, each while its workshop's line (tickets,
    face, adjustment in ``counts``, updated here) stays at ¥0 or more."""
    taken = []
    for correction_id, workshop_id, amount in offsets:
        tickets, face, adjustment = counts.get(workshop_id, [0, 0, 0])
        if line_amounts(rule, tickets, face, adjustment + amount)[1] >= 0:
            counts.setdefault(workshop_id, [0, 0, 0])[2] += amount
            taken.append(correction_id)
    return taken


def _take_offsets(
    session: Session, event_id: int, period_id: int, cutoff: datetime, rule: FeeRule
) -> None:
    """Give the period the amounts workshops owe back that their line can absorb."""
    offsets = pending_offsets(session, event_id, cutoff)
    if not offsets:
        return
    counts: dict[int, list[int]] = {}
    for workshop_id in {w for _, w, _ in offsets}:
        tickets, face = (int(v) for v in session.execute(
            select(func.coalesce(func.sum(SettlementTally.ticket_count), 0),
                   func.coalesce(func.sum(SettlementTally.face_total), 0))
            .where(SettlementTally.period_id == period_id,
                   SettlementTally.workshop_id == workshop_id)
        ).one())
        adjustment = int(session.execute(
            select(func.coalesce(func.sum(SettlementCorrection.amount), 0))
            .where(SettlementCorrection.settlement_period_id == period_id,
                   SettlementCorrection.workshop_id == workshop_id)
        ).scalar_one())
        counts[workshop_id] = [tickets, face, adjustment]
    taken = offsets_that_fit(rule, counts, offsets)
    if taken:
        session.execute(
            update(SettlementCorrection)
            .where(SettlementCorrection.id.in_(taken),
                   SettlementCorrection.settlement_period_id.is_(None))
            .values(settlement_period_id=period_id)
            .execution_options(synchronize_session=False)
        )


def _freeze_lines(session: Session, period: SettlementPeriod, rule: FeeRule) -> int:
    """Write one line per workshop; returns how many."""
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # tickets, face, adjustment
    for workshop_id, tickets, face in session.execute(
        select(
            SettlementTally.workshop_id,
            func.sum(SettlementTally.ticket_count),
            func.sum(SettlementTally.face_total),
        )
        .where(SettlementTally.period_id == period.id)
        .group_by(SettlementTally.workshop_id)
    ):
        counts[workshop_id][0] += int(tickets)
        counts[workshop_id][1] += int(face)
    for workshop_id, adjustment in session.execute(
        select(SettlementCorrection.workshop_id, func.sum(SettlementCorrection.amount))
        .where(SettlementCorrection.settlement_period_id == period.id)
        .group_by(SettlementCorrection.workshop_id)
    ):
        counts[workshop_id][2] += int(adjustment)
    rows = []
    for workshop_id, (tickets, face, adjustment) in sorted(counts.items()):
        fee, net = line_amounts(rule, tickets, face, adjustment)
        if net < 0:
            workshop = session.get(Workshop, workshop_id)
            raise Refusal(
                "settlement.negative_net", workshop=workshop.name if workshop else "", net=net
            )
        rows.append(
            {
                "period_id": period.id,
                "workshop_id": workshop_id,
                "ticket_count": tickets,
                "face_total": face,
                "adjustment": adjustment,
                "fee": fee,
                "net": net,
            }
        )
    if rows:
        session.execute(insert(SettlementLine), rows)
    return len(rows)


def line_amounts(rule: FeeRule, tickets: int, face: int, adjustment: int) -> tuple[int, int]:
    """A workshop's line: (fee, net) for its tickets, face value and corrections."""
    fee = rule.fee(face, tickets)
    return fee, face + adjustment - fee


def period_summary(session: Session, period: SettlementPeriod) -> dict[str, Any]:
    tickets, face, adjustment, fee, net, lines = session.execute(
        select(
            func.coalesce(func.sum(SettlementLine.ticket_count), 0),
            func.coalesce(func.sum(SettlementLine.face_total), 0),
            func.coalesce(func.sum(SettlementLine.adjustment), 0),
            func.coalesce(func.sum(SettlementLine.fee), 0),
            func.coalesce(func.sum(SettlementLine.net), 0),
            func.count(),
        ).where(SettlementLine.period_id == period.id)
    ).one()
    rule = FeeRule(period.fee_rule, period.fee_rate_bp, period.fee_fixed_yen, period.fee_rounding)
    return {
        "period_id": period.id,
        "event_id": period.event_id,
        "number": period.number,
        "status": period.status,
        "cutoff_at": period.cutoff_at.isoformat(),
        "previous_cutoff_at": (
            period.previous_cutoff_at.isoformat() if period.previous_cutoff_at else None
        ),
        "closed_at": period.closed_at.isoformat(),
        "closed_by": period.closed_by,
        "transfer_date": period.transfer_date.isoformat() if period.transfer_date else None,
        "paid_at": period.paid_at.isoformat() if period.paid_at else None,
        "fee_rule": rule.describe_ja(),
        "fee_rule_en": rule.describe_en(),
        "workshops": int(lines),
        "ticket_count": int(tickets),
        "face_total": int(face),
        "adjustment_total": int(adjustment),
        "fee_total": int(fee),
        "net_total": int(net),
    }
