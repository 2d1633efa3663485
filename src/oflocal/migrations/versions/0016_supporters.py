"""supporters: sign-in links, sessions, request windows; fulfilment lock; hidden wall names

Revision ID: 0016
Revises: 0015

A supporter signs in to their own page with a single-use link e-mailed to the address
they pledged with (oflocal/supporters). Links and sessions store only the SHA-256 of
their secret. ``signin_window`` counts link requests per address and per client in
hourly windows (one guarded upsert per request). ``campaign.fulfilment_locked_at``: from
then on supporters can no longer correct what their returns need (address, handle,
wall name). ``pledge.wall_hidden_at``: a committee member hid an abusive wall name.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supporter_signin_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("expires_at > created_at",
                           name=op.f("ck_supporter_signin_link_lifetime")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supporter_signin_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_supporter_signin_link_token_hash")),
    )
    op.create_index(op.f("ix_supporter_signin_link_email"), "supporter_signin_link", ["email"])
    op.create_table(
        "supporter_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_supporter_session")),
    )
    op.create_index(op.f("ix_supporter_session_expires_at"), "supporter_session",
                    ["expires_at"])
    op.create_table(
        "signin_window",
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.CheckConstraint("taken >= 1", name=op.f("ck_signin_window_taken")),
        sa.PrimaryKeyConstraint("subject", "window_start", name=op.f("pk_signin_window")),
    )
    op.create_table(
        "campaign_update",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(length=12), nullable=False),
        sa.Column("reward_ids", sa.JSON(), nullable=False),
        sa.Column("send_mail", sa.Boolean(), nullable=False),
        sa.Column("author", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=True),
        sa.Column("mailing_queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("audience IN ('public', 'supporters', 'rewards')",
                           name=op.f("ck_campaign_update_audience")),
        sa.CheckConstraint("recipients IS NULL OR recipients >= 0",
                           name=op.f("ck_campaign_update_recipients")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"],
                                name=op.f("fk_campaign_update_campaign_id_campaign")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_update")),
        sa.UniqueConstraint("campaign_id", "number",
                            name=op.f("uq_campaign_update_campaign_id_number")),
    )
    op.create_index(op.f("ix_campaign_update_campaign_id"), "campaign_update", ["campaign_id"])
    op.create_table(
        "update_unsubscribe",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"],
                                name=op.f("fk_update_unsubscribe_campaign_id_campaign")),
        sa.PrimaryKeyConstraint("campaign_id", "email", name=op.f("pk_update_unsubscribe")),
    )
    op.create_table(
        "tour_slot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("place", sa.String(length=300), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_tour_slot_capacity")),
        sa.CheckConstraint("booked >= 0 AND booked <= capacity",
                           name=op.f("ck_tour_slot_booked")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"],
                                name=op.f("fk_tour_slot_campaign_id_campaign")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tour_slot")),
    )
    op.create_index(op.f("ix_tour_slot_campaign_id"), "tour_slot", ["campaign_id"])
    op.create_table(
        "tour_booking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_in_by", sa.String(length=60), nullable=True),
        sa.CheckConstraint("seats >= 1", name=op.f("ck_tour_booking_seats")),
        sa.ForeignKeyConstraint(["pledge_id"], ["pledge.id"],
                                name=op.f("fk_tour_booking_pledge_id_pledge")),
        sa.ForeignKeyConstraint(["slot_id"], ["tour_slot.id"],
                                name=op.f("fk_tour_booking_slot_id_tour_slot")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tour_booking")),
        sa.UniqueConstraint("pledge_id", name=op.f("uq_tour_booking_pledge_id")),
    )
    op.create_index(op.f("ix_tour_booking_slot_id"), "tour_booking", ["slot_id"])
    op.create_table(
        "return_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("carrier", sa.String(length=20), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.CheckConstraint("item IN ('sns_thanks', 'goods')",
                           name=op.f("ck_return_delivery_item")),
        sa.ForeignKeyConstraint(["pledge_id"], ["pledge.id"],
                                name=op.f("fk_return_delivery_pledge_id_pledge")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_delivery")),
        sa.UniqueConstraint("pledge_id", "item", name=op.f("uq_return_delivery_pledge_id_item")),
    )
    op.add_column("campaign", sa.Column("fulfilment_locked_at", sa.DateTime(timezone=True),
                                        nullable=True))
    op.add_column("pledge", sa.Column("wall_hidden_at", sa.DateTime(timezone=True),
                                      nullable=True))
    op.add_column("mail_message", sa.Column("unsubscribe_url", sa.String(length=500),
                                            nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mail_message") as batch:
        batch.drop_column("unsubscribe_url")
    with op.batch_alter_table("pledge") as batch:
        batch.drop_column("wall_hidden_at")
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("fulfilment_locked_at")
    op.drop_table("return_delivery")
    op.drop_index(op.f("ix_tour_booking_slot_id"), table_name="tour_booking")
    op.drop_table("tour_booking")
    op.drop_index(op.f("ix_tour_slot_campaign_id"), table_name="tour_slot")
    op.drop_table("tour_slot")
    op.drop_table("update_unsubscribe")
    op.drop_index(op.f("ix_campaign_update_campaign_id"), table_name="campaign_update")
    op.drop_table("campaign_update")
    op.drop_table("signin_window")
    op.drop_index(op.f("ix_supporter_session_expires_at"), table_name="supporter_session")
    op.drop_table("supporter_session")
    op.drop_index(op.f("ix_supporter_signin_link_email"), table_name="supporter_signin_link")
    op.drop_table("supporter_signin_link")
