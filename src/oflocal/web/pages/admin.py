"""The committee's console for admins: its events, staff logins and API tokens.

Every form calls one domain function (``auth.accounts``, ``auth.service``) and shows
the page again with what happened. A password or token the server makes is shown on
that answer only, once; the page never shows a secret twice.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect
from sqlalchemy import select

from oflocal import clock
from oflocal.auth.accounts import generate_password, reset_password, set_active, staff_accounts
from oflocal.auth.models import ROLES
from oflocal.auth.service import (
    create_staff_user,
    list_api_tokens,
    new_api_token,
    revoke_api_token,
    unlock_staff_user,
)
from oflocal.errors import Refusal
from oflocal.events import changes
from oflocal.events.listing import events_by_relevance
from oflocal.events.models import Event, Workshop
from oflocal.i18n import gettext_for
from oflocal.web.api.common import ADMIN
from oflocal.web.pages.render import AnyRequest, page, page_lang, refusal_texts
from oflocal.web.state import services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
FORM = {"roles": ADMIN, "csrf": "form"}


def _staff_page(request: AnyRequest, *, status: int = 200, error: Refusal | None = None,
                done: str | None = None, secret: dict[str, str] | None = None) -> Response[Any]:
    db = services(request.app.state).db
    with db.read() as session:
        workshops = session.execute(
            select(Workshop.id, Event.slug, Workshop.code, Workshop.name)
            .join(Event, Event.id == Workshop.event_id).order_by(Event.slug, Workshop.code)
        ).all()
    return page(request, "admin/staff.html", status=status,
                error=refusal_texts(error, page_lang(request)) if error else None,
                done=done, secret=secret, staff=staff_accounts(db), roles=ROLES,
                tokens=list_api_tokens(db), workshops=workshops)


@get("/admin/staff", opt={"roles": ADMIN}, sync_to_thread=True, include_in_schema=False)
def staff(request: AnyRequest) -> Response[Any]:
    """Staff logins and API tokens."""
    return _staff_page(request)


def _answer(request: AnyRequest, work: Any) -> Response[Any]:
    """Run one change; a refusal is shown on the page, in its words."""
    try:
        done, secret = work()
    except Refusal as refusal:
        return _staff_page(request, status=refusal.status, error=refusal)
    return _staff_page(request, done=done, secret=secret)


@post("/admin/staff", opt=FORM, sync_to_thread=True, include_in_schema=False)
def add_staff(request: AnyRequest, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    username = data.get("username", "").strip()

    def work() -> tuple[str, dict[str, str]]:
        if data.get("role") not in ROLES:
            raise Refusal("request.invalid", detail="role")
        password = generate_password()
        create_staff_user(services(request.app.state).db, username=username,
                          display_name=data.get("display_name", "").strip() or username,
                          role=data["role"], password=password, must_change_password=True)
        return _("Login {name} created.").format(name=username), {
            "label": _("One-time password for {name}").format(name=username), "value": password}

    return _answer(request, work)


@post("/admin/staff/reset", opt=FORM, sync_to_thread=True, include_in_schema=False)
def reset(request: AnyRequest, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    username = data.get("username", "")

    def work() -> tuple[str, dict[str, str]]:
        password = reset_password(services(request.app.state).db, username)
        return _("The password of {name} was reset.").format(name=username), {
            "label": _("One-time password for {name}").format(name=username), "value": password}

    return _answer(request, work)


@post("/admin/staff/active", opt=FORM, sync_to_thread=True, include_in_schema=False)
def switch(request: AnyRequest, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    username, on = data.get("username", ""), data.get("active") == "yes"

    def work() -> tuple[str, None]:
        set_active(services(request.app.state).db, username, on)
        text = _("{name} may log in.") if on else _("{name} can no longer log in.")
        return text.format(name=username), None

    return _answer(request, work)


@post("/admin/staff/unlock", opt=FORM, sync_to_thread=True, include_in_schema=False)
def unlock(request: AnyRequest, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    username = data.get("username", "")

    def work() -> tuple[str, None]:
        unlock_staff_user(services(request.app.state).db, username)
        return _("{name} may log in again.").format(name=username), None

    return _answer(request, work)


@post("/admin/tokens", opt=FORM, sync_to_thread=True, include_in_schema=False)
def add_token(request: AnyRequest, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    name, holder = data.get("name", "").strip(), data.get("holder", "")

    def work() -> tuple[str, dict[str, str]]:
        db = services(request.app.state).db
        kind, _sep, value = holder.partition(":")
        if not name or kind not in ("staff", "workshop") or not value.isdigit():
            raise Refusal("request.invalid", detail="name and holder")
        held = {"staff_user_id": int(value)} if kind == "staff" else {"workshop_id": int(value)}
        _token_id, token = new_api_token(db, name=name[:120], **held)
        return _("Token {name} issued.").format(name=name), {
            "label": _("API token {name} (copy it now: it is not shown again)").format(
                name=name), "value": token}

    return _answer(request, work)


@post("/admin/tokens/revoke", opt=FORM, sync_to_thread=True, include_in_schema=False)
def revoke(request: AnyRequest, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    token_id = data.get("token_id", "")

    def work() -> tuple[str, None]:
        if not token_id.isdigit():
            raise Refusal("token.not_found")
        revoked = revoke_api_token(services(request.app.state).db, int(token_id))
        return _("Token {name} revoked.").format(name=revoked.name), None

    return _answer(request, work)


# --------------------------------------------------------------------------- events

EVENT_TEXT = ("name", "committee_name", "venue", "representative", "committee_address",
              "committee_phone", "committee_email")


def _event_fields(data: Form) -> dict[str, Any]:
    """The event form as domain fields; dates refused in words if they are not dates."""
    fields: dict[str, Any] = {name: data.get(name, "").strip() for name in EVENT_TEXT}
    for name in ("starts_on", "ends_on"):
        try:
            fields[name] = date.fromisoformat(data.get(name, "").strip())
        except ValueError as error:
            raise Refusal("report.date_invalid") from error
    fields["invoice_number"] = data.get("invoice_number", "").strip().upper() or None
    return fields


def invoice_number_confirmed(data: Form) -> bool:
    """The box shown with ``invoice_number.check_digit``: the number was checked against
    the registration notice (a sole proprietor's or a voluntary body's)."""
    return data.get("confirm_invoice_number") == "yes"


def _as_typed(form: Form | None) -> dict[str, str]:
    """A refused form shown again as typed; every field present (the page reads them all)."""
    blank = dict.fromkeys(("slug", *EVENT_TEXT, "starts_on", "ends_on", "invoice_number"), "")
    return {**blank, **(form or {})}


def _events_page(request: AnyRequest, *, status: int = 200, error: Refusal | None = None,
                 form: Form | None = None) -> Response[Any]:
    with services(request.app.state).db.read() as session:
        events = events_by_relevance(session, clock.tokyo_date(clock.now()))
    return page(request, "admin/events.html", status=status, events=events,
                form=_as_typed(form),
                error=refusal_texts(error, page_lang(request)) if error else None)


@get("/admin/events", opt={"roles": ADMIN}, sync_to_thread=True, include_in_schema=False)
def events(request: AnyRequest) -> Response[Any]:
    """The events, and a form to create one."""
    return _events_page(request)


@post("/admin/events", opt=FORM, sync_to_thread=True, include_in_schema=False)
def add_event(request: AnyRequest, data: Form) -> Response[Any]:
    try:
        event = changes.new_event(services(request.app.state).db,
                                  slug=data.get("slug", "").strip().lower(),
                                  confirm_invoice_number=invoice_number_confirmed(data),
                                  **_event_fields(data))
    except Refusal as refusal:
        return _events_page(request, status=refusal.status, error=refusal, form=data)
    return Redirect(f"/admin/events/{event.id}?created=1", status_code=303)


def _event_page(request: AnyRequest, event_id: int, *, status: int = 200,
                error: Refusal | None = None, done: str | None = None,
                form: Form | None = None) -> Response[Any]:
    with services(request.app.state).db.read() as session:
        event = changes.event_or_404(session, event_id)
    return page(request, "admin/event.html", status=status, event=event,
                form=_as_typed(form) if form is not None else None,
                warnings=changes.event_warnings(event), done=done,
                error=refusal_texts(error, page_lang(request)) if error else None)


@get("/admin/events/{event_id:int}", opt={"roles": ADMIN}, sync_to_thread=True,
     include_in_schema=False)
def event(request: AnyRequest, event_id: int,
          created: str | None = Parameter(query="created", default=None)) -> Response[Any]:
    """One event's name, dates and the committee's profile, to edit."""
    _ = gettext_for(page_lang(request))
    return _event_page(request, event_id, done=_("The event was created.") if created else None)


@post("/admin/events/{event_id:int}", opt=FORM, sync_to_thread=True, include_in_schema=False)
def edit_event(request: AnyRequest, event_id: int, data: Form) -> Response[Any]:
    _ = gettext_for(page_lang(request))
    try:
        changes.edit_event(services(request.app.state).db, event_id, _event_fields(data),
                           confirm_invoice_number=invoice_number_confirmed(data))
    except Refusal as refusal:
        return _event_page(request, event_id, status=refusal.status, error=refusal, form=data)
    return _event_page(request, event_id, done=_("Saved."))


route_handlers = [staff, add_staff, reset, switch, unlock, add_token, revoke,
                  events, add_event, event, edit_event]
