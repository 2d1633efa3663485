"""Logging in and out over the API (browsers use the pages; scripts use bearer tokens)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, Response, Router, delete, get, post
from litestar.datastructures import Cookie
from pydantic import BaseModel, ConfigDict, Field

from oflocal.auth.accounts import change_own_password
from oflocal.auth.service import (
    MIN_PASSWORD,
    Actor,
    close_session,
    list_api_tokens,
    login_staff,
    login_workshop,
    new_api_token,
    open_session,
    revoke_api_token,
)
from oflocal.web.api.common import (
    ADMIN,
    KEY_OPTIONAL,
    STAFF,
    WORKSHOP,
    Id,
    RequestBody,
    TokenId,
    actor_of,
    once,
)
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
    must_change_password: bool = False


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


class TokenIssued(BaseModel):
    id: int
    token: str = Field(description="Shown this once; only its hash is kept")


class TokenOut(BaseModel):
    id: int
    name: str
    holder: str = Field(description='"staff:<username>" or "workshop:<event>/<code>"')
    created_at: datetime
    revoked_at: datetime | None




def _who(actor: Actor, csrf: str | None = None) -> WhoAmI:
    return WhoAmI(kind=actor.kind, id=actor.id, name=actor.name, role=actor.role,
                  event_id=actor.event_id, csrf_token=csrf,
                  must_change_password=actor.must_change_password)


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
    return start_session(s, login_staff(s.db, data.username, data.password,
                                             s.settings.lockout))


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
        lockout=s.settings.lockout,
    )
    return start_session(s, actor)


@post("/session/logout", opt={"roles": (*STAFF, *WORKSHOP), "before_password_change": True},
      sync_to_thread=True,
      status_code=200)
def logout(request: Request[Any, Any, Any]) -> Response[dict[str, bool]]:
    """End this browser session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        close_session(services(request.app.state).db, token)
    response: Response[dict[str, bool]] = Response({"logged_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@get("/session", opt={"roles": (*STAFF, *WORKSHOP), "before_password_change": True},
     sync_to_thread=False)
def whoami(request: Request[Any, Any, Any]) -> WhoAmI:
    """Who is logged in, and the CSRF token to send with writes."""
    actor = actor_of(request)
    return _who(actor, actor.csrf_token or None)


class PasswordChange(RequestBody):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=MIN_PASSWORD, max_length=200)


@post("/session/password", opt={"roles": STAFF, "idempotency": KEY_OPTIONAL,
                                "before_password_change": True},
      sync_to_thread=True, status_code=200)
def change_password(request: Request[Any, Any, Any],
                    data: PasswordChange) -> Response[dict[str, bool]]:
    """Change your own password (the current one is asked again). Your other sessions end;
    a generated password must be changed this way before anything else."""
    actor = actor_of(request)
    db = services(request.app.state).db

    def work() -> dict[str, bool]:
        change_own_password(db, actor.id, data.current_password, data.new_password,
                            this_session=request.cookies.get(SESSION_COOKIE))
        return {"changed": True}

    return once(request, work)  # the passwords stay out of the stored request hash


@post("/tokens", opt={"roles": ADMIN}, sync_to_thread=True, status_code=201)
def create_token(request: Request[Any, Any, Any], data: TokenRequest) -> TokenIssued:
    """Issue an API token for a staff user or a workshop (shown once)."""
    s = services(request.app.state)
    token_id, token = new_api_token(
        s.db, name=data.name, staff_user_id=data.staff_user_id, workshop_id=data.workshop_id
    )
    return TokenIssued(id=token_id, token=token)


@get("/tokens", opt={"roles": ADMIN}, sync_to_thread=True)
def tokens(request: Request[Any, Any, Any]) -> list[TokenOut]:
    """Every API token: its id, name, holder and whether it was revoked (never the token)."""
    return [TokenOut(**vars(t)) for t in list_api_tokens(services(request.app.state).db)]


@delete("/tokens/{token_id:int}", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL},
        sync_to_thread=True, status_code=200)
def revoke_token(request: Request[Any, Any, Any], token_id: TokenId) -> Response[TokenOut]:
    """Revoke an API token: refused at once by every server process from now on.
    Revoking it again answers the same token and changes nothing; a token cannot revoke
    itself (409 `token.own`)."""
    db = services(request.app.state).db
    header = request.headers.get("authorization", "")
    caller = header[7:].strip() if header.lower().startswith("bearer ") else None
    return once(request, lambda: TokenOut(**vars(revoke_api_token(db, token_id,
                                                                  caller_token=caller))),
                token_id)


router = Router(path="/", route_handlers=[staff_login, workshop_login, logout, whoami,
                                          change_password, create_token, tokens, revoke_token],
                tags=["session"])
