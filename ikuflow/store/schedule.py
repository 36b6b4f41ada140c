"""The scheduler's repository: tick slots, the claim of due documents, and the held reminders
a pass merges into digests.

The scheduler's documents fall into TICK_SLOTS slots (document.tick_slot, from the key), one
row each in tick_slot. A pass takes the slots one at a time, from ``slot >= ?`` up; on
PostgreSQL it locks the slot's row, skipping slots another pass holds, so passes on several
nodes claim disjoint documents while locking one row per batch, not the batch's 500 documents
(which would also hold up transitions of those documents until the batch commits). SQLite has
one writer at a time and needs no lock. Call these inside the pass's write transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, NamedTuple, Sequence

from ikuflow.store.db import dialect, fmt_ts, parse_ts
from ikuflow.store.documents import TICK_SLOTS

__all__ = ["TICK_SLOTS", "Claimed", "Held", "claim", "details", "due_slots", "held", "mark",
           "move_next_actions", "next_slot", "versions"]

_SLOT_SQL = "SELECT slot FROM tick_slot WHERE slot >= ? ORDER BY slot LIMIT 1"
#: a slot's most overdue documents: one range of ix_document_next_action
_CLAIM_SQL = ("SELECT id, version, due_at, next_action_at, queue_id FROM document WHERE tick_slot = ?"
              " AND next_action_at IS NOT NULL AND next_action_at <= ? ORDER BY next_action_at, id LIMIT ?")


_DUE_SLOTS_SQL = ("SELECT slot FROM tick_slot s WHERE (SELECT min(d.next_action_at) FROM document d"
                  " WHERE d.tick_slot = s.slot AND d.next_action_at IS NOT NULL) <= ? ORDER BY slot")


def due_slots(con: Any, now: datetime) -> list[int]:
    """The slots holding a document whose next action time is at or before ``now``: the first
    entry of each slot's range of ix_document_next_action (min() reads one index entry per slot),
    so an idle pass is one statement, not a transaction per slot."""
    return [r[0] for r in con.execute(_DUE_SLOTS_SQL, (fmt_ts(now),)).fetchall()]


def next_slot(con: Any, slot: int) -> int | None:
    """The first slot from ``slot`` up that no other pass holds, taken for this transaction."""
    pg = dialect(con) == "postgresql"
    row = con.execute(_SLOT_SQL + (" FOR UPDATE SKIP LOCKED" if pg else ""), (slot,)).fetchone()
    return None if row is None else row[0]


class Claimed(NamedTuple):
    """A due document of a slot: its version, due time, next action time (as stored) and queue."""

    id: int
    version: int
    due_at: datetime
    next_action_at: Any  # as stored: compared again when it is moved
    queue_id: int


def claim(con: Any, slot: int, now: datetime, limit: int) -> list[Claimed]:
    """Up to ``limit`` documents of ``slot`` whose next action time is at or before ``now``."""
    return [Claimed(i, v, parse_ts(d), n, q) for i, v, d, n, q in
            con.execute(_CLAIM_SQL, (slot, fmt_ts(now), limit)).fetchall()]


def details(con: Any, ids: Sequence[int]) -> dict[int, tuple[str, str, int, str]]:
    """id -> (key, title, year, signing date) of documents ``ids``."""
    if not ids:
        return {}
    return {r[0]: r[1:] for r in con.execute(
        "SELECT id, key, title, year, signing_date FROM document WHERE id IN (%s)" % ",".join("?" * len(ids)),
        list(ids))}


def move_next_actions(con: Any, moves: Iterable[tuple[datetime | None, int, Any]]) -> None:
    """(next action time, id, the next action time read): compare-and-set, so a document a step
    (or another pass) moved meanwhile is left alone."""
    con.executemany("UPDATE document SET next_action_at = ? WHERE id = ? AND next_action_at = ?",
                    [(fmt_ts(at), i, seen) for at, i, seen in moves])


def versions(con: Any, ids: Sequence[int]) -> dict[int, int]:
    """id -> version now, of documents ``ids``."""
    if not ids:
        return {}
    return dict(con.execute("SELECT id, version FROM document WHERE id IN (%s)" % ",".join("?" * len(ids)),
                            list(ids)).fetchall())


class Held(NamedTuple):
    """A reminder or escalation a pass queued, not yet an e-mail."""

    id: int
    recipient: str
    cause: str
    payload: str


def held(con: Any) -> list[Held]:
    """Every held row, oldest first (PostgreSQL: skipping those another pass is merging)."""
    pg = dialect(con) == "postgresql"
    return [Held(*r) for r in con.execute("SELECT id, recipient, cause, payload FROM outbox WHERE status = 'held'"
                                          " ORDER BY id" + (" FOR UPDATE SKIP LOCKED" if pg else "")).fetchall()]


def mark(con: Any, ids: Iterable[int], status: str, at: datetime) -> None:
    """Held rows become ``status``: 'pending' (due at ``at``) or 'merged' into a digest."""
    con.executemany("UPDATE outbox SET status = ?, next_attempt_at = ? WHERE id = ?",
                    [(status, fmt_ts(at), i) for i in ids])
