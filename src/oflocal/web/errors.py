"""One error shape for the whole API: ``{"code", "message", "message_ja", "message_en",
"detail"}`` with the right HTTP status. Pages render the same messages as HTML."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    SerializationException,
    ValidationException,
)
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE, HTTP_415_UNSUPPORTED_MEDIA_TYPE
from litestar.types import Message, Scope
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from oflocal.errors import Refusal

log = logging.getLogger("oflocal.web")


def request_lang(request: Request[Any, Any, Any]) -> str:
    chosen = request.cookies.get("oflocal_lang") or request.query_params.get("lang")
    if chosen in ("ja", "en"):
        return chosen
    accept = request.headers.get("accept-language", "")
    return "en" if accept.lower().startswith("en") else "ja"


def refusal_response(request: Request[Any, Any, Any], refusal: Refusal) -> Response[Any]:
    if not request.url.path.startswith("/api/") and (page := _page_renderer(request)):
        rendered: Response[Any] = page(request, refusal)
        return rendered
    return Response(
        refusal.to_body(request_lang(request)),
        status_code=refusal.status,
        media_type=MediaType.JSON,
    )


def _page_renderer(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.get("page_error_renderer")


def _validation_detail(exc: ValidationException) -> str:
    extra = exc.extra
    if isinstance(extra, list) and extra:
        parts = []
        for item in extra[:5]:
            if isinstance(item, dict):
                where = item.get("key") or item.get("source") or ""
                # "Value error, " is Pydantic's prefix for a validator's own words
                message = str(item.get("message", "")).removeprefix("Value error, ")
                parts.append(f"{where}: {message}".strip(": "))
        if parts:
            return "; ".join(parts)
    return str(exc.detail)


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _sent_non_json(request: Request[Any, Any, Any]) -> bool:
    """An API request that carries a body declared as something other than JSON."""
    if not request.url.path.startswith("/api/") or request.method not in BODY_METHODS:
        return False
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return bool(media) and not _is_json(media)


async def require_json_body(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook for API routers: a body must be JSON (or untyped).

    Litestar would otherwise parse a ``text/plain`` body as JSON, which is also what a
    cross-site form can send without a CORS preflight. Answers 415.
    """
    if _sent_non_json(request):
        has_body = request.headers.get("content-length", "0") not in ("", "0") or (
            "transfer-encoding" in request.headers
        )
        if has_body:
            raise Refusal("request.unsupported_media_type")


def http_exception_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, Refusal):
        return refusal_response(request, exc)
    if isinstance(exc, ValidationException):
        if _sent_non_json(request):
            return refusal_response(request, Refusal("request.unsupported_media_type"))
        return refusal_response(request, Refusal("request.invalid", detail=_validation_detail(exc)))
    if isinstance(exc, ClientException) and isinstance(exc.__cause__, SerializationException):
        # Litestar could not decode the body: it was not JSON at all, or broken JSON.
        if _sent_non_json(request):
            return refusal_response(request, Refusal("request.unsupported_media_type"))
        return refusal_response(
            request, Refusal("request.invalid", detail=f"the body is not valid JSON ({exc.detail})")
        )
    if isinstance(exc, NotAuthorizedException):
        return refusal_response(request, Refusal("auth.required"))
    if isinstance(exc, PermissionDeniedException):
        return refusal_response(request, Refusal("auth.forbidden"))
    if isinstance(exc, NotFoundException):
        return refusal_response(request, Refusal("request.not_found"))
    if isinstance(exc, MethodNotAllowedException):
        # RFC 9110 §15.5.6: a 405 lists the methods the resource has. Litestar's router
        # puts them on the exception (static files do not: they answer GET and HEAD).
        allowed = (exc.headers or {}).get("allow") or (exc.headers or {}).get("Allow")
        refused = refusal_response(request, Refusal("request.method_not_allowed"))
        refused.headers["Allow"] = allowed or "GET, HEAD"
        return refused
    if isinstance(exc, HTTPException):
        if exc.status_code == HTTP_415_UNSUPPORTED_MEDIA_TYPE:
            return refusal_response(request, Refusal("request.unsupported_media_type"))
        if exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
            return refusal_response(request, Refusal("request.too_large"))
        if exc.status_code < 500:
            if _sent_non_json(request):
                return refusal_response(request, Refusal("request.unsupported_media_type"))
            return refusal_response(request, Refusal("request.invalid", detail=str(exc.detail)))
    # Input the handlers did not bound reaching the database: the client's mistake, not
    # a crash. Logged, because a handler should have refused it with a clearer code.
    if isinstance(exc, OverflowError):  # SQLite cannot bind integers beyond 64 bits
        log.warning("number out of range on %s %s: %s", request.method, request.url.path, exc)
        too_big = Refusal("request.invalid", detail="a number is out of range")
        return refusal_response(request, too_big)
    if isinstance(exc, DataError):  # PostgreSQL: out of range, too long, bad value
        log.warning("data error on %s %s: %s", request.method, request.url.path, exc.orig)
        return refusal_response(request, Refusal("request.invalid", detail="a value does not fit"))
    if isinstance(exc, IntegrityError):
        log.warning("integrity error on %s %s: %s", request.method, request.url.path, exc.orig)
        return refusal_response(request, Refusal("request.conflict"))
    if isinstance(exc, OperationalError):
        # A connection the database dropped, or SQLite still busy after its timeout: the
        # transaction was rolled back, so a retry with the same Idempotency-Key is safe.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                    exc.orig)
        return refusal_response(request, Refusal("server.unavailable"))
    if isinstance(exc, RecursionError) and "deserializ" in str(exc):
        # msgspec refuses JSON nested deeper than Python's recursion limit ([[[[...]]]]).
        too_deep = Refusal("request.invalid", detail="the JSON body is nested too deeply")
        return refusal_response(request, too_deep)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return refusal_response(request, Refusal("server.error"))


async def allow_every_method(message: Message, scope: Scope) -> None:
    """``before_send``: the ``Allow`` of an automatic ``OPTIONS`` answer lists every method
    of the path. Litestar builds that answer for the first handler registered on a path
    and keeps it when a second one joins (``GET`` and ``POST /events`` answered
    ``Allow: GET, OPTIONS``); the route that was finally built knows them all."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    state = scope["app"].state
    methods: dict[str, str] | None = state.get("allow_by_path")
    if methods is None:
        methods = state["allow_by_path"] = {
            route.path_format: ", ".join(sorted(route.methods))
            for route in scope["app"].routes if isinstance(route, HTTPRoute)
        }
    allow = methods.get(scope.get("path_template", ""))
    if allow is not None and message["status"] == 204:
        headers = [(k, v) for k, v in message["headers"] if k.lower() != b"allow"]
        message["headers"] = [*headers, (b"allow", allow.encode())]


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    Refusal: http_exception_handler,
    HTTPException: http_exception_handler,
    Exception: http_exception_handler,
}
