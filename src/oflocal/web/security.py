"""Who is asking (session cookie or bearer token), role guards and CSRF.

Cookie-authenticated unsafe requests must carry the session's CSRF token, in the
``X-CSRF-Token`` header (JavaScript) or the ``_csrf`` form field (HTML forms, checked by
the page handler). Bearer tokens are not sent by browsers on their own, so they need none.

Bearer tokens (booth tablets, scanners, scripts) are looked up once and then remembered
for :data:`TOKEN_TTL_SECONDS` in the worker process (:class:`TokenCache`), so a queue of
redemptions does not pay a database transaction per request just to learn who is asking.
Why that is safe: only tokens the database *accepted* are remembered (an unknown or just
issued token is always looked up), the cache key is the token's SHA-256 (the same as the
database stores), and what it could make stale is bounded: a revoked token, or a staff
user switched off, keeps working for at most ``TOKEN_TTL_SECONDS`` in each worker. The
money itself is never decided from the cache: a workshop's participation is re-checked
inside every redemption's transaction. Browser sessions are not cached (logout and
expiry take effect at once; their CSRF token lives in the session row).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from anyio import to_thread
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from oflocal.auth.service import Actor, actor_from_session, actor_from_token
from oflocal.errors import Refusal
from oflocal.web.state import services

SESSION_COOKIE = "oflocal_session"
LOGIN_CSRF_COOKIE = "oflocal_login_csrf"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_TTL_SECONDS = 10.0


class TokenCache:
    """Actors of recently accepted bearer tokens, by token hash, for a few seconds."""

    def __init__(self, ttl: float = TOKEN_TTL_SECONDS, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Actor]] = {}

    def get(self, key: str) -> Actor | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, actor: Actor) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # crude but bounded; refilled on the next requests
        self._entries[key] = (time.monotonic() + self.ttl, actor)


def token_cache(connection: ASGIConnection[Any, Any, Any, Any]) -> TokenCache:
    state = connection.app.state
    cache = state.get("token_cache")
    if cache is None:
        cache = state["token_cache"] = TokenCache()
    assert isinstance(cache, TokenCache)
    return cache


class ActorMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        db = services(connection.app.state).db
        header = connection.headers.get("authorization", "")
        actor: Actor | None = None
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
            cache = token_cache(connection)
            key = hashlib.sha256(token.encode()).hexdigest()
            actor = cache.get(key)
            if actor is None:
                actor = await to_thread.run_sync(actor_from_token, db, token)
                if actor is None:
                    raise Refusal("auth.required")
                cache.put(key, actor)
        elif cookie := connection.cookies.get(SESSION_COOKIE):
            actor = await to_thread.run_sync(actor_from_session, db, cookie)
        return AuthenticationResult(user=actor, auth=actor.via if actor else None)


def current_actor(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Actor) else None


def roles_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Every route declares ``opt={"roles": (...)}``; no declaration means public."""
    roles: tuple[str, ...] | None = handler.opt.get("roles")
    if roles is None:
        return
    actor = current_actor(connection)
    if actor is None:
        raise Refusal("auth.required")
    if actor.role not in roles:
        raise Refusal("auth.forbidden")
    method = connection.scope.get("method", "GET")
    if actor.via == "session" and method in UNSAFE and handler.opt.get("csrf") != "form":
        sent = connection.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(sent, actor.csrf_token):
            raise Refusal("csrf.failed")


def check_form_csrf(actor: Actor | None, sent: str | None, login_cookie: str | None = None) -> None:
    """For HTML forms: the session's token, or the login form's double-submit cookie."""
    expected = actor.csrf_token if actor is not None else (login_cookie or "")
    if not expected or not hmac.compare_digest(sent or "", expected):
        raise Refusal("csrf.failed")
