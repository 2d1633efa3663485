"""Which payment providers are on, and which one takes a method.

* Stripe (card, konbini): only when ``OFLOCAL_STRIPE_SECRET_KEY`` is set (with its
  webhook secret; see ``settings.Stripe``);
* bank transfer: when the committee's receiving account is given (the domain reads it
  from the event or campaign and passes it in);
* cash at the desk: on unless switched off.

Providers are built once per process and hold no state but their configuration.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from oflocal.payments.bank_transfer import BankTransferProvider, ReceivingAccount
from oflocal.payments.cash import CashProvider
from oflocal.payments.contract import Method, MethodUnavailable, PaymentProvider
from oflocal.settings import Settings, get_settings


class Providers(Mapping[str, PaymentProvider]):
    """The providers that are on, by name, and by the method they take."""

    def __init__(self, providers: list[PaymentProvider]) -> None:
        self._by_name: dict[str, PaymentProvider] = {}
        self._by_method: dict[Method, PaymentProvider] = {}
        for provider in providers:
            if provider.name in self._by_name:
                raise ValueError(f"two providers are named {provider.name}")
            self._by_name[provider.name] = provider
            for method in sorted(provider.methods):
                if method in self._by_method:
                    raise ValueError(f"two providers take {method}")
                self._by_method[method] = provider

    def __getitem__(self, name: str) -> PaymentProvider:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    @property
    def methods(self) -> tuple[Method, ...]:
        """The methods a supporter may choose, in a stable order."""
        order: tuple[Method, ...] = ("card", "konbini", "bank_transfer", "cash")
        return tuple(m for m in order if m in self._by_method)

    def for_method(self, method: str) -> PaymentProvider:
        """The provider for a method, or ``payment.method_unavailable``."""
        for m, provider in self._by_method.items():
            if m == method:
                return provider
        raise MethodUnavailable(method=method)

    def by_name(self, name: str) -> PaymentProvider:
        """The provider a webhook URL or a stored payment names."""
        provider = self._by_name.get(name)
        if provider is None:
            raise MethodUnavailable(method=name)
        return provider


def providers(
    settings: Settings | None = None,
    *,
    bank_account: ReceivingAccount | None = None,
    cash: bool = True,
) -> Providers:
    """The providers that are on with these settings (see the module doc)."""
    settings = settings or get_settings()
    found: list[PaymentProvider] = []
    if settings.stripe.enabled:
        from oflocal.payments.stripe_provider import StripeProvider  # imports stripe

        found.append(StripeProvider(settings.stripe))
    if bank_account is not None:
        found.append(BankTransferProvider(bank_account))
    if cash:
        found.append(CashProvider())
    return Providers(found)
