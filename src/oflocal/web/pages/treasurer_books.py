"""The treasurer's books page (帳簿): the trial balance (試算表) and the annual report for
the general meeting (収支報告書) for a period of Tokyo days, with their downloads.

Read only: it draws what ``ledger.verify.trial_balance`` and
``reports.annual.annual_report`` compute, the same functions the API and the CLI call.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.params import Parameter

from oflocal import clock
from oflocal.errors import Refusal
from oflocal.ledger.verify import DEBIT_NORMAL, normal_balance, trial_balance
from oflocal.reports.annual import annual_report, fiscal_year
from oflocal.web.api.common import MONEY
from oflocal.web.pages.render import AnyRequest, page, page_lang, refusal_texts
from oflocal.web.pages.treasurer import _event_id, _events, _parse_day
from oflocal.web.state import services


@get("/treasurer/books", opt={"roles": MONEY}, sync_to_thread=True, include_in_schema=False)
def books(request: AnyRequest,
          event: int | None = Parameter(query="event", default=None, ge=1),
          start: str | None = Parameter(query="from", default=None),
          end: str | None = Parameter(query="to", default=None)) -> Response[Any]:
    """Trial balance and annual report for a period (default: this fiscal year)."""
    event_id = _event_id(request, event)
    first, last = fiscal_year(clock.tokyo_date(clock.now()))
    error = None
    status = 200
    try:
        first, last = _parse_day(start) or first, _parse_day(end) or last
        if last < first:
            raise Refusal("report.period_invalid", start=first.isoformat(), end=last.isoformat())
    except Refusal as refusal:
        error, status = refusal_texts(refusal, page_lang(request)), refusal.status
        first, last = fiscal_year(clock.tokyo_date(clock.now()))
    trial: list[dict[str, Any]] = []
    report = None
    if event_id is not None:
        with services(request.app.state).db.read() as session:
            rows = trial_balance(session, event_id, first, last)
            report = annual_report(session, event_id, first, last)
        trial = [{**r, "opening_shown": normal_balance(r, "opening"),
                  "closing_shown": normal_balance(r), "debit_side": r["kind"] in DEBIT_NORMAL}
                 for r in rows]
    debit = sum(r["debit"] for r in trial)
    credit = sum(r["credit"] for r in trial)
    return page(
        request, "treasurer/books.html", status=status, events=_events(request),
        event_id=event_id, start=first.isoformat(), end=last.isoformat(), trial=trial,
        total_debit=debit, total_credit=credit, report=report, error=error, done=None,
        debit_balances=sum(r["closing_shown"] for r in trial if r["debit_side"]),
        credit_balances=sum(r["closing_shown"] for r in trial if not r["debit_side"]),
    )


route_handlers = [books]
