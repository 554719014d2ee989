"""Notifications: a reply to a reader's comment, or a comment that @mentions them, one row
per comment and reader, read when the reader has seen it. Personal: not watched by the data
version (no public page shows them).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("comment_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("read_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_notifications_user_id_users"),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name="fk_notifications_comment_id_comments"
        ),
        sa.UniqueConstraint("user_id", "comment_id", name="uq_notifications_user_id"),
    )
    op.create_index("ix_notifications_comment_id", "notifications", ["comment_id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_comment_id", "notifications")
    op.drop_table("notifications")
