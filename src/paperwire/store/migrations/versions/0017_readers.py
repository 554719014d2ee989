"""What the For-you tab keeps per reader: the topics they described in their own words (the
cold start, and a part of the ranking after it) and when they last visited the tab ("since
your last visit"). Personal: not watched by the data version (no public page shows them).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reader_topics",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "topic", name="pk_reader_topics"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_reader_topics_user_id_users"),
    )
    op.create_table(
        "reader_visits",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("previous_at", sa.DateTime, nullable=True),
        sa.Column("current_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_reader_visits"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_reader_visits_user_id_users"),
    )


def downgrade() -> None:
    op.drop_table("reader_visits")
    op.drop_table("reader_topics")
