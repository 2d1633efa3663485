"""settlement by open period: closing a period writes nothing per redemption

Revision ID: 0004
Revises: 0003

0002 gave each redemption to a period by setting ``redemption.settlement_period_id``
in the close, one row at a time (about 9 µs a row: 9 s for a million). Now every
redemption copies the event's open period number when it is written, and belongs to
the first period from that number whose cut-off is at or after its time
(settlement/membership.py). Closing only counts.

Upgrade: ``event.open_period`` = last period number + 1; each redemption's
``open_period`` = the number of the period it was settled in, or the event's open
period if unsettled, so every redemption stays exactly where it was. Downgrade
writes ``settlement_period_id`` back from the same rule.

Guards (DESIGN.md "What must never happen"):

- a redemption is written with its event's open period, and the copy never changes;
- a settled redemption is never undone (the check follows the rule above);
- a period is numbered the event's open period, one after the last, with the last
  cut-off as its previous one and a later cut-off; the open period only moves on by
  one, and only past a period that exists.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EVENT_OF_REDEMPTION = (
    "SELECT e.open_period FROM event e JOIN programme p ON p.event_id = e.id "
    "WHERE p.id = NEW.programme_id"
)
_SETTLED = (  # OLD is a redemption
    "EXISTS (SELECT 1 FROM settlement_period sp JOIN programme p ON p.event_id = sp.event_id "
    "WHERE p.id = OLD.programme_id AND sp.number >= OLD.open_period "
    "AND sp.cutoff_at >= OLD.redeemed_at)"
)
_BAD_PERIOD = (  # NEW is a settlement period
    "NEW.number IS NOT (SELECT open_period FROM event WHERE id = NEW.event_id) "
    "OR NEW.previous_cutoff_at IS NOT (SELECT cutoff_at FROM settlement_period "
    "WHERE event_id = NEW.event_id AND number = NEW.number - 1) "
    "OR NEW.cutoff_at <= NEW.previous_cutoff_at"
)
_BAD_MOVE = (  # OLD and NEW are the event
    "NEW.open_period IS NOT OLD.open_period + 1 OR NOT EXISTS (SELECT 1 FROM "
    "settlement_period WHERE event_id = OLD.id AND number = OLD.open_period)"
)


def _pg(sql: str) -> str:
    return sql.replace(" IS NOT ", " IS DISTINCT FROM ")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(
        "ALTER TABLE event ADD COLUMN open_period INTEGER DEFAULT 1 NOT NULL "
        "CONSTRAINT ck_event_open_period CHECK (open_period >= 1)"
    )
    op.execute(
        "UPDATE event SET open_period = 1 + COALESCE("
        "(SELECT MAX(number) FROM settlement_period sp WHERE sp.event_id = event.id), 0)"
    )
    op.execute(
        "ALTER TABLE redemption ADD COLUMN open_period INTEGER DEFAULT 1 NOT NULL "
        "CONSTRAINT ck_redemption_open_period CHECK (open_period >= 1)"
    )
    op.execute(
        "UPDATE redemption SET open_period = COALESCE("
        "(SELECT number FROM settlement_period sp WHERE sp.id = redemption.settlement_period_id),"
        " (SELECT e.open_period FROM event e JOIN programme p ON p.event_id = e.id"
        "  WHERE p.id = redemption.programme_id))"
    )
    for statement in _DROP_0002[dialect]:
        op.execute(statement)
    op.execute("ALTER TABLE redemption DROP COLUMN settlement_period_id")
    if dialect == "postgresql":
        # Rows are no longer rewritten by a close: pack new pages full again, and let a
        # redemption without its open period fail (SQLite cannot drop a default; there
        # the insert guard refuses a wrong copy).
        op.execute("ALTER TABLE redemption RESET (fillfactor)")
        op.execute("ALTER TABLE redemption ALTER COLUMN open_period DROP DEFAULT")
    for statement in SQLITE_GUARDS if dialect == "sqlite" else POSTGRES_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_DROP if dialect == "sqlite" else POSTGRES_DROP:
        op.execute(statement)
    op.execute("ALTER TABLE redemption ADD COLUMN settlement_period_id INTEGER")
    op.execute(
        "UPDATE redemption SET settlement_period_id = (SELECT sp.id FROM settlement_period sp"
        " JOIN programme p ON p.event_id = sp.event_id WHERE p.id = redemption.programme_id"
        " AND sp.number >= redemption.open_period AND sp.cutoff_at >= redemption.redeemed_at"
        " ORDER BY sp.number LIMIT 1) WHERE undone_at IS NULL"
    )
    for statement in _RESTORE_0002[dialect]:
        op.execute(statement)
    if dialect == "postgresql":
        op.execute("ALTER TABLE redemption SET (fillfactor = 50)")
    op.execute("ALTER TABLE redemption DROP COLUMN open_period")
    op.execute("ALTER TABLE event DROP COLUMN open_period")


# 0002's triggers on redemption.settlement_period_id, dropped and (on downgrade) restored.
_DROP_0002 = {
    "sqlite": [
        "DROP TRIGGER redemption_settled_once",
        "DROP TRIGGER redemption_settled_no_undo",
    ],
    "postgresql": [
        "DROP TRIGGER redemption_settled_once ON redemption",
        "DROP TRIGGER redemption_settled_no_undo ON redemption",
    ],
}
_RESTORE_0002 = {
    "sqlite": [
        "CREATE TRIGGER redemption_settled_once BEFORE UPDATE OF settlement_period_id ON "
        "redemption WHEN OLD.settlement_period_id IS NOT NULL OR OLD.undone_at IS NOT NULL "
        "BEGIN SELECT RAISE(ABORT, 'oflocal: a redemption is settled at most once, and never "
        "when undone'); END",
        "CREATE TRIGGER redemption_settled_no_undo BEFORE UPDATE OF undone_at ON redemption "
        "WHEN OLD.settlement_period_id IS NOT NULL "
        "BEGIN SELECT RAISE(ABORT, 'oflocal: a settled redemption cannot be undone'); END",
    ],
    "postgresql": [
        "CREATE TRIGGER redemption_settled_once AFTER UPDATE ON redemption FOR EACH ROW "
        "WHEN (NEW.settlement_period_id IS DISTINCT FROM OLD.settlement_period_id "
        "AND (OLD.settlement_period_id IS NOT NULL OR OLD.undone_at IS NOT NULL)) "
        "EXECUTE FUNCTION oflocal_settlement_refuse('a redemption is settled at most once, "
        "and never when undone')",
        "CREATE TRIGGER redemption_settled_no_undo AFTER UPDATE ON redemption FOR EACH ROW "
        "WHEN (OLD.settlement_period_id IS NOT NULL AND NEW.undone_at IS DISTINCT FROM "
        "OLD.undone_at) EXECUTE FUNCTION oflocal_settlement_refuse('a settled redemption "
        "cannot be undone')",
    ],
}

_COPIED = "a redemption is written with its event''s open settlement period"
_SETTLED_UNDO = "a settled redemption cannot be undone"
_NUMBERED = (
    "a settlement period is numbered the open period, follows the last cut-off and ends later"
)
_MOVES = "the open settlement period only moves on by one, past a closed period"

SQLITE_GUARDS = [
    "CREATE TRIGGER redemption_open_period_copied BEFORE INSERT ON redemption "
    f"WHEN NEW.open_period IS NOT ({_EVENT_OF_REDEMPTION}) "
    f"BEGIN SELECT RAISE(ABORT, 'oflocal: {_COPIED}'); END",
    "CREATE TRIGGER redemption_open_period_frozen BEFORE UPDATE OF open_period ON redemption "
    "BEGIN SELECT RAISE(ABORT, 'oflocal: a redemption is never rewritten'); END",
    f"CREATE TRIGGER redemption_settled_no_undo BEFORE UPDATE OF undone_at ON redemption "
    f"WHEN {_SETTLED} BEGIN SELECT RAISE(ABORT, 'oflocal: {_SETTLED_UNDO}'); END",
    f"CREATE TRIGGER settlement_period_numbered BEFORE INSERT ON settlement_period "
    f"WHEN {_BAD_PERIOD} BEGIN SELECT RAISE(ABORT, 'oflocal: {_NUMBERED}'); END",
    f"CREATE TRIGGER event_open_period_moves BEFORE UPDATE OF open_period ON event "
    f"WHEN {_BAD_MOVE} BEGIN SELECT RAISE(ABORT, 'oflocal: {_MOVES}'); END",
]
SQLITE_DROP = [
    "DROP TRIGGER redemption_open_period_copied",
    "DROP TRIGGER redemption_open_period_frozen",
    "DROP TRIGGER redemption_settled_no_undo",
    "DROP TRIGGER settlement_period_numbered",
    "DROP TRIGGER event_open_period_moves",
]


def _pg_check(name: str, condition: str, message: str, returns: str) -> str:
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
        f"IF {_pg(condition)} THEN RAISE EXCEPTION 'oflocal: {message}'; END IF; "
        f"RETURN {returns}; END $$ LANGUAGE plpgsql"
    )


# Functions are called only where a WHEN clause cannot say it (subqueries); the AFTER
# triggers with WHEN clauses cost nothing on the updates they allow (see 0002).
POSTGRES_GUARDS = [
    _pg_check(
        "oflocal_redemption_copied",
        f"NEW.open_period IS NOT ({_EVENT_OF_REDEMPTION})",
        _COPIED,
        "NEW",
    ),
    "CREATE TRIGGER redemption_open_period_copied BEFORE INSERT ON redemption "
    "FOR EACH ROW EXECUTE FUNCTION oflocal_redemption_copied()",
    "CREATE TRIGGER redemption_open_period_frozen AFTER UPDATE ON redemption FOR EACH ROW "
    "WHEN (NEW.open_period IS DISTINCT FROM OLD.open_period) "
    "EXECUTE FUNCTION oflocal_settlement_refuse('a redemption is never rewritten')",
    _pg_check("oflocal_redemption_settled_undo", _SETTLED, _SETTLED_UNDO, "NULL"),
    "CREATE TRIGGER redemption_settled_no_undo AFTER UPDATE ON redemption FOR EACH ROW "
    "WHEN (NEW.undone_at IS DISTINCT FROM OLD.undone_at) "
    "EXECUTE FUNCTION oflocal_redemption_settled_undo()",
    _pg_check("oflocal_period_numbered", _BAD_PERIOD, _NUMBERED, "NEW"),
    "CREATE TRIGGER settlement_period_numbered BEFORE INSERT ON settlement_period "
    "FOR EACH ROW EXECUTE FUNCTION oflocal_period_numbered()",
    _pg_check("oflocal_event_open_period_moves", _BAD_MOVE, _MOVES, "NULL"),
    "CREATE TRIGGER event_open_period_moves AFTER UPDATE ON event FOR EACH ROW "
    "WHEN (NEW.open_period IS DISTINCT FROM OLD.open_period) "
    "EXECUTE FUNCTION oflocal_event_open_period_moves()",
]
POSTGRES_DROP = [
    "DROP TRIGGER redemption_open_period_copied ON redemption",
    "DROP TRIGGER redemption_open_period_frozen ON redemption",
    "DROP TRIGGER redemption_settled_no_undo ON redemption",
    "DROP TRIGGER settlement_period_numbered ON settlement_period",
    "DROP TRIGGER event_open_period_moves ON event",
    "DROP FUNCTION oflocal_redemption_copied()",
    "DROP FUNCTION oflocal_redemption_settled_undo()",
    "DROP FUNCTION oflocal_period_numbered()",
    "DROP FUNCTION oflocal_event_open_period_moves()",
]
