"""Small pieces every API module uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response
from pydantic import BaseModel
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
