"""The bank accounts of a period's transfers: each workshop's, and the committee's own.

Until a period is paid, they are the accounts as they are now (the treasurer may still
fix one when the Zengin check blocks the file). Marking the period paid copies them
(``settlement_payment``, ``settlement_payer``), and from then on statements and the
Zengin file of that period show the copies: where the money went and where it came
from, even if a workshop or the committee changes banks later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal.events.models import Event, Workshop
from oflocal.settlement.models import (
    SettlementLine,
    SettlementPayer,
    SettlementPayment,
    SettlementPeriod,
)
from oflocal.settlement.settings import requester_of
from oflocal.settlement.zengin import Requester


@dataclass(frozen=True)
class BankAccount:
    bank_code: str
    branch_code: str
    account_type: int  # 1 普通, 2 当座, 4 貯蓄, 9 その他; 0 unknown
    account_number: str
    holder_kana: str  # the bank's account-holder name (the workshop's kana if none)

    @classmethod
    def of_workshop(cls, workshop: Workshop) -> BankAccount:
        return cls(
            bank_code=workshop.bank_code or "",
            branch_code=workshop.branch_code or "",
            account_type=workshop.account_type or 0,
            account_number=workshop.account_number or "",
            holder_kana=(workshop.account_holder_kana or workshop.name_kana or "").strip(),
        )

    @classmethod
    def of_payment(cls, payment: SettlementPayment) -> BankAccount:
        return cls(
            bank_code=payment.bank_code or "",
            branch_code=payment.branch_code or "",
            account_type=payment.account_type or 0,
            account_number=payment.account_number or "",
            holder_kana=payment.account_holder_kana or "",
        )


def record_payments(session: Session, period: SettlementPeriod,
                    lines: Iterable[SettlementLine]) -> int:
    """Copy the committee's account and that of every line paid by transfer (net > 0);
    returns how many workshop accounts were copied."""
    event = session.get(Event, period.event_id)
    assert event is not None
    payer = requester_of(event)
    session.add(SettlementPayer(
        period_id=period.id,
        requester_code=payer.code or None,
        requester_kana=payer.name_kana or None,
        bank_code=payer.bank_code or None,
        branch_code=payer.branch_code or None,
        account_type=payer.account_type or None,
        account_number=payer.account_number or None,
    ))
    period_id = period.id
    paid = [line for line in lines if line.net > 0]
    workshops = {
        w.id: w
        for w in session.execute(
            select(Workshop).where(Workshop.id.in_([line.workshop_id for line in paid]))
        ).scalars()
    }
    rows = []
    for line in paid:
        account = BankAccount.of_workshop(workshops[line.workshop_id])
        rows.append(SettlementPayment(
            period_id=period_id,
            workshop_id=line.workshop_id,
            amount=line.net,
            bank_code=account.bank_code or None,
            branch_code=account.branch_code or None,
            account_type=account.account_type or None,
            account_number=account.account_number or None,
            account_holder_kana=account.holder_kana or None,
        ))
    session.add_all(rows)
    session.flush()
    return len(rows)


def payer_for(session: Session, period: SettlementPeriod) -> Requester:
    """The committee's account the period's transfers come (or came) from."""
    copy = session.execute(
        select(SettlementPayer).where(SettlementPayer.period_id == period.id)
    ).scalar_one_or_none() if period.status == "paid" else None
    if copy is not None:
        return Requester(
            code=copy.requester_code or "",
            name_kana=copy.requester_kana or "",
            bank_code=copy.bank_code or "",
            branch_code=copy.branch_code or "",
            account_type=copy.account_type or 0,
            account_number=copy.account_number or "",
        )
    event = session.get(Event, period.event_id)
    assert event is not None
    return requester_of(event)


def accounts_for(
    session: Session, period: SettlementPeriod, workshop_id: int | None = None
) -> dict[int, BankAccount]:
    """Workshop id → the account its money for ``period`` goes (or went) to; only
    ``workshop_id``'s when given."""
    workshops = (
        select(Workshop)
        .join(SettlementLine, SettlementLine.workshop_id == Workshop.id)
        .where(SettlementLine.period_id == period.id)
    )
    payments = select(SettlementPayment).where(SettlementPayment.period_id == period.id)
    if workshop_id is not None:
        workshops = workshops.where(Workshop.id == workshop_id)
        payments = payments.where(SettlementPayment.workshop_id == workshop_id)
    current = {w.id: BankAccount.of_workshop(w) for w in session.execute(workshops).scalars()}
    if period.status != "paid":
        return current
    paid = session.execute(payments).scalars()
    return {**current, **{p.workshop_id: BankAccount.of_payment(p) for p in paid}}
