"""Logging in and out over the API (browsers use the pages; scripts use bearer tokens)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie
from pydantic import BaseModel, ConfigDict, Field

from oflocal.auth.service import (
    Actor,
    close_session,
    issue_api_token,
    login_staff,
    login_workshop,
    open_session,
)
from oflocal.web.api.common import ADMIN, STAFF, WORKSHOP, Id, RequestBody, actor_of
from oflocal.web.security import SESSION_COOKIE
from oflocal.web.state import Services, services


class StaffLogin(RequestBody):
    username: str = Field(min_length=1, max_length=60)
    password: str = Field(min_length=1, max_length=200)


class WorkshopLogin(RequestBody):
    event: str = Field(min_length=1, max_length=40)
    workshop_code: str = Field(min_length=1, max_length=20)
    pin: str = Field(min_length=1, max_length=20)


class WhoAmI(BaseModel):
    kind: str
    id: int
    name: str
    role: str
    event_id: int | None
    csrf_token: str | None = None


class TokenRequest(RequestBody):
    # Exactly one holder: the service refuses both or neither; the schema says so too.
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["staff_user_id"],
         "properties": {"staff_user_id": {"type": "integer"}, "workshop_id": {"type": "null"}}},
        {"required": ["workshop_id"],
         "properties": {"workshop_id": {"type": "integer"}, "staff_user_id": {"type": "null"}}},
    ]})

    name: str = Field(min_length=1, max_length=120)
    staff_user_id: Id | None = None
    workshop_id: Id | None = None


def _who(actor: Actor, csrf: str | None = None) -> WhoAmI:
    return WhoAmI(kind=actor.kind, id=actor.id, name=actor.name, role=actor.role,
                  event_id=actor.event_id, csrf_token=csrf)


def start_session(s: Services, actor: Actor) -> Response[WhoAmI]:
    token, csrf = open_session(s.db, actor, hours=s.settings.session_hours)
    cookie = Cookie(
        key=SESSION_COOKIE,
        value=token,
        httponly=True,
        samesite="lax",
        secure=s.settings.secure_cookies,
        max_age=s.settings.session_hours * 3600,
        path="/",
    )
    return Response(_who(actor, csrf), cookies=[cookie])


@post("/session/staff", sync_to_thread=True, status_code=200)
def staff_login(request: Request[Any, Any, Any], data: StaffLogin) -> Response[WhoAmI]:
    """Staff log in with username and password; answers the CSRF token for later writes."""
    s = services(request.app.state)
    return start_session(s, login_staff(s.db, data.username, data.password))


@post("/session/workshop", sync_to_thread=True, status_code=200,
      opt={"refuses": ("auth.locked",)})
def workshop_login(request: Request[Any, Any, Any], data: WorkshopLogin) -> Response[WhoAmI]:
    """A workshop logs in with its code and PIN; wrong PINs are slowed down and locked."""
    s = services(request.app.state)
    actor = login_workshop(
        s.db,
        event_slug=data.event,
        workshop_code=data.workshop_code,
        pin=data.pin,
        attempts_before_lock=s.settings.pin_attempts_before_lock,
        lock_minutes=s.settings.pin_lock_minutes,
    )
    return start_session(s, actor)


@post("/session/logout", opt={"roles": (*STAFF, *WORKSHOP)}, sync_to_thread=True,
      status_code=200)
def logout(request: Request[Any, Any, Any]) -> Response[dict[str, bool]]:
    """End this browser session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        close_session(services(request.app.state).db, token)
    response: Response[dict[str, bool]] = Response({"logged_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@get("/session", opt={"roles": (*STAFF, *WORKSHOP)}, sync_to_thread=False)
def whoami(request: Request[Any, Any, Any]) -> WhoAmI:
    """Who is logged in, and the CSRF token to send with writes."""
    actor = actor_of(request)
    return _who(actor, actor.csrf_token or None)


@post("/tokens", opt={"roles": ADMIN}, sync_to_thread=True, status_code=201)
def create_token(request: Request[Any, Any, Any], data: TokenRequest) -> dict[str, str]:
    """Issue an API token for a staff user or a workshop (shown once)."""
    s = services(request.app.state)
    token = issue_api_token(
        s.db, name=data.name, staff_user_id=data.staff_user_id, workshop_id=data.workshop_id
    )
    return {"token": token}


router = Router(path="/", route_handlers=[staff_login, workshop_login, logout, whoami,
                                          create_token], tags=["session"])
