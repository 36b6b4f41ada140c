"""The documents repository: every line of SQL that reads or writes documents, their queues and
history, the stored workflow versions and the e-mail intents a step queues.

The functions work on a connection from :func:`ikuflow.store.db.connect`, inside the caller's
transaction where they write, except :func:`save_step`, which is one step's whole write (see
there). Rows come back as named records, times as naive UTC datetimes, on both backends.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from typing import Any, Iterable, NamedTuple, Sequence

from ikuflow.store.db import dialect, fmt_ts, parse_ts

#: The scheduler's slots (document.tick_slot, from the key): see ikuflow.store.schedule.
TICK_SLOTS = 16


def tick_slot(key: str) -> int:
    """The scheduler slot of the document ``key`` (migration 0005 gave existing ones the same)."""
    return zlib.crc32(key.encode()) % TICK_SLOTS


class Current(NamedTuple):
    """A document as it is now, and the directory version it was read with."""

    id: int
    key: str
    title: str
    office: str
    division: str
    year: int
    signing_date: str
    workflow_name: str
    workflow_version: int
    state: str
    version: int
    due_at: datetime | None
    updated_at: datetime | None
    directory_version: str | None
    content_sha256: str | None  # its current content (None: none attached)
    chain: str | None  # the chain hash of its last history row


#: one index lookup (the names and zone of its office come from the session's directory)
_CURRENT_SQL = ("SELECT id, key, title, office_code, division_code, year, signing_date, workflow_name,"
                " workflow_version, state, version, due_at, updated_at,"
                " (SELECT value FROM meta WHERE key = 'directory_version'), content_sha256, chain"
                " FROM document WHERE key = ?")


def current(con: Any, key: str) -> Current | None:
    """The document ``key`` as it is now, or None."""
    row = con.execute(_CURRENT_SQL, (key,)).fetchone()
    if row is None:
        return None
    return Current._make((*row[:11], parse_ts(row[11]), parse_ts(row[12]), *row[13:]))


class NewDocument(NamedTuple):
    """A document to insert, in its workflow's initial state."""

    key: str
    office: str
    division: str
    year: int
    title: str
    signing_date: str
    workflow_name: str
    workflow_version: int
    state: str
    due_at: datetime | None
    next_action_at: datetime | None
    at: datetime
    chain: str | None = None  # the chain hash of its first history row


class Intent(NamedTuple):
    """An e-mail to send: who, why (``cause``, unique per recipient), the template and the
    context it is rendered with at send time (JSON ``payload``), its Message-ID."""

    document_id: int | None
    kind: str
    cause: str
    recipient: str
    template: str
    payload: str
    message_id: str
    status: str
    at: datetime


_INSERT_DOC_SQL = ("INSERT INTO document (key, office_code, division_code, year, title, signing_date,"
                   " workflow_name, workflow_version, state, version, due_at, next_action_at,"
                   " created_at, updated_at, queue_id, tick_slot, chain) VALUES (?,?,?,?,?,?,?,?,?,0,?,?,?,?,?,?,?)")
_HISTORY_SQL = ("INSERT INTO history (document_id, version, at, actor, acting_for, event, from_state,"
                " to_state, comment, channel, content_sha256, chain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INTENT_SQL = ("INSERT INTO outbox (document_id, kind, cause, recipient, template, payload, message_id,"
               " status, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)")
#: the scheduler's rows: a cause already in the outbox is left as it is (ux_outbox_cause)
_INTENT_ONCE_SQL = _INTENT_SQL.replace("INSERT INTO", "INSERT OR IGNORE INTO")


def _doc_values(d: NewDocument, queue_id: int) -> tuple:
    ts = fmt_ts(d.at)
    return (d.key, d.office, d.division, d.year, d.title, d.signing_date, d.workflow_name,
            d.workflow_version, d.state, fmt_ts(d.due_at), fmt_ts(d.next_action_at), ts, ts,
            queue_id, tick_slot(d.key), d.chain)


def insert_document(con: Any, d: NewDocument, queue_id: int) -> int:
    """Insert one document; its id."""
    return con.execute(_INSERT_DOC_SQL + " RETURNING id", _doc_values(d, queue_id)).fetchone()[0]


def insert_documents(con: Any, docs: Sequence[NewDocument], queue_ids: dict[tuple[str, str], int]) -> None:
    """Insert many documents of one workflow state (``queue_ids``: (office, division) -> queue)."""
    con.executemany(_INSERT_DOC_SQL, [_doc_values(d, queue_ids[d.office, d.division]) for d in docs])


def ids_of(con: Any, year: int, workflow: str) -> dict[str, int]:
    """key -> id of the documents of ``workflow`` for ``year``."""
    return {k: i for i, k in con.execute("SELECT id, key FROM document WHERE year = ? AND workflow_name = ?",
                                         (year, workflow))}


def existing_keys(con: Any, year: int, workflow: str) -> set[str]:
    """The keys of the documents of ``workflow`` for ``year``."""
    return {r[0] for r in con.execute("SELECT key FROM document WHERE year = ? AND workflow_name = ?",
                                      (year, workflow))}


class Step(NamedTuple):
    """One history row: the step that made version ``version`` of document ``document_id``."""

    document_id: int
    version: int
    at: datetime
    actor: str
    acting_for: str | None
    event: str
    from_state: str | None
    to_state: str
    comment: str | None
    channel: str = "cli"  # cli, web, link or api (CHANNELS)
    content_sha256: str | None = None  # the content it acted on
    chain: str | None = None  # its chain hash (ikuflow.evidence)


#: the ways a step can come in: the command line, a web page, a personal link in an e-mail, the API
CHANNELS = ("cli", "web", "link", "api")


def insert_history(con: Any, steps: Iterable[Step]) -> None:
    """Append history rows."""
    con.executemany(_HISTORY_SQL, [(*s[:2], fmt_ts(s.at), *s[3:]) for s in steps])


def _intent_values(i: Intent) -> tuple:
    ts = fmt_ts(i.at)
    return (*i[:8], ts, ts)


def insert_intents(con: Any, intents: Iterable[Intent], once: bool = False) -> None:
    """Queue e-mail intents; ``once``: a cause already queued is skipped (the scheduler's)."""
    con.executemany(_INTENT_ONCE_SQL if once else _INTENT_SQL, [_intent_values(i) for i in intents])


# --- one step: the document moved, its history row and its e-mails, in one write -------------
_UPDATE_SQL = ("UPDATE document SET state = ?, queue_id = ?, version = version + 1, updated_at = ?,"
               " due_at = ?, next_action_at = ?, chain = ? WHERE id = ? AND version = ?")
#: PostgreSQL: the whole step in one statement (one network round trip, its own transaction in
#: autocommit): the history and outbox rows are written only if the guarded update was
_STEP_SQL_PG = (
    "WITH u AS (UPDATE document SET state = ?, queue_id = ?, version = version + 1,"
    " updated_at = ?::timestamp, due_at = ?::timestamp, next_action_at = ?::timestamp, chain = ?"
    " WHERE id = ? AND version = ? RETURNING id),"
    " h AS (INSERT INTO history (document_id, version, at, actor, acting_for, event, from_state,"
    " to_state, comment, channel, content_sha256, chain) SELECT id, ?, ?::timestamp, ?, ?, ?, ?, ?, ?, ?, ?, ?"
    " FROM u),"
    " o AS (INSERT INTO outbox (document_id, kind, cause, recipient, template, payload, message_id,"
    " status, attempts, next_attempt_at, created_at) SELECT u.id, x->>0, x->>1, x->>2, x->>3, x->>4,"
    " x->>5, x->>6, 0, ?::timestamp, ?::timestamp FROM u, json_array_elements(?::json) AS x)"
    " SELECT count(*) FROM u")


def save_step(con: Any, doc_id: int, version: int, step: Step, queue_id: int,
              due_at: datetime | None, next_action_at: datetime | None, intents: Sequence[Intent]) -> bool:
    """Move document ``doc_id`` from ``version`` as ``step`` says, append ``step`` to its history
    and queue ``intents``; False (and nothing written) when it is no longer at ``version``.

    On SQLite call it inside a write transaction. On PostgreSQL it is one statement: outside a
    transaction it commits on its own, in one round trip."""
    ts = fmt_ts(step.at)
    if dialect(con) == "postgresql":
        # the intents as one JSON text ([[kind, cause, ...], ...]): json escapes the payloads in
        # C, where seven text[] parameters cost psycopg a regular-expression escape per quote
        rows = json.dumps([i[1:8] for i in intents], ensure_ascii=False)
        return con.execute(_STEP_SQL_PG, (
            step.to_state, queue_id, ts, fmt_ts(due_at), fmt_ts(next_action_at), step.chain, doc_id, version,
            step.version, ts, step.actor, step.acting_for, step.event, step.from_state, step.to_state,
            step.comment, step.channel, step.content_sha256, step.chain, ts, ts, rows)).fetchone()[0] == 1
    if con.execute(_UPDATE_SQL, (step.to_state, queue_id, ts, fmt_ts(due_at), fmt_ts(next_action_at),
                                 step.chain, doc_id, version)).rowcount != 1:
        return False
    con.execute(_HISTORY_SQL, (*step[:2], ts, *step[3:]))
    if intents:
        con.executemany(_INTENT_SQL, [_intent_values(i) for i in intents])
    return True


def runs_alone(con: Any) -> bool:
    """Whether :func:`save_step` is a transaction of its own here (PostgreSQL, autocommit)."""
    return dialect(con) == "postgresql" and not con.in_transaction


# --- workflow versions, queues, the calendar ----------------------------------------------------
def workflow_row(con: Any, name: str, version: int) -> tuple[str, str, int] | None:
    """(source, path, id) of a stored workflow version, or None."""
    return con.execute("SELECT source, path, id FROM workflow_version WHERE name = ? AND version = ?",
                       (name, version)).fetchone()


def latest_version(con: Any, name: str) -> int | None:
    """The newest stored version of workflow ``name``, or None."""
    row = con.execute("SELECT max(version) FROM workflow_version WHERE name = ?", (name,)).fetchone()
    return None if row is None else row[0]


def workflow_names(con: Any) -> list[str]:
    """The names of the stored workflows."""
    return [r[0] for r in con.execute("SELECT DISTINCT name FROM workflow_version ORDER BY name")]


def queues(con: Any) -> dict[int, tuple[str, str, str, int, str]]:
    """Every queue: id -> (office, division, workflow name, workflow version, state)."""
    wf = {i: (n, v) for i, n, v in con.execute("SELECT id, name, version FROM workflow_version")}
    return {i: (o, d, *wf[w], st) for i, o, d, w, st in con.execute(
        "SELECT id, office_code, division_code, workflow_id, state FROM queue")}


def queue_keys(con: Any) -> dict[int, tuple[str, str, int, str]]:
    """Every queue: id -> (office, division, workflow id, state)."""
    return {i: (o, d, w, st) for i, o, d, w, st in con.execute(
        "SELECT id, office_code, division_code, workflow_id, state FROM queue")}


def queue_ids(con: Any, pairs: Iterable[tuple[str, str]], workflow_id: int, state: str,
              then: Iterable[str] = ()) -> dict[tuple[str, str], int]:
    """(office, division) -> the id of the queue of ``state`` of a workflow version there, for
    each of ``pairs``, adding the queues not stored yet, and for those pairs the queues of the
    states ``then`` too, so steps find theirs (inside the caller's transaction)."""
    pairs = set(pairs)
    sql = "SELECT id, office_code, division_code FROM queue WHERE workflow_id = ? AND state = ?"
    args: tuple = (workflow_id, state)
    if len(pairs) == 1:
        sql, args = sql + " AND office_code = ? AND division_code = ?", args + next(iter(pairs))
    have = {(o, d): i for i, o, d in con.execute(sql, args)}
    missing = sorted(pairs - have.keys())
    if missing:
        con.executemany("INSERT OR IGNORE INTO queue (office_code, division_code, workflow_id, state)"
                        " VALUES (?, ?, ?, ?)", [(o, d, workflow_id, st) for o, d in missing
                                                 for st in [state, *(x for x in then if x != state)]])
        have = {(o, d): i for i, o, d in con.execute(sql, args)}
    return have


def calendar_days(con: Any) -> list[tuple[str, bool]]:
    """The stored working-day overrides: (day, working)."""
    return [(d, bool(w)) for d, w in con.execute("SELECT day, working FROM calendar_day")]


# --- reads ----------------------------------------------------------------------------------
class Listed(NamedTuple):
    """One document of ``list``."""

    key: str
    office: str
    division: str
    year: int
    state: str
    due_at: datetime | None
    signing_date: str
    tz: str
    version: int


def listing(con: Any, state: str | None, office: str | None, division: str | None, year: int | None,
            overdue_at: datetime | None, limit: int | None) -> list[Listed]:
    """Documents matching every filter given (``overdue_at``: due before then), by office,
    division and year."""
    where, args = [], []
    for col, val in (("d.state", state), ("d.office_code", office), ("d.division_code", division),
                     ("d.year", year)):
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    if overdue_at is not None:
        where.append("d.due_at IS NOT NULL AND d.due_at < ?")
        args.append(fmt_ts(overdue_at))
    sql = ("SELECT d.key, d.office_code, d.division_code, d.year, d.state, d.due_at, d.signing_date,"
           " o.tz, d.version FROM document d JOIN office o ON o.code = d.office_code"
           + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY d.office_code, d.division_code, d.year" + (" LIMIT ?" if limit else ""))
    return [Listed(r[0], r[1], r[2], r[3], r[4], parse_ts(r[5]), r[6], r[7], r[8])
            for r in con.execute(sql, args + ([int(limit)] if limit else []))]


class Waiting(NamedTuple):
    """One document waiting for someone (``my tasks``)."""

    key: str
    office: str
    division: str
    year: int
    state: str
    due_at: datetime | None


def waiting(con: Any, places: list[tuple[str, str | None, tuple[str, ...]]], limit: int,
            offset: int) -> tuple[int, list[Waiting]]:
    """How many documents are in any of ``places`` ((office, division or None for all, states)),
    and one page of them (``limit`` from ``offset``), the earliest due first (none last). Both
    are ranges of ix_document_tasks."""
    if not places:
        return 0, []
    where, args = [], []
    for office, division, states in places:
        where.append("(d.office_code = ? AND d.state IN (" + ", ".join("?" * len(states)) + ")"
                     + (" AND d.division_code = ?)" if division is not None else ")"))
        args += [office, *states] + ([division] if division is not None else [])
    cond = " OR ".join(where)
    rows = con.execute("SELECT d.key, d.office_code, d.division_code, d.year, d.state, d.due_at FROM document d"
                       " WHERE " + cond + " ORDER BY d.due_at NULLS LAST, d.key LIMIT ? OFFSET ?",
                       args + [int(limit), int(offset)]).fetchall()
    if rows and len(rows) < limit:  # the last page: no need to count
        total = offset + len(rows)
    else:
        total = con.execute("SELECT count(*) FROM document d WHERE " + cond, args).fetchone()[0]
    return total, [Waiting(r[0], r[1], r[2], r[3], r[4], parse_ts(r[5])) for r in rows]


def document_zone(con: Any, key: str) -> tuple[int, str] | None:
    """(id, office zone) of the document ``key``, or None."""
    return con.execute("SELECT d.id, o.tz FROM document d JOIN office o ON o.code = d.office_code"
                       " WHERE d.key = ?", (key,)).fetchone()


def history(con: Any, doc_id: int, until: datetime | None = None) -> list[Step]:
    """The history of a document, oldest first (up to ``until`` if given)."""
    return [Step(doc_id, v, parse_ts(at), *rest) for v, at, *rest in con.execute(
        "SELECT version, at, actor, acting_for, event, from_state, to_state, comment, channel, content_sha256,"
        " chain FROM history"
        " WHERE document_id = ? AND at <= ? ORDER BY id",
        (doc_id, fmt_ts(until) if until else "9999-12-31"))]


class Overdue(NamedTuple):
    """A document past its due time: its key, due time and queue."""

    key: str
    due_at: datetime
    queue_id: int


_SUBTREE = (" AND queue_id IN (SELECT id FROM queue WHERE office_code IN (WITH RECURSIVE sub(code) AS"
            " (SELECT code FROM office WHERE code = ? UNION ALL"
            " SELECT o.code FROM office o JOIN sub ON o.parent = sub.code) SELECT code FROM sub))")


def overdue(con: Any, now: datetime, office: str | None = None, limit: int | None = None) -> list[Overdue]:
    """Documents due before ``now`` (of ``office`` and the offices below it), most overdue first."""
    args: list = [fmt_ts(now)] + ([office] if office is not None else [])
    rows = con.execute("SELECT key, due_at, queue_id FROM document WHERE due_at IS NOT NULL AND due_at < ?"
                       + (_SUBTREE if office is not None else "") + " ORDER BY due_at, id"
                       + (f" LIMIT {int(limit)}" if limit else ""), args).fetchall()
    return [Overdue(k, parse_ts(d), q) for k, d, q in rows]


def overdue_count(con: Any, now: datetime) -> int:
    """How many documents are due before ``now``."""
    return con.execute("SELECT count(*) FROM document WHERE due_at IS NOT NULL AND due_at < ?",
                       (fmt_ts(now),)).fetchone()[0]


# --- workflow migration -----------------------------------------------------------------------
class Behind(NamedTuple):
    """A document on an older version of its workflow."""

    id: int
    key: str
    state: str
    version: int
    workflow_version: int
    signing_date: str
    office: str
    division: str
    content_sha256: str | None
    chain: str | None


def behind(con: Any, name: str, latest: int) -> list[Behind]:
    """The documents of workflow ``name`` on a version before ``latest``, by key."""
    return [Behind(*r) for r in con.execute(
        "SELECT id, key, state, version, workflow_version, signing_date, office_code, division_code,"
        " content_sha256, chain FROM document WHERE workflow_name = ? AND workflow_version < ? ORDER BY key", (name, latest))]


def move_version(con: Any, doc_id: int, version: int, workflow_version: int, queue_id: int,
                 due_at: datetime | None, next_action_at: datetime | None, at: datetime,
                 chain: str | None = None) -> bool:
    """Put a document on another workflow version (guarded by ``version``; ``chain``: the chain
    hash of the history row recording it); False if it moved."""
    return con.execute("UPDATE document SET workflow_version = ?, queue_id = ?, due_at = ?, next_action_at = ?,"
                       " version = version + 1, updated_at = ?, chain = ? WHERE id = ? AND version = ?",
                       (workflow_version, queue_id, fmt_ts(due_at), fmt_ts(next_action_at), fmt_ts(at), chain,
                        doc_id, version)).rowcount == 1


# --- the progress report ----------------------------------------------------------------------
def counts(con: Any, workflow: str, year: int | None, now: datetime) -> list[tuple[str, str, str, int, int, str, int]]:
    """(office, division, state, documents, of them overdue at ``now``, latest signing date, of
    them past their creation with no content ever attached) of the documents of ``workflow``
    (for ``year`` if given)."""
    where = "workflow_name = ?"
    args: list[str | int] = [fmt_ts(now), workflow]
    if year is not None:
        where += " AND year = ?"
        args.append(year)
    return con.execute(
        "SELECT office_code, division_code, state, count(*),"
        " CAST(sum(CASE WHEN due_at IS NOT NULL AND due_at < ? THEN 1 ELSE 0 END) AS INTEGER), max(signing_date),"
        " CAST(sum(CASE WHEN content_sha256 IS NULL AND version > 0 THEN 1 ELSE 0 END) AS INTEGER)"
        f" FROM document WHERE {where} GROUP BY office_code, division_code, state", args).fetchall()
