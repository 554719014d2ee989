"""Mail: subscription keys and stored query vectors, delivery windows, papers already sent,
and leases so that two instances never run the same job at once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        # Part of every confirmation link; replaced once used, so each link works once.
        batch.add_column(sa.Column("confirm_nonce", sa.String(32)))
        # Part of every manage/unsubscribe link; replaced to revoke the links already mailed.
        batch.add_column(sa.Column("manage_nonce", sa.String(32)))
        batch.add_column(sa.Column("query_vector", sa.LargeBinary))
        batch.add_column(sa.Column("query_model", sa.String(80)))
        batch.add_column(sa.Column("updated_at", sa.DateTime))
        batch.add_column(sa.Column("last_error", sa.Text))
        batch.create_index("ix_subscriptions_status", ["status"])
        batch.create_index("ix_subscriptions_user_id", ["user_id"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("window_start", sa.DateTime))
        batch.add_column(sa.Column("window_end", sa.DateTime))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime))
        batch.create_index("ix_deliveries_status", ["status"])
    op.create_table(
        "sent_papers",
        sa.Column("subscription_id", sa.Integer, nullable=False),
        sa.Column("paper_id", sa.String(40), nullable=False),
        sa.Column("delivery_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", "paper_id", name="pk_sent_papers"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name="fk_sent_papers_subscription_id_subscriptions",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"], name="fk_sent_papers_delivery_id_deliveries"
        ),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("acquired_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("sent_papers")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_status")
        for col in ("next_attempt_at", "window_end", "window_start"):
            batch.drop_column(col)
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_index("ix_subscriptions_user_id")
        batch.drop_index("ix_subscriptions_status")
        for col in (
            "last_error",
            "updated_at",
            "query_model",
            "query_vector",
            "manage_nonce",
            "confirm_nonce",
        ):
            batch.drop_column(col)
