"""PostgreSQL through psycopg 3, behind the small part of the sqlite3 connection API the
service layer uses, so one body of SQL serves both backends.

The SQL is written once, in the common subset of SQLite and PostgreSQL, with ``?``
placeholders; :func:`translate` makes the few spelling changes PostgreSQL needs (and caches
them). Dates come back as ``YYYY-MM-DD`` text, as on SQLite; timestamps come back as naive UTC
``datetime`` objects (psycopg's C loader: a Python loader costs a microsecond per cell, 15 ms
on an overdue list), which every reader takes through ``store.db.parse_ts``. Code above this
module never asks which database it is on, except to add ``FOR UPDATE SKIP LOCKED`` to claims.

psycopg's errors become ikuflow's here, on every statement (:func:`_driver_errors`), as
``store/db.py`` does for SQLite: a unique violation is ``Duplicate``, a lock wait that ran out,
a deadlock or a serialization failure is ``Busy``, a value PostgreSQL cannot store a
``UsageError``, anything else a ``StoreError``.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from functools import lru_cache

from ikuflow.errors import Busy, Duplicate, IkuflowError, StoreError, UsageError
from ikuflow.store.base import BUSY_TIMEOUT_MS, first_line, redact

_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.I)


@lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """SQLite spelling to PostgreSQL: ``?`` placeholders, BEGIN IMMEDIATE, INSERT OR IGNORE."""
    if sql.strip().upper() == "BEGIN IMMEDIATE":
        return "BEGIN"
    out = sql.replace("%", "%%").replace("?", "%s")
    if _INSERT_OR_IGNORE.match(out):
        out = _INSERT_OR_IGNORE.sub("INSERT INTO", out, count=1) + " ON CONFLICT DO NOTHING"
    return out


@contextmanager
def _driver_errors():
    """psycopg's errors as ikuflow's (see the module docstring), the driver's kept as cause."""
    import psycopg

    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        raise Duplicate(first_line(exc)) from exc
    except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected,
            psycopg.errors.SerializationFailure) as exc:
        raise Busy(f"database is locked ({type(exc).__name__})") from exc
    except psycopg.DataError as exc:
        raise _refused(exc) from exc
    except psycopg.Error as exc:
        raise StoreError(first_line(exc)) from exc


def _refused(exc) -> UsageError:
    """A value PostgreSQL cannot store (a NUL character in text, a number out of range): the
    caller's input, refused in one line (exit 2); the transaction is rolled back by its caller."""
    first = first_line(exc)
    if "0x00" in first:
        return UsageError("the text contains a NUL character (\\x00), which cannot be stored; remove it")
    return UsageError(f"a value cannot be stored: {first}")


def conninfo(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy's form) to libpq's ``postgresql://...``."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest


class Connection:
    """A psycopg connection in autocommit mode; transactions are explicit BEGIN ... COMMIT,
    exactly as on SQLite."""

    dialect = "postgresql"

    def __init__(self, url: str, create: bool = False) -> None:
        import psycopg

        try:
            self.raw = psycopg.connect(conninfo(url), autocommit=True, connect_timeout=10,
                                       options=f"-c timezone=UTC -c datestyle=ISO -c lock_timeout={BUSY_TIMEOUT_MS}")
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise IkuflowError(f"cannot connect to {redact(url)}: {first}") from None
        _text_times(self.raw)
        found = self.raw.execute("SELECT to_regclass('document')").fetchone()
        if not create and (found is None or found[0] is None):
            self.raw.close()
            raise IkuflowError(f"no ikuflow tables in {redact(url)}; run 'ikuflow init' first "
                               "(or set IKUFLOW_DATABASE_URL)")

    def execute(self, sql: str, params=()):
        """Run one statement; a cursor with its rows."""
        cur = self.raw.cursor(binary=True)  # rows in binary: no text to parse (a fifth off a claim)
        with _driver_errors():
            cur.execute(translate(sql), params or None)
        return cur

    def executemany(self, sql: str, seq):
        """Run one statement for each parameter tuple of ``seq``."""
        seq = list(seq)
        cur = self.raw.cursor()
        if seq:
            with _driver_errors():
                cur.executemany(translate(sql), seq)
        return cur

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on the connection."""
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()

    def __del__(self) -> None:  # as sqlite3 does: a connection dropped unclosed closes quietly
        raw = getattr(self, "raw", None)
        if raw is not None and not raw.closed:
            raw.close()


def _text_times(raw) -> None:
    """Load dates as the text SQLite stores (see the module docstring), from either format."""
    from datetime import date, timedelta

    from psycopg.adapt import Loader
    from psycopg.pq import Format

    class DateText(Loader):
        def load(self, data) -> str:
            return bytes(data).decode()

    class DateTextBinary(Loader):
        format = Format.BINARY
        epoch = date(2000, 1, 1)  # PostgreSQL's binary date: signed days since 2000-01-01

        def load(self, data) -> str:
            return (self.epoch + timedelta(days=int.from_bytes(data, "big", signed=True))).isoformat()

    raw.adapters.register_loader("date", DateText)
    raw.adapters.register_loader("date", DateTextBinary)
