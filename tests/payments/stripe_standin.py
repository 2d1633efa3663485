"""A local stand-in for the few Stripe API endpoints oflocal uses, for the tests.

A threaded HTTP server on 127.0.0.1 that the real ``stripe`` client is pointed at
(``OFLOCAL_STRIPE_API_BASE``). It implements, the way Stripe documents them:

* ``POST /v1/payment_intents`` (card; konbini confirmed at once with its voucher),
  ``GET /v1/payment_intents/{id}``, ``GET /v1/payment_intents`` (``created[gte]``,
  ``limit``, ``starting_after``, newest first), with ``expand[]`` of
  ``latest_charge.balance_transaction`` (and ``data.`` for lists);
* ``POST /v1/refunds``, ``GET /v1/refunds/{id}``;
* the ``Idempotency-Key`` header on POSTs: the same key and parameters replay the first
  answer (``Idempotent-Replayed: true``); the same key with other parameters is an
  ``idempotency_error`` (400);
* ``Authorization: Bearer`` checked against the test key; Stripe's error body shape.

What happens at Stripe's end is driven from the test: :meth:`StripeStandIn.pay`,
:meth:`decline`, :meth:`expire`, :meth:`fail_refund`; each records the events Stripe
would send (``payment_intent.succeeded`` …) in :attr:`StripeStandIn.events`, and
:meth:`signed` turns one into a webhook request body and ``Stripe-Signature`` header
signed with the test secret (``t=…,v1=HMAC-SHA256(secret, "t.body")``). Every request
is logged in :attr:`requests` (method, path, host, idempotency key).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")
API_KEY = "sk_test_standin_0123456789"
PUBLISHABLE_KEY = "pk_test_standin_0123456789"  # what pages hand Stripe.js (never sent here)
WEBHOOK_SECRET = "whsec_standin_0123456789abcdef"
FEE_RATE = 0.036  # what the stand-in charges, rounded down


class StripeFailure(Exception):
    def __init__(self, status: int, type_: str, message: str, code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "message": message, "code": code,
                               "param": param}}


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracketed form keys (``a[b][0]=v``, ``a[]=v``) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part or str(len(node)), {})
        node[parts[-1] or str(len(node))] = value
    result: dict[str, Any] = _lists(root)
    return result


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class StripeStandIn:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.balance_transactions: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.idempotency: dict[str, tuple[str, int, bytes]] = {}
        self.clock_offset = 0.0  # seconds added to the real time
        self.refund_status = "succeeded"  # or "pending"
        self.drop_next = 0  # process the next N POSTs, then close without answering
        self.fail_next = 0  # answer the next N requests 500 without processing
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    # --- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StripeStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def now(self) -> int:
        return int(time.time() + self.clock_offset)

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for r in self.requests
                   if r["method"] == method and r["path"].startswith(path_prefix))

    # --- what happens at Stripe ------------------------------------------------------

    def pay(self, pi_id: str, *, fee: int | None = None, balance: bool = True) -> dict[str, Any]:
        """The supporter pays (card confirmed, konbini paid at the till)."""
        with self.lock:
            pi = self.intents[pi_id]
            if pi["status"] == "succeeded":
                raise AssertionError("already paid")
            if pi["status"] == "requires_payment_method" and "konbini" in pi[
                    "payment_method_types"] and pi["last_payment_error"]:
                raise AssertionError("an expired konbini voucher cannot be paid")
            txn_id = None
            if balance:
                txn_id = _id("txn")
                self.balance_transactions[txn_id] = {
                    "id": txn_id, "object": "balance_transaction", "amount": pi["amount"],
                    "currency": "jpy", "created": self.now(), "type": "charge",
                    "fee": int(pi["amount"] * FEE_RATE) if fee is None else fee,
                    "net": pi["amount"] - (int(pi["amount"] * FEE_RATE) if fee is None else fee),
                }
            ch_id = _id("ch")
            charge = {
                "id": ch_id, "object": "charge", "amount": pi["amount"], "currency": "jpy",
                "created": self.now(), "paid": True, "status": "succeeded",
                "amount_refunded": 0, "refunded": False, "payment_intent": pi_id,
                "balance_transaction": txn_id, "metadata": dict(pi["metadata"]),
            }
            self.charges[ch_id] = charge
            pi.update(status="succeeded", amount_received=pi["amount"], latest_charge=ch_id,
                      next_action=None, last_payment_error=None)
            self._event("charge.succeeded", charge)
            return self._event("payment_intent.succeeded", pi)

    def decline(self, pi_id: str) -> dict[str, Any]:
        with self.lock:
            pi = self.intents[pi_id]
            pi.update(status="requires_payment_method", last_payment_error={
                "type": "card_error", "code": "card_declined", "message": "declined"})
            return self._event("payment_intent.payment_failed", pi)

    def expire(self, pi_id: str) -> dict[str, Any]:
        """A konbini voucher's last day passed unpaid."""
        with self.lock:
            pi = self.intents[pi_id]
            assert "konbini" in pi["payment_method_types"] and pi["status"] == "requires_action"
            pi.update(status="requires_payment_method", next_action=None, last_payment_error={
                "type": "invalid_request_error",
                "code": "payment_intent_payment_attempt_expired",
                "message": "The konbini voucher expired."})
            return self._event("payment_intent.payment_failed", pi)

    def fail_refund(self, re_id: str, kind: str = "refund.failed") -> dict[str, Any]:
        """The refund failed (the card was closed): also after it had succeeded, which
        Stripe reports as ``charge.refund.updated``."""
        with self.lock:
            refund = self.refunds[re_id]
            refund.update(status="failed", failure_reason="expired_or_canceled_card")
            charge = self.charges[refund["charge"]]
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False
            return self._event(kind, refund)

    def _event(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": _id("evt"), "object": "event", "api_version": "2025-01-01",
            "created": self.now(), "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": kind,
            "data": {"object": copy.deepcopy(obj)},
        }
        self.events.append(event)
        return event

    def events_for(self, pi_id: str) -> list[dict[str, Any]]:
        def names(event: dict[str, Any]) -> bool:
            obj = event["data"]["object"]
            return pi_id in (obj.get("id"), obj.get("payment_intent"))

        return [e for e in self.events if names(e)]

    @staticmethod
    def signed(event: dict[str, Any], *, secret: str = WEBHOOK_SECRET,
               timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """A webhook delivery: the raw body and the Stripe-Signature header."""
        body = json.dumps(event, separators=(",", ": "), indent=2).encode()
        t = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return body, {"Stripe-Signature": f"t={t},v1={mac}",
                      "Content-Type": "application/json; charset=utf-8"}

    # --- the API ---------------------------------------------------------------------

    def _create_intent(self, p: dict[str, Any]) -> dict[str, Any]:
        try:
            amount = int(p["amount"])
        except (KeyError, ValueError):
            raise StripeFailure(400, "invalid_request_error", "Missing required param: amount.",
                                "parameter_missing", "amount") from None
        if p.get("currency") != "jpy":
            raise StripeFailure(400, "invalid_request_error", "Only jpy here.",
                                "parameter_invalid_string", "currency")
        if amount < 50:
            raise StripeFailure(400, "invalid_request_error", "Amount must be at least ¥50",
                                "amount_too_small", "amount")
        types = p.get("payment_method_types") or ["card"]
        if any(t not in ("card", "konbini") for t in types):
            raise StripeFailure(400, "invalid_request_error", "Unsupported method.",
                                "payment_method_type_invalid", "payment_method_types")
        pi_id = _id("pi")
        pi: dict[str, Any] = {
            "id": pi_id, "object": "payment_intent", "amount": amount, "amount_received": 0,
            "currency": "jpy", "status": "requires_payment_method", "created": self.now(),
            "client_secret": f"{pi_id}_secret_{secrets.token_hex(8)}",
            "description": p.get("description"), "metadata": p.get("metadata") or {},
            "payment_method_types": types,
            "payment_method_options": p.get("payment_method_options") or {},
            "next_action": None, "last_payment_error": None, "latest_charge": None,
            "payment_method": None, "livemode": False, "canceled_at": None,
        }
        if p.get("confirm") == "true":
            if types != ["konbini"]:
                raise StripeFailure(400, "invalid_request_error",
                                    "The stand-in confirms konbini only.")
            data = p.get("payment_method_data") or {}
            billing = data.get("billing_details") or {}
            if data.get("type") != "konbini" or not billing.get("name") or not billing.get(
                    "email"):
                raise StripeFailure(400, "invalid_request_error",
                                    "Konbini needs billing_details name and email.",
                                    "parameter_missing", "payment_method_data[billing_details]")
            days = int(((p.get("payment_method_options") or {}).get("konbini") or {}).get(
                "expires_after_days", 3))
            if not 1 <= days <= 60:
                raise StripeFailure(400, "invalid_request_error", "expires_after_days: 1 to 60",
                                    "parameter_invalid_integer",
                                    "payment_method_options[konbini][expires_after_days]")
            today = datetime.fromtimestamp(self.now(), TOKYO).date()
            last = today + timedelta(days=days)
            expires = datetime(last.year, last.month, last.day, 23, 59, 59, tzinfo=TOKYO)
            stores = {s: {"confirmation_number": f"{secrets.randbelow(10**11):011d}",
                          "payment_code": f"{secrets.randbelow(10**6):06d}"}
                      for s in ("familymart", "lawson", "ministop", "seicomart")}
            pi.update(status="requires_action", payment_method=_id("pm"), next_action={
                "type": "konbini_display_details",
                "konbini_display_details": {
                    "expires_at": int(expires.timestamp()),
                    "hosted_voucher_url": f"{self.url}/vouchers/{pi_id}",
                    "stores": stores,
                },
            })
        self.intents[pi_id] = pi
        self._event("payment_intent.created", pi)
        if pi["status"] == "requires_action":
            self._event("payment_intent.requires_action", pi)
        return pi

    def _create_refund(self, p: dict[str, Any]) -> dict[str, Any]:
        pi = self.intents.get(p.get("payment_intent", ""))
        if pi is None:
            raise StripeFailure(404, "invalid_request_error", "No such payment_intent",
                                "resource_missing", "payment_intent")
        if pi["status"] != "succeeded":
            raise StripeFailure(400, "invalid_request_error", "Not paid.",
                                "charge_not_refundable")
        if "konbini" in pi["payment_method_types"]:
            raise StripeFailure(400, "invalid_request_error",
                                "Konbini payments cannot be refunded.", "charge_not_refundable")
        charge = self.charges[pi["latest_charge"]]
        left = charge["amount"] - charge["amount_refunded"]
        amount = int(p.get("amount", left))
        if amount > left:
            raise StripeFailure(400, "invalid_request_error",
                                f"Refund amount (¥{amount}) is greater than unrefunded amount "
                                f"on charge (¥{left})", "amount_too_large", "amount")
        re_id = _id("re")
        refund = {
            "id": re_id, "object": "refund", "amount": amount, "currency": "jpy",
            "charge": charge["id"], "payment_intent": pi["id"], "created": self.now(),
            "status": self.refund_status, "failure_reason": None,
            "metadata": p.get("metadata") or {},
        }
        self.refunds[re_id] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._event("refund.created", refund)
        self._event("charge.refunded", charge)
        return refund

    def _expand(self, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        for path in paths:
            node: Any = out
            for part in path.split("."):
                if not isinstance(node, dict) or part not in node:
                    break
                value = node[part]
                if isinstance(value, str):
                    found = (self.charges.get(value) or self.balance_transactions.get(value)
                             or self.intents.get(value) or self.refunds.get(value))
                    if found is not None:
                        node[part] = copy.deepcopy(found)
                node = node[part]
        return out

    def _list_intents(self, q: dict[str, Any]) -> dict[str, Any]:
        since = int((q.get("created") or {}).get("gte", 0))
        limit = int(q.get("limit", 10))
        expand = [p.removeprefix("data.") for p in q.get("expand", []) if p.startswith("data.")]
        found = sorted((pi for pi in self.intents.values() if pi["created"] >= since),
                       key=lambda pi: (pi["created"], pi["id"]), reverse=True)
        after = q.get("starting_after")
        if after:
            ids = [pi["id"] for pi in found]
            found = found[ids.index(after) + 1:] if after in ids else []
        page = found[:limit]
        return {"object": "list", "url": "/v1/payment_intents", "has_more": len(found) > limit,
                "data": [self._expand(pi, expand) for pi in page]}

    def route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        expand = params.get("expand") or []
        if method == "POST" and path == "/v1/payment_intents":
            return self._create_intent(params)
        if method == "GET" and path == "/v1/payment_intents":
            return self._list_intents(params)
        if method == "GET" and (m := re.fullmatch(r"/v1/payment_intents/([\w]+)", path)):
            pi = self.intents.get(m.group(1))
            if pi is None:
                raise StripeFailure(404, "invalid_request_error", "No such payment_intent",
                                    "resource_missing", "id")
            return self._expand(pi, expand)
        if method == "POST" and path == "/v1/refunds":
            return self._create_refund(params)
        if method == "GET" and (m := re.fullmatch(r"/v1/refunds/([\w]+)", path)):
            refund = self.refunds.get(m.group(1))
            if refund is None:
                raise StripeFailure(404, "invalid_request_error", "No such refund",
                                    "resource_missing", "id")
            return copy.deepcopy(refund)
        raise StripeFailure(404, "invalid_request_error", f"Unrecognized request URL ({path})")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # one write per answer (no Nagle/delayed-ACK stall)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, replayed: bool = False) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Request-Id", _id("req"))
                if replayed:
                    self.send_header("Idempotent-Replayed", "true")
                self.end_headers()
                self.wfile.write(body)

            def _serve(self, method: str) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                pairs = parse_qsl(split.query if method == "GET" else raw,
                                  keep_blank_values=True)
                key = self.headers.get("Idempotency-Key")
                with standin.lock:
                    standin.requests.append({
                        "method": method, "path": split.path, "key": key,
                        "host": self.headers.get("Host"),
                        "telemetry": self.headers.get("X-Stripe-Client-Telemetry"),
                    })
                    if standin.fail_next:
                        standin.fail_next -= 1
                        body = json.dumps({"error": {"type": "api_error",
                                                     "message": "stand-in outage"}}).encode()
                        self._answer(500, body)
                        return
                    if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                        failure = StripeFailure(401, "invalid_request_error",
                                                "Invalid API Key provided")
                        self._answer(401, json.dumps(failure.body).encode())
                        return
                    fingerprint = f"{method} {split.path} {sorted(pairs)}"
                    if method == "POST" and key and key in standin.idempotency:
                        first, status, body = standin.idempotency[key]
                        if first != fingerprint:
                            failure = StripeFailure(
                                400, "idempotency_error",
                                "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with.")
                            self._answer(400, json.dumps(failure.body).encode())
                        else:
                            self._answer(status, body, replayed=True)
                        return
                    try:
                        status, answer = 200, standin.route(method, split.path,
                                                            decode_form(pairs))
                    except StripeFailure as failure:
                        status, answer = failure.status, failure.body
                    body = json.dumps(answer).encode()
                    if method == "POST" and key:
                        standin.idempotency[key] = (fingerprint, status, body)
                    if method == "POST" and standin.drop_next:
                        standin.drop_next -= 1
                        self.close_connection = True  # processed; the answer is lost
                        return
                self._answer(status, body)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler


@contextmanager
def running() -> Iterator[StripeStandIn]:
    standin = StripeStandIn().start()
    try:
        yield standin
    finally:
        standin.stop()


def tokyo(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC).astimezone(TOKYO)
