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


def answer(outcome: Outcome) -> Response[Any]:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return Response(outcome.body, status_code=outcome.status, headers=headers)
