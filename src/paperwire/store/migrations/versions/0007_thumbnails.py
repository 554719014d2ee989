"""Thumbnails: the first page of each paper's PDF as card and page images, or the reason
it failed and when to try again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_thumbnails",
        sa.Column("paper_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("etag", sa.String(32)),
        sa.Column("card_width", sa.Integer),
        sa.Column("card_height", sa.Integer),
        sa.Column("page_width", sa.Integer),
        sa.Column("page_height", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("next_attempt_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("card", sa.LargeBinary),
        sa.Column("page", sa.LargeBinary),
        sa.PrimaryKeyConstraint("paper_id", name="pk_paper_thumbnails"),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_paper_thumbnails_paper_id_papers"
        ),
    )
    op.create_index("ix_paper_thumbnails_status", "paper_thumbnails", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_paper_thumbnails_status", table_name="paper_thumbnails")
    op.drop_table("paper_thumbnails")
