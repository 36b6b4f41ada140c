"""Tick slots: the scheduler's documents fall into 16 slots (``document.tick_slot``, from the
document key), and a scheduler pass claims one slot at a time by locking its row of the new
``tick_slot`` table (PostgreSQL: FOR UPDATE SKIP LOCKED), not each of the 500 documents of a
batch. The next-action index leads with the slot, so a slot's due documents are one range.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import zlib

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NEXT = sa.text("next_action_at IS NOT NULL")
SLOTS = 16  # frozen here: ikuflow.store.documents.TICK_SLOTS and tick_slot() must agree with it


def upgrade() -> None:
    op.create_table("tick_slot", sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
                    sa.PrimaryKeyConstraint("slot"))
    op.bulk_insert(sa.table("tick_slot", sa.column("slot", sa.Integer())), [{"slot": s} for s in range(SLOTS)])
    with op.batch_alter_table("document") as batch:
        batch.add_column(sa.Column("tick_slot", sa.Integer(), nullable=True))
    con = op.get_bind()
    docs = con.execute(sa.text("SELECT id, key FROM document")).fetchall()
    if docs:
        con.execute(sa.text("UPDATE document SET tick_slot = :slot WHERE id = :id"),
                    [{"id": i, "slot": zlib.crc32(k.encode()) % SLOTS} for i, k in docs])
    with op.batch_alter_table("document") as batch:
        batch.alter_column("tick_slot", existing_type=sa.Integer(), nullable=False)
        batch.drop_index("ix_document_next_action", sqlite_where=NEXT, postgresql_where=NEXT)
        batch.create_index("ix_document_next_action",
                           ["tick_slot", "next_action_at", "id", "version", "due_at", "queue_id"],
                           unique=False, sqlite_where=NEXT, postgresql_where=NEXT)


def downgrade() -> None:
    with op.batch_alter_table("document") as batch:
        batch.drop_index("ix_document_next_action", sqlite_where=NEXT, postgresql_where=NEXT)
        batch.create_index("ix_document_next_action", ["next_action_at", "id", "version", "due_at", "queue_id"],
                           unique=False, sqlite_where=NEXT, postgresql_where=NEXT)
        batch.drop_column("tick_slot")
    op.drop_table("tick_slot")
