"""Site: instance metadata, API tokens, authorship claims, rate limits, star history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_site_meta"),
    )
    op.add_column(
        "users", sa.Column("session_version", sa.Integer, nullable=False, server_default="0")
    )
    op.add_column("users", sa.Column("confirmed_at", sa.DateTime))
    op.add_column("users", sa.Column("bio", sa.Text))
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_used_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_api_tokens_user_id_users"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "authorship_claims",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("paper_id", sa.String(40), nullable=False),
        sa.Column("author_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("decided_at", sa.DateTime),
        sa.Column("decided_by", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_authorship_claims"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_authorship_claims_user_id_users"
        ),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_authorship_claims_paper_id_papers"
        ),
        sa.UniqueConstraint("user_id", "paper_id", name="uq_authorship_claims_user_id"),
    )
    op.create_index("ix_authorship_claims_paper_id", "authorship_claims", ["paper_id"])
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("window_start", sa.Integer, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name="pk_rate_limits"),
    )
    op.create_table(
        "star_snapshots",
        sa.Column("paper_id", sa.String(40), nullable=False),
        sa.Column("observed_at", sa.DateTime, nullable=False),
        sa.Column("stars", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("paper_id", "observed_at", name="pk_star_snapshots"),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_star_snapshots_paper_id_papers"
        ),
    )
    op.create_index("ix_feed_entries_submitted_by", "feed_entries", ["submitted_by"])
    op.create_index("ix_upvotes_user_id_created_at", "upvotes", ["user_id", "created_at"])
    op.create_index("ix_comments_user_id", "comments", ["user_id"])
    # the trending rank's candidates: recent submissions and recent upvotes
    op.create_index("ix_feed_entries_submitted_at", "feed_entries", ["submitted_at"])
    op.create_index("ix_upvotes_created_at", "upvotes", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_upvotes_created_at", "upvotes")
    op.drop_index("ix_feed_entries_submitted_at", "feed_entries")
    op.drop_index("ix_comments_user_id", "comments")
    op.drop_index("ix_upvotes_user_id_created_at", "upvotes")
    op.drop_index("ix_feed_entries_submitted_by", "feed_entries")
    for table in ("star_snapshots", "rate_limits", "authorship_claims", "api_tokens"):
        op.drop_table(table)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("bio")
        batch.drop_column("confirmed_at")
        batch.drop_column("session_version")
    op.drop_table("site_meta")
