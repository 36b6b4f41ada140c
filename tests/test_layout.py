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
