"""settlement: periods, frozen lines and tallies, corrections, event settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 12:00:00

Columns are added with plain ``ALTER TABLE ... ADD COLUMN`` on both databases (SQLite
does that natively): a batch "move and copy" of ``redemption`` would drop the guard
triggers installed by 0001.  Guards installed here (DESIGN.md "What must never happen"):

- settlement lines and tallies are append-only;
- a period is never deleted; it changes only from closed to paid, once;
- a redemption is settled at most once, never while undone, and never undone once
  settled; a correction is settled at most once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# (column DDL) added to event; every check names only its own column.
_EVENT_COLUMNS = (
    "zengin_requester_code VARCHAR(10)",
    "zengin_requester_kana VARCHAR(200)",
    "payer_bank_code VARCHAR(4)",
    "payer_branch_code VARCHAR(3)",
    "payer_account_type INTEGER CONSTRAINT ck_event_payer_acct_type"
    " CHECK (payer_account_type IS NULL OR payer_account_type IN (1, 2, 9))",
    "payer_account_number VARCHAR(7)",
    "fee_rule VARCHAR(10) DEFAULT 'none' NOT NULL CONSTRAINT ck_event_fee_rule"
    " CHECK (fee_rule IN ('none', 'rate', 'fixed'))",
    "fee_rate_bp INTEGER DEFAULT 0 NOT NULL CONSTRAINT ck_event_fee_rate"
    " CHECK (fee_rate_bp >= 0 AND fee_rate_bp <= 10000)",
    "fee_fixed_yen INTEGER DEFAULT 0 NOT NULL CONSTRAINT ck_event_fee_fixed"
    " CHECK (fee_fixed_yen >= 0)",
    "fee_rounding VARCHAR(5) DEFAULT 'floor' NOT NULL CONSTRAINT ck_event_fee_rounding"
    " CHECK (fee_rounding IN ('floor', 'round', 'ceil'))",
)


def upgrade() -> None:
    op.create_table('settlement_period',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('cutoff_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('previous_cutoff_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('fee_rule', sa.String(length=10), nullable=False),
    sa.Column('fee_rate_bp', sa.Integer(), nullable=False),
    sa.Column('fee_fixed_yen', sa.Integer(), nullable=False),
    sa.Column('fee_rounding', sa.String(length=5), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_by', sa.String(length=60), nullable=False),
    sa.Column('transfer_date', sa.Date(), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_by', sa.String(length=60), nullable=True),
    sa.CheckConstraint("status IN ('closed', 'paid')", name=op.f('ck_settlement_period_status')),
    sa.CheckConstraint("(status = 'paid') = (transfer_date IS NOT NULL)", name=op.f('ck_settlement_period_paid_has_date')),
    sa.CheckConstraint("fee_rule IN ('none', 'rate', 'fixed')", name=op.f('ck_settlement_period_fee_rule')),
    sa.CheckConstraint("fee_rounding IN ('floor', 'round', 'ceil')", name=op.f('ck_settlement_period_fee_rounding')),
    sa.CheckConstraint('fee_rate_bp >= 0 AND fee_rate_bp <= 10000 AND fee_fixed_yen >= 0', name=op.f('ck_settlement_period_fee')),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_settlement_period_event_id_event')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_period')),
    sa.UniqueConstraint('event_id', 'number', name=op.f('uq_settlement_period_event_id_number')),
    sa.UniqueConstraint('event_id', 'cutoff_at', name=op.f('uq_settlement_period_event_id_cutoff_at')),
    )
    op.create_index(op.f('ix_settlement_period_event_id'), 'settlement_period', ['event_id'])

    op.create_table('settlement_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('workshop_id', sa.Integer(), nullable=False),
    sa.Column('ticket_count', sa.Integer(), nullable=False),
    sa.Column('face_total', sa.BigInteger(), nullable=False),
    sa.Column('adjustment', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('net', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('ticket_count >= 0 AND face_total >= 0 AND fee >= 0', name=op.f('ck_settlement_line_amounts')),
    sa.CheckConstraint('fee <= face_total', name=op.f('ck_settlement_line_fee_within_face')),
    sa.CheckConstraint('net = face_total + adjustment - fee AND net >= 0', name=op.f('ck_settlement_line_net')),
    sa.ForeignKeyConstraint(['period_id'], ['settlement_period.id'], name=op.f('fk_settlement_line_period_id_settlement_period')),
    sa.ForeignKeyConstraint(['workshop_id'], ['workshop.id'], name=op.f('fk_settlement_line_workshop_id_workshop')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_line')),
    sa.UniqueConstraint('period_id', 'workshop_id', name=op.f('uq_settlement_line_period_id_workshop_id')),
    )
    op.create_index(op.f('ix_settlement_line_period_id'), 'settlement_line', ['period_id'])
    op.create_index(op.f('ix_settlement_line_workshop_id'), 'settlement_line', ['workshop_id'])

    op.create_table('settlement_tally',
    sa.Column('id', _ID, nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('workshop_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('denomination', sa.Integer(), nullable=False),
    sa.Column('ticket_count', sa.Integer(), nullable=False),
    sa.Column('face_total', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('ticket_count > 0 AND face_total > 0', name=op.f('ck_settlement_tally_amounts')),
    sa.ForeignKeyConstraint(['period_id'], ['settlement_period.id'], name=op.f('fk_settlement_tally_period_id_settlement_period')),
    sa.ForeignKeyConstraint(['workshop_id'], ['workshop.id'], name=op.f('fk_settlement_tally_workshop_id_workshop')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_tally')),
    sa.UniqueConstraint('period_id', 'workshop_id', 'day', 'denomination', name=op.f('uq_settlement_tally_period_id_workshop_id_day_denomination')),
    )

    op.create_table('settlement_correction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('workshop_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('counter_account', sa.String(length=60), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('redemption_id', _ID, nullable=True),
    sa.Column('entry_id', _ID, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=60), nullable=False),
    sa.Column('settlement_period_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount <> 0', name=op.f('ck_settlement_correction_nonzero')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entry.id'], name=op.f('fk_settlement_correction_entry_id_journal_entry')),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_settlement_correction_event_id_event')),
    sa.ForeignKeyConstraint(['redemption_id'], ['redemption.id'], name=op.f('fk_settlement_correction_redemption_id_redemption')),
    sa.ForeignKeyConstraint(['settlement_period_id'], ['settlement_period.id'], name=op.f('fk_settlement_correction_settlement_period_id_settlement_period')),
    sa.ForeignKeyConstraint(['workshop_id'], ['workshop.id'], name=op.f('fk_settlement_correction_workshop_id_workshop')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_correction')),
    sa.UniqueConstraint('redemption_id', 'workshop_id', name=op.f('uq_settlement_correction_redemption_id_workshop_id')),
    )
    op.create_index(op.f('ix_settlement_correction_event_id'), 'settlement_correction', ['event_id'])
    op.create_index(op.f('ix_settlement_correction_entry_id'), 'settlement_correction', ['entry_id'])

    for column in _EVENT_COLUMNS:
        op.execute(f"ALTER TABLE event ADD COLUMN {column}")
    # Closing a period sets settlement_period_id on every redemption it takes, up to a
    # million rows in one UPDATE. Three choices keep that fast on PostgreSQL:
    # - no index mentions the column and pages keep room (fillfactor 50), so the update
    #   is HOT: the new row version stays on its page and no index is touched;
    # - no foreign key: its check would run once per row (about 8 µs each). The close
    #   sets the column only to the period it has just inserted, periods are never
    #   deleted (trigger below), and `ledger verify` checks every settled redemption
    #   against its period's frozen line;
    # - the redemption guards are AFTER triggers with WHEN clauses (below): a legal
    #   update neither locks the row for a BEFORE trigger nor calls a function.
    existing = {c['name'] for c in sa.inspect(op.get_bind()).get_columns('redemption')}
    if 'settlement_period_id' not in existing:  # a SQLite downgrade leaves it behind
        op.execute("ALTER TABLE redemption ADD COLUMN settlement_period_id INTEGER")
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE redemption SET (fillfactor = 50)")
    install_guards()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_DROP if dialect == 'sqlite' else POSTGRES_DROP:
        op.execute(statement)
    if dialect != 'sqlite':
        # SQLite refuses DROP COLUMN on a foreign key column and a batch copy would lose
        # 0001's redemption triggers: there the column stays, unused and NULL.
        op.execute("ALTER TABLE redemption DROP COLUMN settlement_period_id")
    for column in reversed(_EVENT_COLUMNS):
        op.execute(f"ALTER TABLE event DROP COLUMN {column.split()[0]}")
    op.drop_table('settlement_correction')
    op.drop_table('settlement_tally')
    op.drop_table('settlement_line')
    op.drop_table('settlement_period')


# --- Guards the database enforces itself ------------------------------------------------

_APPEND_ONLY = ("settlement_line", "settlement_tally")
_REDEMPTION_FROZEN = (  # as in 0001
    "ticket_id", "workshop_id", "programme_id", "amount", "entry_id", "redeemed_at",
)
_PERIOD_FROZEN = (
    "event_id", "number", "cutoff_at", "previous_cutoff_at", "fee_rule", "fee_rate_bp",
    "fee_fixed_yen", "fee_rounding", "closed_at", "closed_by",
)
_CORRECTION_FROZEN = (
    "event_id", "workshop_id", "amount", "counter_account", "reason", "redemption_id",
    "entry_id", "created_at", "created_by",
)


def _changed(columns: Sequence[str], sqlite: bool) -> str:
    op_ = "IS NOT" if sqlite else "IS DISTINCT FROM"
    return " OR ".join(f"NEW.{c} {op_} OLD.{c}" for c in columns)


SQLITE_GUARDS = [
    *(
        f"CREATE TRIGGER {t}_no_update BEFORE UPDATE ON {t} "
        f"BEGIN SELECT RAISE(ABORT, 'oflocal: {t} rows are append-only'); END"
        for t in _APPEND_ONLY
    ),
    *(
        f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} "
        f"BEGIN SELECT RAISE(ABORT, 'oflocal: {t} rows are never deleted'); END"
        for t in (*_APPEND_ONLY, "settlement_period", "settlement_correction")
    ),
    "CREATE TRIGGER settlement_period_moves BEFORE UPDATE ON settlement_period "  # noqa: S608
    f"WHEN NOT (OLD.status = 'closed' AND NEW.status = 'paid') OR {_changed(_PERIOD_FROZEN, True)} "
    "BEGIN SELECT RAISE(ABORT, 'oflocal: a settlement period only goes from closed to paid, once'); END",
    "CREATE TRIGGER settlement_correction_settled_once BEFORE UPDATE ON settlement_correction "
    f"WHEN OLD.settlement_period_id IS NOT NULL OR {_changed(_CORRECTION_FROZEN, True)} "
    "BEGIN SELECT RAISE(ABORT, 'oflocal: a correction is settled once and never rewritten'); END",
    "CREATE TRIGGER redemption_settled_once BEFORE UPDATE OF settlement_period_id ON redemption "
    "WHEN OLD.settlement_period_id IS NOT NULL OR OLD.undone_at IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'oflocal: a redemption is settled at most once, and never when undone'); END",
    "CREATE TRIGGER redemption_settled_no_undo BEFORE UPDATE OF undone_at ON redemption "
    "WHEN OLD.settlement_period_id IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'oflocal: a settled redemption cannot be undone'); END",
]

SQLITE_DROP = [
    *(f"DROP TRIGGER IF EXISTS {t}_no_update" for t in _APPEND_ONLY),
    *(
        f"DROP TRIGGER IF EXISTS {t}_no_delete"
        for t in (*_APPEND_ONLY, "settlement_period", "settlement_correction")
    ),
    "DROP TRIGGER IF EXISTS settlement_period_moves",
    "DROP TRIGGER IF EXISTS settlement_correction_settled_once",
    "DROP TRIGGER IF EXISTS redemption_settled_once",
    "DROP TRIGGER IF EXISTS redemption_settled_no_undo",
]

POSTGRES_GUARDS = [
    # oflocal_refuse() comes from 0001.
    *(
        f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
        "FOR EACH ROW EXECUTE FUNCTION oflocal_refuse()"
        for t in _APPEND_ONLY
    ),
    *(
        f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
        "FOR EACH STATEMENT EXECUTE FUNCTION oflocal_refuse()"
        for t in (*_APPEND_ONLY, "settlement_period", "settlement_correction")
    ),
    *(
        f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} "
        "FOR EACH ROW EXECUTE FUNCTION oflocal_refuse()"
        for t in ("settlement_period", "settlement_correction")
    ),
    """CREATE FUNCTION oflocal_settlement_refuse() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'oflocal: % (%)', TG_ARGV[0], TG_TABLE_NAME; END
    $$ LANGUAGE plpgsql""",
    # WHEN clauses are evaluated without calling a function: a legal update costs nothing.
    "CREATE TRIGGER settlement_period_moves BEFORE UPDATE ON settlement_period FOR EACH ROW "
    f"WHEN (NOT (OLD.status = 'closed' AND NEW.status = 'paid') OR {_changed(_PERIOD_FROZEN, False)}) "
    "EXECUTE FUNCTION oflocal_settlement_refuse('a settlement period only goes from closed to paid, once')",
    "CREATE TRIGGER settlement_correction_settled_once BEFORE UPDATE ON settlement_correction "
    f"FOR EACH ROW WHEN (OLD.settlement_period_id IS NOT NULL OR {_changed(_CORRECTION_FROZEN, False)}) "
    "EXECUTE FUNCTION oflocal_settlement_refuse('a correction is settled once and never rewritten')",
    # AFTER, not BEFORE: a BEFORE ROW trigger makes PostgreSQL lock (and WAL-log) every
    # row an UPDATE touches, even when its WHEN clause is false; an AFTER trigger whose
    # WHEN is false costs nothing. Raising in it still aborts the whole statement.
    "CREATE TRIGGER redemption_settled_once AFTER UPDATE ON redemption FOR EACH ROW "
    "WHEN (NEW.settlement_period_id IS DISTINCT FROM OLD.settlement_period_id "
    "AND (OLD.settlement_period_id IS NOT NULL OR OLD.undone_at IS NOT NULL)) "
    "EXECUTE FUNCTION oflocal_settlement_refuse('a redemption is settled at most once, and never when undone')",
    "CREATE TRIGGER redemption_settled_no_undo AFTER UPDATE ON redemption FOR EACH ROW "
    "WHEN (OLD.settlement_period_id IS NOT NULL AND NEW.undone_at IS DISTINCT FROM OLD.undone_at) "
    "EXECUTE FUNCTION oflocal_settlement_refuse('a settled redemption cannot be undone')",
]

# 0001's guard refuses the same changes, but as an AFTER trigger with a WHEN clause: its
# function is called only for a change it refuses, and no row is locked for it.
_PG_GUARD_WHEN = (
    " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _REDEMPTION_FROZEN)
    + " OR (OLD.undone_at IS NOT NULL AND NEW.undone_at IS DISTINCT FROM OLD.undone_at)"
)
POSTGRES_GUARDS += [
    "DROP TRIGGER redemption_guard ON redemption",
    "CREATE TRIGGER redemption_guard AFTER UPDATE ON redemption FOR EACH ROW "
    f"WHEN ({_PG_GUARD_WHEN}) EXECUTE FUNCTION oflocal_redemption_guard()",
]

POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS redemption_settled_once ON redemption",
    "DROP TRIGGER IF EXISTS redemption_settled_no_undo ON redemption",
    "DROP FUNCTION IF EXISTS oflocal_settlement_refuse() CASCADE",
    "DROP TRIGGER redemption_guard ON redemption",
    "CREATE TRIGGER redemption_guard BEFORE UPDATE ON redemption "
    "FOR EACH ROW EXECUTE FUNCTION oflocal_redemption_guard()",
    "ALTER TABLE redemption RESET (fillfactor)",
]


def install_guards() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_GUARDS if dialect == 'sqlite' else POSTGRES_GUARDS:
        op.execute(statement)
