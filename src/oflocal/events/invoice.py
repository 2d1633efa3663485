"""Qualified-invoice registration numbers (適格請求書発行事業者登録番号): ``T`` + 13 digits.

For a corporation the 13 digits are its corporate number (法人番号), whose first digit is
a check digit (National Tax Agency): 9 − (Σ of the other 12 digits, weighted 1, 2, 1, 2 …
from the right) mod 9. Sole proprietors and voluntary bodies get another 13-digit
number, and whether it follows the same rule is not confirmed (DOMAIN-JAPAN.md). So a
number of the right shape whose check digit fails is not refused: the committee is
asked to confirm it against the registration notice.
"""

from __future__ import annotations

import re

INVOICE_NUMBER = re.compile(r"T\d{13}")

CHECK_DIGIT_WARNING = (
    "登録番号 {number} は法人番号のチェックディジットと合いません。個人事業者の番号でなければ、"
    "登録通知書と照らして確認してください。 / Registration number {number} fails the corporate "
    "number check digit: unless it belongs to a sole proprietor, check it against the "
    "registration notice."
)


def corporate_check_digit(twelve: str) -> int:
    """The check digit for the 12 digits that follow it in a corporate number."""
    total = sum(int(d) * (1 if i % 2 == 0 else 2) for i, d in enumerate(reversed(twelve)))
    return 9 - total % 9


def invoice_number_warning(number: str | None) -> str | None:
    """A warning to confirm a well-formed number whose corporate check digit fails."""
    if number is None or not INVOICE_NUMBER.fullmatch(number):
        return None  # absent, or refused elsewhere for its shape
    digits = number[1:]
    if int(digits[0]) == corporate_check_digit(digits[1:]):
        return None
    return CHECK_DIGIT_WARNING.format(number=number)
