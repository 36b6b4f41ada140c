"""The documentation cannot drift: the workflow reference is generated from the schema the
loader uses, its examples load, and every command the user guide quotes exists with the
options it shows."""

from __future__ import annotations

import ast
import copy
import re
import shlex
import subprocess
import sys

import pytest

pytestmark = pytest.mark.no_database
import yaml

from conftest import ROOT
from ikuflow.definition import load, parse_text, schema
from ikuflow.definition.reference import REGENERATE, render
from ikuflow.errors import DefinitionError, IkuflowError

DOCS = ROOT / "docs"
REFERENCE = DOCS / "workflow-reference.md"
GUIDE_EN = DOCS / "guide-en.md"

#: Where each section of the schema sits in schema.EXAMPLE_WORKFLOW.
PATHS = {"top": (), "state": ("states", "draft"), "due": ("states", "draft", "due"),
         "reminders": ("states", "draft", "reminders"),
         "escalation": ("states", "draft", "escalation"), "event": ("events", "send_back"),
         "on_create": ("on_create",)}


# --- (a) the reference is the generator's output -------------------------------------------------
def test_committed_reference_is_the_generators_output():
    assert REFERENCE.read_text(encoding="utf-8") == render(), (
        f"docs/workflow-reference.md is out of date with ikuflow/definition/schema.py; "
        f"regenerate it with: {REGENERATE}")


def test_the_generator_runs_as_a_module_without_heavy_imports():
    code = ("import runpy, sys, io, contextlib\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    runpy.run_module('ikuflow.definition.reference', run_name='__main__')\n"
            "heavy = [m for m in ('yaml', 'sqlalchemy', 'sqlmodel', 'jinja2', 'transitions', 'typer',"
            " 'rich', 'holidays') if m in sys.modules]\n"
            "print(repr(heavy)); print(len(out.getvalue()))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    heavy, size = r.stdout.splitlines()
    assert heavy == "[]", f"the generator imported {heavy}"
    assert int(size) == len(render())


# --- (b) the loader accepts exactly the schema's keys ----------------------------------------------
def test_loader_takes_its_allowed_keys_from_the_schema():
    assert load.TOP_KEYS == schema.TOP.keys
    assert load.STATE_KEYS == schema.STATE.keys
    assert load.EVENT_KEYS == schema.EVENT.keys
    assert load.DUE_KEYS == schema.DUE.keys
    assert load.ESCALATION_KEYS == schema.ESCALATION.keys


def test_guards_roles_and_units_of_the_schema_are_the_loaders():
    from ikuflow.definition.model import ROLES, UNITS
    from ikuflow.engine import GUARD_FUNCTIONS

    assert tuple(g for g, _ in schema.GUARDS) == load.GUARDS
    assert set(load.GUARDS) == set(GUARD_FUNCTIONS)
    for section in (*schema.WORKFLOW_SECTIONS, schema.CALENDAR):
        for f in section.fields:
            assert set(f.allowed) <= set(ROLES) | set(UNITS) | set(load.GUARDS), f.name


def test_the_example_workflow_uses_every_field_of_the_schema():
    doc = yaml.safe_load(schema.EXAMPLE_WORKFLOW)
    for section in schema.WORKFLOW_SECTIONS:
        used = set().union(*(set(m) for m in _instances(doc, section.key)))
        assert used == set(section.keys), f"{section.path}: the example uses {sorted(used)}"


def _instances(doc: dict, key: str) -> list[dict]:
    states = [s for s in doc["states"].values() if s]
    return {"top": [doc], "state": states, "event": list(doc["events"].values()),
            "on_create": [doc["on_create"]],
            "due": [s["due"] for s in states if "due" in s],
            "reminders": [s["reminders"] for s in states if "reminders" in s],
            "escalation": [s["escalation"] for s in states if "escalation" in s]}[key]


def _candidates() -> set[str]:
    """Every name the loader's source mentions, every field of the schema, and a stranger."""
    names = {"bogus", "description", "timeout", "deadline", "sources", "dest", "create_notify"}
    for node in ast.walk(ast.parse((ROOT / "ikuflow/definition/load.py").read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and re.fullmatch(r"[a-z][a-z_]*", node.value):
            names.add(node.value)
    for section in (*schema.WORKFLOW_SECTIONS, schema.CALENDAR):
        names |= set(section.keys)
    return names


def _loader_accepts(section: str, key: str) -> bool:
    doc = copy.deepcopy(yaml.safe_load(schema.EXAMPLE_WORKFLOW))
    target = doc
    for part in PATHS[section]:
        target = target[part]
    if key in target:
        return True
    target[key] = "x"
    try:
        parse_text(yaml.safe_dump(doc, sort_keys=False), "probe.yaml")
    except DefinitionError as exc:
        where = ".".join(PATHS[section])
        probe = f"{where}.{key}" if where else key
        return not any((p.location == probe and "unknown field" in p.message)
                       or (where and p.location == where) for p in exc.problems)
    return True


@pytest.mark.parametrize("section", list(PATHS))
def test_loader_accepts_exactly_the_schema_keys(section):
    accepted = {k for k in _candidates() if _loader_accepts(section, k)}
    assert accepted == set(schema.section(section).keys), (
        f"{schema.section(section).path}: the loader accepts {sorted(accepted)}, the schema "
        f"lists {sorted(schema.section(section).keys)}; update ikuflow/definition/schema.py and "
        f"regenerate: {REGENERATE}")


def test_calendar_loader_accepts_exactly_the_schema_keys(tmp_path):
    from ikuflow.calendar import load_overrides

    accepted = set()
    for key in _candidates():
        f = tmp_path / "calendar.yaml"
        f.write_text(yaml.safe_dump({key: {"2026-12-24": "x"}}), encoding="utf-8")
        try:
            load_overrides(f)
            accepted.add(key)
        except IkuflowError:
            pass
    assert accepted == set(schema.CALENDAR.keys)


# --- (c) the reference's examples load --------------------------------------------------------------
def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def test_the_yaml_examples_of_the_reference_load(tmp_path):
    from ikuflow.calendar import load_overrides

    blocks = _yaml_blocks(REFERENCE.read_text(encoding="utf-8"))
    workflows = [b for b in blocks if "\nevents:" in b]
    calendars = [b for b in blocks if b.startswith("non_working:")]
    assert len(workflows) == 1 and len(calendars) == 1
    wf = parse_text(workflows[0], "reference.yaml")
    assert wf.name == "iku_revision"
    f = tmp_path / "calendar.yaml"
    f.write_text(calendars[0], encoding="utf-8")
    assert load_overrides(f).off and load_overrides(f).on


def test_the_example_workflow_passes_workflow_check_with_the_shipped_templates(tmp_path, cli):
    f = tmp_path / "iku_revision.yaml"
    f.write_text(schema.EXAMPLE_WORKFLOW, encoding="utf-8")
    r = cli("workflow", "check", str(f))
    assert r.exit_code == 0, r.output


def test_every_field_example_is_one_line_of_yaml_naming_the_field():
    for section in (*schema.WORKFLOW_SECTIONS, schema.CALENDAR):
        for f in section.fields:
            value = yaml.safe_load(f.example)
            assert isinstance(value, dict) and list(value) == [f.name], f"{section.path}.{f.name}"


# --- (d) every command the user guide quotes exists, with the options it shows --------------------
GROUPS = ("workflow", "office", "division", "person", "outbox", "token", "audit")


def guide_commands(text: str) -> list[str]:
    """Command lines of the guide: '$ ikuflow ...' and 'ikuflow ...' lines of code blocks, and
    inline code spans starting with 'ikuflow '."""
    found = []
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            m = re.match(r"\s*(?:\$\s+)?(ikuflow\s.*)$", line)
            if m:
                found.append(m.group(1))
        else:
            found += re.findall(r"`(ikuflow(?:\s[^`]*)?)`", line)
    return found


def command_path(line: str) -> tuple[list[str], list[str]]:
    """(['outbox', 'show'], ['--html', ...]) for 'ikuflow outbox show 12 --html'."""
    tokens = shlex.split(re.split(r"\s(?:\||>|&&|;)\s", line)[0])
    assert tokens[0] == "ikuflow"
    args = tokens[1:]
    while args[:1] == ["--db"]:
        args = args[2:]
    path = args[:1]
    if path and path[0] in GROUPS and len(args) > 1 and not args[1].startswith("-"):
        path.append(args[1])
    options = [a.split("=", 1)[0] for a in args if re.match(r"--?[a-z]", a)]
    return path, options


def test_the_guide_quotes_commands():
    commands = guide_commands(GUIDE_EN.read_text(encoding="utf-8"))
    assert len(commands) >= 20
    used = {" ".join(command_path(c)[0]) for c in commands}
    for cmd in ("new", "advance", "status", "list", "history", "overdue", "report", "delegate",
                "import"):
        assert cmd in used, f"the guide shows no 'ikuflow {cmd}'"
    assert any("--all-offices" in c for c in commands)


@pytest.mark.parametrize("guide", ["guide-en.md", "guide-id.md"])
def test_every_command_the_guide_quotes_exists_with_its_options(cli, guide):
    helps: dict[str, str] = {}
    for line in guide_commands((DOCS / guide).read_text(encoding="utf-8")):
        path, options = command_path(line)
        key = " ".join(path)
        if key not in helps:
            r = cli(*path, "--help")
            assert r.exit_code == 0, f"'ikuflow {key}' (quoted as: {line}) is not a command"
            helps[key] = r.output
        for opt in options:
            if opt in ("-h", "--help"):
                continue
            assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", helps[key]), (
                f"'ikuflow {key}' has no option {opt} (quoted as: {line})")
