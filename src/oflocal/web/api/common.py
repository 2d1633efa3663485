"""Small pieces every API module uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from litestar import Request, Response
from litestar.params import Parameter
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import to_jsonable_python
from sqlalchemy.orm import Session

from oflocal.auth.service import Actor
from oflocal.errors import Refusal
from oflocal.idempotency.store import (
    IdempotencyKey,
    Outcome,
    check_key,
    request_hash,
    run_once,
)
from oflocal.web.security import current_actor
from oflocal.web.state import services

STAFF = ("admin", "desk", "treasurer")
ADMIN = ("admin",)
DESK = ("admin", "desk")
MONEY = ("admin", "treasurer")
WORKSHOP = ("workshop",)

# Every route that changes money or state declares how it takes an Idempotency-Key, in
# its opt: "required" where a retry without one could move money twice, "optional"
# elsewhere. tests/test_idempotent_routes.py walks the routes and holds them to it.
KEY_REQUIRED = "required"
KEY_OPTIONAL = "optional"

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

# Path parameters: one definition each, so every route says the same about an id.
EventId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Event id")]
WorkshopId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Workshop id")]
ProgrammeId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Voucher programme id")]
PeriodId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Settlement period id")]
JobId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Print job id")]
TokenId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="API token id")]
# Not only whitespace (what ``str.strip()`` removes): a name or a reason must say something.
# A pattern, so the server and the OpenAPI document apply the very same rule.
NOT_BLANK = (r"[^\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029"
             r"\u202F\u205F\u3000]")


def actor_of(request: Request[Any, Any, Any]) -> Actor:
    actor = current_actor(request)
    if actor is None:  # the roles guard ran already; this is defence in depth
        raise Refusal("auth.required")
    return actor


def idempotency(request: Request[Any, Any, Any], actor: Actor,
                *parts: Any) -> IdempotencyKey | None:
    """The request's key, as its route declares (``opt["idempotency"]``). ``parts`` say
    what the request asks for: the same key with other parts is ``key_reused``. Leave
    secrets (passwords, PINs) out of them: the hash is stored."""
    mode = request.route_handler.opt.get("idempotency")
    assert mode in (KEY_REQUIRED, KEY_OPTIONAL), f"{request.url.path} declares no idempotency"
    sent = request.headers.get("idempotency-key")
    if sent is None and mode == KEY_OPTIONAL:
        return None
    return IdempotencyKey(actor.scope, check_key(sent), request_hash(request.url.path, *parts))


def csv_media_type(codec: str) -> str:
    """``text/csv`` with the charset of a codec from ``reports.csvout.encoding_of``."""
    return "text/csv; charset=utf-8" if codec == "utf-8-sig" else "text/csv; charset=Shift_JIS"


def download_headers(media_type: str, filename: str) -> dict[str, str]:
    """The headers of every file download (CSV, Zengin, PDF, Excel).

    Content-Type is set here rather than left to Litestar, which appends
    ``; charset=utf-8`` to any ``text/`` media type it is given: a CSV's own charset
    came out doubled (``text/csv; charset=utf-8; charset=utf-8``), or contradicted for
    Shift_JIS.
    """
    return {
        "Content-Type": media_type,
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",  # money figures: never from a shared cache
    }


def answer(outcome: Outcome) -> Response[Any]:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return Response(outcome.body, status_code=outcome.status, headers=headers)


def once(request: Request[Any, Any, Any], work: Callable[[], BaseModel | dict[str, Any]],
         *parts: Any) -> Response[Any]:
    """Run a state-changing service at most once per Idempotency-Key.

    ``work`` calls the service as usual; its ``db.write()`` joins the transaction that
    :func:`run_once` opened (see ``db.engine.Database``), so the change and the key's
    first outcome commit together, and a retry gets that outcome back."""
    def run(_session: Session) -> dict[str, Any]:
        result = work()
        body = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        return dict(to_jsonable_python(body))

    idem = idempotency(request, actor_of(request), *parts)
    status = request.route_handler.status_code or 200
    return answer(run_once(services(request.app.state).db, idem, run, status=status))
