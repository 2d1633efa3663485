"""Invoice registration numbers: the corporate-number check digit, as the National Tax
Agency publishes it, with real corporate numbers and every single-digit slip: refused,
unless it is the number already stored (then flagged)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from oflocal.errors import Refusal
from oflocal.events.invoice import (
    check_invoice_number,
    corporate_check_digit,
    invoice_number_warning,
    with_check_digit,
)

# Published corporate numbers (国税庁法人番号公表サイト): トヨタ自動車, 国税庁.
REAL = ["1180301018771", "7000012050002"]


@pytest.mark.parametrize("number", REAL)
def test_real_corporate_numbers_pass(number: str) -> None:
    assert corporate_check_digit(number[1:]) == int(number[0])
    assert invoice_number_warning("T" + number) is None
    check_invoice_number("T" + number)  # accepted
    assert with_check_digit(number[1:]) == "T" + number


@given(st.sampled_from(REAL), st.integers(0, 12), st.integers(1, 9))
def test_any_single_digit_slip_is_caught(number: str, position: int, shift: int) -> None:
    """Every slip of one digit, except 0 ↔ 9: a mod-9 sum cannot see a change of 9."""
    digits = list(number)
    old = int(digits[position])
    new = (old + shift) % 10
    assume(abs(new - old) != 9)
    digits[position] = str(new)
    slipped = "".join(digits)
    with pytest.raises(Refusal) as refused:
        check_invoice_number("T" + slipped)
    assert refused.value.code == "invoice_number.check_digit"
    assert f"T{slipped}" in refused.value.message("ja") and "チェックディジット" in \
        refused.value.message("ja") and "check digit" in refused.value.message("en")
    # ... unless it is the number already stored (a row from before the check): flagged
    check_invoice_number("T" + slipped, previous="T" + slipped)
    warning = invoice_number_warning("T" + slipped)
    assert warning is not None and f"T{slipped}" in warning and "チェックディジット" in warning
    with pytest.raises(Refusal):  # changing to a failing number needs confirmation
        check_invoice_number("T" + slipped, previous="T" + number)
    # ... or it is confirmed against the registration notice (a sole proprietor's or a
    # voluntary body's number, which need not follow the corporate rule)
    check_invoice_number("T" + slipped, previous="T" + number, confirmed=True)


def test_absent_or_malformed_numbers() -> None:
    assert invoice_number_warning(None) is None
    assert invoice_number_warning("T123") is None  # refused by the shape rule
    check_invoice_number(None)
    for bad in ("T123", "1180301018771", "T11803010187710", "t1180301018771"):
        with pytest.raises(Refusal) as refused:  # no confirmation makes a bad shape right
            check_invoice_number(bad, confirmed=True)
        assert refused.value.code == "workshop.invoice_number_invalid"
