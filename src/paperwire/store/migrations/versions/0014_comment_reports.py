"""Reports of abusive comments, for the admins' queue.

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comment_reports",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("comment_id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("note", sa.String(500)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("resolved_at", sa.DateTime),
        sa.Column("resolved_by", sa.Integer),
        sa.Column("outcome", sa.String(16)),
        sa.PrimaryKeyConstraint("id", name="pk_comment_reports"),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name="fk_comment_reports_comment_id_comments"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_comment_reports_user_id_users"),
        sa.UniqueConstraint("comment_id", "user_id", name="uq_comment_reports_comment_id"),
    )
    op.create_index("ix_comment_reports_resolved_at", "comment_reports", ["resolved_at"])


def downgrade() -> None:
    op.drop_index("ix_comment_reports_resolved_at", table_name="comment_reports")
    op.drop_table("comment_reports")
