"""Sample booklets for proofs: real layout and workshops, codes the server refuses."""

from __future__ import annotations

import secrets

from oflocal.printing.faces import BookletFace, TicketFace, WorkshopFace
from oflocal.vouchers.codes import CodeSigner


def sample_booklets(
    programme_id: int, denominations: list[int], workshops: list[WorkshopFace], count: int = 1
) -> list[BookletFace]:
    """Booklets signed with a throwaway key: they look real but can never be redeemed."""
    throwaway = CodeSigner(secrets.token_bytes(32))
    booklets = []
    for b in range(count):
        tickets = tuple(
            TicketFace(
                serial=b * len(denominations) + i + 1,
                code=throwaway.make("T", programme_id, b * len(denominations) + i + 1),
                denomination=amount,
                workshop=workshops[(b * len(denominations) + i) % len(workshops)]
                if workshops
                else None,
            )
            for i, amount in enumerate(denominations)
        )
        booklets.append(BookletFace(b + 1, throwaway.make("B", programme_id, b + 1), tickets))
    return booklets
