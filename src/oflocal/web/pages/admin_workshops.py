"""The admin console's workshops: the list with search, a new workshop, every field of
one workshop, a new PIN (shown once) and lifting a lock-out.

Each form calls one domain function (``events.changes``, ``auth.service``); a refusal
shows the form again as typed, with the rule that refused it in plain words.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect
from sqlalchemy import or_, select

from oflocal.auth.service import issue_missing_pins, reset_workshop_pin, unlock_workshop
from oflocal.errors import Refusal
from oflocal.events import changes
from oflocal.events.invoice import invoice_number_warning
from oflocal.events.models import Workshop
from oflocal.events.setup import BANK_FIELDS, WorkshopDetails
from oflocal.events.workshop_import import apply_import, plan_import, read_rows, template_xlsx
from oflocal.i18n import gettext_for
from oflocal.settlement.banks import search_banks
from oflocal.web.api.common import ADMIN
from oflocal.web.pages.admin import invoice_number_confirmed
from oflocal.web.pages.render import AnyRequest, page, page_lang, refusal_texts
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
FORM = {"roles": ADMIN, "csrf": "form"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEXT = ("name", "name_kana", "craft", "introduction", "tools", "contact")
FIELDS = ("code", *TEXT, "invoice_number", "participating", *BANK_FIELDS)


def _changes(data: Form) -> dict[str, Any]:
    """The form as domain fields: texts, the flag, the invoice number and the bank account
    (all its fields, or none when every one is left empty)."""
    fields: dict[str, Any] = {name: data.get(name, "").strip() for name in TEXT}
    fields["participating"] = data.get("participating") == "yes"
    fields["invoice_number"] = data.get("invoice_number", "").strip().upper() or None
    bank: dict[str, Any] = {name: data.get(name, "").strip() for name in BANK_FIELDS}
    if not any(v for k, v in bank.items() if k != "account_type"):  # a select always sends
        fields.update(dict.fromkeys(BANK_FIELDS))
        return fields
    try:
        bank["account_type"] = int(bank["account_type"] or 1)
    except ValueError as error:
        raise Refusal("request.invalid", detail="預金種目 account type") from error
    fields.update(bank)
    return fields


def _as_typed(form: Form | None, workshop: Workshop | None = None) -> dict[str, Any]:
    if form is not None:
        return {**dict.fromkeys(FIELDS, ""), **form, "participating":
                form.get("participating") == "yes"}
    if workshop is None:
        return {**dict.fromkeys(FIELDS, ""), "participating": True, "account_type": 1}
    return {name: getattr(workshop, name) if getattr(workshop, name) is not None else ""
            for name in FIELDS}


@get("/admin/events/{event_id:int}/workshops", opt={"roles": ADMIN}, sync_to_thread=True,
     include_in_schema=False)
def workshops(request: AnyRequest, event_id: int,
              q: str | None = Parameter(query="q", default=None)) -> Response[Any]:
    """The event's workshops by code; ``q`` finds a code, a name or its kana."""
    return _list(request, event_id, q or "")


def _list(request: AnyRequest, event_id: int, q: str, *, status: int = 200,
          error: Refusal | None = None, form: Form | None = None,
          done: str | None = None) -> Response[Any]:
    with services(request.app.state).db.read() as session:
        event = changes.event_or_404(session, event_id)
        query = select(Workshop).where(Workshop.event_id == event_id).order_by(Workshop.code)
        if q.strip():
            like = f"%{q.strip()}%"
            query = query.where(or_(Workshop.code.ilike(like), Workshop.name.ilike(like),
                                    Workshop.name_kana.ilike(like)))
        rows = session.execute(query).scalars().all()
    return page(request, "admin/workshops.html", status=status, event=event, workshops=rows,
                q=q, form=_as_typed(form), done=done,
                error=refusal_texts(error, page_lang(request)) if error else None)


@post("/admin/events/{event_id:int}/workshops", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def add_workshop(request: AnyRequest, event_id: int, data: Form) -> Response[Any]:
    try:
        fields = _changes(data)
        participating = fields.pop("participating")
        details = WorkshopDetails(code=data.get("code", "").strip().upper(), **fields)
        workshop = changes.new_workshop(services(request.app.state).db, event_id, details,
                                        participating=participating,
                                        confirm_invoice_number=invoice_number_confirmed(data))
    except Refusal as refusal:
        return _list(request, event_id, "", status=refusal.status, error=refusal, form=data)
    return Redirect(f"/admin/workshops/{workshop.id}?created=1", status_code=303)


def _one(request: AnyRequest, workshop_id: int, *, status: int = 200,
         error: Refusal | None = None, done: str | None = None, form: Form | None = None,
         pin: str | None = None) -> Response[Any]:
    with services(request.app.state).db.read() as session:
        workshop = session.get(Workshop, workshop_id)
        if workshop is None:
            raise Refusal("workshop.not_found")
        event = changes.event_or_404(session, workshop.event_id)
    warning = invoice_number_warning(workshop.invoice_number)
    return page(request, "admin/workshop.html", status=status, event=event, workshop=workshop,
                values=_as_typed(form, workshop), done=done, pin=pin,
                warnings=[warning] if warning else [],
                error=refusal_texts(error, page_lang(request)) if error else None)


@get("/admin/workshops/{workshop_id:int}", opt={"roles": ADMIN}, sync_to_thread=True,
     include_in_schema=False)
def workshop(request: AnyRequest, workshop_id: int,
             created: str | None = Parameter(query="created", default=None)) -> Response[Any]:
    """Every field of one workshop, its PIN and its lock."""
    _ = gettext_for(page_lang(request))
    return _one(request, workshop_id, done=_("The workshop was added.") if created else None)


@post("/admin/workshops/{workshop_id:int}", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def edit_workshop(request: AnyRequest, workshop_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    try:
        changes.change_workshop(services(request.app.state).db, workshop_id, _changes(data),
                                confirm_invoice_number=invoice_number_confirmed(data))
    except Refusal as refusal:
        return _one(request, workshop_id, status=refusal.status, error=refusal, form=data)
    return _one(request, workshop_id, done=_("Saved."))


@post("/admin/workshops/{workshop_id:int}/pin", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def new_pin(request: AnyRequest, workshop_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    pin = reset_workshop_pin(services(request.app.state).db, workshop_id)
    return _one(request, workshop_id, pin=pin,
                done=_("A new PIN was set; the workshop's phones were logged out."))


@post("/admin/workshops/{workshop_id:int}/unlock", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def unlock(request: AnyRequest, workshop_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    unlock_workshop(services(request.app.state).db, workshop_id)
    return _one(request, workshop_id, done=_("The workshop may log in again."))


@post("/admin/events/{event_id:int}/pin-slips", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def pin_slips(request: AnyRequest, event_id: int, data: Form) -> Response[Any]:
    """A PIN for every workshop without one, on slips to print and cut (shown once)."""
    db = services(request.app.state).db
    with db.read() as session:
        event = changes.event_or_404(session, event_id)
    slips = issue_missing_pins(db, event_id)
    return page(request, "admin/pin_slips.html", event=event, slips=slips)


# ------------------------------------------------------------------------- the import


@post("/admin/events/{event_id:int}/workshops/import", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def import_preview(request: AnyRequest, event_id: int, data: Annotated[
        dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]) -> Response[Any]:
    """Step 1: read the file and show what it would do, every bad row named; nothing is
    saved. The rows travel to step 2 in the page (checked again there)."""
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _list(request, event_id, "", status=422,
                     error=Refusal("request.invalid", detail="file"))
    rows = list(read_rows(upload.filename, upload.file.read()))
    with services(request.app.state).db.read() as session:
        event = changes.event_or_404(session, event_id)
        plan = plan_import(session, event_id, rows)
    return page(request, "admin/workshop_import.html", event=event, plan=plan,
                filename=upload.filename, rows_json=json.dumps(rows, ensure_ascii=False),
                status=422 if plan.problems else 200)


@post("/admin/events/{event_id:int}/workshops/import/confirm", opt=FORM, sync_to_thread=True,
      include_in_schema=False)
def import_confirm(request: AnyRequest, event_id: int, data: Form) -> Response[Any]:
    """Step 2: all rows or none."""
    _ = gettext_for(page_lang(request))
    try:
        rows = json.loads(data.get("rows", "[]"))
        if not (isinstance(rows, list) and all(isinstance(r, dict) for r in rows)):
            raise ValueError("rows")
        plan = apply_import(services(request.app.state).db, event_id,
                            [{str(k): str(v) for k, v in r.items()} for r in rows])
    except ValueError:
        return _list(request, event_id, "", status=422,
                     error=Refusal("request.invalid", detail="rows"))
    except Refusal as refusal:
        return _list(request, event_id, "", status=refusal.status, error=refusal)
    done = _("Imported: {adds} added, {updates} updated.").format(adds=plan.adds,
                                                                  updates=plan.updates)
    return _list(request, event_id, "", done=done)


@get("/admin/workshops-template.xlsx", opt={"roles": ADMIN}, sync_to_thread=True,
     include_in_schema=False)
def import_template() -> Response[bytes]:
    """The import's spreadsheet: the header row and one example workshop."""
    return Response(template_xlsx(), headers={
        "Content-Type": XLSX, "Content-Disposition": 'attachment; filename="workshops.xlsx"'})


@get("/admin/banks", opt={"roles": ADMIN}, sync_to_thread=True, include_in_schema=False)
def banks(q: str = Parameter(query="q", default="", max_length=40)) -> list[dict[str, str]]:
    """Banks and branches whose code, name or kana contain ``q`` (the form's search)."""
    return [asdict(choice) for choice in search_banks(q)]


route_handlers = [workshops, add_workshop, workshop, edit_workshop, new_pin, unlock, banks,
                  import_preview, import_confirm, import_template, pin_slips]
