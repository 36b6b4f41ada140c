"""API tokens, one family of use cases: create (the token shown once), list, revoke, and the
check the API makes of a ``Bearer`` token (:func:`authenticate`)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from ikuflow.app.directory import check_email, check_name
from ikuflow.calendar import now_utc
from ikuflow.errors import NotFound
from ikuflow.store import directory as people
from ikuflow.store import tokens as repo
from ikuflow.store.db import fmt_ts, reading, transaction, write

#: what every token starts with, so a leaked one is recognisable (and found by secret scanners)
PREFIX = "ikf_"
#: how stale a token's recorded last use may grow before a request writes it again
USE_GRANULARITY = timedelta(minutes=1)


def digest(token: str) -> str:
    """What is stored of a token: its SHA-256 (a token is 256 random bits: no slow hash needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _dict(t: repo.Token) -> dict:
    return {"id": t.id, "person": t.email, "note": t.note, "created_at": fmt_ts(t.created_at),
            "last_used_at": fmt_ts(t.last_used_at), "revoked_at": fmt_ts(t.revoked_at)}


def create(email: str, note: str | None = None, url: str | None = None, at: datetime | None = None) -> dict:
    """A new token for the person ``email``: the only time the token itself is returned."""
    email = check_email(email)
    if note is not None:
        note = check_name(note, "note", "the note is blank; write what the token is for, or leave out --note")
    token = PREFIX + secrets.token_urlsafe(32)
    with transaction(url) as con:
        person = people.person(con, email)
        if person is None:
            raise NotFound("person", email, "see 'ikuflow person list'")
        token_id = repo.insert(con, person.id, digest(token), note, at or now_utc())
    return {"id": token_id, "person": email, "note": note, "token": token}


def list_tokens(email: str | None = None, url: str | None = None) -> list[dict]:
    """Every token (of ``email``): id, person, note, created, last used, revoked; never the token."""
    with reading(url) as con:
        return [_dict(t) for t in repo.listing(con, check_email(email) if email is not None else None)]


def revoke(token_id: int, url: str | None = None, at: datetime | None = None) -> dict:
    """Revoke token ``token_id`` now: it is refused from the next request on. Revoking a
    revoked token changes nothing (its first revocation time stays)."""
    with transaction(url) as con:
        before = repo.get(con, token_id)
        if before is None:
            raise NotFound("token", str(token_id), "see 'ikuflow token list'")
        repo.revoke(con, token_id, at or now_utc())
        after = repo.get(con, token_id)
    return _dict(after or before)


def authenticate(token: str, url: str | None = None, at: datetime | None = None, con=None) -> str | None:
    """The e-mail of the person a live ``token`` belongs to, or None. Its last use is recorded,
    to the minute (:data:`USE_GRANULARITY`): a burst of requests reads, it does not write.
    ``con``: a connection to use (else one of its own on ``url``)."""
    if not token.startswith(PREFIX):
        return None
    if con is None:
        with reading(url) as own:
            return authenticate(token, at=at, con=own)
    now = at or now_utc()
    found = repo.live(con, digest(token))
    if found is None:
        return None
    if found.last_used_at is None or now - found.last_used_at >= USE_GRANULARITY:
        with write(con) as c:
            repo.used(c, found.id, now)
    return found.email
