"""A provider's webhook, from raw body to what the domain should do: verify, re-read.

``receive_event`` is all the web route needs before it hands over to the domain::

    try:
        received = receive_event(provider, raw_body, headers)   # before any transaction
    except SignatureRefused:
        return 400                                               # nothing changed
    if received.paid:
        crowdfunding.payments.record_provider_payment(
            db, provider=provider.name, event_id=received.event.id,
            kind=received.event.type, **received.payment_facts())
    return 200

The event body only says *which* payment to look at: the action comes from the payment
as re-read at the provider, so a duplicate, a late or a reordered event leads to the
same decision, and a forged-but-signed stale body cannot pay anything. The domain still
records ``event.id`` once and locks the pledge: two deliveries of one event racing each
other both see ``paid`` here, and only the first is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oflocal.payments.contract import (
    PaymentProvider,
    PaymentState,
    ProviderEvent,
    RefundState,
)


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    event: ProviderEvent
    payment: PaymentState | None  # re-read, when the event names a payment
    refund: RefundState | None = None  # re-read, when the event names a refund

    @property
    def paid(self) -> bool:
        """The payment succeeded and belongs to a pledge of ours: record it."""
        return self.payment is not None and self.payment.paid and (
            self.payment.pledge_id is not None)

    def payment_facts(self) -> dict[str, Any]:
        """The keyword arguments the domain's ``record_provider_payment`` takes."""
        p = self.payment
        if p is None or p.pledge_id is None:
            raise ValueError("the event names no payment of a pledge")
        received_at: datetime | None = p.paid_at
        return {"pledge_id": p.pledge_id, "amount": p.amount_received, "fee": p.fee or 0,
                "provider_ref": p.payment_id, "received_at": received_at}


def receive_event(
    provider: PaymentProvider, raw_body: bytes, headers: Mapping[str, str]
) -> ReceivedEvent:
    """Verify the event (``SignatureRefused`` if not genuine), then re-read what it names.
    Raises ``ProviderUnavailable`` when the re-read fails: answer 503 and the provider
    sends the event again later."""
    event = provider.verify_event(raw_body, headers)
    payment = provider.fetch(event.payment_id) if event.payment_id else None
    refund = provider.fetch_refund(event.refund_id) if event.refund_id else None
    return ReceivedEvent(event, payment, refund)
