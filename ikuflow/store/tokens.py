"""The API tokens' repository: a token is kept as its SHA-256 digest only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from ikuflow.store.db import fmt_ts, parse_ts


class Token(NamedTuple):
    """An API token as listed: never the token itself."""

    id: int
    email: str
    note: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


_SELECT = ("SELECT t.id, p.email, t.note, t.created_at, t.last_used_at, t.revoked_at"
           " FROM api_token t JOIN person p ON p.id = t.person_id")


def _token(row: tuple) -> Token:
    return Token(row[0], row[1], row[2], parse_ts(row[3]), parse_ts(row[4]), parse_ts(row[5]))


def insert(con: Any, person_id: int, digest: str, note: str | None, at: datetime) -> int:
    """Store a new token's digest; its id."""
    return con.execute("INSERT INTO api_token (person_id, digest, note, created_at) VALUES (?, ?, ?, ?)"
                       " RETURNING id", (person_id, digest, note, fmt_ts(at))).fetchone()[0]


def listing(con: Any, email: str | None = None) -> list[Token]:
    """Every token (of the person ``email``), oldest first."""
    if email is None:
        return [_token(r) for r in con.execute(_SELECT + " ORDER BY t.id").fetchall()]
    return [_token(r) for r in con.execute(_SELECT + " WHERE p.email = ? ORDER BY t.id", (email,)).fetchall()]


def get(con: Any, token_id: int) -> Token | None:
    """The token ``token_id``, or None."""
    row = con.execute(_SELECT + " WHERE t.id = ?", (token_id,)).fetchone()
    return _token(row) if row else None


def revoke(con: Any, token_id: int, at: datetime) -> None:
    """Mark the token revoked at ``at`` (once: a revoked token keeps its first time)."""
    con.execute("UPDATE api_token SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (fmt_ts(at), token_id))


def live(con: Any, digest: str) -> Token | None:
    """The live (not revoked) token with this digest, or None."""
    row = con.execute(_SELECT + " WHERE t.digest = ? AND t.revoked_at IS NULL", (digest,)).fetchone()
    return _token(row) if row else None


def used(con: Any, token_id: int, at: datetime) -> None:
    """Record ``at`` as the token's last use."""
    con.execute("UPDATE api_token SET last_used_at = ? WHERE id = ?", (fmt_ts(at), token_id))
