"""a close holds only its own event's redemptions (PostgreSQL)

Revision ID: 0009
Revises: 0008

Until now a close took ``LOCK TABLE redemption IN SHARE MODE``: the redemptions of every
event waited for it. Now each event has its own lock, a transaction-level advisory lock
on (``EVENT_LOCK_SPACE``, event id): a close takes it exclusively, a redemption or an
undo shares it (settlement/membership.py). Advisory locks queue fairly, like the table
lock did, and end with the transaction, so they also work through PgBouncer in
transaction mode.

``oflocal_open_period(event)`` is what a redemption's INSERT reads its open period from
on PostgreSQL: it takes the event's lock (shared) first and then reads the number in a
statement of its own, so the number is read after any close of the event committed;
the INSERT's own snapshot may be older than that. VOLATILE: a fresh snapshot for each
statement inside it. SQLite keeps the plain subquery: one writer at a time there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 1868983395 = 0x6F666C63 ("oflc"), the first key of every event's settlement lock: the
# same number as oflocal.settlement.membership.EVENT_LOCK_SPACE (migrations do not
# import app code; tests/test_settlement_inflight.py checks they agree).
OPEN_PERIOD_FUNCTION = (
    "CREATE FUNCTION oflocal_open_period(for_event integer) RETURNS integer AS $$ BEGIN "
    "PERFORM pg_advisory_xact_lock_shared(1868983395, for_event); "
    "RETURN (SELECT e.open_period FROM event e WHERE e.id = for_event); "
    "END $$ LANGUAGE plpgsql VOLATILE"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(OPEN_PERIOD_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION oflocal_open_period(integer)")
