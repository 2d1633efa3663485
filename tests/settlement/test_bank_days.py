"""Bank business days for transfer dates, against the 2026–2027 calendar (内閣府
「国民の祝日」) read off by hand: weekends, national holidays including substitute
holidays (振替休日) and the sandwiched 国民の休日, and 31 December to 3 January."""

from __future__ import annotations

from datetime import date

import pytest

from oflocal.settlement.bank_days import is_bank_day, next_bank_day, why_closed


@pytest.mark.parametrize(("day", "ja", "en"), [
    (date(2026, 11, 28), "土曜日", "a Saturday"),
    (date(2026, 11, 29), "日曜日", "a Sunday"),
    (date(2026, 11, 3), "祝日（文化の日）", "Culture Day"),
    (date(2026, 11, 23), "祝日（勤労感謝の日）", "Labor Thanksgiving Day"),
    (date(2026, 5, 6), "休日（振替休日）", "national holiday"),  # 5/3 fell on a Sunday
    (date(2026, 9, 22), "休日（国民の休日）", "national holiday"),  # between 9/21 and 9/23
    (date(2027, 3, 22), "休日（振替休日）", "national holiday"),  # 春分の日 3/21 was a Sunday
    (date(2026, 12, 31), "年末年始の休業日", "New Year"),
    (date(2027, 1, 1), "祝日（元日）", "New Year"),
    (date(2027, 1, 2), "土曜日", "Saturday"),
])
def test_days_banks_are_closed_say_why(day: date, ja: str, en: str) -> None:
    closed = why_closed(day)
    assert closed is not None and ja == closed[0] and en in closed[1]
    assert not is_bank_day(day)


@pytest.mark.parametrize("day", [
    date(2026, 11, 30), date(2026, 11, 2), date(2026, 11, 4), date(2026, 12, 30),
    date(2027, 1, 4), date(2026, 9, 24), date(2026, 5, 7),
])
def test_ordinary_weekdays_are_bank_days(day: date) -> None:
    assert why_closed(day) is None and is_bank_day(day)


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 11, 30), date(2026, 11, 30)),  # open: the same day
    (date(2026, 11, 28), date(2026, 11, 30)),  # Saturday -> Monday
    (date(2026, 5, 2), date(2026, 5, 7)),      # Golden Week with a substitute holiday
    (date(2026, 9, 19), date(2026, 9, 24)),    # Silver Week: 9/19 to 9/23 closed
    (date(2026, 12, 31), date(2027, 1, 4)),    # year end, then a weekend
])
def test_next_bank_day(day: date, expected: date) -> None:
    assert next_bank_day(day) == expected
