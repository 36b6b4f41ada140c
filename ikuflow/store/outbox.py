"""The outbox repository: every line of SQL that reads or changes queued e-mail.

The functions work on a connection from :func:`ikuflow.store.db.connect` inside the caller's
transaction (:func:`ikuflow.store.db.write` for the ones that change rows), so a use case can
make several of them one transaction. Rows come back as named records with their times as naive
UTC datetimes, alike on SQLite and PostgreSQL.

Senders claim due rows with a lease (``lease_owner``, ``lease_until``); a sender that dies
holding rows gives them up when the lease runs out. Every mark of a claimed row names its owner
in the WHERE clause, so a sender whose lease was taken over changes nothing. On PostgreSQL the
claim skips rows other senders have locked (``FOR UPDATE SKIP LOCKED``), so senders on several
nodes lease disjoint rows without waiting on each other; SQLite has one writer at a time.

A row is an intent (``template``, and ``payload`` JSON whose ``context`` is the render context;
``subject`` and the bodies NULL) that the sender renders when it sends, storing the subject it
sent; or, written by a release before 0006, an e-mail rendered already (``body_text`` not NULL),
sent exactly as stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, NamedTuple, Sequence

from ikuflow.store.db import dialect, fmt_ts, parse_ts

#: Every status an outbox row can have: held (a pass's reminder not yet rendered), pending,
#: sent, dead, merged (delivered inside a digest row).
STATUSES = ("held", "pending", "sent", "dead", "merged")

_CLAIM_SQL = ("SELECT id, recipient, subject, body_text, body_html, message_id, attempts, template,"
              " payload FROM outbox"
              " WHERE status = 'pending' AND next_attempt_at <= ?"
              " AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt_at, id LIMIT ?")
_CLAIM_SQL_PG = _CLAIM_SQL + " FOR UPDATE SKIP LOCKED"
_LIST_SQL = ("SELECT id, kind, recipient, subject, status, attempts, next_attempt_at, sent_at,"
             " last_error, message_id, template, payload FROM outbox")
_REQUEUE_SQL = ("UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?,"
                " lease_owner = NULL, lease_until = NULL")


class Listed(NamedTuple):
    """One row of ``outbox list``: what it is, to whom, and how its delivery goes. ``subject``
    is None for an intent not sent yet; ``template`` and ``payload`` can render it."""

    id: int
    kind: str
    recipient: str
    subject: str | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    message_id: str
    template: str
    payload: str


class Message(NamedTuple):
    """One e-mail as it is (or will be) sent: ``body_text`` is None for an intent (rendered from
    ``template`` and ``payload`` when sent) and for a row merged into a digest."""

    id: int
    recipient: str
    subject: str | None
    body_text: str | None
    body_html: str | None
    status: str
    message_id: str
    template: str
    payload: str


class Claimed(NamedTuple):
    """A due row leased to one sender: what it sends, and the attempts made so far. An intent
    (``body_text`` None) is rendered from ``template`` and ``payload`` by the sender."""

    id: int
    recipient: str
    subject: str | None
    body_text: str | None
    body_html: str | None
    message_id: str
    attempts: int
    template: str
    payload: str


class Waiting(NamedTuple):
    """The pending e-mails: how many, and when the first of them is due."""

    pending: int
    first_due: datetime | None


def has_cause(con: Any, cause: str) -> bool:
    """Whether an e-mail of ``cause`` is in the outbox already (one range of ux_outbox_cause)."""
    return con.execute("SELECT 1 FROM outbox WHERE cause = ? AND kind <> 'event' LIMIT 1", (cause,)).fetchone() is not None


def list_rows(con: Any, status: str | None, limit: int) -> list[Listed]:
    """Up to ``limit`` rows, newest first, of one status or of all."""
    where = " WHERE status = ?" if status else ""
    params = ((status,) if status else ()) + (limit,)
    rows = con.execute(_LIST_SQL + where + " ORDER BY id DESC LIMIT ?", params).fetchall()
    return [Listed(r[0], r[1], r[2], r[3], r[4], r[5], parse_ts(r[6]), parse_ts(r[7]), r[8], r[9], r[10],
                   r[11]) for r in rows]


def get(con: Any, row_id: int) -> Message | None:
    """One row in full, or None if there is no such row."""
    row = con.execute("SELECT id, recipient, subject, body_text, body_html, status, message_id,"
                      " template, payload FROM outbox WHERE id = ?", (row_id,)).fetchone()
    return None if row is None else Message(*row)


def missing(con: Any, ids: Sequence[int]) -> list[int]:
    """Those of ``ids`` that name no row, in the order given."""
    if not ids:
        return []
    found = {r[0] for r in con.execute("SELECT id FROM outbox WHERE id IN (%s)"
                                       % ",".join("?" * len(ids)), list(ids))}
    return [i for i in ids if i not in found]


def requeue(con: Any, ids: Sequence[int], at: datetime) -> int:
    """Queue the dead or pending rows among ``ids`` again, due at ``at``, attempts reset,
    lease dropped; returns how many."""
    if not ids:
        return 0
    return con.execute(_REQUEUE_SQL + " WHERE id IN (%s) AND status IN ('dead', 'pending')"
                       % ",".join("?" * len(ids)), [fmt_ts(at), *ids]).rowcount


def requeue_dead(con: Any, at: datetime) -> int:
    """Queue every dead row again, due at ``at``, attempts reset; returns how many."""
    return con.execute(_REQUEUE_SQL + " WHERE status = 'dead'", (fmt_ts(at),)).rowcount


def claim(con: Any, owner: str, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
    """Lease up to ``limit`` rows due at ``now`` and not leased to anyone until ``lease_until``
    (call inside one write transaction): the oldest due first."""
    ts = fmt_ts(now)
    rows = con.execute(_CLAIM_SQL_PG if dialect(con) == "postgresql" else _CLAIM_SQL,
                       (ts, ts, limit)).fetchall()
    if rows:
        until = fmt_ts(lease_until)
        con.executemany("UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE id = ?",
                        [(owner, until, r[0]) for r in rows])
    return [Claimed(*r) for r in rows]


def release(con: Any, owner: str) -> None:
    """Give up every lease ``owner`` holds on rows still pending."""
    con.execute("UPDATE outbox SET lease_owner = NULL, lease_until = NULL"
                " WHERE lease_owner = ? AND status = 'pending'", (owner,))


def mark_sent(con: Any, owner: str, sent_at: datetime, rows: Iterable[tuple[int, int, str | None]]) -> None:
    """Rows (id, attempts, subject) delivered at ``sent_at``, where ``owner`` still holds the
    lease; the subject sent is kept (for ``outbox list``), a None leaves the stored one."""
    ts = fmt_ts(sent_at)
    con.executemany("UPDATE outbox SET status = 'sent', sent_at = ?, attempts = ?,"
                    " subject = COALESCE(?, subject), lease_owner = NULL, lease_until = NULL,"
                    " last_error = NULL WHERE id = ? AND lease_owner = ?",
                    [(ts, attempts, subject, row_id, owner) for row_id, attempts, subject in rows])


def mark_dead(con: Any, owner: str, rows: Iterable[tuple[int, int, str]]) -> None:
    """Rows (id, attempts, error) never to be tried again, where ``owner`` still holds the lease."""
    con.executemany("UPDATE outbox SET status = 'dead', attempts = ?, last_error = ?,"
                    " lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                    [(attempts, error, row_id, owner) for row_id, attempts, error in rows])


def retry_later(con: Any, owner: str, rows: Iterable[tuple[int, int, datetime, str]]) -> None:
    """Rows (id, attempts, next attempt, error) to try again then, where ``owner`` still holds
    the lease."""
    con.executemany("UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ?,"
                    " lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                    [(attempts, fmt_ts(due), error, row_id, owner) for row_id, attempts, due, error in rows])


def waiting(con: Any) -> Waiting:
    """How many e-mails are pending, and the earliest next attempt among them."""
    pending, first = con.execute("SELECT count(*), min(next_attempt_at) FROM outbox"
                               " WHERE status = 'pending'").fetchone()
    return Waiting(pending, parse_ts(first))
