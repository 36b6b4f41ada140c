"""Fuzz and property tests (issue 8): random workflow files, random event sequences on random
documents, random command-line arguments. Whatever comes in, ikuflow answers with a result or
with its own error (a documented exit code and one clear line), never a traceback, and never
leaves anything half-written.

These run on SQLite (the ``database_url`` fixture below): they count rows with the sqlite3
module. Example counts are small by default; IKUFLOW_HYPOTHESIS_EXAMPLES raises them.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from datetime import date, datetime, timedelta

import pytest
from hypothesis import event as tally, given, note
from hypothesis import strategies as st

from conftest import ADMIN, CHAIR, COORD, COORD_HUKUM, NOBODY, OTHER_CHAIR, SECR, TEST_SECRET, WORKFLOWS, run_ikuflow
from fuzzing import (GUARDS, ROLES, counts, dump, given_settings, seeded, seeded_template,  # noqa: F401
                     weird_text, workflow_dicts)

DEFAULT = (WORKFLOWS / "iku.yaml").read_text()


@pytest.fixture
def database_url(tmp_path):
    """SQLite for every test here, whatever backends the session runs."""
    return f"sqlite:///{tmp_path / 'ikuflow.db'}"


# =============================================================================================
# 1. Workflow files
# =============================================================================================
def loaded_or_reported(text: str, file: str = "fuzz.yaml"):
    """parse_text's only two outcomes: a whole Workflow, or a DefinitionError whose problems
    each name the file, a location and a one-line message. Returns the Workflow or None."""
    from ikuflow.definition import Workflow, parse_text
    from ikuflow.errors import DefinitionError

    try:
        wf = parse_text(text, file)
    except DefinitionError as exc:
        assert exc.problems, "a DefinitionError without problems"
        for p in exc.problems:
            assert p.file == file
            assert isinstance(p.location, str) and p.location.strip(), p
            assert isinstance(p.message, str) and p.message.strip(), p
            assert p.line is None or (type(p.line) is int and p.line >= 1), p
            one_line = str(p)
            assert one_line.isprintable(), f"a problem must print on one line: {one_line!r}"
        return None
    assert isinstance(wf, Workflow)
    assert_whole(wf)
    return wf


def assert_whole(wf) -> None:
    """What a loaded workflow promises the engine: nothing dangling, nothing half-read."""
    from ikuflow.definition.model import ROLES as KNOWN_ROLES

    assert wf.initial in wf.states and wf.final and wf.final <= set(wf.states)
    assert wf.initial not in wf.final or len(wf.states) == 1
    for ev in wf.events.values():
        assert ev.sources and set(ev.sources) <= set(wf.states) - set(wf.final), ev
        assert ev.dest in wf.states and ev.roles and ev.roles <= set(KNOWN_ROLES), ev
        assert set(ev.guards) <= set(GUARDS) and set(ev.notify) <= set(KNOWN_ROLES), ev
        assert not ev.name.startswith("to_") and ev.name not in wf.states
    for s in wf.states.values():
        assert isinstance(s.title, str) and set(s.must_act) <= set(KNOWN_ROLES)
        if s.name not in wf.final:
            assert wf.events_from(s.name), f"{s.name} is a dead end"
        for d in s.reminders:
            assert timedelta(0) <= d <= timedelta(days=366)
        if s.escalation is not None:
            assert timedelta(0) < s.escalation.every <= timedelta(days=366)
        if s.due is not None:
            assert 0 <= s.due.days_before <= 366 and s.due.unit in ("working_days", "calendar_days")
    # every state is reachable from the initial one
    seen, todo = {wf.initial}, [wf.initial]
    while todo:
        cur = todo.pop()
        for e in wf.events_from(cur):
            if wf.events[e].dest not in seen:
                seen.add(wf.events[e].dest)
                todo.append(wf.events[e].dest)
    assert seen == set(wf.states)


def as_names(v) -> list:
    return [v] if isinstance(v, str) else list(v)


def duration(v) -> timedelta:
    if isinstance(v, int):
        return timedelta(days=v)
    return {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}[v[-1]] * int(v[:-1])


@given_settings(40)
@given(workflow_dicts(), st.randoms(use_true_random=False))
def test_a_valid_workflow_file_loads_as_written_and_its_engine_walks_it(data, rnd):
    """Generated valid workflows load, mean what the YAML says, and build a machine with no
    shortcut around the events; a random walk through it goes exactly where the file says."""
    import yaml

    from ikuflow.engine import Doc, Engine
    from ikuflow.errors import GuardFailed, RoleMissing

    text = dump(data)
    meant = yaml.safe_load(text)  # what the file says (PyYAML's reading is the reference)
    wf = loaded_or_reported(text)
    assert wf is not None, "a valid workflow was refused"
    assert wf.name == meant["name"] and wf.initial == meant["initial"]
    assert wf.final == set(as_names(meant["final"]))
    assert list(wf.states) == list(meant["states"])
    assert list(wf.events) == list(meant["events"])
    for name, ev in meant["events"].items():
        got = wf.events[name]
        assert (list(got.sources), got.dest, got.roles) == (as_names(ev["from"]), ev["to"], set(as_names(ev["roles"])))
        assert list(got.guards) == as_names(ev.get("guards", []))
        assert list(got.notify) == as_names(ev.get("notify", []))
        assert got.template == ev.get("template", name) and got.title == ev.get("title", "")
    if isinstance(meant["states"], dict):
        for name, body in meant["states"].items():
            got = wf.states[name]
            assert got.title == body.get("title", "") and list(got.must_act) == body.get("must_act", [])
            if "due" in body:
                assert got.due.days_before == body["due"]["days_before"]
                assert got.due.unit == body["due"].get("unit", "working_days")
            else:
                assert got.due is None
            want = sorted((duration(b) for b in body.get("reminders", {}).get("before", [])), reverse=True)
            assert list(got.reminders) == want
            if "escalation" in body:
                assert got.escalation.every == duration(body["escalation"].get("every", "1d"))
                assert list(got.escalation.copy) == body["escalation"].get("copy", [])
    assert wf.title == meant.get("title", meant["name"])

    eng = Engine(wf)
    assert set(eng.machine.events) == set(wf.events), "the machine has events the file does not name"
    doc = Doc("fuzz-doc", wf.initial, date(2026, 1, 28), "Asia/Makassar", "alasan", datetime(2026, 2, 1))
    for _ in range(12):
        choices = wf.events_from(doc.state)
        if not choices:
            assert doc.state in wf.final
            break
        name = rnd.choice(choices)
        ev, before = wf.events[name], doc.state
        outsider = frozenset(set(ROLES) - ev.roles - {"admin"})
        if outsider:  # a role the event does not name is refused, and nothing moves
            with pytest.raises(RoleMissing):
                eng.fire(doc, name, outsider)
            assert doc.state == before
        out = eng.fire(doc, name, frozenset(rnd.sample(sorted(ev.roles), 1)))
        assert (out.source, out.dest, doc.state) == (before, ev.dest, ev.dest)
        assert out.notify == ev.notify and out.template == (ev.template if ev.notify else "")
        if ev.dest in wf.final:
            assert out.due_at is None and out.next_action_at is None
    # a guard refuses without moving the document
    guarded = [e for e in wf.events.values() if "comment_required" in e.guards]
    if guarded:
        e = guarded[0]
        d = Doc("fuzz-doc", e.sources[0], date(2026, 1, 28), "Asia/Jakarta", "  ", datetime(2026, 2, 1))
        with pytest.raises(GuardFailed):
            eng.fire(d, e.name, frozenset({"admin"}))
        assert d.state == e.sources[0]


# --- broken files: structural mutations of valid ones -----------------------------------------
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**18, max_value=10**60),
    st.integers(max_value=-1), st.floats(), st.text(max_size=20), weird_text,
    st.lists(st.text(max_size=6), max_size=3), st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
    st.dates(), st.binary(max_size=8), st.sampled_from(["99999999999999999999d", "-1d", "0d", "1w", "25:61",
                                                        "16.00", "drfat", "to_signed", "Draft", "draft "]),
)


def _slots(tree, path=()):
    """Every (container, key, path) in a tree of dicts and lists."""
    if isinstance(tree, dict):
        for k in list(tree):
            yield tree, k, path + (k,)
            yield from _slots(tree[k], path + (k,))
    elif isinstance(tree, list):
        for i in range(len(tree)):
            yield tree, i, path + (i,)
            yield from _slots(tree[i], path + (i,))


@st.composite
def mutated_workflows(draw):
    tree = copy.deepcopy(draw(workflow_dicts()))
    for _ in range(draw(st.integers(1, 3))):
        slots = list(_slots(tree))
        box, key, path = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["replace", "delete", "rename", "add", "wrap", "nest"]))
        note(f"{op} at {path}")
        if op == "replace":
            box[key] = draw(JUNK)
        elif op == "delete":
            del box[key]
        elif op == "rename" and isinstance(box, dict):
            box[draw(st.text(max_size=12))] = box.pop(key)
        elif op == "add" and isinstance(box, dict):
            box[draw(st.text(max_size=12))] = draw(JUNK)
        elif op == "wrap":
            box[key] = draw(st.sampled_from([[box[key]], {"x": box[key]}, [[box[key]]]]))
        elif op == "nest":
            inner = box[key]
            for _ in range(draw(st.integers(20, 60))):
                inner = [inner]
            box[key] = inner
    return tree


@given_settings(60)
@given(mutated_workflows())
def test_a_mutated_workflow_is_whole_or_reported_never_a_crash(tree):
    loaded_or_reported(dump(tree))


# --- broken files: text-level damage, YAML tricks, bytes ------------------------------------
YAML_TRICKS = [
    "&a", "*a", "*undefined", "!!python/object/apply:os.system ['echo pwned']", "!!python/name:os.system",
    "!!timestamp x", "!!timestamp 2026-02-30", "!!bool maybe", "!!int 0xZZ", "!!float x", "!!binary '@@'",
    "!!set {a, b}", "!!omap [a]", "!!pairs [a]", "!!str", "!!null x", "!<tag:yaml.org,2002:int> x",
    "<<: *a", "<<: {a: 1}", "{", "]", "- ", ": :", "\t", "\x00", "\x85", "\ufeff", "\u2028", "%YAML 1.1\n---\n",
    "---\n", "...\n", "? [a, b]\n: c\n", "? {a: 1}\n: c\n", "x: &x [*x]\n", "x: &y {k: *y}\n",
    "'unterminated", '"\\xZZ"', "9" * 400, "1e999", "-.inf", ".nan", "0o777", "2026-02-30",
    "16:00:00:00", "~", "null", "yes", "no", "on", "off",
]


def bomb(levels: int, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + f"\nstates: *a{levels - 1}\n"


@given_settings(60)
@given(st.data())
def test_damaged_workflow_text_is_whole_or_reported_never_a_crash(data):
    base = data.draw(st.one_of(st.just(DEFAULT), workflow_dicts().map(dump)), "base")
    lines = base.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(lines)))
        what = data.draw(st.one_of(st.sampled_from(YAML_TRICKS), st.text(max_size=15)))
        how = data.draw(st.sampled_from(["insert_line", "inline", "truncate", "duplicate", "indent"]))
        if how == "insert_line":
            lines.insert(at, what + "\n")
        elif how == "inline" and at < len(lines):
            cut = data.draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:cut] + what + lines[at][cut:]
        elif how == "truncate":
            lines = lines[:at]
        elif how == "duplicate" and at < len(lines):
            lines.insert(at, lines[at])
        elif how == "indent" and at < len(lines):
            lines[at] = data.draw(st.sampled_from([" ", "  ", "\t", "    "])) + lines[at]
    loaded_or_reported("".join(lines))


@pytest.mark.parametrize("text, where, words", [
    ("name: x\ninitial: [draft]\n", "initial", "unknown state"),
    ("name: x\ninitial: {a: 1}\n", "initial", "unknown state"),
    (DEFAULT.replace("before: [2d, 1d]", "before: [99999999999999d, 1d]"), "states.draft.reminders.before[0]",
     "longer than 366 days"),
    (DEFAULT.replace("every: 1d, copy: [secretariat], chair_after: 2d", "every: 9999999999999999d, "
                     "copy: [secretariat], chair_after: 2d"), "states.draft.escalation.every", "longer than 366 days"),
    (DEFAULT.replace("chair_after: 2d", "chair_after: 100000000000000"), "states.draft.escalation.chair_after",
     "longer than 366 days"),
    ("name: x\nstates: &s [*s]\n", "states[0]", "alias refers to a value that contains it"),
    ("name: x\nstates: &s {draft: *s}\n", "states.draft", "alias refers to a value that contains it"),
    ("name: x\nstates: " + "[" * 5000 + "]" * 5000 + "\n", "column", "nested more than"),
    ("name: x\nstates: " + "{a: " * 400 + "1" + "}" * 400 + "\n", "column", "nested more than"),
    ("name: !!timestamp x\n", "name", "'x' is not a valid timestamp"),
    ("name: !!bool maybe\n", "name", "'maybe' is not a valid bool"),
    ("name: x\nbase: &b {title: T}\nstates: {draft: {<<: *b}}\n", "states.draft.<<", "merge keys"),
    (DEFAULT.replace('title: "IKU tahunan / Annual IKU"', "title: {a: b}"), "title", "expected text"),
    (DEFAULT.replace('title: "Penyusunan / Drafting"', "title: [a, b]"), "states.draft.title", "expected text"),
    (DEFAULT.replace("  submit:\n", '  "sub\\nmit":\n'), "events.sub\\nmit", "not a valid event name"),
    (DEFAULT.replace("name: iku", '"": iku\nname: iku'), "''", "unknown field ''"),
    (DEFAULT.replace("from: draft", "from: []"), "events.submit.from", "name at least one state"),
], ids=["initial-list", "initial-map", "huge-reminder", "huge-every", "huge-int-duration", "alias-loop-list",
        "alias-loop-map", "deep-lists", "deep-maps", "bad-timestamp-tag", "bad-bool-tag", "merge-key",
        "title-mapping", "state-title-list", "newline-in-a-name", "blank-top-level-key",
        "event-from-nowhere"])
def test_regression_hostile_workflow_files_are_reported(text, where, words):
    """Each of these crashed parse_text (TypeError, OverflowError, RecursionError,
    AttributeError, KeyError) or loaded a mapping as a title, before the fix."""
    from ikuflow.definition import parse_text
    from ikuflow.errors import DefinitionError

    with pytest.raises(DefinitionError) as info:
        parse_text(text, "hostile.yaml")
    assert any(p.location.startswith(where) and words in p.message for p in info.value.problems), \
        info.value.problems
    loaded_or_reported(text)


@pytest.mark.parametrize("levels", [4, 7, 12])
def test_regression_an_alias_bomb_is_refused_without_expanding_it(levels, monkeypatch):
    """9**levels values if expanded: 12 levels would be 282 billion. Before the fix 7 levels took
    11 s and 12 would never end. The work is counted, not timed: however deep the bomb, the
    reader converts at most MAX_VALUES + 1 YAML values (an alias counts each time it is
    expanded) and then refuses the file for its size."""
    from ikuflow.definition import load, parse_text
    from ikuflow.errors import DefinitionError

    converted = 0
    value = load._Reader.value

    def counting(self, node, path):
        nonlocal converted
        converted += 1
        return value(self, node, path)

    monkeypatch.setattr(load._Reader, "value", counting)
    assert loaded_or_reported(bomb(levels)) is None
    assert converted <= load.MAX_VALUES + 1, converted
    if sum(9 ** i for i in range(1, levels + 1)) > load.MAX_VALUES:  # too big to read at all
        with pytest.raises(DefinitionError) as info:
            parse_text(bomb(levels), "bomb.yaml")
        assert any("expands to more than" in p.message for p in info.value.problems), info.value.problems


@given_settings(40)
@given(st.one_of(st.binary(max_size=300),
                 st.sampled_from([DEFAULT.encode("utf-16"), DEFAULT.encode("latin-1", "replace") + b"\xe9\xff",
                                  b"\xef\xbb\xbf" + DEFAULT.encode(), DEFAULT.encode()[:500] + b"\x80\x81",
                                  DEFAULT.encode().replace(b"draft", b"dr\xc3\x28ft", 1), b"\x00" * 50])))
def test_any_bytes_on_disk_load_whole_or_are_reported(tmp_path, raw):
    from ikuflow.definition import Workflow, load_file
    from ikuflow.errors import DefinitionError

    path = tmp_path / "bytes.yaml"
    path.write_bytes(raw)
    try:
        wf = load_file(path)
    except DefinitionError as exc:
        assert exc.problems and all(p.file == str(path) and p.message for p in exc.problems)
        return
    assert isinstance(wf, Workflow)
    assert_whole(wf)


def _check_files(tmp_path, texts: list[str]) -> list:
    paths = []
    for i, t in enumerate(texts):
        p = tmp_path / f"wf{i}.yaml"
        p.write_text(t, encoding="utf-8")
        paths.append(p)
    return paths


wf_texts = st.one_of(workflow_dicts().map(dump), mutated_workflows().map(dump),
                     st.sampled_from(YAML_TRICKS), st.builds(bomb, st.integers(3, 9)))


@given_settings(6)
@given(st.lists(wf_texts, min_size=1, max_size=4))
def test_workflow_check_in_process_exit_code_matches_what_loads(cli, tmp_path, texts):
    from ikuflow.admin import check_workflows

    paths = _check_files(tmp_path, texts)
    expected = 1 if check_workflows(paths) else 0
    r = cli("workflow", "check", *map(str, paths))
    assert r.exit_code == expected, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    if expected:  # every line but the summary names a file
        *problems, summary = r.stderr.strip().splitlines()
        assert problems and all(line.startswith(tuple(map(str, paths))) for line in problems), r.stderr
        assert "problem" in summary
    r = cli("workflow", "check", "--json", *map(str, paths))
    out = json.loads(r.stdout)
    assert r.exit_code == expected and out["ok"] is (expected == 0)
    for p in out["problems"]:
        assert set(p) == {"file", "line", "location", "message"} and p["file"] and p["message"]


@given_settings(3, scale=0.05)
@given(st.lists(wf_texts, min_size=3, max_size=8))
def test_workflow_check_as_a_process_never_prints_a_traceback(tmp_path, texts):
    paths = _check_files(tmp_path, texts)
    for args in (("workflow", "check"), ("workflow", "check", "--json")):
        p = run_ikuflow(*args, *map(str, paths))
        assert p.returncode in (0, 1), p.stderr
        assert "Traceback" not in p.stdout + p.stderr
        if p.returncode == 1 and "--json" not in args:
            assert p.stderr.strip().splitlines()[-1].endswith("problems") or "problem" in p.stderr
        if "--json" in args:
            assert json.loads(p.stdout)["ok"] is (p.returncode == 0)


def test_workflow_check_of_a_deep_file_and_a_bomb_as_a_process(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: x\nstates: " + "[" * 100_000 + "]" * 100_000 + "\n")
    boom = tmp_path / "bomb.yaml"
    boom.write_text(bomb(15))
    p = run_ikuflow("workflow", "check", str(deep), str(boom), str(WORKFLOWS / "iku.yaml"), timeout=30)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines[0].startswith(f"{deep}:2: column ") and "nested more than 32 levels" in lines[0]
    assert lines[1].startswith(f"{boom}:") and "expands to more than" in lines[1]
    assert lines[-1] == "3 file(s) checked: 2 problems"


def test_a_broken_file_is_never_half_loaded_by_init(cli, tmp_path, monkeypatch):
    """init checks every file first: one broken file among good ones stores nothing at all."""
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "iku.yaml").write_text(DEFAULT)
    (folder / "revisi.yaml").write_text(DEFAULT.replace("name: iku", "name: revisi")
                                        .replace("before: [2d, 1d]", "before: [99999999999999d]"))
    monkeypatch.setenv("IKUFLOW_WORKFLOWS", str(folder))
    r = cli("init")
    assert r.exit_code == 1 and "revisi.yaml" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "ikuflow.db").exists()


# --- directory files (ikuflow import): the same promise --------------------------------------
@pytest.mark.parametrize("name, content, words", [
    ("latin1.csv", "code,name\nsdmo,Divisi SDM\xe9\n".encode("latin-1"), "not UTF-8 text"),
    ("nul.csv", b"code,name\nx\x00y,z\n", "not a valid division code"),
    ("deep.yaml", ("offices: " + "[" * 3000 + "]" * 3000 + "\n").encode(), "nested more than"),
    ("loop.yaml", b"offices: &a [*a]\n", "unreadable entry"),
    ("tag.yaml", b"offices:\n  - {code: !!timestamp x, name: y}\n", "unreadable entry"),
    ("bool.yaml", b"divisions:\n  - {code: !!bool maybe, name: y}\n", "unreadable entry"),
    ("list-code.yaml", b"offices:\n  - {code: [a], name: x}\n", "code: expected one value, not a list"),
    ("list-tz.yaml", b"offices:\n  - {code: x, name: y, tz: [a]}\n", "tz: expected one value"),
    ("list-parent.yaml", b"offices:\n  - {code: x, name: y, parent: {a: 1}}\n", "parent: expected one value"),
    ("list-email.yaml", b"people:\n  - {email: [a], name: x, role: chair, office: pacitan}\n", "email: expected one"),
    ("roles-number.yaml", b"people:\n  - {email: a@b.example, name: x, roles: 5}\n", "roles: expected a list"),
    ("roles-list.yaml", b"people:\n  - {email: a@b.example, name: x, roles: [{role: [chair], office: pacitan}]}\n",
     "roles.role: expected one value"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None)
def test_regression_hostile_directory_files_are_reported_and_change_nothing(cli, seeded, tmp_path, name,
                                                                             content, words):
    """Before the fix: UnicodeDecodeError, RecursionError, AttributeError, TypeError tracebacks,
    and 'roles: 5' silently imported nothing while saying the directory already matched."""
    path = tmp_path / name
    path.write_bytes(content)
    before = counts()
    r = cli("import", str(path))
    assert r.exit_code == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    head, *problems = r.stderr.strip().splitlines()
    assert head.startswith("error: ") and "nothing was imported" in head
    assert problems and all(p.strip().startswith(str(path)) for p in problems), r.stderr
    assert any(words in p for p in problems), r.stderr
    assert counts() == before


# =============================================================================================
# 2. Random event sequences on random documents (the Service API)
# =============================================================================================
PLT = "plt.ketua@pacitan.example.id"  # no role of their own; acts for the chair 20-25 January
PLT_FROM, PLT_UNTIL = date(2026, 1, 20), date(2026, 1, 25)
#: (office, division) -> zone; the directory of conftest.seed_directory
DOCS = {("pacitan", "sdmo"): "Asia/Jakarta", ("pacitan", "hukum"): "Asia/Jakarta",
        ("pacitan", "penanganan"): "Asia/Jakarta", ("badung", "sdmo"): "Asia/Makassar",
        ("jawa-timur", "sdmo"): "Asia/Jakarta"}
#: who holds which role where: (email, role, office, division or None)
HOLDERS = [(COORD, "coordinator", "pacitan", "sdmo"), (COORD_HUKUM, "coordinator", "pacitan", "hukum"),
           (SECR, "secretariat", "pacitan", None), (CHAIR, "chair", "pacitan", None),
           (OTHER_CHAIR, "chair", "badung", None), (ADMIN, "admin", "ri", None)]
PEOPLE = {h[0] for h in HOLDERS} | {NOBODY, PLT}
ACTORS = [COORD, COORD_HUKUM, SECR, CHAIR, OTHER_CHAIR, ADMIN, NOBODY, PLT, "", "  ",
          " SRI@Pacitan.Example.ID", "orang.asing@example.id", "x'; DROP TABLE document;--"]
EVENTS = ["submit", "synchronize", "approve", "sign", "send_back", "Submit", "SIGN", " submit", "submit ",
          "sumbit", "to_signed", "to_draft", "trigger", "may_sign", "is_signed", "create", "migrate", "",
          "sign\x00", "ｓｕｂｍｉｔ", "send-back", "x'; DROP TABLE history;--"]
COMMENTS = st.one_of(st.none(), st.sampled_from(["", "   ", "\n\t", "Indikator 2.3 belum sesuai Renstra",
                                                 "\u200b", "\u00a0\ufeff", "\u3000\u2060", "\u3164", "\u0301"]),
                     weird_text)


@pytest.fixture(scope="module")
def events_template(seeded_template, tmp_path_factory):
    """The seeded directory plus an acting chair (Plt) for 20-25 January 2026."""
    from ikuflow import admin

    path = tmp_path_factory.mktemp("events") / "template.db"
    from fuzzing import copy_db

    copy_db(seeded_template, path)
    con = sqlite3.connect(path)
    con.execute("INSERT INTO person (email, name) VALUES (?, ?)", (PLT, "Plt Ketua"))
    con.commit()
    con.close()
    admin.delegate(CHAIR, PLT, PLT_FROM, PLT_UNTIL, url=f"sqlite:///{path}")
    return path


def roles_on(email: str, office: str, division: str) -> set:
    return {role for who, role, r_office, r_div in HOLDERS if who == email and (
        role == "admin" or (role == "coordinator" and (r_office, r_div) == (office, division))
        or (role in ("secretariat", "chair") and r_office == office))}


def holders_of(roles, office: str, division: str) -> list[str]:
    return sorted({who for who, role, r_office, r_div in HOLDERS if role in roles and r_office == office
                   and (role != "coordinator" or r_div == division)})


#: Letters and symbols that are drawn as blank space (issue 14): not a readable reason either.
BLANK_GLYPHS = "\u115f\u1160\u3164\uffa0\u2800"


def readable(comment: str | None) -> bool:
    """Issue 14: a reason has at least one letter, number, punctuation mark or symbol; spaces,
    zero-width and other invisible characters alone are no reason."""
    import unicodedata

    return any(unicodedata.category(c)[0] in "LNPS" and c not in BLANK_GLYPHS for c in comment or "")


def expected_codes(wf, doc: dict | None, event: str, actor: str, comment, now: datetime) -> set:
    """The exit codes PRODUCT.md section 6 allows for this request ({0}: it must succeed).
    Where several things are wrong, any of their codes will do."""
    from ikuflow.calendar import UTC, zone
    from ikuflow.app.documents import MAX_COMMENT

    if comment is not None and len(comment.strip()) > MAX_COMMENT:  # checked before anything else
        return {2}
    if doc is None:
        return {3}
    codes = set()
    email = actor.strip().lower()
    if not email:  # no actor (2); only spaces is also an unknown person (3)
        codes |= {2} if not actor else {2, 3}
    elif email not in PEOPLE:
        codes.add(3)
    ev = wf.events.get(event)
    if ev is None:
        codes.add(3)
    if codes:
        return codes
    if doc["state"] not in ev.sources:
        codes.add(4)
    roles = roles_on(email, doc["office"], doc["division"])
    local_day = now.replace(tzinfo=UTC).astimezone(zone(doc["tz"])).date()
    if email == PLT and PLT_FROM <= local_day <= PLT_UNTIL:  # acting for the chair
        roles |= roles_on(CHAIR, doc["office"], doc["division"])
    if not ("admin" in roles or roles & ev.roles):
        codes.add(5)
    if "comment_required" in ev.guards and not readable(comment):
        codes.add(4)
    if "not_before_signing_date" in ev.guards:
        midnight = datetime.combine(doc["signing"], datetime.min.time(), tzinfo=zone(doc["tz"]))
        if now < midnight.astimezone(UTC).replace(tzinfo=None):
            codes.add(4)
    return codes or {0}


def snapshot(con) -> tuple:
    return (con.execute("SELECT key, state, version, due_at, next_action_at, updated_at FROM document"
                        " ORDER BY key").fetchall(),
            con.execute("SELECT count(*), max(id) FROM history").fetchone(),
            con.execute("SELECT count(*), max(id) FROM outbox").fetchone())


moments = st.one_of(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 3, 31)),
                    # around the acting chair's dates, where the office's zone decides the day
                    st.datetimes(min_value=datetime(2026, 1, 19, 12), max_value=datetime(2026, 1, 26, 12)))
_example = iter(range(10**9))


@given_settings(30)
@given(docs=st.lists(st.tuples(st.sampled_from(sorted(DOCS)), st.integers(2026, 2027),  # fits the signing year
                               st.dates(date(2026, 1, 5), date(2026, 3, 20))),
                     min_size=1, max_size=3, unique_by=lambda d: (d[0], d[1])),
       data=st.data())
def test_random_event_sequences_on_random_documents_keep_every_invariant(events_template, tmp_path, docs, data):
    """Against an oracle written from PRODUCT.md (not from the engine): each request succeeds
    exactly when the state, the actor's roles (with a delegation within its dates) and the
    guards allow it, else it fails with an allowed exit code and changes nothing at all; each
    success moves the state, the version, one history row and one outbox row per notified
    person, linked by its cause; at the end the history is a valid path of the workflow."""
    from ikuflow.calendar import due_at as compute_due
    from ikuflow.errors import IkuflowError
    from ikuflow.app.service import Service
    from fuzzing import copy_db

    path = tmp_path / f"events{next(_example)}.db"
    copy_db(events_template, path)
    svc = Service(f"sqlite:///{path}")
    from ikuflow.notify.render import Renderer

    renderer = Renderer()
    try:
        wf = svc.engine("iku", 1).workflow
        made = []
        for (office, division), year, signing in docs:
            res = svc.new(office, division, year, signing, ADMIN, at=datetime(2026, 1, 2, 2, 0))
            made.append({"key": res["key"], "office": office, "division": division, "tz": DOCS[(office, division)],
                         "signing": signing, "state": wf.initial, "version": 0})
        for _ in range(data.draw(st.integers(0, 25), "steps")):
            plausible = data.draw(st.sampled_from([True, True, True, False]), "plausible")
            i = data.draw(st.integers(0, len(made) - plausible), "document")  # len(made): no such key
            doc = made[i] if i < len(made) else None
            if plausible:
                # most steps try what the document's state allows, by someone who may well
                # have the role: without them a random walk would rarely leave 'draft'
                event = data.draw(st.sampled_from(wf.events_from(doc["state"]) or ["sign"]), "event")
                actor = data.draw(st.sampled_from(holders_of(wf.events[event].roles, doc["office"], doc["division"])
                                                  + [ADMIN, PLT, COORD]), "actor")
                comment = data.draw(st.one_of(st.just("Alasan: tabel 2 belum lengkap"), COMMENTS), "comment")
            else:
                event = data.draw(st.sampled_from(EVENTS), "event")
                actor = data.draw(st.sampled_from(ACTORS), "actor")
                comment = data.draw(COMMENTS, "comment")
            now = data.draw(moments, "at")
            key = doc["key"] if doc else "tidak-ada-2026"
            want = expected_codes(wf, doc, event, actor, comment, now)
            before = snapshot(svc.con)
            note(f"{key} {event!r} as {actor!r} at {now} comment={comment!r}: expect {want}")
            try:
                res = svc.advance(key, event, actor, comment=comment, at=now)
            except IkuflowError as exc:
                assert exc.exit_code in want - {0}, f"exit {exc.exit_code} ({exc}); expected {want}"
                assert snapshot(svc.con) == before, "a refused event changed something"
                tally(f"refused with {exc.exit_code}")
                continue
            assert want == {0}, f"succeeded; expected {want}"
            tally("advanced" + (" (acting)" if res["acting_for"] else ""))
            ev = wf.events[event]
            told = holders_of(ev.notify, doc["office"], doc["division"])
            assert (res["from"], res["state"], res["version"]) == (doc["state"], ev.dest, doc["version"] + 1)
            assert sorted(res["notified"]) == told
            after = snapshot(svc.con)
            assert after[1][0] == before[1][0] + 1 and after[2][0] == before[2][0] + len(told)
            doc["state"], doc["version"] = ev.dest, doc["version"] + 1

        for doc in made:
            doc_id, state, version, due = svc.con.execute(
                "SELECT id, state, version, due_at FROM document WHERE key = ?", (doc["key"],)).fetchone()
            hist = svc.history(doc["key"])
            assert hist[0]["event"] == "create" and hist[0]["from"] is None and hist[0]["to"] == wf.initial
            for prev, cur in zip(hist, hist[1:]):
                ev = wf.events[cur["event"]]
                assert cur["from"] == prev["to"] and cur["from"] in ev.sources and cur["to"] == ev.dest
                assert cur["actor"] in PEOPLE or cur["actor"].strip() in PEOPLE
                if "comment_required" in ev.guards:
                    assert cur["comment"] and cur["comment"].strip() == cur["comment"]
                if cur["acting_for"]:
                    assert (cur["actor"], cur["acting_for"]) == (PLT, CHAIR)
            assert (state, version) == (doc["state"], doc["version"]) == (hist[-1]["to"], len(hist) - 1)
            tally(f"a document reached {state}")
            # due time: the current state's deadline counted back from the signing date
            deadline = wf.states[state].due
            want_due = None if state in wf.final or deadline is None else \
                compute_due(doc["signing"], deadline, doc["tz"], svc.calendar())
            assert (due and datetime.fromisoformat(due)) == want_due
            # the outbox: one row per (transition, notified person), linked by its cause
            rows = svc.con.execute("SELECT cause, recipient, payload, template, body_text, message_id, status"
                                   " FROM outbox WHERE document_id = ? AND kind = 'event'", (doc_id,)).fetchall()
            expected = {f"create:{doc_id}:{p}" for p in holders_of(wf.create_notify, doc["office"], doc["division"])}
            for v, h in enumerate(hist[1:], 1):
                for p in holders_of(wf.events[h["event"]].notify, doc["office"], doc["division"]):
                    expected.add(f"event:{doc_id}:{v}:{p}")
            assert sorted(r[0] for r in rows) == sorted(expected), "outbox rows do not match the transitions"
            assert len({r[5] for r in rows}) == len(rows), "two e-mails share a Message-ID"
            for cause, recipient, payload, template, text, mid, status in rows:
                assert cause.endswith(":" + recipient) and text is None and status == "pending"
                data = json.loads(payload)  # an intent: the sender renders its context when it sends
                assert data["context"]["recipient"]["email"] == recipient
                assert renderer.render(template, data["context"]).subject
                assert data["key"] == doc["key"]
                if cause.startswith("event:"):
                    h = hist[int(cause.split(":")[2])]
                    assert (data["event"], data["from"], data["to"], data["comment"]) == \
                        (h["event"], h["from"], h["to"], h["comment"])
    finally:
        svc.close()


# --- what the oracle found in the service, fixed since (regression tests) ----------------------
def test_a_person_with_two_notified_roles_gets_one_email_per_transition(seeded):
    from ikuflow import admin
    from ikuflow.app.service import Service

    admin.add_person(CHAIR, None, "coordinator", "pacitan", "sdmo")  # the chair also leads sdmo
    svc = Service()
    try:
        svc.new("pacitan", "sdmo", 2026, date(2026, 1, 28), COORD, at=datetime(2026, 1, 12, 2))
        for event, who in (("submit", COORD), ("synchronize", SECR), ("approve", CHAIR)):
            res = svc.advance("pacitan-sdmo-2026", event, who, at=datetime(2026, 1, 13, 2))
        assert sorted(res["notified"]) == [CHAIR, COORD]  # approve tells the chair and the coordinator
        causes = [r[0] for r in svc.con.execute("SELECT cause FROM outbox WHERE template = 'approve'")]
        assert len(causes) == len(set(causes)) == 2
    finally:
        svc.close()


def test_the_history_names_the_person_as_the_directory_holds_them(seeded):
    from ikuflow.app.service import Service

    svc = Service()
    try:
        svc.new("pacitan", "sdmo", 2026, date(2026, 1, 28), " Sri@Pacitan.example.id ", at=datetime(2026, 1, 12, 2))
        svc.advance("pacitan-sdmo-2026", "submit", "\tsri@pacitan.example.id\n", at=datetime(2026, 1, 13, 2))
        assert [h["actor"] for h in svc.history("pacitan-sdmo-2026")] == [COORD, COORD]
    finally:
        svc.close()


def test_regression_the_cli_records_the_actor_as_the_directory_holds_them(cli, seeded):
    """--as with blanks around it (a pasted e-mail) acted as the person but was recorded with the
    blanks; the CLI strips it now."""
    new = ["new", "--office", "pacitan", "--division", "sdmo", "--year", "2026", "--signing-date", "2026-01-28",
           "--at", "2026-01-12T09:00+07:00"]
    assert cli(*new, "--as", f"  {COORD}\t").exit_code == 0
    r = cli("advance", "pacitan-sdmo-2026", "submit", "--at", "2026-01-13T09:00+07:00", env={"IKUFLOW_USER": f"{COORD} "})
    assert r.exit_code == 0, r.stderr
    actors = [h["actor"] for h in json.loads(cli("history", "pacitan-sdmo-2026", "--json").stdout)]
    assert actors == [COORD, COORD]


def test_a_signing_date_out_of_range_is_a_usage_error_in_the_service(seeded):
    from ikuflow.errors import IkuflowError
    from ikuflow.app.service import Service

    svc = Service()
    try:
        with pytest.raises(IkuflowError):
            svc.new("pacitan", "sdmo", 2026, date(1, 1, 8), ADMIN, at=datetime(2026, 1, 12, 2))
    finally:
        svc.close()


# =============================================================================================
# 3. Random command-line arguments
# =============================================================================================
DATES = ["2026-01-28", "2026-02-30", "0001-01-01", "0001-01-08", "9999-12-31", "-2026-01-28", "+2026-01-28",
         "2026-1-28", "20260128", "2026-13-01", "2026-00-10", "", " ", "2026-01-28T10:00", "0000-01-01",
         "2026-W05-3", "2026-028", "1969-12-31", "3000-01-01", "２０２６-01-28", "2026-01-28\x00"]
ATS = ["2026-01-27T10:00+07:00", "2026-01-27", "2026-01-30T10:00+09:00", "2026-01-28T12:00",
       "2026-01-12T09:00+07:00", "2026-02-03", "0001-01-01", "0001-01-01T00:00+14:00",
       "9999-12-31T23:59", "9999-12-31T23:59-12:00", "2026-02-30T10:00", "2026-01-27T25:00",
       "2026-01-27T10:00+25:00", "2026-01-27T10:00Z", "1969-12-31T23:59Z", "3000-01-01", "now", "", "-1",
       "2026-01-27T10:00:00.123456789", "1e9", "-2026-01-27", "2026-01-27T10:00+07:00\n"]
TZS = ["WIB", "WITA", "WIT", "wib", "Asia/Jakarta", "Asia/Makassar", "Asia", "Asia/", "../../etc/passwd",
       "/etc/localtime", "UTC", "Etc/GMT+14", "", " ", "Asia/Jakarta\x00", "posix/Asia/Jakarta", "Factory",
       "localtime", "Asia/Jakarta ", "EST5EDT", "x" * 300, "Asia/../Asia/Jakarta"]
NUMBERS = ["2026", "2027", "-1", "0", "2000", "2100", "2101", "99999999999999999999999", "1e3", "", "0x7e2",
           "٢٠٢٦", "2026.0", "-0", "9223372036854775808"]
CODES = ["pacitan", "badung", "jawa-timur", "ri", "bali", "Pacitan", "pacitan ", "", "-", "a" * 64, "a" * 63,
         "x'; DROP TABLE office;--", "pac%", "pac_tan", "sdmo", "hukum", "HUKUM", "tidak-ada"]
EMAILS = [COORD, SECR, CHAIR, ADMIN, NOBODY, OTHER_CHAIR, COORD.upper(), f" {COORD} ", "", "a@b", "a@b.c",
          "orang.baru@pacitan.example.id", "ñame@example.id", "a@b.example\r\nBcc: x@evil.example", "@", "x" * 300]
STATES = ["draft", "division_review", "signed", "Draft", "", "x' OR '1'='1", "draft'--"]
EVENT_NAMES = ["submit", "synchronize", "approve", "sign", "send_back", "Submit", " submit", "to_signed", ""]

_fresh = iter(range(10**9))
KEYS = ["pacitan-sdmo-2026", "pacitan-hukum-2026", "badung-sdmo-2026"]
BAD_KEYS = ["PACITAN-SDMO-2026", "pacitan-sdmo-2026 ", "pacitan-sdmo-2027", "x'; DROP TABLE document;--", ""]
GOOD_ATS = ["2026-01-12T09:00+07:00", "2026-01-27T10:00+07:00", "2026-01-28T12:00", "2026-02-03",
            "2026-01-30T10:00+09:00"]


def args_for(cmd: str, draw) -> list[tuple]:
    """(flag or None for a positional, good values, bad values) of one command."""
    at = ("--at", GOOD_ATS, ATS)
    if cmd == "new":
        return [("--office", ["pacitan", "badung", "jawa-timur"], CODES), ("--division", ["sdmo", "hukum", "pencegahan"], CODES),
                ("--year", ["2027", "2028", "2030"], NUMBERS), ("--signing-date", ["2026-01-28", "2027-02-03"], DATES),
                ("--title", ["IKU SDMO Pacitan 2027"], ["", " ", "x" * 301]), ("--as", [COORD, SECR, ADMIN, CHAIR], EMAILS),
                ("--workflow", ["iku"], ["revisi", "IKU", ""]), at]
    if cmd == "advance":
        return [(None, KEYS, BAD_KEYS), (None, ["submit", "synchronize", "approve", "sign", "send_back"], EVENT_NAMES),
                ("--comment", ["Perbaiki tabel 2"], ["", "  "]), ("--as", [COORD, COORD_HUKUM, SECR, CHAIR, ADMIN], EMAILS),
                ("--if-version", ["0", "1"], ["-1", "9223372036854775808", "x"]), at]
    if cmd in ("status", "history"):
        return [(None, KEYS, BAD_KEYS), at]
    if cmd == "list":
        return [("--state", ["draft", "division_review"], STATES), ("--office", ["pacitan", "badung"], CODES),
                ("--division", ["sdmo", "hukum"], CODES), ("--year", ["2026"], NUMBERS), at]
    if cmd == "overdue":
        return [("--office", ["pacitan", "jawa-timur", "ri"], CODES), at]
    if cmd == "report":
        return [("--office", ["pacitan", "jawa-timur", "ri"], CODES), ("--year", ["2026"], NUMBERS),
                ("--workflow", ["iku"], ["revisi", ""]), at]
    if cmd == "delegate":
        return [(None, [CHAIR, SECR], EMAILS), ("--to", [NOBODY, COORD_HUKUM], EMAILS),
                ("--from", ["2026-01-20", "2026-01-01"], DATES), ("--until", ["2026-01-25", "2026-02-28"], DATES)]
    if cmd == "person add":
        return [(None, [f"orang{next(_fresh)}@pacitan.example.id", SECR], EMAILS), ("--name", ["Orang Baru"], ["", " "]),
                ("--role", ["secretariat", "chair"], ["coordinator", "admin", "Chair", "ketua", ""]),
                ("--office", ["pacitan", "badung"], CODES), ("--division", [], CODES)]
    # office add: an existing code only without --parent, so no generated command can make the
    # hierarchy a cycle (that bug has its own test in test_security.py)
    return [(None, [f"kab-{next(_fresh)}"], [c for c in CODES if c != "ri"]),
            ("--name", ["Bawaslu Kabupaten Baru"], ["", "  "]), ("--tz", ["WITA", "Asia/Jayapura"], TZS),
            ("--parent", ["jawa-timur", "bali"], CODES)]


@st.composite
def commands(draw) -> list[str]:
    """A realistic command with a few of its values spoiled (or none): each spoiled value is a
    near miss, an out-of-range date or number, a bad zone, hostile text, empty, or left out."""
    cmd = draw(st.sampled_from(["new", "advance", "status", "list", "history", "overdue", "report", "delegate",
                                "person add", "office add"]))
    spec = args_for(cmd, draw)
    spoiled = set(draw(st.lists(st.integers(0, len(spec) - 1), max_size=3)))
    argv = cmd.split()
    for i, (flag, good, bad) in enumerate(spec):
        if i in spoiled:
            how = draw(st.sampled_from(["bad", "bad", "bad", "weird", "empty", "absent"]))
            if how == "absent":
                continue
            value = {"bad": lambda: draw(st.sampled_from(bad)) if bad else "", "weird": lambda: draw(weird_text),
                     "empty": lambda: ""}[how]()
        elif not good or (flag and draw(st.integers(0, 3)) == 0):
            continue  # optional options are often left out
        else:
            value = draw(st.sampled_from(good))
        argv += [flag, value] if flag else [value]
    if cmd == "office add" and len(argv) > 2 and argv[2] in CODES:  # an existing office: never with --parent
        rest = argv[3:]
        while "--parent" in rest:  # the flag and its value
            del rest[rest.index("--parent"):rest.index("--parent") + 2]
        argv = argv[:3] + rest
    return argv + draw(st.sampled_from([[], [], ["--json"]]))


@pytest.fixture(scope="module")
def documents_template(seeded_template, tmp_path_factory):
    """The seeded directory with three documents: pacitan/sdmo in draft, pacitan/hukum in
    division_review, badung/sdmo in draft."""
    from fuzzing import copy_db
    from ikuflow.app.service import Service

    path = tmp_path_factory.mktemp("documents") / "template.db"
    copy_db(seeded_template, path)
    with pytest.MonkeyPatch.context() as mp:  # (the tests' key: _isolated_env is per test)
        mp.setenv("IKUFLOW_SECRET_KEY", TEST_SECRET)
        svc = Service(f"sqlite:///{path}")
        at = datetime(2026, 1, 12, 2)
        svc.new("pacitan", "sdmo", 2026, date(2026, 1, 28), COORD, at=at)
        svc.new("pacitan", "hukum", 2026, date(2026, 1, 28), COORD_HUKUM, at=at)
        svc.new("badung", "sdmo", 2026, date(2026, 1, 28), ADMIN, at=at)
        svc.advance("pacitan-hukum-2026", "submit", COORD_HUKUM, at=datetime(2026, 1, 13, 2))
        svc.close()
    return path


@pytest.fixture
def with_documents(documents_template):
    from fuzzing import copy_db, db_file

    copy_db(documents_template, db_file())


def assert_clean_outcome(r_code: int, stdout: str, stderr: str, before: dict, after: dict,
                         codes=(0, 2, 3, 4, 5, 6)) -> None:
    """PRODUCT.md section 6: a documented exit code, no traceback, one clear line on stderr
    (Click's few usage lines for exit 2), nothing half-written."""
    assert "Traceback" not in stdout + stderr
    assert r_code in codes, f"exit {r_code}: {stderr}"
    if r_code == 0:
        assert stderr.strip() == "", stderr
        return
    lines = stderr.strip().splitlines()
    if r_code == 2 and lines and lines[0].startswith("Usage: "):
        assert 3 <= len(lines) <= 6 and lines[-1].startswith("Error: "), stderr
    else:
        assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) > 10, stderr
        assert lines[0].isprintable()
    assert after == before, "a refused command changed the database"


@given_settings(80)
@given(commands())
def test_random_command_lines_exit_as_documented_with_one_clear_line(cli, with_documents, argv):
    from fuzzing import counts

    before = counts()
    r = cli(*argv)
    after = counts()
    note(f"argv={argv!r} exit={r.exit_code} stderr={r.stderr!r}")
    tally(f"{argv[0]} exit {r.exit_code}")
    assert_clean_outcome(r.exit_code, r.stdout, r.stderr, before, after)


def test_regression_an_empty_division_for_a_whole_office_role_is_no_division(cli, seeded):
    """'person add ... --role secretariat --division ""' passed the check (empty means none) and
    then stored '' as a division code: a FOREIGN KEY failure, exit 1, reported as a database error.
    Found by the command-line fuzzer."""
    from fuzzing import counts

    before = counts()
    r = cli("person", "add", "orang.baru@pacitan.example.id", "--name", "Orang Baru", "--role", "secretariat",
            "--office", "pacitan", "--division", "", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["division"] is None
    assert counts()["role_assignment"] == before["role_assignment"] + 1
    r = cli("person", "add", "orang.lain@pacitan.example.id", "--name", "Orang Lain", "--role", "coordinator",
            "--office", "pacitan", "--division", "")
    assert r.exit_code == 2 and "--division" in r.stderr


@pytest.mark.parametrize("argv, code, words", [
    (["status", "pacitan-sdmo-2026", "--at", "0001-01-01"], 2, "out of range"),
    (["list", "--at", "0001-01-01T00:00+14:00"], 2, "out of range"),
    (["history", "pacitan-sdmo-2026", "--at", "0001-01-01"], 2, "out of range"),
    (["report", "--at", "0001-01-01"], 2, "out of range"),
    (["tick", "--at", "9999-12-31T23:59"], 2, "out of range"),
    (["overdue", "--at", "9999-12-31T23:59-12:00"], 2, "out of range"),
    (["advance", "pacitan-sdmo-2026", "submit", "--as", COORD, "--at", "0001-01-01"], 2, "out of range"),
    (["new", "--office", "pacitan", "--division", "hukum", "--year", "2026", "--signing-date", "0001-01-03",
      "--as", ADMIN], 2, "signing date 0001-01-03 is out of range"),
    (["list", "--year", "99999999999999999999999"], 2, "--year"),
    (["report", "--year", "99999999999999999999999"], 2, "--year"),
    (["advance", "--event", "submit", "--year", "99999999999999999999999", "--as", ADMIN], 2, "--year"),
    (["tick", "--batch", "99999999999999999999999"], 2, "--batch"),
    (["outbox", "list", "--limit", "99999999999999999999999"], 2, "--limit"),
    (["outbox", "show", "99999999999999999999999"], 2, "ID"),
    (["outbox", "retry", "99999999999999999999999"], 2, "ID"),
    (["workflow", "show", "--version", "99999999999999999999999"], 2, "--version"),
    (["report", "--html", "/nonexistent/folder/report.html"], 1, "cannot write /nonexistent/folder/report.html"),
    (["status", "pacitan\n-sdmo-2026\x1b[2J"], 3, "unknown document 'pacitan\\n-sdmo-2026\\x1b[2J'"),
    (["advance", "pacitan-sdmo-2026", "sub\nmit", "--as", COORD], 3, "unknown event 'sub\\nmit'"),
], ids=lambda v: " ".join(v)[:50] if isinstance(v, list) else None)
def test_regression_out_of_range_values_are_usage_errors_in_one_line(cli, with_documents, argv, code, words):
    """Each of these printed a traceback before the fix (OverflowError from datetime or from
    SQLite's integer binding, FileNotFoundError), or an error message over several lines."""
    from fuzzing import counts

    before = counts()
    r = cli(*argv)
    assert r.exit_code == code, r.stderr
    assert words in r.stderr
    assert_clean_outcome(r.exit_code, r.stdout, r.stderr, before, counts(), codes=(code,))


def test_regression_a_database_error_is_one_line(cli, tmp_path):
    """A command on a database file that is not an ikuflow database printed SQLAlchemy's
    statement and parameters over four lines."""
    from fuzzing import db_file

    sqlite3.connect(db_file()).close()  # an empty SQLite file
    r = cli("office", "add", "pacitan", "--name", "Bawaslu Kabupaten Pacitan")
    assert r.exit_code == 1
    [line] = r.stderr.strip().splitlines()
    assert line.startswith("error: database error: no such table: office; ") and "ikuflow init" in line


@given_settings(2, scale=0.02)
@given(st.lists(commands().filter(lambda a: all("\x00" not in x for x in a)), min_size=3, max_size=4))
def test_random_command_lines_as_real_processes(with_documents, argv_list):
    """The console script itself: the same promises as in-process, for a few command lines."""
    from fuzzing import counts

    for argv in argv_list:
        before = counts()
        p = run_ikuflow(*argv)
        assert_clean_outcome(p.returncode, p.stdout, p.stderr, before, counts())


@pytest.mark.parametrize("argv", [[b"status", b"pacitan-sdmo-\xff2026"], [b"list", b"--office", b"pac\xe9tan"],
                                  [b"new", b"--office", b"pacitan", b"--division", b"sdmo", b"--year", b"2027",
                                   b"--signing-date", b"2027-01-28", b"--title", b"IKU \xc0\xaf", b"--as", COORD.encode()]])
def test_regression_arguments_that_are_not_utf8_are_usage_errors(with_documents, argv):
    """A byte that is not UTF-8 reaches Python as a lone surrogate; binding it to SQLite raised
    UnicodeEncodeError with a traceback. Now: exit 2, one line naming the argument."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from fuzzing import counts

    before = counts()
    exe = Path(sys.executable).with_name("ikuflow")
    p = subprocess.run([str(exe).encode(), *argv], capture_output=True, env=os.environ, timeout=60)
    stderr = p.stderr.decode()
    assert p.returncode == 2, stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith("error: argument '") and "\\x" in line and "not valid UTF-8" in line
    assert counts() == before
    env = {**os.environ, "IKUFLOW_USER": os.fsdecode(b"sri\xff@pacitan.example.id")}
    p = subprocess.run([str(exe), "advance", "pacitan-sdmo-2026", "submit"], capture_output=True, env=env, timeout=60)
    assert p.returncode == 2 and b"Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert counts() == before


# =============================================================================================
# 4. User text in the human (non-JSON) output (issue 14)
# =============================================================================================
#: Rich markup, and look-alikes of it: none of it may be interpreted (or break a table).
MARKUP_LIKE = ("[/]", "[bold", "[bold]", "[/bold]", "[link=https://example.org]Klik[/link]", "[red on white]x",
               "[[/]]", "\\[/]", "[/link]", "[@click=app.quit]x[/]", ":thumbs_up:", "[i]miring[/i]", "]", "[")
#: Terminal control: ANSI (CSI) and OSC sequences, 8-bit ones, single controls, line breaks.
CONTROLS = ("\x1b[2J", "\x1b]0;title\x07", "\x1b[8m", "\x1b]8;;https://example.org\x1b\\Klik\x1b]8;;\x1b\\",
            "\x1bc", "\x1b[1A\x1b[2K", "\x9b2J", "\x9d0;t\x9c", "\x07", "\x08", "\r", "\n", "\r\n", "\t", "\x0b",
            "\x0c", "\x7f", "\x85", "\x00")
#: Bidi embeddings, overrides, isolates and marks, and the line and paragraph separators.
BIDI = tuple("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u2028\u2029")
UNSAFE = set(BIDI) | {chr(c) for c in range(0x20)} | {chr(c) for c in range(0x7f, 0xa0)}


def as_shown(text: str) -> str:
    """How a table must show ``text``: each control, bidi or separator character escaped the
    way Python writes it (\\x1b, \\n, \\u202e), everything else as it is."""
    return "".join(repr(c)[1:-1] if c in UNSAFE else c for c in text)


def _fits(text: str) -> bool:
    from rich.cells import cell_len

    return cell_len(as_shown(text)) <= 40  # no table cell wraps at the 200 columns of piped output


user_text = st.lists(st.one_of(st.sampled_from(MARKUP_LIKE + CONTROLS + BIDI), st.text(max_size=8),
                               st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
                               weird_text.filter(lambda t: len(t) <= 40)),
                     min_size=1, max_size=4).map("".join).filter(_fits)
#: The human views, and which of the user's texts each shows.
HUMAN_VIEWS = [(["status", "pacitan-sdmo-2026", "--at", "2026-01-27T10:00+07:00"], ("title", "office", "person")),
               (["history", "pacitan-sdmo-2026"], ("comment",)),
               (["list", "--at", "2026-01-27T10:00+07:00"], ()),
               (["overdue", "--at", "2026-01-27T10:00+07:00"], ("person",)),
               (["report", "--at", "2026-01-27T10:00+07:00"], ("office",)),
               (["office", "list"], ("office",)),
               (["person", "list"], ("person",))]
#: Where the text goes; the words around it keep it from the ends (names and titles are trimmed).
PLACES = {"title": "IKU {} 2026", "office": "Bawaslu {} Pacitan", "person": "Sri {} W", "comment": "Alasan {} ok"}


@given_settings(25)
@given(user_text)
def test_user_text_in_the_human_tables_is_shown_literally(cli, seeded_template, text):
    """Any text as an office name, a person's name, a title and a comment: every human view
    exits 0 without a traceback, shows the text as typed (markup and all) with its control
    characters escaped, and writes no control character but the newline."""
    from fuzzing import copy_db, db_file
    from ikuflow import admin
    from ikuflow.app.service import Service

    copy_db(seeded_template, db_file())
    placed = {k: v.format(text) for k, v in PLACES.items()}
    admin.add_office("pacitan", placed["office"], parent="jawa-timur")
    admin.add_person(COORD, placed["person"], "coordinator", "pacitan", "sdmo")
    svc = Service()
    try:
        svc.new("pacitan", "sdmo", 2026, date(2026, 1, 28), COORD, placed["title"], at=datetime(2026, 1, 12, 2))
        svc.advance("pacitan-sdmo-2026", "submit", COORD, at=datetime(2026, 1, 19, 3))
        svc.advance("pacitan-sdmo-2026", "send_back", SECR, placed["comment"], at=datetime(2026, 1, 20, 3))
    finally:
        svc.close()
    for argv, shows in HUMAN_VIEWS:
        r = cli(*argv)
        note(f"{argv}: exit {r.exit_code}\n{r.stdout}{r.stderr}")
        assert r.exit_code == 0 and r.stderr == "", r.stderr
        assert "Traceback" not in r.stdout
        for place in shows:
            assert as_shown(placed[place]) in r.stdout, f"the {place} is not shown as typed in {argv[0]}"
        raw = sorted({c for c in r.stdout if c in UNSAFE and c != "\n"})
        assert raw == [], f"raw control characters in {argv[0]}: {raw}"
    tally("markup-like" if "[" in text else "control" if set(text) & UNSAFE else "other")
