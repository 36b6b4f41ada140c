"""Outbox intents: a step or a scheduler pass no longer renders its e-mails inside its
transaction; it stores each one's template and render context (``payload["context"]``), and
the sender renders when it sends. No table changes. Pending rows the previous release rendered
keep their subject and bodies and go out exactly as stored. Held reminders (a pass's rows not
yet merged) are rewritten here into the new form, so the next pass merges them as before.

On SQLite the overdue count's own index (ix_document_due_count) goes: the count reads
ix_document_due (1.1 ms at 1,000,000 documents) and every transition writes two pages fewer.
PostgreSQL keeps it (its count over ix_document_due takes twice as long).

Downgrade turns held rows back into the previous form; pending intents (no bodies) would be
marked dead by the previous release's sender ("nothing rendered"): send the outbox first.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _held(con):
    return con.execute(sa.text("SELECT id, payload FROM outbox WHERE status = 'held'")).fetchall()


def _save(con, rows) -> None:
    if rows:
        con.execute(sa.text("UPDATE outbox SET payload = :payload WHERE id = :id"), rows)


DUE = sa.text("due_at IS NOT NULL")


def upgrade() -> None:
    con = op.get_bind()
    if con.dialect.name == "sqlite":
        with op.batch_alter_table("document") as batch:
            batch.drop_index("ix_document_due_count", sqlite_where=DUE)
    rows = []
    for row_id, payload in _held(con):
        data = json.loads(payload)
        if "context" in data or "item" not in data:
            continue
        item, recipient = data.pop("item"), data.pop("recipient")
        data["context"] = {**item, "recipient": recipient, "actor": {"name": "", "email": ""},
                           "event": {"name": item["kind"], "title": ""}, "comment": None,
                           "you_must_act": recipient["name"] in item["must_act"], "items": []}
        rows.append({"id": row_id, "payload": json.dumps(data, ensure_ascii=False)})
    _save(con, rows)


def downgrade() -> None:
    con = op.get_bind()
    if con.dialect.name == "sqlite":
        with op.batch_alter_table("document") as batch:
            batch.create_index("ix_document_due_count", ["due_at"], unique=False, sqlite_where=DUE)
    keys = ("document", "kind", "due", "overdue_by", "time_left", "must_act", "at")
    rows = []
    for row_id, payload in _held(con):
        data = json.loads(payload)
        ctx = data.pop("context", None)
        if ctx is None:
            continue
        data["item"] = {k: ctx[k] for k in keys}
        data["recipient"] = ctx["recipient"]
        rows.append({"id": row_id, "payload": json.dumps(data, ensure_ascii=False)})
    _save(con, rows)
