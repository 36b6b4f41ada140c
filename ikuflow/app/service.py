"""``Service``: the document use cases as methods of one session (``svc.advance(...)`` is
:func:`ikuflow.app.documents.advance` on ``svc``), the object an adapter keeps per process or
thread."""

from __future__ import annotations

from ikuflow.app import documents, queries, scheduling
from ikuflow.app.session import Session


class Service(Session):
    """The document use cases on one database. Not thread-safe: one per thread or process."""

    # documents: create, advance, migrate
    new = documents.new
    new_many = documents.new_many
    advance = documents.advance
    advance_many = documents.advance_many
    advance_where = documents.advance_where
    migrate = documents.migrate
    # queries
    status = queries.status
    list = queries.listing
    history = queries.history
    overdue = queries.overdue
    overdue_count = queries.overdue_count
    # scheduling
    tick = scheduling.tick
