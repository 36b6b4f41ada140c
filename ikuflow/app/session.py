"""A session on one database: the connection the document use cases share, and what they read
once and keep (workflow engines, queues, the calendar, who holds which role).

The use cases take it as their first argument; :class:`ikuflow.app.service.Service` offers
them as its methods.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Iterator

from ikuflow.calendar import to_local
from ikuflow.errors import NotFound, UsageError
from ikuflow.store import directory as people_store
from ikuflow.store import documents as store
from ikuflow.store.db import connect


def who(actor: str | None) -> str:
    """The actor as the directory holds people: an e-mail address, trimmed and lower-case;
    UsageError (exit 2) for one that is not valid UTF-8 (a byte the terminal could not decode)."""
    email = (actor or "").strip().lower()
    try:
        email.encode("utf-8")
    except UnicodeEncodeError:
        shown = email.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
        raise UsageError(f"the person acting, '{shown}', is not valid UTF-8; check --as or IKUFLOW_USER") from None
    return email


#: Roles that may create a document (and change its content), besides admin (a coordinator
#: only for their division).
CREATE_ROLES = frozenset({"coordinator", "secretariat"})


def check_channel(channel: str) -> None:
    """UsageError (exit 2) for a channel that is not one of store.CHANNELS (how a request came in)."""
    if channel not in store.CHANNELS:
        raise UsageError(f"unknown channel '{channel}'; one of {', '.join(store.CHANNELS)}")


def mail_domain() -> str:
    """The domain of the sender address (IKUFLOW_MAIL_FROM), for Message-IDs. Raises UsageError
    (exit 2) for an address the sender would refuse: checked before anything is written."""
    from ikuflow.notify.sender import mail_from

    return mail_from()[1].rsplit("@", 1)[1]


def roles_here(rows, office: str, division: str) -> frozenset[str]:
    """The roles a person's (role, office, division) assignments give them on one document."""
    out = set()
    for role, r_office, r_division in rows:
        if role == "admin" or (role == "coordinator" and r_office == office and r_division == division) \
                or (role in ("secretariat", "chair") and r_office == office):
            out.add(role)
    return frozenset(out)


def pick(rows, division: str, roles) -> list[dict]:
    """From an office's holders (email, name, role, division), those of ``roles`` on a document
    of ``division``, ordered by role as listed, then e-mail; each person once, under the first
    of their roles as listed (a chair who also coordinates gets one e-mail, not two)."""
    order = list(roles)
    out: dict = {}
    for email, name, role, r_division in sorted(rows, key=lambda r: order.index(r[2]) if r[2] in order else 0):
        if role in order and (role != "coordinator" or r_division == division):
            out.setdefault(email, {"email": email, "name": name, "role": role})
    return sorted(out.values(), key=lambda p: (order.index(p["role"]), p["email"]))


class Directory:
    """Offices (zone, parent, name, level), divisions, role holders by office and role
    assignments by person, as read at one directory version."""

    def __init__(self, offices: dict, holders: dict, divisions: dict, actors: dict | None = None) -> None:
        self.offices, self.holders, self.divisions = offices, holders, divisions
        self.actors = actors or {}  # e-mail -> their role assignments (people_store.Actor)
        self._cache: dict = {}

    def people(self, office: str, division: str, roles) -> list[dict]:
        """The people holding ``roles`` on a document of ``office``/``division``."""
        key = (office, division, tuple(roles))
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = pick(self.holders.get(office, ()), division, roles)
        return found


class Session:
    """A connection and what the use cases read once on it. Not thread-safe: one per thread or
    process."""

    def __init__(self, url: str | None = None, con: Any = None) -> None:  # con: from store.db.connect
        self.con = con or connect(url)
        self.url = url
        self._chain_key: bytes | None = None  # see chain_key()
        self._engines: dict[tuple[str, int], Any] = {}
        self._workflow_ids: dict[tuple[str, int], int] = {}
        self._queues: dict[int, tuple] = {}  # queue_of
        self._queue_ids: dict[tuple, int] = {}  # queue_id
        self._queues_read = False
        self._calendar = None
        self._domain: str | None = None  # of IKUFLOW_MAIL_FROM: see mail_domain()
        # the directory, valid for one directory version
        self._dir_version: str | None = None
        self._dir: Directory | None = None
        self.cache: dict[str, Any] = {}  # what an adapter keeps for the life of this session

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def chain_key(self) -> bytes:
        """The key the history chain is computed with: derived from the secret key (store/keys),
        so a chain hash is never also a valid link or session signature. UsageError (exit 2)
        when there is no secret key."""
        if self._chain_key is None:
            from ikuflow.evidence import chain_key
            from ikuflow.store.keys import secret_key

            self._chain_key = chain_key(secret_key(self.url))
        return self._chain_key

    def mail_domain(self) -> str:
        """The sender's domain for Message-IDs, checked once (UsageError, exit 2, for an address
        the sender would refuse): every write calls it before it writes anything."""
        if self._domain is None:
            self._domain = mail_domain()
        return self._domain

    def document(self, key: str) -> store.Current:
        """The document ``key`` as it is now (store.documents.current); NotFound (exit 3) if none."""
        cur = store.current(self.con, key)
        if cur is None:
            raise NotFound("document", key, "see 'ikuflow list'")
        return cur

    # --- workflows and queues -----------------------------------------------------------------
    def engine(self, name: str, version: int):
        """The shared Engine of a stored workflow version (parsed once per process)."""
        eng = self._engines.get((name, version))
        if eng is None:
            from ikuflow.definition import parse_text
            from ikuflow.engine import Engine

            row = store.workflow_row(self.con, name, version)
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

    def latest_version(self, name: str) -> int:
        """The newest stored version of workflow ``name``; NotFound if there is none."""
        found = store.latest_version(self.con, name)
        if found is None:
            from ikuflow.definition.load import hint

            names = store.workflow_names(self.con)
            raise NotFound("workflow", name, hint(name, names) if names else "run 'ikuflow init'")
        return found

    def queue_of(self, queue_id: int) -> tuple[str, str, str, int, str]:
        """(office, division, workflow name, workflow version, state) of a queue. Queues never
        change: they are read once, and again only for an id not seen yet (a queue added since)."""
        found = self._queues.get(queue_id)
        if found is None:
            self._queues = store.queues(self.con)
            found = self._queues[queue_id]
        return found

    def queue_id(self, office: str, division: str, workflow_id: int, state: str) -> int:
        """The id of a queue, added if it is new (queues never change: known ones are kept)."""
        key = (office, division, workflow_id, state)
        found = self._queue_ids.get(key)
        if found is None and not self._queues_read:  # all at once, the first time
            self._queue_ids = {k: i for i, k in store.queue_keys(self.con).items()}
            self._queues_read = True
            found = self._queue_ids.get(key)
        if found is None:  # (a new document gets the queues of all its states: rare)
            found = store.queue_ids(self.con, [(office, division)], workflow_id, state)[office, division]
            if not self.con.in_transaction:  # (inside one, it may yet roll back)
                self._queue_ids[key] = found
        return found

    def calendar(self):
        """The working-day overrides stored by ``init`` (read once per process)."""
        if self._calendar is None:
            from ikuflow.calendar import Overrides

            rows = store.calendar_days(self.con)
            self._calendar = Overrides(off=frozenset(date.fromisoformat(d) for d, w in rows if not w),
                                       on=frozenset(date.fromisoformat(d) for d, w in rows if w))
        return self._calendar

    # --- people -------------------------------------------------------------------------------
    def seen_directory(self, version: str | None = None, read: bool = False) -> None:
        """Drop the directory read before when it changed (every change bumps its version)."""
        if read:
            version = people_store.version(self.con)
        if version != self._dir_version:
            self._dir_version, self._dir = version, None

    def directory(self, fresh: bool = False) -> Directory:
        """The directory (offices, divisions, every person and role assignment), read once per
        directory version: a step then reads nothing of it (a national one is a few thousand
        rows). ``fresh``: check the version first (a pass over many documents does)."""
        if fresh:
            self.seen_directory(read=True)
        if self._dir is None:
            offices = {o.code: (o.tz, o.parent, o.name, o.level) for o in people_store.offices(self.con)}
            divisions = {d.code: d.name for d in people_store.divisions(self.con)}
            actors: dict[str, list] = {}
            holders: dict[str, list] = {}
            for email, name, role, office, division in people_store.everyone(self.con):
                actors.setdefault(email, []).append(people_store.Actor(role, office, division, name))
                if role is not None and office is not None:
                    holders.setdefault(office, []).append(people_store.Holder(email, name, role, division))
            self._dir = Directory(offices, holders, divisions, actors)
        return self._dir

    def place(self, office: str) -> tuple[str, str]:
        """(time zone, name) of an office."""
        tz, _, name, _ = self.directory().offices[office]
        return tz, name

    def division_name(self, division: str) -> str:
        """The name of a division."""
        return self.directory().divisions[division]

    def roles(self, actor: str, office: str, division: str) -> frozenset[str]:
        """The roles ``actor`` holds on a document of ``office``/``division``; UsageError without
        an actor, NotFound for someone not in the directory."""
        if not actor:
            raise UsageError("who is acting? pass --as EMAIL or set IKUFLOW_USER")
        rows = self.directory().actors.get(who(actor))
        if not rows:
            raise NotFound("person", actor, "add them with 'ikuflow person add'")
        return roles_here([r[:3] for r in rows if r.role is not None], office, division)

    def delegators(self, actor: str, office: str, division: str, now: datetime,
                   tz: str) -> Iterator[tuple[str, frozenset[str]]]:
        """(delegator, their roles on the document) of each delegation to ``actor`` that holds on
        the office's local date of ``now`` (read when first asked for)."""
        for delegator in people_store.delegators(self.con, who(actor), to_local(now, tz).date()):
            yield delegator, self.roles(delegator, office, division)

    def acting(self, now: datetime) -> dict:
        """delegator e-mail -> [(delegate e-mail, name, starts, ends)] of delegations around ``now``."""
        return people_store.acting(self.con, (now - timedelta(days=1)).date(), (now + timedelta(days=1)).date())

    def name_of(self, actor: str) -> str:
        """The directory's name for ``actor`` (their e-mail if unknown)."""
        rows = self.directory().actors.get(who(actor)) or []
        return rows[0].name if rows else actor

    def people(self, office: str, division: str, roles) -> list[dict]:
        """The people holding ``roles`` on a document of ``office``/``division``."""
        return self.directory().people(office, division, roles) if roles else []
