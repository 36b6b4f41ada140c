"""Queues: a document names where it waits (its office, division, workflow version and state)
by one integer, ``queue_id``, a row of the new ``queue`` table, and the two partial indexes the
overdue list and the scheduler scan hold that integer instead of five columns; the overdue
count gets an index of due times alone. The columns stay: every other query reads them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DUE = sa.text("due_at IS NOT NULL")
NEXT = sa.text("next_action_at IS NOT NULL")


def upgrade() -> None:
    op.create_table("queue",
                    sa.Column("id", sa.Integer(), nullable=False),
                    sa.Column("office_code", sa.String(), nullable=False),
                    sa.Column("division_code", sa.String(), nullable=False),
                    sa.Column("workflow_id", sa.Integer(), nullable=False),
                    sa.Column("state", sa.String(), nullable=False),
                    sa.ForeignKeyConstraint(["division_code"], ["division.code"]),
                    sa.ForeignKeyConstraint(["office_code"], ["office.code"]),
                    sa.ForeignKeyConstraint(["workflow_id"], ["workflow_version.id"]),
                    sa.PrimaryKeyConstraint("id"),
                    sa.UniqueConstraint("office_code", "division_code", "workflow_id", "state"))
    op.execute("INSERT INTO queue (office_code, division_code, workflow_id, state)"
               " SELECT DISTINCT d.office_code, d.division_code, w.id, d.state FROM document d"
               " JOIN workflow_version w ON w.name = d.workflow_name AND w.version = d.workflow_version"
               " ORDER BY d.office_code, d.division_code, w.id, d.state")
    with op.batch_alter_table("document") as batch:
        batch.add_column(sa.Column("queue_id", sa.Integer(), nullable=True))
    op.execute("UPDATE document SET queue_id = (SELECT q.id FROM queue q"
               " JOIN workflow_version w ON w.id = q.workflow_id"
               " WHERE q.office_code = document.office_code AND q.division_code = document.division_code"
               " AND w.name = document.workflow_name AND w.version = document.workflow_version"
               " AND q.state = document.state)")
    with op.batch_alter_table("document") as batch:
        batch.alter_column("queue_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_document_queue_id_queue", "queue", ["queue_id"], ["id"])
        batch.drop_index("ix_document_due", sqlite_where=DUE, postgresql_where=DUE)
        batch.drop_index("ix_document_next_action", sqlite_where=NEXT, postgresql_where=NEXT)
        batch.create_index("ix_document_due", ["due_at", "id", "key", "queue_id"],
                           unique=False, sqlite_where=DUE, postgresql_where=DUE)
        batch.create_index("ix_document_due_count", ["due_at"], unique=False, sqlite_where=DUE,
                           postgresql_where=DUE)
        batch.create_index("ix_document_next_action", ["next_action_at", "id", "version", "due_at", "queue_id"],
                           unique=False, sqlite_where=NEXT, postgresql_where=NEXT)


def downgrade() -> None:
    with op.batch_alter_table("document") as batch:
        batch.drop_index("ix_document_due_count", sqlite_where=DUE, postgresql_where=DUE)
        batch.drop_index("ix_document_due", sqlite_where=DUE, postgresql_where=DUE)
        batch.drop_index("ix_document_next_action", sqlite_where=NEXT, postgresql_where=NEXT)
        batch.create_index("ix_document_due", ["due_at", "id", "state", "office_code", "division_code", "key",
                                               "workflow_name", "workflow_version"],
                           unique=False, sqlite_where=DUE, postgresql_where=DUE)
        batch.create_index("ix_document_next_action", ["next_action_at", "id", "key", "state", "version",
                                                       "due_at", "office_code", "division_code",
                                                       "workflow_name", "workflow_version"],
                           unique=False, sqlite_where=NEXT, postgresql_where=NEXT)
        batch.drop_constraint("fk_document_queue_id_queue", type_="foreignkey")
        batch.drop_column("queue_id")
    op.drop_table("queue")
