"""Database connections: the raw driver connection for the hot paths, SQLAlchemy for admin.

SQLite (the embedded default) runs in WAL mode with synchronous=NORMAL, foreign keys on and a
busy timeout; writes start with BEGIN IMMEDIATE so two writers queue instead of failing half-way.
PostgreSQL (``postgresql+psycopg://``, the multi-node backend) goes through ``store/pg.py``,
which presents the same small connection API. Importing this module does not import
SQLAlchemy or psycopg: read paths stay on the driver they need.
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
    url = url or os.environ.get("IKUFLOW_DATABASE_URL") or DEFAULT_URL
    if is_postgres(url):
        from urllib.parse import urlsplit

        try:
            urlsplit(url).port
        except ValueError:
            raise UsageError(f"the port in database URL '{redact(url)}' is not a number; write it like "
                             "postgresql+psycopg://USER:PASSWORD@HOST:5432/DB") from None
    return url


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))


def dialect(con) -> str:
    """'sqlite' or 'postgresql' for a connection from :func:`connect`."""
    return getattr(con, "dialect", "sqlite")


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///path`` URL (``sqlite:///:memory:`` is not supported)."""
    if not url.startswith("sqlite:///"):
        raise UsageError(f"unsupported database URL '{redact(url)}'; use sqlite:///FILE or "
                         "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB")
    path = url[len("sqlite:///"):]
    if not path or path == ":memory:":
        raise UsageError("an in-memory database cannot be shared between commands; use sqlite:///FILE")
    return path


def redact(url: str) -> str:
    """The URL with any password replaced (``user:pw@`` and ``?password=``), safe to print."""
    import re

    url = re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)
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


def connect(url: str | None = None, create: bool = False):
    """A raw connection in autocommit mode (explicit BEGIN/COMMIT via :func:`write`): a
    ``sqlite3.Connection``, or ``store.pg.Connection`` with the same API for PostgreSQL."""
    url = database_url(url)
    if is_postgres(url):
        from ikuflow.store.pg import Connection

        return Connection(url, create=create)
    path = sqlite_path(url)
    if not create and not Path(path).exists():
        raise IkuflowError(f"no database at {path}; run 'ikuflow init' first "
                           "(or set IKUFLOW_DATABASE_URL)")
    if create and not Path(path).exists():
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # owner-only from the start
        except OSError as exc:
            raise IkuflowError(f"cannot create the database file {path}: {exc.strerror or exc}; "
                               "choose another path in IKUFLOW_DATABASE_URL") from None
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
    if is_postgres(url):
        scheme, rest = url.split("://", 1)
        return create_engine("postgresql+psycopg://" + rest,
                             connect_args={"options": "-c timezone=UTC -c datestyle=ISO"})
    path = sqlite_path(url)
    if not Path(path).exists():  # never let SQLAlchemy create it (with the umask's mode): init does
        raise IkuflowError(f"no database at {path}; run 'ikuflow init' first (or set IKUFLOW_DATABASE_URL)")
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


def backup(target: str | Path, url: str | None = None, pages_per_step: int = 1024, progress=None) -> dict:
    """An online copy of the SQLite database into ``target`` with SQLite's backup API: writers
    may go on meanwhile (a step that sees a change restarts from there). The copy is written
    next to ``target`` and renamed into place only when complete, owner-only like the original.
    PostgreSQL is backed up with pg_dump, not here."""
    url = database_url(url)
    if is_postgres(url):
        raise UsageError("'ikuflow backup' copies SQLite databases; back up PostgreSQL with "
                         f"pg_dump, e.g. pg_dump -Fc -f ikuflow.dump '{redact('postgresql://' + url.split('://', 1)[1])}'")
    target = Path(target)
    if target.is_dir():
        raise UsageError(f"{target} is a folder; give the backup's file name, e.g. {target / 'ikuflow-backup.db'}")
    if target.exists():
        raise UsageError(f"{target} exists; give a new file name (a backup never overwrites)")
    if not target.parent.is_dir():
        raise UsageError(f"folder {target.parent} does not exist; create it first")
    src = connect(url)
    if Path(sqlite_path(url)).resolve() == target.resolve():
        raise UsageError("the backup cannot be the database itself")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=pages_per_step, progress=progress)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            ok = dst.execute("PRAGMA quick_check").fetchone()[0]
            docs = dst.execute("SELECT count(*) FROM document").fetchone()[0]
        finally:
            dst.close()
        if ok != "ok":
            raise IkuflowError(f"the copy failed its integrity check ({ok}); nothing was written")
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    return {"backup": str(target), "bytes": target.stat().st_size, "documents": docs}
