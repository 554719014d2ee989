"""Social: comment reactions, uploaded avatars, organization admins, a user's time zone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comment_reactions",
        sa.Column("comment_id", sa.Integer, nullable=False),
        sa.Column("reaction", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        # One per user per reaction: concurrent clicks cannot count twice. In this order,
        # counting by (comment, reaction) reads the index in order.
        sa.PrimaryKeyConstraint("comment_id", "reaction", "user_id", name="pk_comment_reactions"),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name="fk_comment_reactions_comment_id_comments"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_comment_reactions_user_id_users"
        ),
    )
    op.create_table(
        "avatars",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.Integer, nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("uploaded_by", sa.Integer),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("kind", "owner_id", name="pk_avatars"),
    )
    op.create_table(
        "organization_members",
        sa.Column("organization_id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False, server_default="admin"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name="pk_organization_members"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_organization_members_organization_id_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_organization_members_user_id_users"
        ),
    )
    op.create_index("ix_organization_members_user_id", "organization_members", ["user_id"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("timezone")
    op.drop_index("ix_organization_members_user_id", "organization_members")
    op.drop_table("organization_members")
    op.drop_table("avatars")
    op.drop_table("comment_reactions")
