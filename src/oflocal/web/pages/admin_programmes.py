"""The admin console's voucher programmes: the event's programmes and a new one, with
every rule (price, face value, denominations, sales window, validity and the 6-month
rule's explicit override, premium budget, per-sale limit, what expiry does).

The rules are the domain's (``events.setup.check_terms``) through
``events.changes.new_programme``; a refused form comes back as typed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy import select

from oflocal import clock
from oflocal.errors import Refusal
from oflocal.events import changes
from oflocal.events.setup import ProgrammeTerms
from oflocal.i18n import gettext_for
from oflocal.vouchers.models import Programme
from oflocal.web.api.common import ADMIN
from oflocal.web.pages.render import AnyRequest, page, page_lang, refusal_texts
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
FORM = {"roles": ADMIN, "csrf": "form"}
FIELDS = ("name", "price", "face_value", "denominations", "sales_starts_at", "sales_ends_at",
          "issue_date", "valid_from", "valid_until", "premium_budget",
          "max_booklets_per_sale", "breakage_rule", "validity_override")


def _yen(data: Form, name: str) -> int:
    text = data.get(name, "").replace(",", "").replace("¥", "").strip()
    if not text.isdigit():
        raise Refusal("request.invalid", detail=f"{name}: a whole number of yen")
    return int(text)


def _day(data: Form, name: str) -> date:
    try:
        return date.fromisoformat(data.get(name, "").strip())
    except ValueError as error:
        raise Refusal("report.date_invalid") from error


def _moment(data: Form, name: str) -> datetime:
    """A datetime-local field, read as Japan time."""
    try:
        naive = datetime.fromisoformat(data.get(name, "").strip())
    except ValueError as error:
        raise Refusal("report.date_invalid") from error
    return naive.replace(tzinfo=clock.TOKYO) if naive.tzinfo is None else naive


def _terms(data: Form) -> ProgrammeTerms:
    parts = [p.strip() for p in data.get("denominations", "").replace("、", ",").split(",")]
    if not all(p.isdigit() for p in parts):
        raise Refusal("request.invalid", detail="denominations: yen, separated by commas")
    return ProgrammeTerms(
        name=data.get("name", "").strip(), price=_yen(data, "price"),
        face_value=_yen(data, "face_value"), denominations=[int(p) for p in parts],
        sales_starts_at=_moment(data, "sales_starts_at"),
        sales_ends_at=_moment(data, "sales_ends_at"),
        issue_date=_day(data, "issue_date"), valid_from=_day(data, "valid_from"),
        valid_until=_day(data, "valid_until"), premium_budget=_yen(data, "premium_budget"),
        max_booklets_per_sale=_yen(data, "max_booklets_per_sale"),
        validity_override=data.get("validity_override") == "yes",
        breakage_rule="premium_fund" if data.get("breakage_rule") == "premium_fund"
        else "breakage",
    )


def _page(request: AnyRequest, event_id: int, *, status: int = 200,
          error: Refusal | None = None, form: Form | None = None, done: str | None = None,
          warnings: list[str] | None = None) -> Response[Any]:
    with services(request.app.state).db.read() as session:
        event = changes.event_or_404(session, event_id)
        programmes = session.execute(select(Programme).where(Programme.event_id == event_id)
                                     .order_by(Programme.id)).scalars().all()
    start = f"{event.starts_on.isoformat()}T09:00"
    blank = {**dict.fromkeys(FIELDS, ""), "denominations": "500, 500, 500, 500, 500, 500",
             "price": "2500", "face_value": "3000", "max_booklets_per_sale": "5",
             "sales_starts_at": start, "sales_ends_at": f"{event.ends_on.isoformat()}T17:00",
             "issue_date": event.starts_on.isoformat(), "valid_from": event.starts_on.isoformat(),
             "valid_until": event.ends_on.isoformat(), "premium_budget": "500000"}
    return page(request, "admin/programmes.html", status=status, event=event,
                programmes=programmes, form={**blank, **(form or {})}, done=done,
                warnings=warnings or [],
                error=refusal_texts(error, page_lang(request)) if error else None)


@get("/admin/events/{event_id:int}/programmes", opt={"roles": ADMIN}, sync_to_thread=True,
     include_in_schema=False)
def programmes(request: AnyRequest, event_id: int) -> Response[Any]:
    """The event's voucher programmes and a form for a new one."""
    return _page(request, event_id)


@post("/admin/events/{event_id:int}/programmes", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def add_programme(request: AnyRequest, event_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    try:
        programme, warnings = changes.new_programme(services(request.app.state).db, event_id,
                                                    _terms(data))
    except Refusal as refusal:
        return _page(request, event_id, status=refusal.status, error=refusal, form=data)
    return _page(request, event_id, warnings=warnings,
                 done=_("Programme {name} set up.").format(name=programme.name))


route_handlers = [programmes, add_programme]
