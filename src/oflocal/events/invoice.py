"""Qualified-invoice registration numbers (適格請求書発行事業者登録番号): ``T`` + 13 digits.

For a corporation the 13 digits are its corporate number (法人番号), whose first digit is
a check digit (National Tax Agency): 9 − (Σ of the other 12 digits, weighted 1, 2, 1, 2 …
from the right) mod 9. Sole proprietors and voluntary bodies get a separate 13-digit
number that is not known to follow the same rule (DOMAIN-JAPAN.md), so a failed check is
a warning to confirm, not a refusal: on every way in (API, pages, CLI) a number whose
check digit fails is refused (``invoice_number.check_digit``, which says how to
confirm) until the person confirms it against the registration notice
(``confirm_invoice_number``); the workshop import lists it as a warning in its preview,
and applying the import confirms. So a typo of a corporation's number never slips onto
a qualified invoice, and a genuine non-corporate number can still be stored. Stored
numbers that fail are flagged on the pages (:func:`invoice_number_warning`).
"""

from __future__ import annotations

import re

from oflocal.errors import Refusal

INVOICE_NUMBER = re.compile(r"T\d{13}")

CHECK_DIGIT_WARNING = (
    "登録番号 {number} は法人番号のチェックディジットと合いません。法人の番号なら誤りです。"
    "個人事業者・任意団体の番号なら、登録通知書と同じかご確認ください。 / Registration number "
    "{number} fails the corporate number check digit: a corporation's number would be "
    "wrong; for a sole proprietor or a voluntary body, check it against the registration "
    "notice."
)


def corporate_check_digit(twelve: str) -> int:
    """The check digit for the 12 digits that follow it in a corporate number."""
    total = sum(int(d) * (1 if i % 2 == 0 else 2) for i, d in enumerate(reversed(twelve)))
    return 9 - total % 9


def with_check_digit(twelve: str) -> str:
    """``T`` + the check digit + the 12 digits: a number that passes the check."""
    return f"T{corporate_check_digit(twelve)}{twelve}"


def check_digit_ok(number: str) -> bool:
    """Whether a ``T`` + 13 digits number's first digit is the check digit of the rest."""
    digits = number[1:]
    return int(digits[0]) == corporate_check_digit(digits[1:])


def check_invoice_number(number: str | None, previous: str | None = None, *,
                         confirmed: bool = False) -> None:
    """Refuse a malformed number; and one whose check digit fails unless it was confirmed
    against the registration notice (``confirmed``) or is the number already stored
    (``previous``: an old row is flagged, not made uneditable)."""
    if number is None:
        return
    if not INVOICE_NUMBER.fullmatch(number):
        raise Refusal("workshop.invoice_number_invalid")
    if number != previous and not confirmed and not check_digit_ok(number):
        raise Refusal("invoice_number.check_digit", number=number)


def invoice_number_warning(number: str | None) -> str | None:
    """The flag for a stored well-formed number whose check digit fails."""
    if number is None or not INVOICE_NUMBER.fullmatch(number) or check_digit_ok(number):
        return None
    return CHECK_DIGIT_WARNING.format(number=number)
