"""Every field of a workflow file (and of the calendar file), described once.

This is plain data: the loader (``load.py``) takes its allowed keys from it, and
``python -m ikuflow.definition.reference`` turns it into ``docs/workflow-reference.md``, so the
reference cannot drift from what the loader accepts (``tests/test_docs.py`` holds both lines).
It imports nothing but the role and unit names of ``model.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ikuflow.definition.model import ROLES, UNITS


@dataclass(frozen=True)
class Field:
    """One key of a mapping in a workflow file."""

    name: str
    type: str
    description: str
    example: str  # one line of YAML, as it would appear in the section
    required: bool = False
    default: str = ""  # what an absent key means; empty when required
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    """One mapping of a workflow file: its location, what it is for, and its fields."""

    key: str  # a short name used by the loader and the tests
    path: str  # where it sits, as in the loader's messages: states.<state>.due
    title: str
    description: str
    fields: tuple[Field, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys the section allows."""
        return tuple(f.name for f in self.fields)


ROLE_LIST = "role, or list of roles"

#: What each value type accepts.
TYPES = (
    ("name", "lower-case letters, digits and `_`, starting with a letter: `draft`, `send_back`"),
    ("state", "the name of a state of this workflow"),
    ("role", "one of " + ", ".join(f"`{r}`" for r in ROLES)
     + " (`coordinator` is scoped to an office and a division, `secretariat` and `chair` to an "
       "office, `admin` may fire any event)"),
    ("duration", "a number and a unit: `2d` (days), `12h` (hours), `30m` (minutes); a bare "
     "integer is a number of days. Durations are calendar time, not working days"),
    ("time of day", "`HH:MM` in the office's own time zone; quote it (`\"16:00\"`)"),
    ("template", "lower-case letters, digits and `_`: the files "
     "`notifications/<lang>/<template>.subject`, `.txt` and `.html`"),
    ("date", "`YYYY-MM-DD`, a real calendar date"),
)

#: Guards a workflow may name (the loader's GUARDS; the engine maps each to ikuflow's own code).
GUARDS = (
    ("comment_required", "the event needs a non-empty comment (`--comment`); `send_back` uses it"),
    ("not_before_signing_date", "the event may fire only from 00:00 of the signing date, office "
     "time; `sign` uses it"),
    ("content_required", "the document must have content (`ikuflow attach KEY FILE`); the default "
     "workflow does not use it, an office may put it on `submit`"),
)

TOP = Section("top", "(top)", "Top level", "A workflow file is one YAML mapping.", (
    Field("name", "name", "The workflow's name; `ikuflow new --workflow NAME` picks it. Unique "
          "across the workflow folder.", "name: iku", required=True),
    Field("title", "text", "A title for people, shown by `ikuflow workflow show`.",
          'title: "IKU tahunan / Annual IKU"', default="the name"),
    Field("initial", "state", "The state a new document starts in.", "initial: draft",
          required=True),
    Field("final", "state, or list of states", "Where documents end. A final state has no "
          "outgoing events, no deadline, no reminders and no escalation.", "final: [signed]",
          required=True),
    Field("states", "list of names, or mapping of name to state settings", "Every state, in "
          "order. A plain list is enough when states have no settings; see `states.<state>`.",
          "states: [draft, division_review, synchronized, chair_approved, signed]",
          required=True),
    Field("events", "mapping of name to event settings", "Every event, by name; see "
          "`events.<event>`. An event name is not a state name and does not start with `to_`.",
          "events: {submit: {from: draft, to: division_review, roles: [coordinator]}}",
          required=True),
    Field("on_create", "mapping", "Who is told by e-mail when a document is created; see "
          "`on_create`.", "on_create: {notify: [coordinator], template: create}",
          default="nobody is told"),
))

STATE = Section("state", "states.<state>", "states.<state>", "The settings of one state (all "
                "optional). Every state must be reachable from `initial`, and every state that "
                "is not final must have an event leaving it.", (
    Field("title", "text", "A title for people, shown by `status` and in e-mails.",
          'title: "Penyusunan / Drafting"', default="the state's name"),
    Field("must_act", ROLE_LIST, "Who must act while a document is in this state: shown by "
          "`status` and `overdue`, and sent the reminders and escalations.",
          "must_act: [coordinator]", default="nobody", allowed=ROLES),
    Field("due", "mapping", "When the state must be left, counted back from the signing date; "
          "see `states.<state>.due`.", 'due: {days_before: 5, unit: working_days, at: "16:00"}',
          default="no deadline (and so no reminders or escalations)"),
    Field("reminders", "mapping", "Reminders before the due time; see "
          "`states.<state>.reminders`.", "reminders: {before: [2d, 1d]}", default="none"),
    Field("escalation", "mapping", "What happens after the due time; see "
          "`states.<state>.escalation`.", "escalation: {every: 1d, copy: [secretariat]}",
          default="none"),
))

DUE = Section("due", "states.<state>.due", "states.<state>.due", "The due time of a state: "
              "`days_before` the document's signing date, at a time of day in the office's own "
              "time zone (WIB, WITA, WIT).", (
    Field("days_before", "integer, 0 to 366", "How many days before the signing date. 0 is "
          "the signing date itself (or, in working days, the last working day up to it).",
          "days_before: 5", required=True),
    Field("unit", "text", "`working_days` skip weekends, Indonesian public holidays and "
          "collective leave (cuti bersama) and the calendar file's `non_working` days; "
          "`calendar_days` count every day.", "unit: working_days", default="working_days",
          allowed=UNITS),
    Field("at", "time of day", "The time of day the step falls due, local to the office.",
          'at: "16:00"', default='"16:00"'),
))

REMINDERS = Section("reminders", "states.<state>.reminders", "states.<state>.reminders",
                    "Reminders sent to `must_act` before the due time.", (
    Field("before", "duration, or list of durations", "How long before the due time each "
          "reminder goes out.", "before: [2d, 1d]", default="no reminders"),
))

ESCALATION = Section("escalation", "states.<state>.escalation", "states.<state>.escalation",
                     "Escalations after the due time, while the document stays in the state: "
                     "to `must_act`, plus the roles below.", (
    Field("every", "duration", "How often an escalation repeats, counted from the due time. "
          "Longer than zero.", "every: 1d", default="1d"),
    Field("copy", ROLE_LIST, "Roles of the document's office copied on every escalation.",
          "copy: [secretariat]", default="nobody", allowed=ROLES),
    Field("chair_after", "duration", "Once the step is this late, the office's chair is told "
          "too.", "chair_after: 2d", default="the chair is not added"),
    Field("parent_after", "duration", "Once the step is this late, the parent office's "
          "secretariat is told too (a regency's province, a province's national office).",
          "parent_after: 3d", default="the parent office is not told"),
))

EVENT = Section("event", "events.<event>", "events.<event>", "One event: who may fire it, from "
                "where to where, what must hold, and who is told. Events are fired only by "
                "their exact name (`ikuflow advance KEY EVENT`).", (
    Field("from", "state, or list of states", "The states the event may be fired from (not "
          "final states).", "from: [division_review, synchronized, chair_approved]",
          required=True),
    Field("to", "state", "The state the document moves to.", "to: draft", required=True),
    Field("roles", ROLE_LIST, "Who may fire it, for the document's office (and division, for "
          "`coordinator`). At least one. `admin` may fire any event.",
          "roles: [secretariat, chair]", required=True, allowed=ROLES),
    Field("guards", "guard, or list of guards", "Conditions that must hold, from ikuflow's own "
          "list (see Guards); a workflow file can never name code to run.",
          "guards: [comment_required]", default="none", allowed=tuple(g for g, _ in GUARDS)),
    Field("notify", ROLE_LIST, "Who is told by e-mail when the event fires (the holders of "
          "these roles for the document).", "notify: [coordinator]", default="nobody",
          allowed=ROLES),
    Field("template", "template", "The e-mail templates used for `notify`.",
          "template: send_back", default="the event's name"),
    Field("title", "text", "A title for people, used in e-mails.",
          'title: "Kembalikan / Send back"', default="the event's name"),
))

ON_CREATE = Section("on_create", "on_create", "on_create", "Who is told when a document is "
                    "created (by `ikuflow new`, also with `--all-offices`).", (
    Field("notify", ROLE_LIST, "Roles told, for the new document's office and division.",
          "notify: [coordinator]", default="nobody", allowed=ROLES),
    Field("template", "template", "The e-mail templates used.", "template: create",
          default="create"),
))

#: The sections of a workflow file, in the order the reference shows them.
WORKFLOW_SECTIONS = (TOP, STATE, DUE, REMINDERS, ESCALATION, EVENT, ON_CREATE)

CALENDAR = Section("calendar", "calendar.yaml", "The calendar file", "`calendar.yaml` in the "
                   "workflows folder (not a workflow): working-day changes decreed after the "
                   "`holidays` package knew them. `ikuflow init` loads it and replaces the "
                   "stored ones; a date may not be both working and non-working.", (
    Field("non_working", "mapping of date to a note (or a list of dates)", "Extra days off: collective leave or "
          "holidays decreed later.", 'non_working: {2026-12-24: "Cuti bersama Natal"}',
          default="none"),
    Field("working", "mapping of date to a note (or a list of dates)", "Days made working, such as a Saturday by "
          "decree.", 'working: {2026-03-28: "Hari kerja pengganti"}', default="none"),
))

#: Problems ``ikuflow workflow check`` reports besides unknown keys and bad values.
RULES = (
    "every key above is checked; an unknown key is reported with the closest known one",
    "`initial`, `final`, `from` and `to` name states that exist",
    "a final state has no outgoing event and no `due`, `reminders` or `escalation`",
    "every state is reachable from `initial`, and every state that is not final has an event "
    "leaving it",
    "no event has the name of a state, and none starts with `to_`",
    "two workflow files in one folder do not share a `name`",
    "the e-mail templates the workflow needs (an event's `template` when it has `notify`, "
    "`on_create.template` when it has `notify`, and the scheduler's `reminder`, `escalation` and "
    "`digest`) exist in every language of IKUFLOW_MAIL_LANGS, parse, and use only known "
    "variables (checked by `ikuflow workflow check` and `ikuflow init`)",
)

#: A complete workflow that uses every field (the reference shows it; a test loads it).
EXAMPLE_WORKFLOW = """\
# A short workflow for revising a signed IKU; it uses every field of a workflow file.
name: iku_revision
title: "Revisi IKU / IKU revision"
initial: draft
final: [signed]

on_create:
  notify: [coordinator]
  template: create

states:
  draft:
    title: "Penyusunan revisi / Drafting the revision"
    must_act: [coordinator]
    due: {days_before: 3, unit: working_days, at: "16:00"}
    reminders: {before: [2d, 1d]}
    escalation: {every: 1d, copy: [secretariat], chair_after: 2d, parent_after: 3d}
  review:
    title: "Telaah ketua / Chair's review"
    must_act: chair
    due: {days_before: 0, unit: calendar_days, at: "12:00"}
    reminders: {before: 4h}
    escalation: {every: 12h, copy: secretariat}
  signed:
    title: "Ditandatangani / Signed"

events:
  submit:
    title: "Ajukan / Submit"
    from: draft
    to: review
    roles: [coordinator]
    notify: [chair, secretariat]
    template: submit
  sign:
    title: "Tanda tangani / Sign"
    from: review
    to: signed
    roles: chair
    guards: [not_before_signing_date]
    notify: [coordinator, secretariat]
  send_back:
    title: "Kembalikan / Send back"
    from: [review]
    to: draft
    roles: [secretariat, chair]
    guards: comment_required
    notify: coordinator
"""

EXAMPLE_CALENDAR = """\
non_working:
  2026-12-24: "Cuti bersama Natal"
working:
  2026-03-28: "Hari kerja pengganti (contoh)"
"""


def section(key: str) -> Section:
    """The schema section named ``name``."""
    for s in (*WORKFLOW_SECTIONS, CALENDAR):
        if s.key == key:
            return s
    raise KeyError(key)


# The loader's allowed keys (load.py imports these).
TOP_KEYS = TOP.keys
STATE_KEYS = STATE.keys
EVENT_KEYS = EVENT.keys
DUE_KEYS = DUE.keys
ESCALATION_KEYS = ESCALATION.keys
