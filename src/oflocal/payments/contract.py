"""The payment provider contract: what the crowdfunding domain may ask of a provider.

A provider is one module (``stripe_provider``, ``bank_transfer``, ``cash``) with one
class deriving from :class:`PaymentProvider`, documented the way pretix documents its
``BasePaymentProvider``: what a provider MUST do, what it MAY do, and when the domain
calls each method. The domain imports this module and the registry, never a provider's
own package (``stripe``).

The story of one payment, as the domain tells it (docs/payments.md has the long form):

1. A pledge is reserved and committed. *Then*, outside any database transaction (no
   remote call ever runs inside one), the domain calls :meth:`PaymentProvider.start`
   with a :class:`PaymentRequest` and stores ``PaymentStart.payment_id`` on the pledge.
   ``start`` is idempotent per pledge: a retry after a timeout returns the same payment.
2. The supporter pays (card, konbini voucher, bank transfer, cash at the desk).
3. The provider tells us: a webhook goes through :meth:`~PaymentProvider.verify_event`
   (a wrong or stale signature is refused, nothing changes), then the payment is re-read
   with :meth:`~PaymentProvider.fetch` (``webhooks.receive_event`` does both). Only the
   re-read state decides: events come twice, late and out of order, and their bodies may
   be stale. The domain records each :attr:`ProviderEvent.id` once (unique), locks the
   pledge, and marks it paid when the state is ``succeeded``. Never from the browser's
   return page.
4. :meth:`~PaymentProvider.reconcile` lists what the provider knows since a time, so a
   scheduled run pays what a lost webhook did not.
5. A refund goes through :meth:`~PaymentProvider.refund` with the domain's idempotency
   key for that attempt; money that cannot go back through the provider (konbini, bank
   transfer) is refused with ``payment.refund_unsupported`` and goes back by a Zengin
   transfer instead.

All amounts are integer yen (JPY is a zero-decimal currency at Stripe too); all moments
are timezone-aware datetimes (UTC from providers; shown in Asia/Tokyo by the caller).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, get_args

from oflocal.errors import Refusal

Method = Literal["card", "konbini", "bank_transfer", "cash"]
METHODS: tuple[Method, ...] = get_args(Method)

#: ``pending``: waiting for the supporter (card details, a konbini voucher not yet paid,
#: a transfer not yet seen); ``processing``: the provider is moving the money;
#: ``succeeded``: the money arrived (final); ``failed``: the last attempt failed or the
#: voucher expired, the payment may still be retried by the supporter on the same
#: payment until it is canceled; ``canceled``: final, nothing will arrive.
PaymentStatus = Literal["pending", "processing", "succeeded", "failed", "canceled"]
PAYMENT_STATUSES: tuple[PaymentStatus, ...] = get_args(PaymentStatus)

#: ``pending``: sent, not yet confirmed by the provider; ``succeeded``: the money went
#: back; ``failed``: it did not (the domain retries with a new attempt key or refunds by
#: hand).
RefundStatus = Literal["pending", "succeeded", "failed"]


# --- What the domain gives -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """One pledge to be paid. Built by the domain from its pledge row."""

    pledge_id: int
    amount: int  # yen, > 0
    method: Method
    supporter_name: str
    supporter_email: str
    supporter_phone: str
    deadline: datetime  # the reservation's payment deadline (aware)
    description: str  # shown by the provider (card statement, konbini voucher)
    #: The transfer reference the supporter types before their name (bank transfers).
    #: The domain's own (``pledge.reference``); empty: bank_transfer.make_reference(id).
    reference: str = ""

    def __post_init__(self) -> None:
        if type(self.pledge_id) is not int or self.pledge_id <= 0:
            raise ValueError("pledge_id must be a positive int")
        if type(self.amount) is not int or self.amount <= 0:
            raise ValueError("amount must be a positive number of yen (int)")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        if self.deadline.tzinfo is None:
            raise ValueError("deadline must be timezone-aware")


# --- What the supporter is shown -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class KonbiniStore:
    confirmation_number: str  # 確認番号 / 受付番号 shown at the store's terminal
    payment_code: str  # お客様番号 / 払込票番号


@dataclass(frozen=True, slots=True)
class KonbiniVoucher:
    expires_at: datetime  # 23:59:59 JST of the last day
    hosted_voucher_url: str  # the provider's voucher page (print or show at the till)
    stores: Mapping[str, KonbiniStore]  # familymart, lawson, ministop, seicomart


@dataclass(frozen=True, slots=True)
class BankTransferInstructions:
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: int  # 1 普通, 2 当座, 4 貯蓄
    account_type_ja: str
    account_type_en: str
    account_number: str
    account_holder: str  # 口座名義, half-width kana as the bank shows it
    reference: str  # typed before the sender's name
    amount: int
    deadline: datetime
    sender_name_example: str  # e.g. "1234566 ﾔﾏﾀﾞ ﾀﾛｳ"


@dataclass(frozen=True, slots=True)
class CashInstructions:
    amount: int
    deadline: datetime
    where_ja: str
    where_en: str


@dataclass(frozen=True, slots=True)
class PaymentStart:
    """What the result page shows or where it sends the supporter. Exactly one of
    ``client_secret`` (card: Stripe.js confirms it in the browser), ``konbini``,
    ``bank`` and ``cash`` is set, by method."""

    provider: str
    method: Method
    payment_id: str  # the provider's id of this payment: store it on the pledge
    amount: int
    #: When the payment can no longer be made. A konbini voucher ends at 23:59:59 JST
    #: of a day and never after the requested deadline; the domain keeps the earlier.
    deadline: datetime
    status: PaymentStatus
    client_secret: str | None = field(default=None, repr=False)
    konbini: KonbiniVoucher | None = None
    bank: BankTransferInstructions | None = None
    cash: CashInstructions | None = None


# --- What the provider reports -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentState:
    """A payment as the provider knows it now (re-read, never taken from an event body)."""

    provider: str
    payment_id: str
    status: PaymentStatus
    amount: int  # asked
    amount_received: int  # arrived (0 until succeeded)
    fee: int | None  # the provider's fee in yen once known (Stripe: balance transaction)
    pledge_id: int | None  # from the payment's metadata; None: not one of ours
    method: Method | None = None
    provider_status: str = ""  # e.g. Stripe's requires_action, for people reading logs
    paid_at: datetime | None = None
    expires_at: datetime | None = None  # konbini voucher
    amount_refunded: int = 0
    failure: str = ""  # the provider's code for the last failure, e.g. card_declined

    @property
    def paid(self) -> bool:
        return self.status == "succeeded" and self.amount_received > 0


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A verified provider event. ``(provider, id)`` is unique: record it once.

    ``payment_id`` and ``refund_id`` say what to re-read; ``pledge_id`` is the metadata
    the event carried, a hint only (the re-read payment's metadata is what counts)."""

    provider: str
    id: str
    type: str  # the provider's own, e.g. payment_intent.succeeded
    payment_id: str | None
    created: datetime
    refund_id: str | None = None
    pledge_id: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The unique key to record the event under."""
        return (self.provider, self.id)


@dataclass(frozen=True, slots=True)
class RefundState:
    provider: str
    refund_id: str
    payment_id: str
    amount: int
    status: RefundStatus
    provider_status: str = ""
    failure: str = ""


# --- Refusals ------------------------------------------------------------------------


class PaymentError(Refusal):
    """A payment refusal with its code from ``errors.MESSAGES`` (``payment.*``)."""

    code_name: ClassVar[str] = ""

    def __init__(self, **facts: Any) -> None:
        super().__init__(self.code_name, **facts)


class SignatureRefused(PaymentError):
    """The event's signature is missing, wrong or stale, or its body was altered.
    Answer 400; nothing was read or changed."""

    code_name = "payment.signature_invalid"


class ProviderUnavailable(PaymentError):
    """The provider could not be reached or answered with a server error. Safe to retry
    with the same arguments (idempotency keys make a retry harmless)."""

    code_name = "payment.provider_unavailable"


class ProviderRefused(PaymentError):
    """The provider said no (an invalid request, a refund above what was paid, …).
    ``reason`` holds the provider's own code; a retry as is would be refused again."""

    code_name = "payment.provider_refused"


class RefundUnsupported(PaymentError):
    """This payment cannot go back through the provider (konbini, bank transfer, cash):
    refund it to a bank account the supporter gives (a Zengin file) or at the desk."""

    code_name = "payment.refund_unsupported"


class MethodUnavailable(PaymentError):
    """No provider that is on takes this method."""

    code_name = "payment.method_unavailable"


# --- The contract --------------------------------------------------------------------


class PaymentProvider(ABC):
    """Base class of every payment provider.

    A provider MUST:

    * set :attr:`name` (stable: stored with payments and events) and :attr:`methods`;
    * implement :meth:`start`, idempotent per ``pledge_id``;
    * never touch the database, and never be called inside a database transaction;
    * raise :class:`ProviderUnavailable` for anything a retry may cure and
      :class:`ProviderRefused` for a refusal, never the provider library's exceptions.

    A provider MAY, and then sets the matching flag:

    * ``has_events``: implement :meth:`verify_event` and :meth:`fetch` (webhooks);
    * ``refunds_online``: implement :meth:`refund` (and :meth:`fetch_refund`);
    * ``reconciles``: implement :meth:`reconcile`.

    The defaults of the optional methods refuse: a bank transfer is confirmed by the
    treasurer or a statement import (``bank_transfer.match``), cash by the desk staff.
    """

    name: ClassVar[str]
    methods: ClassVar[frozenset[Method]]
    has_events: ClassVar[bool] = False
    refunds_online: ClassVar[bool] = False
    reconciles: ClassVar[bool] = False

    @abstractmethod
    def start(self, request: PaymentRequest) -> PaymentStart:
        """Begin the payment of a pledge; what the supporter is shown or sent to.

        Called once the pledge is committed, and again whenever the result page is
        shown: it MUST return the same payment for the same ``pledge_id`` (Stripe: the
        idempotency key ``pledge-{id}``; bank and cash: computed from the request).
        It MUST NOT mark anything paid. ``PaymentStart.deadline`` MAY be earlier than
        ``request.deadline`` (a konbini voucher ends at the end of a day), never later.
        """

    def resume(self, request: PaymentRequest, payment_id: str) -> PaymentStart:
        """The same instructions again for a payment already started (the result page
        opened later). Default: :meth:`start`, which is idempotent."""
        return self.start(request)

    def verify_event(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Check a webhook's signature on the **raw** request body and read the event.

        MUST raise :class:`SignatureRefused` for a missing, wrong or stale signature or
        an altered body; MUST NOT call the provider or change anything. Header names
        are matched case-insensitively. The same event delivered twice gives the same
        :attr:`ProviderEvent.id`."""
        raise SignatureRefused(provider=self.name)

    def fetch(self, payment_id: str) -> PaymentState:
        """Re-read a payment at the provider: the truth to act on."""
        raise MethodUnavailable(method=self.name)

    def refund(self, payment_id: str, amount: int, idempotency_key: str) -> RefundState:
        """Send ``amount`` yen of a succeeded payment back, once per ``idempotency_key``
        (the domain's key for this attempt: a retry with the same key returns the same
        refund). MUST refuse more than was paid and not refunded."""
        raise RefundUnsupported(method=self.name)

    def fetch_refund(self, refund_id: str) -> RefundState:
        """Re-read a refund (after a ``refund.*`` event)."""
        raise RefundUnsupported(method=self.name)

    def reconcile(self, since: datetime) -> list[PaymentState]:
        """Every payment of ours the provider created at or after ``since``, as it is
        now. The domain passes the creation time of its oldest pledge still waiting for
        a payment, and pays each ``succeeded`` one it has not recorded."""
        return []


def reconcile_event(state: PaymentState) -> ProviderEvent:
    """A stand-in event for a payment found by :meth:`PaymentProvider.reconcile`, so
    the domain records it through the same once-only path as a webhook. Its id is
    stable per payment: reconciling twice records it once."""
    created = state.paid_at or datetime.fromtimestamp(0, UTC)
    return ProviderEvent(
        provider=state.provider,
        id=f"reconcile:{state.payment_id}:{state.status}",
        type=f"reconcile.{state.status}",
        payment_id=state.payment_id,
        created=created,
        pledge_id=state.pledge_id,
    )
