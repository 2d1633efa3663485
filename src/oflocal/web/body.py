"""A bound on how long a client may take to send its request body.

uvicorn times out idle keep-alive connections but not a body that stops half-way: a
client announcing ``Content-Length: 1000`` and sending 17 bytes would keep its request
waiting until it gives up, and its disconnect then surfaced as Litestar's
``InternalServerException`` ("client disconnected prematurely"), logged as
``server.error`` with a traceback. Anyone could fill the error log that way.

:class:`BodyTimeoutMiddleware` wraps ``receive`` while the body is being read:

* the whole body must arrive within ``timeout`` seconds of the app asking for it, or
  the request is refused with ``request.body_timeout`` (408, connection closed);
* a client that disconnects mid-body is refused with ``request.body_incomplete`` (it
  will never read the answer).

Both are the client's fault: one WARNING line each, no traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from oflocal.errors import Refusal

log = logging.getLogger("oflocal.web")


class BodyTimeoutMiddleware:
    """Pure ASGI middleware; add with ``DefineMiddleware(BodyTimeoutMiddleware, timeout=…)``."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        reading = _BodyReading(scope, receive, send, self.timeout)
        await self.app(scope, reading.receive, reading.send)


class _BodyReading:
    """One request's body, read against one deadline."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, timeout: float) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.timeout = timeout
        self.deadline: float | None = None
        self.received = 0
        # Once the body is complete or the answer has started, receive() only waits for
        # http.disconnect (streaming responses listen for it): no deadline then.
        self.done = False
        self.timed_out = False

    async def receive(self) -> ReceiveMessage:
        if self.done:
            return await self._receive()
        if self.deadline is None:
            self.deadline = anyio.current_time() + self.timeout
        try:
            with anyio.fail_after(max(self.deadline - anyio.current_time(), 0)):
                message = await self._receive()
        except TimeoutError:
            self.done = self.timed_out = True
            self._client_fault(f"body not received within {self.timeout:g} s; answered 408")
            raise Refusal("request.body_timeout", seconds=self.timeout) from None
        if message["type"] == "http.disconnect":
            self.done = True
            self._client_fault("connection closed before the whole body arrived")
            raise Refusal("request.body_incomplete") from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.done = True
            if self.timed_out:
                # The rest of the body may still come: do not read it as the next request.
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
        await self._send(message)

    def _client_fault(self, what: str) -> None:
        client: Any = self.scope.get("client") or ("?", 0)
        announced = _header(self.scope, b"content-length") or "?"
        log.warning(
            "client fault on %s %s from %s: %s (%d of %s bytes)",
            self.scope.get("method"), self.scope["path"], client[0], what, self.received,
            announced,
        )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None
