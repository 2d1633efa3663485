"""Reading settlement: periods, their lines, and the statement of one workshop.

Everything here reads frozen rows (lines, tallies, corrections), never recounts
redemptions, so a statement printed today and next year say the same.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oflocal.errors import Refusal
from oflocal.events.models import Event, Workshop
from oflocal.settlement.banks import lookup_bank, lookup_branch
from oflocal.settlement.close import period_summary
from oflocal.settlement.corrections import statement_notes
from oflocal.settlement.invoicing import MovedFee, fees_moved_in, fees_returned
from oflocal.settlement.models import (
    SettlementCorrection,
    SettlementLine,
    SettlementPeriod,
    SettlementStatementIssue,
    SettlementTally,
)
from oflocal.settlement.payments import BankAccount, accounts_for
from oflocal.settlement.plans import planned_transfer_date
from oflocal.settlement.rules import FeeRule, masked_account
from oflocal.vouchers.models import Redemption, Ticket


def get_period(session: Session, period_id: int) -> SettlementPeriod:
    period = session.get(SettlementPeriod, period_id)
    if period is None:
        raise Refusal("settlement.period_not_found")
    return period


def list_periods(session: Session, event_id: int) -> list[dict[str, Any]]:
    periods = session.execute(
        select(SettlementPeriod)
        .where(SettlementPeriod.event_id == event_id)
        .order_by(SettlementPeriod.number.desc())
    ).scalars()
    return [period_summary(session, p) for p in periods]


def period_lines(session: Session, period_id: int) -> list[dict[str, Any]]:
    accounts = accounts_for(session, get_period(session, period_id))
    rows = session.execute(
        select(SettlementLine, Workshop)
        .join(Workshop, Workshop.id == SettlementLine.workshop_id)
        .where(SettlementLine.period_id == period_id)
        .order_by(Workshop.code)
    ).all()
    return [
        {
            "workshop_id": w.id,
            "workshop_code": w.code,
            "workshop_name": w.name,
            "ticket_count": line.ticket_count,
            "face_total": line.face_total,
            "adjustment": line.adjustment,
            "fee": line.fee,
            "net": line.net,
            "bank_account": masked_account(
                accounts[w.id].account_type, accounts[w.id].account_number
            ),
        }
        for line, w in rows
    ]


def period_detail(session: Session, period_id: int) -> dict[str, Any]:
    period = get_period(session, period_id)
    return {**period_summary(session, period), "lines": period_lines(session, period_id)}


@dataclass
class Statement:
    """One workshop's 支払通知書 for one period."""

    event_name: str
    committee_name: str
    committee_address: str
    committee_phone: str
    period_id: int
    period_number: int
    previous_cutoff_at: datetime | None
    cutoff_at: datetime
    status: str
    transfer_date: date | None
    workshop_id: int
    workshop_code: str
    workshop_name: str
    invoice_number: str | None
    bank_name: str
    branch_name: str
    account: str  # masked: 普通 ***4567
    fee_rule: FeeRule
    ticket_count: int
    face_total: int
    adjustment: int
    fee: int
    net: int
    denominations: list[tuple[int, int, int]] = field(default_factory=list)  # yen, count, face
    days: list[tuple[date, int, int]] = field(default_factory=list)  # day, count, face
    # reason, amount, and the code of the ticket it concerns (None: an adjustment)
    corrections: list[tuple[str, int, str | None]] = field(default_factory=list)
    account_holder: str = ""  # the bank's account-holder name (kana)
    # Before payment: the date the latest Zengin file was made for (settlement.plans).
    planned_transfer_date: date | None = None
    # The committee's invoice registration number: set, the fee is its taxable sale and
    # the statement is the qualified invoice for it (settlement.statements).
    committee_invoice_number: str | None = None
    first_issued_on: date | None = None  # when this statement was first issued, if it was
    reissue: bool = False  # this print is a reprint of an issued statement (再発行)
    # Tickets moved with their fee, what it owes back (corrections.statement_notes)
    owed_back_notes: list[tuple[str, int]] = field(default_factory=list)
    # Corrections this period settles (settlement.invoicing): fees given back on tickets
    # moved away from the workshop (the return invoice), and fees charged on tickets
    # moved to it (part of the fee the statement invoices).
    fee_returns: list[MovedFee] = field(default_factory=list)
    moved_in_fees: list[MovedFee] = field(default_factory=list)


def _bank_names(account: BankAccount) -> tuple[str, str]:
    bank = lookup_bank(account.bank_code)
    branch = lookup_branch(account.bank_code, account.branch_code)
    return (
        bank.name if bank else (account.bank_code or "未登録"),
        branch.name if branch else account.branch_code,
    )


def iter_statements(
    session: Session, period_id: int, workshop_id: int | None = None, *,
    fresh: Collection[int] | None = None,
) -> Iterator[Statement]:
    """Statements of a period in workshop-code order (one workshop when given).

    ``fresh``: when this is a print that issues statements (statements.record_issues),
    the workshops whose statement it issues for the first time; every other statement
    already issued is then a reprint (再発行). Left out, nothing is called a reprint."""
    period = get_period(session, period_id)
    planned = planned_transfer_date(session, period_id) if period.status == "closed" else None
    issued = dict(session.execute(
        select(SettlementStatementIssue.workshop_id, SettlementStatementIssue.issued_on)
        .where(SettlementStatementIssue.period_id == period_id)
    ).all())
    event = session.get(Event, period.event_id)
    assert event is not None
    rule = FeeRule(period.fee_rule, period.fee_rate_bp, period.fee_fixed_yen, period.fee_rounding)
    query = (
        select(SettlementLine, Workshop)
        .join(Workshop, Workshop.id == SettlementLine.workshop_id)
        .where(SettlementLine.period_id == period_id)
        .order_by(Workshop.code)
    )
    if workshop_id is not None:
        query = query.where(SettlementLine.workshop_id == workshop_id)
    found = False
    accounts = accounts_for(session, period, workshop_id)
    for line, workshop in session.execute(query).all():
        found = True
        account = accounts[workshop.id]
        bank, branch = _bank_names(account)
        statement = Statement(
            event_name=event.name,
            committee_name=event.committee_name,
            committee_address=event.committee_address,
            committee_phone=event.committee_phone,
            period_id=period.id,
            period_number=period.number,
            previous_cutoff_at=period.previous_cutoff_at,
            cutoff_at=period.cutoff_at,
            status=period.status,
            transfer_date=period.transfer_date,
            workshop_id=workshop.id,
            workshop_code=workshop.code,
            workshop_name=workshop.name,
            invoice_number=workshop.invoice_number,
            bank_name=bank,
            branch_name=branch,
            account=masked_account(account.account_type, account.account_number),
            fee_rule=rule,
            ticket_count=line.ticket_count,
            face_total=line.face_total,
            adjustment=line.adjustment,
            fee=line.fee,
            net=line.net,
            account_holder=account.holder_kana,
            planned_transfer_date=planned,
            committee_invoice_number=event.invoice_number,
            first_issued_on=issued.get(workshop.id),
            reissue=fresh is not None and workshop.id in issued and workshop.id not in fresh,
        )
        where = (SettlementTally.period_id == period_id, SettlementTally.workshop_id == workshop.id)
        statement.denominations = [
            (int(d), int(c), int(f))
            for d, c, f in session.execute(
                select(
                    SettlementTally.denomination,
                    func.sum(SettlementTally.ticket_count),
                    func.sum(SettlementTally.face_total),
                )
                .where(*where)
                .group_by(SettlementTally.denomination)
                .order_by(SettlementTally.denomination.desc())
            )
        ]
        statement.days = [
            (d, int(c), int(f))
            for d, c, f in session.execute(
                select(
                    SettlementTally.day,
                    func.sum(SettlementTally.ticket_count),
                    func.sum(SettlementTally.face_total),
                )
                .where(*where)
                .group_by(SettlementTally.day)
                .order_by(SettlementTally.day)
            )
        ]
        statement.corrections = [
            (reason, int(amount), code)
            for reason, amount, code in session.execute(
                select(SettlementCorrection.reason, SettlementCorrection.amount, Ticket.code)
                .outerjoin(Redemption, Redemption.id == SettlementCorrection.redemption_id)
                .outerjoin(Ticket, Ticket.id == Redemption.ticket_id)
                .where(
                    SettlementCorrection.settlement_period_id == period_id,
                    SettlementCorrection.workshop_id == workshop.id,
                )
                .order_by(SettlementCorrection.id)
            )
        ]
        statement.owed_back_notes = statement_notes(session, period, workshop.id)
        settled_here = (SettlementCorrection.settlement_period_id == period_id,
                        SettlementCorrection.workshop_id == workshop.id)
        statement.fee_returns = fees_returned(session, *settled_here)
        statement.moved_in_fees = fees_moved_in(session, *settled_here)
        yield statement
    if workshop_id is not None and not found:
        raise Refusal("settlement.not_in_period")


def _planned_iso(session: Session, period: SettlementPeriod) -> str | None:
    day = planned_transfer_date(session, period.id) if period.status == "closed" else None
    return day.isoformat() if day else None


def workshop_statements(session: Session, workshop_id: int) -> list[dict[str, Any]]:
    """The periods in which this workshop has a statement (for its own login)."""
    rows = session.execute(
        select(SettlementPeriod, SettlementLine)
        .join(SettlementLine, SettlementLine.period_id == SettlementPeriod.id)
        .where(SettlementLine.workshop_id == workshop_id)
        .order_by(SettlementPeriod.number.desc())
    ).all()
    return [
        {
            "period_id": p.id,
            "number": p.number,
            "status": p.status,
            "cutoff_at": p.cutoff_at.isoformat(),
            "previous_cutoff_at": (
                p.previous_cutoff_at.isoformat() if p.previous_cutoff_at else None
            ),
            "transfer_date": p.transfer_date.isoformat() if p.transfer_date else None,
            "planned_transfer_date": _planned_iso(session, p),
            "ticket_count": line.ticket_count,
            "face_total": line.face_total,
            "adjustment": line.adjustment,
            "fee": line.fee,
            "net": line.net,
        }
        for p, line in rows
    ]
