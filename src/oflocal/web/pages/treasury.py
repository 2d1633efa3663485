"""The treasurer's books (出納・伝票) and the bank reconciliation (銀行残高照合) pages.

``/treasurer/entries``: the event's vouchers, a form for a new one (the kinds in words a
treasurer uses, a receipt to attach), and a reverse button with a reason on each.
``/treasurer/bank``: the bank account by the ledger as of a day against the balance typed
from the passbook; lines are ticked as seen in the passbook, and what is left unticked
explains the difference; each comparison can be kept as a record.

Every change is one call of the service the API and the CLI use (``treasury.entries``,
``treasury.bank``) from an HTML form with the session's CSRF token. Posting and
reversing carry a form key: a form sent twice (a double click, a reload) posts once.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter

from oflocal import clock
from oflocal.errors import Refusal
from oflocal.i18n import gettext_for
from oflocal.idempotency.store import IdempotencyKey, request_hash, run_once
from oflocal.treasury import bank, entries
from oflocal.treasury.receipts import MAX_BYTES, Receipt
from oflocal.web.api.common import MONEY
from oflocal.web.pages.render import AnyRequest, page, page_lang
from oflocal.web.pages.treasurer import _actor, _error, _event_id, _events, _int, _parse_day
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
FORM = {"roles": MONEY, "csrf": "form"}
FIELDS = ("kind", "amount", "business_date", "description", "counterparty", "voucher_no",
          "debit", "credit")


def _today() -> date:
    return clock.tokyo_date(clock.now())


def _kinds(lang: str) -> list[tuple[str, str, str, str]]:
    """(code, words, allowed debit accounts, allowed credit accounts) for the form."""
    return [(code, k.ja if lang == "ja" else k.en, ", ".join(k.debit), ", ".join(k.credit))
            for code, k in entries.KINDS.items()]


def _entries_page(request: AnyRequest, event_id: int | None, *, status: int = 200,
                  error: dict[str, str] | None = None, done: str | None = None,
                  typed: dict[str, str] | None = None) -> Response[Any]:
    vouchers: list[dict[str, Any]] = []
    accounts: dict[str, str] = {}
    if event_id is not None:
        with services(request.app.state).db.read() as session:
            vouchers = entries.list_entries(session, event_id)
            accounts = entries.account_choices(session, event_id)
    form = {**dict.fromkeys(FIELDS, ""), "business_date": _today().isoformat(),
            **(typed or {})}
    return page(request, "treasurer/entries.html", status=status, tab="entries",
                events=_events(request), event_id=event_id, vouchers=vouchers,
                # a reversal names the voucher it reverses by its number, as printed
                numbers={v["id"]: v["voucher_no"] for v in vouchers},
                accounts=accounts, kinds=_kinds(page_lang(request)), form=form,
                form_key=uuid.uuid4().hex, today=_today().isoformat(), error=error, done=done,
                max_mb=MAX_BYTES // 1024 // 1024)


@get("/treasurer/entries", opt={"roles": MONEY}, sync_to_thread=True, include_in_schema=False)
def entries_page(request: AnyRequest,
                 event: int | None = Parameter(query="event", default=None, ge=1)
                 ) -> Response[Any]:
    """The event's vouchers and the form for a new one."""
    return _entries_page(request, _event_id(request, event))


@post("/treasurer/events/{event_id:int}/entries", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def new_entry(request: AnyRequest, event_id: int, data: Upload) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    actor = _actor(request)
    typed = {f: str(data.get(f) or "") for f in FIELDS}
    try:
        day = _parse_day(typed["business_date"])
        if day is None:
            raise Refusal("report.date_invalid")
        upload = data.get("receipt")
        receipt = None
        if isinstance(upload, UploadFile) and upload.filename:
            # One byte past the limit is enough to refuse: never read a huge upload whole.
            raw = upload.file.read(MAX_BYTES + 1)
            if raw:
                receipt = Receipt(upload.filename, raw)
        req = entries.EntryRequest(
            event_id=event_id, kind=typed["kind"], amount=_int(typed["amount"]),
            business_date=day, description=typed["description"],
            counterparty=typed["counterparty"], voucher_no=typed["voucher_no"] or None,
            debit=typed["debit"] or None, credit=typed["credit"] or None)
        key = str(data.get("key") or "")[:100]
        parts = [typed, hashlib.sha256(receipt.data).hexdigest() if receipt else None]
        idem = IdempotencyKey(actor.scope, f"page-voucher-{key}",
                              request_hash("voucher", event_id, *parts)) if key else None
        outcome = run_once(services(request.app.state).db, idem,
                           lambda _s: entries.record_entry(
                               services(request.app.state).db, req, actor=actor.scope,
                               receipt=receipt))
    except Refusal as refusal:
        return _entries_page(request, event_id, status=refusal.status,
                             error=_error(request, refusal), typed=typed)
    return _entries_page(request, event_id, done=_("Voucher {number} was posted.").format(
        number=outcome.body["voucher_no"]))


@post("/treasurer/entries/{voucher_id:int}/reverse", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def reverse(request: AnyRequest, voucher_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    actor = _actor(request)
    db = services(request.app.state).db
    event_id = _int(data.get("event_id")) or None
    try:
        key = (data.get("key") or "")[:100]
        reason = data.get("reason", "")
        idem = IdempotencyKey(actor.scope, f"page-reverse-{key}",
                              request_hash("reverse", voucher_id, reason)) if key else None
        outcome = run_once(db, idem, lambda _s: entries.reverse_voucher(
            db, voucher_id, reason=reason, actor=actor.scope))
    except Refusal as refusal:
        return _entries_page(request, event_id, status=refusal.status,
                             error=_error(request, refusal))
    return _entries_page(request, outcome.body["event_id"], done=_(
        "Voucher {original} was reversed by voucher {number}.").format(
        original=data.get("voucher_no", ""), number=outcome.body["voucher_no"]))


# --------------------------------------------------------------- bank reconciliation


def _bank_page(request: AnyRequest, event_id: int | None, as_of: date | None,
               passbook: int | None, *, status: int = 200, error: dict[str, str] | None = None,
               done: str | None = None) -> Response[Any]:
    day = as_of or _today()
    shown: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    if event_id is not None:
        with services(request.app.state).db.read() as session:
            try:
                shown = bank.reconciliation(session, event_id, day, passbook)
            except Refusal as refusal:
                status, error = refusal.status, _error(request, refusal)
                day = _today()
                shown = bank.reconciliation(session, event_id, day, None)
            records = bank.list_reconciliations(session, event_id)
    return page(request, "treasurer/bank.html", status=status, tab="bank",
                events=_events(request), event_id=event_id, as_of=day.isoformat(),
                passbook=passbook, r=shown, records=records, error=error, done=done,
                record_key=uuid.uuid4().hex)


def _passbook(value: str | None) -> int | None:
    text = (value or "").replace(",", "").replace("¥", "").replace("円", "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError as error:
        raise Refusal("bank.balance_invalid") from error


@get("/treasurer/bank", opt={"roles": MONEY}, sync_to_thread=True, include_in_schema=False)
def bank_page(request: AnyRequest,
              event: int | None = Parameter(query="event", default=None, ge=1),
              as_of: str | None = Parameter(query="as_of", default=None),
              passbook: str | None = Parameter(query="passbook", default=None)
              ) -> Response[Any]:
    """The bank account by the ledger against the passbook, as of a day."""
    event_id = _event_id(request, event)
    try:
        return _bank_page(request, event_id, _parse_day(as_of), _passbook(passbook))
    except Refusal as refusal:
        return _bank_page(request, event_id, None, None, status=refusal.status,
                          error=_error(request, refusal))


@post("/treasurer/events/{event_id:int}/bank/ticks", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def ticks(request: AnyRequest, event_id: int, data: Form) -> Response[Any]:
    """The lines shown, ticked or not: ``shown`` lists them, ``seen-<id>`` the ticked."""
    _ = gettext_for(page_lang(request))
    actor = _actor(request)
    db = services(request.app.state).db
    as_of, passbook = data.get("as_of"), data.get("passbook")
    try:
        shown = [_int(p) for p in (data.get("shown") or "").split(",") if p.strip()]
        seen = [p for p in shown if data.get(f"seen-{p}")]
        unseen = [p for p in shown if not data.get(f"seen-{p}")]
        if seen:
            bank.set_ticks(db, event_id, seen, seen=True, actor=actor.scope)
        if unseen:
            bank.set_ticks(db, event_id, unseen, seen=False, actor=actor.scope)
        day, balance = _parse_day(as_of), _passbook(passbook)
    except Refusal as refusal:
        return _bank_page(request, event_id, None, None, status=refusal.status,
                          error=_error(request, refusal))
    return _bank_page(request, event_id, day, balance,
                      done=_("The lines seen in the passbook were saved."))


@post("/treasurer/events/{event_id:int}/bank/reconciliations", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def keep(request: AnyRequest, event_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    actor = _actor(request)
    db = services(request.app.state).db
    try:
        day, balance = _parse_day(data.get("as_of")), _passbook(data.get("passbook"))
        if day is None or balance is None:
            raise Refusal("bank.balance_invalid")
        key = (data.get("key") or "")[:100]
        note = data.get("note", "")
        idem = IdempotencyKey(actor.scope, f"page-reconcile-{key}",
                              request_hash("reconcile", event_id, day, balance, note)
                              ) if key else None
        run_once(db, idem, lambda _s: bank.record_reconciliation(
            db, event_id, as_of=day, passbook_balance=balance, actor=actor.scope, note=note))
    except Refusal as refusal:
        return _bank_page(request, event_id, None, None, status=refusal.status,
                          error=_error(request, refusal))
    return _bank_page(request, event_id, day, balance,
                      done=_("The reconciliation was kept as a record."))


route_handlers = [entries_page, new_entry, reverse, bank_page, ticks, keep]
