"""Word log readers: each keyword index kept beside the store records how far it has applied
the word log (migration 0018), so that the rows every live index has applied can be deleted
instead of kept forever.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "word_log_readers",
        sa.Column("reader", sa.String(64), primary_key=True),
        sa.Column("settled", sa.BigInteger, nullable=False),
        sa.Column("seen_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("word_log_readers")
