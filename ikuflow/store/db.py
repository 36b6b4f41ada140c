"""Database connections: the raw driver connection for the hot paths, SQLAlchemy for admin.

SQLite (the embedded default) runs in WAL mode with synchronous=NORMAL, foreign keys on and a
busy timeout; writes start with BEGIN IMMEDIATE so two writers queue instead of failing half-way.
PostgreSQL (``postgresql+psycopg://``, the multi-node backend) goes through ``store/pg.py``,
which presents the same small connection API. Importing this module does not import
SQLAlchemy or psycopg: read paths stay on the driver they need.

SQLite's errors become ikuflow errors here, where they arise (:func:`translate_sqlite`, on
every statement of the raw connections): a failure of the file or the disk (:func:`explain`,
also on SQLAlchemy's connections) names its cause and what to do (a file or folder this user
may not write, a full disk, an unreadable or damaged file); a busy database or a stale
snapshot is ``Busy``, a unique index refusing a row is ``Duplicate``, anything else a
``StoreError``. A database this user may read but not write (or whose folder they may not
write) is opened read-only, so the read-only commands work on it.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator, overload

from ikuflow.errors import Busy, Conflict, Duplicate, IkuflowError, StoreError, UsageError
from ikuflow.store.base import BUSY_TIMEOUT_MS, first_line, redact

__all__ = ["BUSY_TIMEOUT_MS", "redact"]  # (re-exported: they live in store/base.py, shared with pg.py)

DEFAULT_URL = "sqlite:///ikuflow.db"


def database_url(url: str | None = None) -> str:
    """The database URL: ``url``, IKUFLOW_DATABASE_URL, or sqlite:///ikuflow.db."""
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
    """Whether ``url`` names a PostgreSQL database."""
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


#: WAL frames (4 KiB pages) a commit may leave before it copies them into the database file:
#: SQLite's default is 1,000 (4 MiB). A step writes about ten frames, many to the same pages
#: (index leaves, the outbox's last page), so a longer WAL copies each page once for more steps:
#: 10,000 (at most about 40 MiB of -wal) took a persisted step from 317 to 270 us in
#: bench/bench_core.py, while a WAL that never resets is slower again (appending to the file).
WAL_AUTOCHECKPOINT = 10_000


def _tune(con: sqlite3.Connection, read_only: bool = False) -> None:
    con.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_MS)}")  # (an int: see store/base.py)
    if not read_only:  # (a read-only connection cannot change the journal mode, nor needs to)
        con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
    con.execute("PRAGMA foreign_keys=ON")


# --- SQLite's failures of the file and the disk, as ikuflow errors ----------------------------
#: SQLite's primary result codes about the file or the disk rather than the SQL
SQLITE_PERM, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT = 3, 8, 10, 11
SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 13, 14, 26
SQLITE_READONLY_DIRECTORY = SQLITE_READONLY | (6 << 8)
#: less free space than this on the disk of the database, and an I/O error means a full disk
#: (SQLite reports ENOSPC as SQLITE_FULL when writing, as an I/O error when growing its -shm)
DISK_LOW_BYTES = 64 * 1024


def explain(exc: BaseException, path: str) -> IkuflowError | None:
    """The ikuflow error for a SQLite failure of the file ``path`` or its disk (read-only,
    full, unreadable, damaged, not a database), or None for any other failure (the SQL's)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or not path:
        return None
    primary = code & 0xFF
    file = Path(path)
    folder = _folder(file)
    if primary == SQLITE_FULL or (primary == SQLITE_IOERR and _disk_low(folder)):
        return IkuflowError(f"the disk holding {folder} is full; free space and retry "
                            "(nothing was written)")
    if primary == SQLITE_READONLY:
        why, owner = _why_read_only(file, folder, exc)
        return IkuflowError(f"cannot write {path}: permission denied ({why}); run as {owner} "
                            "or fix its permissions")
    if primary in (SQLITE_CANTOPEN, SQLITE_PERM):
        if file.exists() and not os.access(file, os.R_OK):
            return IkuflowError(f"cannot read {path}: permission denied (the file is not readable "
                                f"for this user); run as {_owner(file)} or fix its permissions")
        if not os.access(folder, os.R_OK | os.X_OK):
            return IkuflowError(f"cannot read {path}: permission denied (its folder {folder} is not "
                                f"open to this user); run as {_owner(folder)} or fix its permissions")
        return IkuflowError(f"cannot open {path}: {first_line(exc)}; check the path in "
                            "IKUFLOW_DATABASE_URL and its permissions")
    if primary == SQLITE_IOERR:
        return IkuflowError(f"cannot read or write {path}: disk I/O error "
                            f"({getattr(exc, 'sqlite_errorname', 'SQLITE_IOERR')}); check the disk, "
                            "then retry")
    if primary == SQLITE_NOTADB:
        return IkuflowError(f"{path} is not an ikuflow database (not a SQLite file); check "
                            "IKUFLOW_DATABASE_URL")
    if primary == SQLITE_CORRUPT:
        return IkuflowError(f"{path} is damaged ({first_line(exc)}); restore it from a backup "
                            "(docs/operator.md, Backups)")
    return None


def _folder(file: Path) -> Path:
    return Path(os.path.abspath(file)).parent


def _disk_low(folder: Path) -> bool:
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < DISK_LOW_BYTES


def _owner(path: Path) -> str:
    """'its owner (NAME)', or 'its owner' when the name cannot be found."""
    try:
        import pwd

        return f"its owner ({pwd.getpwuid(path.stat().st_uid).pw_name})"
    except (ImportError, KeyError, OSError):
        return "its owner"


def _why_read_only(file: Path, folder: Path, exc: BaseException) -> tuple[str, str]:
    """Why SQLite may not write ``file``, and whom to run as instead."""
    code = getattr(exc, "sqlite_errorcode", SQLITE_READONLY)
    if file.exists() and not os.access(file, os.W_OK):
        return "the file is read-only for this user", _owner(file)
    if code == SQLITE_READONLY_DIRECTORY or not os.access(folder, os.W_OK | os.X_OK):
        return (f"its folder {folder} is read-only for this user, and SQLite writes "
                f"{file.name}-wal and {file.name}-shm there"), _owner(folder)
    for suffix in ("-wal", "-shm"):
        side = file.with_name(file.name + suffix)
        if side.exists() and not os.access(side, os.W_OK):
            return f"{side.name} is read-only for this user", _owner(side)
    return f"SQLite: {first_line(exc)}", _owner(file)


#: SQLite's extended result codes of a unique index (or primary key) refusing a row
SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE = 1555, 2067


def translate_sqlite(exc: sqlite3.Error, path: str) -> IkuflowError:
    """The ikuflow error for a sqlite3 error on the database file ``path``: its file or disk
    (:func:`explain`), ``Busy``, ``Duplicate``, else a ``StoreError`` with SQLite's words."""
    err = explain(exc, path)
    if err is not None:
        return err
    if isinstance(exc, sqlite3.OperationalError) and is_busy(exc):
        return Busy(first_line(exc))
    code = getattr(exc, "sqlite_errorcode", None)
    if code in (SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY):
        return Duplicate(first_line(exc))
    return StoreError(first_line(exc))


def _translating(method):
    """``method`` of sqlite3.Connection, raising every sqlite3 error as the ikuflow error
    :func:`translate_sqlite` names, the driver's error kept as its cause."""
    def call(self, *args):
        try:
            return method(self, *args)
        except sqlite3.Error as exc:
            raise translate_sqlite(exc, self.path) from exc

    call.__name__, call.__doc__ = method.__name__, method.__doc__
    return call


class SQLiteConnection(sqlite3.Connection):
    """sqlite3's connection, raising its errors as ikuflow's where they arise: the failures of
    the file and the disk (read-only, full, unreadable, damaged) with their cause, a busy
    database as ``Busy``, a duplicate key as ``Duplicate`` (see :func:`translate_sqlite`)."""

    path = ""
    execute = _translating(sqlite3.Connection.execute)
    executemany = _translating(sqlite3.Connection.executemany)


def _sqlite(target: str, path: str, uri: bool = False) -> SQLiteConnection:
    try:
        con = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False,
                              factory=SQLiteConnection)
    except sqlite3.Error as exc:
        raise (explain(exc, path) or IkuflowError(f"cannot open {path}: {first_line(exc)}")) from exc
    con.path = path
    return con


def open_sqlite(path: str) -> SQLiteConnection:
    """The SQLite file at ``path``, tuned (see :func:`_tune`); read-only when this user may read
    it but not write it, or not write its folder: then every write fails with one clear line."""
    con = _sqlite(path, path)
    try:
        _tune(con)
        return con
    except IkuflowError as exc:
        con.close()
        code = getattr(exc.__cause__, "sqlite_errorcode", 0) & 0xFF
        if code not in (SQLITE_READONLY, SQLITE_CANTOPEN) or not os.access(path, os.R_OK):
            raise
    return _open_read_only(path)


def _open_read_only(path: str) -> SQLiteConnection:
    """A database this user may only read. SQLite reads a WAL database through its -shm file:
    with the folder read-only it must find -wal and -shm there (the owner is using the
    database), else, with no -wal holding changes, it reads the file as it is (immutable)."""
    from urllib.parse import quote

    uri = "file:" + quote(os.path.abspath(path)) + "?mode=ro"
    con = _sqlite(uri, path, uri=True)
    try:
        _tune(con, read_only=True)
        con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return con
    except (Busy, StoreError):  # not about this user's rights: the caller's to see
        con.close()
        raise
    except IkuflowError:
        con.close()
    wal = Path(path + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise IkuflowError(f"cannot read {path}: its folder {_folder(Path(path))} is read-only for "
                           f"this user and {wal.name} holds changes SQLite cannot read without "
                           f"writing {Path(path).name}-shm; run any ikuflow command once as "
                           f"{_owner(Path(path))}, or fix the folder's permissions")
    con = _sqlite(uri + "&immutable=1", path, uri=True)
    _tune(con, read_only=True)
    return con


def connect(url: str | None = None, create: bool = False):
    """A raw connection in autocommit mode (explicit BEGIN/COMMIT via :func:`write`): a
    ``sqlite3.Connection``, or ``store.pg.Connection`` with the same API for PostgreSQL."""
    url = database_url(url)
    if is_postgres(url):
        from ikuflow.store.pg import Connection

        return Connection(url, create=create)
    path = sqlite_path(url)
    if not create and not _exists(path):
        raise IkuflowError(f"no database at {path}; run 'ikuflow init' first "
                           "(or set IKUFLOW_DATABASE_URL)")
    if create and not _exists(path):
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # owner-only from the start
        except OSError as exc:
            raise IkuflowError(f"cannot create the database file {path}: {exc.strerror or exc}; "
                               "choose another path in IKUFLOW_DATABASE_URL") from None
    return open_sqlite(path)


def _exists(path: str) -> bool:
    """Whether ``path`` exists; a folder this user may not enter is said so, in one line."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return False
    except PermissionError:
        folder = _folder(Path(path))
        raise IkuflowError(f"cannot read {path}: permission denied (its folder {folder} is not open "
                           f"to this user); run as {_owner(folder)} or fix its permissions") from None
    except OSError as exc:
        raise IkuflowError(f"cannot open {path}: {exc.strerror or exc}; check IKUFLOW_DATABASE_URL") from None
    return True


def is_busy(exc: sqlite3.Error) -> bool:
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
    except Busy:
        raise Conflict(f"the database stayed busy for {BUSY_TIMEOUT_MS // 1000} s; retry") from None
    try:
        yield con
    except BaseException:
        if con.in_transaction:  # SQLite may have rolled back already (a full disk, an I/O error)
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def savepoint(con) -> Iterator:
    """A part of the caller's transaction that an error undoes alone (SAVEPOINT ... RELEASE)."""
    con.execute("SAVEPOINT item")
    try:
        yield con
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK TO item")
            con.execute("RELEASE item")
        raise
    con.execute("RELEASE item")


@contextmanager
def transaction(url: str | None = None) -> Iterator:
    """A connection of its own inside one write transaction (:func:`write`), closed after."""
    con = connect(url)
    try:
        with write(con) as c:
            yield c
    finally:
        con.close()


@contextmanager
def reading(url: str | None = None) -> Iterator:
    """A connection of its own for reads, closed after."""
    con = connect(url)
    try:
        yield con
    finally:
        con.close()


def sa_engine(url: str | None = None):
    """A SQLAlchemy engine for the admin paths, with the same pragmas and BEGIN IMMEDIATE."""
    from sqlalchemy import create_engine, event

    url = database_url(url)
    if is_postgres(url):
        scheme, rest = url.split("://", 1)
        return create_engine("postgresql+psycopg://" + rest,
                             connect_args={"options": "-c timezone=UTC -c datestyle=ISO"})
    path = sqlite_path(url)
    if not _exists(path):  # never let SQLAlchemy create it (with the umask's mode): init does
        raise IkuflowError(f"no database at {path}; run 'ikuflow init' first (or set IKUFLOW_DATABASE_URL)")
    # the same connections as connect(): tuned, autocommit (SQLAlchemy's BEGIN below is the only
    # one), read-only where this user may only read
    engine = create_engine(f"sqlite:///{path}", creator=lambda: open_sqlite(path))

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx):
        err = explain(ctx.original_exception, path)
        if err is not None:
            raise err from ctx.original_exception

    return engine


#: the packages whose errors are the database's: the drivers, and SQLAlchemy and Alembic over them
DRIVERS = ("sqlite3", "sqlalchemy", "psycopg", "alembic")


def driver_error(exc: BaseException) -> IkuflowError | None:
    """A database error that got past the store untranslated (read from a result row, or from
    SQLAlchemy's and Alembic's paths) as the ikuflow error it stands for, or None if ``exc`` is
    not a database's: the last net of the adapters, which never name a driver themselves."""
    if type(exc).__module__.split(".")[0] not in DRIVERS:
        return None
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy's wraps the driver's
    if type(orig).__module__.startswith("sqlite3"):
        try:
            url = database_url()
            known = None if is_postgres(url) else explain(orig, sqlite_path(url))
        except IkuflowError:
            known = None
        if known is not None:  # read-only, full, unreadable: the cause, not 'ikuflow init'
            return known
    return StoreError(first_line(orig))


@overload
def fmt_ts(dt: datetime) -> str: ...
@overload
def fmt_ts(dt: None) -> None: ...
@overload
def fmt_ts(dt: datetime | None) -> str | None: ...
def fmt_ts(dt: datetime | None) -> str | None:
    """A naive UTC datetime in the text form SQLAlchemy uses on SQLite."""
    return None if dt is None else dt.isoformat(sep=" ", timespec="microseconds")


def parse_ts(value):
    """A stored time (text on SQLite, datetime on PostgreSQL) as a naive UTC datetime."""
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
