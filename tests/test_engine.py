"""The engine: one shared transitions Machine per workflow, firing rehydrated documents."""

from __future__ import annotations

from datetime import date, datetime

import pytest

pytestmark = pytest.mark.no_database

from conftest import WORKFLOWS
from ikuflow.definition import load_file, parse_text
from ikuflow.definition.model import EventDef, StateDef, Workflow
from ikuflow.engine import GUARD_FUNCTIONS, Doc, Engine, Outcome
from ikuflow.errors import GuardFailed, NotAllowed, NotFound, RoleMissing

SIGNING = date(2026, 1, 28)                 # a Wednesday
AFTER_SIGNING = datetime(2026, 1, 28, 3, 0)  # 10:00 WIB on the signing date (naive UTC)
JKT = "Asia/Jakarta"

#: event, source, dest, the role(s) PRODUCT.md gives, notify, due_at of dest (naive UTC) for a
#: document signing on 2026-01-28 in Asia/Jakarta (16:00 WIB = 09:00 UTC; Isra Mi'raj 16 Jan
#: is not in range, so 5 working days before the Wednesday 28th is Wednesday 21st).
CASES = [
    ("submit", "draft", "division_review", "coordinator", ("secretariat",), datetime(2026, 1, 23, 9)),
    ("synchronize", "division_review", "synchronized", "secretariat", ("chair",), datetime(2026, 1, 27, 9)),
    ("approve", "synchronized", "chair_approved", "chair", ("chair", "coordinator"), datetime(2026, 1, 28, 9)),
    ("sign", "chair_approved", "signed", "chair", ("coordinator", "secretariat"), None),
    ("send_back", "division_review", "draft", "secretariat", ("coordinator",), datetime(2026, 1, 21, 9)),
    ("send_back", "synchronized", "draft", "chair", ("coordinator",), datetime(2026, 1, 21, 9)),
    ("send_back", "chair_approved", "draft", "secretariat", ("coordinator",), datetime(2026, 1, 21, 9)),
    ("send_back", "chair_approved", "draft", "chair", ("coordinator",), datetime(2026, 1, 21, 9)),
]


@pytest.fixture(scope="module")
def wf() -> Workflow:
    return load_file(WORKFLOWS / "iku.yaml")


@pytest.fixture(scope="module")
def engine(wf) -> Engine:
    return Engine(wf)


def doc(state: str, comment: str | None = None, now: datetime | None = AFTER_SIGNING,
        tz: str = JKT, signing: date = SIGNING) -> Doc:
    return Doc("pacitan-sdmo-2026", state, signing, tz, comment, now)


# --- every event fires ---------------------------------------------------------------------------
def test_cases_cover_every_event_and_source_of_the_workflow(wf):
    pairs = {(ev.name, s) for ev in wf.events.values() for s in ev.sources}
    assert {(c[0], c[1]) for c in CASES} == pairs


@pytest.mark.parametrize("as_admin", [False, True], ids=["right-role", "admin"])
@pytest.mark.parametrize("event,source,dest,role,notify,due", CASES,
                         ids=[f"{c[0]}-from-{c[1]}-as-{c[3]}" for c in CASES])
def test_every_event_fires_from_each_source_to_its_destination(engine, event, source, dest, role,
                                                               notify, due, as_admin):
    d = doc(source, comment="Target indikator 3 belum sesuai RPJMD")
    roles = frozenset({"admin"}) if as_admin else frozenset({role})
    out = engine.fire(d, event, roles, actor="someone@example.id")
    assert isinstance(out, Outcome)
    assert (out.event, out.source, out.dest) == (event, source, dest)
    assert d.state == dest
    assert out.notify == notify
    assert out.template == event
    assert out.due_at == due
    assert engine.machine.models == []


def test_due_for_depends_on_the_office_zone(engine):
    # 16:00 local: 09:00 UTC in WIB, 08:00 in WITA, 07:00 in WIT
    assert engine.due_for("draft", SIGNING, "Asia/Jakarta") == datetime(2026, 1, 21, 9)
    assert engine.due_for("draft", SIGNING, "Asia/Makassar") == datetime(2026, 1, 21, 8)
    assert engine.due_for("draft", SIGNING, "Asia/Jayapura") == datetime(2026, 1, 21, 7)
    assert engine.due_for("signed", SIGNING, JKT) is None


def test_the_calendar_of_the_engine_moves_due_times(wf):
    from ikuflow.calendar import Overrides

    plain = Engine(wf)
    with_extra = Engine(wf, Overrides(off=frozenset({date(2026, 1, 27)})))
    assert plain.due_for("synchronized", SIGNING, JKT) == datetime(2026, 1, 27, 9)
    assert with_extra.due_for("synchronized", SIGNING, JKT) == datetime(2026, 1, 26, 9)


def test_a_whole_walk_from_draft_to_signed(engine):
    d = doc("draft", comment="revisi")
    path = []
    for event, role in [("submit", "coordinator"), ("synchronize", "secretariat"),
                        ("send_back", "chair"), ("submit", "coordinator"),
                        ("synchronize", "secretariat"), ("approve", "chair"), ("sign", "chair")]:
        path.append(engine.fire(d, event, frozenset({role})).dest)
    assert path == ["division_review", "synchronized", "draft", "division_review", "synchronized",
                    "chair_approved", "signed"]
    with pytest.raises(NotAllowed, match="allowed now: nothing, it is final"):
        engine.fire(d, "send_back", frozenset({"admin"}))
    assert d.state == "signed"


# --- no auto transitions -------------------------------------------------------------------------
def test_no_auto_transitions(engine, wf):
    assert set(engine.machine.events) == set(wf.events)
    assert not any(name.startswith("to_") for name in engine.machine.events)
    assert "to_signed" not in engine.machine.events and "to_draft" not in engine.machine.events
    d = doc("chair_approved")
    engine.fire(d, "sign", frozenset({"chair"}))
    assert [a for a in dir(d) if a.startswith("to_")] == []
    assert not hasattr(d, "to_signed") and not hasattr(d, "to_draft")
    with pytest.raises(NotFound):
        engine.fire(doc("draft"), "to_signed", frozenset({"admin"}))


# --- refusals ------------------------------------------------------------------------------------
def test_unknown_event_is_not_found_with_a_hint(engine):
    d = doc("draft")
    with pytest.raises(NotFound) as exc:
        engine.fire(d, "sumbit", frozenset({"admin"}))
    assert exc.value.exit_code == 3
    assert (exc.value.kind, exc.value.value) == ("event", "sumbit")
    assert "unknown event 'sumbit'" in str(exc.value)
    assert "did you mean 'submit'?" in str(exc.value)
    assert d.state == "draft"


def test_event_in_the_wrong_state_is_not_allowed_and_lists_allowed_events(engine):
    d = doc("chair_approved")
    with pytest.raises(NotAllowed) as exc:
        engine.fire(d, "submit", frozenset({"admin"}))
    assert type(exc.value) is NotAllowed
    assert exc.value.exit_code == 4
    msg = str(exc.value)
    assert "is in 'chair_approved'" in msg and "only from 'draft'" in msg
    assert "allowed now: sign, send_back" in msg
    assert d.state == "chair_approved"


@pytest.mark.parametrize("event,source,roles", [
    ("submit", "draft", {"secretariat", "chair"}),
    ("synchronize", "division_review", {"coordinator", "chair"}),
    ("approve", "synchronized", {"secretariat"}),
    ("sign", "chair_approved", {"coordinator", "secretariat"}),
    ("send_back", "division_review", {"coordinator"}),
    ("send_back", "chair_approved", set()),
])
def test_wrong_role_is_role_missing(engine, event, source, roles):
    d = doc(source, comment="alasan")
    with pytest.raises(RoleMissing) as exc:
        engine.fire(d, event, frozenset(roles), actor="sri@pacitan.example.id")
    assert exc.value.exit_code == 5
    assert "sri@pacitan.example.id may not" in str(exc.value)
    needed = engine.workflow.events[event].roles
    assert all(r in str(exc.value) for r in needed)
    assert d.state == source


@pytest.mark.parametrize("comment", [None, "", "   ", " \t\n "])
@pytest.mark.parametrize("source", ["division_review", "synchronized", "chair_approved"])
def test_send_back_needs_a_comment(engine, source, comment):
    d = doc(source, comment=comment)
    with pytest.raises(GuardFailed) as exc:
        engine.fire(d, "send_back", frozenset({"secretariat", "chair"}))
    assert isinstance(exc.value, NotAllowed)
    assert exc.value.exit_code == 4
    assert exc.value.guard == "comment_required"
    assert "comment is required" in str(exc.value)
    assert d.state == source


def test_sign_before_the_signing_date_fails(engine):
    d = doc("chair_approved", now=datetime(2026, 1, 20, 3, 0))
    with pytest.raises(GuardFailed) as exc:
        engine.fire(d, "sign", frozenset({"chair"}))
    assert exc.value.guard == "not_before_signing_date"
    assert exc.value.exit_code == 4
    assert "2026-01-28" in str(exc.value)
    assert "2026-01-28 00:00 WIB" in str(exc.value)
    assert d.state == "chair_approved"


def test_sign_without_a_clock_fails(engine):
    d = doc("chair_approved", now=None)
    with pytest.raises(GuardFailed):
        engine.fire(d, "sign", frozenset({"chair"}))
    assert d.state == "chair_approved"


def test_sign_from_midnight_local_time_of_the_signing_date_in_jayapura(engine):
    # 2026-01-28 00:00 WIT (UTC+9) is 2026-01-27 15:00 UTC
    late = doc("chair_approved", tz="Asia/Jayapura", now=datetime(2026, 1, 27, 14, 59))
    with pytest.raises(GuardFailed) as exc:
        engine.fire(late, "sign", frozenset({"chair"}))
    assert "2026-01-28 00:00 WIT" in str(exc.value)
    assert late.state == "chair_approved"

    on_time = doc("chair_approved", tz="Asia/Jayapura", now=datetime(2026, 1, 27, 15, 0))
    assert engine.fire(on_time, "sign", frozenset({"chair"})).dest == "signed"

    # the same instant is still 22:00 of the day before in Jakarta
    jakarta = doc("chair_approved", tz="Asia/Jakarta", now=datetime(2026, 1, 27, 15, 0))
    with pytest.raises(GuardFailed):
        engine.fire(jakarta, "sign", frozenset({"chair"}))
    assert engine.fire(doc("chair_approved", now=datetime(2026, 1, 27, 17, 0)), "sign",
                       frozenset({"chair"})).dest == "signed"


def test_refusals_are_checked_in_order_state_then_role_then_guard(engine):
    # a coordinator sending back a document in draft: the state is wrong first
    with pytest.raises(NotAllowed) as exc:
        engine.fire(doc("draft"), "send_back", frozenset({"coordinator"}))
    assert type(exc.value) is NotAllowed
    # right state, wrong role, missing comment: the role is reported, not the guard
    with pytest.raises(RoleMissing):
        engine.fire(doc("synchronized", comment=None), "send_back", frozenset({"coordinator"}))


def test_a_refusal_leaves_no_stale_refusal_behind(engine):
    d = doc("synchronized", comment=None)
    with pytest.raises(GuardFailed):
        engine.fire(d, "send_back", frozenset({"chair"}))
    d.comment = "perbaiki target"
    assert engine.fire(d, "send_back", frozenset({"chair"})).dest == "draft"


# --- no per-document state in the machine --------------------------------------------------------
def test_the_machine_holds_no_models_after_many_fires(engine):
    assert engine.machine.models == []
    docs = [Doc(f"office{i}-sdmo-2026", "draft", SIGNING, JKT, "x", AFTER_SIGNING) for i in range(300)]
    for d in docs:
        engine.fire(d, "submit", frozenset({"coordinator"}))
        engine.fire(d, "send_back", frozenset({"secretariat"}))
        engine.fire(d, "submit", frozenset({"coordinator"}))
        with pytest.raises(NotAllowed):
            engine.fire(d, "submit", frozenset({"coordinator"}))
    assert engine.machine.models == []
    assert {d.state for d in docs} == {"division_review"}
    # the documents are independent: one shared machine, many states at once
    a, b = doc("draft"), doc("synchronized")
    engine.fire(a, "submit", frozenset({"coordinator"}))
    assert (a.state, b.state) == ("division_review", "synchronized")


def test_doc_keeps_only_its_own_slots():
    d = doc("draft")
    with pytest.raises(AttributeError):
        d.trigger = lambda: None  # type: ignore[attr-defined]


# --- another workflow file, no code changes ------------------------------------------------------
REVISION = """\
# A shorter workflow for revising a signed IKU.
name: iku_revision
title: "Revisi IKU"
initial: draft
final: [signed]
states:
  draft:
    must_act: [coordinator]
    due: {days_before: 2, unit: calendar_days, at: "10:00"}
    reminders: {before: [12h]}
  review:
    must_act: [chair]
    due: {days_before: 0, at: "12:00"}
  signed: {}
events:
  propose:
    from: draft
    to: review
    roles: [coordinator]
    notify: [chair]
    template: revision_proposed
  reject:
    from: review
    to: draft
    roles: [chair]
    guards: [comment_required]
    notify: [coordinator]
  sign:
    from: review
    to: signed
    roles: [chair]
    guards: [not_before_signing_date]
"""


def test_a_workflow_from_another_file_works_without_code_changes(tmp_path):
    rev = parse_text(REVISION, "revision.yaml")
    path = tmp_path / "revision.yaml"
    path.write_text(REVISION, encoding="utf-8")
    assert load_file(path).sha256 == rev.sha256
    eng = Engine(rev)
    assert set(eng.machine.events) == {"propose", "reject", "sign"}

    signing = date(2026, 6, 15)  # a Monday
    d = Doc("pacitan-sdmo-2026-r1", "draft", signing, "Asia/Makassar", None, datetime(2026, 6, 10))
    out = eng.fire(d, "propose", frozenset({"coordinator"}))
    assert (out.dest, out.notify, out.template) == ("review", ("chair",), "revision_proposed")
    assert out.due_at == datetime(2026, 6, 15, 4, 0)  # 12:00 WITA

    with pytest.raises(RoleMissing):
        eng.fire(d, "reject", frozenset({"coordinator"}), actor="sri@pacitan.example.id")
    with pytest.raises(GuardFailed) as exc:
        eng.fire(d, "reject", frozenset({"chair"}))
    assert exc.value.guard == "comment_required"
    assert d.state == "review"

    d.comment = "salah target"
    out = eng.fire(d, "reject", frozenset({"chair"}))
    assert out.dest == "draft" and out.template == "reject"
    # 2 calendar days before a Monday is the Saturday, 10:00 WITA = 02:00 UTC
    assert out.due_at == datetime(2026, 6, 13, 2, 0)

    with pytest.raises(NotFound, match="workflow 'iku_revision'"):
        eng.fire(d, "submit", frozenset({"admin"}))
    eng.fire(d, "propose", frozenset({"coordinator"}))
    with pytest.raises(GuardFailed):
        eng.fire(d, "sign", frozenset({"chair"}))
    d.now = datetime(2026, 6, 14, 16, 0)  # 00:00 WITA on the signing date
    out = eng.fire(d, "sign", frozenset({"chair"}))
    assert (out.source, out.dest, out.due_at, out.notify) == ("review", "signed", None, ())
    assert eng.machine.models == []


# --- guards come only from the registry ----------------------------------------------------------
def _conditions(machine):
    for event in machine.events.values():
        for transitions in event.transitions.values():
            for t in transitions:
                for cond in t.conditions:
                    yield event.name, cond


@pytest.mark.parametrize("source", ["default", "revision"])
def test_every_condition_is_a_function_ikuflow_built_from_its_registry(engine, source):
    eng = engine if source == "default" else Engine(parse_text(REVISION, "revision.yaml"))
    conds = list(_conditions(eng.machine))
    expected = sorted((ev.name, g) for ev in eng.workflow.events.values()
                      for _ in ev.sources for g in ev.guards)
    seen = []
    for event, cond in conds:
        assert not isinstance(cond.func, str)
        assert callable(cond.func)
        assert cond.func.__module__ == "ikuflow.engine"
        assert cond.func.__name__.startswith("guard_")
        name = cond.func.__name__.removeprefix("guard_")
        assert name in GUARD_FUNCTIONS
        assert cond.target is True
        seen.append((event, name))
    assert sorted(seen) == expected
    assert len(expected) >= 2


def test_a_guard_name_outside_the_registry_is_never_resolved(monkeypatch):
    """Even a hand-built Workflow (bypassing the loader) cannot make the engine import code."""
    called = []
    monkeypatch.setattr("os.system", lambda *a: called.append(a) or 0)
    wf = Workflow(name="evil", title="", initial="a", final=frozenset({"b"}),
                  states={"a": StateDef("a"), "b": StateDef("b")},
                  events={"go": EventDef("go", ("a",), "b", frozenset({"chair"}), guards=("os.system",))})
    with pytest.raises(KeyError):
        Engine(wf)
    assert called == []
