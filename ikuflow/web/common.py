"""What the pages and the API share: the process's state (one Service, the secret key, the base
URL), errors as HTTP answers, sessions in signed cookies, CSRF tokens, security headers.

Every request is served on the event loop's thread, which owns the process's one Service (a
Service is not thread-safe; a step is a millisecond of database work): more throughput comes
from more processes (``ikuflow web --workers N``, or several nodes on PostgreSQL).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from ikuflow.errors import Busy, Conflict, IkuflowError, NotAllowed, NotFound, RateLimited, RoleMissing, \
    UsageError

#: exit code -> HTTP status (PRODUCT.md section 8); anything else is 500
HTTP_STATUS = {UsageError: 400, NotFound: 404, NotAllowed: 409, RoleMissing: 403, Conflict: 412,
               RateLimited: 429, Busy: 503}
SESSION_COOKIE = "ikuflow_session"
LANG_COOKIE = "ikuflow_lang"
#: a content security policy with no script at all, no framing and no outside origin
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                 b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
]
#: the same for the JSON API, which no browser renders as a page: no framing, no sniffing, no
#: cache (each header costs a request about 8 us in h11: the API keeps to what applies)
API_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
]


def http_status(exc: IkuflowError) -> int:
    """The HTTP status of an ikuflow error."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def error_body(exit_code: int, message: str) -> dict:
    """The API's error shape."""
    return {"error": {"exit_code": exit_code, "message": message}}


class State:
    """One per process: the database session, the secret key and the base URL."""

    def __init__(self, url: str | None = None) -> None:
        from ikuflow.app.service import Service
        from ikuflow.notify.links import base_url
        from ikuflow.store.keys import secret_key

        self.url = url
        self.secret = secret_key(url)
        self.base = base_url()
        self.secure = bool(self.base and self.base.startswith("https://"))
        self.svc = Service(url)

    def base_for(self, request) -> str:
        """The address links point to: IKUFLOW_BASE_URL (``ikuflow web`` sets it to its own
        address when it is unset). Never the request's Host header: a request naming another
        host would have a live sign-in link mailed that points there."""
        if not self.base:
            raise UsageError("IKUFLOW_BASE_URL is not set, so no link can be made; set it to the "
                             "address people open (https://iku.example.id)")
        return self.base

    def _signer(self):
        from itsdangerous import TimestampSigner

        return TimestampSigner(self.secret, salt="ikuflow.session")

    def session_cookie(self, login_id: int) -> str:
        """The signed cookie value of session ``login_id``."""
        return self._signer().sign(str(login_id)).decode()

    def session_id(self, cookie: str | None) -> int | None:
        """The session id a cookie names, or None (absent, forged or too old)."""
        if not cookie:
            return None
        from itsdangerous import BadData

        from ikuflow.app.access import SESSION_LIFETIME

        try:
            return int(self._signer().unsign(cookie, max_age=SESSION_LIFETIME.total_seconds()))
        except (BadData, ValueError):
            return None

    def csrf(self, purpose: str) -> str:
        """The CSRF token of a form: an HMAC of what it is bound to (a session, a link)."""
        return hmac.new(self.secret, b"csrf:" + purpose.encode(), hashlib.sha256).hexdigest()[:40]

    def csrf_ok(self, purpose: str, given: Any) -> bool:
        """Whether a form's CSRF token is the one :meth:`csrf` gave."""
        return isinstance(given, str) and hmac.compare_digest(self.csrf(purpose), given)


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every response (pure ASGI: no
    per-request task, unlike an ``@app.middleware`` function)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        extra = API_HEADERS if scope["path"].startswith("/api/") else SECURITY_HEADERS

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {name for name, _ in headers}
                message["headers"] = headers + [h for h in extra if h[0] not in have]
            await send(message)

        await self.app(scope, receive, sending)
