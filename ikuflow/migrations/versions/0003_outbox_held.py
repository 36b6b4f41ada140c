"""A scheduler pass writes its reminders as 'held' outbox rows and renders each person's held
rows into one e-mail when its batches are done (one digest per person per pass, not per
batch): a small partial index finds them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.create_index("ix_outbox_held", ["id"], unique=False, sqlite_where=sa.text("status = 'held'"),
                           postgresql_where=sa.text("status = 'held'"))


def downgrade() -> None:
    op.execute("UPDATE outbox SET status = 'pending' WHERE status = 'held'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_held", sqlite_where=sa.text("status = 'held'"),
                         postgresql_where=sa.text("status = 'held'"))
