"""crowdfunding: campaigns, returns, pledges, payments, refunds, provider events

Revision ID: 0011
Revises: 0010

The crowdfunding domain (oflocal/crowdfunding, docs/crowdfunding.md). What must never
happen is written into the schema: a return's ``claimed`` counter (the quantity its
reserved and paid pledges hold) cannot go above its limit; a pledge has at most one
payment and at most one refund, each payment posts one entry; a provider event is acted
on once. Existing events get the new standard account ``payment_fees`` (provider fees,
an expense), as new events do (ledger/accounts.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEES = ("payment_fees", "支払手数料 Payment provider fees", "expense")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ck(sql: str, name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(name))


def _when(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _entry_fk(name: str, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                     nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("story", sa.Text(), nullable=False),
        sa.Column("goal", sa.Integer(), nullable=False),
        _when("starts_at", False),
        _when("ends_at", False),
        sa.Column("funding_model", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("payment_days", sa.Integer(), nullable=False),
        sa.Column("payment_methods", sa.JSON(), nullable=False),
        sa.Column("seller", sa.String(length=200), nullable=False),
        sa.Column("representative", sa.String(length=120), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("phone_on_request", sa.Boolean(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("price_note", sa.Text(), nullable=False),
        sa.Column("extra_charges", sa.Text(), nullable=False),
        sa.Column("payment_terms", sa.Text(), nullable=False),
        sa.Column("delivery_terms", sa.Text(), nullable=False),
        sa.Column("cancellation_terms", sa.Text(), nullable=False),
        _when("created_at", False),
        _when("went_live_at"),
        _when("decided_at"),
        sa.Column("moved_to_income", sa.Integer(), nullable=False),
        sa.Column("fees", sa.Integer(), nullable=False),
        _entry_fk("outcome_entry_id", True),
        _ck("(state IN ('succeeded', 'failed', 'closed')) = (decided_at IS NOT NULL)",
            "ck_campaign_decided"),
        _ck("funding_model IN ('all_or_nothing', 'all_in')", "ck_campaign_funding_model"),
        _ck(_in("state", ("draft", "live", "waiting_payments", "succeeded", "failed",
                          "closed")), "ck_campaign_state"),
        _ck("ends_at > starts_at", "ck_campaign_dates"),
        _ck("goal > 0", "ck_campaign_goal"),
        _ck("moved_to_income >= 0 AND fees >= 0", "ck_campaign_outcome_money"),
        _ck("payment_days >= 1 AND payment_days <= 60", "ck_campaign_payment_days"),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], name=op.f("fk_campaign_event_id_event")),
        sa.ForeignKeyConstraint(["outcome_entry_id"], ["journal_entry.id"],
                                name=op.f("fk_campaign_outcome_entry_id_journal_entry")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
        sa.UniqueConstraint("event_id", "slug", name=op.f("uq_campaign_event_id_slug")),
    )
    op.create_index(op.f("ix_campaign_event_id"), "campaign", ["event_id"], unique=False)
    op.create_table(
        "reward",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("free_amount", sa.Boolean(), nullable=False),
        sa.Column("quantity_limit", sa.Integer(), nullable=True),
        sa.Column("per_supporter_limit", sa.Integer(), nullable=True),
        sa.Column("delivery_month", sa.String(length=7), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("shipping_fee", sa.Integer(), nullable=False),
        sa.Column("claimed", sa.Integer(), nullable=False),
        sa.Column("pledges_made", sa.Integer(), nullable=False),
        _when("created_at", False),
        # Never oversold, whatever the code does: the last line of defence.
        _ck("claimed >= 0 AND (quantity_limit IS NULL OR claimed <= quantity_limit)",
            "ck_reward_claimed"),
        _ck("per_supporter_limit IS NULL OR per_supporter_limit >= 1",
            "ck_reward_per_supporter_limit"),
        _ck("pledges_made >= 0", "ck_reward_pledges_made"),
        _ck("price > 0", "ck_reward_price"),
        _ck("quantity_limit IS NULL OR quantity_limit >= 1", "ck_reward_quantity_limit"),
        _ck("shipping_fee >= 0", "ck_reward_shipping_fee"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"],
                                name=op.f("fk_reward_campaign_id_campaign")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward")),
        sa.UniqueConstraint("campaign_id", "number", name=op.f("uq_reward_campaign_id_number")),
    )
    op.create_index(op.f("ix_reward_campaign_id"), "reward", ["campaign_id"], unique=False)
    op.create_table(
        "pledge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("reward_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=12), nullable=False),
        sa.Column("supporter_name", sa.String(length=120), nullable=False),
        sa.Column("supporter_email", sa.String(length=254), nullable=False),
        sa.Column("supporter_phone", sa.String(length=20), nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("shipping", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("payment_method", sa.String(length=15), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        _when("payment_deadline", False),
        _when("created_at", False),
        _when("paid_at"),
        _when("ended_at"),
        _ck("(state IN ('paid', 'refund_due', 'refunded')) = (paid_at IS NOT NULL)",
            "ck_pledge_paid"),
        _ck(_in("payment_method", ("bank_transfer", "card", "konbini", "cash")),
            "ck_pledge_method"),
        _ck(_in("state", ("reserved", "paid", "expired", "cancelled", "refund_due",
                          "refunded")), "ck_pledge_state"),
        _ck("amount > 0 AND shipping >= 0 AND total = amount + shipping", "ck_pledge_money"),
        _ck("quantity >= 1", "ck_pledge_quantity"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"],
                                name=op.f("fk_pledge_campaign_id_campaign")),
        sa.ForeignKeyConstraint(["reward_id"], ["reward.id"],
                                name=op.f("fk_pledge_reward_id_reward")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pledge")),
        sa.UniqueConstraint("campaign_id", "reference",
                            name=op.f("uq_pledge_campaign_id_reference")),
    )
    op.create_index("ix_pledge_campaign_state", "pledge", ["campaign_id", "state"])
    op.create_index("ix_pledge_reward_email", "pledge", ["reward_id", "supporter_email"])
    op.create_index("ix_pledge_reward_hold", "pledge", ["reward_id", "state", "payment_deadline"])
    op.create_table(
        "pledge_payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("provider_ref", sa.String(length=120), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        _when("received_at", False),
        sa.Column("recorded_by", sa.String(length=60), nullable=False),
        _entry_fk("entry_id", False),
        _ck("source IN ('bank', 'cash', 'provider')", "ck_pledge_payment_source"),
        _ck("amount > 0", "ck_pledge_payment_amount"),
        _ck("fee >= 0 AND fee <= amount", "ck_pledge_payment_fee"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"],
                                name=op.f("fk_pledge_payment_campaign_id_campaign")),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entry.id"],
                                name=op.f("fk_pledge_payment_entry_id_journal_entry")),
        sa.ForeignKeyConstraint(["pledge_id"], ["pledge.id"],
                                name=op.f("fk_pledge_payment_pledge_id_pledge")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pledge_payment")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_pledge_payment_entry_id")),
        sa.UniqueConstraint("pledge_id", name=op.f("uq_pledge_payment_pledge_id")),
    )
    op.create_index(op.f("ix_pledge_payment_campaign_id"), "pledge_payment", ["campaign_id"])
    op.create_table(
        "provider_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=True),
        _when("received_at", False),
        sa.Column("outcome", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(["pledge_id"], ["pledge.id"],
                                name=op.f("fk_provider_event_pledge_id_pledge")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_event")),
        sa.UniqueConstraint("provider", "event_id",
                            name=op.f("uq_provider_event_provider_event_id")),
    )
    op.create_table(
        "pledge_refund",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=15), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("requested_at", False),
        _when("sent_at"),
        _when("confirmed_at"),
        _when("failed_at"),
        sa.Column("failure", sa.String(length=300), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("bank_code", sa.String(length=4), nullable=True),
        sa.Column("branch_code", sa.String(length=3), nullable=True),
        sa.Column("account_type", sa.Integer(), nullable=True),
        sa.Column("account_number", sa.String(length=7), nullable=True),
        sa.Column("account_holder_kana", sa.String(length=200), nullable=True),
        sa.Column("account_token", sa.String(length=48), nullable=True),
        _ck("method IN ('provider', 'bank_transfer', 'cash')", "ck_pledge_refund_method"),
        _ck(_in("state", ("requested", "sent", "confirmed", "failed", "done_by_hand")),
            "ck_pledge_refund_state"),
        _ck("account_type IS NULL OR account_type IN (1, 2, 4, 9)", "ck_pledge_refund_acct_type"),
        _ck("amount > 0", "ck_pledge_refund_amount"),
        _ck("attempts >= 0", "ck_pledge_refund_attempts"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"],
                                name=op.f("fk_pledge_refund_campaign_id_campaign")),
        sa.ForeignKeyConstraint(["payment_id"], ["pledge_payment.id"],
                                name=op.f("fk_pledge_refund_payment_id_pledge_payment")),
        sa.ForeignKeyConstraint(["pledge_id"], ["pledge.id"],
                                name=op.f("fk_pledge_refund_pledge_id_pledge")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pledge_refund")),
        # Nothing is refunded twice: one refund per payment, one per pledge.
        sa.UniqueConstraint("payment_id", name=op.f("uq_pledge_refund_payment_id")),
        sa.UniqueConstraint("pledge_id", name=op.f("uq_pledge_refund_pledge_id")),
        sa.UniqueConstraint("account_token", name=op.f("uq_pledge_refund_account_token")),
    )
    op.create_index(op.f("ix_pledge_refund_campaign_id"), "pledge_refund", ["campaign_id"])
    # Events made before this release get the fees account new events are made with.
    account = sa.table("account", sa.column("event_id", sa.Integer()),
                       sa.column("code", sa.String()), sa.column("name", sa.String()),
                       sa.column("kind", sa.String()))
    event = sa.table("event", sa.column("id", sa.Integer()))
    has_fees = sa.select(account.c.event_id).where(account.c.code == FEES[0])
    missing = op.get_bind().execute(
        sa.select(event.c.id).where(event.c.id.not_in(has_fees)).order_by(event.c.id)
    ).scalars().all()
    if missing:
        code, name, kind = FEES
        op.bulk_insert(account, [{"event_id": e, "code": code, "name": name, "kind": kind}
                                 for e in missing])


def downgrade() -> None:
    # Crowdfunding rows go with their tables; the fees account stays where the journal
    # has postings on it (postings are never deleted), and goes where it is unused.
    for table in ("pledge_refund", "provider_event", "pledge_payment",
                  "pledge", "reward", "campaign"):
        op.drop_table(table)
    op.execute("DELETE FROM account WHERE code = 'payment_fees' AND id NOT IN "
               "(SELECT account_id FROM posting)")
