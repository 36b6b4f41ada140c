"""What both backends need (``store/db.py`` for SQLite, ``store/pg.py`` for PostgreSQL): the
busy timeout, a URL safe to print, the first line of a driver's error. Its own module so that
``db.py`` may import ``pg.py`` (lazily, for a PostgreSQL URL) and never the other way round."""

from __future__ import annotations

import re

#: how long a writer waits for a lock before the store raises ``Busy`` (both backends)
BUSY_TIMEOUT_MS = 10_000


def redact(url: str) -> str:
    """The URL with any password replaced (``user:pw@`` and ``?password=``), safe to print."""
    url = re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        user = cred.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def first_line(exc: BaseException) -> str:
    """The driver's message on one line: its first line, blanks collapsed (SQLAlchemy's and
    PostgreSQL's texts go on with the SQL, its parameters and a link)."""
    return " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[0].split())
