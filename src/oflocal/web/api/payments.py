"""Payment provider webhooks: ``POST /api/v1/payments/stripe/webhook``.

The body is read **raw** and handed to the provider untouched: the ``Stripe-Signature``
is an HMAC of the exact bytes, so nothing may parse (and re-serialise) the JSON before
it is verified. The route is public (Stripe has no account here) and takes no
``Idempotency-Key``: the provider's event id is the key, recorded once by the domain
(``provider_event``, unique), so a duplicate delivery answers 200 and changes nothing.

* 200: verified and handled, duplicates and events that need nothing included;
* 400 ``payment.signature_invalid``: wrong, missing or stale signature; nothing changed;
* 503 ``payment.provider_unavailable``: the payment could not be re-read at the provider;
  Stripe delivers the event again later;
* 422 ``payment.method_unavailable``: Stripe is off on this server.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from litestar import Request, Router, post
from pydantic import BaseModel

from oflocal.crowdfunding.provider_payments import handle_stripe_webhook
from oflocal.web.errors import require_json_body
from oflocal.web.state import services

# What the idempotency convention (web/api/common.py) is told about this route: not a
# client's key, the provider's event id (tests/test_idempotent_routes.py EXEMPT).
PROVIDER_EVENT = "provider_event"


class WebhookAnswer(BaseModel):
    event_id: str
    type: str
    duplicate: bool
    outcome: str
    pledge_id: int | None = None
    refund_id: int | None = None


@post("/payments/stripe/webhook", status_code=200,
      opt={"idempotent_by": PROVIDER_EVENT,
           "refuses": ("payment.signature_invalid", "payment.provider_unavailable",
                       "payment.method_unavailable")})
async def stripe_webhook(request: Request[Any, Any, Any]) -> WebhookAnswer:
    """A Stripe event (``Stripe-Signature`` on the raw body). The payment it names is
    re-read at Stripe and recorded once by its event id; duplicates answer 200."""
    raw = await request.body()  # the exact bytes the signature covers
    s = services(request.app.state)
    headers = {k.lower(): v for k, v in request.headers.items()}
    result = await to_thread.run_sync(handle_stripe_webhook, s.db, s.settings, raw, headers)
    return WebhookAnswer(**result.as_json())


router = Router(path="/", route_handlers=[stripe_webhook], tags=["payments"],
                before_request=require_json_body)
