"""``ikuflow import FILE``: reading and checking a directory file of offices, divisions and
people with their roles.

A file is read and checked whole before anything is written: every bad row is reported with
its line, and a file with any problem changes nothing. A good file is applied by the use case
:func:`ikuflow.app.directory.import_file` in one transaction, through the same writer as the
single commands, and is idempotent: importing it twice changes nothing the second time.

YAML: a mapping with any of ``offices`` (code, name, tz, parent, level), ``divisions``
(code, name) and ``people`` (email, name, and either role/office/division or a ``roles`` list of
them). CSV: one kind per file, told by its header: ``code,name,parent,tz,level`` (offices, the
format of examples/offices-id.csv), ``code,name`` (divisions) or ``email,name,role,office,division``
(people). A key or column ikuflow does not know (``parnet``) is a problem of the file, with a
did-you-mean, never silently ignored.

An office already in the directory changes only in what the file gives it: a ``tz`` or
``level`` left out (or empty) keeps the office's own, and so does a ``parent`` left out; an
empty ``parent`` (a CSV cell, or ``parent: ""`` / ``parent: null``) means no parent. A new
office gets Asia/Jakarta and, without a parent, level national (else regency).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from ikuflow.definition.model import ROLES
from ikuflow.errors import IkuflowError, Problem

#: The values a directory may hold, for a file and for the single commands alike
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
NAME_MAX = 200  # characters in the name of an office, a division or a person
# ASCII addresses only: SMTP without SMTPUTF8 cannot carry others, and one bad row must not block mail
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
OFFICE_KEYS = ("code", "name", "tz", "parent", "level")
DIVISION_KEYS = ("code", "name")
PERSON_KEYS = ("email", "name", "role", "office", "division", "roles")
ROLE_KEYS = ("role", "office", "division")
#: The keys of each YAML section, and the columns of each kind of CSV file.
SECTION_KEYS = {"offices": OFFICE_KEYS, "divisions": DIVISION_KEYS, "people": PERSON_KEYS}
CSV_COLUMNS = {"people": ("email", "name", "role", "office", "division"), "offices": OFFICE_KEYS,
               "divisions": DIVISION_KEYS}
LEVELS = ("national", "province", "regency", "kabupaten", "kota")


@dataclass
class Rows:
    """The records of a directory file, each with its line, in the order of the file."""

    offices: list = field(default_factory=list)    # (line, dict)
    divisions: list = field(default_factory=list)
    people: list = field(default_factory=list)     # (line, email, name, role, office, division)


class ImportProblems(IkuflowError):
    """Every problem of an import file (exit 1): nothing was imported."""

    exit_code = 1

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        n = len(problems)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in the import file; nothing was "
                         "imported:\n" + "\n".join(f"  {p}" for p in problems))


#: The 553 offices take 40 KB; a directory of every person of every office a few MB.
MAX_IMPORT_BYTES = 64 << 20


def read(path: Path) -> Rows:
    """The rows of a .yaml/.yml or .csv directory file: a regular file, read bounded."""
    from ikuflow.definition.load import FileRefused, read_regular_file, size_text

    if not path.exists():
        raise IkuflowError(f"no such file: {path}")
    try:  # a FIFO, a device or a folder is refused before it is opened for reading
        read_regular_file(path, MAX_IMPORT_BYTES)
    except FileRefused as exc:
        raise IkuflowError(f"{path}: {exc}; give a .yaml or .csv directory file (at most "
                           f"{size_text(MAX_IMPORT_BYTES)}); nothing was imported") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        return _read_yaml(path)
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    raise IkuflowError(f"{path}: unknown file type; use .yaml, .yml or .csv")


def _read_csv(path: Path) -> Rows:
    try:
        return _read_csv_rows(path)
    except UnicodeDecodeError as exc:
        raise ImportProblems([Problem(str(path), "(file)", f"not UTF-8 text (byte {exc.start}); save "
                                      "the file as UTF-8 CSV", None)]) from None
    except csv.Error as exc:  # a NUL byte, a field over the size limit
        raise ImportProblems([Problem(str(path), "(file)", f"not a readable CSV file: {exc}", None)]) from None


def _read_csv_rows(path: Path) -> Rows:
    from ikuflow.definition.load import hint

    rows = Rows()
    file = str(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        known = sorted({c for cols in CSV_COLUMNS.values() for c in cols})
        problems = [Problem(file, "header", f"unknown column '{h}'; {hint(h, known)}", 1)
                    for h in header if h not in known]
        problems += [Problem(file, "header", f"column '{h}' appears twice", 1)
                     for i, h in enumerate(header) if h in header[:i]]
        if problems:
            raise ImportProblems(problems)
        if {"email", "role", "office"} <= set(header):
            kind = "people"
        elif {"code", "name"} <= set(header) and ({"tz", "parent"} & set(header)):
            kind = "offices"
        elif set(header) == {"code", "name"}:
            kind = "divisions"
        else:
            raise ImportProblems([Problem(file, "header", "unknown CSV header "
                                        f"{','.join(header)!r}; use code,name,parent,tz,level or "
                                        "code,name or email,name,role,office,division", 1)])
        stray = [h for h in header if h not in CSV_COLUMNS[kind]]
        if stray:
            raise ImportProblems([Problem(file, "header", f"column '{h}' does not belong in a file of "
                                          f"{kind}; its columns are {','.join(CSV_COLUMNS[kind])}", 1)
                                  for h in stray])
        for rec in reader:
            line = reader.line_num
            if rec.get(None):  # more cells than the header has columns
                problems.append(Problem(file, "(row)", f"{len(header) + len(rec[None])} values for "
                                        f"{len(header)} columns; put a value that holds a comma in "
                                        "double quotes", line))
                continue
            rec = {k: (v or "").strip() for k, v in rec.items() if k}
            if kind == "people":
                rows.people.append((line, rec.get("email", ""), rec.get("name", ""), rec.get("role", ""),
                                    rec.get("office", ""), rec.get("division", "") or None))
            else:
                getattr(rows, kind).append((line, rec))
    if problems:
        raise ImportProblems(problems)
    return rows


def _key_lines(node) -> dict[str, int]:
    """The line of each key of a YAML mapping node (a key a merge brings in has none)."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def _unknown_keys(file: str, where: str, rec: dict, allowed: tuple[str, ...], lines: dict[str, int],
                  line: int) -> list[Problem]:
    """A problem for each key of ``rec`` that is not in ``allowed``, on the key's own line."""
    from ikuflow.definition.load import hint

    return [Problem(file, f"{where}.{k}", f"unknown key '{k}'; {hint(str(k), allowed)}",
                    lines.get(str(k), line)) for k in rec if str(k) not in allowed]


def _read_yaml(path: Path) -> Rows:
    import yaml

    from ikuflow.definition.load import compose

    try:
        node = compose(path.read_text(encoding="utf-8"))  # deep nesting is a YAMLError there
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ImportProblems([Problem(str(path), "(file)", f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                    mark.line + 1 if mark else None)]) from None
    rows = Rows()
    problems: list[Problem] = []
    if node is None:
        return rows
    loader = yaml.SafeLoader("")
    if not isinstance(node, yaml.MappingNode):
        raise ImportProblems([Problem(str(path), "(top)", "expected a mapping with offices, divisions "
                                    "and people", 1)])
    for knode, vnode in node.value:
        section = str(knode.value)
        if section not in ("offices", "divisions", "people"):
            raise ImportProblems([Problem(str(path), section, "unknown section; use offices, "
                                        "divisions and people", knode.start_mark.line + 1)])
        if not isinstance(vnode, yaml.SequenceNode):
            raise ImportProblems([Problem(str(path), section, "expected a list", vnode.start_mark.line + 1)])
        for item in vnode.value:
            line = item.start_mark.line + 1
            try:
                rec = loader.construct_object(item, deep=True)
            except yaml.YAMLError as exc:  # a !!python/... tag, a recursive alias
                raise ImportProblems([Problem(str(path), section, "unreadable entry: "
                                              f"{getattr(exc, 'problem', None) or exc}", line)]) from None
            except Exception as exc:  # 2026-02-30, '!!bool x', '!!timestamp x': PyYAML cannot build it
                why = str(exc) if isinstance(exc, ValueError) else "a tagged value cannot be read"
                raise ImportProblems([Problem(str(path), section, f"unreadable entry: {why}; fix the "
                                              "value or remove its tag", line)]) from None
            if not isinstance(rec, dict):
                raise ImportProblems([Problem(str(path), section, "expected a mapping", line)])
            lines = _key_lines(item)
            unknown = _unknown_keys(str(path), section, rec, SECTION_KEYS[section], lines, line)
            if unknown:
                problems += unknown
                continue
            if section == "people" and "roles" in rec and {"role", "office", "division"} & set(rec):
                problems.append(Problem(str(path), "roles", "give either role/office/division or a roles "
                                        "list, not both", lines.get("roles", line)))
                continue
            roles = rec.pop("roles", None) if section == "people" else None
            fields = {}
            for k, v in rec.items():
                if isinstance(v, (list, dict, set)):  # one value per field; only 'roles' is a list
                    problems.append(Problem(str(path), str(k), f"expected one value, not a "
                                            f"{'list' if isinstance(v, (list, set)) else 'mapping'}", line))
                    continue
                fields[str(k)] = "" if v is None else str(v).strip()
            if section != "people":
                getattr(rows, section).append((line, fields))
                continue
            if roles is None:
                roles = [{"role": fields.get("role", ""), "office": fields.get("office", ""),
                          "division": fields.get("division", "")}]
            if not isinstance(roles, list) or not roles or not all(isinstance(r, dict) for r in roles):
                problems.append(Problem(str(path), "roles", "expected a list of {role, office, "
                                        "division} mappings", line))
                continue
            role_nodes: list = next((v.value for k, v in item.value
                               if getattr(k, "value", None) == "roles" and isinstance(v, yaml.SequenceNode)), [])
            for i, r in enumerate(roles):
                r_node = role_nodes[i] if i < len(role_nodes) else None  # (role/office/division: none)
                r_line = r_node.start_mark.line + 1 if r_node is not None else line
                unknown = _unknown_keys(str(path), "people.roles", r, ROLE_KEYS, _key_lines(r_node), r_line)
                if unknown:
                    problems += unknown
                    continue
                bad = [k for k, v in r.items() if isinstance(v, (list, dict, set))]
                if bad:
                    problems.append(Problem(str(path), f"roles.{bad[0]}", "expected one value, not a "
                                            "list or mapping", r_line))
                    continue
                rows.people.append((r_line, fields.get("email", ""), fields.get("name", ""),
                                    str(r.get("role", "") or "").strip(), str(r.get("office", "") or "").strip(),
                                    str(r.get("division", "") or "").strip() or None))
    if problems:
        raise ImportProblems(problems)
    return rows


def check(path: Path, rows: Rows, known_offices: dict, known_divisions: set) -> list[Problem]:
    """Every problem of the file, against what the database already holds."""
    from ikuflow.calendar import zone
    from ikuflow.definition.load import hint
    from ikuflow.errors import UsageError

    file = str(path)
    problems: list[Problem] = []
    offices = dict(known_offices)  # code -> parent
    seen: dict[str, int] = {}

    def too_long(what: str, name: str, line: int) -> None:
        if len(name) > NAME_MAX:
            problems.append(Problem(file, "name", f"the {what} name is {len(name)} characters long; at "
                                    f"most {NAME_MAX} are allowed: shorten it", line))

    for line, rec in rows.offices:
        code = rec.get("code", "")
        if not CODE_RE.match(code):
            problems.append(Problem(file, "code", f"'{code}' is not a valid office code", line))
        elif code in seen:
            problems.append(Problem(file, "code", f"office '{code}' is also on line {seen[code]}", line))
        seen.setdefault(code, line)
        if not rec.get("name"):
            problems.append(Problem(file, "name", f"office '{code}' has no name", line))
        too_long("office", rec.get("name", ""), line)
        try:
            zone(rec.get("tz") or "Asia/Jakarta")
        except UsageError as exc:
            problems.append(Problem(file, "tz", str(exc), line))
        if rec.get("level") and rec["level"] not in LEVELS:
            problems.append(Problem(file, "level", f"unknown level '{rec['level']}'; "
                                    f"{hint(rec['level'], LEVELS)}", line))
        # a parent left out keeps the office's own (see the module docstring)
        offices[code] = (rec["parent"] or None) if "parent" in rec else known_offices.get(code)
    for line, rec in rows.offices:
        parent = rec.get("parent") or None
        if parent and parent not in offices:
            problems.append(Problem(file, "parent", f"unknown office '{parent}'; "
                                    f"{hint(parent, sorted(offices))}", line))
    # no office may be its own ancestor
    for line, rec in rows.offices:
        code, steps = rec.get("code", ""), 0
        cur = offices.get(code)
        while cur and steps <= len(offices):
            if cur == code:
                problems.append(Problem(file, "parent", f"office '{code}' would be its own ancestor", line))
                break
            cur, steps = offices.get(cur), steps + 1
    divisions = set(known_divisions)
    for line, rec in rows.divisions:
        code = rec.get("code", "")
        if not CODE_RE.match(code):
            problems.append(Problem(file, "code", f"'{code}' is not a valid division code", line))
        if not rec.get("name"):
            problems.append(Problem(file, "name", f"division '{code}' has no name", line))
        too_long("division", rec.get("name", ""), line)
        divisions.add(code)
    names: dict[str, tuple[str, int]] = {}  # e-mail -> (name, line): one name per person
    for line, email, name, role, office, division in rows.people:
        if not EMAIL_RE.match(email.lower()):
            problems.append(Problem(file, "email", f"'{email}' is not a valid e-mail address", line))
        if not name:
            problems.append(Problem(file, "name", f"{email} has no name", line))
        too_long("person's", name, line)
        first = names.setdefault(email.lower(), (name, line))
        if first[0] != name:
            problems.append(Problem(file, "name", f"{email} is named '{first[0]}' on line {first[1]}; "
                                    "give one name per person", line))
        if role not in ROLES:
            problems.append(Problem(file, "role", f"unknown role '{role}'; {hint(role, ROLES)}", line))
        if office not in offices:
            problems.append(Problem(file, "office", f"unknown office '{office}'; "
                                    f"{hint(office, sorted(offices))}", line))
        if role == "coordinator" and not division:
            problems.append(Problem(file, "division", "a coordinator needs a division", line))
        elif role != "coordinator" and division:
            problems.append(Problem(file, "division", f"the {role} role is for a whole office; "
                                    "leave the division empty", line))
        elif division and division not in divisions:
            problems.append(Problem(file, "division", f"unknown division '{division}'; "
                                    f"{hint(division, sorted(divisions))}", line))
    return problems


def parents_first(offices: list[dict]) -> list[dict]:
    """The office records reordered so that a parent in the file comes before its children
    (the file may list them in any order; the foreign key wants the parent first)."""
    by_code = {rec["code"]: rec for rec in offices}
    out: list[dict] = []
    placed: set[str] = set()

    def place(rec: dict | None) -> None:
        chain = []
        while rec is not None and rec["code"] not in placed:
            chain.append(rec)
            placed.add(rec["code"])  # check() has refused cycles already
            rec = by_code.get(rec.get("parent") or "")
        out.extend(reversed(chain))

    for rec in offices:
        place(rec)
    return out
