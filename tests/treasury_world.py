"""A small event for the treasurer's-entries tests: booklets sold for cash and by bank
transfer, so both the cash drawer and the bank account hold money."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from PIL import Image
from sqlalchemy import func, select

from oflocal.db.engine import Database
from oflocal.demo import build_event
from oflocal.ledger.models import Account, Posting
from oflocal.vouchers.codes import CodeSigner
from oflocal.vouchers.desk import sell_booklets


@dataclass
class TreasuryWorld:
    db: Database
    event_id: int
    programme_id: int


def make_treasury_world(db: Database, signer: CodeSigner, slug: str = "tr") -> TreasuryWorld:
    with db.write() as session:
        sc = build_event(session, signer, slug=slug, workshops=2, booklets=4)
    sell_booklets(db, signer, programme_id=sc.programme_id, codes=sc.booklet_codes[:2],
                  payment_method="cash", actor="desk")
    sell_booklets(db, signer, programme_id=sc.programme_id, codes=sc.booklet_codes[2:3],
                  payment_method="bank", actor="desk")
    return TreasuryWorld(db, sc.event_id, sc.programme_id)


def balance(db: Database, event_id: int, code: str) -> int:
    with db.read() as session:
        return int(session.execute(
            select(func.coalesce(func.sum(Posting.amount), 0))
            .join(Account, Account.id == Posting.account_id)
            .where(Account.event_id == event_id, Account.code == code)).scalar_one())


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
