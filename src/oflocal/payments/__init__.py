"""Payments: the provider contract and its providers (docs/payments.md).

- ``contract``: :class:`PaymentProvider` (start, verify_event, fetch, refund,
  reconcile), the dataclasses it speaks in and its refusals (``payment.*``);
- ``stripe_provider``: card and konbini through Stripe (on with its keys only);
- ``bank_transfer``: transfer instructions with a reference, and :func:`match` of a
  bank statement (``bank_statements``: Zengin 振込入金通知 / 入出金取引明細, CSV);
- ``cash``: cash at the desk;
- ``webhooks``: verify an event, re-read the payment, tell the domain what to do;
- ``registry``: which providers are on.

The crowdfunding domain imports from here (``oflocal.payments``) only, never ``stripe``.
"""

from oflocal.payments.contract import (
    METHODS,
    BankTransferInstructions,
    CashInstructions,
    KonbiniStore,
    KonbiniVoucher,
    Method,
    MethodUnavailable,
    PaymentError,
    PaymentProvider,
    PaymentRequest,
    PaymentStart,
    PaymentState,
    PaymentStatus,
    ProviderEvent,
    ProviderRefused,
    ProviderUnavailable,
    RefundState,
    RefundUnsupported,
    SignatureRefused,
    reconcile_event,
)
from oflocal.payments.registry import Providers, providers
from oflocal.payments.webhooks import ReceivedEvent, receive_event

__all__ = [
    "METHODS",
    "BankTransferInstructions",
    "CashInstructions",
    "KonbiniStore",
    "KonbiniVoucher",
    "Method",
    "MethodUnavailable",
    "PaymentError",
    "PaymentProvider",
    "PaymentRequest",
    "PaymentStart",
    "PaymentState",
    "PaymentStatus",
    "ProviderEvent",
    "ProviderRefused",
    "ProviderUnavailable",
    "Providers",
    "ReceivedEvent",
    "RefundState",
    "RefundUnsupported",
    "SignatureRefused",
    "providers",
    "receive_event",
    "reconcile_event",
]
