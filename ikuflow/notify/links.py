"""Personal action links (``BASE_URL/a/TOKEN``): the token names the person, the document, its
version and the event, signed with the secret key (itsdangerous), valid for 30 days. It is
stale as soon as the document moves on (its version changes), so a link works once.

E-mail intents store what their recipient may do (``actions``); the sender turns them into
``links`` when it renders, if ``IKUFLOW_BASE_URL`` is set. Without a base URL the e-mails say
which ``ikuflow advance`` command to run instead.
"""

from __future__ import annotations

from urllib.parse import quote

import os
from datetime import timedelta
from typing import Any, NamedTuple

#: how long an action link lives at most (it dies earlier when its step is done)
LINK_LIFETIME = timedelta(days=30)
_SALT = "ikuflow.action-link"


class Action(NamedTuple):
    """What an action link asks: ``email`` fires ``event`` on ``key`` at ``version``."""

    email: str
    key: str
    version: int
    event: str


def base_url() -> str | None:
    """IKUFLOW_BASE_URL without its trailing slash, or None when unset."""
    url = os.environ.get("IKUFLOW_BASE_URL", "").strip().rstrip("/")
    return url or None


def _serializer(secret: bytes):
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(secret, salt=_SALT)


def make_token(secret: bytes, action: Action) -> str:
    """The signed token of one action link."""
    return _serializer(secret).dumps(list(action))


def read_token(secret: bytes, token: str) -> Action | None:
    """The action a token names, or None (forged, damaged or older than LINK_LIFETIME)."""
    from itsdangerous import BadData

    try:
        email, key, version, event = _serializer(secret).loads(token, max_age=LINK_LIFETIME.total_seconds())
    except (BadData, ValueError, TypeError):
        return None
    if not (isinstance(email, str) and isinstance(key, str) and isinstance(version, int)
            and isinstance(event, str)):
        return None
    return Action(email, key, version, event)


class Linker:
    """Makes the ``links`` of a rendered e-mail from the ``actions`` its intent stored."""

    def __init__(self, base: str, secret: bytes) -> None:
        self.base, self.secret = base, secret

    def links(self, email: str, key: str, actions: list[dict[str, Any]]) -> list[dict[str, str]]:
        """One link per action: {"event", "title", "url"}."""
        return [{"event": a["event"], "title": a["title"],
                 "url": f"{self.base}/a/{make_token(self.secret, Action(email, key, a['version'], a['event']))}"}
                for a in actions]

    def fill(self, ctx: dict[str, Any]) -> dict[str, Any]:
        """``ctx`` with ``links`` for its own actions and for each digest item's."""
        email = (ctx.get("recipient") or {}).get("email", "")
        out = dict(ctx)
        if ctx.get("actions") and ctx.get("document"):
            out["links"] = self.links(email, ctx["document"]["key"], ctx["actions"])
        if ctx.get("document"):  # the signing record's page (the sign e-mail links to it)
            out["record_url"] = f"{self.base}/documents/{quote(ctx['document']['key'], safe='')}/record"
        if ctx.get("items"):
            out["items"] = [{**it, "links": self.links(email, it["document"]["key"], it.get("actions") or [])}
                            for it in ctx["items"]]
        return out


def from_env(url: str | None = None) -> Linker | None:
    """The linker of this installation, or None without IKUFLOW_BASE_URL (no links then)."""
    base = base_url()
    if base is None:
        return None
    from ikuflow.store.keys import secret_key

    return Linker(base, secret_key(url))
