"""campaign image: pictures of a campaign, stored in the database

Revision ID: 0015
Revises: 0014

Staff upload pictures for a campaign page (crowdfunding/images.py re-encodes them: no
EXIF or GPS, at most 1600 px wide). They live in the database beside the campaign, so
a backup of the database is a backup of the pictures, on SQLite and PostgreSQL alike.
``number`` names a picture in the story (``![alt](image:2)``) and is never given twice
in a campaign (``campaign.images_made`` counts them), ``position`` orders the gallery
(the first is the hero image); the alt text is required.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("alt", sa.String(length=300), nullable=False),
        sa.Column("content_type", sa.String(length=20), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("number >= 1 AND position >= 1", name=op.f("ck_campaign_image_order")),
        sa.CheckConstraint("alt <> ''", name=op.f("ck_campaign_image_alt")),
        sa.CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'image/webp')",
                           name=op.f("ck_campaign_image_content_type")),
        sa.CheckConstraint("width >= 1 AND height >= 1 AND byte_size >= 1",
                           name=op.f("ck_campaign_image_size")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"],
                                name=op.f("fk_campaign_image_campaign_id_campaign")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_image")),
        sa.UniqueConstraint("campaign_id", "number",
                            name=op.f("uq_campaign_image_campaign_id_number")),
    )
    op.create_index(op.f("ix_campaign_image_campaign_id"), "campaign_image", ["campaign_id"])
    op.add_column("campaign", sa.Column("images_made", sa.Integer(), nullable=False,
                                        server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("images_made")
    op.drop_index(op.f("ix_campaign_image_campaign_id"), table_name="campaign_image")
    op.drop_table("campaign_image")
