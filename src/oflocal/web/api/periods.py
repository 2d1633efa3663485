"""A period of Tokyo days in a query (``?from=2026-04-01&to=2027-03-31``), both days
included, as the trial balance and the annual report take it."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar.params import Parameter

from oflocal.errors import Refusal

FromDay = Annotated[
    date | None,
    Parameter(query="from", description="First Tokyo day of the period (YYYY-MM-DD), included"),
]
ToDay = Annotated[
    date | None,
    Parameter(query="to", description="Last Tokyo day of the period (YYYY-MM-DD), included"),
]


def check_period(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise Refusal("report.period_invalid", start=start.isoformat(), end=end.isoformat())
