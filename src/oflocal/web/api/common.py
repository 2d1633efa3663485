"""Small pieces every API module uses."""

from __future__ import annotations

from datetime import date
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from litestar import Request, Response
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from oflocal.auth.service import Actor
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, Outcome, check_key, request_hash
from oflocal.web.security import current_actor

STAFF = ("admin", "desk", "treasurer")
ADMIN = ("admin",)
DESK = ("admin", "desk")
MONEY = ("admin", "treasurer")
WORKSHOP = ("workshop",)

MAX_ID = 2**31 - 1  # ids are INTEGER columns; anything outside is not an id of ours


class RequestBody(BaseModel):
    """Every JSON body the API reads.

    * A field the model does not know is refused (422 naming it), so a typo such as
      ``"participate": false`` never passes unnoticed; the OpenAPI document says
      ``additionalProperties: false`` (``web.openapi``).
    * JSON types are taken as they are (issue 8): money, counts and ids are JSON
      integers, flags JSON booleans, dates strings. Pydantic's lax mode would take
      ``true`` as 1, ``"100"``, ``" 100 "`` or ``100.0`` as 100, ``"true"`` as a yes and
      ``0`` as 1 January 1970; ``Field(strict=True)`` cannot prevent it here, because
      Litestar validates bodies with ``model_validate(strict=False)``, which overrides
      it. :meth:`_json_types` runs first for every field, from the annotation alone, so
      a new model is covered without remembering to.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _json_types(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or info.field_name is None:
            return value  # optional fields: Pydantic decides whether null is allowed
        kind = json_kind(cls.model_fields[info.field_name].annotation)
        if isinstance(kind, tuple) and isinstance(value, list):
            for n, item in enumerate(value, 1):
                if not _is(kind[0], item):
                    raise ValueError(f"item {n} must be {_NAMES[kind[0]]}, not {_json(item)}")
        elif isinstance(kind, str) and not _is(kind, value):
            raise ValueError(f"must be {_NAMES[kind]}, not {_json(value)}")
        return value


_NAMES = {"integer": "a JSON integer", "boolean": "true or false",
          "string": "a string (ISO 8601)"}
Kind = str | tuple[str] | None


def json_kind(annotation: Any) -> Kind:
    """The JSON type a field's annotation needs: ``"integer"``, ``"boolean"``,
    ``"string"`` for dates, ``("integer",)`` for a list of them, or None (no check)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return json_kind(get_args(annotation)[0])
    if origin in (Union, UnionType):
        kinds = {json_kind(a) for a in get_args(annotation) if _bare(a) is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if origin is Literal:
        values = get_args(annotation)
        return "integer" if all(type(v) is int for v in values) else None
    if origin is list:
        inner = json_kind(get_args(annotation)[0])
        return (inner,) if isinstance(inner, str) else None
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    if annotation is AwareDatetime or (isinstance(annotation, type)
                                       and issubclass(annotation, date)):  # datetime too
        return "string"
    return None


def _bare(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:  # SkipJsonSchema[None] is Annotated[None, …]
        annotation = get_args(annotation)[0]
    return type(None) if annotation is None else annotation


def _is(kind: str, value: Any) -> bool:
    if kind == "integer":
        return type(value) is int  # not a bool (an int subclass), not 1.0, not "1"
    if kind == "boolean":
        return type(value) is bool
    return isinstance(value, str)


def _json(value: Any) -> str:
    """How the client wrote it, in JSON words: ``a string``, ``true``, ``a number``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number with a decimal point" if isinstance(value, float) else "an integer"
    return "an array" if isinstance(value, list) else "an object"


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# Not only whitespace (what ``str.strip()`` removes): a name or a reason must say something.
# A pattern, so the server and the OpenAPI document apply the very same rule.
NOT_BLANK = (r"[^\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029"
             r"\u202F\u205F\u3000]")


def actor_of(request: Request[Any, Any, Any]) -> Actor:
    actor = current_actor(request)
    if actor is None:  # the roles guard ran already; this is defence in depth
        raise Refusal("auth.required")
    return actor


def idempotency(request: Request[Any, Any, Any], actor: Actor, *parts: Any) -> IdempotencyKey:
    key = check_key(request.headers.get("idempotency-key"))
    return IdempotencyKey(actor.scope, key, request_hash(request.url.path, *parts))


def answer(outcome: Outcome) -> Response[Any]:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return Response(outcome.body, status_code=outcome.status, headers=headers)
