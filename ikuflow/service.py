"""The document use cases. Each write is one transaction: load, ``Engine.fire``, then save the
state (guarded by the version counter), the history row and the outbox rows together.

These run on the raw driver connection (see ``store/db.py``): a persisted transition is a
handful of statements, and going through the ORM would cost ten times the transaction.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import zlib
from datetime import date, datetime, timedelta
from typing import Any

from ikuflow.calendar import fmt_local, fmt_span, now_utc, to_local
from ikuflow.errors import (BulkRefused, Busy, Conflict, Duplicate, IkuflowError, NotFound, RoleMissing,
                            StoreError, UsageError)
from ikuflow.store.db import BUSY_TIMEOUT_MS, connect, dialect, fmt_ts, parse_ts, write

DOC_SQL = ("SELECT d.id, d.state, d.version, d.signing_date, d.workflow_name, d.workflow_version,"
           " d.office_code, d.division_code, o.tz,"
           " (SELECT value FROM meta WHERE key = 'directory_version'),"
           " d.title, d.year, o.name, dv.name FROM document d"
           " JOIN office o ON o.code = d.office_code JOIN division dv ON dv.code = d.division_code"
           " WHERE d.key = ?")
ROLES_SQL = ("SELECT ra.role, ra.office_code, ra.division_code, p.name FROM person p"
             " LEFT JOIN role_assignment ra ON ra.person_id = p.id WHERE p.email = ?")
PEOPLE_SQL = ("SELECT p.email, p.name, ra.role, ra.division_code FROM role_assignment ra"
              " JOIN person p ON p.id = ra.person_id WHERE ra.office_code = ?")
#: the id of the queue of (office, division, workflow id, state), which ENSURE_QUEUE_SQL has added
QUEUE_ID_SQL = ("(SELECT id FROM queue WHERE office_code = ? AND division_code = ? AND workflow_id = ?"
                " AND state = ?)")
#: a transition: the new state and its queue, the due times
UPDATE_SQL = ("UPDATE document SET state = ?, queue_id = " + QUEUE_ID_SQL + ", version = version + 1,"
              " updated_at = ?, due_at = ?, next_action_at = ? WHERE id = ? AND version = ?")
#: a no-op once the queue exists (which is almost always; on PostgreSQL it still draws an id
#: from the sequence, a gap of no consequence)
ENSURE_QUEUE_SQL = ("INSERT OR IGNORE INTO queue (office_code, division_code, workflow_id, state)"
                    " VALUES (?, ?, ?, ?)")
HISTORY_SQL = ("INSERT INTO history (document_id, version, at, actor, acting_for, event, from_state,"
               " to_state, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
OUTBOX_SQL = ("INSERT INTO outbox (document_id, kind, cause, recipient, template, payload,"
              " message_id, subject, body_text, body_html, status, attempts, next_attempt_at,"
              " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)")
#: the scheduler's rows: a cause already in the outbox is left as it is (ux_outbox_cause)
OUTBOX_ONCE_SQL = OUTBOX_SQL.replace("INSERT INTO", "INSERT OR IGNORE INTO")

#: The scheduler's documents fall into TICK_SLOTS slots (document.tick_slot, from the key), one
#: row each in tick_slot. A pass takes the slots one at a time, from ``slot >= ?`` up; on
#: PostgreSQL it locks the slot's row, skipping slots another pass holds, so passes on several
#: nodes claim disjoint documents while locking one row per batch, not the batch's 500 documents
#: (which would also hold up transitions of those documents until the batch commits). SQLite has
#: one writer at a time and needs no lock.
TICK_SLOTS = 16
SLOT_SQL = "SELECT slot FROM tick_slot WHERE slot >= ? ORDER BY slot LIMIT 1"
SLOT_SQL_PG = SLOT_SQL + " FOR UPDATE SKIP LOCKED"
#: a slot's most overdue documents: one range of ix_document_next_action
CLAIM_SQL = ("SELECT id, version, due_at, next_action_at, queue_id FROM document WHERE tick_slot = ?"
             " AND next_action_at IS NOT NULL AND next_action_at <= ? ORDER BY next_action_at, id LIMIT ?")

#: the document's values (see _document_row), then its queue_id and tick slot
INSERT_DOC_SQL = ("INSERT INTO document (key, office_code, division_code, year, title, signing_date,"
                  " workflow_name, workflow_version, state, version, due_at, next_action_at,"
                  " created_at, updated_at, queue_id, tick_slot) VALUES (?,?,?,?,?,?,?,?,?,0,?,?,?,?,?,?)")
INSERT_DOC_ID_SQL = INSERT_DOC_SQL + " RETURNING id"

#: Roles that may create a document, besides admin (a coordinator only for their division).
CREATE_ROLES = frozenset({"coordinator", "secretariat"})


def mail_domain() -> str:
    """The domain of the sender address (IKUFLOW_MAIL_FROM), for Message-IDs. Raises UsageError
    (exit 2) for an address the sender would refuse: checked before anything is written."""
    from ikuflow.notify.sender import mail_from

    return mail_from()[1].rsplit("@", 1)[1]


def message_id(cause: str, domain: str | None = None) -> str:
    """A deterministic Message-ID: a retry of the same cause is the same message."""
    return f"<{hashlib.sha256(cause.encode()).hexdigest()[:32]}@{domain or mail_domain()}>"


#: The longest title and comment accepted, in characters: a title is one line of a list and
#: of an e-mail's subject, a comment (the reason of a send_back) is quoted in an e-mail.
MAX_TITLE = 200
MAX_COMMENT = 4000


def check_year(year: int, now: datetime) -> None:
    """The IKU year is a real planning year (2000-2100); UsageError (exit 2) otherwise."""
    if not 2000 <= year <= 2100:
        raise UsageError(f"year {year} is out of range; use a year like {now.year}")


def check_signing_date(signing_date: date, year: int | None = None) -> None:
    """The signing date lies in 1970-2999 and, given the IKU ``year``, in that year or the year
    before (an IKU is signed early in its year, or late in the year before); UsageError (exit 2)."""
    from ikuflow.calendar import CLOCK_YEARS

    if not CLOCK_YEARS[0] <= signing_date.year <= CLOCK_YEARS[1]:
        raise UsageError(f"signing date {signing_date} is out of range; use a date between "
                         f"{CLOCK_YEARS[0]} and {CLOCK_YEARS[1]}, like 2026-01-28")
    if year is not None and signing_date.year not in (year, year - 1):
        raise UsageError(f"signing date {signing_date} does not fit IKU year {year}: the documents of "
                         f"{year} are signed in {year} or in {year - 1}; check the year and the signing date")


def check_title(title: str | None) -> str | None:
    """A given title, trimmed; None (the default title) stays None. UsageError (exit 2) for a
    blank title or one longer than MAX_TITLE characters."""
    if title is None:
        return None
    title = title.strip()
    if not title:
        raise UsageError("the title is blank; give a title, or leave it out for the default "
                         "'IKU <DIVISION> <office name> <year>'")
    if len(title) > MAX_TITLE:
        raise UsageError(f"the title has {len(title):,} characters; the limit is {MAX_TITLE}: shorten it")
    return title


def check_comment(comment: str | None) -> None:
    """UsageError (exit 2) for a comment longer than MAX_COMMENT characters."""
    if comment is not None and len(comment.strip()) > MAX_COMMENT:
        raise UsageError(f"the comment has {len(comment.strip()):,} characters; the limit is "
                         f"{MAX_COMMENT:,}: shorten it")


def who(actor: str | None) -> str:
    """The actor as the directory holds people: an e-mail address, trimmed and lower-case."""
    return (actor or "").strip().lower()


def tick_slot(key: str) -> int:
    """The scheduler slot of the document ``key`` (migration 0005 gave existing ones the same)."""
    return zlib.crc32(key.encode()) % TICK_SLOTS


def _document_row(eng, version: int, office: str, office_row, division: str, year: int,
                  signing_date: date, title: str | None, now: datetime) -> tuple:
    """The INSERT_DOC_SQL values of a new document in its workflow's initial state."""
    tz, office_name = office_row[0], office_row[1]
    wf = eng.workflow
    key = f"{office}-{division}-{year}" + ("" if wf.name == "iku" else f"-{wf.name}")
    due = eng.due_for(wf.initial, signing_date, tz)
    ts = fmt_ts(now)
    return (key, office, division, year, (title or f"IKU {division.upper()} {office_name} {year}").strip(),
            signing_date.isoformat(), wf.name, version, wf.initial, fmt_ts(due),
            fmt_ts(eng.next_action_at(wf.initial, due, now)), ts, ts)


def iso_local(utc_naive: datetime | None, tz: str) -> str | None:
    return None if utc_naive is None else to_local(utc_naive, tz).isoformat(timespec="seconds")


def roles_here(rows, office: str, division: str) -> frozenset[str]:
    """The roles a person's assignments give them on one document."""
    out = set()
    for role, r_office, r_division in rows:
        if role == "admin" or (role == "coordinator" and r_office == office and r_division == division) \
                or (role in ("secretariat", "chair") and r_office == office):
            out.add(role)
    return frozenset(out)


def pick(rows, division: str, roles) -> list[dict]:
    """From an office's (email, name, role, division) rows, the holders of ``roles`` on a
    document of ``division``, ordered by role as listed, then e-mail; each person once, under
    the first of their roles as listed (a chair who also coordinates gets one e-mail, not two)."""
    order = list(roles)
    out: dict = {}
    for email, name, role, r_division in sorted(rows, key=lambda r: order.index(r[2]) if r[2] in order else 0):
        if role in order and (role != "coordinator" or r_division == division):
            out.setdefault(email, {"email": email, "name": name, "role": role})
    return sorted(out.values(), key=lambda p: (order.index(p["role"]), p["email"]))


#: failures of the database, not refusals of one item: a bulk run stops on them
STORE_FAILURES = (Busy, Duplicate, StoreError)


class Directory:
    """Offices (zone, parent, name, level), divisions and role holders, read once for a pass
    over many documents."""

    def __init__(self, offices: dict, holders: dict, divisions: dict) -> None:
        self.offices, self.holders, self.divisions = offices, holders, divisions
        self._cache: dict = {}

    def people(self, office: str, division: str, roles) -> list[dict]:
        key = (office, division, tuple(roles))
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = pick(self.holders.get(office, ()), division, roles)
        return found


class Service:
    """Documents on one database. Not thread-safe: one per thread or process."""

    def __init__(self, url: str | None = None, con: Any = None) -> None:  # con: from store.db.connect
        self.con = con or connect(url)
        self._engines: dict[tuple[str, int], object] = {}
        self._workflow_ids: dict[tuple[str, int], int] = {}
        self._queues: dict[int, tuple] = {}  # queue_of
        self._calendar = None
        self._domain: str | None = None  # of IKUFLOW_MAIL_FROM: see mail_domain()
        self._renderer = None
        # role holders per office and assignments per actor, valid for one directory version
        self._dir_version: str | None = None
        self._holders: dict[str, list] = {}
        self._actors: dict[str, list] = {}

    def close(self) -> None:
        self.con.close()

    def mail_domain(self) -> str:
        """The sender's domain for Message-IDs, checked once (UsageError, exit 2, for an address
        the sender would refuse): every write calls it before it writes anything."""
        if self._domain is None:
            self._domain = mail_domain()
        return self._domain

    # --- workflows ----------------------------------------------------------------------------
    def engine(self, name: str, version: int):
        """The shared Engine of a stored workflow version (parsed once per process)."""
        eng = self._engines.get((name, version))
        if eng is None:
            from ikuflow.definition import parse_text
            from ikuflow.engine import Engine

            row = self.con.execute("SELECT source, path, id FROM workflow_version WHERE name = ? AND"
                                   " version = ?", (name, version)).fetchone()
            if row is None:
                raise NotFound("workflow", f"{name} v{version}", "run 'ikuflow init' to load it")
            eng = Engine(parse_text(row[0], row[1] or name), self.calendar())
            self._engines[(name, version)] = eng
            self._workflow_ids[(name, version)] = row[2]
        return eng

    def workflow_id(self, name: str, version: int) -> int:
        """The id of a stored workflow version (queue.workflow_id)."""
        self.engine(name, version)
        return self._workflow_ids[(name, version)]

    def queue_of(self, queue_id: int) -> tuple[str, str, str, int, str]:
        """(office, division, workflow name, workflow version, state) of a queue. Queues never
        change: they are read once, and again only for an id not seen yet (a queue added since)."""
        found = self._queues.get(queue_id)
        if found is None:
            wf = {i: (n, v) for i, n, v in self.con.execute("SELECT id, name, version FROM workflow_version")}
            self._queues = {i: (o, d, *wf[w], st) for i, o, d, w, st in self.con.execute(
                "SELECT id, office_code, division_code, workflow_id, state FROM queue")}
            found = self._queues[queue_id]
        return found

    @staticmethod
    def _queue_ids(c, pairs, workflow_id: int, state: str) -> dict[tuple[str, str], int]:
        """(office, division) -> the id of the queue of ``state`` of a workflow version there,
        for each of ``pairs``, adding the queues not stored yet. Inside the caller's transaction,
        so nothing is cached: it may roll back."""
        pairs = set(pairs)
        sql, args = "SELECT id, office_code, division_code FROM queue WHERE workflow_id = ? AND state = ?", \
            (workflow_id, state)
        if len(pairs) == 1:
            sql, args = sql + " AND office_code = ? AND division_code = ?", args + next(iter(pairs))
        have = {(o, d): i for i, o, d in c.execute(sql, args)}
        missing = sorted(pairs - have.keys())
        if missing:
            c.executemany(ENSURE_QUEUE_SQL, [(o, d, workflow_id, state) for o, d in missing])
            have = {(o, d): i for i, o, d in c.execute(sql, args)}
        return have

    def calendar(self):
        """The working-day overrides stored by ``init`` (read once per process)."""
        if self._calendar is None:
            from ikuflow.calendar import Overrides

            rows = self.con.execute("SELECT day, working FROM calendar_day").fetchall()
            self._calendar = Overrides(off=frozenset(date.fromisoformat(d) for d, w in rows if not w),
                                       on=frozenset(date.fromisoformat(d) for d, w in rows if w))
        return self._calendar

    def renderer(self):
        """The e-mail renderer (Jinja2 is imported only by the paths that send mail)."""
        if self._renderer is None:
            from ikuflow.notify.render import Renderer

            self._renderer = Renderer()
        return self._renderer

    def latest_version(self, name: str) -> int:
        row = self.con.execute("SELECT max(version) FROM workflow_version WHERE name = ?",
                               (name,)).fetchone()
        if row is None or row[0] is None:
            names = [r[0] for r in self.con.execute("SELECT DISTINCT name FROM workflow_version")]
            from ikuflow.definition.load import hint

            raise NotFound("workflow", name, hint(name, names) if names else "run 'ikuflow init'")
        return row[0]

    # --- people -------------------------------------------------------------------------------
    def _seen_directory(self, version: str | None = None, read: bool = False) -> None:
        """Drop cached people when the directory changed (admin bumps its version)."""
        if read:
            row = self.con.execute("SELECT value FROM meta WHERE key = 'directory_version'").fetchone()
            version = row[0] if row else None
        if version != self._dir_version:
            self._dir_version, self._holders, self._actors = version, {}, {}

    def _roles(self, actor: str, office: str, division: str) -> frozenset[str]:
        if not actor:
            raise UsageError("who is acting? pass --as EMAIL or set IKUFLOW_USER")
        email = who(actor)
        rows = self._actors.get(email)
        if rows is None:
            rows = self._actors[email] = self.con.execute(ROLES_SQL, (email,)).fetchall()
        if not rows:
            raise NotFound("person", actor, "add them with 'ikuflow person add'")
        return roles_here([r[:3] for r in rows if r[0] is not None], office, division)

    def _acting_for(self, actor: str, office: str, division: str, now: datetime, tz: str):
        """(delegator, their roles on this document) for each delegation to ``actor`` that holds
        on the office's local date of ``now``."""
        today = to_local(now, tz).date().isoformat()
        for (delegator,) in self.con.execute(
                "SELECT p.email FROM delegation d JOIN person p ON p.id = d.delegator_id"
                " JOIN person a ON a.id = d.delegate_id WHERE a.email = ? AND d.starts <= ?"
                " AND d.ends >= ? ORDER BY d.id", (who(actor), today, today)):
            yield delegator, self._roles(delegator, office, division)

    def delegates(self, now: datetime) -> dict:
        """delegator e-mail -> [(delegate e-mail, name, starts, ends)] of delegations around ``now``."""
        out: dict = {}
        lo, hi = (now - timedelta(days=1)).date().isoformat(), (now + timedelta(days=1)).date().isoformat()
        for delegator, email, name, starts, ends in self.con.execute(
                "SELECT p.email, a.email, a.name, d.starts, d.ends FROM delegation d"
                " JOIN person p ON p.id = d.delegator_id JOIN person a ON a.id = d.delegate_id"
                " WHERE d.starts <= ? AND d.ends >= ?", (hi, lo)):
            out.setdefault(delegator, []).append((email, name, starts, ends))
        return out

    def _actor_name(self, actor: str) -> str:
        rows = self._actors.get(who(actor)) or []
        return rows[0][3] if rows else actor

    def people(self, office: str, division: str, roles) -> list[dict]:
        """The people holding ``roles`` on a document of ``office``/``division``."""
        if not roles:
            return []
        rows = self._holders.get(office)
        if rows is None:
            rows = self._holders[office] = self.con.execute(PEOPLE_SQL, (office,)).fetchall()
        return pick(rows, division, roles)

    def directory(self) -> "Directory":
        """A snapshot of offices and role holders, for passes over many documents."""
        offices = {code: (tz, parent, name, level) for code, tz, parent, name, level in
                   self.con.execute("SELECT code, tz, parent, name, level FROM office")}
        divisions = dict(self.con.execute("SELECT code, name FROM division").fetchall())
        holders: dict[str, list] = {}
        for office, email, name, role, division in self.con.execute(
                "SELECT ra.office_code, p.email, p.name, ra.role, ra.division_code"
                " FROM role_assignment ra JOIN person p ON p.id = ra.person_id"):
            holders.setdefault(office, []).append((email, name, role, division))
        return Directory(offices, holders, divisions)

    # --- writes -------------------------------------------------------------------------------
    def new(self, office: str, division: str, year: int, signing_date: date, actor: str,
            title: str | None = None, workflow: str = "iku", at: datetime | None = None) -> dict:
        """Create a document in its workflow's initial state, with its first history row."""
        now = at or now_utc()
        check_year(year, now)
        check_signing_date(signing_date, year)
        title = check_title(title)
        self.mail_domain()
        actor = who(actor)
        office_row = self.con.execute("SELECT tz, name FROM office WHERE code = ?", (office,)).fetchone()
        if office_row is None:
            raise NotFound("office", office, "see 'ikuflow office list' or add it with 'ikuflow office add'")
        if self.con.execute("SELECT 1 FROM division WHERE code = ?", (division,)).fetchone() is None:
            raise NotFound("division", division, "the standard ones are sdmo, hukum, penanganan, "
                           "pencegahan, sengketa; add others with 'ikuflow division add'")
        version = self.latest_version(workflow)
        eng = self.engine(workflow, version)
        self._seen_directory(read=True)
        roles = self._roles(actor, office, division)
        if not ("admin" in roles or roles & CREATE_ROLES):
            raise RoleMissing(f"{actor} may not create documents for {office}/{division}: it needs "
                              "the coordinator role of that division, or the office's secretariat")
        doc = _document_row(eng, version, office, office_row, division, year, signing_date, title, now)
        try:
            with write(self.con) as c:
                queue = self._queue_ids(c, [(office, division)], self.workflow_id(workflow, version),
                                        eng.workflow.initial)[office, division]
                doc_id = c.execute(INSERT_DOC_ID_SQL, doc + (queue, tick_slot(doc[0]))).fetchone()[0]
                c.execute(HISTORY_SQL, (doc_id, 0, doc[-1], actor.lower(), None, "create", None,
                                        eng.workflow.initial, None))
                division_name = c.execute("SELECT name FROM division WHERE code = ?", (division,)).fetchone()[0]
                mails = self._create_mails(eng, doc, doc_id, office_row[0], office_row[1],
                                           division_name, actor, self.people)
                if mails:
                    c.executemany(OUTBOX_SQL, mails)
        except Duplicate:
            raise Conflict(f"document {doc[0]} already exists; see 'ikuflow status {doc[0]}'") from None
        return {"key": doc[0], "state": eng.workflow.initial, "workflow": f"{workflow} v{version}",
                "due_at": iso_local(parse_ts(doc[9]), office_row[0])}

    def _create_mails(self, eng, doc: tuple, doc_id: int, tz: str, office_name: str,
                      division_name: str, actor: str, people_of) -> list[tuple]:
        """Outbox rows telling ``on_create.notify`` that a document was created."""
        wf = eng.workflow
        if not wf.create_notify:
            return []
        key, office, division, year, title, signing = doc[:6]
        recipients = people_of(office, division, wf.create_notify)
        if not recipients:
            return []
        must = people_of(office, division, wf.states[wf.initial].must_act)
        ctx = {"document": {"key": key, "title": title, "office_name": office_name,
                            "division_name": division_name, "year": year, "signing_date": signing,
                            "state": wf.initial, "state_title": wf.states[wf.initial].title or wf.initial},
               "actor": {"name": self._actor_name(actor), "email": actor.lower()},
               "event": {"name": "create", "title": "Dibuat / Created"}, "comment": None,
               "due": fmt_local(parse_ts(doc[9]), tz), "must_act": [m["name"] for m in must],
               "kind": "event", "overdue_by": "", "time_left": "", "items": []}
        payload = json.dumps({"key": key, "event": "create", "to": wf.initial, "actor": actor.lower(),
                              "at": doc[-1]}, ensure_ascii=False)
        rows = []
        for p in recipients:
            mail = self.renderer().render(wf.create_template, {
                **ctx, "recipient": p, "you_must_act": p["email"] in {m["email"] for m in must}})
            cause = f"create:{doc_id}:{p['email']}"
            rows.append((doc_id, "event", cause, p["email"], wf.create_template, payload,
                         message_id(cause, self.mail_domain()), mail.subject, mail.text, mail.html,
                         "pending", doc[-1], doc[-1]))
        return rows

    def new_many(self, year: int, signing_date: date, actor: str, offices: list[str] | None = None,
                 divisions: list[str] | None = None, levels: list[str] | None = None,
                 workflow: str = "iku", at: datetime | None = None, all_or_nothing: bool = False,
                 progress=None) -> dict:
        """Create the documents of many offices and divisions for a year in one transaction.

        Documents that exist already, or that ``actor`` may not create, are refused with their
        reason; with ``all_or_nothing`` any refusal means nothing is created (Conflict).
        ``progress(done, total)`` is called as rows are written.
        """
        now = at or now_utc()
        check_year(year, now)
        check_signing_date(signing_date, year)
        self.mail_domain()
        actor = who(actor)
        version = self.latest_version(workflow)
        eng = self.engine(workflow, version)
        d = self.directory()
        if offices:
            for code in offices:
                if code not in d.offices:
                    raise NotFound("office", code, "see 'ikuflow office list'")
        targets = [o for o in (offices or sorted(d.offices)) if not levels or d.offices[o][3] in levels]
        for code in divisions or []:
            if code not in d.divisions:
                raise NotFound("division", code, "see 'ikuflow division list'")
        divs = divisions or sorted(d.divisions)
        self._seen_directory(read=True)
        self._roles(actor, "", "")  # no actor, or an unknown one, fails before anything else
        existing = {r[0] for r in self.con.execute(
            "SELECT key FROM document WHERE year = ? AND workflow_name = ?", (year, workflow))}
        rows, refused = [], []
        for office in targets:
            tz, _, name, _ = d.offices[office]
            for division in divs:
                doc = _document_row(eng, version, office, (tz, name), division, year, signing_date,
                                    None, now)
                roles = self._roles(actor, office, division)
                if doc[0] in existing:
                    refused.append({"key": doc[0], "reason": "already exists"})
                elif not ("admin" in roles or roles & CREATE_ROLES):
                    refused.append({"key": doc[0], "reason": f"{actor} has no coordinator, "
                                    "secretariat or admin role for it"})
                else:
                    rows.append(doc)
        if all_or_nothing and refused:
            raise Conflict(f"{len(refused)} of {len(rows) + len(refused)} documents would be refused "
                           f"(first: {refused[0]['key']}: {refused[0]['reason']}); nothing was created")
        ids: dict[str, int] = {}
        with write(self.con) as c:
            queues = self._queue_ids(c, {(r[1], r[2]) for r in rows}, self.workflow_id(workflow, version),
                                     eng.workflow.initial)
            for i in range(0, len(rows), 500):
                c.executemany(INSERT_DOC_SQL, [r + (queues[r[1], r[2]], tick_slot(r[0]))
                                               for r in rows[i:i + 500]])
                if progress:
                    progress(min(i + 500, len(rows)), len(rows))
            wanted = {r[0] for r in rows}
            ids = {k: i for i, k in c.execute("SELECT id, key FROM document WHERE year = ? AND"
                                              " workflow_name = ?", (year, workflow)) if k in wanted}
            c.executemany(HISTORY_SQL, [(ids[r[0]], 0, r[-1], actor.lower(), None, "create", None,
                                         eng.workflow.initial, None) for r in rows])
            mails = []
            for r in rows:
                tz, _, office_name, _ = d.offices[r[1]]
                mails += self._create_mails(eng, r, ids[r[0]], tz, office_name, d.divisions[r[2]],
                                            actor, d.people)
            c.executemany(OUTBOX_SQL, mails)
        return {"created": len(rows), "refused": refused, "keys": [r[0] for r in rows],
                "workflow": f"{workflow} v{version}"}

    def advance(self, key: str, event: str, actor: str, comment: str | None = None,
                at: datetime | None = None, expected_version: int | None = None) -> dict:
        """Fire ``event`` on document ``key`` as ``actor``; persist state, history and outbox.

        One transaction: the document is read, the engine decides, then the state (guarded by
        the version read), the history row and the outbox rows are written. If another writer
        commits in between, SQLite refuses the stale snapshot and the whole step is retried:
        with the document unchanged it goes through, with the document changed it is a Conflict.

        Raises NotFound (3), NotAllowed/GuardFailed (4), RoleMissing (5), Conflict (6).
        """
        actor = who(actor)
        self.mail_domain()
        seen: list = []  # the version the first attempt read, if it got that far
        try:  # optimistic: a deferred transaction that takes the write lock only to write
            return self._advance(key, event, actor, comment, at or now_utc(), expected_version, False, seen)
        except Busy:
            pass
        # another writer was busy or committed first: queue for the write lock, then re-read;
        # the document must still be at the version this request saw
        try:
            return self._advance(key, event, actor, comment, at or now_utc(),
                                 expected_version if expected_version is not None else
                                 (seen[0] if seen else None), True, [])
        except Busy:
            raise Conflict(f"the database stayed busy for {BUSY_TIMEOUT_MS // 1000} s; retry "
                           f"'ikuflow advance {key} {event}'") from None

    def _advance(self, key, event, actor, comment, now, expected_version, immediate, seen: list) -> dict:
        """One attempt in its own transaction; ``seen`` gets the version it read (a retry after
        ``Busy`` must find the document still at that version)."""
        c = self.con
        c.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            result = self._step(key, event, actor, comment, now, expected_version, seen)
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        return result

    def advance_many(self, items: list[tuple], actor: str, at: datetime | None = None,
                     all_or_nothing: bool = False, progress=None) -> dict:
        """Fire many ``(key, event, comment)`` as ``actor``: each in its own transaction, or
        with ``all_or_nothing`` all in one, rolled back entirely if any is refused."""
        now = at or now_utc()
        actor = who(actor)
        self.mail_domain()
        done, refused = [], []
        if not all_or_nothing:
            for i, (key, event, comment) in enumerate(items):
                try:
                    done.append(self.advance(key, event, actor, comment, now))
                except STORE_FAILURES:
                    raise
                except IkuflowError as exc:
                    refused.append({"key": key, "event": event, "reason": str(exc), "exit_code": exc.exit_code})
                if progress:
                    progress(i + 1, len(items))
            return {"advanced": done, "refused": refused}
        with write(self.con) as c:
            for i, (key, event, comment) in enumerate(items):
                c.execute("SAVEPOINT item")
                try:
                    done.append(self._step(key, event, actor, comment, now, None, []))
                    c.execute("RELEASE item")
                except STORE_FAILURES:
                    raise
                except IkuflowError as exc:
                    c.execute("ROLLBACK TO item")
                    c.execute("RELEASE item")
                    refused.append({"key": key, "event": event, "reason": str(exc), "exit_code": exc.exit_code})
                if progress:
                    progress(i + 1, len(items))
            if refused:
                raise BulkRefused(refused)
        return {"advanced": done, "refused": refused}

    def _step(self, key, event, actor, comment, now, expected_version, seen: list) -> dict:
        """One transition inside the caller's transaction (``seen`` gets the version read)."""
        from ikuflow.engine import Doc

        check_comment(comment)
        c = self.con
        row = c.execute(DOC_SQL, (key,)).fetchone()
        if row is None:
            raise NotFound("document", key, "see 'ikuflow list'")
        (doc_id, state, version, signing, wf_name, wf_version, office, division, tz, dir_version,
         title, year, office_name, division_name) = row
        seen.append(version)
        if expected_version is not None and expected_version != version:
            raise Conflict(f"document {key} changed while you were acting on it (version "
                           f"{expected_version} -> {version}); check 'ikuflow status {key}' "
                           f"and retry if '{event}' still applies")
        self._seen_directory(dir_version)
        eng = self.engine(wf_name, wf_version)
        roles = self._roles(actor, office, division)
        acting_for = None
        ev = eng.workflow.events.get(event)
        if ev is not None and not ("admin" in roles or roles & ev.roles):
            for delegator, their_roles in self._acting_for(actor, office, division, now, tz):
                if "admin" in their_roles or their_roles & ev.roles:
                    roles, acting_for = their_roles, delegator
                    break
        comment = comment.strip() if comment and comment.strip() else None
        doc = Doc(key, state, date.fromisoformat(signing), tz, comment, now)
        out = eng.fire(doc, event, roles, actor)
        recipients = self.people(office, division, out.notify)
        ts = fmt_ts(now)
        new_version = version + 1
        # what every recipient's e-mail needs; who receives it is in its own columns
        payload = json.dumps({"key": key, "event": event, "from": out.source, "to": out.dest,
                              "actor": actor.lower(), "comment": comment, "at": ts},
                             ensure_ascii=False)
        rows = []
        if recipients:
            wf = eng.workflow
            must = self.people(office, division, wf.states[out.dest].must_act)
            ctx = {"document": {"key": key, "title": title, "office_name": office_name,
                                "division_name": division_name, "year": year,
                                "signing_date": signing, "state": out.dest,
                                "state_title": wf.states[out.dest].title or out.dest},
                   "actor": {"name": self._actor_name(actor) + (
                       f" (a.n. / for {self._actor_name(acting_for)})" if acting_for else ""),
                       "email": actor.lower()},
                   "event": {"name": event, "title": wf.events[event].title or event},
                   "comment": comment, "due": fmt_local(out.due_at, tz),
                   "must_act": [m["name"] for m in must], "kind": "event",
                   "overdue_by": "", "time_left": "", "items": []}
            must_emails = {m["email"] for m in must}
            for p in recipients:
                mail = self.renderer().render(out.template, {
                    **ctx, "recipient": p, "you_must_act": p["email"] in must_emails})
                cause = f"event:{doc_id}:{new_version}:{p['email']}"
                rows.append((doc_id, "event", cause, p["email"], out.template, payload,
                             message_id(cause, self.mail_domain()), mail.subject, mail.text,
                             mail.html, "pending", ts, ts))
        # the first write takes the write lock; a stale snapshot raises "database is locked"
        wf_id = self.workflow_id(wf_name, wf_version)
        c.execute(ENSURE_QUEUE_SQL, (office, division, wf_id, out.dest))
        if c.execute(UPDATE_SQL, (out.dest, office, division, wf_id, out.dest, ts, fmt_ts(out.due_at),
                                  fmt_ts(out.next_action_at), doc_id, version)).rowcount != 1:
            raise Conflict(f"document {key} changed while you were acting on it; check "
                           f"'ikuflow status {key}' and retry if '{event}' still applies")
        c.execute(HISTORY_SQL, (doc_id, new_version, ts, actor.lower(), acting_for, event, out.source,
                                out.dest, comment))
        if rows:
            c.executemany(OUTBOX_SQL, rows)
        return {"key": key, "event": event, "from": out.source, "state": out.dest, "acting_for": acting_for,
                "version": new_version, "due_at": iso_local(out.due_at, tz),
                "notified": [p["email"] for p in recipients]}

    # --- reads --------------------------------------------------------------------------------
    def status(self, key: str, at: datetime | None = None) -> dict:
        now = at or now_utc()
        row = self.con.execute(
            "SELECT d.id, d.key, d.title, d.office_code, o.name, o.tz, d.division_code, dv.name,"
            " d.year, d.signing_date, d.workflow_name, d.workflow_version, d.state, d.version,"
            " d.due_at, d.updated_at FROM document d JOIN office o ON o.code = d.office_code"
            " JOIN division dv ON dv.code = d.division_code WHERE d.key = ?", (key,)).fetchone()
        if row is None:
            raise NotFound("document", key, "see 'ikuflow list'")
        (_, key, title, office, office_name, tz, division, division_name, year, signing,
         wf_name, wf_version, state, version, due, updated) = row
        eng = self.engine(wf_name, wf_version)
        wf = eng.workflow
        due = parse_ts(due)
        final = state in wf.final
        overdue = bool(due is not None and not final and now > due)
        self._seen_directory(read=True)
        must_act = [] if final else self.people(office, division, wf.states[state].must_act)
        return {
            "key": key, "title": title, "office": office, "office_name": office_name, "tz": tz,
            "division": division, "division_name": division_name, "year": year,
            "signing_date": signing, "workflow": wf_name, "workflow_version": wf_version,
            "state": state, "state_title": wf.states[state].title, "final": final,
            "version": version, "due_at": iso_local(due, tz), "due_local": fmt_local(due, tz),
            "overdue": overdue,
            "time_left": None if due is None or final else
            (("-" if overdue else "") + fmt_span(due - now)),
            "must_act": must_act, "allowed_events": wf.events_from(state),
            "updated_at": iso_local(parse_ts(updated), tz), "now": iso_local(now, tz),
        }

    def list(self, state: str | None = None, office: str | None = None,
             division: str | None = None, year: int | None = None, overdue: bool = False,
             at: datetime | None = None, limit: int | None = None) -> list[dict]:
        now = at or now_utc()
        where, args = [], []
        for col, val in (("d.state", state), ("d.office_code", office),
                         ("d.division_code", division), ("d.year", year)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        if office is not None and self.con.execute("SELECT 1 FROM office WHERE code = ?",
                                                   (office,)).fetchone() is None:
            raise NotFound("office", office, "see 'ikuflow office list'")
        if overdue:
            where.append("d.due_at IS NOT NULL AND d.due_at < ?")
            args.append(fmt_ts(now))
        sql = ("SELECT d.key, d.office_code, d.division_code, d.year, d.state, d.due_at,"
               " d.signing_date, o.tz, d.version FROM document d JOIN office o ON o.code = d.office_code"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY d.office_code, d.division_code, d.year"
               + (f" LIMIT {int(limit)}" if limit else ""))
        out = []
        for key, off, div, yr, st, due, signing, tz, version in self.con.execute(sql, args):
            due = parse_ts(due)
            out.append({"key": key, "office": off, "division": div, "year": yr, "state": st,
                        "signing_date": signing, "due_at": iso_local(due, tz),
                        "due_local": fmt_local(due, tz),
                        "overdue": bool(due is not None and now > due), "version": version})
        return out

    def history(self, key: str, until: datetime | None = None) -> builtins.list[dict]:
        """The document's history, oldest first (up to ``until`` if given)."""
        row = self.con.execute("SELECT d.id, o.tz FROM document d JOIN office o"
                               " ON o.code = d.office_code WHERE d.key = ?", (key,)).fetchone()
        if row is None:
            raise NotFound("document", key, "see 'ikuflow list'")
        doc_id, tz = row
        return [{"at": iso_local(parse_ts(at), tz), "at_local": fmt_local(parse_ts(at), tz),
                 "actor": actor, "acting_for": acting_for, "event": event, "from": frm, "to": to,
                 "comment": comment}
                for at, actor, acting_for, event, frm, to, comment in self.con.execute(
                    "SELECT at, actor, acting_for, event, from_state, to_state, comment FROM history"
                    " WHERE document_id = ? AND at <= ? ORDER BY id",
                    (doc_id, fmt_ts(until) if until else "9999-12-31"))]


    # --- deadlines: what is overdue, and the scheduler's pass ---------------------------------
    def overdue(self, office: str | None = None, at: datetime | None = None,
                limit: int | None = None) -> builtins.list[dict]:
        """Documents past their current step's due time, most overdue first, with who must act.

        ``office`` includes the offices below it (a province sees its regencies).
        """
        now = at or now_utc()
        args: list = [fmt_ts(now)]
        scope = ""
        if office is not None:
            if self.con.execute("SELECT 1 FROM office WHERE code = ?", (office,)).fetchone() is None:
                raise NotFound("office", office, "see 'ikuflow office list'")
            scope = (" AND queue_id IN (SELECT id FROM queue WHERE office_code IN (WITH RECURSIVE sub(code) AS"
                     " (SELECT code FROM office WHERE code = ? UNION ALL"
                     " SELECT o.code FROM office o JOIN sub ON o.parent = sub.code) SELECT code FROM sub))")
            args.append(office)
        rows = self.con.execute(
            "SELECT key, due_at, queue_id FROM document"
            " WHERE due_at IS NOT NULL AND due_at < ?" + scope
            + " ORDER BY due_at, id" + (f" LIMIT {int(limit)}" if limit else ""), args).fetchall()
        d = self.directory()
        # documents share queues (place, state, who must act) and due times (one signing date,
        # a few zones): what follows from those is worked out once, not per row
        where: dict = {}
        shown: dict = {}
        out = []
        for key, due_raw, queue_id in rows:
            w = where.get(queue_id)
            if w is None:
                off, div, wf, wfv, state = self.queue_of(queue_id)
                must = self.engine(wf, wfv).workflow.states[state].must_act
                w = where[queue_id] = (off, div, state, d.offices[off][0], d.people(off, div, must))
            tz = w[3]
            fmt = shown.get((due_raw, tz))
            if fmt is None:
                due = parse_ts(due_raw)
                late = now - due
                fmt = shown[(due_raw, tz)] = (iso_local(due, tz), fmt_local(due, tz), fmt_span(late),
                                              int(late.total_seconds()))
            out.append({"key": key, "office": w[0], "division": w[1], "state": w[2],
                        "due_at": fmt[0], "due_local": fmt[1], "overdue_by": fmt[2],
                        "overdue_seconds": fmt[3], "must_act": w[4]})
        return out

    def overdue_count(self, at: datetime | None = None) -> int:
        return self.con.execute("SELECT count(*) FROM document WHERE due_at IS NOT NULL AND due_at < ?",
                                (fmt_ts(at or now_utc()),)).fetchone()[0]

    def tick(self, at: datetime | None = None, batch: int = 500, stop=None) -> dict:
        """One scheduler pass: every document whose next action time has passed gets its latest
        reminder or escalation, and its next action time moved forward, one transaction per
        batch: up to ``batch`` documents of one tick slot (see TICK_SLOTS), the slot taken first.

        Each (document, version, action time, recipient) cause is one outbox row, unique, so two
        passes can never write the same reminder twice; a pass after downtime sends only each
        document's most recent action. The batches write their causes as 'held' rows; when the
        batches are done, each person's held rows become one e-mail: the reminder itself, or one
        digest listing them all (the causes kept as 'merged' rows). Held rows a crashed pass left
        behind go into the next pass's digests. ``stop()`` is checked between batches.
        """
        now = at or now_utc()
        ts = fmt_ts(now)
        self.mail_domain()
        totals = {"documents": 0, "reminders": 0, "escalations": 0, "emails": 0, "batches": 0}
        d = self.directory()
        acting = self.delegates(now)
        slot_sql = SLOT_SQL_PG if dialect(self.con) == "postgresql" else SLOT_SQL
        slot = 0  # the slots this pass has yet to do are slot and up (less those other passes hold)
        while not (stop and stop()):
            with write(self.con) as c:
                row = c.execute(slot_sql, (slot,)).fetchone()
                if row is None:
                    break
                slot = row[0]
                claimed = c.execute(CLAIM_SQL, (slot, ts, batch)).fetchall()
                details = {} if not claimed else {r[0]: r[1:] for r in c.execute(
                    "SELECT id, key, title, year, signing_date FROM document WHERE id IN (%s)"
                    % ",".join("?" * len(claimed)), [r[0] for r in claimed])}
                held = []  # one outbox row per (document, action, recipient), rendered after the batches
                moves, acts = [], {}
                for doc_id, version, due, nxt, queue_id in claimed:
                    off, div, wf, wfv, state = self.queue_of(queue_id)
                    tz, parent, office_name, _ = d.offices[off]
                    eng = self.engine(wf, wfv)
                    due = parse_ts(due)
                    act = eng.latest_action(state, due, now)
                    moves.append((fmt_ts(eng.next_action_at(state, due, now)), doc_id, nxt))
                    if act is None:
                        continue
                    acts[doc_id] = act.kind
                    key, title, year, signing = details[doc_id]
                    st = eng.workflow.states[state]
                    item = {"document": {"key": key, "title": title, "office_name": office_name,
                                         "division_name": d.divisions.get(div, div), "year": year,
                                         "signing_date": signing, "state": state,
                                         "state_title": st.title or state},
                            "kind": act.kind, "due": fmt_local(due, tz),
                            "overdue_by": fmt_span(act.overdue_by) if act.kind == "escalation" else "",
                            "time_left": fmt_span(act.overdue_by) if act.kind == "reminder" else "",
                            "must_act": [m["name"] for m in d.people(off, div, st.must_act)],
                            "at": fmt_ts(act.at)}
                    told = list(d.people(off, div, act.roles))
                    if act.parent and parent:
                        told += d.people(parent, div, ("secretariat",))
                    if acting:  # acting officials (Plt/Plh) receive the reminders of whom they stand for
                        today = to_local(now, tz).date().isoformat()
                        told += [{"email": e, "name": n, "role": f"{p['role']} (acting)"}
                                 for p in list(told) for e, n, a, b in acting.get(p["email"], ())
                                 if a <= today <= b]
                    for p in {p["email"]: p for p in told}.values():
                        cause = f"{act.kind}:{doc_id}:{version}:{fmt_ts(act.at)}:{p['email']}"
                        payload = json.dumps({"key": key, "kind": act.kind, "state": state,
                                              "at": item["at"], "recipient_role": p["role"],
                                              "item": item, "recipient": p}, ensure_ascii=False)
                        held.append((doc_id, act.kind, cause, p["email"], act.kind, payload,
                                     message_id(cause, self.mail_domain()), None, None, None, "held", ts, ts))
                # compare-and-set: a document a step (or another pass) moved meanwhile is left
                # alone; on PostgreSQL the rows moved stay locked until the batch commits
                c.executemany("UPDATE document SET next_action_at = ? WHERE id = ?"
                              " AND next_action_at = ?", moves)
                if acts:  # no reminder for a step taken while the batch ran (PostgreSQL: the
                    # claim does not lock the documents; on SQLite the batch is the only writer)
                    version_read = {r[0]: r[1] for r in claimed}
                    version_now = dict(c.execute("SELECT id, version FROM document WHERE id IN (%s)"
                                                 % ",".join("?" * len(acts)), list(acts)).fetchall())
                    stale = {i for i in acts if version_now.get(i) != version_read[i]}
                    held = [h for h in held if h[0] not in stale]
                    for i, kind in acts.items():
                        totals["reminders" if kind == "reminder" else "escalations"] += i not in stale
                c.executemany(OUTBOX_ONCE_SQL, held)
            totals["documents"] += len(claimed)
            totals["batches"] += bool(claimed)
            if len(claimed) < batch:
                slot += 1
        totals["emails"] = self._send_held(ts)
        return totals

    def _send_held(self, ts: str) -> int:
        """Turn every held reminder row into e-mail, one per person: the single reminder itself,
        or one digest of all of them (its causes become 'merged'). Returns the e-mails queued."""
        pg = dialect(self.con) == "postgresql"
        with write(self.con) as c:
            rows = c.execute("SELECT id, recipient, cause, payload FROM outbox WHERE status = 'held'"
                             " ORDER BY id" + (" FOR UPDATE SKIP LOCKED" if pg else "")).fetchall()
            people: dict[str, list] = {}
            for row_id, email, cause, payload in rows:
                people.setdefault(email, []).append((row_id, cause, json.loads(payload)))
            for email, entries in people.items():
                p = entries[0][2]["recipient"]
                if len(entries) == 1:
                    row_id, _, data = entries[0]
                    item = data["item"]
                    mail = self.renderer().render(item["kind"], {
                        **item, "recipient": p, "actor": {"name": "", "email": ""},
                        "event": {"name": item["kind"], "title": ""}, "comment": None,
                        "you_must_act": p["name"] in item["must_act"], "items": []})
                    c.execute("UPDATE outbox SET status = 'pending', subject = ?, body_text = ?,"
                              " body_html = ?, next_attempt_at = ? WHERE id = ?",
                              (mail.subject, mail.text, mail.html, ts, row_id))
                    continue
                items = [data["item"] for _, _, data in entries]
                causes = sorted(cause for _, cause, _ in entries)
                mail = self.renderer().render("digest", {
                    "recipient": p, "items": items,
                    "kind": "escalation" if any(it["kind"] == "escalation" for it in items) else "reminder"})
                cause = "digest:" + hashlib.sha256("|".join(causes).encode()).hexdigest()[:32]
                payload = json.dumps({"kind": "digest", "causes": causes,
                                      "keys": [it["document"]["key"] for it in items]})
                c.execute(OUTBOX_ONCE_SQL,
                          (None, "digest", cause, email, "digest", payload, message_id(cause, self.mail_domain()),
                           mail.subject, mail.text, mail.html, "pending", ts, ts))
                c.executemany("UPDATE outbox SET status = 'merged' WHERE id = ?", [(e[0],) for e in entries])
        return len(people)

    # --- versioned workflows ------------------------------------------------------------------
    def migrate(self, name: str, dry_run: bool = True, actor: str = "operator",
                at: datetime | None = None) -> dict:
        """Move live documents of workflow ``name`` to its newest version.

        A document whose state still exists (and is not final) in the newest version moves, its
        due time recomputed, recorded in history as event 'migrate'. A document whose state no
        longer exists is reported and left alone: ikuflow does not guess where it belongs.
        """
        now = at or now_utc()
        latest = self.latest_version(name)
        new = self.engine(name, latest)
        d = self.directory()
        moves, stuck = [], []
        for doc_id, key, state, version, wfv, signing, office, division in self.con.execute(
                "SELECT id, key, state, version, workflow_version, signing_date, office_code, division_code"
                " FROM document WHERE workflow_name = ? AND workflow_version < ? ORDER BY key",
                (name, latest)).fetchall():
            if state in self.engine(name, wfv).workflow.final:
                continue  # finished documents keep the version they finished on
            if state not in new.workflow.states or state in new.workflow.final:
                stuck.append({"key": key, "state": state, "from_version": wfv,
                              "reason": f"state '{state}' does not exist in {name} v{latest}"
                              if state not in new.workflow.states else
                              f"state '{state}' is final in {name} v{latest}"})
                continue
            tz = d.offices[office][0]
            due = new.due_for(state, date.fromisoformat(signing), tz)
            moves.append({"key": key, "state": state, "from_version": wfv, "to_version": latest,
                          "due_at": iso_local(due, tz), "_row": (doc_id, version, due, office, division)})
        if not dry_run and moves:
            ts = fmt_ts(now)
            latest_id = self.workflow_id(name, latest)
            with write(self.con) as c:
                for m in moves:
                    doc_id, version, due, office, division = m["_row"]
                    c.execute(ENSURE_QUEUE_SQL, (office, division, latest_id, m["state"]))
                    if c.execute("UPDATE document SET workflow_version = ?, queue_id = " + QUEUE_ID_SQL +
                                 ", due_at = ?, next_action_at = ?, version = version + 1, updated_at = ?"
                                 " WHERE id = ? AND version = ?",
                                 (latest, office, division, latest_id, m["state"], fmt_ts(due),
                                  fmt_ts(new.next_action_at(m["state"], due, now)),
                                  ts, doc_id, version)).rowcount != 1:
                        raise Conflict(f"document {m['key']} changed during the migration; nothing "
                                       "was migrated, run it again")
                    c.execute(HISTORY_SQL, (doc_id, version + 1, ts, actor, None, "migrate", m["state"], m["state"],
                                            f"workflow {name} v{m['from_version']} -> v{latest}"))
        for m in moves:
            del m["_row"]
        return {"workflow": name, "to_version": latest, "dry_run": dry_run, "moved" if not dry_run
                else "would_move": moves, "not_moved": stuck}
