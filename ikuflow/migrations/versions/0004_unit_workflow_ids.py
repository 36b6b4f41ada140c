"""Narrow scan indexes: a document names its office and division by one integer (``unit_id``,
a row of the new ``unit`` table) and its workflow version by another (``workflow_id``, the
``workflow_version`` row), and the two partial indexes the overdue list and the scheduler scan
hold those integers instead of four text columns. The text columns stay: every other query
reads them.

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
    op.create_table("unit",
                    sa.Column("id", sa.Integer(), nullable=False),
                    sa.Column("office_code", sa.String(), nullable=False),
                    sa.Column("division_code", sa.String(), nullable=False),
                    sa.ForeignKeyConstraint(["division_code"], ["division.code"]),
                    sa.ForeignKeyConstraint(["office_code"], ["office.code"]),
                    sa.PrimaryKeyConstraint("id"),
                    sa.UniqueConstraint("office_code", "division_code"))
    op.execute("INSERT INTO unit (office_code, division_code) SELECT DISTINCT office_code, division_code"
               " FROM document ORDER BY office_code, division_code")
    with op.batch_alter_table("document") as batch:
        batch.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("workflow_id", sa.Integer(), nullable=True))
    op.execute("UPDATE document SET"
               " unit_id = (SELECT u.id FROM unit u WHERE u.office_code = document.office_code"
               " AND u.division_code = document.division_code),"
               " workflow_id = (SELECT w.id FROM workflow_version w WHERE w.name = document.workflow_name"
               " AND w.version = document.workflow_version)")
    with op.batch_alter_table("document") as batch:
        batch.alter_column("unit_id", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("workflow_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_document_unit_id_unit", "unit", ["unit_id"], ["id"])
        batch.create_foreign_key("fk_document_workflow_id_workflow_version", "workflow_version",
                                 ["workflow_id"], ["id"])
        batch.drop_index("ix_document_due", sqlite_where=DUE, postgresql_where=DUE)
        batch.drop_index("ix_document_next_action", sqlite_where=NEXT, postgresql_where=NEXT)
        batch.create_index("ix_document_due", ["due_at", "id", "state", "key", "unit_id", "workflow_id"],
                           unique=False, sqlite_where=DUE, postgresql_where=DUE)
        batch.create_index("ix_document_next_action", ["next_action_at", "id", "key", "state", "version",
                                                       "due_at", "unit_id", "workflow_id"],
                           unique=False, sqlite_where=NEXT, postgresql_where=NEXT)


def downgrade() -> None:
    with op.batch_alter_table("document") as batch:
        batch.drop_index("ix_document_due", sqlite_where=DUE, postgresql_where=DUE)
        batch.drop_index("ix_document_next_action", sqlite_where=NEXT, postgresql_where=NEXT)
        batch.create_index("ix_document_due", ["due_at", "id", "state", "office_code", "division_code", "key",
                                               "workflow_name", "workflow_version"],
                           unique=False, sqlite_where=DUE, postgresql_where=DUE)
        batch.create_index("ix_document_next_action", ["next_action_at", "id", "key", "state", "version",
                                                       "due_at", "office_code", "division_code",
                                                       "workflow_name", "workflow_version"],
                           unique=False, sqlite_where=NEXT, postgresql_where=NEXT)
        batch.drop_constraint("fk_document_workflow_id_workflow_version", type_="foreignkey")
        batch.drop_constraint("fk_document_unit_id_unit", type_="foreignkey")
        batch.drop_column("workflow_id")
        batch.drop_column("unit_id")
    op.drop_table("unit")
