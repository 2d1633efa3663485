"""The treasurer's pages (会計): settlement periods, closing, statements, the Zengin file,
marking paid, corrections, settings and reports with charts; and each workshop's own
statements.

Pages draw; every change of money is one call of the same service function the API
and the CLI use (``close_period``, ``mark_period_paid``, ``correct_redemption``,
``adjust_workshop``, ``expire_programme``), from an HTML form that carries the
session's CSRF token. Downloads are links to the JSON API's streamed files.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect
from markupsafe import Markup
from sqlalchemy import select

from oflocal import clock
from oflocal.auth.service import Actor
from oflocal.errors import Refusal
from oflocal.events.invoice import invoice_number_warning
from oflocal.events.listing import events_by_relevance
from oflocal.events.models import Event, Workshop
from oflocal.format import tokyo_minute
from oflocal.i18n import gettext_for
from oflocal.idempotency.store import IdempotencyKey, request_hash
from oflocal.reports.charts import svg_columns, svg_rows
from oflocal.reports.pdf import summary_figures
from oflocal.reports.summary import event_programmes, programme_summary
from oflocal.reports.unused import next_record_date, record_date_balances, unused_balance
from oflocal.settlement.bank_days import next_bank_day
from oflocal.settlement.close import close_period
from oflocal.settlement.corrections import (
    adjust_workshop,
    correct_redemption,
    owed_back_by_workshop,
    record_repayment,
    request_repayment,
)
from oflocal.settlement.pay import mark_period_paid
from oflocal.settlement.preview import preview_close
from oflocal.settlement.queries import list_periods, period_detail, workshop_statements
from oflocal.settlement.repayment_invoice import (
    default_due_date,
    issue_invoice,
    list_invoices,
    owed_back_with_invoices,
)
from oflocal.settlement.rules import FeeRule
from oflocal.settlement.settings import RequesterData, set_fee_rule, set_requester, settings_view
from oflocal.settlement.transfer import check_period_file
from oflocal.vouchers.expiry import (
    close_out_programme,
    closeout_status,
    closeouts_due,
    expire_programme,
    expiry_preview,
)
from oflocal.web.api.common import MONEY, WORKSHOP
from oflocal.web.pages.render import AnyRequest, page, page_lang, refusal_texts
from oflocal.web.security import current_actor
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
FORM = {"roles": MONEY, "csrf": "form"}


def _actor(request: AnyRequest) -> Actor:
    actor = current_actor(request)
    assert actor is not None  # the roles guard let only a logged-in actor in, CSRF checked
    return actor


def _events(request: AnyRequest) -> list[tuple[int, str]]:
    with services(request.app.state).db.read() as session:
        return [(e.id, e.name) for e in
                events_by_relevance(session, clock.tokyo_date(clock.now()))]


def _event_id(request: AnyRequest, chosen: int | None) -> int | None:
    events = _events(request)
    if chosen is not None and any(e == chosen for e, _ in events):
        return chosen
    return events[0][0] if events else None


def _shown(period: dict[str, Any]) -> dict[str, Any]:
    """Times as people read them: Tokyo, to the minute."""
    labels = {
        f"{key}_label": tokyo_minute(datetime.fromisoformat(period[key])) if period.get(key) else ""
        for key in ("cutoff_at", "previous_cutoff_at", "paid_at")
    }
    return {**period, **labels}


def _error(request: AnyRequest, refusal: Refusal) -> dict[str, str]:
    return refusal_texts(refusal, page_lang(request))


def _tokyo_input(moment: datetime) -> str:
    """A value for <input type="datetime-local">, in Tokyo time."""
    return clock.as_tokyo(moment).strftime("%Y-%m-%dT%H:%M")


def _parse_tokyo(value: str) -> datetime:
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError as error:
        raise Refusal("report.date_invalid") from error
    return naive.replace(tzinfo=clock.TOKYO) if naive.tzinfo is None else naive


def _form_cutoff(value: str) -> datetime:
    """A cut-off typed to the minute includes that whole minute (「23:59まで」): tickets
    redeemed at 23:59:30 are in. During that very minute, the cut-off is now; a later
    minute stays in the future and close_period refuses it."""
    start = _parse_tokyo(value).replace(second=0, microsecond=0)
    end = start + timedelta(minutes=1, microseconds=-1)
    now = clock.now()
    return now if start <= now < end else end


def _parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as error:
        raise Refusal("report.date_invalid") from error


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int((value or "").strip() or default)
    except ValueError as error:
        raise Refusal("request.invalid", detail=f"not a whole number: {value!r}") from error


def _overview(request: AnyRequest, event_id: int | None, *, status: int = 200,
              error: dict[str, str] | None = None, done: str | None = None,
              close_form: Form | None = None) -> Response[Any]:
    """``close_form``: a refused close, shown again as typed with its unspent key, so
    that sending it again closes at the same cut-off."""
    db = services(request.app.state).db
    periods: list[dict[str, Any]] = []
    settings: dict[str, Any] | None = None
    workshops: list[tuple[int, str, str]] = []
    closeouts: list[dict[str, Any]] = []
    owed: list[dict[str, Any]] = []
    invoices: list[dict[str, Any]] = []
    if event_id is not None:
        with db.read() as session:
            periods = [_shown(p) for p in list_periods(session, event_id)]
            workshops = [(w.id, w.code, w.name) for w in session.execute(
                select(Workshop).where(Workshop.event_id == event_id).order_by(Workshop.code)
            ).scalars()]
            closeouts = closeouts_due(session, event_id)
            owed = owed_back_with_invoices(session, event_id)
            invoices = list_invoices(session, event_id)
        settings = settings_view(db, event_id)
    return page(
        request, "treasurer/index.html", status=status,
        events=_events(request), event_id=event_id, periods=periods, settings=settings,
        workshops=workshops, error=error, done=done, closeouts=closeouts, owed=owed,
        invoices=invoices, today=clock.tokyo_date(clock.now()).isoformat(),
        due_default=default_due_date(clock.tokyo_date(clock.now())).isoformat(),
        repay_key=uuid.uuid4().hex,
        cutoff_default=(close_form or {}).get("cutoff") or _tokyo_input(clock.now()),
        close_key=(close_form or {}).get("key") or uuid.uuid4().hex,
    )


@get("/treasurer", opt={"roles": MONEY}, sync_to_thread=True, include_in_schema=False)
def overview(request: AnyRequest,
             event: int | None = Parameter(query="event", default=None, ge=1)) -> Response[Any]:
    """Periods of the event, the close form, settings and links to reports."""
    return _overview(request, _event_id(request, event))


@post("/treasurer/events/{event_id:int}/close", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def close(request: AnyRequest, event_id: int, data: Form) -> Response[Any]:
    actor = _actor(request)
    try:
        cutoff = _form_cutoff(data.get("cutoff", "")) if data.get("cutoff") else None
        if data.get("confirm") != "yes":  # irreversible: show what it will settle, then ask
            return _confirm_close(request, event_id, data, cutoff or clock.now())
        key = (data.get("key") or "")[:100]
        idem = IdempotencyKey(actor.scope, f"page-close-{key}",
                              request_hash("close", event_id, data.get("cutoff"))) if key else None
        outcome = close_period(services(request.app.state).db, event_id=event_id, cutoff=cutoff,
                               actor=actor.scope, idem=idem)
    except Refusal as refusal:
        return _overview(request, event_id, status=refusal.status, error=_error(request, refusal),
                         close_form=data)
    return Redirect(f"/treasurer/periods/{outcome.body['period_id']}", status_code=303)


def _confirm_close(request: AnyRequest, event_id: int, data: Form,
                   cut: datetime) -> Response[Any]:
    with services(request.app.state).db.read() as session:
        preview = preview_close(session, event_id, cut)
    if preview.workshops == 0:
        raise Refusal("settlement.nothing_to_settle", cutoff=cut)
    if preview.negative:
        workshop, net = preview.negative[0]
        raise Refusal("settlement.negative_net", workshop=workshop, net=net)
    return page(request, "treasurer/close_confirm.html", event_id=event_id, preview=preview,
                cutoff_label=tokyo_minute(cut),
                previous_label=tokyo_minute(preview.previous_cutoff)
                if preview.previous_cutoff else "",
                cutoff_input=data.get("cutoff", ""), key=data.get("key", ""))


@post("/treasurer/events/{event_id:int}/fee", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def fee(request: AnyRequest, event_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    try:
        set_fee_rule(services(request.app.state).db, event_id=event_id, rule=FeeRule(
            data.get("rule", "none"), _int(data.get("rate_bp")), _int(data.get("fixed_yen")),
            data.get("rounding", "floor")))
    except Refusal as refusal:
        return _overview(request, event_id, status=refusal.status, error=_error(request, refusal))
    return _overview(request, event_id, done=_("The fee rule was saved."))


@post("/treasurer/events/{event_id:int}/requester", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def requester(request: AnyRequest, event_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    try:
        set_requester(services(request.app.state).db, event_id=event_id, data=RequesterData(
            data.get("code", "").strip(), data.get("name_kana", ""),
            data.get("bank_code", "").strip(), data.get("branch_code", "").strip(),
            _int(data.get("account_type"), 1), data.get("account_number", "").strip()))
    except Refusal as refusal:
        return _overview(request, event_id, status=refusal.status, error=_error(request, refusal))
    return _overview(request, event_id, done=_("The committee's bank account was saved."))


@post("/treasurer/events/{event_id:int}/corrections", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def correction(request: AnyRequest, event_id: int, data: Form) -> Response[Any]:
    actor = _actor(request)
    _ = gettext_for(page_lang(request))
    db = services(request.app.state).db
    try:
        if data.get("ticket_code"):
            to = _int(data.get("to_workshop_id")) or None
            correct_redemption(db, ticket_code=data.get("ticket_code", ""),
                               reason=data.get("reason", ""), actor=actor.scope,
                               to_workshop_id=to,
                               settle=data.get("settle") or "next_payout")
        else:
            adjust_workshop(db, workshop_id=_int(data.get("workshop_id")),
                            amount=_int(data.get("amount")),
                            counter_account=data.get("counter_account", ""),
                            reason=data.get("reason", ""), actor=actor.scope,
                            settle=data.get("settle") or "next_payout")
    except Refusal as refusal:
        return _overview(request, event_id, status=refusal.status, error=_error(request, refusal))
    return _overview(request, event_id,
                     done=_("The correction was posted; the next period will settle it."))


@post("/treasurer/workshops/{workshop_id:int}/repayment-request", opt=FORM,
      sync_to_thread=True, include_in_schema=False)
def repayment_request(request: AnyRequest, workshop_id: int, data: Form) -> Response[Any]:
    """Ask a workshop to pay back what waits to be offset against its next payout."""
    actor = _actor(request)
    _ = gettext_for(page_lang(request))
    event_id = _int(data.get("event_id")) or None
    try:
        request_repayment(services(request.app.state).db, workshop_id=workshop_id,
                          actor=actor.scope)
    except Refusal as refusal:
        return _overview(request, event_id, status=refusal.status, error=_error(request, refusal))
    return _overview(request, event_id,
                     done=_("The workshop is asked to pay it back; record the money when it "
                            "arrives."))


@post("/treasurer/workshops/{workshop_id:int}/repayments", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def repayment(request: AnyRequest, workshop_id: int, data: Form) -> Response[Any]:
    """Record money a workshop paid back (once per form: its key)."""
    actor = _actor(request)
    _ = gettext_for(page_lang(request))
    event_id = _int(data.get("event_id")) or None
    try:
        day = _parse_day(data.get("received_on")) or clock.tokyo_date(clock.now())
        key = (data.get("key") or "").strip()
        idem = IdempotencyKey(actor.scope, f"page-repayment-{key}", request_hash(
            "repayment", workshop_id, data.get("amount"), day.isoformat(),
            data.get("account"))) if key else None
        record_repayment(services(request.app.state).db, workshop_id=workshop_id,
                         amount=_int(data.get("amount")), received_on=day,
                         account=data.get("account") or "bank", actor=actor.scope, idem=idem)
    except Refusal as refusal:
        return _overview(request, event_id, status=refusal.status, error=_error(request, refusal))
    return _overview(request, event_id, done=_("The repayment was recorded."))


@post("/treasurer/workshops/{workshop_id:int}/repayment-invoices", opt=FORM,
      sync_to_thread=True, include_in_schema=False)
def repayment_invoice(request: AnyRequest, workshop_id: int, data: Form) -> Response[Any]:
    """Issue a 請求書 for what the workshop was asked to pay back (once per form: its
    key); the overview then lists it with its PDF."""
    actor = _actor(request)
    _ = gettext_for(page_lang(request))
    event_id = _int(data.get("event_id")) or None
    try:
        due = _parse_day(data.get("due_date"))
        key = (data.get("key") or "").strip()
        idem = IdempotencyKey(actor.scope, f"page-invoice-{key}", request_hash(
            "invoice", workshop_id, due.isoformat() if due else None)) if key else None
        outcome = issue_invoice(services(request.app.state).db, workshop_id=workshop_id,
                                actor=actor.scope, due_date=due, idem=idem)
    except Refusal as refusal:
        return _overview(request, event_id, status=refusal.status, error=_error(request, refusal))
    return _overview(request, event_id, done=_(
        "Invoice {number} was issued; download its PDF below and send it to the "
        "workshop.").format(number=outcome.body["number"]))


@get("/treasurer/programmes/{programme_id:int}/close-out", opt={"roles": MONEY},
     sync_to_thread=True, include_in_schema=False)
def close_out_page(request: AnyRequest, programme_id: int) -> Response[Any]:
    """The guided close-out: what expires and where it goes, what is left to settle."""
    return _close_out_page(request, programme_id)


def _close_out_page(request: AnyRequest, programme_id: int, *, status: int = 200,
                    error: dict[str, str] | None = None,
                    done: dict[str, Any] | None = None) -> Response[Any]:
    with services(request.app.state).db.read() as session:
        shown = closeout_status(session, programme_id)
        owed = owed_back_by_workshop(session, shown["event_id"])
    return page(request, "treasurer/close_out.html", status=status, closeout=shown,
                owed=owed, error=error, done=done)


@post("/treasurer/programmes/{programme_id:int}/close-out", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def close_out(request: AnyRequest, programme_id: int, data: Form) -> Response[Any]:
    """Confirmed: expire what is still valid (once) and show the final report."""
    actor = _actor(request)
    if data.get("confirm") != "yes":
        return _close_out_page(request, programme_id)
    try:
        result = close_out_programme(services(request.app.state).db,
                                     programme_id=programme_id, actor=actor.scope)
    except Refusal as refusal:
        return _close_out_page(request, programme_id, status=refusal.status,
                               error=_error(request, refusal))
    return _close_out_page(request, programme_id, done=result)


def _period_page(request: AnyRequest, period_id: int, *, status: int = 200,
                 error: dict[str, str] | None = None,
                 transfer_date: date | None = None) -> Response[Any]:
    db = services(request.app.state).db
    with db.read() as session:
        detail = _shown(period_detail(session, period_id))
        event = session.get(Event, detail["event_id"])
        # a committee number stored before the check digit was enforced: its statements
        # would carry it as the seller's number on the fee's invoice
        invoice_warning = invoice_number_warning(event.invoice_number if event else None)
        planned = detail["planned_transfer_date"]
        day = transfer_date or (date.fromisoformat(planned) if planned else
                                next_bank_day(clock.tokyo_date(clock.now()) + timedelta(days=1)))
        problems = check_period_file(session, period_id, day) if transfer_date else None
    if detail["transfer_date"]:
        day = date.fromisoformat(detail["transfer_date"])
    return page(request, "treasurer/period.html", status=status, period=detail, error=error,
                transfer_date=day.isoformat(), problems=problems,
                checked=transfer_date is not None, invoice_warning=invoice_warning)


@get("/treasurer/periods/{period_id:int}", opt={"roles": MONEY}, sync_to_thread=True,
     include_in_schema=False)
def period(request: AnyRequest, period_id: int,
           transfer_date: str | None = Parameter(query="transfer_date", default=None)
           ) -> Response[Any]:
    """One period: its lines, downloads, the Zengin check and file, marking it paid."""
    return _period_page(request, period_id, transfer_date=_parse_day(transfer_date))


@post("/treasurer/periods/{period_id:int}/paid", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def paid(request: AnyRequest, period_id: int, data: Form) -> Response[Any]:
    actor = _actor(request)
    try:
        day = _parse_day(data.get("transfer_date"))
        if day is None:
            raise Refusal("report.date_invalid")
        if data.get("confirm") != "yes":  # irreversible: show what it will post, then ask
            return _confirm_paid(request, period_id, day)
        mark_period_paid(services(request.app.state).db, period_id=period_id, transfer_date=day,
                         actor=actor.scope)
    except Refusal as refusal:
        return _period_page(request, period_id, status=refusal.status,
                            error=_error(request, refusal))
    return Redirect(f"/treasurer/periods/{period_id}", status_code=303)


def _confirm_paid(request: AnyRequest, period_id: int, day: date) -> Response[Any]:
    with services(request.app.state).db.read() as session:
        detail = _shown(period_detail(session, period_id))
        problems = check_period_file(session, period_id, day)
    if detail["status"] == "paid":
        raise Refusal("settlement.already_paid",
                      date=date.fromisoformat(detail["transfer_date"]))
    payees = [line for line in detail["lines"] if line["net"] > 0]
    return page(request, "treasurer/paid_confirm.html", period=detail, payees=len(payees),
                transfer_date=day.isoformat(), problems=problems)


@get("/treasurer/reports", opt={"roles": MONEY}, sync_to_thread=True, include_in_schema=False)
def reports(request: AnyRequest,
            event: int | None = Parameter(query="event", default=None, ge=1),
            as_of: str | None = Parameter(query="as_of", default=None)) -> Response[Any]:
    """Programme summaries with charts, the unused balance and the ledger exports."""
    return _reports_page(request, _event_id(request, event), _parse_day(as_of))


def _reports_page(request: AnyRequest, event_id: int | None, as_of: date | None, *,
                  status: int = 200, error: dict[str, str] | None = None,
                  done: str | None = None) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    today = clock.tokyo_date(clock.now())
    day = as_of or today
    programmes: list[dict[str, Any]] = []
    balance = None
    records: list[Any] = []
    with services(request.app.state).db.read() as session:
        if event_id is not None:
            for pid, _name in event_programmes(session, event_id):
                summary = programme_summary(session, pid)
                programmes.append({
                    "summary": summary,
                    "figures": summary_figures(summary),
                    "per_day_svg": Markup(svg_columns(
                        [(f"{d.day.month}/{d.day.day}", d.face) for d in summary.per_day],
                        title=_("Redemptions per day"))),
                    "per_workshop_svg": Markup(svg_rows(
                        [(f"{w.code} {w.name}", w.face) for w in summary.per_workshop],
                        title=_("Redemptions per workshop"))),
                    "expirable": today > summary.valid_until and summary.outstanding_tickets > 0,
                })
            try:
                balance = unused_balance(session, event_id, day)
            except Refusal as refusal:  # a day still to come: say so, show today's
                status, error, day = refusal.status, _error(request, refusal), today
                balance = unused_balance(session, event_id, day)
            records = record_date_balances(session, event_id, today)
    return page(request, "treasurer/reports.html", status=status, events=_events(request),
                event_id=event_id, programmes=programmes, balance=balance, records=records,
                as_of=day.isoformat(), next_record=next_record_date(today), error=error,
                done=done)


@post("/treasurer/programmes/{programme_id:int}/expire", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def expire(request: AnyRequest, programme_id: int, data: Form) -> Response[Any]:
    actor = _actor(request)
    _ = gettext_for(page_lang(request))
    event_id = _int(data.get("event_id")) or None
    try:
        if data.get("confirm") != "yes":  # irreversible: show what it will post, then ask
            with services(request.app.state).db.read() as session:
                shown = expiry_preview(session, programme_id)
            return page(request, "treasurer/expire_confirm.html", expiry=shown,
                        event_id=event_id)
        result = expire_programme(services(request.app.state).db, programme_id=programme_id,
                                  actor=actor.scope)
    except Refusal as refusal:
        return _reports_page(request, event_id, None, status=refusal.status,
                             error=_error(request, refusal))
    return _reports_page(request, event_id, None, done=_("Expired tickets: {n}, {amount}")
                         .format(n=result["tickets"], amount=f"¥{result['amount']:,}"))


@get("/statements", opt={"roles": WORKSHOP}, sync_to_thread=True, include_in_schema=False)
def my_statements(request: AnyRequest) -> Response[Any]:
    """A workshop's own payment statements, to download as PDF or CSV."""
    actor = current_actor(request)
    assert actor is not None
    with services(request.app.state).db.read() as session:
        rows = [_shown(r) for r in workshop_statements(session, actor.id)]
    return page(request, "treasurer/statements.html", statements=rows)


route_handlers = [overview, close, fee, requester, correction, period, paid, reports, expire,
                  my_statements, repayment_request, repayment, repayment_invoice,
                  close_out_page, close_out]
