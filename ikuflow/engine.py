"""The workflow engine: one shared ``transitions`` Machine per workflow version.

``Engine.fire`` decides one transition for a document whose state was read from the database
and returns what must happen (the new state, its due time, who is told); it performs no I/O.
The machine holds no models: a document is rehydrated as a small object, fired through
``machine.events[name].trigger`` and dropped, so the cost does not grow with the number of
documents. ``auto_transitions`` is off (no ``to_<state>`` shortcut around the approvals) and
every condition is a function from ikuflow's own guard registry, never a name the
``transitions`` library would resolve or import.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Callable, Iterable

from transitions import Machine

from ikuflow.calendar import NO_OVERRIDES, Overrides, due_at, fmt_local
from ikuflow.definition.model import Deadline, Workflow
from ikuflow.errors import GuardFailed, NotAllowed, NotFound, RoleMissing


#: the history's own events, which no workflow file defines, by their titles (id / en)
SYSTEM_EVENTS = {"create": "Dibuat / Created", "attach": "Isi dilampirkan / Content attached",
                 "migrate": "Pindah versi alur kerja / Moved to a new workflow version"}


class Doc:
    """What firing an event needs to know about a document (rehydrated per request)."""

    __slots__ = ("key", "state", "signing_date", "tz", "comment", "now", "content", "refusal")

    def __init__(self, key: str, state: str, signing_date: date, tz: str,
                 comment: str | None = None, now: datetime | None = None, content: str | None = None) -> None:
        self.key, self.state, self.signing_date, self.tz = key, state, signing_date, tz
        self.comment, self.now, self.content = comment, now, content  # content: its SHA-256, if any
        self.refusal: tuple[str, str] | None = None


# --- guards: name -> function(doc) returning None (pass) or the refusal message ----------------
#: Letters and symbols by category that every font draws as blank space: the Hangul fillers
#: and the blank Braille pattern (favourites for names and comments that look empty).
_BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(text: str) -> bool:
    """Whether ``text`` has a character one can see: a letter, number, punctuation or symbol.

    Spaces of every kind (U+00A0, U+3000), zero-width and format characters (U+200B, U+FEFF),
    controls and combining marks on their own are not a reason anyone can read.
    """
    return any(unicodedata.category(c)[0] in "LNPS" and c not in _BLANK_GLYPHS for c in text)


def _comment_required(doc: Doc) -> str | None:
    if doc.comment and _visible(doc.comment):
        return None
    if doc.comment:
        return ("a comment is required, and this one has no visible text (only blanks or invisible "
                "characters): say why in words (--comment \"...\", or the reason field on the web)")
    return "a comment is required: say why (--comment \"...\", or the reason field on the web)"


def _not_before_signing_date(doc: Doc) -> str | None:
    from datetime import time

    from ikuflow.calendar import UTC, zone

    start = datetime.combine(doc.signing_date, time(0), tzinfo=zone(doc.tz))
    start_utc = start.astimezone(UTC).replace(tzinfo=None)
    if doc.now is not None and doc.now >= start_utc:
        return None
    return (f"it cannot be signed before its signing date {doc.signing_date.isoformat()} "
            f"(from {fmt_local(start_utc, doc.tz)})")


def _content_required(doc: Doc) -> str | None:
    if doc.content:
        return None
    return ("it has no content yet: attach the document's file first (ikuflow attach "
            f"{doc.key} FILE, or the upload on its web page)")


GUARD_FUNCTIONS: dict[str, Callable[[Doc], str | None]] = {
    "comment_required": _comment_required,
    "not_before_signing_date": _not_before_signing_date,
    "content_required": _content_required,
}


def _condition(name: str) -> Callable:
    check = GUARD_FUNCTIONS[name]

    def condition(event_data) -> bool:
        doc = event_data.model
        refusal = check(doc)
        if refusal is None:
            return True
        doc.refusal = (name, refusal)
        return False

    condition.__name__ = f"guard_{name}"
    return condition


@dataclass(frozen=True)
class Notice:
    """The e-mail an outcome asks for: its template, who is told (by role at the document's
    office and division), who must act next (by role), and the titles the e-mail shows."""

    template: str
    roles: tuple[str, ...]
    must_act: tuple[str, ...]
    event_title: str
    state_title: str


@dataclass(frozen=True)
class Outcome:
    """Everything one fired event decided; the use case persists it in one transaction: the new
    state and its times, the history entry (actor, acting for, comment) and the e-mail."""

    event: str
    source: str | None  # None for a document just created
    dest: str
    due_at: datetime | None
    next_action_at: datetime | None
    actor: str
    acting_for: str | None
    comment: str | None
    notice: Notice | None  # None when nobody is told

    @property
    def notify(self) -> tuple[str, ...]:
        """The roles told (none without a notice)."""
        return self.notice.roles if self.notice else ()

    @property
    def template(self) -> str:
        """The template of the e-mail ('' without a notice)."""
        return self.notice.template if self.notice else ""


@dataclass(frozen=True)
class Action:
    """A reminder (before the due time) or an escalation (after it) the scheduler sends."""

    at: datetime
    kind: str  # "reminder" | "escalation"
    roles: tuple[str, ...]  # roles at the document's office (and division) who are told
    parent: bool  # the parent office's secretariat is told too
    overdue_by: timedelta  # negative for a reminder: the time left


@lru_cache(maxsize=4096)
def _due(signing_date: date, deadline: Deadline, tz: str, extra: Overrides) -> datetime:
    return due_at(signing_date, deadline, tz, extra)


class Engine:
    """The transitions Machine of one workflow version, shared by every document."""

    def __init__(self, workflow: Workflow, calendar: Overrides = NO_OVERRIDES) -> None:
        self.workflow = workflow
        self.calendar = calendar
        self._actions: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {}
        specs = [{"trigger": ev.name, "source": list(ev.sources), "dest": ev.dest,
                  "conditions": [_condition(g) for g in ev.guards]}
                 for ev in workflow.events.values()]
        self.machine = Machine(model=None, states=list(workflow.states), transitions=specs,
                               initial=workflow.initial, auto_transitions=False, send_event=True,
                               ignore_invalid_triggers=False)

    def due_for(self, state: str, signing_date: date, tz: str) -> datetime | None:
        """The due time of ``state`` for a document, or None (final state or no deadline)."""
        deadline = self.workflow.states[state].due
        if deadline is None or state in self.workflow.final:
            return None
        return _due(signing_date, deadline, tz, self.calendar)

    def actions(self, state: str) -> dict[str, tuple[tuple[str, str], ...]]:
        """role -> the (event, title) pairs that role may fire from ``state`` (for e-mail links)."""
        found = self._actions.get(state)
        if found is None:
            events = [self.workflow.events[e] for e in self.workflow.events_from(state)]
            roles = {r for ev in events for r in ev.roles}
            found = self._actions[state] = {r: tuple((ev.name, ev.title or ev.name) for ev in events
                                                     if r in ev.roles) for r in roles}
        return found

    def event_title(self, event: str) -> str:
        """The title people know ``event`` by: the workflow's, the history's own, or its name."""
        ev = self.workflow.events.get(event)
        return ev.title if ev is not None and ev.title else SYSTEM_EVENTS.get(event, event)

    def may(self, event: str, roles: frozenset[str]) -> bool:
        """Whether ``roles`` (on the document) allow firing ``event``: the one role rule."""
        return "admin" in roles or bool(roles & self._event(event).roles)

    def fire(self, doc: Doc, event: str, roles: frozenset[str], actor: str = "actor",
             delegators: Iterable[tuple[str, frozenset[str]]] = ()) -> Outcome:
        """Fire ``event`` on ``doc`` (whose ``state`` is the stored state) as ``actor`` holding
        ``roles`` there; return the outcome with every effect.

        When ``roles`` do not allow the event, the first of ``delegators`` (delegator e-mail,
        their roles on the document; read lazily, only then) whose roles do is acted for.
        Raises NotFound (unknown event), NotAllowed (wrong state), RoleMissing, GuardFailed.
        ``doc.state`` is the new state afterwards.
        """
        ev = self._event(event)
        source = doc.state
        if source not in ev.sources:
            allowed = self.workflow.events_from(source)
            raise NotAllowed(
                f"document {doc.key} is in '{source}'; '{event}' is allowed only from "
                + ", ".join(f"'{s}'" for s in ev.sources)
                + f" (allowed now: {', '.join(allowed) if allowed else 'nothing, it is final'})")
        acting_for = None
        if not self.may(event, roles):
            acting_for = next((who for who, theirs in delegators if self.may(event, theirs)), None)
            if acting_for is None:
                needed = " or ".join(sorted(ev.roles))
                have = ", ".join(sorted(roles)) or "none"
                raise RoleMissing(
                    f"{actor} may not {event} {doc.key}: it needs the {needed} role for this document's "
                    f"office{' and division' if 'coordinator' in ev.roles else ''} (roles here: {have}); "
                    "ask the secretariat to assign it")
        doc.refusal = None
        if not self.machine.events[event].trigger(doc):
            guard, message = doc.refusal or ("?", "a guard refused it")
            raise GuardFailed(guard, f"cannot {event} {doc.key}: {message}")
        return self._outcome(doc, event, source, actor, acting_for, ev.notify, ev.template,
                             ev.title or event)

    def start(self, doc: Doc, actor: str) -> Outcome:
        """The outcome of creating ``doc`` in the initial state (event 'create')."""
        doc.state = self.workflow.initial
        return self._outcome(doc, "create", None, actor, None, self.workflow.create_notify,
                             self.workflow.create_template, SYSTEM_EVENTS["create"])

    def _outcome(self, doc: Doc, event: str, source: str | None, actor: str, acting_for: str | None,
                 notify: tuple[str, ...], template: str, event_title: str) -> Outcome:
        due = self.due_for(doc.state, doc.signing_date, doc.tz)
        st = self.workflow.states[doc.state]
        notice = Notice(template, notify, st.must_act, event_title, st.title or doc.state) if notify else None
        return Outcome(event=event, source=source, dest=doc.state, due_at=due,
                       next_action_at=self.next_action_at(doc.state, due, doc.now), actor=actor,
                       acting_for=acting_for, comment=doc.comment, notice=notice)

    # --- reminders and escalations ------------------------------------------------------------
    def next_action_at(self, state: str, due: datetime | None, after: datetime | None) -> datetime | None:
        """The first reminder or escalation time of ``state`` strictly after ``after``."""
        if due is None:
            return None
        st = self.workflow.states[state]
        for before in st.reminders:  # longest first: earliest time first
            if after is None or due - before > after:
                return due - before
        if st.escalation is None:
            return None
        if after is None or due > after:
            return due
        every = st.escalation.every
        return due + every * ((after - due) // every + 1)

    def latest_action(self, state: str, due: datetime | None, now: datetime) -> Action | None:
        """The most recent reminder or escalation of ``state`` at or before ``now``.

        After downtime only this one is sent: the missed ones before it are stale news.
        """
        if due is None:
            return None
        st = self.workflow.states[state]
        esc = st.escalation
        if now >= due and esc is not None:
            at = due + esc.every * ((now - due) // esc.every)
            late = at - due
            roles = list(st.must_act) + [r for r in esc.copy if r not in st.must_act]
            if esc.chair_after is not None and late >= esc.chair_after and "chair" not in roles:
                roles.append("chair")
            parent = esc.parent_after is not None and late >= esc.parent_after
            return Action(at, "escalation", tuple(roles), parent, late)
        passed = [due - b for b in st.reminders if due - b <= now]
        if not passed:
            return None
        at = max(passed)
        return Action(at, "reminder", tuple(st.must_act), False, at - due)

    def _event(self, event: str):
        ev = self.workflow.events.get(event)
        if ev is None:
            from ikuflow.definition.load import hint

            raise NotFound("event", event, f"{hint(event, list(self.workflow.events))} "
                           f"(workflow '{self.workflow.name}')")
        return ev
