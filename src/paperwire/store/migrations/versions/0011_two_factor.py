"""Two-factor sign-in: a sealed TOTP secret per user who turned it on, and single-use
recovery codes (hashes only).

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "two_factor",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("secret_sealed", sa.String(200), nullable=False),
        sa.Column("enabled_at", sa.DateTime, nullable=False),
        sa.Column("last_step", sa.BigInteger),
        sa.Column("signins", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("user_id", name="pk_two_factor"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_two_factor_user_id_users"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_codes"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_recovery_codes_user_id_users"),
        sa.UniqueConstraint("user_id", "code_hash", name="uq_recovery_codes_user_id"),
    )


def downgrade() -> None:
    op.drop_table("recovery_codes")
    op.drop_table("two_factor")
