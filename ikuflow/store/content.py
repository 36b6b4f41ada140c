"""The evidence repository: documents' content (rows and bytes) and the history chain's reads.

**The content store** is one small interface, :class:`Blobs` (``put``, ``get``), with two
places behind it: :class:`FileBlobs`, files named by their SHA-256 in a folder beside an SQLite
database (``ikuflow.db.files/ab/abcd...``, owner-only, written whole and renamed into place),
and :class:`DbBlobs`, the ``content_blob`` table on PostgreSQL, so every node sees them.
:func:`blobs` picks the one for a connection. Bytes are stored once per hash; a file written
for an attach that then failed stays, unreferenced and harmless (its name is its hash).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Protocol

from ikuflow.errors import IkuflowError
from ikuflow.store.db import dialect, fmt_ts, parse_ts
from ikuflow.store.documents import Step, insert_history


class Blobs(Protocol):
    """Where content bytes are kept, by SHA-256; ``transactional``: ``put`` writes inside the
    database's transaction (else on its own, before the row that names the bytes)."""

    transactional: bool

    def put(self, sha256: str, data: bytes) -> None:
        """Keep ``data`` under ``sha256`` (nothing to do if it is there already)."""

    def get(self, sha256: str) -> bytes | None:
        """The bytes kept under ``sha256``, or None."""


class FileBlobs:
    """Content as files in a folder (beside an SQLite database)."""

    transactional = False

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        """Write the file whole (a temporary name, fsync, rename), owner-only."""
        path = self._path(sha256)
        if path.exists():
            return
        part = path.with_name(f".{sha256}.{os.getpid()}.part")
        try:
            self.folder.mkdir(mode=0o700, exist_ok=True)  # (mkdir's parents would get the umask's mode)
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(part, path)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise IkuflowError(f"cannot store the content in {self.folder}: {exc.strerror or exc}; "
                               "check the folder's permissions and free space (nothing was attached)") from None

    def get(self, sha256: str) -> bytes | None:
        """The file's bytes, or None when there is no such file."""
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IkuflowError(f"cannot read the content {self._path(sha256)}: {exc.strerror or exc}") from None


class DbBlobs:
    """Content in the database (``content_blob``), inside the caller's transaction."""

    transactional = True

    def __init__(self, con: Any) -> None:
        self.con = con

    def put(self, sha256: str, data: bytes) -> None:
        """Insert the bytes unless they are there."""
        self.con.execute("INSERT OR IGNORE INTO content_blob (sha256, data) VALUES (?, ?)", (sha256, data))

    def get(self, sha256: str) -> bytes | None:
        """The stored bytes, or None."""
        row = self.con.execute("SELECT data FROM content_blob WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else bytes(row[0])


def blobs(con: Any) -> Blobs:
    """The content store of a connection: files beside an SQLite database, the database itself
    on PostgreSQL."""
    if dialect(con) == "postgresql":
        return DbBlobs(con)
    return FileBlobs(Path(os.path.abspath(con.path) + ".files"))


def copy_files(database: str, backup: str) -> int:
    """Copy the content folder of the SQLite database file ``database`` to the one of its backup
    ``backup`` (``backup.files``), owner-only; how many files were copied. Called after the
    database was copied: a file is written before the row that names it and never removed, so
    every content row of the copy has its file."""
    import shutil

    src, dst = Path(os.path.abspath(database) + ".files"), Path(os.path.abspath(backup) + ".files")
    if not src.is_dir():
        return 0
    n = 0
    try:
        for path in sorted(src.glob("??/*")):
            if path.name.startswith("."):  # a file being written now: its row is not in the copy
                continue
            target = dst / path.parent.name / path.name
            dst.mkdir(mode=0o700, exist_ok=True)
            target.parent.mkdir(mode=0o700, exist_ok=True)
            if not target.exists():
                shutil.copyfile(path, target)
                os.chmod(target, 0o600)
                n += 1
    except OSError as exc:
        raise IkuflowError(f"cannot copy the content files to {dst}: {exc.strerror or exc}; the database "
                           f"copy {backup} is complete, the files are not: free space and run the backup again") from None
    return n


# --- content rows -----------------------------------------------------------------------------
class Content(NamedTuple):
    """One version of a document's content."""

    document_id: int
    version: int
    sha256: str
    name: str
    size: int
    kind: str
    attached_by: str
    attached_at: Any  # naive UTC datetime


_CONTENT_COLS = "document_id, version, sha256, name, size, kind, attached_by, attached_at"


def _content(row) -> Content:
    return Content._make((*row[:7], parse_ts(row[7])))


def contents(con: Any, doc_id: int) -> list[Content]:
    """Every content version of a document, oldest first."""
    return [_content(r) for r in con.execute(f"SELECT {_CONTENT_COLS} FROM content WHERE document_id = ?"
                                             " ORDER BY version", (doc_id,))]


def with_hash(con: Any, sha256: str) -> list[tuple[Content, str]]:
    """The content versions whose bytes hash to ``sha256``, each with its document's key."""
    return [(_content(r[:8]), r[8]) for r in con.execute(
        f"SELECT c.{_CONTENT_COLS.replace(', ', ', c.')}, d.key FROM content c JOIN document d ON d.id = c.document_id"
        " WHERE c.sha256 = ? ORDER BY d.key, c.version", (sha256,))]


def save_attach(con: Any, doc_id: int, version: int, content: Content, step: Step) -> bool:
    """Make ``content`` the document's current content, guarded by its ``version``, and record
    ``step`` (the attach) in its history; False (nothing written) when it moved on meanwhile.
    Inside the caller's write transaction."""
    if con.execute("UPDATE document SET content_sha256 = ?, chain = ?, version = version + 1, updated_at = ?"
                   " WHERE id = ? AND version = ?", (content.sha256, step.chain, fmt_ts(step.at), doc_id,
                                                     version)).rowcount != 1:
        return False
    con.execute(f"INSERT INTO content ({_CONTENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*content[:7], fmt_ts(content.attached_at)))
    insert_history(con, [step])
    return True


# --- the chain --------------------------------------------------------------------------------
#: a history row as the chain reads it: its id, document id, the fields of evidence.canonical
#: after the key (version ... content), and its stored chain hash
CHAIN_SQL = ("SELECT id, document_id, version, at, actor, acting_for, event, from_state, to_state, comment,"
             " channel, content_sha256, chain FROM history")


def chain_rows(con: Any, doc_id: int | None = None) -> Iterator[tuple]:
    """Every history row (of ``doc_id`` if given) as the chain reads it (:data:`CHAIN_SQL`),
    by document and version. On SQLite the times are the stored text, on PostgreSQL datetimes."""
    if doc_id is not None:
        yield from con.execute(CHAIN_SQL + " WHERE document_id = ? ORDER BY version", (doc_id,))
        return
    cur = con.execute(CHAIN_SQL + " ORDER BY document_id, version")
    while True:
        rows = cur.fetchmany(10_000)
        if not rows:
            return
        yield from rows


def document_heads(con: Any) -> dict[int, tuple[str, str | None, str | None]]:
    """Every document: id -> (key, current content hash, chain head)."""
    return {i: (k, c, h) for i, k, c, h in con.execute("SELECT id, key, content_sha256, chain FROM document")}

