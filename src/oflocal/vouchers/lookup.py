"""Turning what was scanned or typed into trusted codes, before touching the database."""

from __future__ import annotations

from oflocal.errors import Refusal
from oflocal.vouchers.codes import CodeFormatError, CodeSigner, Kind, parse


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
