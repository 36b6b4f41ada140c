"""The outbox use cases: list and show queued e-mail, queue it again, deliver what is due.

Each opens its own connection; a write is one transaction. The SQL is in
:mod:`ikuflow.store.outbox`; delivery over SMTP in :mod:`ikuflow.notify.sender`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from ikuflow.calendar import now_utc
from ikuflow.errors import NotFound, UsageError
from ikuflow.notify.sender import ServerUnreachable
from ikuflow.store import outbox as store
from ikuflow.store.db import fmt_ts, reading, transaction
from ikuflow.store.outbox import STATUSES, Listed, Message

__all__ = ["STATUSES", "Listed", "Message", "ServerUnreachable", "as_json", "list_rows", "retry",
           "send", "show"]

_SEE_LIST = "see 'ikuflow outbox list'"


def list_rows(status: str | None = None, limit: int = 100, url: str | None = None) -> list[Listed]:
    """Up to ``limit`` outbox rows, newest first; UsageError for an unknown ``status``."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"unknown status '{status}'; use one of: {', '.join(STATUSES)}")
    with reading(url) as con:
        return store.list_rows(con, status, limit)


def as_json(row: Listed) -> dict[str, Any]:
    """A listed row as JSON data, its times as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC)."""
    return {**row._asdict(), "next_attempt_at": fmt_ts(row.next_attempt_at), "sent_at": fmt_ts(row.sent_at)}


def show(row_id: int, url: str | None = None) -> Message:
    """One e-mail as it is (or will be) sent; NotFound if there is no such row."""
    with reading(url) as con:
        row = store.get(con, row_id)
    if row is None:
        raise NotFound("outbox row", str(row_id), _SEE_LIST)
    return row


def retry(ids: Sequence[int] = (), dead: bool = False, at: datetime | None = None,
          url: str | None = None) -> int:
    """Queue e-mails again (every dead one, or the dead or pending ones among ``ids``), due at
    ``at`` with their attempts reset, in one transaction; how many. NotFound names unknown ids."""
    ts = at or now_utc()
    with transaction(url) as c:
        if dead:
            return store.requeue_dead(c, ts)
        unknown = store.missing(c, ids)
        if unknown:
            raise NotFound("outbox row", ", ".join(map(str, unknown)), _SEE_LIST)
        return store.requeue(c, ids, ts)


def send(at: datetime | None = None) -> dict[str, Any]:
    """Deliver every due e-mail now (IKUFLOW_SMTP_* settings); the counts, as ``send_once``."""
    from ikuflow.notify.sender import send_once

    return send_once(at)
