"""Days on which Japanese banks move money (銀行営業日), for transfer dates.

Banks are closed on Saturdays, Sundays, national holidays (祝日, 振替休日 and 国民の休日,
from the ``holidays`` package, which computes them offline by the law's rules) and from
31 December to 3 January (年末年始).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays

_NEW_YEAR = {(12, 31), (1, 1), (1, 2), (1, 3)}


@cache
def _national(year: int, language: str) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year, language=language)


def why_closed(day: date) -> tuple[str, str] | None:
    """Why banks are closed on ``day``, in Japanese and English; None on a bank day."""
    if day.weekday() == 5:
        return "土曜日", "a Saturday"
    if day.weekday() == 6:
        return "日曜日", "a Sunday"
    name = _national(day.year, "ja").get(day)
    if name:
        # 振替休日 and 国民の休日 are 休日 by the law, not 祝日 themselves.
        kind = "休日" if name in ("振替休日", "国民の休日") else "祝日"
        english = _national(day.year, "en_US").get(day)
        return f"{kind}（{name}）", f"{english}, a national holiday"
    if (day.month, day.day) in _NEW_YEAR:
        return "年末年始の休業日", "a New Year bank holiday"
    return None


def is_bank_day(day: date) -> bool:
    return why_closed(day) is None


def next_bank_day(day: date) -> date:
    """``day`` itself if banks are open, else the first day after it when they are."""
    while not is_bank_day(day):
        day += timedelta(days=1)
    return day
