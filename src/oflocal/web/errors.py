"""One error shape for the whole API: ``{"code", "message", "message_ja", "message_en",
"detail"}`` with the right HTTP status. Pages render the same messages as HTML."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE, HTTP_415_UNSUPPORTED_MEDIA_TYPE

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
        return page(request, refusal)
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
                parts.append(f"{where}: {item.get('message', '')}".strip(": "))
        if parts:
            return "; ".join(parts)
    return str(exc.detail)


def http_exception_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, Refusal):
        return refusal_response(request, exc)
    if isinstance(exc, ValidationException):
        detail = _validation_detail(exc)
        sent = request.headers.get("content-type", "")
        if request.url.path.startswith("/api/") and sent and "json" not in sent:
            return refusal_response(request, Refusal("request.unsupported_media_type"))
        return refusal_response(request, Refusal("request.invalid", detail=detail))
    if isinstance(exc, NotAuthorizedException):
        return refusal_response(request, Refusal("auth.required"))
    if isinstance(exc, PermissionDeniedException):
        return refusal_response(request, Refusal("auth.forbidden"))
    if isinstance(exc, NotFoundException):
        return refusal_response(request, Refusal("request.not_found"))
    if isinstance(exc, MethodNotAllowedException):
        return refusal_response(request, Refusal("request.method_not_allowed"))
    if isinstance(exc, HTTPException):
        if exc.status_code == HTTP_415_UNSUPPORTED_MEDIA_TYPE:
            return refusal_response(request, Refusal("request.unsupported_media_type"))
        if exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
            return refusal_response(request, Refusal("request.too_large"))
        if exc.status_code < 500:
            return refusal_response(request, Refusal("request.invalid", detail=str(exc.detail)))
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return refusal_response(request, Refusal("server.error"))


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    Refusal: http_exception_handler,
    HTTPException: http_exception_handler,
    Exception: http_exception_handler,
}
