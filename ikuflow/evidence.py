"""Evidence, the pure part: what a history row's chain hash is, and what kind of file a
document's content is. No I/O; the use cases are in :mod:`ikuflow.app.evidence`.

**The chain.** Every history row carries ``chain = HMAC-SHA256(secret key, previous row's chain
+ "\\n" + this row's canonical bytes)`` (hex), the first row of a document chained to the empty
string. The canonical bytes are a JSON array of the row's fields in a fixed order: the key of
the document it belongs to, its version, time (UTC, microseconds), actor, acting-for, event,
from and to state, comment, channel and the content hash it acted on. So a row changed, moved to
another document, removed from the middle, inserted or put in another order no longer matches,
and without the key nobody can compute a matching one. What the chain cannot show alone is rows
cut from the end of a document's history (the rows left still chain): a checkpoint kept off the
server (its heads and counts) catches that.

**Content kinds.** A document's file is recognised by its bytes, never its name: a PDF starts
with ``%PDF-``; DOCX and XLSX are ZIP packages with ``[Content_Types].xml`` and a ``word/`` or
``xl/`` part; an ODT is a ZIP whose ``mimetype`` entry names the OpenDocument text type.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
from datetime import datetime
from typing import Any, TypeVar

S = TypeVar("S", bound=Any)  # a history row (store.documents.Step); the core does not import the store

#: what the first row of a document is chained to
GENESIS = ""

#: content kind -> (media type, the file name extension used when none is known)
KINDS = {
    "pdf": ("application/pdf", ".pdf"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    "odt": ("application/vnd.oasis.opendocument.text", ".odt"),
}
_ODT = b"application/vnd.oasis.opendocument.text"


def _unserializable(value: object) -> object:
    raise TypeError(f"a history field of type {type(value).__name__} has no canonical form")


_make = getattr(json.encoder, "c_make_encoder", None)  # json's C encoder (None without the accelerator)
#: made once here: JSONEncoder.encode makes one per call, a third of the time of a canonical row
_c_encoder = None if _make is None else _make(None, _unserializable, json.encoder.encode_basestring, None,
                                              ":", ",", False, False, True)
_py_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _encode(value: list) -> str:
    return _py_encode(value) if _c_encoder is None else "".join(_c_encoder(value, 0))


def _text(value: object) -> object:
    """A field as the canonical form writes it: times as UTC text with microseconds."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    return value


def canonical(key: str, version: int, at: object, actor: str, acting_for: str | None, event: str,
              from_state: str | None, to_state: str, comment: str | None, channel: str,
              content: str | None) -> bytes:
    """The canonical bytes of one history row (see the module docstring)."""
    return _encode([key, version, _text(at), actor, acting_for, event, from_state, to_state, comment,
                    channel, content]).encode("utf-8")


def chain_key(secret: bytes) -> bytes:
    """The chain's own key, derived from the installation's secret key (one purpose per key:
    the links and sessions signed with the secret key cannot pass for chain hashes)."""
    return hmac.digest(secret, b"ikuflow history chain v1", "sha256")


def link(secret: bytes, previous: str, row: bytes) -> str:
    """The chain hash of a row whose canonical bytes are ``row``, after the chain ``previous``."""
    return hmac.digest(secret, previous.encode("ascii") + b"\n" + row, "sha256").hex()


class Mac:
    """HMAC-SHA256 under one key with its inner and outer SHA-256 states computed once (RFC 2104):
    the digests of :func:`hmac.digest`, at half its cost per message, for the audit's rows."""

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def hex(self, message: bytes) -> str:
        """The HMAC of ``message``, in hex."""
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def chained(secret: bytes, key: str, previous: str | None, step: S) -> S:
    """``step`` (a history row of document ``key``: a NamedTuple of document id, version, at,
    actor, acting for, event, from, to, comment, channel, content and chain) with its chain
    hash, after the chain head ``previous``."""
    return step._replace(chain=link(secret, previous or GENESIS, canonical(key, *step[1:11])))


def kind_of(data: bytes) -> str | None:
    """'pdf', 'docx', 'xlsx' or 'odt' by the bytes of ``data``; None for anything else."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if not data.startswith(b"PK\x03\x04"):
        return None
    if data[30:38] == b"mimetype" and data[38:38 + len(_ODT)] == _ODT:  # ODF: stored first, unpacked
        return "odt" if _zip_names(data) is not None else None
    names = _zip_names(data)
    if names is None or "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return None


def _zip_names(data: bytes) -> set[str] | None:
    """The entry names of a ZIP archive, or None when it is not a readable one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return set(z.namelist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return None
