"""The contract's own rules: requests are whole yen with an aware deadline, refusals
carry their catalogue codes, the registry gives each method one provider."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from oflocal.errors import MESSAGES
from oflocal.payments import (
    MethodUnavailable,
    PaymentRequest,
    ProviderRefused,
    Providers,
    ProviderUnavailable,
    RefundUnsupported,
    SignatureRefused,
)
from oflocal.payments.bank_statements import StatementUnreadable
from oflocal.payments.cash import CashProvider

REQUEST = PaymentRequest(
    pledge_id=1, amount=1_000, method="cash", supporter_name="ｱ", supporter_email="",
    supporter_phone="", deadline=datetime(2026, 5, 1, tzinfo=UTC), description="",
)


@pytest.mark.parametrize(
    "change",
    [{"amount": 0}, {"amount": 10.5}, {"amount": True}, {"pledge_id": 0},
     {"method": "paypay"}, {"deadline": datetime(2026, 5, 1)}],
)
def test_a_bad_request_is_a_programming_error(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        replace(REQUEST, **change)  # type: ignore[arg-type]


def test_refusals_are_in_the_catalogue() -> None:
    refusals = [SignatureRefused(), ProviderUnavailable(), ProviderRefused(reason="x"),
                RefundUnsupported(method="konbini"), MethodUnavailable(method="card"),
                StatementUnreadable("読めません", "unreadable")]
    for refusal in refusals:
        assert refusal.code.startswith("payment.") and refusal.code in MESSAGES
        assert "{" not in refusal.message("ja") and "{" not in refusal.message("en")
    assert [r.status for r in refusals] == [400, 503, 422, 422, 422, 422]


def test_a_provider_without_events_refuses_them() -> None:
    desk = CashProvider()
    with pytest.raises(SignatureRefused):
        desk.verify_event(b"{}", {})
    with pytest.raises(RefundUnsupported):
        desk.refund("cash:1", 1_000, "k")
    with pytest.raises(MethodUnavailable):
        desk.fetch("cash:1")


def test_one_provider_per_method() -> None:
    with pytest.raises(ValueError):
        Providers([CashProvider(), CashProvider()])
    on = Providers([CashProvider()])
    assert on.for_method("cash").start(REQUEST).cash is not None
    with pytest.raises(MethodUnavailable):
        on.by_name("stripe")
