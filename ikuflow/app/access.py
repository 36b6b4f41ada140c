"""The web's use cases: who a request comes from (sign-in by e-mail link, sessions, action
links), what a person may see (their offices and those below them; admin all) and what waits
for them. The steps themselves are :func:`ikuflow.app.documents.advance`, as on the CLI.

A sign-in link is 256 random bits, mailed through the outbox, valid :data:`SIGN_IN_LIFETIME`
and usable once; ``web_login`` keeps it as its SHA-256 only (the e-mail's outbox row holds the
link, as the e-mail does, until it expires), and its row is the web session from then on.
Requests are counted per address and per client (unknown addresses too, and answered the same).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ikuflow.app import notices, queries
from ikuflow.app.session import Session, who
from ikuflow.app.tokens import digest
from ikuflow.calendar import fmt_local, now_utc, to_local
from ikuflow.errors import NotFound, RateLimited, UsageError
from ikuflow.notify.links import Action, read_token
from ikuflow.store import directory as people_store
from ikuflow.store import documents as store
from ikuflow.store import logins
from ikuflow.store.db import write

SIGN_IN_LIFETIME = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
#: sign-in requests allowed per SIGN_IN_LIFETIME: for one address, and from one client
PER_ADDRESS, PER_CLIENT = 5, 30
MAX_EMAIL = 320


# --- sign-in ----------------------------------------------------------------------------------
def request_sign_in(svc: Session, email: str, client: str, base: str, at: datetime | None = None) -> None:
    """Mail a one-time sign-in link to ``email`` if the directory knows it (through the outbox);
    the same outcome, and no error, for an address it does not know. RateLimited when the
    address or the client asked too often; UsageError for something that is not an address."""
    now = at or now_utc()
    email = who(email)
    if not email or len(email) > MAX_EMAIL or "@" not in email or not email.isprintable() \
            or any(c.isspace() for c in email):
        raise UsageError("that is not an e-mail address; type the address the directory has for you")
    token = secrets.token_urlsafe(32)
    domain = svc.mail_domain()
    with write(svc.con) as c:
        by_email, by_client = logins.recent(c, email, client, now - SIGN_IN_LIFETIME)
        if by_email >= PER_ADDRESS or by_client >= PER_CLIENT:
            raise RateLimited(f"too many sign-in requests; wait {SIGN_IN_LIFETIME.seconds // 60} minutes "
                              "and use the newest link you received")
        person = people_store.person(c, email)
        login_id = logins.insert(c, digest(token), email, person.id if person else None, client, now)
        if person is None:
            return
        cause = f"sign_in:{login_id}"
        link = {"event": "sign_in", "title": "Masuk / Sign in", "url": f"{base}/signin/{token}"}
        payload = json.dumps({"kind": "sign_in", "context": {
            "recipient": {"email": email, "name": person.name, "role": ""}, "links": [link]}},
            ensure_ascii=False)
        store.insert_intents(c, [store.Intent(None, "sign_in", cause, email, "sign_in", payload,
                                              notices.message_id(cause, domain), "pending", now)])


def sign_in(svc: Session, token: str, client: str, at: datetime | None = None) -> int | None:
    """Spend a sign-in link: the id of the new session, or None for a link that is unknown,
    already used or expired."""
    now = at or now_utc()
    with write(svc.con) as c:
        return logins.use(c, digest(token), client, now, now - SIGN_IN_LIFETIME)


def session_person(svc: Session, login_id: int, at: datetime | None = None) -> str | None:
    """The e-mail of the person signed in as session ``login_id``, or None (ended or too old)."""
    return logins.live(svc.con, login_id, (at or now_utc()) - SESSION_LIFETIME)


def sign_out(svc: Session, login_id: int, at: datetime | None = None) -> None:
    """End session ``login_id``."""
    with write(svc.con) as c:
        logins.end(c, login_id, at or now_utc())


# --- who may see what ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    """A person as the web sees them: their role assignments and the offices they may see
    (``offices`` None: all of them, for admin)."""

    email: str
    name: str
    roles: list[tuple[str, str, str | None]]
    offices: frozenset[str] | None
    top: list[str] = field(default_factory=list)  # their highest offices, each once

    def sees(self, office: str) -> bool:
        """Whether the person may see the documents of ``office``."""
        return self.offices is None or office in self.offices

    def as_json(self) -> dict:
        """``GET /api/v1/me``."""
        return {"email": self.email, "name": self.name,
                "roles": [{"role": r, "office": o, "division": d} for r, o, d in self.roles],
                "offices": None if self.offices is None else sorted(self.offices), "top": self.top}


def person(svc: Session, email: str) -> Person | None:
    """The person ``email`` with what they may see, or None if the directory does not know them."""
    d = svc.directory(fresh=True)
    email = who(email)
    cached = d._cache.get(("person", email))  # (the directory is read anew when it changes)
    if cached is None:
        cached = d._cache[("person", email)] = _person(d, email)
    return cached


def _person(d, email: str) -> Person | None:
    rows = d.actors.get(email)
    if not rows:
        return None
    roles = [(r.role, r.office, r.division) for r in rows if r.role is not None and r.office is not None]
    if any(r[0] == "admin" for r in roles):
        return Person(email, rows[0].name, roles, None, [])
    below = d._cache.get("below")
    if below is None:
        below = {}
        for code, (_, parent, _, _) in d.offices.items():
            below.setdefault(parent, []).append(code)
        d._cache["below"] = below
    seen: set[str] = set()
    todo = [r[1] for r in roles]
    while todo:
        code = todo.pop()
        if code not in seen:
            seen.add(code)
            todo += below.get(code, [])
    top = sorted({o for _, o, _ in roles if d.offices[o][1] not in seen})
    return Person(email, rows[0].name, roles, frozenset(seen), top)


def check_office(p: Person, office: str | None) -> None:
    """NotFound (as for an office that does not exist) for an office ``p`` may not see."""
    if office is not None and not p.sees(office):
        raise NotFound("office", office, "you see your own offices and those below them")


def overdue(svc: Session, p: Person, office: str | None = None) -> list[dict]:
    """What is overdue in ``office`` and below (one ``p`` may see), or else in all ``p`` sees,
    most overdue first (ties by key)."""
    check_office(p, office)
    if office is not None or p.offices is None:
        return queries.overdue(svc, office)
    return sorted((r for top in p.top for r in queries.overdue(svc, top)),
                  key=lambda r: (-r["overdue_seconds"], r["key"]))


def report_office(p: Person, office: str | None) -> str | None:
    """The office whose report ``p`` asks for: ``office`` if they may see it, else their
    highest office (None: all of them, for admin; and None for a person of no office, who
    has no report)."""
    check_office(p, office)
    if office is None and p.offices is not None:
        return p.top[0] if p.top else None
    return office


def document_status(svc: Session, p: Person, key: str, at: datetime | None = None) -> dict:
    """``status`` of a document ``p`` may see; NotFound otherwise (as for one that does not exist)."""
    found = queries.status(svc, key, at)
    if not p.sees(found["office"]):
        raise NotFound("document", key, "see 'ikuflow list'")
    return found


def may_fire(svc: Session, p: Person, status: dict, at: datetime | None = None) -> list[tuple[str, str]]:
    """(event, title) of each event ``p`` may fire on the document now: by their roles, or as
    the acting official of someone who may. The step checks again when it is taken."""
    if status["final"]:
        return []
    now = at or now_utc()
    eng = svc.engine(status["workflow"], status["workflow_version"])
    roles = svc.roles(p.email, status["office"], status["division"])
    delegated = None
    out = []
    for event in status["allowed_events"]:
        ok = eng.may(event, roles)
        if not ok:
            if delegated is None:
                delegated = list(svc.delegators(p.email, status["office"], status["division"], now, status["tz"]))
            ok = any(eng.may(event, theirs) for _, theirs in delegated)
        if ok:
            ev = eng.workflow.events[event]
            out.append((event, ev.title or event))
    return out


def tasks(svc: Session, p: Person, page: int = 1, size: int = 50,
          at: datetime | None = None) -> tuple[int, list[dict]]:
    """What waits for ``p`` (and for whom they act today): the documents in a state where one
    of their roles must act, at their office (a coordinator's: in their division), the earliest
    due first. (how many in all, page ``page`` of ``size`` of them)."""
    now = at or now_utc()
    roles = list(p.roles)
    for delegator in people_store.delegators(svc.con, p.email, to_local(now, "Asia/Jakarta").date()):
        roles += [(r.role, r.office, r.division) for r in svc.directory().actors.get(delegator, [])
                  if r.role is not None and r.office is not None]
    states, titles = _waiting_states(svc, now)
    places = sorted({(office, division if role == "coordinator" else None, tuple(sorted(states[role])))
                     for role, office, division in roles if role in states})
    total, rows = store.waiting(svc.con, places, size, (max(page, 1) - 1) * size)
    offices = svc.directory().offices
    shown: dict = {}  # (due, zone) -> as shown: documents share due times (a signing date, a zone)
    out = []
    for r in rows:
        tz = offices[r.office][0]
        due = shown.get((r.due_at, tz))
        if due is None:
            due = shown[(r.due_at, tz)] = fmt_local(r.due_at, tz)
        out.append({"key": r.key, "office": r.office, "division": r.division, "year": r.year, "state": r.state,
                    "state_title": titles.get(r.state, r.state), "due_local": due,
                    "overdue": bool(r.due_at is not None and now > r.due_at)})
    return total, out


#: how long the web keeps which states wait for which role (a workflow version loaded by
#: ``init`` meanwhile shows in my tasks after at most this long)
STATES_FOR = timedelta(seconds=60)


def _waiting_states(svc: Session, now: datetime) -> tuple[dict[str, set[str]], dict[str, str]]:
    """role -> the states where it must act, and state -> its title, over the newest version of
    every stored workflow (read again after STATES_FOR)."""
    found = svc.cache.get("waiting_states")
    if found is not None and now - found[0] < STATES_FOR:
        return found[1], found[2]
    states: dict[str, set[str]] = {}
    titles: dict[str, str] = {}
    for name in store.workflow_names(svc.con):
        wf = svc.engine(name, svc.latest_version(name)).workflow
        for state, st in wf.states.items():
            titles.setdefault(state, st.title or state)
            if state not in wf.final:
                for role in st.must_act:
                    states.setdefault(role, set()).add(state)
    svc.cache["waiting_states"] = (now, states, titles)
    return states, titles


# --- action links -------------------------------------------------------------------------------
@dataclass
class Link:
    """What an action link shows: its action, the document now (None when it is gone), and
    whether the link still works."""

    action: Action
    status: dict | None
    live: bool


def open_link(svc: Session, secret: bytes, token: str, at: datetime | None = None) -> Link | None:
    """Read an action link without changing anything: None for a token that is not one of ours
    (forged, damaged, or past its 30 days)."""
    action = read_token(secret, token)
    if action is None:
        return None
    try:
        found = queries.status(svc, action.key, at)
    except NotFound:
        return Link(action, None, False)
    return Link(action, found, found["version"] == action.version and action.event in found["allowed_events"])
