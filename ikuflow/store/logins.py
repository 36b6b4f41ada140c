"""Sign-ins by e-mail link (``web_login``): a link is kept as its SHA-256 digest only; the row
of a used link is the web session until it ends (sign-out) or grows too old."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ikuflow.store.db import dialect, fmt_ts


def recent(con: Any, email: str, client: str, since: datetime) -> tuple[int, int]:
    """How many sign-ins were asked for since ``since``: (for this address, from this client).
    Inside a write transaction, requests for the same address or from the same client then wait
    for each other until it ends, so two at once cannot both pass a limit (SQLite: its one
    writer does that; PostgreSQL: a transaction lock on each, by hash)."""
    if dialect(con) == "postgresql":
        con.execute("SELECT pg_advisory_xact_lock(hashtext(?)), pg_advisory_xact_lock(hashtext(?))",
                    ("ikuflow.sign-in:" + email, "ikuflow.sign-in-client:" + client))
    at = fmt_ts(since)
    by_email = con.execute("SELECT count(*) FROM web_login WHERE email = ? AND requested_at >= ?",
                           (email, at)).fetchone()[0]
    by_client = con.execute("SELECT count(*) FROM web_login WHERE client = ? AND requested_at >= ?",
                            (client, at)).fetchone()[0]
    return by_email, by_client


def insert(con: Any, digest: str, email: str, person_id: int | None, client: str, at: datetime) -> int:
    """Record a sign-in request (``person_id`` None for an address not in the directory); its id."""
    return con.execute("INSERT INTO web_login (digest, email, person_id, client, requested_at)"
                       " VALUES (?, ?, ?, ?, ?) RETURNING id",
                       (digest, email, person_id, client, fmt_ts(at))).fetchone()[0]


def use(con: Any, digest: str, client: str, at: datetime, since: datetime) -> int | None:
    """Spend the link with this digest, asked for since ``since``, never used and of a known
    person: the id of its row (the session from now on), or None (unknown, used or expired)."""
    row = con.execute("UPDATE web_login SET used_at = ?, used_client = ? WHERE digest = ? AND used_at IS NULL"
                      " AND person_id IS NOT NULL AND requested_at >= ? RETURNING id",
                      (fmt_ts(at), client, digest, fmt_ts(since))).fetchone()
    return row[0] if row else None


def live(con: Any, login_id: int, since: datetime) -> str | None:
    """The e-mail of the person whose session ``login_id`` began since ``since`` and has not
    ended; None otherwise."""
    row = con.execute("SELECT p.email FROM web_login w JOIN person p ON p.id = w.person_id WHERE w.id = ?"
                      " AND w.used_at >= ? AND w.ended_at IS NULL", (login_id, fmt_ts(since))).fetchone()
    return row[0] if row else None


def end(con: Any, login_id: int, at: datetime) -> None:
    """End the session ``login_id`` (sign-out); an ended one keeps its first end."""
    con.execute("UPDATE web_login SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (fmt_ts(at), login_id))
