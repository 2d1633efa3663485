"""Marking a closed period paid: the bank has transferred, so post the payouts.

One payout entry per workshop line (DESIGN.md): debit payable:W with what the period
owed it (face value + corrections posted on payable:W), credit the bank with the net
transferred, fee income with the fee, and receivable:W with what the workshop owed back
and the period offset (corrections.py, ``settle_by = 'offset'``).
Paying twice is impossible twice over: the period moves from ``closed`` to ``paid`` by
a conditional UPDATE (and a trigger allows that move once), and every payout entry
carries a unique ``once_key`` naming the period and workshop.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, Outcome, run_once
from oflocal.ledger.accounts import account_ids, payable_code, receivable_code
from oflocal.ledger.journal import post_entry
from oflocal.settlement.bank_days import why_closed
from oflocal.settlement.close import period_summary
from oflocal.settlement.models import SettlementCorrection, SettlementLine, SettlementPeriod
from oflocal.settlement.payments import record_payments


def payout_key(period_id: int, workshop_id: int) -> str:
    return f"payout:S{period_id}:W{workshop_id}"


def offsets_of(session: Session, period_id: int) -> dict[int, int]:
    """Per workshop, the amounts owed back that the period offsets (negative yen)."""
    return {
        int(w): int(total)
        for w, total in session.execute(
            select(SettlementCorrection.workshop_id, func.sum(SettlementCorrection.amount))
            .where(SettlementCorrection.settlement_period_id == period_id,
                   SettlementCorrection.settle_by == "offset")
            .group_by(SettlementCorrection.workshop_id)
        )
    }


def mark_period_paid(
    db: Database,
    *,
    period_id: int,
    transfer_date: date,
    actor: str,
    now: datetime | None = None,
    idem: IdempotencyKey | None = None,
) -> Outcome:
    """Mark a closed period paid on ``transfer_date`` and post its payouts."""
    at = now or clock.now()

    def work(session: Session) -> dict[str, Any]:
        return _pay(session, period_id, transfer_date, actor, at)

    return run_once(db, idem, work, status=200)


def _pay(
    session: Session, period_id: int, transfer_date: date, actor: str, at: datetime
) -> dict[str, Any]:
    period = session.execute(
        select(SettlementPeriod).where(SettlementPeriod.id == period_id).with_for_update()
    ).scalar_one_or_none()
    if period is None:
        raise Refusal("settlement.period_not_found")
    if period.status == "paid":
        assert period.transfer_date is not None
        raise Refusal("settlement.already_paid", date=period.transfer_date)
    cutoff_day = clock.tokyo_date(period.cutoff_at)
    if transfer_date < cutoff_day:
        raise Refusal(
            "settlement.transfer_date_invalid",
            date=transfer_date,
            cutoff=cutoff_day,
        )
    closed = why_closed(transfer_date)
    if closed:  # no bank moves money then: a typo, and the books would say otherwise
        raise Refusal(
            "settlement.transfer_date_bank_holiday",
            date=transfer_date,
            reason=closed[0],
            reason_en=closed[1],
        )
    moved = cast(CursorResult[Any], session.execute(
        update(SettlementPeriod)
        .where(SettlementPeriod.id == period_id, SettlementPeriod.status == "closed")
        .values(status="paid", transfer_date=transfer_date, paid_at=at, paid_by=actor[:60])
        .execution_options(synchronize_session=False)
    )).rowcount
    if moved != 1:  # a concurrent payment won (PostgreSQL re-checked our WHERE)
        raise Refusal("settlement.already_paid", date=transfer_date)
    lines = session.execute(
        select(SettlementLine)
        .where(SettlementLine.period_id == period_id)
        .order_by(SettlementLine.workshop_id)
    ).scalars().all()
    codes = [payable_code(line.workshop_id) for line in lines]
    offsets = offsets_of(session, period_id)
    codes += [receivable_code(w) for w in offsets]
    accounts = account_ids(session, period.event_id, "bank", "fee_income", *codes)
    entries = 0
    for line in lines:
        offset = offsets.get(line.workshop_id, 0)  # ≤ 0: what it owed back, offset here
        if line.payable - offset == 0 and offset == 0:
            continue
        legs = [
            (accounts[payable_code(line.workshop_id)], line.payable - offset),
            (accounts["bank"], -line.net),
            (accounts["fee_income"], -line.fee),
        ]
        if offset:
            legs.append((accounts[receivable_code(line.workshop_id)], offset))
        post_entry(
            session,
            event_id=period.event_id,
            kind="payout",
            lines=legs,
            occurred_at=at,
            memo=f"精算 第{period.number}回 振込日 {transfer_date.isoformat()}",
            actor=actor,
            once_key=payout_key(period_id, line.workshop_id),
        )
        entries += 1
    record_payments(session, period, lines)  # the accounts the money went from and to
    session.refresh(period)
    return {**period_summary(session, period), "payout_entries": entries}
