"""Database connections: the raw driver connection for the hot paths, SQLAlchemy for admin.

SQLite (the embedded default) runs in WAL mode with synchronous=NORMAL, foreign keys on and a
busy timeout; writes start with BEGIN IMMEDIATE so two writers queue instead of failing half-way.
Importing this module does not import SQLAlchemy: read paths stay on the stdlib driver.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ikuflow.errors import IkuflowError, UsageError

DEFAULT_URL = "sqlite:///ikuflow.db"
BUSY_TIMEOUT_MS = 10_000


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("IKUFLOW_DATABASE_URL") or DEFAULT_URL


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///path`` URL (``sqlite:///:memory:`` is not supported)."""
    if not url.startswith("sqlite:///"):
        raise UsageError(f"unsupported database URL '{redact(url)}'; use sqlite:///FILE "
                         "(PostgreSQL arrives with the multi-node backend)")
    path = url[len("sqlite:///"):]
    if not path or path == ":memory:":
        raise UsageError("an in-memory database cannot be shared between commands; use sqlite:///FILE")
    return path


def redact(url: str) -> str:
    """The URL with any password replaced, safe to print."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        user = cred.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def _tune(con: sqlite3.Connection) -> None:
    con.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")


def connect(url: str | None = None, create: bool = False) -> sqlite3.Connection:
    """A raw connection in autocommit mode (explicit BEGIN/COMMIT via :func:`write`)."""
    path = sqlite_path(database_url(url))
    if not create and not Path(path).exists():
        raise IkuflowError(f"no database at {path}; run 'ikuflow init' first "
                           "(or set IKUFLOW_DATABASE_URL)")
    if create and not Path(path).exists():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # owner-only from the start
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    _tune(con)
    return con


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED, including a read snapshot too old to write from."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)
    return "locked" in str(exc) or "busy" in str(exc)


@contextmanager
def write(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error."""
    try:
        con.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            from ikuflow.errors import Conflict

            raise Conflict(f"the database stayed busy for {BUSY_TIMEOUT_MS // 1000} s; retry") from None
        raise
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def sa_engine(url: str | None = None):
    """A SQLAlchemy engine for the admin paths, with the same pragmas and BEGIN IMMEDIATE."""
    from sqlalchemy import create_engine, event

    url = database_url(url)
    path = sqlite_path(url)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_con, _record):
        dbapi_con.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        _tune(dbapi_con)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def fmt_ts(dt) -> str | None:
    """A naive UTC datetime in the text form SQLAlchemy uses on SQLite."""
    return None if dt is None else dt.isoformat(sep=" ", timespec="microseconds")


def parse_ts(value):
    from datetime import datetime

    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)
