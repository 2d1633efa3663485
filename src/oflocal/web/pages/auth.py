"""Logging in and out with HTML forms: staff at ``/login``, workshops at ``/booth/login``.

Before login there is no session, so the form is protected by a double-submit token:
the same random value in the ``oflocal_login_csrf`` cookie and in the form's ``_csrf``
field. After login, forms carry the session's own CSRF token.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect

from oflocal import clock
from oflocal.auth.service import Actor, close_session, login_staff, login_workshop, open_session
from oflocal.errors import Refusal
from oflocal.events.listing import events_by_relevance
from oflocal.web.pages.render import (
    AnyRequest,
    home_for,
    login_csrf_cookie,
    page,
    page_lang,
    refusal_texts,
    safe_next,
)
from oflocal.web.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE
from oflocal.web.state import Services, services

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
EVERYONE = ("admin", "desk", "treasurer", "workshop")


def _events(s: Services) -> list[dict[str, str]]:
    with s.db.read() as session:
        ranked = events_by_relevance(session, clock.tokyo_date(clock.now()))
    return [{"slug": e.slug, "name": e.name} for e in ranked]


def _start_session(s: Services, actor: Actor, target: str) -> Redirect:
    token, _csrf = open_session(s.db, actor, hours=s.settings.session_hours)
    session_cookie = Cookie(
        key=SESSION_COOKIE,
        value=token,
        httponly=True,
        samesite="lax",
        secure=s.settings.secure_cookies,
        max_age=s.settings.session_hours * 3600,
        path="/",
    )
    spent = Cookie(key=LOGIN_CSRF_COOKIE, value="", max_age=0, path="/")
    return Redirect(target, status_code=303, cookies=[session_cookie, spent])


def _staff_form(request: AnyRequest, *, status: int = 200, error: Refusal | None = None,
                username: str = "", next_path: str = "") -> Response[Any]:
    token, cookie = login_csrf_cookie(request)
    return page(
        request,
        "login.html",
        status=status,
        cookies=[cookie],
        form_csrf=token,
        error=refusal_texts(error, page_lang(request)) if error else None,
        username=username,
        next=next_path,
    )


def _booth_form(request: AnyRequest, *, status: int = 200, error: Refusal | None = None,
                event: str = "", workshop_code: str = "") -> Response[Any]:
    token, cookie = login_csrf_cookie(request)
    events = _events(services(request.app.state))
    chosen = event or (events[0]["slug"] if events else "")  # the event running today
    return page(
        request,
        "booth_login.html",
        status=status,
        cookies=[cookie],
        form_csrf=token,
        error=refusal_texts(error, page_lang(request)) if error else None,
        events=events,
        event=chosen,
        workshop_code=workshop_code,
    )


@get("/login", sync_to_thread=False, include_in_schema=False)
def staff_login_form(
    request: AnyRequest, next_path: str | None = Parameter(query="next", default=None)
) -> Response[Any]:
    """The staff login form (committee office and sales desk)."""
    return _staff_form(request, next_path=safe_next(next_path, ""))


@post("/login", sync_to_thread=True, opt={"csrf": "form"}, include_in_schema=False)
def staff_login(request: AnyRequest, data: Form) -> Response[Any]:
    s = services(request.app.state)
    username = data.get("username", "").strip()
    next_path = safe_next(data.get("next"), "")
    try:
        actor = login_staff(s.db, username, data.get("password", ""), s.settings.lockout)
    except Refusal as refusal:
        return _staff_form(request, status=refusal.status, error=refusal, username=username,
                           next_path=next_path)
    if actor.must_change_password:  # a one-time password: choose your own first
        return _start_session(s, actor, "/account/password")
    return _start_session(s, actor, next_path or home_for(actor))


@get("/booth/login", sync_to_thread=True, include_in_schema=False)
def booth_login_form(request: AnyRequest) -> Response[Any]:
    """The workshop login: event, workshop code and PIN, on a phone."""
    return _booth_form(request)


@post("/booth/login", sync_to_thread=True, opt={"csrf": "form"}, include_in_schema=False)
def booth_login(request: AnyRequest, data: Form) -> Response[Any]:
    s = services(request.app.state)
    event = data.get("event", "").strip()
    code = data.get("workshop_code", "").strip().upper()
    try:
        actor = login_workshop(
            s.db,
            event_slug=event,
            workshop_code=code,
            pin=data.get("pin", "").strip(),
            lockout=s.settings.lockout,
        )
    except Refusal as refusal:
        return _booth_form(request, status=refusal.status, error=refusal, event=event,
                           workshop_code=code)
    return _start_session(s, actor, "/booth")


@post("/logout", opt={"roles": EVERYONE, "csrf": "form", "before_password_change": True},
      sync_to_thread=True,
      include_in_schema=False)
def logout(request: AnyRequest, data: Form) -> Redirect:
    actor = request.scope.get("user")
    assert isinstance(actor, Actor)  # the roles guard let only a logged-in actor in
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        close_session(services(request.app.state).db, token)
    target = "/booth/login" if actor.role == "workshop" else "/login"
    gone = Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True)
    return Redirect(target, status_code=303, cookies=[gone])


route_handlers = [staff_login_form, staff_login, booth_login_form, booth_login, logout]
