"""The Zengin 総合振込 file of a period: one data record per workshop with a positive
net amount, names converted from the workshop's kana, every code checked against
zengin-code. Any problem blocks the whole file with the list of what to fix
(``zengin.blocked``), never a silently wrong record. A file made for a period not yet
paid records its transfer date as the period's planned one (settlement.plans). The
record layout itself is :mod:`oflocal.settlement.zengin`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.models import Workshop
from oflocal.settlement.models import SettlementLine
from oflocal.settlement.payments import accounts_for, payer_for
from oflocal.settlement.plans import record_transfer_plan
from oflocal.settlement.queries import get_period
from oflocal.settlement.zengin import (
    Payee,
    Requester,
    ZenginBlocked,
    ZenginProblem,
    build_zengin_file,
    validate,
)


def payees_of(session: Session, period_id: int) -> list[Payee]:
    """Workshops with a positive net amount in the period, in workshop-code order, each
    with the account it is paid to (payments.py: the copy once the period is paid)."""
    rows = session.execute(
        select(SettlementLine, Workshop)
        .join(Workshop, Workshop.id == SettlementLine.workshop_id)
        .where(SettlementLine.period_id == period_id, SettlementLine.net > 0)
        .order_by(Workshop.code)
    ).all()
    accounts = accounts_for(session, get_period(session, period_id))
    return [
        Payee(
            key=workshop.code,
            display_name=f"{workshop.code} {workshop.name}",
            name_kana=accounts[workshop.id].holder_kana,
            bank_code=accounts[workshop.id].bank_code,
            branch_code=accounts[workshop.id].branch_code,
            account_type=accounts[workshop.id].account_type,
            account_number=accounts[workshop.id].account_number,
            amount=line.net,
            customer_code=str(workshop.id),
        )
        for line, workshop in rows
    ]


def _inputs(session: Session, period_id: int) -> tuple[Requester, list[Payee], date | None]:
    period = get_period(session, period_id)
    return payer_for(session, period), payees_of(session, period_id), period.transfer_date


def _problem_dict(problem: ZenginProblem) -> dict[str, Any]:
    return asdict(problem)


def check_period_file(
    session: Session, period_id: int, transfer_date: date
) -> list[dict[str, Any]]:
    """Everything that would block the file, as dicts (empty: the file can be made)."""
    requester, payees, paid_on = _inputs(session, period_id)
    today = None if paid_on else clock.tokyo_date(clock.now())
    return [_problem_dict(p) for p in validate(requester, payees, transfer_date, today=today)]


def period_zengin_file(
    session: Session, period_id: int, transfer_date: date | None = None
) -> tuple[bytes, int, int]:
    """The file, the number of payees and the total. ``transfer_date`` defaults to the
    period's own once it is paid; a period not yet paid needs one (today or later)."""
    requester, payees, paid_on = _inputs(session, period_id)
    day = transfer_date or paid_on
    if day is None:
        raise Refusal("request.invalid", detail="transfer_date is required (YYYY-MM-DD)")
    today = None if paid_on else clock.tokyo_date(clock.now())
    try:
        data = build_zengin_file(requester, payees, day, today=today)
    except ZenginBlocked as blocked:
        raise Refusal(
            "zengin.blocked",
            count=len(blocked.problems),
            problems=[_problem_dict(p) for p in blocked.problems],
        ) from blocked
    paid = [p for p in payees if p.amount]
    return data, len(paid), sum(p.amount for p in paid)


@dataclass(frozen=True)
class PeriodFile:
    data: bytes
    payees: int
    total: int
    transfer_date: date
    period_number: int


def make_period_file(db: Database, period_id: int, transfer_date: date | None, *,
                     actor: str, now: datetime | None = None) -> PeriodFile:
    """:func:`period_zengin_file`, and for a period not yet paid, a note of the transfer
    date the file was made for (settlement.plans): the statements then show it as the
    planned transfer date, and "mark paid" proposes it."""
    with db.write() as session:
        period = get_period(session, period_id)
        data, payees, total = period_zengin_file(session, period_id, transfer_date)
        day = transfer_date or period.transfer_date
        assert day is not None  # period_zengin_file refuses a missing date
        record_transfer_plan(session, period, day, actor=actor, at=now or clock.now())
        return PeriodFile(data, payees, total, day, period.number)


def zengin_filename(period_number: int, transfer_date: date | None) -> str:
    day = transfer_date.strftime("%Y%m%d") if transfer_date else "undated"
    return f"zengin-period{period_number}-{day}.txt"
