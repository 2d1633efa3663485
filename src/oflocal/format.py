"""How money and time are shown to people: ¥1,234 and Asia/Tokyo."""

from __future__ import annotations

from datetime import date, datetime

from oflocal.clock import as_tokyo


def yen(amount: int) -> str:
    return f"-¥{-amount:,}" if amount < 0 else f"¥{amount:,}"


def tokyo_minute(moment: datetime) -> str:
    return as_tokyo(moment).strftime("%Y-%m-%d %H:%M")


def ja_minute(moment: datetime) -> str:
    """「11月28日 14:05」: how a booth tells when a ticket was used."""
    local = as_tokyo(moment)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def en_minute(moment: datetime) -> str:
    return as_tokyo(moment).strftime("%d %b %H:%M").lstrip("0")


def ja_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


# Fixed English month names: strftime's %b follows the process locale.
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def en_date(day: date) -> str:
    """「10 Dec 2026」: a day in English words, never 2026年12月10日."""
    return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"


def shown_moment(value: date | datetime, lang: str) -> str:
    """A day or a Tokyo minute in a sentence: 2026年12月10日 14:05 / 10 Dec 2026 14:05."""
    if isinstance(value, datetime):
        local = as_tokyo(value)
        day = ja_date(local.date()) if lang == "ja" else en_date(local.date())
        return f"{day} {local:%H:%M}"
    return ja_date(value) if lang == "ja" else en_date(value)
