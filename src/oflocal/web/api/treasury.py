"""The treasurer's own entries (会計伝票) and the bank reconciliation (銀行残高照合).

Thin routes over ``oflocal.treasury``: a voucher is one balanced journal entry (a cash
deposit, a subsidy or sponsorship received, an expense paid, a transfer between
accounts, a refund of an over-payment, an opening balance brought forward), with a
business date, a voucher number (given or assigned) and optionally a receipt sent as
base64 (PDF, JPEG or PNG, at most 5 MB, checked by its bytes). Posting and reversing
need an ``Idempotency-Key``: a retry answers the first outcome and posts nothing more.
A voucher is never changed; it is reversed, once, by a new voucher.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get, post, put
from litestar.params import Parameter
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from oflocal.errors import Refusal
from oflocal.events.models import Event
from oflocal.treasury import bank, entries
from oflocal.treasury.receipts import EXTENSIONS, Receipt
from oflocal.web.api.common import (
    KEY_OPTIONAL,
    KEY_REQUIRED,
    MAX_ID,
    MONEY,
    NOT_BLANK,
    EventId,
    Id,
    RequestBody,
    actor_of,
    once,
)
from oflocal.web.errors import require_json_body
from oflocal.web.openapi import PDF
from oflocal.web.state import services

VoucherId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Voucher id")]
KindCode = Literal["cash_deposit", "account_transfer", "subsidy", "sponsorship",
                   "other_receipt", "expense", "overpayment_refund", "opening_balance"]
AccountCode = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[a-z_]+$")]
JPEG, PNG = "image/jpeg", "image/png"
# 5 MB as base64, and a little over, so that a file just too large gets its own refusal.
BASE64_MAX = 7_200_000


class ReceiptIn(RequestBody):
    filename: str = Field(default="receipt", max_length=200,
                          description="The file's name (its type is read from its bytes)")
    data_base64: str = Field(min_length=4, max_length=BASE64_MAX,
                             description="The file (PDF, JPEG or PNG, at most 5 MB), base64")


class VoucherIn(RequestBody):
    kind: KindCode = Field(description=(
        "cash_deposit (現金の預け入れ), account_transfer (口座間の振替), subsidy (補助金), "
        "sponsorship (協賛金), other_receipt (その他の入金), expense (経費の支払), "
        "overpayment_refund (過入金の返金), opening_balance (開始残高: last year's money in "
        "the bank or the cash box, dated 1 April, once per account; "
        "`treasury.opening_date_invalid`, `treasury.opening_exists`)"))
    amount: int = Field(ge=1, le=entries.MAX_AMOUNT, description="Integer yen")
    business_date: dt.date = Field(description="The day it happened (Tokyo), not after today")
    description: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK,
                             description="摘要: what the money was for")
    counterparty: str = Field(default="", max_length=120, description="Who paid or was paid")
    voucher_no: str | SkipJsonSchema[None] = Field(
        default=None, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$",
        description="伝票番号, unique in the event; left out, the next number is assigned")
    debit_account: AccountCode | SkipJsonSchema[None] = Field(
        default=None, description="Account code; left out, the kind's default")
    credit_account: AccountCode | SkipJsonSchema[None] = Field(
        default=None, description="Account code; left out, the kind's default (subsidy and "
                                  "sponsorship: premium_fund or the income account, choose)")
    receipt: ReceiptIn | SkipJsonSchema[None] = None


class ReversalIn(RequestBody):
    reason: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    business_date: dt.date | SkipJsonSchema[None] = Field(
        default=None, description="The reversal's business date; left out: today (Tokyo), "
                                  "or an opening balance's own date")


class ReceiptOut(BaseModel):
    filename: str
    content_type: str
    byte_size: int
    sha256: str


class VoucherOut(BaseModel):
    id: int
    event_id: int
    voucher_no: str
    kind: str
    kind_ja: str
    kind_en: str
    business_date: dt.date
    amount: int
    debit_account: str
    debit_name: str
    credit_account: str
    credit_name: str
    description: str
    counterparty: str
    entry_id: int = Field(description="The journal entry it posted")
    recorded_at: dt.datetime
    recorded_by: str = Field(description="Who recorded it: staff:N, cli:<user>")
    recorded_by_name: str = Field(description="The staff member's display name")
    attachment: ReceiptOut | None
    reverses_id: int | None
    reversed_by_id: int | None
    reversed_by_voucher_no: str | None


class BankLineOut(BaseModel):
    posting_id: int
    entry_id: int
    day: dt.date
    kind: str
    memo: str
    amount: int = Field(description="+ into the account, − out of it")
    ticked: bool = Field(description="Seen in the passbook")
    voucher_no: str | None


class ReconciliationOut(BaseModel):
    event_id: int
    as_of: dt.date
    ledger_balance: int
    lines: list[BankLineOut]
    unmatched: list[BankLineOut]
    unmatched_total: int
    unmatched_count: int
    passbook_balance: int | None
    difference: int | None = Field(description="ledger_balance − passbook_balance")
    unexplained: int | None = Field(description="difference − unmatched_total; 0 when "
                                                "the unmatched items explain it")


class TicksIn(RequestBody):
    posting_ids: list[Id] = Field(min_length=1, max_length=1000)
    seen: bool = Field(default=True, description="true: seen in the passbook; false: not")


class TicksOut(BaseModel):
    event_id: int
    seen: bool
    posting_ids: list[int]
    ticked_count: int


class ReconciliationRecordIn(RequestBody):
    as_of: dt.date
    passbook_balance: int = Field(ge=-bank.MAX_BALANCE, le=bank.MAX_BALANCE)
    note: str = Field(default="", max_length=300)


class ReconciliationRecordOut(BaseModel):
    id: int
    event_id: int
    as_of: dt.date
    passbook_balance: int
    ledger_balance: int
    unmatched_total: int
    unmatched_count: int
    difference: int
    unexplained: int
    note: str
    recorded_at: dt.datetime
    recorded_by: str
    recorded_by_name: str


def _db(request: Request[Any, Any, Any]) -> Any:
    return services(request.app.state).db


def _event(request: Request[Any, Any, Any], event_id: int) -> None:
    with _db(request).read() as session:
        if session.get(Event, event_id) is None:
            raise Refusal("event.not_found")


@get("/events/{event_id:int}/treasury/entries", opt={"roles": MONEY}, sync_to_thread=True)
def list_vouchers(request: Request[Any, Any, Any], event_id: EventId) -> list[VoucherOut]:
    """The event's vouchers, the latest business day first; reversals are vouchers too."""
    _event(request, event_id)
    with _db(request).read() as session:
        return [VoucherOut.model_validate(v) for v in entries.list_entries(session, event_id)]


@post("/events/{event_id:int}/treasury/entries",
      opt={"roles": MONEY, "idempotency": KEY_REQUIRED}, sync_to_thread=True, status_code=201)
def post_voucher(request: Request[Any, Any, Any], event_id: EventId,
                 data: VoucherIn) -> Response[VoucherOut]:
    """Post one voucher: one balanced entry (`treasury.*`, `receipt.*`). Needs
    `Idempotency-Key`: a retry answers the first outcome and posts nothing more."""
    receipt = None
    if data.receipt is not None:
        try:
            raw = base64.b64decode(data.receipt.data_base64, validate=True)
        except (binascii.Error, ValueError):
            raise Refusal("request.invalid", detail="receipt.data_base64: not base64") from None
        receipt = Receipt(data.receipt.filename, raw)
    req = entries.EntryRequest(
        event_id=event_id, kind=data.kind, amount=data.amount,
        business_date=data.business_date, description=data.description,
        counterparty=data.counterparty, voucher_no=data.voucher_no,
        debit=data.debit_account, credit=data.credit_account)

    def work() -> VoucherOut:  # an unknown event: event.not_found, from the event's lock
        return VoucherOut.model_validate(entries.record_entry(
            _db(request), req, actor=actor_of(request).scope, receipt=receipt))

    return once(request, work, event_id, data.model_dump(mode="json"))


@get("/treasury/entries/{voucher_id:int}", opt={"roles": MONEY}, sync_to_thread=True)
def one_voucher(request: Request[Any, Any, Any], voucher_id: VoucherId) -> VoucherOut:
    with _db(request).read() as session:
        return VoucherOut.model_validate(entries.entry_view(session, voucher_id))


@get("/treasury/entries/{voucher_id:int}/receipt",
     opt={"roles": MONEY, "download": (PDF, JPEG, PNG)}, sync_to_thread=True)
def voucher_receipt(request: Request[Any, Any, Any], voucher_id: VoucherId) -> Response[bytes]:
    """The voucher's receipt as it was uploaded (`treasury.attachment_not_found`)."""
    with _db(request).read() as session:
        attachment = entries.receipt_of(session, voucher_id)
        voucher_no = entries.entry_view(session, voucher_id)["voucher_no"]
        data, media = attachment.data, attachment.content_type
    name = f"voucher-{voucher_no}.{EXTENSIONS[media]}"
    return Response(data, media_type=media, headers={
        "Content-Disposition": f'inline; filename="{name}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    })


@post("/treasury/entries/{voucher_id:int}/reverse",
      opt={"roles": MONEY, "idempotency": KEY_REQUIRED}, sync_to_thread=True, status_code=201)
def reverse(request: Request[Any, Any, Any], voucher_id: VoucherId,
            data: ReversalIn) -> Response[VoucherOut]:
    """Reverse a voucher by a new voucher with the mirror entry; once
    (`treasury.already_reversed`), never a reversal (`treasury.reversal_final`)."""
    def work() -> VoucherOut:
        return VoucherOut.model_validate(entries.reverse_voucher(
            _db(request), voucher_id, reason=data.reason, actor=actor_of(request).scope,
            business_date=data.business_date))

    return once(request, work, voucher_id, data.model_dump(mode="json"))


@get("/events/{event_id:int}/bank-reconciliation", opt={"roles": MONEY}, sync_to_thread=True)
def bank_reconciliation(
    request: Request[Any, Any, Any], event_id: EventId,
    as_of: Annotated[dt.date, Parameter(description="The passbook's date (Tokyo)")],
    passbook_balance: Annotated[int | None, Parameter(
        ge=-bank.MAX_BALANCE, le=bank.MAX_BALANCE,
        description="The balance the passbook shows on that day")] = None,
) -> ReconciliationOut:
    """The bank account by the ledger as of a day, its lines, those not yet seen in the
    passbook, and with `passbook_balance` the difference and what is left unexplained."""
    _event(request, event_id)
    with _db(request).read() as session:
        return ReconciliationOut.model_validate(
            bank.reconciliation(session, event_id, as_of, passbook_balance))


@put("/events/{event_id:int}/bank-reconciliation/ticks",
     opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True)
def ticks(request: Request[Any, Any, Any], event_id: EventId,
          data: TicksIn) -> Response[TicksOut]:
    """Mark bank lines as seen in the passbook, or not (`bank.posting_not_found`)."""
    def work() -> TicksOut:
        return TicksOut.model_validate(bank.set_ticks(
            _db(request), event_id, list(data.posting_ids), seen=data.seen,
            actor=actor_of(request).scope))

    return once(request, work, event_id, data.model_dump())


@get("/events/{event_id:int}/bank-reconciliations", opt={"roles": MONEY}, sync_to_thread=True)
def reconciliations(request: Request[Any, Any, Any],
                    event_id: EventId) -> list[ReconciliationRecordOut]:
    """The reconciliations kept, the latest first."""
    _event(request, event_id)
    with _db(request).read() as session:
        return [ReconciliationRecordOut.model_validate(r)
                for r in bank.list_reconciliations(session, event_id)]


@post("/events/{event_id:int}/bank-reconciliations",
      opt={"roles": MONEY, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=201)
def keep_reconciliation(request: Request[Any, Any, Any], event_id: EventId,
                        data: ReconciliationRecordIn) -> Response[ReconciliationRecordOut]:
    """Keep the comparison as of a day: passbook and ledger balances, the difference, the
    unmatched items' total, what is unexplained, who and when."""
    def work() -> ReconciliationRecordOut:
        return ReconciliationRecordOut.model_validate(bank.record_reconciliation(
            _db(request), event_id, as_of=data.as_of, passbook_balance=data.passbook_balance,
            actor=actor_of(request).scope, note=data.note))

    return once(request, work, event_id, data.model_dump(mode="json"))


router = Router(
    path="/",
    route_handlers=[list_vouchers, post_voucher, one_voucher, voucher_receipt, reverse,
                    bank_reconciliation, ticks, reconciliations, keep_reconciliation],
    tags=["treasury"],
    before_request=require_json_body,
)
