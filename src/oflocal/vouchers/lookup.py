"""Turning what was scanned or typed into trusted codes, before touching the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.vouchers.codes import CodeFormatError, CodeSigner, Kind, parse
from oflocal.vouchers.models import Booklet, Programme, Sale, Ticket


def authentic_codes(signer: CodeSigner, texts: list[str], kind: Kind, *, limit: int) -> list[str]:
    """Canonical codes in the order given; refuses malformed, mistyped, forged or repeated."""
    empty, duplicate = ("redemption.empty", "redemption.duplicate_code")
    if kind == "B":
        empty, duplicate = ("sale.empty", "sale.duplicate_code")
    if not texts:
        raise Refusal(empty)
    if len(texts) > limit:
        raise Refusal("redemption.too_many" if kind == "T" else "sale.limit_exceeded", limit=limit)
    seen: set[str] = set()
    codes = []
    for text in texts:
        shown = text[:40]
        try:
            parsed = parse(text)
        except CodeFormatError as error:
            raise Refusal(f"code.{error.reason}", code=shown) from None
        if parsed.kind != kind:
            raise Refusal("code.not_a_ticket" if kind == "T" else "code.not_a_booklet", code=shown)
        if not signer.is_authentic(parsed):
            raise Refusal("code.unknown", code=parsed.code)
        if parsed.code in seen:
            raise Refusal(duplicate, code=parsed.code)
        seen.add(parsed.code)
        codes.append(parsed.code)
    return codes


@dataclass(frozen=True)
class BookletFacts:
    """What staff see before voiding or reprinting a booklet (read only)."""

    code: str
    serial: int
    programme_id: int
    programme_name: str
    status: str  # printed / sold / voided
    tickets: int
    face_value: int  # yen, the tickets' face values added up
    tickets_used: int
    sold_at: datetime | None
    voided_at: datetime | None
    void_reason: str | None

    @property
    def voidable(self) -> bool:
        """Only unsold stock can be voided or reprinted: sold tickets are money."""
        return self.status == "printed"


def booklet_facts(db: Database, signer: CodeSigner, text: str) -> BookletFacts:
    """One booklet by its cover code; refuses what ``authentic_codes`` refuses."""
    (code,) = authentic_codes(signer, [text], "B", limit=1)
    with db.read() as session:
        row = session.execute(
            select(Booklet, Programme.name, Sale.sold_at)
            .join(Programme, Programme.id == Booklet.programme_id)
            .outerjoin(Sale, Sale.id == Booklet.sale_id)
            .where(Booklet.code == code)
        ).one_or_none()
        if row is None:
            raise Refusal("booklet.unknown", code=code)
        booklet, programme_name, sold_at = row
        tickets, face, used = session.execute(
            select(func.count(), func.coalesce(func.sum(Ticket.denomination), 0),
                   func.count().filter(Ticket.status == "redeemed"))
            .where(Ticket.booklet_id == booklet.id)
        ).one()
        return BookletFacts(
            code=code, serial=booklet.serial, programme_id=booklet.programme_id,
            programme_name=programme_name, status=booklet.status, tickets=int(tickets),
            face_value=int(face), tickets_used=int(used), sold_at=sold_at,
            voided_at=booklet.voided_at, void_reason=booklet.void_reason)
