"""The shared test server's handle: its URL and the demo data the tests draw from."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import bindparam, text

from oflocal.db.engine import Database
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets


@dataclass
class LiveServer:
    url: str
    db: Database
    signer: CodeSigner
    programme_id: int
    workshop_names: list[str]
    booklets: list[str]
    _next_booklet: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take_booklets(self, n: int) -> list[str]:
        """Unsold booklets no other test has used."""
        with self._lock:
            start = self._next_booklet
            self._next_booklet += n
        return self.booklets[start : start + n]

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
