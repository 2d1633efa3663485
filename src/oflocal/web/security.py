"""Who is asking (session cookie or bearer token), role guards and CSRF.

Cookie-authenticated unsafe requests must carry the session's CSRF token, in the
``X-CSRF-Token`` header (JavaScript) or the ``_csrf`` form field (HTML forms); the roles
guard checks both. Bearer tokens are not sent by browsers on their own, so they need none.

Bearer tokens (booth tablets, scanners, scripts) are looked up on every request with
one statement (``auth.service.actor_from_token``). They used to be remembered for 10 s
per worker process; that let a revoked token work on for those seconds in every
process, so revocation now takes effect at once. Browser sessions are looked up the
same way (logout and expiry take effect at once; their CSRF token lives in the row).
"""

from __future__ import annotations

import hmac
from typing import Any

from anyio import to_thread
from litestar.connection import ASGIConnection, Request
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from oflocal.auth.service import Actor, actor_from_session, actor_from_token
from oflocal.errors import Refusal
from oflocal.web.state import services

SESSION_COOKIE = "oflocal_session"
LOGIN_CSRF_COOKIE = "oflocal_login_csrf"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ActorMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        db = services(connection.app.state).db
        header = connection.headers.get("authorization", "")
        actor: Actor | None = None
        if header.lower().startswith("bearer "):
            actor = await to_thread.run_sync(actor_from_token, db, header[7:].strip())
            if actor is None:
                raise Refusal("auth.required")
        elif cookie := connection.cookies.get(SESSION_COOKIE):
            actor = await to_thread.run_sync(actor_from_session, db, cookie)
        return AuthenticationResult(user=actor, auth=actor.via if actor else None)


def current_actor(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Actor) else None


async def roles_guard(connection: ASGIConnection[Any, Any, Any, Any],
                      handler: BaseRouteHandler) -> None:
    """Every route declares ``opt={"roles": (...)}``; no declaration means public.

    Then CSRF, for every unsafe request a browser could have sent on its own: the
    ``X-CSRF-Token`` header of a cookie session, or, for an HTML form route
    (``opt["csrf"] == "form"``), its ``_csrf`` field. The guard checks it, not each
    handler, so a new form cannot forget it."""
    roles: tuple[str, ...] | None = handler.opt.get("roles")
    actor = current_actor(connection)
    if roles is not None:
        if actor is None:
            raise Refusal("auth.required")
        if actor.role not in roles:
            raise Refusal("auth.forbidden")
        if actor.must_change_password and not handler.opt.get("before_password_change"):
            raise Refusal("auth.password_change_required")
    if connection.scope.get("method", "GET") not in UNSAFE:
        return
    if handler.opt.get("csrf") == "none":  # public, and its URL is its key (one-click
        return  # unsubscribe, RFC 8058: mail programs POST without cookies or forms)
    if handler.opt.get("csrf") == "form":
        form = await Request(connection.scope, connection.receive).form()  # cached for the handler
        sent = form.get("_csrf")
        # A public form (logging in) has no session yet: it double-submits a cookie.
        holder = actor if roles is not None else None
        check_form_csrf(holder, sent if isinstance(sent, str) else None,
                        connection.cookies.get(LOGIN_CSRF_COOKIE))
    elif actor is not None and actor.via == "session":
        sent = connection.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(sent, actor.csrf_token):
            raise Refusal("csrf.failed")


def check_form_csrf(actor: Actor | None, sent: str | None, login_cookie: str | None = None) -> None:
    """For HTML forms: the session's token, or the login form's double-submit cookie.
    A bearer token's form post needs none: browsers never send the token on their own."""
    if actor is not None and actor.via == "token":
        return
    expected = actor.csrf_token if actor is not None else (login_cookie or "")
    if not expected or not hmac.compare_digest(sent or "", expected):
        raise Refusal("csrf.failed")
