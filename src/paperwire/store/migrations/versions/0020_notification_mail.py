"""E-mail for notifications: a reader's choice (on unless turned off) and, per notification,
when it went out by e-mail. Notifications made before this revision count as sent, so an
upgrade mails nobody about old replies.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: a batch copy of the table on SQLite would drop the triggers on users
    # that bump the data version (and the page cache would then miss new accounts).
    op.add_column(
        "users", sa.Column("notify_email", sa.Boolean, nullable=False, server_default=sa.true())
    )
    op.add_column("notifications", sa.Column("emailed_at", sa.DateTime, nullable=True))
    op.execute("UPDATE notifications SET emailed_at = created_at")
    # The sweep's question: whose notifications wait for an e-mail (few rows, most sent).
    op.create_index("ix_notifications_emailed_at", "notifications", ["emailed_at", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_emailed_at", "notifications")
    # Plain DROP COLUMN (SQLite 3.35 and later), for the same reason as above.
    op.drop_column("notifications", "emailed_at")
    op.drop_column("users", "notify_email")
