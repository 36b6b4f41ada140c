"""Workflow definitions: the shipped file, every kind of problem, check_files and the CLI."""

from __future__ import annotations

import hashlib
import json
from datetime import time, timedelta

import pytest

pytestmark = pytest.mark.no_database

from conftest import WORKFLOWS
from ikuflow.definition import check_files, load_file, parse_text
from ikuflow.definition.model import Deadline, Escalation
from ikuflow.errors import DefinitionError, Problem

IKU = WORKFLOWS / "iku.yaml"
TEXT = IKU.read_text(encoding="utf-8")
F = "x.yaml"

#: PRODUCT.md section 2: event -> (sources, destination, roles)
TABLE = {
    "submit": (("draft",), "division_review", {"coordinator"}),
    "synchronize": (("division_review",), "synchronized", {"secretariat"}),
    "approve": (("synchronized",), "chair_approved", {"chair"}),
    "sign": (("chair_approved",), "signed", {"chair"}),
    "send_back": (("division_review", "synchronized", "chair_approved"), "draft",
                  {"secretariat", "chair"}),
}
STATES = ["draft", "division_review", "synchronized", "chair_approved", "signed"]


def variant(*pairs: tuple[str, str]) -> str:
    """The default workflow text with each (old, new) replaced exactly once."""
    text = TEXT
    for old, new in pairs:
        assert text.count(old) >= 1, f"{old!r} not in workflows/iku.yaml"
        text = text.replace(old, new, 1)
    return text


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} found {len(hits)} times"
    return hits[nth - 1]


def problems_of(text: str, file: str = F) -> list[Problem]:
    result = None
    with pytest.raises(DefinitionError) as exc:
        result = parse_text(text, file)
    assert result is None
    assert exc.value.exit_code == 1
    assert exc.value.problems, "a DefinitionError must carry its problems"
    for p in exc.value.problems:
        assert p.file == file
        assert str(p).startswith(file)
    return exc.value.problems


def at(problems: list[Problem], location: str) -> Problem:
    found = [p for p in problems if p.location == location]
    assert len(found) == 1, f"expected one problem at {location}, got {problems}"
    return found[0]


# --- the shipped workflow ------------------------------------------------------------------------
def test_default_workflow_loads_with_the_lifecycle_of_product_md():
    wf = load_file(IKU)
    assert wf.name == "iku"
    assert list(wf.states) == STATES
    assert wf.initial == "draft"
    assert wf.final == frozenset({"signed"})
    assert wf.path == str(IKU)
    assert wf.sha256 == hashlib.sha256(TEXT.encode()).hexdigest()
    assert set(wf.events) == set(TABLE)
    for name, (sources, dest, roles) in TABLE.items():
        ev = wf.events[name]
        assert set(ev.sources) == set(sources), name
        assert ev.dest == dest, name
        assert ev.roles == frozenset(roles), name
    assert wf.events["send_back"].guards == ("comment_required",)
    assert wf.events["sign"].guards == ("not_before_signing_date",)
    assert wf.events["submit"].guards == ()
    assert wf.events["send_back"].notify == ("coordinator",)
    assert wf.events_from("draft") == ["submit"]
    assert wf.events_from("chair_approved") == ["sign", "send_back"]
    assert wf.events_from("signed") == []


def test_default_workflow_deadlines_reminders_and_escalation_are_parsed():
    wf = load_file(IKU)
    draft = wf.states["draft"]
    assert draft.must_act == ("coordinator",)
    assert draft.due == Deadline(days_before=5, unit="working_days", at=time(16, 0))
    assert draft.reminders == (timedelta(days=2), timedelta(days=1))
    assert draft.escalation == Escalation(every=timedelta(days=1), copy=("secretariat",),
                                          chair_after=timedelta(days=2),
                                          parent_after=timedelta(days=3))
    assert wf.states["division_review"].due == Deadline(3, "working_days", time(16, 0))
    assert wf.states["synchronized"].due.days_before == 1
    assert wf.states["synchronized"].escalation.chair_after is None
    assert wf.states["chair_approved"].due.days_before == 0
    assert wf.states["chair_approved"].reminders == (timedelta(hours=4),)
    signed = wf.states["signed"]
    assert (signed.due, signed.reminders, signed.escalation) == (None, (), None)


def test_models_are_frozen():
    wf = load_file(IKU)
    with pytest.raises(TypeError):
        wf.states["bogus"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        wf.events["sign"].dest = "draft"  # type: ignore[misc]


def test_the_sketch_of_product_md_with_a_list_of_states_is_valid():
    wf = parse_text("""\
name: iku_sketch
states: [draft, division_review, synchronized, chair_approved, signed]
initial: draft
final: [signed]
events:
  submit:    {from: draft, to: division_review, roles: [coordinator]}
  synchronize: {from: division_review, to: synchronized, roles: [secretariat]}
  approve:   {from: synchronized, to: chair_approved, roles: [chair]}
  sign:      {from: chair_approved, to: signed, roles: [chair]}
  send_back: {from: [division_review, synchronized, chair_approved], to: draft,
              roles: [secretariat, chair], guards: [comment_required]}
""", F)
    assert list(wf.states) == STATES
    assert wf.events["send_back"].guards == ("comment_required",)
    assert wf.states["draft"].due is None


def test_unquoted_clock_time_is_read_as_a_time_not_a_number():
    # YAML 1.1 reads 16:00 unquoted as the sexagesimal integer 960
    wf = parse_text(variant(('at: "16:00"', "at: 15:30")), F)
    assert wf.states["draft"].due.at == time(15, 30)


# --- each kind of problem ------------------------------------------------------------------------
def test_unknown_state_in_to_says_did_you_mean():
    text = variant(("to: signed", "to: sigend"))
    p = at(problems_of(text), "events.sign.to")
    assert "unknown state 'sigend'" in p.message
    assert "did you mean 'signed'?" in p.message
    assert p.line == line_of(text, "to: sigend")
    assert str(p) == f"{F}:{p.line}: events.sign.to: {p.message}"


def test_unknown_state_in_from_says_did_you_mean():
    text = variant(("from: draft\n", "from: draf\n"))
    p = at(problems_of(text), "events.submit.from")
    assert "unknown state 'draf'" in p.message and "did you mean 'draft'?" in p.message
    assert p.line == line_of(text, "from: draf")


@pytest.mark.parametrize("old,new,location", [
    ("to: signed", "to: sigend", "events.sign.to"),
    ("from: draft\n", "from: draf\n", "events.submit.from"),
])
def test_one_misspelled_state_is_one_problem_not_a_cascade(old, new, location):
    """A typo in a reference is reported once, where it is; the states it cuts off are not
    reported again as unreachable / without outgoing events (their hints would be wrong:
    the event the hint asks for is already there)."""
    problems = problems_of(variant((old, new)))
    assert [p.location for p in problems] == [location], problems


def test_unreachable_state():
    text = variant(("  signed:\n", "  archived:\n    title: Archive\n  signed:\n"),
                   ("events:\n", "events:\n  restore: {from: archived, to: draft, roles: [admin]}\n"))
    problems = problems_of(text)
    assert len(problems) == 1
    p = at(problems, "states.archived")
    assert "unreachable from 'draft'" in p.message
    assert "add an event whose 'to' is 'archived', or remove the state" in p.message
    assert p.line == line_of(text, "  archived:")


def test_no_final_state():
    text = variant(("final: [signed]", "final: []"))
    p = at(problems_of(text), "final")
    assert "no final state" in p.message and "e.g. 'signed'" in p.message
    assert p.line == line_of(text, "final: []")


def test_missing_final_field():
    text = variant(("final: [signed]\n", ""))
    p = at(problems_of(text), "final")
    assert "'final' is missing" in p.message and "workflows/iku.yaml" in p.message


def test_duplicate_event_is_a_duplicate_yaml_key():
    text = variant(("  send_back:\n", "  submit:\n    from: draft\n    to: division_review\n"
                                      "    roles: [coordinator]\n  send_back:\n"))
    problems = problems_of(text)
    assert len(problems) == 1
    p = at(problems, "events.submit")
    assert "'submit' is defined twice; keep one of them" in p.message
    assert p.line == line_of(text, "  submit:", nth=2)


def test_duplicate_state_is_reported():
    text = variant(("  signed:\n", "  draft: {}\n  signed:\n"))
    p = at(problems_of(text), "states.draft")
    assert "defined twice" in p.message
    assert p.line == line_of(text, "  draft: {}")


def test_final_state_with_outgoing_event():
    text = variant(("from: [division_review, synchronized, chair_approved]",
                    "from: [division_review, synchronized, chair_approved, signed]"))
    problems = problems_of(text)
    assert len(problems) == 1
    p = at(problems, "events.send_back.from")
    assert "'signed' is a final state and cannot have outgoing events" in p.message
    assert "remove 'signed' from 'from' or from 'final'" in p.message
    assert p.line == line_of(text, "chair_approved, signed]")


def test_unknown_role_with_hint():
    text = variant(("roles: [coordinator]", "roles: [coordinater]"))
    problems = problems_of(text)
    assert len(problems) == 1
    p = at(problems, "events.submit.roles")
    assert "unknown role 'coordinater'; did you mean 'coordinator'?" in p.message
    assert p.line == line_of(text, "roles: [coordinater]")


def test_unknown_role_in_must_act_and_escalation_copy():
    text = variant(("must_act: [coordinator]", "must_act: [koordinator]"),
                   ("copy: [secretariat]", "copy: [secretary]"))
    problems = problems_of(text)
    assert "did you mean 'coordinator'?" in at(problems, "states.draft.must_act").message
    assert "did you mean 'secretariat'?" in at(problems, "states.draft.escalation.copy").message


@pytest.mark.parametrize("guard", ["coment_required", "os.system",
                                   "ikuflow.engine._comment_required",
                                   "ikuflow.engine.GUARD_FUNCTIONS", "builtins.eval",
                                   "_comment_required", "guard_comment_required"])
def test_unknown_guard_is_rejected_and_a_file_can_never_name_code(guard):
    text = variant(("guards: [comment_required]", f"guards: [{guard}]"))
    problems = problems_of(text)
    assert len(problems) == 1
    p = at(problems, "events.send_back.guards")
    assert f"unknown guard '{guard}'" in p.message
    assert "comment_required" in p.message  # the hint names the real guard
    assert p.line == line_of(text, f"guards: [{guard}]")


def test_a_python_yaml_tag_is_a_definition_problem_not_a_crash():
    """``!!python/name:os.system`` must be refused like any other bad value: a DefinitionError
    naming file and line (the CLI prints it and exits 1), never a raw yaml exception."""
    text = variant(("guards: [comment_required]", "guards: [!!python/name:os.system '']"))
    problems = problems_of(text)
    assert line_of(text, "!!python/name") in [p.line for p in problems]


def test_unknown_top_level_field_with_hint():
    text = variant(("initial: draft\n", "initial: draft\ninitail: draft\n"))
    problems = problems_of(text)
    assert len(problems) == 1
    p = at(problems, "initail")
    assert "unknown field 'initail'; did you mean 'initial'?" in p.message
    assert p.line == line_of(text, "initail:")


def test_unknown_nested_field_with_hint():
    text = variant(("    roles: [coordinator]\n", "    roles: [coordinator]\n    rolse: [chair]\n"))
    p = at(problems_of(text), "events.submit.rolse")
    assert "did you mean 'roles'?" in p.message


def test_invalid_yaml_syntax():
    text = "name: iku\ninitial: draft\n\tfinal: [signed]\n"
    problems = problems_of(text)
    assert len(problems) == 1
    p = problems[0]
    assert p.message.startswith("not valid YAML")
    assert p.line == 3
    assert p.location  # where in the line


@pytest.mark.parametrize("text", ["- draft\n- signed\n", "just a string\n", "", "# only a comment\n"])
def test_file_that_is_not_a_mapping(text):
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].location == "(top)"
    assert "must be a YAML mapping" in problems[0].message


def test_non_final_state_without_outgoing_event():
    text = variant(("  signed:\n", "  parked:\n    title: Parked\n  signed:\n"),
                   ("events:\n", "events:\n  park: {from: draft, to: parked, roles: [chair]}\n"))
    problems = problems_of(text)
    assert len(problems) == 1
    p = at(problems, "states.parked")
    assert "not final but no event leaves it" in p.message
    assert "list it under 'final'" in p.message
    assert p.line == line_of(text, "  parked:")


@pytest.mark.parametrize("name", ["to_signed", "to_draft"])
def test_event_named_like_an_auto_transition_is_rejected(name):
    text = variant(("  sign:\n", f"  {name}:\n"))
    problems = problems_of(text)
    assert len(problems) == 1
    p = at(problems, f"events.{name}")
    assert "not starting with 'to_'" in p.message
    assert p.line == line_of(text, f"  {name}:")


def test_bad_duration():
    text = variant(("before: [2d, 1d]", "before: [2x, 1d]"))
    problems = problems_of(text)
    assert len(problems) == 1
    p = at(problems, "states.draft.reminders.before[0]")
    assert "'2x' is not a duration" in p.message and "'2d'" in p.message
    assert p.line == line_of(text, "before: [2x, 1d]")


def test_bad_time_of_day():
    text = variant(('at: "16:00"', 'at: "25:00"'))
    problems = problems_of(text)
    assert len(problems) == 1
    p = at(problems, "states.draft.due.at")
    assert "'25:00' is not a time of day" in p.message and "'16:00'" in p.message
    assert p.line == line_of(text, '"25:00"')


def test_unknown_unit():
    text = variant(("unit: working_days", "unit: workdays"))
    problems = problems_of(text)
    assert len(problems) == 1
    p = at(problems, "states.draft.due.unit")
    assert "unknown unit 'workdays'; did you mean 'working_days'?" in p.message
    assert p.line == line_of(text, "unit: workdays")


def test_days_before_out_of_range():
    p = at(problems_of(variant(("days_before: 5", "days_before: -1"))), "states.draft.due.days_before")
    assert "between 0 and 366" in p.message


@pytest.mark.parametrize("every", ["0d", "0"])
def test_zero_escalation_interval_is_rejected(every):
    """``every: 0d`` would escalate without pause; the loader means to refuse it."""
    text = variant(("every: 1d", f"every: {every}"))
    problems = problems_of(text)
    p = at(problems, "states.draft.escalation.every")
    assert "longer than zero" in p.message


# --- all problems at once ------------------------------------------------------------------------
THREE = [("to: draft", "to: draf"),                        # send_back.to, misspelled state
         ("roles: [coordinator]", "roles: [coordinater]"),  # submit, unknown role
         ("guards: [comment_required]", "guards: [coment_required]")]  # send_back, misspelled guard
THREE_TEXT = variant(*THREE)
THREE_LOCATIONS = {"events.send_back.to": line_of(THREE_TEXT, "to: draf"),
                   "events.submit.roles": line_of(THREE_TEXT, "roles: [coordinater]"),
                   "events.send_back.guards": line_of(THREE_TEXT, "guards: [coment_required]")}


@pytest.fixture
def three_errors(tmp_path):
    path = tmp_path / "three.yaml"
    path.write_text(THREE_TEXT, encoding="utf-8")
    return path


def test_all_problems_are_reported_at_once_and_nothing_is_returned():
    problems = problems_of(THREE_TEXT)
    assert {p.location: p.line for p in problems} == THREE_LOCATIONS
    assert len(problems) == 3
    assert "did you mean 'draft'?" in at(problems, "events.send_back.to").message
    assert "did you mean 'coordinator'?" in at(problems, "events.submit.roles").message
    assert "did you mean 'comment_required'?" in at(problems, "events.send_back.guards").message


def test_load_file_of_a_broken_file_raises_with_every_problem(three_errors):
    result = None
    with pytest.raises(DefinitionError) as exc:
        result = load_file(three_errors)
    assert result is None
    assert {p.location for p in exc.value.problems} == set(THREE_LOCATIONS)
    assert all(p.file == str(three_errors) for p in exc.value.problems)
    assert str(exc.value).startswith("3 problems in workflow definition:")
    for loc in THREE_LOCATIONS:
        assert loc in str(exc.value)


def test_load_file_of_a_missing_file(tmp_path):
    with pytest.raises(DefinitionError) as exc:
        load_file(tmp_path / "nope.yaml")
    assert exc.value.problems[0].location == "(file)"
    assert "cannot read" in exc.value.problems[0].message


# --- check_files ---------------------------------------------------------------------------------
def test_check_files_default_is_clean():
    assert check_files([IKU]) == []


def test_check_files_reports_the_same_workflow_name_twice(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(TEXT, encoding="utf-8")
    b.write_text(TEXT.replace("title: \"IKU tahunan", "title: \"Copy of IKU tahunan"), encoding="utf-8")
    problems = check_files([a, b])
    assert len(problems) == 1
    p = problems[0]
    assert (p.file, p.location) == (str(b), "name")
    assert "workflow 'iku' is also defined in" in p.message and str(a) in p.message


def test_check_files_collects_problems_of_every_file(tmp_path, three_errors):
    other = tmp_path / "other.yaml"
    other.write_text(variant(("name: iku", "name: iku_other"), ("unit: working_days", "unit: days")),
                     encoding="utf-8")
    problems = check_files([three_errors, other, IKU])
    assert sorted({p.file for p in problems}) == sorted([str(three_errors), str(other)])
    assert len(problems) == 4


# --- the CLI -------------------------------------------------------------------------------------
def invoke(*args: str):
    from typer.testing import CliRunner

    from ikuflow.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_check_default_file_is_valid():
    r = invoke("workflow", "check", str(IKU))
    assert r.exit_code == 0, r.stderr
    assert "all valid" in r.stdout
    assert r.stderr == ""


def test_cli_check_three_errors_exits_1_with_every_location(three_errors):
    r = invoke("workflow", "check", str(three_errors))
    assert r.exit_code == 1
    assert r.exception is None or isinstance(r.exception, SystemExit)
    for loc, line in THREE_LOCATIONS.items():
        assert f"{three_errors}:{line}: {loc}: " in r.stderr
    assert "3 problems" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_check_json(three_errors):
    r = invoke("workflow", "check", "--json", str(three_errors))
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["ok"] is False
    assert data["files"] == [str(three_errors)]
    assert len(data["problems"]) == 3
    assert {p["location"]: p["line"] for p in data["problems"]} == THREE_LOCATIONS
    assert all(p["file"] == str(three_errors) and "did you mean" in p["message"]
               for p in data["problems"])


def test_cli_check_json_ok():
    data = json.loads(invoke("workflow", "check", "--json", str(IKU)).stdout)
    assert data == {"files": [str(IKU)], "ok": True, "problems": []}


def test_cli_show_json_lists_states_and_events():
    r = invoke("workflow", "show", "--json", str(IKU))
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["name"] == "iku" and data["initial"] == "draft" and data["final"] == ["signed"]
    assert [s["name"] for s in data["states"]] == STATES
    draft = data["states"][0]
    assert draft["due"] == {"days_before": 5, "unit": "working_days", "at": "16:00"}
    assert draft["reminders_before"] == ["2d", "1d"]
    events = {e["name"]: e for e in data["events"]}
    assert set(events) == set(TABLE)
    for name, (sources, dest, roles) in TABLE.items():
        assert (set(events[name]["from"]), events[name]["to"], set(events[name]["roles"])) == \
            (set(sources), dest, roles)
    assert events["send_back"]["guards"] == ["comment_required"]


def test_cli_graph_mermaid():
    r = invoke("workflow", "graph", str(IKU), "--format", "mermaid")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("stateDiagram-v2")
    assert "draft --> division_review: submit" in r.stdout
    assert "chair_approved --> draft: send_back [comment_required]" in r.stdout
    assert "signed --> [*]" in r.stdout


def test_cli_graph_dot():
    r = invoke("workflow", "graph", str(IKU), "--format", "dot")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith('digraph "iku"')
    assert '"draft" -> "division_review" [label="submit"];' in r.stdout
    assert r.stdout.rstrip().endswith("}")


def test_cli_graph_unknown_format_is_a_usage_error():
    r = invoke("workflow", "graph", str(IKU), "--format", "svg")
    assert r.exit_code == 2
    assert "svg" in r.stderr and "mermaid" in r.stderr
    assert r.stdout == ""
