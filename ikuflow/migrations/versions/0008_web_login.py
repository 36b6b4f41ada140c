"""Sign-in by e-mail link, and my tasks' index (issue 16).

``web_login``: one row per sign-in request (the link's SHA-256 digest, the address as typed,
the person if known, the client), used once (``used_at``, ``used_client``: the sign-in, which
is the web session from then on) and ended by sign-out (``ended_at``). ``ix_document_tasks``:
an office's documents by state and due time, the web's "my tasks".

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_login",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("client", sa.String(), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("used_client", sa.String(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    op.create_index("ix_web_login_email_at", "web_login", ["email", "requested_at"], unique=False)
    op.create_index("ix_web_login_client_at", "web_login", ["client", "requested_at"], unique=False)
    op.create_index("ix_document_tasks", "document", ["office_code", "state", "due_at", "key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_document_tasks", table_name="document")
    op.drop_index("ix_web_login_client_at", table_name="web_login")
    op.drop_index("ix_web_login_email_at", table_name="web_login")
    op.drop_table("web_login")
