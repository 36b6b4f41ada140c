"""The evidence use cases (PRODUCT.md section 9): a document's content (attach, download), which
document and people some bytes are (verify), the history chain's audit and checkpoint, and the
signing record (lembar pengesahan).

What each proves, and what it does not, is in :mod:`ikuflow.evidence` (the chain) and the user
guide (docs/guide-en.md, docs/guide-id.md: section 11).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

from ikuflow.app.session import CREATE_ROLES, Session, check_channel, who
from ikuflow.calendar import fmt_local, iso_local, now_utc
from ikuflow.errors import Conflict, IkuflowError, NotAllowed, NotFound, RoleMissing, UsageError
from ikuflow.evidence import GENESIS, KINDS, Mac, canonical, chained, kind_of, link
from ikuflow.store import content as files
from ikuflow.store import documents as store
from ikuflow.store.db import write

#: the largest file accepted, in MB, unless IKUFLOW_MAX_CONTENT_MB says otherwise
DEFAULT_MAX_MB = 50
#: the longest file name kept, in characters
MAX_NAME = 200
CHECKPOINT_FORMAT = "ikuflow-checkpoint/1"


def max_bytes() -> int:
    """The largest content accepted: IKUFLOW_MAX_CONTENT_MB (default 50) megabytes."""
    raw = os.environ.get("IKUFLOW_MAX_CONTENT_MB", "").strip()
    if not raw:
        return DEFAULT_MAX_MB * 1024 * 1024
    try:
        mb = int(raw)
    except ValueError:
        mb = 0
    if not 1 <= mb <= 2048:
        raise UsageError(f"IKUFLOW_MAX_CONTENT_MB is '{raw}'; give a whole number of megabytes from 1 to 2048")
    return mb * 1024 * 1024


def check_size(size: int) -> None:
    """UsageError (exit 2) for content larger than :func:`max_bytes`, or empty."""
    limit = max_bytes()
    if size == 0:
        raise UsageError("the file is empty; attach the document's PDF, DOCX, XLSX or ODT")
    if size > limit:
        raise UsageError(f"the file has {size / 1048576:,.1f} MB; the limit is {limit // 1048576} MB "
                         "(IKUFLOW_MAX_CONTENT_MB): make it smaller")


def clean_name(name: str) -> str:
    """A file name as kept: its last part only, without control or format characters, at most
    MAX_NAME characters ('document' when nothing is left)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return base[:MAX_NAME] or "document"


def sha256_file(path: str | Path) -> tuple[str, int]:
    """(SHA-256 hex, size) of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    size = 0
    try:
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
                size += n
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}; check the path") from None
    return h.hexdigest(), size


def read_file(path: str | Path) -> bytes:
    """A file to attach, its size checked before it is read (UsageError, exit 2)."""
    try:
        if Path(path).is_dir():
            raise UsageError(f"{path} is a folder; give the document's file")
        check_size(os.stat(path).st_size)
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}; check the path") from None
    check_size(len(data))
    return data


def _content_view(c: files.Content, tz: str, svc: Session) -> dict:
    return {"version": c.version, "sha256": c.sha256, "name": c.name, "size": c.size, "kind": c.kind,
            "media_type": KINDS[c.kind][0], "attached_by": c.attached_by,
            "attached_by_name": svc.name_of(c.attached_by), "attached_at": iso_local(c.attached_at, tz),
            "attached_local": fmt_local(c.attached_at, tz)}


# --- attach and download ------------------------------------------------------------------------
def attach(svc: Session, key: str, data: bytes, name: str, actor: str, at: datetime | None = None,
           channel: str = "cli") -> dict:
    """Make ``data`` (a PDF, DOCX, XLSX or ODT, by its bytes) the content of document ``key``,
    recorded in its history as an ``attach`` step by ``actor``. Only in the workflow's initial
    state (draft): elsewhere NotAllowed (exit 4, send it back first). UsageError (exit 2) for
    another kind of file or one too large; RoleMissing (5) for someone who may not edit it."""
    check_channel(channel)
    actor = who(actor)
    now = at or now_utc()
    check_size(len(data))
    kind = kind_of(data)
    if kind is None:
        raise UsageError(f"{clean_name(name)} is not a PDF, DOCX, XLSX or ODT file (judged by its bytes, "
                         "not its name); export the document to one of those and attach that")
    cur = svc.document(key)
    svc.seen_directory(cur.directory_version)
    wf = svc.engine(cur.workflow_name, cur.workflow_version).workflow
    refusal = _may_not_attach(svc, actor, key, cur.office, cur.division, cur.state, wf)
    if refusal is not None:
        raise refusal
    sha = hashlib.sha256(data).hexdigest()
    if sha == cur.content_sha256:
        raise Conflict(f"this file is already the current content of {key} (sha256 {sha[:12]}...); nothing "
                       "was attached")
    versions = files.contents(svc.con, cur.id)
    content = files.Content(cur.id, len(versions) + 1, sha, clean_name(name), len(data), kind, actor, now)
    step = chained(svc.chain_key(), key, cur.chain, store.Step(
        cur.id, cur.version + 1, now, actor, None, "attach", cur.state, cur.state, None, channel, sha))
    blobs = files.blobs(svc.con)
    if not blobs.transactional:
        blobs.put(sha, data)  # a file first: the row that names it is written only once it is there
    with write(svc.con) as c:
        if blobs.transactional:
            blobs.put(sha, data)
        if not files.save_attach(c, cur.id, cur.version, content, step):
            raise Conflict(f"document {key} changed while you were attaching; check 'ikuflow status {key}' "
                           "and attach again")
    tz = svc.place(cur.office)[0]
    return {"key": key, "version": cur.version + 1, "content": _content_view(content, tz, svc)}


def _may_not_attach(svc: Session, actor: str, key: str, office: str, division: str, state: str,
                    wf) -> IkuflowError | None:
    """Why ``actor`` may not change the content of a document now, or None: the coordinator of
    its division, its office's secretariat or an admin, in the workflow's initial state."""
    roles = svc.roles(actor, office, division)
    if not ("admin" in roles or roles & CREATE_ROLES):
        return RoleMissing(f"{actor} may not change the content of {key}: it needs the coordinator role of "
                           "its division, the office's secretariat, or admin")
    if state in wf.final:
        return NotAllowed(f"{key} is {state}, which is final: its content can no longer change")
    if state != wf.initial:
        return NotAllowed(f"{key} is in '{state}': its content changes only in '{wf.initial}'; send it back "
                          f"first (ikuflow advance {key} send_back -m \"...\"), then attach")
    return None


def may_attach(svc: Session, actor: str, status: dict) -> bool:
    """Whether ``actor`` may attach content to the document of ``status`` (queries.status) now."""
    wf = svc.engine(status["workflow"], status["workflow_version"]).workflow
    return _may_not_attach(svc, actor, status["key"], status["office"], status["division"], status["state"],
                           wf) is None


def content_versions(svc: Session, key: str) -> list[dict]:
    """Every content version of document ``key``, oldest first."""
    cur = svc.document(key)
    tz = svc.place(cur.office)[0]
    return [_content_view(c, tz, svc) for c in files.contents(svc.con, cur.id)]


def current_content(svc: Session, cur: store.Current) -> dict | None:
    """The current content of a document read with :func:`store.documents.current`, or None."""
    if cur.content_sha256 is None:
        return None
    found = [c for c in files.contents(svc.con, cur.id) if c.sha256 == cur.content_sha256]
    return _content_view(found[-1], svc.place(cur.office)[0], svc) if found else None


def download(svc: Session, key: str, version: int | None = None) -> tuple[dict, bytes]:
    """A content version of document ``key`` (the newest if ``version`` is None) and its bytes.
    NotFound (exit 3) for a document without content or a version it does not have."""
    cur = svc.document(key)
    versions = files.contents(svc.con, cur.id)
    pick = versions[pick_version(key, [c.version for c in versions], version)]
    data = files.blobs(svc.con).get(pick.sha256)
    if data is None or hashlib.sha256(data).hexdigest() != pick.sha256:
        raise IkuflowError(f"the stored bytes of {key} content version {pick.version} are "
                           f"{'missing' if data is None else 'damaged (their hash changed)'}; restore the "
                           "content folder (or the database) from a backup")
    return _content_view(pick, svc.place(cur.office)[0], svc), data


def pick_version(key: str, versions: list[int], version: int | None) -> int:
    """Where content ``version`` (the newest if None) is among the content version numbers of
    document ``key``, oldest first. NotFound (exit 3) when it has none, or not that one."""
    if not versions:
        raise NotFound("content of document", key, f"attach a file first: ikuflow attach {key} FILE")
    if version is None:
        return len(versions) - 1
    if version not in versions:
        raise NotFound("content version", str(version), f"{key} has versions 1 to {len(versions)}")
    return versions.index(version)


# --- verify FILE ----------------------------------------------------------------------------------
def verify_file(svc: Session, path: str | Path) -> dict:
    """Which documents and content versions the bytes of ``path`` are, and who acted on exactly
    that content (each step's actor, acting-for, channel and local time), with whether each
    document's history chain is intact. NotFound (exit 3) when no content has these bytes."""
    sha, size = sha256_file(path)
    return verify_hash(svc, sha, size)


def verify_hash(svc: Session, sha: str, size: int | None = None, offices: frozenset[str] | None = None) -> dict:
    """:func:`verify_file` for bytes whose SHA-256 is ``sha`` (hex), among the documents of
    ``offices`` if given (the API's person sees no others). NotFound (exit 3) for no match."""
    sha = sha.strip().lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise UsageError("a SHA-256 is 64 hexadecimal digits, e.g. the output of sha256sum FILE")
    found = files.with_hash(svc.con, sha)
    matches = []
    for c, key in found:
        cur = svc.document(key)
        if offices is not None and cur.office not in offices:
            continue
        matches.append(_match(svc, c, cur, sha))
    if not matches:
        raise NotFound("content", f"sha256 {sha}", "no document has these bytes (even a one-byte change "
                       "gives another hash); check that this is the file that was signed")
    return {"sha256": sha, "size": size if size is not None else found[0][0].size, "matches": matches}


def _match(svc: Session, c: files.Content, cur: store.Current, sha: str) -> dict:
    """One document whose content version ``c`` has the bytes of ``sha``: who acted on them."""
    tz, office_name = svc.place(cur.office)
    eng = svc.engine(cur.workflow_name, cur.workflow_version)
    wf = eng.workflow
    rows = list(files.chain_rows(svc.con, cur.id))
    acted = [_step_view(svc, eng, r, tz) for r in rows if r[11] == sha and r[6] != "attach"]
    problem = _first_problem(svc.chain_key(), cur, rows)
    return {"key": cur.key, "title": cur.title, "office": cur.office, "office_name": office_name,
            "division": cur.division, "state": cur.state, "final": cur.state in wf.final,
            "content": _content_view(c, tz, svc), "current": cur.content_sha256 == sha,
            "steps": acted, "chain_intact": problem is None, "chain_problem": problem[2] if problem else None}


def _step_view(svc: Session, eng, r: tuple, tz: str) -> dict:
    """A history row of :func:`store.content.chain_rows` for people."""
    from ikuflow.store.db import parse_ts

    at = parse_ts(r[3])
    return {"version": r[2], "event": r[6], "event_title": eng.event_title(r[6]),
            "actor": r[4], "actor_name": svc.name_of(r[4]), "acting_for": r[5],
            "acting_for_name": svc.name_of(r[5]) if r[5] else None, "from": r[7], "to": r[8],
            "comment": r[9], "channel": r[10], "content_sha256": r[11], "chain": r[12],
            "at": iso_local(at, tz), "at_local": fmt_local(at, tz)}


# --- the chain: audit and checkpoint ---------------------------------------------------------------
def _first_problem(secret: bytes, cur: store.Current, rows: list[tuple]) -> tuple[int | None, int, str] | None:
    """The first row of one document's history (``rows``, its rows of chain_rows) that breaks its
    chain, or where the document row ``cur`` disagrees with its last row: (history id, version,
    what is wrong), or None. :func:`_walk` over the one document."""
    if not rows:
        return None
    _, broken, _ = _walk(secret, {cur.id: (cur.key, cur.content_sha256, cur.chain)}, rows, {})
    return (broken[0]["history_id"], broken[0]["version"], broken[0]["problem"]) if broken else None


def _check(secret: bytes, key: str, n: int, previous: str, content: str | None,
           r: tuple) -> tuple[int, int, str] | None:
    """What is wrong with row ``r``, the ``n``-th of a document, after a row whose chain and
    content are ``previous`` and ``content``; None when nothing is."""
    version = r[2]
    if version != n:
        if version > n:
            return r[0], version, (f"version {version} follows version {n - 1}: {version - n} row(s) removed "
                                   "before it")
        return r[0], version, f"version {version} is out of order (version {n} expected)"
    if r[12] != link(secret, previous, canonical(key, *r[2:12])):
        if r[12] is None:
            return r[0], version, "it has no chain hash: written around ikuflow"
        return r[0], version, ("its chain hash does not match: the row was changed, inserted, or moved "
                               "here from another document")
    if n and r[11] != content and r[6] != "attach":
        return r[0], version, (f"its step acted on content {str(r[11])[:12]}... where the row before had "
                               f"{str(content)[:12]}..., with no attach between: the content was swapped "
                               "outside ikuflow")
    return None


def _disagrees(head: tuple[str | None, str | None], last: tuple) -> tuple[int | None, int, str] | None:
    """Whether the document row (its content hash and chain head) disagrees with its last
    history row: content or a head set outside ikuflow."""
    if head[0] != last[11]:
        return None, last[2], ("the document's current content is not the content of its last step: "
                               "changed outside ikuflow")
    if head[1] != last[12]:
        return None, last[2], "the document's chain head is not its last row's: changed outside ikuflow"
    return None


def audit(svc: Session, checkpoint: dict | None = None) -> dict:
    """Recompute every document's history chain; ``ok`` False and ``broken`` naming the first bad
    row per document (its key, history id, version and what is wrong). Against a ``checkpoint``
    (:func:`read_checkpoint`) it also names documents whose history lost rows from its end, or
    was rewritten up to its checkpointed head, or that are gone."""
    secret = svc.chain_key()
    docs = files.document_heads(svc.con)
    keys = {i: d[0] for i, d in docs.items()}
    want = {} if checkpoint is None else checkpoint["documents"]
    heads, broken, rows_seen = _walk(secret, docs, files.chain_rows(svc.con), want)
    for doc_id in keys.keys() - heads.keys():  # a document whose every row is gone
        broken.append({"key": keys[doc_id], "history_id": None, "version": 0,
                       "problem": "it has no history rows at all (removed)"})
    ids = {k: i for i, k in keys.items()}
    for key, (count, head) in sorted(want.items()):
        got = heads.get(ids.get(key, -1))
        if key not in ids:
            broken.append({"key": key, "history_id": None, "version": None,
                           "problem": "the document is gone since the checkpoint"})
        elif got is not None and got[0] < count:
            broken.append({"key": key, "history_id": None, "version": got[0],
                           "problem": f"{count - got[0]} row(s) cut from the end since the checkpoint "
                                      f"(it had {count}, it has {got[0]})"})
        elif got is not None and got[2] != head:
            broken.append({"key": key, "history_id": None, "version": count - 1,
                           "problem": "its history up to the checkpoint was rewritten (the chain head at "
                                      f"version {count - 1} is not the checkpoint's)"})
    broken = _first_per_document(broken)
    return {"ok": not broken, "documents": len(keys), "rows": rows_seen, "broken": broken,
            "checkpoint": None if checkpoint is None else {"created_at": checkpoint["created_at"],
                                                           "documents": len(want)}}


def _first_per_document(broken: list[dict]) -> list[dict]:
    out: dict[str, dict] = {}
    for b in broken:
        out.setdefault(b["key"], b)
    return [out[k] for k in sorted(out)]


def _walk(secret: bytes, docs: dict[int, tuple[str, str | None, str | None]], rows,
          want: dict) -> tuple[dict, list[dict], int]:
    """One pass over every history row, by document and version (``docs``: id -> key, current
    content, chain head): per document id (rows, chain head, its chain after as many rows as
    ``want`` holds for its key), the first bad row of each broken document, and how many rows
    were read. The hot loop of ``audit verify``."""
    heads: dict[int, tuple[int, str, str | None]] = {}
    broken: list[dict] = []
    doc, key, previous, content, n, bad, at_mark, mark, last = None, "", GENESIS, None, 0, False, None, -1, None
    seen = 0
    mac, enc = Mac(secret).hex, canonical

    def close(doc_id: int, last_row: tuple) -> None:
        heads[doc_id] = (n, previous, at_mark)
        if not bad and doc_id in docs:
            found = _disagrees(docs[doc_id][1:], last_row)
            if found is not None:
                broken.append({"key": key, "history_id": found[0], "version": found[1], "problem": found[2]})

    for r in rows:
        seen += 1
        if r[1] != doc:
            if doc is not None and last is not None:
                close(doc, last)
            doc, previous, content, n, bad, at_mark = r[1], GENESIS, None, 0, False, None
            key = docs[doc][0] if doc in docs else ""
            mark = want[key][0] if key in want else -1
        if not bad:
            if r[2] == n and r[12] is not None and (r[11] == content or not n or r[6] == "attach") \
                    and r[12] == mac(previous.encode() + b"\n" + enc(key, *r[2:12])):
                previous, content = r[12], r[11]
            else:
                found = _check(secret, key, n, previous, content, r)
                if found is not None:
                    bad = True
                    broken.append({"key": key, "history_id": found[0], "version": found[1], "problem": found[2]})
                    previous = ""
        n += 1
        last = r
        if n == mark:
            at_mark = previous if not bad else None
    if doc is not None and last is not None:
        close(doc, last)
    return heads, broken, seen


def checkpoint(svc: Session, at: datetime | None = None) -> dict:
    """The chain heads and row counts of every document, signed with the chain key, to keep off
    the server. Only an intact history is checkpointed: Conflict (exit 6) naming the first
    broken document otherwise (run ``ikuflow audit verify``)."""
    secret = svc.chain_key()
    docs = files.document_heads(svc.con)
    keys = {i: d[0] for i, d in docs.items()}
    heads, broken, rows = _walk(secret, docs, files.chain_rows(svc.con), {})
    if broken:
        b = broken[0]
        raise Conflict(f"the history of {b['key']} is broken at version {b['version']} ({b['problem']}); "
                       f"{len(broken)} document(s) in all: see 'ikuflow audit verify', nothing was written")
    body = {"format": CHECKPOINT_FORMAT, "created_at": iso_local(at or now_utc(), "UTC"),
            "rows": rows, "documents": {keys[i]: [count, head] for i, (count, head, _) in sorted(heads.items())
                                        if i in keys}}
    return {**body, "mac": _mac(secret, body)}


def _mac(secret: bytes, body: dict) -> str:
    return hmac.new(secret, json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
                    "sha256").hexdigest()


def read_checkpoint(svc: Session, text: str, where: str) -> dict:
    """A checkpoint file's contents, checked: UsageError (exit 2) for one that is not a
    checkpoint; IkuflowError (exit 1) for one altered or made under another key."""
    try:
        data = json.loads(text)
        body = {k: data[k] for k in ("format", "created_at", "rows", "documents")}
        mac = data["mac"]
        ok = data["format"] == CHECKPOINT_FORMAT and isinstance(data["documents"], dict) and all(
            isinstance(v, list) and len(v) == 2 and isinstance(v[0], int) and isinstance(v[1], str)
            for v in data["documents"].values())
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise UsageError(f"{where} is not an ikuflow checkpoint; write one with 'ikuflow audit checkpoint -o FILE'")
    if not hmac.compare_digest(str(mac), _mac(svc.chain_key(), body)):
        raise IkuflowError(f"{where} was altered, or made under another secret key: its signature does not "
                           "match; use the checkpoint as it was written, with this installation's key")
    return body


def mail_checkpoint(svc: Session, to: str, at: datetime | None = None) -> bool:
    """Queue today's checkpoint e-mail to ``to`` (IKUFLOW_CHECKPOINT_TO), once per UTC day however
    many nodes run ``serve`` (its cause is unique); when the history is broken the e-mail says
    so instead. True when it was queued now, False when today's was queued already."""
    from ikuflow.app import notices
    from ikuflow.store import outbox

    now = at or now_utc()
    to = who(to)
    cause = f"checkpoint:{now.date().isoformat()}:{to}"
    if outbox.has_cause(svc.con, cause):
        return False
    domain = svc.mail_domain()
    try:
        text, problem = json.dumps(checkpoint(svc, now), indent=1, sort_keys=True), ""
    except Conflict as exc:
        text, problem = "", str(exc)
    payload = json.dumps({"kind": "checkpoint", "context": {
        "recipient": {"email": to, "name": svc.name_of(to), "role": ""}, "checkpoint": text,
        "problem": problem}}, ensure_ascii=False)
    with write(svc.con) as c:
        store.insert_intents(c, [store.Intent(None, "checkpoint", cause, to, "checkpoint", payload,
                                              notices.message_id(cause, domain), "pending", now)], once=True)
    return True


def checkpoint_to() -> str | None:
    """IKUFLOW_CHECKPOINT_TO: where ``serve`` mails the daily checkpoint (None: off, the default).
    UsageError (exit 2) for something that is not one e-mail address."""
    to = os.environ.get("IKUFLOW_CHECKPOINT_TO", "").strip()
    if not to:
        return None
    if "@" not in to or any(c.isspace() or c in ",;<>" for c in to) or not to.isprintable():
        raise UsageError(f"IKUFLOW_CHECKPOINT_TO is '{to}'; give one e-mail address, e.g. "
                         "sekretariat@bawaslu.go.id (or unset it: no checkpoint e-mail)")
    return to


# --- the signing record ---------------------------------------------------------------------------
def record(svc: Session, key: str, at: datetime | None = None) -> dict:
    """The signing record (lembar pengesahan) of document ``key``: the document, its office and
    division, its current content, every step (actor, acting for, channel, local time, the
    content it acted on and its chain hash), whether the chain is intact, and how to check it."""
    cur = svc.document(key)
    svc.seen_directory(cur.directory_version)
    tz, office_name = svc.place(cur.office)
    eng = svc.engine(cur.workflow_name, cur.workflow_version)
    wf = eng.workflow
    rows = list(files.chain_rows(svc.con, cur.id))
    problem = _first_problem(svc.chain_key(), cur, rows)
    content = current_content(svc, cur)
    st = wf.states[cur.state]
    return {"key": key, "title": cur.title, "office": cur.office, "office_name": office_name,
            "division": cur.division, "division_name": svc.division_name(cur.division), "year": cur.year,
            "signing_date": cur.signing_date, "state": cur.state, "state_title": st.title or cur.state,
            "final": cur.state in wf.final, "tz": tz, "content": content,
            "steps": [_step_view(svc, eng, r, tz) for r in rows],
            "chain_intact": problem is None, "chain_problem": problem[2] if problem else None,
            "how_to_check": "ikuflow verify FILE" + (f" (sha256 {content['sha256']})" if content else ""),
            "generated": iso_local(at or now_utc(), tz), "generated_local": fmt_local(at or now_utc(), tz)}


def render_record(data: dict) -> str:
    """The signing record as one printable HTML page, with no external assets."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent.parent / "templates")),
                      undefined=StrictUndefined, autoescape=select_autoescape(["html"]))
    return env.get_template("record.html").render(r=data)


def verify_chain(svc: Session, key: str) -> dict[str, Any]:
    """Whether one document's chain is intact, and its first bad row if not."""
    cur = svc.document(key)
    problem = _first_problem(svc.chain_key(), cur, list(files.chain_rows(svc.con, cur.id)))
    return {"key": key, "intact": problem is None, "problem": None if problem is None else problem[2]}
