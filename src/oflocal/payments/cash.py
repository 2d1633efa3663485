"""Cash at the desk, for supporters who pledge at the venue.

:meth:`CashProvider.start` only says where and how much; nothing is paid until a member
of staff takes the money and marks the pledge paid (the domain's ``mark_paid`` with
``source="cash"``): :meth:`CashProvider.received` gives that moment the same
:class:`PaymentState` shape as a provider's confirmation, for the domain to record.
There is no event, nothing to re-read and nothing to reconcile; cash goes back at the
desk (a refund ``done by hand``).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from oflocal import clock
from oflocal.payments.contract import (
    CashInstructions,
    Method,
    PaymentProvider,
    PaymentRequest,
    PaymentStart,
    PaymentState,
)

DEFAULT_WHERE_JA = "会場の受付でお支払いください。"
DEFAULT_WHERE_EN = "Please pay at the reception desk of the venue."


def payment_id(pledge_id: int) -> str:
    return f"cash:{pledge_id}"


class CashProvider(PaymentProvider):
    name: ClassVar[str] = "cash"
    methods: ClassVar[frozenset[Method]] = frozenset({"cash"})

    def __init__(self, where_ja: str = DEFAULT_WHERE_JA, where_en: str = DEFAULT_WHERE_EN):
        self.where_ja = where_ja
        self.where_en = where_en

    def start(self, request: PaymentRequest) -> PaymentStart:
        if request.method != "cash":
            raise ValueError("the cash provider takes cash only")
        return PaymentStart(
            provider=self.name,
            method="cash",
            payment_id=payment_id(request.pledge_id),
            amount=request.amount,
            deadline=request.deadline,
            status="pending",
            cash=CashInstructions(
                amount=request.amount,
                deadline=request.deadline,
                where_ja=self.where_ja,
                where_en=self.where_en,
            ),
        )

    def received(self, pledge_id: int, amount: int, *, at: datetime | None = None) -> PaymentState:
        """The money a member of staff took for a pledge (the whole amount, in yen)."""
        if type(amount) is not int or amount <= 0:
            raise ValueError("cash received is a positive number of yen (int)")
        return PaymentState(
            provider=self.name,
            payment_id=payment_id(pledge_id),
            status="succeeded",
            amount=amount,
            amount_received=amount,
            fee=0,
            pledge_id=pledge_id,
            method="cash",
            provider_status="received_at_desk",
            paid_at=at or clock.now(),
        )
