"""The bank account each workshop is paid to, for a period.

Until a period is paid, that is the workshop's account now (the treasurer may still fix
it when the Zengin check blocks the file). Marking the period paid copies it into
``settlement_payment``, and from then on statements and the Zengin file of that period
show the copy: where the money went, even if the workshop changes banks later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal.events.models import Workshop
from oflocal.settlement.models import SettlementLine, SettlementPayment, SettlementPeriod


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


def record_payments(session: Session, period_id: int, lines: Iterable[SettlementLine]) -> int:
    """Copy the account of every line paid by transfer (net > 0); returns how many."""
    rows = []
    for line in lines:
        if line.net <= 0:
            continue
        workshop = session.get(Workshop, line.workshop_id)
        assert workshop is not None
        account = BankAccount.of_workshop(workshop)
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


def accounts_for(session: Session, period: SettlementPeriod) -> dict[int, BankAccount]:
    """Workshop id → the account its money for ``period`` goes (or went) to."""
    current = {
        w.id: BankAccount.of_workshop(w)
        for w in session.execute(
            select(Workshop)
            .join(SettlementLine, SettlementLine.workshop_id == Workshop.id)
            .where(SettlementLine.period_id == period.id)
        ).scalars()
    }
    if period.status != "paid":
        return current
    paid = session.execute(
        select(SettlementPayment).where(SettlementPayment.period_id == period.id)
    ).scalars()
    return {**current, **{p.workshop_id: BankAccount.of_payment(p) for p in paid}}
