"""Read workflow files into frozen models, reporting every problem at once.

A file is read into plain Python values while remembering the line of every node, so each
problem names the file, its line, a dotted location (``events.send_back.to``) and a hint. A
file with any problem raises :class:`DefinitionError` and nothing of it is returned: a broken
file is never half-loaded.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
from collections import deque
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from ikuflow.definition.model import (ROLES, UNITS, Deadline, EventDef, Escalation, StateDef,
                                      Workflow)
from ikuflow.errors import DefinitionError, Problem

#: Guards a workflow file may name. The engine maps each name to ikuflow's own function; a
#: file can never name code to run.
# The keys a workflow file may use: one source, shared with docs/workflow-reference.md.
from ikuflow.definition.schema import GUARDS as GUARD_DOCS  # noqa: E402
from ikuflow.definition.schema import (DUE_KEYS, ESCALATION_KEYS, EVENT_KEYS,  # noqa: E402
                                       STATE_KEYS, TOP_KEYS)

GUARDS = tuple(name for name, _ in GUARD_DOCS)
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
DURATION_RE = re.compile(r"^(\d+)\s*([dhm])$")
#: A workflow file is a few levels deep and a few hundred values long. These bound what a
#: hostile or broken file can cost: nesting that would exhaust the stack, and aliases that
#: expand exponentially ("billion laughs").
MAX_DEPTH = 32
MAX_VALUES = 20_000
MAX_DURATION = timedelta(days=366)
#: A workflow or calendar file is a few KiB: a larger one is the wrong file (or /dev/zero).
MAX_FILE_BYTES = 1 << 20


def shown(text: str) -> str:
    """``text`` safe for one line of output: a line break, tab or other control character in a
    name from the file is shown escaped (``\\n``), so one problem stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


class _Unreadable(Exception):
    """The YAML cannot become plain values at all: one problem, nothing else is checked."""

    def __init__(self, problem: Problem) -> None:
        self.problem = Problem(problem.file, shown(problem.location), shown(problem.message), problem.line)


def hint(value: str, choices: list[str] | tuple[str, ...]) -> str:
    """A 'did you mean' hint for ``value`` among ``choices`` (or the list of them)."""
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if len(choices) > 12:
        return "no similar name is known"
    return "expected one of: " + ", ".join(choices) if choices else ""


class _Reader:
    """Collects problems for one file while converting YAML nodes to Python values."""

    def __init__(self, file: str) -> None:
        import yaml

        self.loader = yaml.SafeLoader("")
        self.file = file
        self.problems: list[Problem] = []
        self.lines: dict[str, int] = {}
        self.count = 0  # values read so far (aliases count each time they are expanded)
        self.open: set[int] = set()  # collections being read (an alias to one of them loops)

    def add(self, location: str, message: str) -> None:
        where = shown(location)
        where = where if where.strip() else f"'{where}'"  # a top-level key that is blank
        self.problems.append(Problem(self.file, where, shown(message), self.lines.get(location)))

    # --- YAML nodes to values, with lines and duplicate keys ---------------------------------
    def value(self, node: Any, path: str) -> Any:
        import yaml

        self.lines.setdefault(path or "(top)", node.start_mark.line + 1)
        self.count += 1
        if self.count > MAX_VALUES:
            raise _Unreadable(Problem(self.file, path or "(top)", f"the file expands to more than "
                                      f"{MAX_VALUES} values (YAML aliases repeated?); a workflow file "
                                      "needs a few hundred", node.start_mark.line + 1))
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            if id(node) in self.open:
                raise _Unreadable(Problem(self.file, path, "a YAML alias refers to a value that "
                                          "contains it; write the value out", node.start_mark.line + 1))
            self.open.add(id(node))
            try:
                return self._collection(node, path)
            finally:
                self.open.discard(id(node))
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:  # a !!python/... tag, a malformed !!binary
            mark = getattr(exc, "problem_mark", None) or node.start_mark
            problem = getattr(exc, "problem", None) or str(exc)
            raise _Unreadable(Problem(self.file, path or "(value)", f"not allowed in a workflow file: "
                                      f"{problem}", mark.line + 1)) from None
        except Exception:  # a date like 2026-02-30, '!!bool x', '!!timestamp x': PyYAML cannot build it
            tag = str(node.tag).rsplit(":", 1)[-1]
            raise _Unreadable(Problem(self.file, path or "(value)", f"'{node.value}' is not a valid "
                                      f"{tag}; fix the value or remove its tag",
                                      node.start_mark.line + 1)) from None

    def _collection(self, node: Any, path: str) -> Any:
        import yaml

        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for knode, vnode in node.value:
                if str(knode.tag).endswith(":merge"):
                    raise _Unreadable(Problem(self.file, f"{path}.<<" if path else "<<", "merge keys "
                                              "(<<) are not supported; write the fields out",
                                              knode.start_mark.line + 1))
                key = str(self.value(knode, path + ".<key>"))
                sub = f"{path}.{key}" if path else key
                if key in out:
                    self.lines[sub] = knode.start_mark.line + 1
                    self.add(sub, f"'{key}' is defined twice; keep one of them")
                    continue
                self.lines[sub] = knode.start_mark.line + 1
                out[key] = self.value(vnode, sub)
            return out
        return [self.value(v, f"{path}[{i}]") for i, v in enumerate(node.value)]

    # --- small typed readers -----------------------------------------------------------------
    def names(self, raw: Any, path: str) -> list[str]:
        """A name or a list of names."""
        if isinstance(raw, str):
            return [raw]
        if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
            return list(raw)
        self.add(path, "expected a name or a list of names")
        return []

    def keys(self, raw: dict, allowed: tuple[str, ...], path: str) -> None:
        for key in raw:
            if key not in allowed:
                self.add(f"{path}.{key}" if path else key, f"unknown field '{key}'; {hint(key, allowed)}")

    def known(self, names: list[str], choices: tuple[str, ...] | list[str], what: str, path: str) -> list[str]:
        ok = []
        for i, n in enumerate(names):
            if n in choices:
                ok.append(n)
            else:
                self.add(path, f"unknown {what} '{n}'; {hint(n, choices)}")
        return ok

    def duration(self, raw: Any, path: str) -> timedelta | None:
        if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
            n, unit = raw, "d"
        else:
            m = DURATION_RE.match(str(raw).strip()) if isinstance(raw, str) else None
            if not m:
                self.add(path, f"'{raw}' is not a duration; write it like '2d', '12h' or '30m'")
                return None
            n, unit = int(m.group(1)), m.group(2)
        minutes = n * {"d": 1440, "h": 60, "m": 1}[unit]
        if minutes > MAX_DURATION.total_seconds() // 60:
            self.add(path, f"'{raw}' is longer than {MAX_DURATION.days} days; write a shorter duration")
            return None
        return timedelta(minutes=minutes)

    def text(self, raw: Any, path: str, default: str = "") -> str:
        """A title: text (a number is read as its digits), not a list or a mapping."""
        if raw is None:  # 'title:' with nothing after it
            return default
        if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
            return str(raw)
        self.add(path, "expected text, e.g. \"Telaah divisi / Division review\"")
        return default


def parse_text(text: str, file: str) -> Workflow:
    """Validate the text of one workflow file; raise DefinitionError with every problem."""
    import yaml

    r = _Reader(file)
    try:
        node = compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError([Problem(file, where, f"not valid YAML: {shown(problem)}",
                                       mark.line + 1 if mark else None)]) from None
    if node is None or not isinstance(node, yaml.MappingNode):
        raise DefinitionError([Problem(file, "(top)", "a workflow file must be a YAML mapping "
                                       "with name, states, initial, final and events")])
    try:
        raw = r.value(node, "")
    except _Unreadable as exc:
        raise DefinitionError([exc.problem]) from None
    wf = _build(r, raw, text)
    if r.problems:
        raise DefinitionError(r.problems)
    assert wf is not None
    return wf


def compose(text: str):
    """``yaml.compose`` with the SafeLoader, refusing nesting deeper than MAX_DEPTH: PyYAML's
    composer recurses per level, so a deep file would be a RecursionError, not a problem.
    Raises yaml.YAMLError (with ``problem`` and ``problem_mark``) like any unreadable YAML."""
    import yaml

    class Loader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent, index):
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise yaml.composer.ComposerError(
                        None, None, f"nested more than {MAX_DEPTH} levels deep; a workflow or "
                        "directory file needs four or five", self.peek_event().start_mark)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    return yaml.compose(text, Loader=Loader)


class FileRefused(Exception):
    """A file that was not read, and why, in words for a person (``str(exc)``)."""


def _kind(mode: int) -> str | None:
    """What a file that is not a regular file is, or None for a regular file."""
    for test, what in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a pipe (FIFO)"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) else "not a regular file"


def size_text(n: int) -> str:
    """1048576 -> '1 MiB', 3400000000 -> '3.2 GiB': a size for people."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises FileRefused for a folder, a pipe (FIFO), a device or a socket (looked at before
    opening, so a FIFO never blocks), for a file larger than ``limit`` (the read is bounded,
    whatever the size claims: /proc files say 0) and for a file that cannot be read.
    """
    try:
        what = _kind(os.stat(path).st_mode)
        if what is None:  # opened without waiting, then checked again: it may have been swapped
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
            with os.fdopen(fd, "rb") as fh:
                what = _kind(os.fstat(fh.fileno()).st_mode)
                data = b"" if what else fh.read(limit + 1)
    except OSError as exc:
        raise FileRefused(f"cannot read it: {exc.strerror or exc}") from None
    if what is not None:
        raise FileRefused(f"it is {what}, not a file")
    if len(data) > limit:
        raise FileRefused(f"it is larger than {size_text(limit)}")
    return data


def load_file(path: str | Path) -> Workflow:
    """Read and validate one workflow file (a regular file of at most MAX_FILE_BYTES)."""
    p = Path(path)
    try:
        text = read_regular_file(p, MAX_FILE_BYTES).decode("utf-8")
    except FileRefused as exc:
        raise DefinitionError([Problem(str(path), "(file)", f"{exc}; give a workflow file "
                                       f"(YAML, a few KiB)")]) from None
    except UnicodeDecodeError as exc:
        raise DefinitionError([Problem(str(path), "(file)", f"not UTF-8 text (byte {exc.start}); "
                                       "save the file as UTF-8")]) from None
    wf = parse_text(text, str(path))
    object.__setattr__(wf, "path", str(p))
    return wf


def check_files(paths: list[str | Path]) -> list[Problem]:
    """Every problem of every file (an empty list means all are valid)."""
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in paths:
        try:
            wf = load_file(path)
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        if wf.name in seen:
            problems.append(Problem(str(path), "name", f"workflow '{wf.name}' is also defined in "
                                    f"{seen[wf.name]}; give each workflow its own name"))
        seen[wf.name] = str(path)
    return problems


# --- the structure of a workflow ---------------------------------------------------------------
def _build(r: _Reader, raw: dict, text: str) -> Workflow | None:
    r.keys(raw, TOP_KEYS, "")
    for key in ("name", "states", "initial", "final", "events"):
        if key not in raw:
            r.add(key, f"'{key}' is missing; see workflows/iku.yaml for an example")

    name = raw.get("name", "")
    if "name" in raw and not (isinstance(name, str) and NAME_RE.match(name)):
        r.add("name", f"'{name}' is not a valid name; use lower-case letters, digits and '_'")

    states = _states(r, raw.get("states"))
    state_names = list(states)

    initial = raw.get("initial")
    if "initial" in raw and not (isinstance(initial, str) and initial in states):
        r.add("initial", f"unknown state '{initial}'; {hint(str(initial), state_names)}")

    final = r.known(r.names(raw.get("final", []), "final"), state_names, "state", "final")
    if "final" in raw and not final:
        r.add("final", "no final state; name at least one state where documents end, e.g. 'signed'")

    before = len(r.problems)
    events = _events(r, raw.get("events"), state_names)
    # A misspelled state in an event is one problem, not a cascade of "unreachable" and
    # "no event leaves it" for the states it cut off: check the graph only when it is whole.
    graph_whole = not any("unknown state" in p.message for p in r.problems[before:])
    for ev in events.values():
        for src in ev.sources:
            if src in final:
                r.add(f"events.{ev.name}.from", f"'{src}' is a final state and cannot have outgoing "
                      f"events; remove '{src}' from 'from' or from 'final'")

    for s in states.values():
        if s.name in final and (s.due or s.reminders or s.escalation):
            r.add(f"states.{s.name}", "a final state has no deadline, reminders or escalation")
        if graph_whole and s.name not in final and not any(s.name in e.sources for e in events.values()):
            r.add(f"states.{s.name}", f"state '{s.name}' is not final but no event leaves it; "
                  "add an event from it or list it under 'final'")

    if isinstance(initial, str) and initial in states and graph_whole:
        reached = _reachable(initial, events)
        for sn in state_names:
            if sn not in reached:
                r.add(f"states.{sn}", f"state '{sn}' is unreachable from '{initial}'; add an event "
                      f"whose 'to' is '{sn}', or remove the state")

    on_create = raw.get("on_create") or {}
    create_notify: list[str] = []
    create_template = "create"
    if not isinstance(on_create, dict):
        r.add("on_create", "expected a mapping with notify and template")
    else:
        r.keys(on_create, ("notify", "template"), "on_create")
        create_notify = r.known(r.names(on_create.get("notify", []), "on_create.notify"), ROLES, "role",
                                "on_create.notify")
        create_template = on_create.get("template", "create")
        if not isinstance(create_template, str) or not re.match(r"^[a-z0-9_]+$", create_template):
            r.add("on_create.template", f"'{create_template}' is not a template name")
    title = r.text(raw.get("title"), "title", name)
    if r.problems or not isinstance(initial, str):  # a missing or unknown initial is a problem above
        return None
    return Workflow(name=name, title=title, initial=initial,
                    final=frozenset(final), states=states, events=events,
                    create_notify=tuple(create_notify), create_template=str(create_template),
                    sha256=hashlib.sha256(text.encode()).hexdigest(), source=text)


def _reachable(initial: str, events: dict[str, EventDef]) -> set[str]:
    seen, todo = {initial}, deque([initial])
    while todo:
        s = todo.popleft()
        for ev in events.values():
            if s in ev.sources and ev.dest not in seen:
                seen.add(ev.dest)
                todo.append(ev.dest)
    return seen


def _states(r: _Reader, raw: Any) -> dict[str, StateDef]:
    if raw is None:
        return {}
    if isinstance(raw, list):
        items: list[tuple[str, Any]] = []
        for i, s in enumerate(raw):
            if not isinstance(s, str):
                r.add(f"states[{i}]", "expected a state name")
            elif s in [n for n, _ in items]:
                r.add(f"states[{i}]", f"state '{s}' is listed twice; keep one")
            else:
                items.append((s, {}))
    elif isinstance(raw, dict):
        items = [(k, v if v is not None else {}) for k, v in raw.items()]
    else:
        r.add("states", "expected a list of state names or a mapping of state name to its settings")
        return {}
    out: dict[str, StateDef] = {}
    for name, body in items:
        path = f"states.{name}"
        if not NAME_RE.match(name):
            r.add(path, f"'{name}' is not a valid state name; use lower-case letters, digits and '_'")
        if not isinstance(body, dict):
            r.add(path, "expected a mapping of settings (title, must_act, due, reminders, escalation)")
            body = {}
        r.keys(body, STATE_KEYS, path)
        must_act = r.known(r.names(body.get("must_act", []), f"{path}.must_act"), ROLES, "role",
                           f"{path}.must_act")
        out[name] = StateDef(name=name, title=r.text(body.get("title"), f"{path}.title"),
                             must_act=tuple(must_act),
                             due=_due(r, body.get("due"), f"{path}.due"),
                             reminders=_reminders(r, body.get("reminders"), f"{path}.reminders"),
                             escalation=_escalation(r, body.get("escalation"), f"{path}.escalation"))
    return out


def _due(r: _Reader, raw: Any, path: str) -> Deadline | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        r.add(path, "expected a mapping with days_before, unit and at")
        return None
    r.keys(raw, DUE_KEYS, path)
    days = raw.get("days_before")
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 366:
        r.add(f"{path}.days_before", f"'{days}' is not a number of days between 0 and 366")
        days = 0
    unit = raw.get("unit", "working_days")
    if unit not in UNITS:
        r.add(f"{path}.unit", f"unknown unit '{unit}'; {hint(str(unit), UNITS)}")
    at = _clock(r, raw.get("at", "16:00"), f"{path}.at")
    return Deadline(days_before=days, unit=unit if unit in UNITS else "working_days", at=at)


def _clock(r: _Reader, raw: Any, path: str) -> time:
    # YAML 1.1 reads an unquoted 16:00 as the sexagesimal integer 960.
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 24 * 60:
        return time(raw // 60, raw % 60)
    m = re.match(r"^(\d{1,2}):(\d{2})$", str(raw))
    if m and int(m.group(1)) < 24 and int(m.group(2)) < 60:
        return time(int(m.group(1)), int(m.group(2)))
    r.add(path, f"'{raw}' is not a time of day; write it like '16:00'")
    return time(16, 0)


def _reminders(r: _Reader, raw: Any, path: str) -> tuple[timedelta, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or set(raw) - {"before"}:
        r.add(path, "expected a mapping with 'before', e.g. {before: [2d, 1d]}")
        return ()
    before = raw.get("before", [])
    if not isinstance(before, list):
        before = [before]
    out = [r.duration(b, f"{path}.before[{i}]") for i, b in enumerate(before)]
    return tuple(sorted((d for d in out if d is not None), reverse=True))


def _escalation(r: _Reader, raw: Any, path: str) -> Escalation | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        r.add(path, "expected a mapping with every, copy, chair_after and parent_after")
        return None
    r.keys(raw, ESCALATION_KEYS, path)
    every = r.duration(raw.get("every", "1d"), f"{path}.every")
    if every is not None and every <= timedelta(0):
        r.add(f"{path}.every", "the escalation interval must be longer than zero, e.g. '1d'")
    if every is None or every <= timedelta(0):
        every = timedelta(days=1)  # only reached with a problem recorded: never loaded
    copy = r.known(r.names(raw.get("copy", []), f"{path}.copy"), ROLES, "role", f"{path}.copy")
    chair = r.duration(raw["chair_after"], f"{path}.chair_after") if "chair_after" in raw else None
    parent = r.duration(raw["parent_after"], f"{path}.parent_after") if "parent_after" in raw else None
    return Escalation(every=every, copy=tuple(copy), chair_after=chair, parent_after=parent)


def _events(r: _Reader, raw: Any, states: list[str]) -> dict[str, EventDef]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        r.add("events", "expected a mapping of event name to {from, to, roles}")
        return {}
    out: dict[str, EventDef] = {}
    for name, body in raw.items():
        path = f"events.{name}"
        if not NAME_RE.match(name) or name.startswith("to_"):
            r.add(path, f"'{name}' is not a valid event name; use lower-case letters, digits and "
                  "'_', not starting with 'to_'")
        if name in states:
            r.add(path, f"event '{name}' has the name of a state; give it a verb, e.g. 'submit'")
        if not isinstance(body, dict):
            r.add(path, "expected a mapping with from, to and roles")
            continue
        r.keys(body, EVENT_KEYS, path)
        for key in ("from", "to", "roles"):
            if key not in body:
                r.add(f"{path}.{key}", f"'{key}' is missing")
        named = r.names(body.get("from", []), f"{path}.from")
        sources = r.known(named, states, "state", f"{path}.from")
        if "from" in body and not named and isinstance(body["from"], list):
            r.add(f"{path}.from", "no state to fire this event from; name at least one state")
        dest = body.get("to")
        if "to" in body and dest not in states:
            r.add(f"{path}.to", f"unknown state '{dest}'; {hint(str(dest), states)}")
        roles = r.known(r.names(body.get("roles", []), f"{path}.roles"), ROLES, "role", f"{path}.roles")
        if "roles" in body and not roles and not r.names(body.get("roles", []), f"{path}.roles"):
            r.add(f"{path}.roles", "no role may fire this event; name at least one role")
        guards = r.known(r.names(body.get("guards", []), f"{path}.guards"), GUARDS, "guard",
                         f"{path}.guards")
        notify = r.known(r.names(body.get("notify", []), f"{path}.notify"), ROLES, "role",
                         f"{path}.notify")
        template = body.get("template", name)
        if not isinstance(template, str) or not re.match(r"^[a-z0-9_]+$", template):
            r.add(f"{path}.template", f"'{template}' is not a template name (lower-case, digits, '_')")
        out[name] = EventDef(name=name, sources=tuple(sources), dest=str(dest), roles=frozenset(roles),
                             guards=tuple(guards), notify=tuple(notify), template=str(template),
                             title=r.text(body.get("title"), f"{path}.title"))
    return out
