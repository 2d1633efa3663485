"""Reports over the API (treasurer and admin): programme summary (JSON, PDF, SVG
charts), unused balance as of any date with the 31 March / 30 September record
dates, and the ledger exports (journal and trial balance as CSV or XLSX), streamed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get
from litestar.params import Parameter
from litestar.response import Stream
from pydantic import BaseModel, Field

from oflocal import clock
from oflocal.db.engine import Database
from oflocal.reports.annual import (
    AnnualReport,
    annual_pdf,
    annual_report,
    annual_xlsx,
    fiscal_year,
)
from oflocal.reports.charts import svg_columns, svg_rows
from oflocal.reports.csvout import encoding_of
from oflocal.reports.exports import (
    check_event,
    journal_csv,
    journal_xlsx,
    trial_balance_csv,
    trial_balance_xlsx,
)
from oflocal.reports.pdf import summary_pdf
from oflocal.reports.summary import programme_summary
from oflocal.reports.unused import next_record_date, record_date_balances, unused_balance
from oflocal.web.api.common import (
    MONEY,
    EventId,
    ProgrammeId,
    csv_media_type,
    download_headers,
)
from oflocal.web.api.periods import FromDay, ToDay, check_period
from oflocal.web.errors import require_json_body
from oflocal.web.openapi import CSV_SJIS, CSV_UTF8, PDF, XLSX
from oflocal.web.state import services

MAX_ID = 2**31 - 1
ExportFormat = Annotated[
    Literal["csv", "xlsx"], Parameter(query="format", description="`csv` (default) or `xlsx`")
]
CsvEncoding = Annotated[
    Literal["utf-8", "shift_jis"],
    Parameter(query="encoding", description="CSV encoding: `utf-8` (with BOM) or `shift_jis`"),
]
EXPORTS = (CSV_UTF8, CSV_SJIS, XLSX)
SVG = "image/svg+xml"


class ProgrammeBalance(BaseModel):
    programme_id: int
    name: str
    balance: int
    under_payment_services_act: bool


class BalanceOut(BaseModel):
    as_of: date
    total: int
    is_record_date: bool
    deposit_required: int
    programmes: list[ProgrammeBalance]


class UnusedOut(BaseModel):
    event_id: int
    as_of: BalanceOut
    record_dates: list[BalanceOut]
    next_record_date: date


def _db(request: Request[Any, Any, Any]) -> Database:
    return services(request.app.state).db


@get("/programmes/{programme_id:int}/summary", opt={"roles": MONEY}, sync_to_thread=True)
def summary(request: Request[Any, Any, Any], programme_id: ProgrammeId) -> dict[str, Any]:
    """Booklets printed, sold, voided; face sold, cash received; premium printed, sold
    and actually used; redeemed per workshop and per day; liability; breakage."""
    with _db(request).read() as session:
        return programme_summary(session, programme_id).as_dict()


@get("/programmes/{programme_id:int}/summary.pdf", opt={"roles": MONEY, "download": (PDF,)},
     sync_to_thread=True)
def summary_as_pdf(request: Request[Any, Any, Any], programme_id: ProgrammeId) -> Stream:
    """The summary with charts of redemptions per day and per workshop, as a PDF."""
    with _db(request).read() as session:
        data = programme_summary(session, programme_id)
    name = f"summary-programme{programme_id}.pdf"
    return Stream(summary_pdf(data), media_type="application/pdf",
                  headers=download_headers("application/pdf", name))


@get("/programmes/{programme_id:int}/charts/{chart:str}",
     opt={"roles": MONEY, "download": (SVG,)}, sync_to_thread=True, media_type=SVG)
def chart(request: Request[Any, Any, Any], programme_id: ProgrammeId,
          chart: Literal["per-day", "per-workshop"]) -> Response[str]:
    """Redemptions per day or per workshop as an SVG bar chart."""
    with _db(request).read() as session:
        data = programme_summary(session, programme_id)
    if chart == "per-day":
        svg = svg_columns([(f"{d.day.month}/{d.day.day}", d.face) for d in data.per_day],
                          title="日別の利用額")
    else:
        svg = svg_rows([(f"{w.code} {w.name}", w.face) for w in data.per_workshop],
                       title="工房別の利用額")
    return Response(svg, media_type="image/svg+xml")


@get("/events/{event_id:int}/unused-balance", opt={"roles": MONEY}, sync_to_thread=True)
def unused(request: Request[Any, Any, Any], event_id: EventId,
           as_of: date | None = None) -> UnusedOut:
    """Unused voucher balance at the end of a Tokyo day (default today), and on every
    31 March and 30 September (Payment Services Act record dates) so far."""
    today = clock.tokyo_date(clock.now())
    day = as_of or today
    with _db(request).read() as session:
        current = unused_balance(session, event_id, day)
        records = record_date_balances(session, event_id, today)
    return UnusedOut(
        event_id=event_id,
        as_of=BalanceOut(**current.as_dict()),
        record_dates=[BalanceOut(**b.as_dict()) for b in records],
        next_record_date=next_record_date(today),
    )


def _export(chunks: Iterator[bytes], name: str, fmt: str, codec: str) -> Stream:
    media = XLSX if fmt == "xlsx" else csv_media_type(codec)
    return Stream(chunks, media_type=media, headers=download_headers(media, f"{name}.{fmt}"))


@get("/events/{event_id:int}/exports/journal", opt={"roles": MONEY, "download": EXPORTS},
     sync_to_thread=True)
def journal(request: Request[Any, Any, Any], event_id: EventId, fmt: ExportFormat = "csv",
            encoding: CsvEncoding = "utf-8") -> Stream:
    """Every journal entry with its postings (one row per posting), streamed."""
    db = _db(request)
    slug = check_event(db, event_id)
    codec = encoding_of(encoding)
    chunks = journal_xlsx(db, event_id) if fmt == "xlsx" else journal_csv(db, event_id, codec)
    return _export(chunks, f"journal-{slug}", fmt, codec)


@get("/events/{event_id:int}/exports/trial-balance", opt={"roles": MONEY, "download": EXPORTS},
     sync_to_thread=True)
def trial(request: Request[Any, Any, Any], event_id: EventId, fmt: ExportFormat = "csv",
          encoding: CsvEncoding = "utf-8", start: FromDay = None, end: ToDay = None) -> Stream:
    """The trial balance (試算表) for Tokyo days `from`..`to` (default: from the first
    entry up to now): every account's balance brought forward, debit and credit totals
    and closing balance, balances on the class's normal side, with the totals rows. In
    the XLSX the period's days are dates."""
    check_period(start, end)
    db = _db(request)
    slug = check_event(db, event_id)
    codec = encoding_of(encoding)
    chunks = (trial_balance_xlsx(db, event_id, start, end) if fmt == "xlsx"
              else trial_balance_csv(db, event_id, codec, start, end))
    return _export(chunks, f"trial-balance-{slug}{_days(start, end)}", fmt, codec)


def _days(start: date | None, end: date | None) -> str:
    return "".join(f"-{d.isoformat()}" for d in (start, end) if d is not None)


class ReportLine(BaseModel):
    key: str = Field(description="A fixed line's key, or the account code of a line of its own")
    label: str
    amount: int


class AnnualReportOut(BaseModel):
    event_id: int
    event_name: str
    committee_name: str
    start: date
    end: date
    income: list[ReportLine] = Field(description="Receipts (収入の部)")
    income_total: int
    expenditure: list[ReportLine] = Field(description="Payments (支出の部)")
    expenditure_total: int
    difference: int = Field(description="income_total − expenditure_total (当期収支差額)")
    brought_forward: int = Field(description="Funds (asset accounts) at the start")
    carried_forward: int = Field(description="Funds at the end = brought_forward + difference")
    funds: list[ReportLine]
    obligations: list[ReportLine] = Field(description="Liabilities at the end")
    equity: list[ReportLine]


def _annual(request: Request[Any, Any, Any], event_id: int, start: date | None,
            end: date | None) -> AnnualReport:
    first, last = fiscal_year(clock.tokyo_date(clock.now()))
    start, end = start or first, end or last
    check_period(start, end)
    with _db(request).read() as session:
        return annual_report(session, event_id, start, end)


@get("/events/{event_id:int}/annual-report", opt={"roles": MONEY}, sync_to_thread=True)
def annual(request: Request[Any, Any, Any], event_id: EventId, start: FromDay = None,
           end: ToDay = None) -> AnnualReportOut:
    """The annual report for the general meeting (収支報告書) for Tokyo days
    `from`..`to` (default: the fiscal year, 1 April – 31 March, holding today), from the
    ledger alone: funds brought forward, receipts, payments, funds carried forward."""
    return AnnualReportOut(**_annual(request, event_id, start, end).as_dict())


@get("/events/{event_id:int}/exports/annual-report",
     opt={"roles": MONEY, "download": (PDF, XLSX)}, sync_to_thread=True)
def annual_export(request: Request[Any, Any, Any], event_id: EventId,
                  fmt: Annotated[Literal["pdf", "xlsx"],
                                 Parameter(query="format", description="`pdf` (default) or "
                                           "`xlsx`")] = "pdf",
                  start: FromDay = None, end: ToDay = None) -> Stream:
    """The annual report (収支報告書) as a PDF to print for the meeting, or as XLSX."""
    report = _annual(request, event_id, start, end)
    slug = check_event(_db(request), event_id)
    name = f"annual-report-{slug}{_days(report.start, report.end)}.{fmt}"
    media = "application/pdf" if fmt == "pdf" else XLSX
    chunks = annual_pdf(report) if fmt == "pdf" else annual_xlsx(report)
    return Stream(chunks, media_type=media, headers=download_headers(media, name))


router = Router(
    path="/",
    route_handlers=[summary, summary_as_pdf, chart, unused, journal, trial, annual,
                    annual_export],
    tags=["reports"],
    before_request=require_json_body,
)
