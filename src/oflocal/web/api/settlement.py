"""Settlement over the API: settings, closing periods, statements, the Zengin file,
marking paid, corrections; and each workshop's own statements.

The treasurer and admins do everything here; a workshop sees only its own
statements (``/workshop/statements``, or a period's statement with its own id).
Every write takes an ``Idempotency-Key``; corrections and adjustments need one (a retry
without it would post twice). Closing is idempotent by its cut-off anyway (the same
cut-off answers the same period, status 200).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get, post, put
from litestar.params import Parameter
from litestar.response import Stream
from pydantic import AwareDatetime, BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.reports.csvout import encoding_of
from oflocal.settlement.close import close_period
from oflocal.settlement.corrections import (
    COUNTER_ACCOUNTS,
    adjust_workshop,
    correct_redemption,
    record_repayment,
    request_repayment,
)
from oflocal.settlement.kana import input_regex
from oflocal.settlement.pay import mark_period_paid
from oflocal.settlement.queries import (
    get_period,
    iter_statements,
    list_periods,
    period_detail,
    workshop_statements,
)
from oflocal.settlement.repayment_invoice import (
    invoice_document,
    invoice_pdf,
    invoice_view,
    issue_invoice,
    list_invoices,
    owed_back_with_invoices,
    record_print,
    workshop_invoice_view,
    workshop_invoices,
)
from oflocal.settlement.rules import FeeRule
from oflocal.settlement.settings import (
    RequesterData,
    set_fee_rule,
    set_requester,
    settings_view,
)
from oflocal.settlement.statements import record_issues, statements_csv, statements_pdf
from oflocal.settlement.transfer import check_period_file, make_period_file, zengin_filename
from oflocal.web.api.common import (
    KEY_OPTIONAL,
    KEY_REQUIRED,
    MONEY,
    NOT_BLANK,
    WORKSHOP,
    EventId,
    Id,
    PeriodId,
    RequestBody,
    WorkshopId,
    actor_of,
    answer,
    csv_media_type,
    download_headers,
    idempotency,
    once,
)
from oflocal.web.errors import require_json_body
from oflocal.web.openapi import CSV_SJIS, CSV_UTF8, PDF
from oflocal.web.state import services

MAX_ID = 2**31 - 1
InvoiceId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Repayment invoice id")]
DocFormat = Annotated[
    Literal["pdf", "csv"], Parameter(query="format", description="`pdf` (default) or `csv`")
]
CsvEncoding = Annotated[
    Literal["utf-8", "shift_jis"],
    Parameter(query="encoding", description="CSV encoding: `utf-8` (with BOM) or `shift_jis`"),
]


STATEMENTS = (PDF, CSV_UTF8, CSV_SJIS)
ZENGIN = "text/plain; charset=Shift_JIS"


class SettingsOut(BaseModel):
    event_id: int
    committee_name: str
    requester_code: str | None
    requester_name_kana: str | None
    bank_code: str | None
    branch_code: str | None
    account_type: int | None
    account_number: str | None
    fee_rule: str
    fee_rate_bp: int
    fee_fixed_yen: int
    fee_rounding: str
    fee_description_ja: str
    fee_description_en: str


class FeeRuleIn(RequestBody):
    rule: Literal["none", "rate", "fixed"]
    rate_bp: int = Field(default=0, ge=0, le=10_000, description="250 = 2.5 % of face value")
    fixed_yen: int = Field(default=0, ge=0, le=100_000, description="yen per ticket")
    rounding: Literal["floor", "round", "ceil"] = "floor"


class RequesterIn(RequestBody):
    code: str = Field(pattern=r"^[0-9]{10}$", description="委託者コード (10 digits, from the bank)")
    name_kana: str = Field(min_length=1, max_length=200, description="振込依頼人名 (kana)",
                           # what set_requester converts (else settlement.settings_invalid)
                           json_schema_extra={"pattern": input_regex()})
    bank_code: str = Field(pattern=r"^[0-9]{4}$")
    branch_code: str = Field(pattern=r"^[0-9]{3}$")
    account_type: Literal[1, 2, 9] = 1
    account_number: str = Field(pattern=r"^[0-9]{7}$")


class PeriodOut(BaseModel):
    period_id: int
    event_id: int
    number: int
    status: Literal["closed", "paid"]
    cutoff_at: str
    previous_cutoff_at: str | None
    closed_at: str
    closed_by: str
    transfer_date: str | None
    paid_at: str | None
    planned_transfer_date: str | None = Field(
        description="Before payment: the date the latest Zengin file was made for")
    fee_rule: str
    fee_rule_en: str
    workshops: int
    ticket_count: int
    face_total: int
    adjustment_total: int
    fee_total: int
    net_total: int


class LineOut(BaseModel):
    workshop_id: int
    workshop_code: str
    workshop_name: str
    ticket_count: int
    face_total: int
    adjustment: int
    fee: int
    net: int
    bank_account: str = Field(description="masked, e.g. 普通 ***4567")


class PeriodDetail(PeriodOut):
    lines: list[LineOut]


class CloseIn(RequestBody):
    cutoff_at: AwareDatetime | None = Field(
        default=None, description="Cut-off (ISO 8601 with offset); default: now"
    )


class PaidIn(RequestBody):
    transfer_date: date | None = Field(
        default=None,
        description="The bank's transfer date (YYYY-MM-DD); default: the date the period's "
                    "latest Zengin file was made for (refused with "
                    "settlement.transfer_date_missing when there is none)")


class ZenginProblemOut(BaseModel):
    payee_key: str | None
    field: str
    code: str
    message_ja: str
    message_en: str


class ZenginCheck(BaseModel):
    ok: bool
    transfer_date: date
    problems: list[ZenginProblemOut]


class RedemptionCorrectionIn(RequestBody):
    ticket_code: str = Field(
        min_length=1, max_length=40,
        description="The code printed on the ticket (dashes and case do not matter)",
        examples=["T01K-0003-Q7ZD-X2M9-4F8H"],
    )
    reason: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK)
    to_workshop_id: Id | None = Field(
        default=None, description="Give it to this workshop instead of breakage"
    )
    settle: Settle = "next_payout"


Settle = Annotated[Literal["next_payout", "repayment"], Field(
    description="When the workshop was paid already and has not enough pending: offset "
                "what it owes against its next payout, or ask it to pay the committee back")]


class RepaymentIn(RequestBody):
    amount: int = Field(ge=1, le=10_000_000)
    received_on: date = Field(description="The day the money arrived (Asia/Tokyo)")
    account: Literal["bank", "cash"] = "bank"


class OwedBackOut(BaseModel):
    workshop_id: int
    code: str
    name: str
    total: int = Field(description="What the workshop owes the committee (receivable:W)")
    to_offset: int = Field(description="Of which waiting to be offset against a payout")
    to_repay: int = Field(description="Of which asked to be paid back")
    to_invoice: int = Field(description="Of which a new repayment invoice would bill now "
                                        "(asked to pay back, on no invoice yet, not paid)")


class RepaymentInvoiceIn(RequestBody):
    due_date: date | SkipJsonSchema[None] = Field(
        default=None, description="お支払期限 (YYYY-MM-DD, not before today in Tokyo); "
                                  "default: the end of the next month (翌月末)")


class InvoiceItemOut(BaseModel):
    correction_id: int
    corrected_on: date
    reason: str
    ticket_code: str | None = Field(description="The ticket the correction concerns")
    face: int | None = Field(description="The ticket's face value")
    fee_returned: int = Field(description="The fee charged on it, given back (deducted)")
    amount: int = Field(description="Billed: face − fee, or the adjustment")


class PayToOut(BaseModel):
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: int
    account_number: str
    account_holder_kana: str


class FeeReturnOut(BaseModel):
    ticket_code: str
    face: int
    fee: int = Field(description="Fee given back, tax included (10 %)")
    original_on: date = Field(description="The original sale: its period's cut-off day")
    returned_on: date = Field(description="The day of the correction")


class RepaymentInvoiceOut(BaseModel):
    id: int
    event_id: int
    workshop_id: int
    workshop_code: str
    workshop_name: str
    number: str = Field(description="請求書番号, e.g. R0001-W03")
    issued_on: date = Field(description="発行日 (Tokyo); a reprint keeps it")
    issued_at: str
    issued_by: str
    due_date: date
    items_total: int
    received_before: int = Field(description="Paid back before the invoice, deducted")
    amount: int = Field(description="ご請求金額 = items_total − received_before")
    outstanding: int = Field(description="Still to be paid (repayments go to the oldest "
                                         "invoice first)")
    first_printed_on: date | None = Field(description="The first PDF; later ones say 再発行")
    items: list[InvoiceItemOut]
    pay_to: PayToOut = Field(description="The committee's account, as when issued")
    fee_returns: list[FeeReturnOut] = Field(
        description="Fees given back (the return invoice part, printed when the committee "
                    "has a registration number)")
    fee_return_total: int
    fee_return_tax: int = Field(description="Consumption tax in fee_return_total (× 10/110, "
                                            "cut off)")


class AdjustmentIn(RequestBody):
    workshop_id: Id
    amount: int = Field(
        ge=-10_000_000, le=10_000_000, description="+ owed more, − owed less (not 0)",
        # The service refuses ¥0 (settlement.correction_amount_invalid); the schema says so.
        json_schema_extra={"not": {"const": 0}},
    )
    counter_account: Literal["premium_fund", "fee_income", "breakage"]
    reason: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK)
    settle: Settle = "next_payout"


class WorkshopStatementOut(BaseModel):
    period_id: int
    number: int
    status: str
    cutoff_at: str
    previous_cutoff_at: str | None
    transfer_date: str | None
    planned_transfer_date: str | None = Field(
        description="Before payment: the date the latest Zengin file was made for")
    ticket_count: int
    face_total: int
    adjustment: int
    fee: int
    net: int


assert set(COUNTER_ACCOUNTS) == {"premium_fund", "fee_income", "breakage"}


def _db(request: Request[Any, Any, Any]) -> Database:
    return services(request.app.state).db


def _encoding(value: str) -> str:
    return encoding_of(value)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def statement_stream(db: Database, period_id: int, workshop_id: int | None, fmt: str,
                     encoding: str = "utf-8-sig",
                     fresh: frozenset[int] | None = None) -> Iterator[bytes]:
    """The statements as a stream; the period (and workshop line) must exist: the
    callers check first so a missing one is a 404, not a broken download. ``fresh``:
    a PDF that issues statements (record_issues), the ones issued by it."""
    with db.read() as session:
        statements = iter_statements(session, period_id, workshop_id, fresh=fresh)
        if fmt == "csv":
            yield from statements_csv(statements, encoding)
        else:
            yield from statements_pdf(statements)


def _check_statement(db: Database, period_id: int, workshop_id: int | None) -> int:
    with db.read() as session:
        number = get_period(session, period_id).number
        if workshop_id is not None:
            next(iter_statements(session, period_id, workshop_id))  # refuses if none
        return number


def _download(db: Database, period_id: int, workshop_id: int | None, fmt: str,
              encoding: str, actor: str) -> Stream:
    """A PDF issues the statements: the first one records its 発行日, later ones are
    reprints (再発行). The CSV is the same figures as data and issues nothing."""
    number = _check_statement(db, period_id, workshop_id)
    fresh = record_issues(db, period_id, workshop_id, actor=actor) if fmt == "pdf" else None
    codec = _encoding(encoding)
    who = f"-W{workshop_id}" if workshop_id is not None else ""
    name = f"statements-period{number}{who}.{fmt}"
    media = "application/pdf" if fmt == "pdf" else csv_media_type(codec)
    return Stream(statement_stream(db, period_id, workshop_id, fmt, codec, fresh),
                  media_type=media, headers=download_headers(media, name))


# ------------------------------------------------------------------------- settings


@get("/events/{event_id:int}/settlement", opt={"roles": MONEY}, sync_to_thread=True)
def get_settings(request: Request[Any, Any, Any], event_id: EventId) -> SettingsOut:
    """The committee's Zengin requester data and the redemption fee rule."""
    return SettingsOut(**settings_view(_db(request), event_id))


@put("/events/{event_id:int}/settlement/fee-rule",
     opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True)
def put_fee_rule(request: Request[Any, Any, Any], event_id: EventId,
                 data: FeeRuleIn) -> Response[SettingsOut]:
    """Set the fee rule for periods closed from now on; closed periods keep theirs."""
    def work() -> SettingsOut:
        set_fee_rule(_db(request), event_id=event_id,
                     rule=FeeRule(data.rule, data.rate_bp, data.fixed_yen, data.rounding))
        return SettingsOut(**settings_view(_db(request), event_id))

    return once(request, work, event_id, data.model_dump())


@put("/events/{event_id:int}/settlement/requester",
     opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True)
def put_requester(request: Request[Any, Any, Any], event_id: EventId,
                  data: RequesterIn) -> Response[SettingsOut]:
    """Set the committee's bank data for the Zengin file (委託者コード, 口座)."""
    def work() -> SettingsOut:
        return SettingsOut(**set_requester(_db(request), event_id=event_id,
                                           data=RequesterData(**data.model_dump())))

    return once(request, work, event_id, data.model_dump())


# -------------------------------------------------------------------------- periods


@get("/events/{event_id:int}/settlement/periods", opt={"roles": MONEY}, sync_to_thread=True)
def periods(request: Request[Any, Any, Any], event_id: EventId) -> list[PeriodOut]:
    """The event's settlement periods, newest first."""
    with _db(request).read() as session:
        return [PeriodOut(**p) for p in list_periods(session, event_id)]


@post("/events/{event_id:int}/settlement/periods",
      opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=201)
def close(request: Request[Any, Any, Any], event_id: EventId,
          data: CloseIn | None = None) -> Response[PeriodOut]:
    """Close the next period at the cut-off (default now): every unsettled redemption up
    to it is frozen into one line per workshop. The same cut-off again answers the same
    period with status 200. An `Idempotency-Key` is optional; without a body the cut-off
    is now."""
    actor = actor_of(request)
    cutoff = data.cutoff_at if data else None
    idem = idempotency(request, actor, event_id, cutoff.isoformat() if cutoff else None)
    return answer(close_period(_db(request), event_id=event_id, cutoff=cutoff,
                               actor=actor.scope, idem=idem))


@get("/settlement/periods/{period_id:int}", opt={"roles": MONEY}, sync_to_thread=True)
def period(request: Request[Any, Any, Any], period_id: PeriodId) -> PeriodDetail:
    """One period with its frozen lines (workshop, tickets, face, corrections, fee, net)."""
    with _db(request).read() as session:
        return PeriodDetail(**period_detail(session, period_id))


@post("/settlement/periods/{period_id:int}/paid",
      opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=200)
def paid(request: Request[Any, Any, Any], period_id: PeriodId, data: PaidIn) -> Response[PeriodOut]:
    """The bank transferred: mark the period paid and post one payout per workshop.
    A period is paid once; a second request is refused (409). The payout entries are
    dated (business date) on the transfer date and record when they were posted.
    An `Idempotency-Key` is optional."""
    actor = actor_of(request)
    sent = data.transfer_date.isoformat() if data.transfer_date else "planned"
    idem = idempotency(request, actor, period_id, sent)
    outcome = mark_period_paid(_db(request), period_id=period_id,
                               transfer_date=data.transfer_date, actor=actor.scope, idem=idem)
    return answer(outcome)


@get("/settlement/periods/{period_id:int}/statements",
     opt={"roles": MONEY, "download": STATEMENTS}, sync_to_thread=True)
def all_statements(request: Request[Any, Any, Any], period_id: PeriodId,
                   fmt: DocFormat = "pdf", encoding: CsvEncoding = "utf-8") -> Stream:
    """Every workshop's statement (支払通知書) of the period: one PDF, or one CSV. The
    first PDF of a statement records its issue date; later ones are marked 再発行."""
    return _download(_db(request), period_id, None, fmt, encoding, actor_of(request).scope)


@get("/settlement/periods/{period_id:int}/statements/{workshop_id:int}",
     opt={"roles": (*MONEY, *WORKSHOP), "download": STATEMENTS}, sync_to_thread=True)
def one_statement(request: Request[Any, Any, Any], period_id: PeriodId, workshop_id: WorkshopId,
                  fmt: DocFormat = "pdf", encoding: CsvEncoding = "utf-8") -> Stream:
    """One workshop's statement. A workshop may fetch only its own."""
    actor = actor_of(request)
    if actor.role == "workshop" and actor.id != workshop_id:
        raise Refusal("workshop.forbidden")
    return _download(_db(request), period_id, workshop_id, fmt, encoding, actor.scope)


@get("/settlement/periods/{period_id:int}/zengin/check", opt={"roles": MONEY},
     sync_to_thread=True)
def zengin_check(request: Request[Any, Any, Any], period_id: PeriodId,
                 transfer_date: date) -> ZenginCheck:
    """What would block the Zengin file for this transfer date (empty: ready)."""
    with _db(request).read() as session:
        problems = check_period_file(session, period_id, transfer_date)
    return ZenginCheck(ok=not problems, transfer_date=transfer_date,
                       problems=[ZenginProblemOut(**p) for p in problems])


@get("/settlement/periods/{period_id:int}/zengin", sync_to_thread=True,
     opt={"roles": MONEY, "download": (ZENGIN,), "refuses": ("zengin.blocked",)})
def zengin(request: Request[Any, Any, Any], period_id: PeriodId,
           transfer_date: date | None = None) -> Response[bytes]:
    """The Zengin 総合振込 file (Shift_JIS half-width kana, 120-byte records, CR LF).
    Missing or invalid bank data refuses with `zengin.blocked` and the list of problems
    in `detail.problems`. `transfer_date` defaults to the paid period's own. For a period
    not yet paid, the date is recorded as its planned transfer date (statements show it,
    and marking paid without a date uses it)."""
    made = make_period_file(_db(request), period_id, transfer_date,
                            actor=actor_of(request).scope)
    media = "text/plain; charset=Shift_JIS"
    return Response(made.data, media_type=media, headers={
        **download_headers(media, zengin_filename(made.period_number, made.transfer_date)),
        "X-Zengin-Payees": str(made.payees),
        "X-Zengin-Total": str(made.total),
    })


# ---------------------------------------------------------------------- corrections


@post("/settlement/corrections/redemption",
      opt={"roles": MONEY, "idempotency": KEY_REQUIRED}, sync_to_thread=True, status_code=201)
def correct(request: Request[Any, Any, Any],
            data: RedemptionCorrectionIn) -> Response[dict[str, Any]]:
    """Take a settled redemption back from its workshop (to another workshop or to
    breakage) by a reversing entry that the next period settles. Needs `Idempotency-Key`."""
    def work() -> dict[str, Any]:
        return correct_redemption(_db(request), ticket_code=data.ticket_code,
                                  reason=data.reason, actor=actor_of(request).scope,
                                  to_workshop_id=data.to_workshop_id, settle=data.settle)

    return once(request, work, data.model_dump())


@post("/settlement/corrections/adjustment",
      opt={"roles": MONEY, "idempotency": KEY_REQUIRED}, sync_to_thread=True, status_code=201)
def adjust(request: Request[Any, Any, Any], data: AdjustmentIn) -> Response[dict[str, Any]]:
    """Owe a workshop more (+) or less (−) in the next period, against a committee account.
    Needs `Idempotency-Key`: a retry returns the first answer and posts nothing more."""
    def work() -> dict[str, Any]:
        return adjust_workshop(_db(request), workshop_id=data.workshop_id, amount=data.amount,
                               counter_account=data.counter_account, reason=data.reason,
                               actor=actor_of(request).scope, settle=data.settle)

    return once(request, work, data.model_dump())


@get("/events/{event_id:int}/settlement/owed-back", opt={"roles": MONEY}, sync_to_thread=True)
def owed_back(request: Request[Any, Any, Any], event_id: EventId) -> list[OwedBackOut]:
    """Workshops that owe the committee money after a correction (receivable:W): what is
    still to be offset against a payout, and what they were asked to pay back."""
    with _db(request).read() as session:
        return [OwedBackOut(**row) for row in owed_back_with_invoices(session, event_id)]


@post("/settlement/workshops/{workshop_id:int}/repayment-request",
      opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=200)
def repayment_request(request: Request[Any, Any, Any],
                      workshop_id: WorkshopId) -> Response[dict[str, Any]]:
    """Ask the workshop to pay back what waits to be offset against its next payout
    (no money moves; asking twice changes nothing more)."""
    def work() -> dict[str, Any]:
        return request_repayment(_db(request), workshop_id=workshop_id,
                                 actor=actor_of(request).scope)

    return once(request, work, workshop_id)


@post("/settlement/workshops/{workshop_id:int}/repayments",
      opt={"roles": MONEY, "idempotency": KEY_REQUIRED}, sync_to_thread=True, status_code=201)
def repayment(request: Request[Any, Any, Any], workshop_id: WorkshopId,
              data: RepaymentIn) -> Response[dict[str, Any]]:
    """The workshop paid back: debit the bank (or cash), credit its receivable. At most
    what it was asked to pay back. Needs `Idempotency-Key`."""
    def work() -> dict[str, Any]:
        return record_repayment(_db(request), workshop_id=workshop_id, amount=data.amount,
                                received_on=data.received_on, account=data.account,
                                actor=actor_of(request).scope).body

    return once(request, work, workshop_id, data.model_dump(mode="json"))


@post("/settlement/workshops/{workshop_id:int}/repayment-invoices",
      opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=201)
def issue_repayment_invoice(request: Request[Any, Any, Any], workshop_id: WorkshopId,
                            data: RepaymentInvoiceIn | None = None
                            ) -> Response[RepaymentInvoiceOut]:
    """Issue a 請求書 for what the workshop was asked to pay back and no invoice bills
    yet (less what it paid back already): numbered, dated today, with a due date and the
    committee's account to pay into. Nothing left to bill: `settlement.invoice_nothing_to_bill`
    (so a retry without a key issues nothing more); no committee account:
    `settlement.invoice_bank_missing`. An `Idempotency-Key` is optional."""
    due = data.due_date if data else None

    def work() -> RepaymentInvoiceOut:
        return RepaymentInvoiceOut.model_validate(issue_invoice(
            _db(request), workshop_id=workshop_id, actor=actor_of(request).scope,
            due_date=due).body)

    return once(request, work, workshop_id, due.isoformat() if due else None)


@get("/events/{event_id:int}/settlement/repayment-invoices", opt={"roles": MONEY},
     sync_to_thread=True)
def repayment_invoices(request: Request[Any, Any, Any],
                       event_id: EventId) -> list[RepaymentInvoiceOut]:
    """The event's repayment invoices, the latest first."""
    with _db(request).read() as session:
        return [RepaymentInvoiceOut.model_validate(v) for v in list_invoices(session, event_id)]


@get("/settlement/repayment-invoices/{invoice_id:int}", opt={"roles": MONEY},
     sync_to_thread=True)
def repayment_invoice(request: Request[Any, Any, Any],
                      invoice_id: InvoiceId) -> RepaymentInvoiceOut:
    """One repayment invoice: what it bills, the deduction, what is still to be paid,
    where to pay, and the fees it gives back (`settlement.invoice_not_found`)."""
    with _db(request).read() as session:
        return RepaymentInvoiceOut.model_validate(invoice_view(session, invoice_id))


@get("/settlement/repayment-invoices/{invoice_id:int}/pdf",
     opt={"roles": MONEY, "download": (PDF,)}, sync_to_thread=True)
def repayment_invoice_pdf(request: Request[Any, Any, Any], invoice_id: InvoiceId) -> Stream:
    """The invoice as PDF. The first one is the original; later ones are marked 再発行
    with the day printed and keep the 発行日, as statements do."""
    with _db(request).read() as session:
        number = invoice_view(session, invoice_id)["number"]  # refuses if none
    return _invoice_pdf(request, invoice_id, number)


def _invoice_pdf(request: Request[Any, Any, Any], invoice_id: int, number: str) -> Stream:
    db = _db(request)
    fresh = record_print(db, invoice_id, actor=actor_of(request).scope)

    def stream() -> Iterator[bytes]:
        with db.read() as session:
            doc = invoice_document(session, invoice_id)
        yield from invoice_pdf(doc, reprint=not fresh)

    name = f"repayment-invoice-{_slug(number)}.pdf"
    return Stream(stream(), media_type=PDF, headers=download_headers(PDF, name))


# ----------------------------------------------------------------- workshop's own


@get("/workshop/statements", opt={"roles": WORKSHOP}, sync_to_thread=True)
def my_statements(request: Request[Any, Any, Any]) -> list[WorkshopStatementOut]:
    """The logged-in workshop's statements, newest first."""
    with _db(request).read() as session:
        rows = workshop_statements(session, actor_of(request).id)
    return [WorkshopStatementOut(**r) for r in rows]


@get("/workshop/statements/{period_id:int}", opt={"roles": WORKSHOP, "download": STATEMENTS},
     sync_to_thread=True)
def my_statement(request: Request[Any, Any, Any], period_id: PeriodId,
                 fmt: DocFormat = "pdf", encoding: CsvEncoding = "utf-8") -> Stream:
    """The logged-in workshop's statement of one period, PDF or CSV."""
    actor = actor_of(request)
    return _download(_db(request), period_id, actor.id, fmt, encoding, actor.scope)


@get("/workshop/repayment-invoices", opt={"roles": WORKSHOP}, sync_to_thread=True)
def my_repayment_invoices(request: Request[Any, Any, Any]) -> list[RepaymentInvoiceOut]:
    """The logged-in workshop's repayment invoices (請求書), the latest first: what it is
    asked to pay back, by when, and into which account."""
    with _db(request).read() as session:
        return [RepaymentInvoiceOut.model_validate(v)
                for v in workshop_invoices(session, actor_of(request).id)]


@get("/workshop/repayment-invoices/{invoice_id:int}/pdf",
     opt={"roles": WORKSHOP, "download": (PDF,)}, sync_to_thread=True)
def my_repayment_invoice_pdf(request: Request[Any, Any, Any],
                             invoice_id: InvoiceId) -> Stream:
    """One of the logged-in workshop's repayment invoices as PDF (another workshop's:
    `settlement.invoice_not_found`). Printed before, it is marked 再発行."""
    with _db(request).read() as session:
        number = workshop_invoice_view(session, invoice_id, actor_of(request).id)["number"]
    return _invoice_pdf(request, invoice_id, number)


router = Router(
    path="/",
    route_handlers=[
        get_settings, put_fee_rule, put_requester, periods, close, period, paid,
        all_statements, one_statement, zengin_check, zengin, correct, adjust,
        owed_back, repayment_request, repayment, my_statements, my_statement,
        issue_repayment_invoice, repayment_invoices, repayment_invoice, repayment_invoice_pdf,
        my_repayment_invoices, my_repayment_invoice_pdf,
    ],
    tags=["settlement"],
    before_request=require_json_body,
)
