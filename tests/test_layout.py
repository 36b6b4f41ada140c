"""The architecture holds: a pure core, a documented CLI, a curated error tree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.no_database

PKG = ROOT / "ikuflow"
CORE = [PKG / "engine.py", PKG / "calendar.py", *sorted((PKG / "definition").glob("*.py"))]
OUTER = ("ikuflow.store", "ikuflow.service", "ikuflow.admin", "ikuflow.cli", "ikuflow.demo",
         "sqlalchemy", "sqlmodel", "apscheduler", "jinja2", "aiosmtplib", "typer", "rich")


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_core_imports_nothing_from_the_outer_layers():
    for path in CORE:
        bad = {m for m in imports(path) if m.startswith(OUTER)}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_cli_modules_import_nothing_heavy_at_module_level():
    for path in (PKG / "cli").glob("*.py"):
        top = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                top |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                top.add(node.module)
        heavy = {m for m in top if m.split(".")[0] in ("sqlalchemy", "sqlmodel", "apscheduler",
                                                          "jinja2", "aiosmtplib", "rich", "transitions")}
        assert not heavy, f"{path.name} imports {heavy} at module level"


def test_every_error_class_has_an_exit_code_in_the_docstring():
    import ikuflow.errors as errors

    doc = errors.__doc__
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, errors.IkuflowError):
            assert re.search(rf"{name}\s+exit {obj.exit_code}\b", doc), name


def test_readme_documents_every_command_and_exit_code():
    readme = (ROOT / "README.md").read_text()
    for cmd in ("init", "workflow check", "workflow show", "workflow graph", "office add",
                "division add", "person add", "new", "advance", "status", "list", "history",
                "overdue", "tick", "serve", "demo", "outbox list", "outbox show", "outbox send",
                "outbox retry", "import", "report", "delegate", "workflow migrate"):
        assert f"ikuflow {cmd}" in readme, cmd
    for code in range(1, 7):
        assert f"| {code} |" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = re.search(r"^python3 -m venv .*pytest.*$", ci, re.M).group(0)
    assert test_cmd in readme


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    """Every module of the package but the Alembic revisions (scripts Alembic loads by path)."""
    return {module_name(p): p for p in PKG.rglob("*.py") if "versions" not in p.parts}


def test_no_database_driver_is_imported_outside_the_store():
    """sqlite3 and psycopg are the store's business: above it, errors and rows are ikuflow's."""
    for name, path in package_modules().items():
        if name.startswith("ikuflow.store"):
            continue
        drivers = {m for m in imports(path) if m.split(".")[0] in ("sqlite3", "psycopg", "psycopg_pool")}
        assert not drivers, f"{path.relative_to(ROOT)} imports {drivers}"


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at the top or inside a function alike."""
    mods = package_modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:  # 'from ikuflow.cli import common' names a module
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in mods else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path of imports from ``start`` back to itself, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for dep in sorted(graph[node]):
            if dep == start:
                return path + [start]
            if dep not in seen:
                seen.add(dep)
                stack.append((dep, path + [dep]))
    return None


def test_no_import_cycles():
    """A module never imports, even lazily, a module that imports it back (cli <-> demo and
    store/db <-> store/pg were such pairs)."""
    graph = import_graph()
    cycles = [c for c in (cycle_from(graph, m) for m in sorted(graph)) if c]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycle_from(graph, "a") == ["a", "b", "c", "a"] and cycle_from(graph, "d") is None


def test_mypy_is_clean():
    """mypy, configured in pyproject.toml's [tool.mypy], finds no type error in the package."""
    from mypy import api

    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"),
                                      "--cache-dir", str(ROOT / ".mypy_cache"), str(PKG)])
    assert status == 0, f"mypy found problems (exit {status}):\n{stdout}{stderr}"


def test_the_readme_architecture_tree_names_every_module_and_nothing_else():
    """README's Architecture section shows the package as it is: every top-level module and
    folder, every module of app/ and store/; and every file or folder it names exists."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Architecture"):]
    tree = section[section.index("```") + 3:]
    tree = tree[:tree.index("```")]
    tree = re.sub(r"\.\./\S+", "", tree)  # paths outside the repository (../shared/anchors)
    named = set(re.findall(r"\b([a-z_]+(?:\.py|/))", tree))
    want = {p.name + "/" if p.is_dir() else p.name for p in PKG.iterdir()
            if p.name not in ("__init__.py", "__pycache__")}
    for sub in ("app", "store", "web"):
        want |= {p.name for p in (PKG / sub).glob("*.py") if p.name != "__init__.py"}
    assert want <= named, f"missing from the README's tree: {sorted(want - named)}"
    places = [PKG, PKG / "app", PKG / "store", PKG / "notify", PKG / "web", PKG / "cli", ROOT,
              ROOT / "notifications"]
    ghosts = {n for n in named if not any((d / n.rstrip("/")).exists() for d in places)}
    assert not ghosts, f"the README's tree names what does not exist: {sorted(ghosts)}"


SQL_TEXT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|"
                      r"CREATE|ALTER|DROP|PRAGMA|VACUUM|EXPLAIN)\b|\b(FROM|INTO|SET)\s+[a-z_]+\s+(WHERE|VALUES|SET)\b")


def sql_texts(path: Path) -> list[tuple[int, str]]:
    """The string literals of ``path`` that are SQL (f-strings by their literal parts)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_TEXT.search(node.value):
            found.append((node.lineno, node.value[:60]))
    return found


def test_no_sql_text_outside_the_store():
    """Every SQL statement lives in ikuflow/store/ (and the Alembic revisions, which are the
    schema's history); the use cases, the adapters and the core hold none."""
    assert sql_texts(PKG / "store" / "documents.py"), "the detector finds the store's SQL"
    outside = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel.startswith(("store/", "migrations/")):
            continue
        hits = sql_texts(path)
        if hits:
            outside[rel] = hits
    assert not outside, outside


def test_public_functions_have_a_one_line_docstring():
    """Every public function and method says in one line what it does (Alembic revisions and
    typing overloads aside)."""
    missing = []
    for path in sorted(PKG.rglob("*.py")):
        if "migrations/versions" in path.as_posix():
            continue

        def visit(node, where: str) -> None:
            for n in ast.iter_child_nodes(node):
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("_"):
                    overload = any(getattr(d, "id", None) == "overload" for d in n.decorator_list)
                    doc = ast.get_docstring(n)
                    if not overload and not (doc and doc.split("\n\n")[0].strip()):
                        missing.append(f"{where}:{n.lineno} {n.name}")
                elif isinstance(n, ast.ClassDef) and not n.name.startswith("_"):
                    visit(n, where)

        visit(ast.parse(path.read_text()), path.relative_to(ROOT).as_posix())
    assert not missing, missing
