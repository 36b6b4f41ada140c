"""API tokens and the history's channel (issue 16).

``api_token``: ``ikuflow token create|list|revoke``. A token belongs to a person; only its
SHA-256 digest is stored (the token is printed once), with a note, when it was made, last used
and revoked. ``history.channel``: how each step came in (cli, web, link or api); the steps of
earlier releases all came through the command line or the Python API: 'cli'.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    op.create_index(op.f("ix_api_token_person_id"), "api_token", ["person_id"], unique=False)
    with op.batch_alter_table("history") as batch:
        batch.add_column(sa.Column("channel", sa.String(), nullable=False, server_default="cli"))


def downgrade() -> None:
    with op.batch_alter_table("history") as batch:
        batch.drop_column("channel")
    op.drop_index(op.f("ix_api_token_person_id"), table_name="api_token")
    op.drop_table("api_token")
