"""The idempotency store's own rules, on both databases."""

from __future__ import annotations

from backends import through_pgbouncer
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, _keep_refusal


@through_pgbouncer
def test_a_first_refusal_is_stored_as_first_and_a_second_finds_it(db: Database) -> None:
    """The INSERT … ON CONFLICT DO NOTHING must report whether it inserted: PostgreSQL's
    driver answered -1 rows until the statement asked SQLAlchemy to keep the count, so
    every first refusal was read back and answered as a replay (one query more)."""
    idem = IdempotencyKey("staff:1", "refused-once", "hash")
    refusal = Refusal("request.invalid", detail="x")
    with db.write() as session:
        assert _keep_refusal(db, session, idem, refusal) is None  # recorded: the first
        again = _keep_refusal(db, session, idem, refusal)
        assert again is not None and again.status_code == 422
