"""What the invoice system (インボイス制度) asks of the committee's papers to a workshop.

When the committee is registered (the event has a T-number), the redemption fee it
deducts is its taxable sale (10 %) to the workshop. Two documents follow from that:

- the qualified invoice (適格請求書) for the fee charged: on the statement of the period
  (settlement.statements), for the period's fee and for the fee on tickets a correction
  moved *to* the workshop (it is paid face − fee for them: charged the fee);
- the qualified return invoice (適格返還請求書) for a fee given back: a correction that
  moves a settled ticket *away* from a workshop gives it back the fee the ticket's period
  charged (the workshop returns face − fee). The return invoice states the committee's
  number, the date of the original sale (the cut-off day of the period that charged the
  fee), the date of the return (the day of the correction), the amount returned for the
  10 % rate and the consumption tax on it. It is printed on the document through which
  the fee is given back: the statement of the period that settles the correction
  (offset or next payout), or the repayment invoice (請求書) of a workshop asked to pay
  back (settlement.repayment_invoice).

Returns below ¥10,000 (tax included) need no return invoice since October 2023 (少額な
返還); oflocal prints the details all the same: simplest, and never wrong.

A fee refunded by an adjustment against fee income is not among the returns: the
adjustment names no sale, so the committee states that return itself (docs/treasurer.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.settlement.corrections import period_of
from oflocal.settlement.models import SettlementCorrection
from oflocal.vouchers.models import Redemption, Ticket

TAX_RATE_PERCENT = 10  # the fee is a standard-rate sale


def consumption_tax(fee_with_tax: int) -> int:
    """The consumption tax in a tax-inclusive amount at 10 %: one rounding per invoice and
    rate, fractions of a yen cut off (切り捨て)."""
    return fee_with_tax * TAX_RATE_PERCENT // (100 + TAX_RATE_PERCENT)


@dataclass(frozen=True)
class MovedFee:
    """The fee on one settled ticket that a correction moved, as the correction row
    reads: the workshop it left gave back face − fee, the one it went to is paid it."""

    correction_id: int
    ticket_code: str
    face: int
    fee: int  # tax included
    original_on: date  # 元の取引日: the cut-off day of the period that charged the fee
    corrected_on: date  # the day of the correction (返還日 for the workshop it left)


def moved_fees(session: Session, *where: Any) -> list[MovedFee]:
    """The fee of each ticket moved by the correction rows that match ``where`` (rows
    without a ticket, and tickets whose period charged no fee, have none)."""
    rows = session.execute(
        select(SettlementCorrection, Redemption, Ticket.code)
        .join(Redemption, Redemption.id == SettlementCorrection.redemption_id)
        .join(Ticket, Ticket.id == Redemption.ticket_id)
        .where(*where)
        .order_by(SettlementCorrection.id)
    ).all()
    out = []
    for row, redemption, code in rows:
        fee = int(redemption.amount) - abs(row.amount)
        if fee <= 0:
            continue
        period = period_of(session, row.event_id, redemption)
        original = clock.tokyo_date(period.cutoff_at if period else redemption.redeemed_at)
        out.append(MovedFee(row.id, code, int(redemption.amount), fee, original,
                            clock.tokyo_date(row.created_at)))
    return out


def fees_returned(session: Session, *where: Any) -> list[MovedFee]:
    """Fees given back to a workshop: its correction rows (matching ``where``) that took
    a ticket away from it."""
    return moved_fees(session, SettlementCorrection.amount < 0, *where)


def fees_moved_in(session: Session, *where: Any) -> list[MovedFee]:
    """Fees charged to a workshop on tickets moved to it (its rows matching ``where``)."""
    return moved_fees(session, SettlementCorrection.amount > 0, *where)


def return_total(returns: Sequence[MovedFee]) -> tuple[int, int]:
    """(the fees given back for the 10 % rate, tax included; the consumption tax in
    them): one rounding for the document."""
    total = sum(r.fee for r in returns)
    return total, consumption_tax(total)
