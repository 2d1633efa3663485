"""The planned transfer date of a period: the date the latest Zengin file was made for.

Making the Zengin file of a period that is not paid yet records the transfer date it
was made for (``settlement_transfer_plan``, one row per file made). Until the period
is paid, its statements show that date as 振込予定日 instead of 未定, and "mark paid"
proposes it. Once paid, the period's own ``transfer_date`` is what counts.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal.settlement.models import SettlementPeriod, SettlementTransferPlan


def planned_transfer_date(session: Session, period_id: int) -> date | None:
    """The transfer date of the latest Zengin file made for the period, if any."""
    return session.execute(
        select(SettlementTransferPlan.transfer_date)
        .where(SettlementTransferPlan.period_id == period_id)
        .order_by(SettlementTransferPlan.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def record_transfer_plan(session: Session, period: SettlementPeriod, transfer_date: date, *,
                         actor: str, at: datetime) -> bool:
    """Note that a Zengin file was made for ``transfer_date``; only for a period not yet
    paid (a paid period's file repeats its own date). Returns whether a row was added."""
    if period.status != "closed":
        return False
    session.add(SettlementTransferPlan(period_id=period.id, transfer_date=transfer_date,
                                       made_at=at, made_by=actor[:60]))
    session.flush()
    return True
