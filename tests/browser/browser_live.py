"""What the browser tests share: a uvicorn server in a thread, pages that fail the test on
a script error, the staff login form, and the shared demo server's handle (its URL and
the demo data the tests draw from)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, text

from oflocal.db.engine import Database
from oflocal.events.models import Event
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets

DESKTOP = {"width": 1024, "height": 860}  # a desk PC
PHONE = {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """The app on a free 127.0.0.1 port, in a uvicorn thread; yields its base URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"oflocal-live-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def watched_page(context: Any) -> Iterator[Any]:
    """A page whose script errors and CSP violations fail the test (after it, when the
    generator is resumed: it closes the context, then checks)."""
    context.set_default_timeout(8000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text else None)
    yield page
    context.close()
    assert not problems, problems


def log_in(page: Any, username: str, password: str) -> None:
    """Send the staff login form (where the browser lands next is the caller's to check)."""
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@dataclass
class LiveServer:
    url: str
    db: Database
    signer: CodeSigner
    programme_id: int
    workshop_names: list[str]
    booklets: list[str]
    mailbox: Any = None  # mail_helpers.Handler: what the server's mail delivered
    _next_booklet: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take_booklets(self, n: int) -> list[str]:
        """Unsold booklets no other test has used."""
        with self._lock:
            start = self._next_booklet
            self._next_booklet += n
        return self.booklets[start : start + n]

    def mail_to(self, address: str, containing: str, timeout: float = 20.0) -> str:
        """The text of the newest message delivered to ``address`` whose text contains
        ``containing`` (waits for it: the workers send in the background)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for received in reversed(self.mailbox.received):
                if address not in received.recipients:
                    continue
                part = received.message.get_body(preferencelist=("plain",))
                text = str(part.get_content()) if part is not None else ""
                if containing in text:
                    return text
            time.sleep(0.1)
        raise AssertionError(f"no message to {address} with {containing!r} within {timeout} s")

    def sold_tickets(self, booklets: int = 1) -> list[str]:
        """Sell fresh booklets through the desk service and answer their ticket codes."""
        codes = self.take_booklets(booklets)
        sell_booklets(self.db, self.signer, programme_id=self.programme_id, codes=codes,
                      payment_method="cash", actor="test")
        with self.db.read() as session:
            return list(
                session.execute(
                    text(
                        "SELECT t.code FROM ticket t JOIN booklet b ON b.id = t.booklet_id "
                        "WHERE b.code IN :codes ORDER BY t.serial"
                    ).bindparams(bindparam("codes", expanding=True)),
                    {"codes": codes},
                ).scalars()
            )


def demo_event_with_account(server: LiveServer) -> int:
    """The shared server's demo event, with a committee account for transfers (campaigns
    cannot go live without one); an account set by another test is kept."""
    with server.db.write() as session:
        event = session.execute(select(Event).where(Event.slug == "demo")).scalar_one()
        event.zengin_requester_kana = event.zengin_requester_kana or "ｼﾞｯｺｳｲｲﾝｶｲ"
        event.payer_bank_code = event.payer_bank_code or "0152"
        event.payer_branch_code = event.payer_branch_code or "001"
        event.payer_account_type = event.payer_account_type or 1
        event.payer_account_number = event.payer_account_number or "7654321"
        return event.id
