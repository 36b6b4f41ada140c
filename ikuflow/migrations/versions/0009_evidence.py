"""Evidence (issue 17): a document's content, and a history nobody can quietly change.

``content``: each version of a document's file by its SHA-256 (who attached it, when, as what
name); ``content_blob``: the bytes, where the database keeps them (PostgreSQL; SQLite keeps
them as files beside the database). ``history.content_sha256``: the content each step acted
on; ``history.chain``: the row's chain hash (ikuflow.evidence). ``document.content_sha256`` and
``document.chain``: the current content and the chain head.

The rows already there get their chains here, under the secret key (``init`` makes sure there
is one before it migrates), in the order of their versions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "content",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("attached_by", sa.String(), nullable=False),
        sa.Column("attached_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "version"),
    )
    op.create_index(op.f("ix_content_sha256"), "content", ["sha256"], unique=False)
    op.create_table(
        "content_blob",
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.add_column("history", sa.Column("content_sha256", sa.String(), nullable=True))
    op.add_column("history", sa.Column("chain", sa.String(), nullable=True))
    op.add_column("document", sa.Column("content_sha256", sa.String(), nullable=True))
    op.add_column("document", sa.Column("chain", sa.String(), nullable=True))
    _chain_existing()


def _chain_existing() -> None:
    """Chain every history row there is, document by document, oldest version first."""
    from ikuflow.evidence import canonical, chain_key, link
    from ikuflow.store.keys import secret_key

    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM history")).scalar() == 0:
        return
    secret = chain_key(secret_key(context.config.attributes.get("url")))
    rows = bind.execute(sa.text(
        "SELECT h.id, d.id, d.key, h.version, h.at, h.actor, h.acting_for, h.event, h.from_state, h.to_state,"
        " h.comment, h.channel FROM history h JOIN document d ON d.id = h.document_id"
        " ORDER BY h.document_id, h.version")).fetchall()
    updates, heads, doc, previous = [], [], None, ""
    for hid, doc_id, key, version, at, actor, acting_for, event, source, dest, comment, channel in rows:
        if doc_id != doc:
            if doc is not None:
                heads.append({"c": previous, "i": doc})
            doc, previous = doc_id, ""
        previous = link(secret, previous, canonical(key, version, at, actor, acting_for, event, source, dest,
                                                    comment, channel, None))
        updates.append({"c": previous, "i": hid})
    heads.append({"c": previous, "i": doc})
    bind.execute(sa.text("UPDATE history SET chain = :c WHERE id = :i"), updates)
    bind.execute(sa.text("UPDATE document SET chain = :c WHERE id = :i"), heads)


def downgrade() -> None:
    with op.batch_alter_table("document") as batch:
        batch.drop_column("chain")
        batch.drop_column("content_sha256")
    with op.batch_alter_table("history") as batch:
        batch.drop_column("chain")
        batch.drop_column("content_sha256")
    op.drop_table("content_blob")
    op.drop_index(op.f("ix_content_sha256"), table_name="content")
    op.drop_table("content")
