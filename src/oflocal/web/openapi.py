"""The OpenAPI document says what the server does (issue 8, item 5).

Two pieces, both registered in ``web.app.create_app`` and nowhere else:

* :class:`RequestSchemas` writes every request body (a :class:`RequestBody`) from the
  model's own Pydantic JSON schema, so the document carries exactly the rules the server
  validates: ``additionalProperties: false``, patterns, limits inside lists, ``oneOf``.
  (Litestar's own rendering drops patterns, item limits and ``extra="forbid"``.)
* :class:`ApiContract` completes every ``/api/v1`` operation as it is registered:

  - the error answers the route can give, all with the one error body of
    ``web.errors`` and the codes of ``errors.MESSAGES`` for each status (see
    :func:`error_statuses` for which statuses a route has);
  - downloads under their real media types, as binary strings (``opt["download"]``);
  - the ``Idempotency-Key`` header where the route takes one (``opt["idempotency"]``,
    the same declaration the server enforces and docs/api.md's route table shows);
  - a body the handler defaults (``data: X | None = None``) is not required;
  - ``Last-Modified`` of a file answer is an HTTP-date, not an ISO date-time.

tests/test_openapi_contract.py runs schemathesis against the app to keep it so.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
)
from litestar.openapi.spec import RequestBody as RequestBodySpec
from litestar.plugins import OpenAPISchemaPlugin, ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from litestar.typing import FieldDefinition

from oflocal.errors import MESSAGES
from oflocal.web.api.common import RequestBody

API_PREFIX = "/api/"
PDF = "application/pdf"
CSV_UTF8 = "text/csv; charset=utf-8"
CSV_SJIS = "text/csv; charset=Shift_JIS"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON = "application/json"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENCY_KEY_PATTERN = "^[!-~]{1,200}$"  # idempotency.store.check_key: printable ASCII


# ------------------------------------------------------------------ request bodies


class RequestSchemas(OpenAPISchemaPlugin):
    """Request bodies as Pydantic validates them (Litestar's rendering loses rules)."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return isinstance(value, type) and issubclass(value, RequestBody)

    def to_openapi_schema(self, field_definition: FieldDefinition,
                          schema_creator: Any) -> Schema:
        model: type[RequestBody] = field_definition.annotation
        raw = model.model_json_schema(mode="validation")
        built = to_schema(_inline(raw, raw.get("$defs", {})))
        # Registered like Litestar's own models, so the body is a $ref to a component.
        schema: Schema = schema_creator.schema_registry.get_schema_for_field_definition(
            field_definition
        )
        for f in fields(Schema):
            setattr(schema, f.name, getattr(built, f.name))
        return schema


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Replace ``#/$defs/X`` references by their schema (request models are small)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


_BY_ALIAS = {f.metadata.get("alias", f.name): f.name for f in fields(Schema)}
_SUBSCHEMA = {"not", "items", "if", "then", "else", "contains", "additionalProperties",
              "propertyNames"}
_SUBSCHEMAS = {"allOf", "anyOf", "oneOf", "prefixItems"}


def to_schema(raw: dict[str, Any]) -> Schema:
    """A JSON Schema (2020-12, as Pydantic writes it) as Litestar's :class:`Schema`."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "title" and "properties" not in raw:
            continue  # "Slug", "Price": Pydantic's field titles add nothing to the names
        name = _BY_ALIAS.get(key)
        if name is None:
            continue
        if key in _SUBSCHEMA and isinstance(value, dict):
            value = to_schema(value)
        elif key in _SUBSCHEMAS:
            value = [to_schema(v) for v in value]
        elif key == "properties":
            value = {k: to_schema(v) for k, v in value.items()}
        elif key == "type":
            value = ([OpenAPIType(v) for v in value] if isinstance(value, list)
                     else OpenAPIType(value))
        elif key == "format":
            value = OpenAPIFormat(value)
        values[name] = value
    return Schema(**values)


# -------------------------------------------------------------------- error answers


def error_body(status: int) -> Schema:
    """The one error body, its ``code`` limited to the catalogue's codes of ``status``."""
    codes = sorted(code for code, m in MESSAGES.items() if m.status == status)
    text = Schema(type=OpenAPIType.STRING)
    return Schema(
        type=OpenAPIType.OBJECT,
        required=["code", "message", "message_ja", "message_en", "detail"],
        properties={
            "code": Schema(type=OpenAPIType.STRING, enum=codes,
                           description="Stable code from the catalogue (docs/api.md)"),
            "message": Schema(type=OpenAPIType.STRING,
                              description="In the request's language (ja by default)"),
            "message_ja": text,
            "message_en": text,
            "detail": Schema(type=OpenAPIType.OBJECT,
                             description="The facts the message was made from"),
        },
    )


def error_response(status: int) -> OpenAPIResponse:
    codes = sorted(code for code, m in MESSAGES.items() if m.status == status)
    return OpenAPIResponse(
        description="Refused: " + ", ".join(f"`{c}`" for c in codes),
        content={JSON: OpenAPIMediaType(schema=error_body(status))},
    )


def idempotency_use(handler: HTTPRouteHandler) -> str | None:
    """``"required"``, ``"optional"`` or None: what the route declares
    (``opt["idempotency"]``), which is what ``web.api.common.idempotency`` enforces."""
    use = handler.opt.get("idempotency")
    return str(use) if use is not None else None


def error_statuses(handler: HTTPRouteHandler, method: str, has_parameters: bool) -> set[int]:
    """What a route may answer besides success, from what it is:

    * every API route: 401 (a bearer token that is unknown or revoked is refused on every
      route), 500 (a bug; logged) and 503 (the database is unavailable);
    * a route with roles: 403 (the role, or the CSRF token of a cookie session);
    * a route with parameters or a body: 404 (the thing named does not exist) and 422;
    * a write: 409 (a state or database rule), 413 and 415 (the body), 408 and 400
      (a body that arrives too slowly or not at all: ``web.body``);
    * a route reading an ``Idempotency-Key``: 400 (missing or malformed);
    * and what ``opt["refuses"]`` names besides (e.g. a GET that can be blocked, 409).
    """
    statuses = {401, 500, 503}
    if handler.opt.get("roles") is not None:
        statuses.add(403)
    if has_parameters or method in UNSAFE:
        statuses |= {404, 422}
    if method in UNSAFE:
        statuses |= {400, 408, 409, 413, 415}
    if idempotency_use(handler) is not None:
        statuses.add(400)
    statuses |= {MESSAGES[code].status for code in handler.opt.get("refuses", ())}
    return statuses


# ------------------------------------------------------------------------ operations


def _binary(media_type: str) -> OpenAPIMediaType:
    return OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING,
                                          content_media_type=media_type.split(";")[0]))


def complete(operation: Operation, handler: HTTPRouteHandler, method: str) -> None:
    """Finish one API operation in place (see the module docstring)."""
    parameters: list[Parameter | Reference] = list(operation.parameters or [])
    use = idempotency_use(handler)
    named = {p.name.lower() for p in parameters if isinstance(p, Parameter)}
    if use is not None and "idempotency-key" not in named:
        parameters.append(Parameter(
            name="Idempotency-Key", param_in="header", required=use == "required",
            description="Chosen by the client, new for each operation, reused only to "
                        "retry it (1 to 200 printable ASCII characters without spaces)",
            schema=Schema(type=OpenAPIType.STRING, pattern=IDEMPOTENCY_KEY_PATTERN),
        ))
    operation.parameters = parameters or None

    body = handler.parsed_fn_signature.parameters.get("data")
    request_body = operation.request_body
    if isinstance(request_body, RequestBodySpec) and body is not None and body.has_default:
        request_body.required = False  # e.g. a close without a body: now

    responses = dict(operation.responses or {})
    success = {k: v for k, v in responses.items() if k.startswith(("2", "3"))}
    if downloads := handler.opt.get("download"):
        for key, response in success.items():
            if isinstance(response, OpenAPIResponse):
                content = dict(response.content or {})
                kept = {JSON: content[JSON]} if JSON in downloads and JSON in content else {}
                kept.update({m: _binary(m) for m in downloads if m != JSON})
                response.content = kept
                success[key] = response
    for response in success.values():
        header = (response.headers or {}).get("last-modified") if isinstance(
            response, OpenAPIResponse) else None
        if isinstance(header, OpenAPIHeader) and isinstance(header.schema, Schema):
            header.schema.format = None  # "Mon, 07 Dec 2026 10:29:22 GMT" (RFC 9110)
            header.description = "When the file was last changed, an HTTP-date"
    has_parameters = bool(parameters) or body is not None
    # Litestar's own 400 "ValidationException" body is not what this server sends.
    errors = {str(s): error_response(s)
              for s in sorted(error_statuses(handler, method, has_parameters))}
    operation.responses = {**success, **errors}


class ApiContract(ReceiveRoutePlugin):
    """Completes each ``/api/`` operation as its route is registered (one mechanism)."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(API_PREFIX):
            return
        for method, (handler, _) in route.route_handler_map.items():
            if method in ("HEAD", "OPTIONS"):
                continue
            handler.operation_class = _operation_class(handler, method)


def _operation_class(handler: HTTPRouteHandler, method: str) -> type[Operation]:
    class ApiOperation(Operation):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            complete(self, handler, method)

    return ApiOperation
