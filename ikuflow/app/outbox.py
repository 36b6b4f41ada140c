"""The outbox use cases: list and show queued e-mail, queue it again, deliver what is due.

Each opens its own connection; a write is one transaction. The SQL is in
:mod:`ikuflow.store.outbox`; delivery over SMTP in :mod:`ikuflow.notify.sender`.

A row not sent yet is an intent (template and context): ``show`` renders it with the current
templates, as a preview of what the sender will send, and ``list_rows`` renders the subjects it
lists that the sender has not stored yet (the subject part only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, Sequence

from ikuflow.calendar import now_utc
from ikuflow.errors import NotFound, UsageError
from ikuflow.notify.render import RenderFailed, Renderer, intent_context
from ikuflow.notify.sender import ServerUnreachable
from ikuflow.store import outbox as store
from ikuflow.store.db import fmt_ts, reading, transaction
from ikuflow.store.outbox import STATUSES, Listed, Message

__all__ = ["STATUSES", "Listed", "Message", "ServerUnreachable", "Shown", "as_json", "list_rows",
           "retry", "send", "show"]

_SEE_LIST = "see 'ikuflow outbox list'"


class Shown(NamedTuple):
    """One e-mail for ``outbox show``. ``preview`` when its bodies were rendered now, with the
    current templates (an intent); ``text`` and ``html`` are None for a row merged into a
    digest (or held for one), which has nothing of its own to send."""

    id: int
    recipient: str
    subject: str | None
    text: str | None
    html: str | None
    status: str
    message_id: str
    template: str
    preview: bool


def list_rows(status: str | None = None, limit: int = 100, url: str | None = None) -> list[Listed]:
    """Up to ``limit`` outbox rows, newest first; UsageError for an unknown ``status``. A row
    whose subject is not stored yet gets it rendered now, or "(cannot render 'TEMPLATE')"."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"unknown status '{status}'; use one of: {', '.join(STATUSES)}")
    with reading(url) as con:
        rows = store.list_rows(con, status, limit)
    renderer: Renderer | None = None
    for i, row in enumerate(rows):
        if row.subject is None:
            renderer = renderer or Renderer()
            try:
                subject = renderer.render_subject(row.template, intent_context(row.template, row.payload))
            except RenderFailed:
                subject = f"(cannot render '{row.template}')"
            rows[i] = row._replace(subject=subject)
    return rows


def as_json(row: Listed) -> dict[str, Any]:
    """A listed row as JSON data (without its payload), its times as
    'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC)."""
    data = row._asdict()
    del data["payload"]
    return {**data, "next_attempt_at": fmt_ts(row.next_attempt_at), "sent_at": fmt_ts(row.sent_at)}


def show(row_id: int, url: str | None = None) -> Shown:
    """One e-mail as it is (or will be) sent: as stored, or an intent rendered now with the
    current templates (``preview``). NotFound if there is no such row; RenderFailed (exit 1,
    naming the template) if the intent cannot be rendered."""
    with reading(url) as con:
        row = store.get(con, row_id)
    if row is None:
        raise NotFound("outbox row", str(row_id), _SEE_LIST)
    if row.body_text is not None or row.status in ("merged", "held"):  # as stored: nothing to render
        return Shown(row.id, row.recipient, row.subject, row.body_text, row.body_html, row.status,
                     row.message_id, row.template, False)
    from ikuflow.notify.links import from_env

    mail = Renderer().render_intent(row.template, row.payload, from_env(url))
    return Shown(row.id, row.recipient, mail.subject, mail.text, mail.html, row.status, row.message_id,
                 row.template, True)


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
