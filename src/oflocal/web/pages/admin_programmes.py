"""The admin console's voucher programmes: the event's programmes and a new one, with
every rule (price, face value, denominations, sales window, validity and the 6-month
rule's explicit override, premium budget, per-sale limit, what expiry does).

The rules are the domain's (``events.setup.check_terms``) through
``events.changes.new_programme``; a refused form comes back as typed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy import select

from oflocal import clock
from oflocal.errors import Refusal
from oflocal.events import changes
from oflocal.events.setup import PRINTED_TERMS, ProgrammeTerms
from oflocal.i18n import gettext_for
from oflocal.printing.layout import PrintLayout, read_layout
from oflocal.printing.source import proof_png
from oflocal.vouchers.models import Programme
from oflocal.web.api.common import ADMIN
from oflocal.web.pages.render import AnyRequest, page, page_lang, refusal_texts
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
FORM = {"roles": ADMIN, "csrf": "form"}
FIELDS = ("name", "price", "face_value", "denominations", "sales_starts_at", "sales_ends_at",
          "issue_date", "valid_from", "valid_until", "premium_budget",
          "max_booklets_per_sale", "breakage_rule", "validity_override")


def _yen(text: str, name: str) -> int:
    text = text.replace(",", "").replace("¥", "").strip()
    if not text.isdigit():
        raise Refusal("request.invalid", detail=f"{name}: a whole number of yen")
    return int(text)


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as error:
        raise Refusal("report.date_invalid") from error


def _moment(text: str, name: str) -> datetime:
    """A datetime-local field, read as Japan time."""
    try:
        naive = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise Refusal("report.date_invalid") from error
    return naive.replace(tzinfo=clock.TOKYO) if naive.tzinfo is None else naive


def _yen_list(text: str, name: str) -> list[int]:
    parts = [p.strip() for p in text.replace("、", ",").split(",")]
    if not all(p.isdigit() for p in parts):
        raise Refusal("request.invalid", detail=f"{name}: yen, separated by commas")
    return [int(p) for p in parts]


READERS: dict[str, Callable[[str, str], Any]] = {
    "name": lambda text, _: text.strip(), "price": _yen, "face_value": _yen,
    "denominations": _yen_list, "sales_starts_at": _moment, "sales_ends_at": _moment,
    "issue_date": _day, "valid_from": _day, "valid_until": _day, "premium_budget": _yen,
    "max_booklets_per_sale": _yen,
    "breakage_rule": lambda text, _: "premium_fund" if text == "premium_fund" else "breakage",
    "validity_override": lambda text, _: text == "yes",
}


def _read(data: Mapping[str, str], names: Iterable[str]) -> dict[str, Any]:
    """The named terms as the domain takes them (an unticked box is ``no``)."""
    return {name: READERS[name](data.get(name, ""), name) for name in names}


def _terms(data: Form) -> ProgrammeTerms:
    return ProgrammeTerms(**_read(data, FIELDS))


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


# ----------------------------------------------------------------- one programme

LAYOUT_CHOICES = {"paper": ("A4", "A3", "B4"), "mode": ("office", "printshop"),
                  "back_side": ("workshop", "blank")}
LAYOUT_NUMBERS = {"columns": int, "rows": int, "margin_mm": float}
LAYOUT_BOXES = ("show_workshop", "show_rules", "show_serial", "duplex")


def _layout_fields(data: Mapping[str, str]) -> dict[str, Any]:
    """The layout form as ``PrintLayout`` reads it; its checks say what is wrong."""
    fields: dict[str, Any] = {name: data.get(name, "") for name in LAYOUT_CHOICES}
    for name, kind in LAYOUT_NUMBERS.items():
        try:
            fields[name] = kind(data.get(name, "").strip())
        except ValueError:
            fields[name] = data.get(name, "")  # the layout's own check names it
    fields["accent_colour"] = data.get("accent_colour", "").strip()
    fields.update({name: data.get(name) == "yes" for name in LAYOUT_BOXES})
    fields["rules"] = tuple(line.strip() for line in data.get("rules", "").splitlines()
                            if line.strip())
    return fields


def _layout_form(layout: PrintLayout) -> dict[str, Any]:
    shown = layout.model_dump()
    shown["rules"] = "\n".join(layout.rules)
    shown.update({name: "yes" if shown[name] else "" for name in LAYOUT_BOXES})
    return shown


def _programme_page(request: AnyRequest, programme_id: int, *, status: int = 200,
                    error: Refusal | None = None, terms_form: Form | None = None,
                    layout_form: Form | None = None, done: str | None = None,
                    warnings: list[str] | None = None) -> Response[Any]:
    with services(request.app.state).db.read() as session:
        programme = session.get(Programme, programme_id)
        if programme is None:
            raise Refusal("programme.not_found")
        event = changes.event_or_404(session, programme.event_id)
    saved_terms = {
        **{name: str(getattr(programme, name)) for name in FIELDS},
        "denominations": ", ".join(str(d) for d in programme.denominations),
        "sales_starts_at": _local(programme.sales_starts_at),
        "sales_ends_at": _local(programme.sales_ends_at),
        "validity_override": "yes" if programme.validity_override else "",
    }
    layout = PrintLayout.model_validate(programme.print_layout or {})
    return page(
        request, "admin/programme.html", status=status, event=event, programme=programme,
        printed=programme.next_booklet_serial - 1, printed_terms=PRINTED_TERMS,
        terms={**saved_terms, **(terms_form or {})},
        layout={**_layout_form(layout), **(layout_form or {})}, choices=LAYOUT_CHOICES,
        done=done, warnings=warnings or [],
        error=refusal_texts(error, page_lang(request)) if error else None)


def _local(moment: datetime) -> str:
    return moment.astimezone(clock.TOKYO).strftime("%Y-%m-%dT%H:%M")


def _changed_terms(data: Form, printed: bool) -> dict[str, Any]:
    """What the form may change: the printed terms only while nothing is printed (the
    page then shows them as fields and says so with ``terms_editable``)."""
    names = [n for n in FIELDS if n not in PRINTED_TERMS]
    if data.get("terms_editable") == "yes" and not printed:
        names = list(FIELDS)
    return _read(data, names)


@get("/admin/programmes/{programme_id:int}", opt={"roles": ADMIN}, sync_to_thread=True,
     include_in_schema=False)
def programme_page(request: AnyRequest, programme_id: int) -> Response[Any]:
    """Every rule of one programme and its print layout, with the proof beside it."""
    return _programme_page(request, programme_id)


@post("/admin/programmes/{programme_id:int}", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def save_programme(request: AnyRequest, programme_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    db = services(request.app.state).db
    with db.read() as session:
        programme = session.get(Programme, programme_id)
        printed = programme is not None and programme.next_booklet_serial > 1
    try:
        warnings = changes.edit_programme(db, programme_id, _changed_terms(data, printed))[1]
    except Refusal as refusal:
        return _programme_page(request, programme_id, status=refusal.status, error=refusal,
                               terms_form=data)
    return _programme_page(request, programme_id, warnings=warnings,
                           done=_("The programme's rules are saved."))


@post("/admin/programmes/{programme_id:int}/layout", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def save_layout(request: AnyRequest, programme_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    try:
        changes.change_print_layout(services(request.app.state).db, programme_id,
                                    read_layout(_layout_fields(data)))
    except Refusal as refusal:
        return _programme_page(request, programme_id, status=refusal.status, error=refusal,
                               layout_form=data)
    return _programme_page(request, programme_id,
                           done=_("The print layout is saved; the next print run uses it."))


@get("/admin/programmes/{programme_id:int}/proof.png", opt={"roles": ADMIN},
     sync_to_thread=True, include_in_schema=False)
def live_proof(request: AnyRequest, programme_id: int) -> Response[Any]:
    """The proof with the settings on the page, saved or not (nothing is stored).
    A setting that cannot be printed answers its refusal as JSON for the page to show."""
    data = dict(request.query_params)
    try:
        layout = read_layout(_layout_fields(data)) if "paper" in data else None
        shown = [n for n in PRINTED_TERMS if n in data and n != "validity_override"]
        terms = _read(data, shown) if data.get("terms_editable") == "yes" else {}
        png = proof_png(services(request.app.state).db, programme_id, layout=layout,
                        terms=terms)
    except Refusal as refusal:
        return Response(refusal.to_body(page_lang(request)), status_code=refusal.status,
                        media_type="application/json")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


route_handlers = [programmes, add_programme, programme_page, save_programme, save_layout,
                  live_proof]
