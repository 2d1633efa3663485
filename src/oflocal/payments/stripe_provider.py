"""Card and konbini payments through Stripe, with the official ``stripe`` package.

One PaymentIntent per pledge, created with the idempotency key ``pledge-{id}`` and the
pledge id in its metadata, so a double tap, a timeout retried or two workers racing
create one PaymentIntent. Card: the browser confirms it with Stripe.js and the
``client_secret``. Konbini: confirmed here at once with the supporter's name and e-mail,
so the result page can show the voucher (store numbers, hosted voucher page) without
JavaScript; ``expires_after_days`` is chosen so the voucher ends (23:59:59 JST of a day)
no later than the pledge's deadline.

Webhooks: :meth:`StripeProvider.verify_event` checks ``Stripe-Signature`` on the raw
body with ``stripe.WebhookSignature`` (HMAC-SHA256 of ``t.body``, 300 s tolerance) and
reads the event; it calls nothing. The payment is then re-read with :meth:`fetch`: the
event body is never trusted for money. Fees come from the balance transaction of the
latest charge when Stripe has made it. Konbini money cannot go back through Stripe:
:meth:`refund` refuses it (``payment.refund_unsupported``).

Telemetry (``stripe.enable_telemetry``) is switched off: the library then sends no
request metrics and writes no id file; it talks only to ``api_base``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, cast

import stripe

from oflocal import clock
from oflocal.payments.contract import (
    KonbiniStore,
    KonbiniVoucher,
    Method,
    PaymentProvider,
    PaymentRequest,
    PaymentStart,
    PaymentState,
    PaymentStatus,
    ProviderEvent,
    ProviderRefused,
    ProviderUnavailable,
    RefundState,
    RefundStatus,
    RefundUnsupported,
    SignatureRefused,
)
from oflocal.settings import Stripe as StripeSettings

if TYPE_CHECKING:
    from stripe.params import (
        PaymentIntentCreateParams,
        PaymentIntentListParams,
        PaymentIntentRetrieveParams,
        RefundCreateParams,
    )

stripe.enable_telemetry = False

log = logging.getLogger(__name__)

CURRENCY = "jpy"  # zero-decimal: amounts are whole yen
TOLERANCE_SECONDS = 300
KONBINI_MIN_DAYS, KONBINI_MAX_DAYS = 1, 60
METADATA_KEY = "pledge_id"
SIGNATURE_HEADER = "stripe-signature"
# What fetch and reconcile expand: the fee is on the charge's balance transaction.
_EXPAND_FEE = "latest_charge.balance_transaction"
_STORES = ("familymart", "lawson", "ministop", "seicomart")


def idempotency_key(pledge_id: int) -> str:
    return f"pledge-{pledge_id}"


def konbini_days(deadline: datetime, now: datetime) -> int:
    """``expires_after_days`` so the voucher ends no later than *deadline*.

    A voucher confirmed today with N days ends at 23:59:59 JST N days later. The last
    full day before the deadline is the deadline's day if it is 23:59:59 or later
    there, else the day before; at least 1 day (Stripe's minimum), at most 60."""
    local = clock.as_tokyo(deadline)
    last_day = local.date()
    if (local.hour, local.minute, local.second) < (23, 59, 59):
        last_day -= timedelta(days=1)
    days = (last_day - clock.tokyo_date(now)).days
    return max(KONBINI_MIN_DAYS, min(KONBINI_MAX_DAYS, days))


def _status(pi: Mapping[str, Any]) -> PaymentStatus:
    status = pi.get("status")
    if status == "succeeded":
        return "succeeded"
    if status == "processing":
        return "processing"
    if status == "canceled":
        return "canceled"
    if status == "requires_payment_method" and pi.get("last_payment_error"):
        return "failed"  # declined, or a konbini voucher that expired
    return "pending"  # requires_payment_method / confirmation / action / capture


def _moment(timestamp: Any) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if isinstance(timestamp, int) else None


def _pledge_id(metadata: Any) -> int | None:
    if not isinstance(metadata, Mapping):
        return None
    value = metadata.get(METADATA_KEY)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _method(pi: Mapping[str, Any]) -> Method | None:
    types = pi.get("payment_method_types") or []
    if "konbini" in types:
        return "konbini"
    if "card" in types:
        return "card"
    return None


def _id_of(value: Any) -> str | None:
    """An expandable field: the id, whether expanded or not."""
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return value if isinstance(value, str) else None


def _refund_status(value: Any) -> RefundStatus:
    if value == "succeeded":
        return "succeeded"
    if value in ("failed", "canceled"):
        return "failed"
    return "pending"  # pending, requires_action


class StripeProvider(PaymentProvider):
    """Card and konbini through Stripe (see the module doc)."""

    name: ClassVar[str] = "stripe"
    methods: ClassVar[frozenset[Method]] = frozenset({"card", "konbini"})
    has_events: ClassVar[bool] = True
    refunds_online: ClassVar[bool] = True
    reconciles: ClassVar[bool] = True

    def __init__(
        self,
        settings: StripeSettings,
        *,
        timeout_seconds: float = 20.0,
        max_network_retries: int = 2,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        if not settings.enabled:
            raise ValueError("Stripe is off: OFLOCAL_STRIPE_SECRET_KEY is not set")
        self._webhook_secret = settings.webhook_secret
        base = {"api": settings.api_base} if settings.api_base else None
        self.client = stripe.StripeClient(
            settings.secret_key,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )
        self._now = now or clock.now

    # --- start -----------------------------------------------------------------------

    def start(self, request: PaymentRequest) -> PaymentStart:
        """Create (or, within Stripe's 24 hours of idempotency, find again) the pledge's
        PaymentIntent. A konbini start retried on a later day would ask for other days
        and is refused by Stripe (``idempotency_error``): once the payment id is stored,
        show the page again with :meth:`resume`."""
        if request.method not in self.methods:
            raise ProviderRefused(reason=f"method {request.method} is not taken by Stripe")
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": CURRENCY,
            "payment_method_types": [request.method],
            "metadata": {METADATA_KEY: str(request.pledge_id)},
            "description": request.description[:1000],
        }
        if request.method == "konbini":
            if not (request.supporter_name.strip() and request.supporter_email.strip()):
                raise ProviderRefused(reason="konbini needs the supporter's name and e-mail")
            billing: dict[str, str] = {
                "name": request.supporter_name.strip(),
                "email": request.supporter_email.strip(),
            }
            if request.supporter_phone.strip():
                billing["phone"] = request.supporter_phone.strip()
            days = konbini_days(request.deadline, self._now())
            params |= {
                "confirm": True,
                "payment_method_data": {"type": "konbini", "billing_details": billing},
                "payment_method_options": {"konbini": {"expires_after_days": days}},
            }
        pi = self._call(
            lambda: self.client.v1.payment_intents.create(
                params=cast("PaymentIntentCreateParams", params),
                options={"idempotency_key": idempotency_key(request.pledge_id)},
            )
        )
        data = pi.to_dict()
        if _pledge_id(data.get("metadata")) != request.pledge_id or data.get("amount") != (
            request.amount
        ):  # an idempotency key reused by another database (a reset demo)
            raise ProviderRefused(reason="idempotency key reused for another payment")
        return self._start_of(request, data)

    def resume(self, request: PaymentRequest, payment_id: str) -> PaymentStart:
        pi = self._call(lambda: self.client.v1.payment_intents.retrieve(payment_id))
        data = pi.to_dict()
        if _pledge_id(data.get("metadata")) != request.pledge_id:
            raise ProviderRefused(reason="the payment belongs to another pledge")
        return self._start_of(request, data)

    def _start_of(self, request: PaymentRequest, pi: Mapping[str, Any]) -> PaymentStart:
        konbini = _voucher(pi)
        deadline = request.deadline
        if konbini is not None:
            deadline = min(deadline, konbini.expires_at)
        return PaymentStart(
            provider=self.name,
            method=request.method,
            payment_id=str(pi["id"]),
            amount=int(pi["amount"]),
            deadline=deadline,
            status=_status(pi),
            client_secret=pi.get("client_secret") if request.method == "card" else None,
            konbini=konbini,
        )

    # --- events ----------------------------------------------------------------------

    def verify_event(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        signature = next(
            (v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), None
        )
        try:
            payload = raw_body.decode("utf-8")
            stripe.WebhookSignature.verify_header(
                payload, signature, self._webhook_secret, TOLERANCE_SECONDS
            )
            event = json.loads(payload)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as e:
            log.warning("stripe webhook refused: %s", e)
            raise SignatureRefused(provider=self.name) from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            raise SignatureRefused(provider=self.name)  # signed, but not an event
        obj = (event.get("data") or {}).get("object") or {}
        kind = str(event.get("type", ""))
        payment_id: str | None = None
        refund_id: str | None = None
        if obj.get("object") == "payment_intent":
            payment_id = _id_of(obj)
        elif obj.get("object") in ("charge", "refund"):
            payment_id = _id_of(obj.get("payment_intent"))
            if obj.get("object") == "refund":
                refund_id = _id_of(obj)
        created = _moment(event.get("created")) or self._now()
        return ProviderEvent(
            provider=self.name,
            id=event["id"],
            type=kind,
            payment_id=payment_id,
            created=created,
            refund_id=refund_id,
            pledge_id=_pledge_id(obj.get("metadata")),
        )

    # --- re-reading ------------------------------------------------------------------

    def fetch(self, payment_id: str) -> PaymentState:
        params: PaymentIntentRetrieveParams = {"expand": [_EXPAND_FEE]}
        pi = self._call(
            lambda: self.client.v1.payment_intents.retrieve(payment_id, params=params)
        )
        return self._state(pi.to_dict())

    def reconcile(self, since: datetime) -> list[PaymentState]:
        params: PaymentIntentListParams = {
            "created": {"gte": int(since.timestamp())},
            "limit": 100,
            "expand": [f"data.{_EXPAND_FEE}"],
        }
        page = self._call(lambda: self.client.v1.payment_intents.list(params=params))
        found: list[PaymentState] = []
        for pi in self._call(lambda: list(page.auto_paging_iter())):
            data = pi.to_dict()
            if _pledge_id(data.get("metadata")) is not None:  # one of ours
                found.append(self._state(data))
        return found

    def _state(self, pi: Mapping[str, Any]) -> PaymentState:
        charge = pi.get("latest_charge")
        fee: int | None = None
        paid_at: datetime | None = None
        refunded = 0
        if isinstance(charge, Mapping):
            paid_at = _moment(charge.get("created")) if charge.get("paid") else None
            refunded = int(charge.get("amount_refunded") or 0)
            txn = charge.get("balance_transaction")
            if isinstance(txn, Mapping) and isinstance(txn.get("fee"), int):
                fee = int(txn["fee"])
        status = _status(pi)
        voucher = _voucher(pi)
        error = pi.get("last_payment_error") or {}
        return PaymentState(
            provider=self.name,
            payment_id=str(pi["id"]),
            status=status,
            amount=int(pi["amount"]),
            amount_received=int(pi.get("amount_received") or 0),
            fee=fee,
            pledge_id=_pledge_id(pi.get("metadata")),
            method=_method(pi),
            provider_status=str(pi.get("status", "")),
            paid_at=paid_at if status == "succeeded" else None,
            expires_at=voucher.expires_at if voucher else None,
            amount_refunded=refunded,
            failure=str(error.get("code") or error.get("type") or "") if error else "",
        )

    # --- refunds ---------------------------------------------------------------------

    def refund(self, payment_id: str, amount: int, idempotency_key: str) -> RefundState:
        if type(amount) is not int or amount <= 0:
            raise ValueError("a refund is a positive number of yen (int)")
        if not idempotency_key:
            raise ValueError("a refund needs the domain's idempotency key")
        state = self.fetch(payment_id)
        if state.method != "card":
            raise RefundUnsupported(method=state.method or "unknown")
        params: RefundCreateParams = {
            "payment_intent": payment_id,
            "amount": amount,
            "metadata": {METADATA_KEY: str(state.pledge_id or "")},
        }
        refund = self._call(
            lambda: self.client.v1.refunds.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        )
        return self._refund_state(refund.to_dict())

    def fetch_refund(self, refund_id: str) -> RefundState:
        refund = self._call(lambda: self.client.v1.refunds.retrieve(refund_id))
        return self._refund_state(refund.to_dict())

    def _refund_state(self, refund: Mapping[str, Any]) -> RefundState:
        return RefundState(
            provider=self.name,
            refund_id=str(refund["id"]),
            payment_id=_id_of(refund.get("payment_intent")) or "",
            amount=int(refund["amount"]),
            status=_refund_status(refund.get("status")),
            provider_status=str(refund.get("status", "")),
            failure=str(refund.get("failure_reason") or ""),
        )

    # --- errors ----------------------------------------------------------------------

    def _call(self, call: Any) -> Any:
        try:
            return call()
        except stripe.StripeError as e:
            _translate(e)


def _translate(error: stripe.StripeError) -> NoReturn:
    """Stripe's exceptions in the contract's words (never leak the library's)."""
    status = error.http_status or 0
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError) or status >= 500:
        log.warning("stripe unavailable: %s", error)
        raise ProviderUnavailable() from error
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        log.error("stripe refused our key: %s", error)  # configuration, not the supporter
        raise ProviderUnavailable() from error
    kind = error.error.type if error.error is not None else None
    reason = error.code or kind or type(error).__name__
    log.info("stripe refused: %s (%s)", reason, error.user_message or error)
    raise ProviderRefused(reason=reason) from error


def _voucher(pi: Mapping[str, Any]) -> KonbiniVoucher | None:
    action = pi.get("next_action") or {}
    details = action.get("konbini_display_details") if isinstance(action, Mapping) else None
    if not isinstance(details, Mapping):
        return None
    expires = _moment(details.get("expires_at"))
    if expires is None:
        return None
    stores: dict[str, KonbiniStore] = {}
    for store, found in (details.get("stores") or {}).items():
        if store in _STORES and isinstance(found, Mapping):
            stores[store] = KonbiniStore(
                confirmation_number=str(found.get("confirmation_number") or ""),
                payment_code=str(found.get("payment_code") or ""),
            )
    return KonbiniVoucher(
        expires_at=expires,
        hosted_voucher_url=str(details.get("hosted_voucher_url") or ""),
        stores=stores,
    )
