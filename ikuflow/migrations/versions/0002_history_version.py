"""Each history row records the document version it produced (0 for the creation), unique
per document: no two writers can ever both record a step from the same version.

Existing rows are numbered in the order they were written (their ids), which is the order of
the document's versions: every transition and every workflow migration bumped the version by
one and wrote one history row, and the creation wrote the first.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("history") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=True))
    op.execute("UPDATE history SET version = (SELECT count(*) FROM history h"
               " WHERE h.document_id = history.document_id AND h.id < history.id)")
    with op.batch_alter_table("history") as batch:
        batch.alter_column("version", existing_type=sa.Integer(), nullable=False)
        batch.drop_index("ix_history_document_id")
        batch.create_index("ux_history_version", ["document_id", "version"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("history") as batch:
        batch.drop_index("ux_history_version")
        batch.create_index("ix_history_document_id", ["document_id"], unique=False)
        batch.drop_column("version")
