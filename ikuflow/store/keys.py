"""The secret key that signs action links and web sessions (and, later, the history chain):
``IKUFLOW_SECRET_KEY``, or a key ``init`` generates and keeps owner-only beside the database.

An SQLite database ``ikuflow.db`` keeps its key in ``ikuflow.db.key`` beside it. A PostgreSQL
database has no file to sit beside, and its key must not be in the database (whoever can write
the database could then forge links): ``init`` writes ``ikuflow.key`` in the folder it runs
in, and every node of the installation gets the same key, as that file or as
``IKUFLOW_SECRET_KEY``.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from ikuflow.errors import UsageError
from ikuflow.store.db import database_url, is_postgres, sqlite_path

ENV = "IKUFLOW_SECRET_KEY"
#: the shortest key accepted, in characters (a generated one is 64)
MIN_LENGTH = 32


def key_file(url: str | None = None) -> Path:
    """Where the generated key of the database ``url`` is kept."""
    url = database_url(url)
    if is_postgres(url):
        return Path("ikuflow.key").resolve()
    return Path(sqlite_path(url) + ".key").resolve()


def ensure(url: str | None = None) -> tuple[str, bool]:
    """(where the key is, whether it was made now): IKUFLOW_SECRET_KEY if set, else the key
    file, generated owner-only (0600) if missing. UsageError (exit 2) for a key too short."""
    if os.environ.get(ENV):
        _checked(os.environ[ENV], ENV)
        return ENV, False
    path = key_file(url)
    if path.exists():
        _read(path)
        return str(path), False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot write the secret key to {path}: {exc.strerror or exc}; set "
                         f"{ENV} instead, or run init where it may write") from None
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48) + "\n")
    return str(path), True


def secret_key(url: str | None = None) -> bytes:
    """The secret key: IKUFLOW_SECRET_KEY, else the key file of the database. UsageError (exit
    2) when there is none, or the file is readable by others than its owner."""
    value = os.environ.get(ENV)
    if value:
        return _checked(value, ENV)
    path = key_file(url)
    if not path.exists():
        raise UsageError(f"no secret key: {path} does not exist and {ENV} is not set; run "
                         f"'ikuflow init' to generate one, or set {ENV}")
    return _read(path)


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(f"the secret key {path} is readable by others; make it the owner's "
                         f"alone: chmod 600 {path}")
    try:
        return _checked(path.read_text(encoding="utf-8").strip(), str(path))
    except OSError as exc:
        raise UsageError(f"cannot read the secret key {path}: {exc.strerror or exc}") from None


def _checked(value: str, where: str) -> bytes:
    if len(value) < MIN_LENGTH:
        raise UsageError(f"the secret key in {where} has {len(value)} characters; use at least "
                         f"{MIN_LENGTH} random ones (python3 -c 'import secrets; "
                         "print(secrets.token_urlsafe(48))')")
    return value.encode("utf-8")
