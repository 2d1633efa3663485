"""Small pieces every API module uses."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from oflocal.auth.service import Actor
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, Outcome, check_key, request_hash
from oflocal.web.security import current_actor

STAFF = ("admin", "desk", "treasurer")
ADMIN = ("admin",)
DESK = ("admin", "desk")
MONEY = ("admin", "treasurer")
WORKSHOP = ("workshop",)


def actor_of(request: Request[Any, Any, Any]) -> Actor:
    actor = current_actor(request)
    if actor is None:  # the roles guard ran already; this is defence in depth
        raise Refusal("auth.required")
    return actor


def idempotency(request: Request[Any, Any, Any], actor: Actor, *parts: Any) -> IdempotencyKey:
    key = check_key(request.headers.get("idempotency-key"))
    return IdempotencyKey(actor.scope, key, request_hash(request.url.path, *parts))


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
