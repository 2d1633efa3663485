"""Qualified-invoice registration numbers (適格請求書発行事業者登録番号): ``T`` + 13 digits.

For a corporation the 13 digits are its corporate number (法人番号), whose first digit is
a check digit (National Tax Agency): 9 − (Σ of the other 12 digits, weighted 1, 2, 1, 2 …
from the right) mod 9. A number whose check digit fails is refused on every way in
(API, pages, CLI, workshop import: ``invoice_number.check_digit``), so a typo never
reaches a qualified invoice. Numbers stored before the check was enforced are left as
they are when they are not changed (an edit of other fields still works); the pages
flag them (:func:`invoice_number_warning`).

DOMAIN-JAPAN.md notes that the numbers of sole proprietors and voluntary bodies are not
confirmed to follow the same rule; the committee decided to refuse (issue 13). Should a
genuine number ever fail, the fix is here, in :func:`check_invoice_number`.
"""

from __future__ import annotations

import re

from oflocal.errors import Refusal

INVOICE_NUMBER = re.compile(r"T\d{13}")

CHECK_DIGIT_WARNING = (
    "登録番号 {number} は法人番号のチェックディジットと合いません（チェック導入前に登録された"
    "番号です）。登録通知書と照らして正しい番号に直してください。 / Registration number "
    "{number} fails the corporate number check digit (it was stored before the check was "
    "enforced): check it against the registration notice and correct it."
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


def check_invoice_number(number: str | None, previous: str | None = None) -> None:
    """Refuse a malformed number, or one whose check digit fails, unless it is the number
    already stored (``previous``): an old row is flagged, not made uneditable."""
    if number is None:
        return
    if not INVOICE_NUMBER.fullmatch(number):
        raise Refusal("workshop.invoice_number_invalid")
    if number != previous and not check_digit_ok(number):
        raise Refusal("invoice_number.check_digit", number=number)


def invoice_number_warning(number: str | None) -> str | None:
    """The flag for a stored well-formed number whose check digit fails."""
    if number is None or not INVOICE_NUMBER.fullmatch(number) or check_digit_ok(number):
        return None
    return CHECK_DIGIT_WARNING.format(number=number)
