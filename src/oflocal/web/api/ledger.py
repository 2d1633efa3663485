"""The treasurer's view of the ledger: the auditor's checks and an event's trial balance.

The trial balance is JSON, or with ``?format=csv`` a CSV file that Japanese Excel opens
as it is (UTF-8 with a byte order mark, CRLF), with integer yen and a total row.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get
from litestar.openapi.spec import Example
from litestar.params import Parameter
from pydantic import BaseModel, Field

from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.ledger.verify import trial_balance, verify
from oflocal.web.api.common import MONEY
from oflocal.web.errors import require_json_body
from oflocal.web.state import services

MAX_ID = 2**31 - 1
CSV_HEADER = ("勘定コード", "勘定科目", "区分", "借方", "貸方")
TOTAL_LABEL = "合計"


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
    kind: str
    debit: int
    credit: int
    balance: int = Field(description="debit − credit")


class TrialBalance(BaseModel):
    event_id: int
    event_slug: str
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


def _cell(text: str) -> str:
    """Names are typed by people: keep Excel from reading one as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def trial_balance_csv(balance: TrialBalance) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in balance.rows:
        writer.writerow((_cell(row.account), _cell(row.name), row.kind, row.debit, row.credit))
    writer.writerow((TOTAL_LABEL, "", "", balance.total_debit, balance.total_credit))
    return out.getvalue().encode("utf-8-sig")


@get(
    "/events/{event_id:int}/trial-balance",
    opt={"roles": MONEY},
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
            description="`csv` answers a UTF-8 (BOM) CSV file for Excel, with a total row",
            examples=[Example(value="csv")],
        ),
    ] = "json",
) -> Response[TrialBalance]:
    """Debit and credit of every account of the event, in integer yen; they total equal."""
    with services(request.app.state).db.read() as session:
        event = session.get(Event, event_id)
        if event is None:
            raise Refusal("event.not_found")
        event_slug = event.slug
        rows = [TrialBalanceRow.model_validate(r) for r in trial_balance(session, event_id)]
    balance = TrialBalance(
        event_id=event_id,
        event_slug=event_slug,
        rows=rows,
        total_debit=sum(r.debit for r in rows),
        total_credit=sum(r.credit for r in rows),
        balanced=sum(r.debit for r in rows) == sum(r.credit for r in rows),
    )
    if output == "csv":
        slug = re.sub(r"[^A-Za-z0-9_-]", "_", event_slug)
        return Response(
            trial_balance_csv(balance),  # type: ignore[arg-type]
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="trial-balance-{slug}.csv"',
            },
        )
    return Response(balance)


router = Router(
    path="/",
    route_handlers=[run_verify, event_trial_balance],
    tags=["ledger"],
    before_request=require_json_body,
)
