"""The treasurer's view of the ledger: the auditor's checks and an event's trial balance.

The trial balance is JSON, or with ``?format=csv`` the same CSV file the CLI writes
(``reports.exports``): UTF-8 with a byte order mark so Japanese Excel opens it as it
is (or Shift_JIS on request), CRLF, integer yen and a total row.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get
from litestar.openapi.spec import Example
from litestar.params import Parameter
from pydantic import BaseModel, Field

from oflocal.audit import verify
from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.ledger.verify import trial_balance
from oflocal.reports.csvout import encoding_of
from oflocal.reports.exports import trial_balance_csv
from oflocal.web.api.common import MONEY, csv_media_type, download_headers
from oflocal.web.api.periods import FromDay, ToDay, check_period
from oflocal.web.errors import require_json_body
from oflocal.web.openapi import CSV_SJIS, CSV_UTF8, JSON
from oflocal.web.state import services

MAX_ID = 2**31 - 1


class Check(BaseModel):
    name: str
    ok: bool
    detail: str


class VerifyReport(BaseModel):
    ok: bool = Field(description="True when every check passed")
    checks: list[Check]


class TrialBalanceRow(BaseModel):
    account: str
    name: str
    kind: str = Field(description="asset, liability, equity, income or expense")
    kind_label: str = Field(description="The class in Japanese with English beside: 資産 Asset")
    opening: int = Field(description="Balance brought forward to the first day (debit +)")
    debit: int = Field(description="Total of the debit postings in the period")
    credit: int = Field(description="Total of the credit postings in the period")
    closing: int = Field(description="opening + debit − credit (debit +)")
    balance: int = Field(description="The same as closing")


class TrialBalance(BaseModel):
    event_id: int
    event_slug: str
    start: date | None = Field(description="First Tokyo day of the period (null: the start)")
    end: date | None = Field(description="Last Tokyo day of the period (null: up to now)")
    rows: list[TrialBalanceRow]
    total_debit: int
    total_credit: int
    balanced: bool = Field(description="total_debit == total_credit")


@get("/ledger/verify", opt={"roles": MONEY}, sync_to_thread=True, tags=["ledger"])
def run_verify(request: Request[Any, Any, Any]) -> VerifyReport:
    """Run the auditor: every ledger identity checked against tickets, sales and
    redemptions. Always 200; look at `ok` and at the failing checks."""
    with services(request.app.state).db.read() as session:
        report = verify(session)
    return VerifyReport(
        ok=report.ok,
        checks=[Check(name=name, ok=ok, detail=detail) for name, ok, detail in report.checks],
    )


@get(
    "/events/{event_id:int}/trial-balance",
    opt={"roles": MONEY, "download": (JSON, CSV_UTF8, CSV_SJIS)},
    sync_to_thread=True,
    tags=["ledger"],
    response_description="The trial balance as JSON, or as CSV with `?format=csv`",
)
def event_trial_balance(
    request: Request[Any, Any, Any],
    event_id: Annotated[int, Parameter(ge=1, le=MAX_ID, description="Event id")],
    output: Annotated[
        Literal["json", "csv"],
        Parameter(
            query="format",
            description="`csv` answers a CSV file for Excel, with a total row",
            examples=[Example(value="csv")],
        ),
    ] = "json",
    encoding: Annotated[
        Literal["utf-8", "shift_jis"],
        Parameter(description="CSV only: `utf-8` (with BOM) or `shift_jis` for older software"),
    ] = "utf-8",
    start: FromDay = None,
    end: ToDay = None,
) -> Response[TrialBalance]:
    """Every account of the event for a period of Tokyo days (`from`..`to`, both
    included; default: from the first entry up to now): the balance brought forward,
    the totals of the debit and of the credit postings, and the closing balance, in
    integer yen. The debit and credit totals are equal."""
    check_period(start, end)
    db = services(request.app.state).db
    with db.read() as session:
        event = session.get(Event, event_id)
        if event is None:
            raise Refusal("event.not_found")
        event_slug = event.slug
        rows = [TrialBalanceRow.model_validate(r)
                for r in trial_balance(session, event_id, start, end)]
    if output == "csv":  # the very file `oflocal report trial-balance` writes
        codec = encoding_of(encoding)
        csv_bytes = b"".join(trial_balance_csv(db, event_id, codec, start, end))
        filename = "trial-balance-" + re.sub(r"[^A-Za-z0-9_-]", "_", event_slug) + ".csv"
        return Response(
            csv_bytes,  # type: ignore[arg-type]  # the JSON model is what OpenAPI shows
            media_type=csv_media_type(codec),
            headers=download_headers(csv_media_type(codec), filename),
        )
    debit, credit = sum(r.debit for r in rows), sum(r.credit for r in rows)
    return Response(
        TrialBalance(event_id=event_id, event_slug=event_slug, start=start, end=end, rows=rows,
                     total_debit=debit, total_credit=credit, balanced=debit == credit)
    )


router = Router(
    path="/",
    route_handlers=[run_verify, event_trial_balance],
    tags=["ledger"],
    before_request=require_json_body,
)
